"""RNN, LSTM, GRU and their cells against torch: outputs, gradients, state, scan, dropout."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from jaxnn.functional import _recurrent
from tests.parity import check_function, check_module, randn

# Small sizes keep each case's compiles short: input 3, hidden 4, seq 5, batch 2.
H_IN, H, L, N = 3, 4, 5, 2


def make_flat(lib, rnn):
    """Wrap a stacked layer so its output is a flat tuple and h0 (c0) are top-level inputs.

    check_module pulls a cotangent through each top-level output and differentiates each
    top-level input; LSTM's ``(out, (h_n, c_n))`` and ``hx=(h0, c0)`` are nested, so the
    wrapper flattens them and every state gradient is compared too.
    """

    class Flat(lib.Module):
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x, h0=None, c0=None):
            if c0 is not None:
                out, (h, c) = self.rnn(x, (h0, c0))
                return out, h, c
            out, state = self.rnn(x, h0)
            return (out, *state) if isinstance(state, tuple) else (out, state)

    return Flat(rnn)


def inputs_for(kwargs, *, unbatched=False, hx=False, dtype=np.float32):
    """x (and h0, c0) of torch's shapes for the configuration ``kwargs``."""
    d = 2 if kwargs.get("bidirectional") else 1
    layers = d * kwargs.get("num_layers", 1)
    h_out = kwargs.get("proj_size") or H
    if unbatched:
        x = randn(L, H_IN, dtype=dtype, seed=1)
    elif kwargs.get("batch_first"):
        x = randn(N, L, H_IN, dtype=dtype, seed=1)
    else:
        x = randn(L, N, H_IN, dtype=dtype, seed=1)
    if not hx:
        return [x]
    batch = () if unbatched else (N,)
    h0 = randn(layers, *batch, h_out, dtype=dtype, seed=2)
    if kwargs.get("_lstm"):
        return [x, h0, randn(layers, *batch, H, dtype=dtype, seed=3)]
    return [x, h0]


# Case ids list the non-default arguments; "unbatched" and "hx" (an initial state given)
# are the call's. Every argument value of every class appears, and the interactions that
# change shapes (layers x bidirectional, unbatched x state, batch_first x state) are
# paired. Cases ending in "-jit" also run under an outer jax.jit: the sequence maths is a
# jitted function already, so the eager check compiles that same program; the outer jit
# adds only the module's flattening, which a few cases cover (RNN: the seed 002 model).
LAYERS2_BIDIR = dict(num_layers=2, bidirectional=True)
CASES = [
    # (class, id, constructor kwargs, unbatched, hx)
    ("RNN", "default", {}, False, False),
    ("RNN", "2layer-bidir-batchfirst-hx", dict(LAYERS2_BIDIR, batch_first=True), False, True),
    ("RNN", "bidir-nobias-unbatched-hx", dict(bidirectional=True, bias=False), True, True),
    ("RNN", "nobias-batchfirst-unbatched", dict(bias=False, batch_first=True), True, False),
    ("RNN", "relu-2layer-bidir-hx", dict(LAYERS2_BIDIR, nonlinearity="relu"), False, True),
    ("LSTM", "default", {}, False, False),
    ("LSTM", "bidir-nobias-unbatched-hx-jit", dict(bidirectional=True, bias=False), True, True),
    ("LSTM", "nobias-batchfirst-unbatched", dict(bias=False, batch_first=True), True, False),
    ("LSTM", "proj-2layer-bidir-hx", dict(LAYERS2_BIDIR, proj_size=2), False, True),
    ("LSTM", "proj-nobias-unbatched-hx", dict(proj_size=3, bias=False), True, True),
    # LSTM 2layer-bidir-batchfirst-hx: see test_parity_float64.
    ("GRU", "default", {}, False, False),
    ("GRU", "2layer-bidir-batchfirst-hx", dict(LAYERS2_BIDIR, batch_first=True), False, True),
    ("GRU", "bidir-nobias-unbatched-hx-jit", dict(bidirectional=True, bias=False), True, True),
    ("GRU", "nobias-batchfirst-unbatched", dict(bias=False, batch_first=True), True, False),
]


def build(cls, kwargs, dtype=None):
    torch_mod = getattr(tnn, cls)(H_IN, H, **kwargs)
    jax_mod = getattr(nn, cls)(H_IN, H, **kwargs, dtype=dtype)
    if dtype is not None:
        torch_mod = torch_mod.double()
    return torch_mod, jax_mod


