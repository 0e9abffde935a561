"""Key routing: ``key=`` reaches every child, custom layers and functional randomness.

A container splits its key by position (child ``i`` gets ``jax.random.split(key, n)[i]``);
a module whose forward takes no ``key`` puts it in a scope that ``F.dropout`` & co. draw
from (``draw_forward_key``: ``key, sub = jax.random.split(key)``, ``sub`` drawn). Every
missing-key error shows the per-step split, never a literal ``key=key(0)``
that would reuse one mask at every step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn as nn
import jaxnn.functional as F

X = jnp.ones((2, 3, 4, 4))
# rbg keys: the same routing, and XLA compiles their bits generator in a tenth of
# threefry's time (the numbers are compared with the same function, never with torch).
K = jax.random.key(0, impl="rbg")


def key(seed):
    return jax.random.key(seed, impl="rbg")


class Noise(nn.Module):
    """A user's stochastic layer: ``forward(x, key=None)``, the identity without a key."""

    def forward(self, x, key=None):
        return x if key is None else x + jax.random.normal(key, x.shape)


class Seen(nn.Module):
    """Records the key it was called with (eager only)."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def forward(self, x, key=None):
        self.log.append(key)
        return x


def data(key):
    return np.asarray(jax.random.key_data(key))


def test_sequential_hands_the_key_to_a_custom_layer():
    seq = nn.Sequential(nn.Identity(), Noise())
    run = jax.jit(
        lambda x, k: (seq(x, key=k), x + jax.random.normal(jax.random.split(k, 2)[1], x.shape))
    )
    (a, expected), (b, _), (c, _) = (run(X, key(s)) for s in (0, 0, 1))
    assert not np.array_equal(np.asarray(a), np.asarray(X))  # the noise layer got a key
    np.testing.assert_allclose(np.asarray(a), np.asarray(expected), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    # eagerly too, the same numbers
    np.testing.assert_allclose(np.asarray(seq(X, key=key(0))), np.asarray(a), rtol=1e-6)


def test_split_is_by_position_and_nests():
    log = []
    inner = nn.Sequential(Seen(log), Seen(log))
    nn.Sequential(Seen(log), nn.ReLU(), inner)(X, key=K)
    top = jax.random.split(K, 3)
    expected = [top[0], *jax.random.split(top[2], 2)]
    assert [data(k).tolist() for k in log] == [data(k).tolist() for k in expected]
    log.clear()
    nn.Sequential(Seen(log), Seen(log))(X)  # no key: none handed down
    assert log == [None, None]


class Functional(nn.Module):
    """torch's habit: call the functional form in forward, with no key argument."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


FUNCTIONAL = {
    "dropout": lambda x, **k: F.dropout(x, 0.5, training=True, **k),
    "alpha_dropout": lambda x, **k: F.alpha_dropout(x, 0.5, training=True, **k),
    "dropout2d": lambda x, **k: F.dropout2d(x, 0.5, **k),
    "rrelu": lambda x, **k: F.rrelu(x - 2.0, training=True, **k),
    "scaled_dot_product_attention": lambda x, key=None: F.scaled_dot_product_attention(
        x, x, x, dropout_p=0.5, dropout_key=key
    ),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_randomness_draws_from_the_forward_key(name):
    fn = FUNCTIONAL[name]
    m = Functional(fn)
    seq = nn.Sequential(nn.Identity(), m)

    @jax.jit
    def run(x, k):
        # the module call's scope splits once: key, sub = split(key); sub is drawn. In a
        # container, the child's positional subkey is split the same way.
        return (
            (m(x, key=k), fn(x, key=jax.random.split(k)[1])),
            (seq(x, key=k), fn(x, key=jax.random.split(jax.random.split(k, 2)[1])[1])),
        )

    pairs = run(X, K)
    for got, expected in pairs:
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)
    other = run(X, key(1))[0][0]
    assert not np.array_equal(np.asarray(pairs[0][0]), np.asarray(other))
    with pytest.raises(ValueError, match=r"key, sub = jax\.random\.split\(key\)"):
        m(X)  # no key anywhere


