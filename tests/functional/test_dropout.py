"""jaxnn.functional's dropouts: torch's rules, checked by statistics (masks cannot match bits)."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn

KEY = jax.random.key(0)
X = jnp.asarray(randn(64, 32, 8, 8, seed=1))  # 131072 elements, 2048 channels

# id, function, p, channel-wise?
DROPOUTS = [
    ("dropout", F.dropout, 0.5, False),
    ("dropout1d", F.dropout1d, 0.3, True),
    ("dropout2d", F.dropout2d, 0.5, True),
    ("dropout3d", F.dropout3d, 0.4, True),
]


def _reshape_for(fn, x):
    """A layout each function takes batched: (N, C, L), (N, C, H, W), (N, C, D, H, W)."""
    n, c = x.shape[:2]
    return {F.dropout1d: x.reshape(n, c, -1), F.dropout3d: x.reshape(n, c, 4, 4, 4)}.get(fn, x)


@pytest.mark.parametrize(
    "fn,p,channelwise", [c[1:] for c in DROPOUTS], ids=[c[0] for c in DROPOUTS]
)
def test_keep_rate_scaling_channels_and_gradient(fn, p, channelwise):
    x = _reshape_for(fn, X)
    cot = jnp.asarray(randn(*x.shape, seed=2))

    @jax.jit
    def forward_and_grad(x, cot):
        y, pullback = jax.vjp(lambda v: fn(v, p, training=True, key=KEY), x)
        return y, pullback(cot)[0]

    y, g = forward_and_grad(x, cot)
    assert y.shape == x.shape and y.dtype == x.dtype
    kept = np.asarray(y != 0)
    # Kept entries are scaled by exactly 1 / (1 - p) (torch multiplies by a float mask) and
    # the gradient is the same scaled mask.
    np.testing.assert_allclose(
        np.asarray(y)[kept], np.asarray(x * (1.0 / (1.0 - p)))[kept], rtol=1e-6
    )
    np.testing.assert_allclose(np.asarray(g), np.asarray(cot) * kept / (1 - p), rtol=1e-6)
    per_channel = kept.reshape(x.shape[0], x.shape[1], -1)
    if channelwise:
        # A channel is dropped whole: all its entries agree.
        assert (per_channel.all(-1) | ~per_channel.any(-1)).all()
        units = per_channel.shape[0] * per_channel.shape[1]
    else:
        assert not (per_channel.all(-1) | ~per_channel.any(-1)).all()
        units = kept.size
    # Binomial keep rate: within 4.5 standard deviations.
    assert abs(kept.mean() - (1 - p)) < 4.5 * math.sqrt(p * (1 - p) / units)


def test_same_key_same_mask_other_key_other_mask():
    a = F.dropout(X, 0.5, key=jax.random.key(1))
    b = F.dropout(X, 0.5, key=jax.random.key(1))
    c = F.dropout(X, 0.5, key=jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (np.asarray(a != 0) != np.asarray(c != 0)).mean() > 0.4
    # A raw uint32[2] key (jax.random.PRNGKey) is accepted too.
    d = F.dropout(X, 0.5, key=jax.random.PRNGKey(1))
    assert d.shape == X.shape


def test_vmap_over_keys():
    keys = jax.random.split(KEY, 4)
    out = jax.vmap(lambda x, k: F.dropout(x, 0.5, key=k))(X[:4], keys)
    assert out.shape == X[:4].shape
    assert not np.array_equal(np.asarray(out[0] != 0), np.asarray(out[1] != 0))


@pytest.mark.parametrize(
    "fn,p", [(F.alpha_dropout, 0.2), (F.feature_alpha_dropout, 0.5)], ids=["alpha", "feature-alpha"]
)
def test_alpha_dropout_keeps_mean_and_variance(fn, p):
    y = np.asarray(fn(X, p, training=True, key=KEY))
    assert abs(y.mean()) < 0.03 and abs(y.std() - 1.0) < 0.03
    x = np.asarray(X)
    dropped_value = (
        -1.7580993408473766 / math.sqrt((1.7580993408473766**2 * p + 1) * (1 - p)) * (1 - p)
    )
    dropped = np.isclose(y, dropped_value, atol=1e-6)
    assert abs(dropped.mean() - p) < 0.02
    if fn is F.feature_alpha_dropout:
        per_channel = dropped.reshape(64, 32, -1)
        assert (per_channel.all(-1) | ~per_channel.any(-1)).all()
    # Kept entries are the affine map a * x + b of torch.
    a = 1 / math.sqrt((1.7580993408473766**2 * p + 1) * (1 - p))
    np.testing.assert_allclose(
        y[~dropped], (a * x + 1.7580993408473766 * a * p)[~dropped], rtol=1e-5, atol=1e-6
    )


ALL = [F.dropout, F.alpha_dropout, F.feature_alpha_dropout, F.dropout1d, F.dropout2d, F.dropout3d]
ALL_T = [
    TF.dropout,
    TF.alpha_dropout,
    TF.feature_alpha_dropout,
    TF.dropout1d,
    TF.dropout2d,
    TF.dropout3d,
]
NAMES = [f.__name__ for f in ALL]
# A rank each function takes without a warning.
SHAPES = {"dropout1d": (2, 3, 4), "dropout3d": (2, 3, 2, 2, 2)}


@pytest.mark.parametrize("jfn,tfn", list(zip(ALL, ALL_T, strict=True)), ids=NAMES)
def test_eval_and_p0_are_identity_without_key(jfn, tfn):
    x = randn(*SHAPES.get(jfn.__name__, (2, 3, 4, 4)), seed=3)
    check_function(jfn, tfn, [x], dict(p=0.5, training=False), jit=False)
    check_function(jfn, tfn, [x], dict(p=0.0, training=True), jit=False)


@pytest.mark.parametrize("jfn,tfn", list(zip(ALL, ALL_T, strict=True)), ids=NAMES)
def test_p1_gives_zeros_without_key(jfn, tfn):
    x = randn(*SHAPES.get(jfn.__name__, (2, 3, 4, 4)), seed=3)
    check_function(jfn, tfn, [x], dict(p=1.0, training=True), jit=False)


def test_dtype_is_kept():
    y = F.dropout(X[:2].astype(jnp.bfloat16), 0.5, key=KEY)
    assert y.dtype == jnp.bfloat16
    assert set(
        np.unique(
            np.asarray(y.astype(jnp.float32) / X[:2].astype(jnp.bfloat16).astype(jnp.float32))
        ).round(3)
    ) <= {0.0, 2.0}


def test_unbatched_channels():
    # dropout1d (C, L) and dropout3d (C, D, H, W): the channel is dim 0.
    y1 = np.asarray(F.dropout1d(jnp.ones((64, 5)), 0.5, key=KEY))
    assert ((y1 == 0).all(-1) | (y1 == 2).all(-1)).all() and 0 < (y1 == 0).mean() < 1
    y3 = np.asarray(F.dropout3d(jnp.ones((64, 2, 2, 2)), 0.5, key=KEY)).reshape(64, -1)
    assert ((y3 == 0).all(-1) | (y3 == 2).all(-1)).all() and 0 < (y3 == 0).mean() < 1


def _torch_warnings(fn, x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(torch.from_numpy(np.asarray(x)), 0.5, training=False)
    return [str(w.message) for w in caught]


# function, input shape, how many of torch's warnings
WARNS = [
    ("dropout2d", (2, 3, 4), 1),  # 3-d: the batched-1d interpretation
    ("dropout2d", (2, 3, 4, 2, 2), 1),  # 5-d: deprecated rank
    ("dropout2d", (2, 3), 1),
    ("dropout3d", (2, 3, 4), 1),
]


@pytest.mark.parametrize("name,shape,count", WARNS, ids=[f"{w[0]}-{len(w[1])}d" for w in WARNS])
def test_rank_warnings_are_torchs(name, shape, count):
    x = np.ones(shape, np.float32)
    expected = _torch_warnings(getattr(TF, name), x)
    assert len(expected) == count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = getattr(F, name)(jnp.asarray(x), 0.5, training=False)
    assert [str(w.message) for w in caught] == expected
    assert all(w.category is UserWarning for w in caught)
    np.testing.assert_array_equal(np.asarray(y), x)


def test_dropout2d_3d_input_is_batched_1d():
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        y = np.asarray(F.dropout2d(jnp.ones((8, 16, 5)), 0.5, key=KEY))
    assert ((y == 0).all(-1) | (y == 2).all(-1)).all()


ERRORS = [
    (
        "p-high",
        lambda: F.dropout(X, 1.5),
        ValueError,
        r"^dropout probability has to be between 0 and 1, but got 1.5$",
    ),
    (
        "p-negative-eval",
        lambda: F.dropout2d(X, -0.1, training=False),
        ValueError,
        r"^dropout probability has to be between 0 and 1, but got -0.1$",
    ),
    (
        "missing-key",
        lambda: F.dropout(X, 0.5),
        ValueError,
        r"F\.dropout\(x, p=0\.5, training=True, key=sub\).*key, sub = jax\.random\.split\(key\)",
    ),
    (
        "missing-key-alpha",
        lambda: F.alpha_dropout(X, 0.5, True),
        ValueError,
        r"F\.alpha_dropout\(x, p=0\.5, training=True, key=",
    ),
    ("bad-key", lambda: F.dropout(X, 0.5, key=3), TypeError, r"key must be a single JAX PRNG key"),
    (
        "dropout1d-rank",
        lambda: F.dropout1d(jnp.ones(4), 0.5, training=False),
        ValueError,
        r"dropout1d: Expected 2D or 3D input, but received a 1D input",
    ),
    (
        "feature-1d",
        lambda: F.feature_alpha_dropout(jnp.ones(4), 0.5, True, key=KEY),
        ValueError,
        r"Feature dropout requires at least 2 dimensions in the input",
    ),
    (
        "integer-training",
        lambda: F.dropout(jnp.ones(4, jnp.int32), 0.5, key=KEY),
        TypeError,
        r"floating-point input",
    ),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_p_error_text_is_torchs():
    with pytest.raises(ValueError) as theirs:
        TF.dropout(torch.ones(2), 1.5)
    with pytest.raises(ValueError) as ours:
        F.dropout(jnp.ones(2), 1.5)
    assert str(ours.value) == str(theirs.value)


def test_integer_input_in_eval_is_identity():
    x = jnp.arange(4)
    assert F.dropout(x, 0.5, training=False) is x