def check_rnn(cls, tmod, jmod, inputs, **kw):
    """RNN and GRU return a flat (output, h_n) and take hx whole: compare them as they are.
    LSTM goes through make_flat so that h_n, c_n, h0 and c0 all get gradients."""
    if cls == "LSTM":
        tmod, jmod = make_flat(tnn, tmod), make_flat(nn, jmod)
    return check_module(tmod, jmod, inputs, **kw)


@pytest.mark.parametrize(
    "cls,name,kwargs,unbatched,hx", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_parity(cls, name, kwargs, unbatched, hx):
    tmod, jmod = build(cls, kwargs)
    spec = dict(kwargs, _lstm=cls == "LSTM")
    inputs = inputs_for(spec, unbatched=unbatched, hx=hx)
    check_rnn(cls, tmod, jmod, inputs, jit=name.endswith("-jit"))


def test_parity_float64(x64):
    # LSTM's 2layer-bidir-batchfirst-hx case of the table, in float64 (held to 1e-10).
    kwargs = dict(LAYERS2_BIDIR, batch_first=True)
    tmod, jmod = build("LSTM", kwargs, dtype=jnp.float64)
    inputs = inputs_for(dict(kwargs, _lstm=True), hx=True, dtype=np.float64)
    check_rnn("LSTM", tmod, jmod, inputs, jit=False)


# ----------------------------------------------------------------------------- cells

# Cells are one jitted step; the outer jit is checked once (RNNCell-hx-jit).
NOBIAS, RELU = dict(bias=False), dict(nonlinearity="relu", bias=False)
CELL_CASES = [
    # (class, id, constructor kwargs, input shape, hx)
    ("RNNCell", "hx-jit", {}, (N, H_IN), True),
    ("RNNCell", "relu-nobias-unbatched", RELU, (H_IN,), False),
    ("LSTMCell", "nobias-unbatched", NOBIAS, (H_IN,), False),
    ("LSTMCell", "hx", {}, (N, H_IN), True),
    ("GRUCell", "nobias-unbatched-hx", NOBIAS, (H_IN,), True),
]


@pytest.mark.parametrize(
    "cls,name,kwargs,shape,hx", CELL_CASES, ids=[f"{c[0]}-{c[1]}" for c in CELL_CASES]
)
def test_cell_parity(cls, name, kwargs, shape, hx):
    tmod, jmod = getattr(tnn, cls)(H_IN, H, **kwargs), getattr(nn, cls)(H_IN, H, **kwargs)
    jit = name.endswith("-jit")
    x = randn(*shape, seed=1)
    hshape = (*shape[:-1], H)
    if not hx:
        check_module(tmod, jmod, [x], jit=jit)
    elif cls == "LSTMCell":
        # hx is a pair: h and c go in as top-level arguments so that both get gradients.
        jmod.load_state_dict(tmod.state_dict())
        check_function(
            lambda x, h, c, m=jmod: m(x, (h, c)),
            lambda x, h, c, m=tmod: m(x, (h, c)),
            [x, randn(*hshape, seed=2), randn(*hshape, seed=3)],
            jit=jit,
        )
    else:
        check_module(tmod, jmod, [x, randn(*hshape, seed=2)], jit=jit)


def test_cell_functions_match_torch_vf():
    # The pure cell functions against torch's C++ ones, same argument order. Gradients of
    # the maths are checked through the cell modules; lstm_cell's here too.
    x, h, c = randn(N, H_IN, seed=1), randn(N, H, seed=2), randn(N, H, seed=3)
    for name, gates in [("rnn_tanh_cell", 1), ("rnn_relu_cell", 1), ("gru_cell", 3)]:
        w = [randn(gates * H, H_IN, seed=4), randn(gates * H, H, seed=5)]
        b = [randn(gates * H, seed=6), randn(gates * H, seed=7)]
        jfn, tfn = getattr(_recurrent, name), getattr(torch._VF, name)
        check_function(jfn, tfn, [x, h, *w, *b], jit=False, grad=False)
    w = [
        randn(4 * H, H_IN, seed=4),
        randn(4 * H, H, seed=5),
        randn(4 * H, seed=6),
        randn(4 * H, seed=7),
    ]
    check_function(
        lambda x, h, c, *w: _recurrent.lstm_cell(x, (h, c), *w),
        lambda x, h, c, *w: torch._VF.lstm_cell(x, (h, c), *w),
        [x, h, c, *w],
        jit=False,
    )


# ----------------------------------------------------------------------------- seed 002


def make_seed_rnn(lib, zeros):
    # Seed 002's RNN model, written for jaxnn exactly as for torch.
    class RNN(lib.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.rnn = lib.RNN(input_size, hidden_size, batch_first=True)
            self.fc = lib.Linear(hidden_size, output_size)

        def forward(self, x):
            h0 = zeros(1, x.shape[0], self.hidden_size)
            out, _ = self.rnn(x, h0)
            out = self.fc(out[:, -1, :])
            return out

    return RNN(input_size=H_IN, hidden_size=H, output_size=2)


def test_seed_002_rnn_model():
    tmod = make_seed_rnn(tnn, torch.zeros)
    jmod = make_seed_rnn(nn, lambda *s: jnp.zeros(s))
    out = check_module(tmod, jmod, [randn(N, L, H_IN, seed=1)])
    assert out.shape == (N, 2)


# ----------------------------------------------------------------------------- scan, no unrolling


def _sub_jaxprs(params):
    for v in params.values():
        for item in v if isinstance(v, tuple | list) else (v,):
            if hasattr(item, "eqns"):
                yield item
            elif hasattr(getattr(item, "jaxpr", None), "eqns"):
                yield item.jaxpr


def _eqn_count(jaxpr) -> tuple[int, set]:
    """Equations in a jaxpr and all its sub-jaxprs, and the primitives used."""
    count, prims = 0, set()
    for eqn in jaxpr.eqns:
        count += 1
        prims.add(eqn.primitive.name)
        for sub in _sub_jaxprs(eqn.params):
            c, p = _eqn_count(sub)
            count += c
            prims |= p
    return count, prims


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_long_sequence_compiles_to_one_scan(cls):
    model = getattr(nn, cls)(H_IN, H, num_layers=2, bidirectional=True)
    sizes = {}
    for steps in (10, 200):
        closed = jax.make_jaxpr(lambda m, x: m(x))(model, jnp.ones((steps, N, H_IN)))
        sizes[steps], prims = _eqn_count(closed.jaxpr)
        assert "scan" in prims
    # The program does not grow with the sequence: time steps are a loop, not unrolled.
    assert sizes[200] == sizes[10]
    # Gradients too: the backward pass is a scan as well.
    grad = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(model(x)[0])))(jnp.ones((200, N, H_IN)))
    assert "scan" in _eqn_count(grad.jaxpr)[1]