def _mha_functional(x):
    mha = nn.MultiheadAttention(4, 2, dropout=0.5)
    return F.multi_head_attention_forward(
        x,
        x,
        x,
        4,
        2,
        mha.in_proj_weight,
        mha.in_proj_bias,
        None,
        None,
        False,
        0.5,
        mha.out_proj.weight,
        mha.out_proj.bias,
        training=True,
    )


SEQ = jnp.ones((3, 2, 4))  # (L, N, E)
MISSING_KEY = {
    "Dropout": lambda: nn.Dropout(0.5)(X),
    "F.dropout": lambda: F.dropout(X, 0.5),
    "F.dropout2d": lambda: F.dropout2d(X, 0.5),
    "custom forward calling F.dropout": lambda: Functional(FUNCTIONAL["dropout"])(X),
    "LSTM(dropout)": lambda: nn.LSTM(4, 4, num_layers=2, dropout=0.5)(SEQ),
    "MultiheadAttention": lambda: nn.MultiheadAttention(4, 2, dropout=0.5)(SEQ, SEQ, SEQ),
    "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(4, 2, 8)(SEQ),
    "F.scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(
        SEQ, SEQ, SEQ, dropout_p=0.5
    ),
    "F.multi_head_attention_forward": lambda: _mha_functional(SEQ),
    "RReLU": lambda: nn.RReLU()(X),
    "F.rrelu": lambda: F.rrelu(X, training=True),
    "F.gumbel_softmax": lambda: F.gumbel_softmax(X),
    "F.fractional_max_pool2d": lambda: F.fractional_max_pool2d(X, 2, output_size=2),
}


@pytest.mark.parametrize("name", list(MISSING_KEY))
def test_missing_key_errors_show_the_per_step_split(name):
    with pytest.raises(ValueError, match=r"(needs a|got no) PRNG key") as info:
        MISSING_KEY[name]()
    msg = str(info.value)
    assert "key, sub = jax.random.split(key)" in msg, msg
    assert "key=key(0)" not in msg, msg  # copied literally: one mask every step


class EqxStyle:
    """An Equinox-style callable that takes ``key=``."""

    def __call__(self, x, *, key=None):
        return x if key is None else x * jax.random.bernoulli(key, 0.5, x.shape)


def test_lambda_passes_the_key_only_to_callables_that_take_one():
    # every child gets a key now, so Lambda(jnp.ravel) must not pass it to ravel
    seq = nn.Sequential(nn.Lambda(jnp.ravel), nn.Lambda(EqxStyle()))
    a = np.asarray(seq(X, key=K))
    assert a.shape == (X.size,) and set(np.unique(a).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(np.asarray(seq(X)), np.ravel(np.asarray(X)))


class Parent(nn.Module):
    """A user's block that calls its noise layer without passing a key (torch's habit)."""

    def __init__(self):
        super().__init__()
        self.noise = Noise()

    def forward(self, x):
        return self.noise(x)


def test_a_user_layer_called_without_a_key_gets_one_from_the_model_call():
    parent = Parent()
    out = parent(X, key=K)  # Parent's scope: key, sub = split(key); Noise gets sub
    expected = X + jax.random.normal(jax.random.split(K)[1], X.shape)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(parent(X)), np.asarray(X))  # no key anywhere


class Record(nn.Module):
    """Notes at trace time whether its forward got a key."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def forward(self, x, key=None):
        self.log.append(key is not None)
        return x


def test_optimizer_hands_a_key_to_user_layers():
    import optax

    log = []
    model = nn.Sequential(nn.Linear(3, 3), Record(log), Functional(FUNCTIONAL["dropout"]))
    step = nn.Optimizer(model, optax.sgd(0.1), key=K).make_step(lambda m, x: (m(x) ** 2).mean())
    step(jnp.ones((2, 3)))  # F.dropout in the user's forward draws from the step's key
    assert log == [True]