def _dots_outside_scan(jaxpr) -> list:
    """dot_general equations of a jaxpr and its sub-jaxprs, not looking inside scans."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(eqn)
        elif eqn.primitive.name != "scan":
            for sub in _sub_jaxprs(eqn.params):
                found += _dots_outside_scan(sub)
    return found


def test_input_projection_is_hoisted():
    # One (L, N, H_in) x (H_in, G) matmul per layer outside the scan (both directions of a
    # bidirectional layer in the same one); inside the scan body only W_hh h.
    for model, g in [(nn.GRU(H_IN, H), 3 * H), (nn.LSTM(H_IN, H, bidirectional=True), 2 * 4 * H)]:
        closed = jax.make_jaxpr(lambda x, m=model: m(x))(jnp.ones((L, N, H_IN)))
        dots = _dots_outside_scan(closed.jaxpr)
        assert [tuple(d.outvars[0].aval.shape) for d in dots] == [(L, N, g)]


# ----------------------------------------------------------------------------- dropout


def test_dropout_needs_key_in_training():
    model = nn.LSTM(H_IN, H, num_layers=2, dropout=0.5)
    x = jnp.asarray(randn(L, N, H_IN))
    with pytest.raises(ValueError, match=r"key, sub = jax\.random\.split\(key\)"):
        model(x)
    model.eval()
    model(x)  # no key needed for inference


def test_dropout_keys_determinism_and_outer_module():
    # A parent module's key= reaches the RNN through the forward key scope.
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(H_IN, H, num_layers=2, dropout=0.5)

        def forward(self, x):
            return self.rnn(x)[0]

    net, x = Net(), jnp.asarray(randn(L, N, H_IN))
    a = net(x, key=jax.random.key(1))
    np.testing.assert_array_equal(a, net(x, key=jax.random.key(1)))
    assert not np.allclose(a, net(x, key=jax.random.key(2)))
    jitted = eqx.filter_jit(lambda m, x, k: m(x, key=k))(net, x, jax.random.key(1))
    np.testing.assert_allclose(jitted, a, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        net(x)
    net.eval()
    np.testing.assert_array_equal(net(x), net(x, key=jax.random.key(3)))


def test_dropout_statistics_between_layers_only():
    # Identity layers (relu, W_ih = I, W_hh = 0, no bias) on a positive input of ones:
    # layer 0 outputs ones, dropout makes them 0 or 1/(1-p), layer 1 passes them through.
    # One dropout (between the two layers, none after the last) gives exactly {0, 1/(1-p)}.
    p, h, steps, batch = 0.3, 8, 40, 25
    model = nn.RNN(h, h, num_layers=2, nonlinearity="relu", bias=False, dropout=p)
    eye, zero = np.eye(h, dtype=np.float32), np.zeros((h, h), np.float32)
    model.load_state_dict(
        {"weight_ih_l0": eye, "weight_hh_l0": zero, "weight_ih_l1": eye, "weight_hh_l1": zero}
    )
    out, h_n = model(jnp.ones((steps, batch, h)), key=jax.random.key(0))
    values = np.unique(np.round(np.asarray(out), 5))
    np.testing.assert_allclose(values, [0.0, round(1 / (1 - p), 5)], rtol=1e-5)
    dropped = float(np.mean(np.asarray(out) == 0))
    n = out.size
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert abs(float(out.mean()) - 1.0) < 0.05
    np.testing.assert_array_equal(h_n[1], out[-1])
    # The mask differs between time steps and batch elements (not one mask per feature).
    assert not np.all(np.asarray(out[0]) == np.asarray(out[1]))


def test_dropout_one_layer_warns_like_torch():
    with pytest.warns(
        UserWarning,
        match="non-zero dropout expects num_layers greater than 1, but got dropout=0.2 and num_layers=1",
    ):
        model = nn.GRU(H_IN, H, dropout=0.2)
    assert repr(model) == "GRU(3, 4, dropout=0.2)"
    model(jnp.ones((L, N, H_IN)))  # nothing to drop: no key needed


# ----------------------------------------------------------------------------- module API


REPRS = [
    ("LSTM", (10, 20), dict(num_layers=2, batch_first=True, bidirectional=True)),
    ("RNN", (10, 20), {}),
    ("RNN", (10, 20), dict(nonlinearity="relu", bias=False)),
    ("RNN", (10, 20, 2, "relu", False), {}),
    ("GRU", (10, 20), dict(bias=False)),
    ("LSTM", (10, 20), dict(proj_size=5, num_layers=3, dropout=0.5)),
    ("RNNCell", (10, 20), {}),
    ("RNNCell", (10, 20, False, "relu"), {}),
    ("LSTMCell", (10, 20), dict(bias=False)),
    ("GRUCell", (10, 20), {}),
]


@pytest.mark.parametrize("cls,args,kwargs", REPRS, ids=[f"{c}{a}{k}" for c, a, k in REPRS])
def test_repr_and_state_dict_layout(cls, args, kwargs):
    tmod, jmod = getattr(tnn, cls)(*args, **kwargs), getattr(nn, cls)(*args, **kwargs)
    assert repr(jmod) == repr(tmod)
    assert [(k, tuple(v.shape)) for k, v in jmod.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in tmod.state_dict().items()
    ]
    assert [n for n, _ in jmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    if hasattr(tmod, "all_weights"):
        assert [[w.shape for w in ws] for ws in jmod.all_weights] == [
            [tuple(w.shape) for w in ws] for ws in tmod.all_weights
        ]


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU", "LSTMCell"])
def test_default_init_statistics(cls):
    # Every parameter ~ U(-1/sqrt(hidden), 1/sqrt(hidden)): bounds, mean and std vs torch's.
    hidden = 64
    kw = dict(num_layers=2) if cls != "LSTMCell" else {}
    jmod, tmod = getattr(nn, cls)(32, hidden, **kw), getattr(tnn, cls)(32, hidden, **kw)
    bound = 1 / np.sqrt(hidden)
    jw = np.concatenate([np.ravel(p) for p in jmod.parameters()])
    tw = np.concatenate([p.detach().numpy().ravel() for p in tmod.parameters()])
    assert jw.size == tw.size
    # float32 rounding of the bounds may reach one ulp past the float64 value.
    assert jw.min() >= -bound * (1 + 1e-6) and jw.max() <= bound * (1 + 1e-6)
    assert abs(jw.mean()) < 0.03 * bound
    # std of U(-b, b) is b/sqrt(3); >14k samples estimate it within ~0.4% (1 sigma).
    np.testing.assert_allclose(jw.std(), tw.std(), rtol=0.03)
    np.testing.assert_allclose(jw.std(), bound / np.sqrt(3), rtol=0.03)


def test_parameters_by_attribute_trainable_and_freezing():
    lstm = nn.LSTM(H_IN, H, num_layers=2, bidirectional=True, proj_size=2)
    sd = lstm.state_dict()
    assert lstm.weight_hr_l1_reverse is sd["weight_hr_l1_reverse"]
    assert lstm.bias_hh_l0.shape == (4 * H,)
    assert "weight_ih_l1_reverse" in dir(lstm)
    with pytest.raises(AttributeError, match="no attribute 'weight_ih_l2'"):
        lstm.weight_ih_l2
    with pytest.raises(AttributeError):
        lstm._not_there
    with pytest.raises(AttributeError):
        nn.GRU(H_IN, H, bias=False).bias_ih_l0
    mask = nn.trainable(lstm)
    assert all(v is True for v in mask.state_dict().values())
    params, _ = eqx.partition(lstm, mask)
    assert len(jax.tree.leaves(params)) == len(sd) == 20
    lstm.requires_grad_(False)
    assert not any(nn.trainable(lstm).state_dict().values())
    assert not lstm.parameter_requires_grad("weight_ih_l0")


def test_assign_parameter_and_to_dtype():
    gru = nn.GRU(H_IN, H)
    new = jnp.zeros((3 * H, H))
    gru.weight_hh_l0 = new
    assert gru.weight_hh_l0 is new and gru.state_dict()["weight_hh_l0"] is new
    with pytest.raises(RuntimeError, match="inside a JAX transformation"):
        jax.jit(lambda m: setattr(m, "weight_hh_l0", jnp.ones((3 * H, H)) * 1.0))(gru)
    gru.to(jnp.bfloat16)
    assert all(p.dtype == jnp.bfloat16 for p in gru.parameters())
    out, h_n = gru(jnp.ones((L, N, H_IN), jnp.bfloat16))
    assert out.dtype == h_n.dtype == jnp.bfloat16


def test_load_state_dict_forward_and_jit():
    tmod, jmod = tnn.LSTM(H_IN, H), nn.LSTM(H_IN, H)
    assert repr(jmod.load_state_dict(tmod.state_dict())) == "<All keys matched successfully>"
    x = randn(L, N, H_IN)
    t_out, (_, t_c) = tmod(torch.from_numpy(x))
    out, model2 = nn.forward(jmod, jnp.asarray(x))
    np.testing.assert_allclose(out[0], t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1][1], t_c.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert model2.state_dict().keys() == jmod.state_dict().keys()
    # Gradients with respect to the model, as a pytree, through jit.
    g = eqx.filter_jit(eqx.filter_grad(lambda m, x: jnp.sum(m(x)[0])))(jmod, jnp.asarray(x))
    assert list(dict(g.named_parameters())) == list(tmod.state_dict())


def test_vmap_over_unbatched_sequences():
    model = nn.LSTM(H_IN, H, bidirectional=True)
    x = jnp.asarray(randn(L, N, H_IN))
    batched_out, (h, _) = model(x)
    out, (hv, _) = jax.vmap(model, in_axes=1, out_axes=1)(x)
    np.testing.assert_allclose(out, batched_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hv, h, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- errors

CTOR_ERRORS = [
    ("RNN", dict(dropout=1.5), ValueError, r"dropout should be a number in range \[0, 1\]"),
    ("RNN", dict(nonlinearity="sigmoid"), ValueError, "Unknown nonlinearity 'sigmoid'"),
    ("LSTM", dict(proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    ("LSTM", dict(proj_size=-1), ValueError, "proj_size should be a positive integer or zero"),
    ("GRU", dict(num_layers=0), ValueError, "num_layers must be greater than zero"),
    ("GRU", dict(bias=1), TypeError, "bias should be of type bool"),
    ("GRU", dict(batch_first="yes"), TypeError, "batch_first should be of type bool"),
    ("GRU", dict(dtype=jnp.int32), TypeError, "floating point"),
    ("RNNCell", dict(nonlinearity="gelu"), ValueError, "Unknown nonlinearity"),
]


@pytest.mark.parametrize(
    "cls,kwargs,exc,match", CTOR_ERRORS, ids=[f"{c}-{k}" for c, k, _, _ in CTOR_ERRORS]
)
def test_constructor_errors(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, cls)(H_IN, H, **kwargs)


def test_size_errors():
    with pytest.raises(TypeError, match="input_size should be of type int"):
        nn.LSTM(3.0, H)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(H_IN, 0)


def _arrays(spec):
    """An array of ones for a shape, a pair of them for a pair of shapes, None for None."""
    if spec is None or isinstance(spec, list):
        return spec
    if isinstance(spec[0], tuple):
        return tuple(jnp.ones(s) for s in spec)
    return jnp.ones(spec)


S3, HX1 = (L, N, H_IN), (1, N, H)
FORWARD_ERRORS = [
    # (class, kwargs, input shape, hx shape(s), exception, message)
    ("GRU", {}, (2, *S3), None, ValueError, "Expected input to be 2D or 3D, got 4D"),
    ("GRU", {}, (L, N, 7), None, RuntimeError, "must be equal to input_size. Expected 3, got 7"),
    ("RNN", {}, S3, (N, H), RuntimeError, "hx should also be 3-D but got 2-D"),
    ("RNN", {}, (L, H_IN), HX1, RuntimeError, "hx should also be 2-D but got 3-D"),
    ("RNN", dict(num_layers=2), S3, HX1, RuntimeError, r"hidden size \(2, 2, 4\), got \[1, 2, 4\]"),
    ("LSTM", {}, S3, HX1, TypeError, r"pair \(h_0, c_0\)"),
    ("LSTM", dict(proj_size=2), S3, (HX1, HX1), RuntimeError, r"hidden\[0\] size \(1, 2, 2\), got"),
    ("LSTM", {}, S3, (HX1, (N, H)), RuntimeError, r"should also be 3-D but got \(3-D, 2-D\)"),
    ("GRU", {}, [[1.0, 2.0, 3.0]], None, NotImplementedError, "Packed sequences"),
]


@pytest.mark.parametrize(
    "cls,kwargs,x,hx,exc,match", FORWARD_ERRORS, ids=[m[:30] for *_, m in FORWARD_ERRORS]
)
def test_forward_errors(cls, kwargs, x, hx, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, cls)(H_IN, H, **kwargs)(_arrays(x), _arrays(hx))


def test_dtype_mismatch():
    with pytest.raises(ValueError, match=r"input dtype \(bfloat16\) does not match weight dtype"):
        nn.GRU(H_IN, H)(jnp.ones(S3, jnp.bfloat16))


def test_packed_sequence_is_refused():
    packed = tnn.utils.rnn.pack_padded_sequence(torch.zeros(L, N, H_IN), [L, 3])
    with pytest.raises(NotImplementedError, match="PackedSequence"):
        nn.LSTM(H_IN, H)(packed)


CELL_ERRORS = [
    # (class, input shape, hx shape(s), exception, message)
    ("RNNCell", (1, N, H_IN), None, ValueError, "Expected input to be 1D or 2D, got 3D"),
    ("GRUCell", (N, 7), None, RuntimeError, "inconsistent input_size: got 7 expected 3"),
    ("GRUCell", (N, H_IN), (3, H), RuntimeError, r"hidden has shape \(3, 4\), expected \(2, 4\)"),
    ("LSTMCell", (N, H_IN), (N, H), TypeError, r"pair \(h, c\)"),
    ("LSTMCell", (N, H_IN), ((N, H), (1, N, H)), ValueError, r"Expected hx\[1\] to be 1D or 2D"),
]


@pytest.mark.parametrize("cls,x,hx,exc,match", CELL_ERRORS, ids=[m[:30] for *_, m in CELL_ERRORS])
def test_cell_errors(cls, x, hx, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, cls)(H_IN, H)(_arrays(x), _arrays(hx))
