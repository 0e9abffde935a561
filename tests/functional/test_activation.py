"""Parity of jaxnn.functional's activations with torch.nn.functional, kinks included."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import assert_close, check_function, randn, to_torch

# Every kink of every activation below, each exactly representable: 0, ±lambda, ±3, 6, the
# thresholds, softplus's beta * x == threshold, plus saturating values.
KINKS = [
    -21.0,
    -20.0,
    -6.0,
    -3.0,
    -1.0,
    -0.5,
    0.0,
    0.5,
    1.0,
    3.0,
    6.0,
    20.0,
    21.0,
    10.0,
    -10.0,
    2.0,
]


def _input(dtype=np.float32, shape=(3, 16)):
    """Row 0 holds the kinks, the other rows random values spread over [-8, 8]."""
    x = randn(*shape, dtype=np.float64, seed=4) * 4.0
    x[0, : len(KINKS)] = KINKS[: shape[1]]
    return x.astype(dtype)


def check_jitted_together(cases):
    """One ``check_function`` over many ``(jfn, tfn, args, kwargs)`` cases at once.

    Every jaxnn function is itself ``jax.jit``-compiled, so the per-case tables run with
    ``jit=False``; this runs the whole table inside one outer ``jax.jit`` (forward and
    gradient), which checks that the functions compose with jit while compiling once.
    """
    flat, spans = [], []
    for _, _, args, _ in cases:
        spans.append((len(flat), len(flat) + len(args)))
        flat.extend(args)

    def run(pick):
        def f(*a):
            return tuple(
                c[pick](*a[lo:hi], **c[3]) for c, (lo, hi) in zip(cases, spans, strict=True)
            )

        return f

    check_function(run(0), run(1), flat)


# id, jaxnn fn, torch fn, kwargs (passed to both)
POINTWISE = [
    ("relu", F.relu, TF.relu, {}),
    ("relu6", F.relu6, TF.relu6, {}),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, {}),
    ("leaky_relu-negative-slope", F.leaky_relu, TF.leaky_relu, dict(negative_slope=-0.5)),
    ("elu", F.elu, TF.elu, {}),
    ("elu-negative-alpha", F.elu, TF.elu, dict(alpha=-1.0)),
    ("selu", F.selu, TF.selu, {}),
    ("celu-alpha", F.celu, TF.celu, dict(alpha=0.5)),
    ("gelu", F.gelu, TF.gelu, {}),
    ("gelu-tanh", F.gelu, TF.gelu, dict(approximate="tanh")),
    ("silu", F.silu, TF.silu, {}),
    ("mish", F.mish, TF.mish, {}),
    ("sigmoid", F.sigmoid, TF.sigmoid, {}),
    ("tanh", F.tanh, TF.tanh, {}),
    ("hardtanh", F.hardtanh, TF.hardtanh, {}),
    ("hardtanh-bounds", F.hardtanh, TF.hardtanh, dict(min_val=-3.0, max_val=6.0)),
    ("hardtanh-equal-bounds", F.hardtanh, TF.hardtanh, dict(min_val=0.5, max_val=0.5)),
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, {}),
    ("hardswish", F.hardswish, TF.hardswish, {}),
    ("softplus", F.softplus, TF.softplus, {}),
    ("softplus-beta-threshold", F.softplus, TF.softplus, dict(beta=2, threshold=1)),
    ("softsign", F.softsign, TF.softsign, {}),
    ("softshrink", F.softshrink, TF.softshrink, {}),
    ("softshrink-lambd", F.softshrink, TF.softshrink, dict(lambd=1.0)),
    ("softshrink-zero", F.softshrink, TF.softshrink, dict(lambd=0.0)),
    ("hardshrink", F.hardshrink, TF.hardshrink, {}),
    ("hardshrink-lambd", F.hardshrink, TF.hardshrink, dict(lambd=3.0)),
    ("tanhshrink", F.tanhshrink, TF.tanhshrink, {}),
    ("threshold", F.threshold, TF.threshold, dict(threshold=1.0, value=-2.0)),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, {}),
]
IDS = [c[0] for c in POINTWISE]


@pytest.mark.parametrize("jfn,tfn,kwargs", [c[1:] for c in POINTWISE], ids=IDS)
def test_pointwise(jfn, tfn, kwargs):
    check_function(jfn, tfn, [_input()], kwargs, jit=False)


def test_pointwise_under_jit():
    check_jitted_together([(jfn, tfn, [_input()], kwargs) for _, jfn, tfn, kwargs in POINTWISE])


def test_pointwise_inplace_is_accepted():
    x = _input()
    for name in (
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "silu",
        "mish",
        "hardtanh",
        "hardsigmoid",
        "hardswish",
    ):
        out = getattr(F, name)(jnp.asarray(x), inplace=True)
        assert_close(out, getattr(TF, name)(to_torch(x)), rtol=1e-5, atol=1e-5, what=name)
    # The input array is untouched (JAX arrays are immutable).
    np.testing.assert_array_equal(np.asarray(x), _input())


# Gradients at the kinks spelled out, independent of the harness: torch's conventions.
KINK_GRADS = [
    ("relu", F.relu, {}, [(0.0, 0.0)]),
    ("relu6", F.relu6, {}, [(0.0, 0.0), (6.0, 0.0)]),
    ("hardtanh", F.hardtanh, {}, [(-1.0, 0.0), (1.0, 0.0)]),
    ("leaky_relu", F.leaky_relu, dict(negative_slope=0.1), [(0.0, 0.1)]),
    ("threshold", F.threshold, dict(threshold=1.0, value=0.0), [(1.0, 0.0)]),
    ("hardsigmoid", F.hardsigmoid, {}, [(-3.0, 0.0), (3.0, 0.0)]),
    ("hardswish", F.hardswish, {}, [(-3.0, 0.0), (3.0, 1.0)]),
    ("softshrink", F.softshrink, {}, [(-0.5, 0.0), (0.5, 0.0)]),
    ("hardshrink", F.hardshrink, {}, [(-0.5, 0.0), (0.5, 0.0)]),
    ("elu", F.elu, dict(alpha=2.0), [(0.0, 2.0)]),
    ("celu", F.celu, dict(alpha=0.5), [(0.0, 1.0)]),
    ("softplus", F.softplus, dict(beta=2, threshold=1), [(0.5, 1 / (1 + math.exp(-1.0)))]),
]


@pytest.mark.parametrize(
    "fn,kwargs,points", [c[1:] for c in KINK_GRADS], ids=[c[0] for c in KINK_GRADS]
)
def test_gradient_at_kinks(fn, kwargs, points):
    for x, expected in points:
        got = jax.grad(lambda v, fn=fn: fn(v, **kwargs))(jnp.float32(x))
        assert float(got) == pytest.approx(expected, abs=1e-7), (x, float(got))


def test_prelu_gradient_at_zero():
    gx, gw = jax.grad(lambda x, w: F.prelu(x, w).sum(), argnums=(0, 1))(
        jnp.zeros(3), jnp.full((1,), 0.25)
    )
    np.testing.assert_array_equal(np.asarray(gx), [0.25, 0.25, 0.25])
    np.testing.assert_array_equal(np.asarray(gw), [0.0])


def test_large_inputs_have_finite_gradients():
    x = jnp.asarray(_input() * 500.0)  # up to ~1e4 in magnitude
    for name in ("elu", "selu", "celu", "softplus", "mish", "silu", "logsigmoid", "gelu"):
        g = jax.grad(lambda v, name=name: getattr(F, name)(v).sum())(x)
        assert bool(jnp.isfinite(g).all()), (name, g)


@pytest.mark.parametrize(
    "name",
    [
        "relu",
        "relu6",
        "leaky_relu",
        "hardtanh",
        "hardsigmoid",
        "hardswish",
        "softshrink",
        "hardshrink",
        "elu",
        "softplus",
    ],
)
def test_nan_propagates_like_torch(name):
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    out = np.asarray(getattr(F, name)(jnp.asarray(x)))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(getattr(TF, name)(to_torch(x)).numpy()))


F64 = ["elu", "gelu-tanh", "softplus-beta-threshold"]


@pytest.mark.parametrize("jfn,tfn,kwargs", [c[1:] for c in POINTWISE if c[0] in F64], ids=F64)
def test_pointwise_float64(jfn, tfn, kwargs, x64):
    check_function(jfn, tfn, [_input(np.float64)], kwargs, jit=False)


BF16 = ["relu", "gelu", "silu", "hardswish", "softplus"]


@pytest.mark.parametrize("jfn,tfn,kwargs", [c[1:] for c in POINTWISE if c[0] in BF16], ids=BF16)
def test_pointwise_bfloat16(jfn, tfn, kwargs):
    x = jnp.asarray(_input(), jnp.bfloat16)
    out = check_function(jfn, tfn, [x], kwargs, grad=False, jit=False)
    assert out.dtype == jnp.bfloat16


@pytest.mark.parametrize("shape", [(0, 3), ()], ids=["empty", "scalar"])
def test_pointwise_shapes(shape):
    check_function(
        F.hardswish, TF.hardswish, [np.asarray(randn(*shape, seed=3) * 3, np.float32)], jit=False
    )


# id, input shape, weight shape
PRELU = [
    ("channels", (2, 3, 4, 5), (3,)),
    ("shared", (2, 3, 4), (1,)),
    ("scalar-weight", (2, 3), ()),
    ("empty-batch", (0, 3, 2), (3,)),
]


@pytest.mark.parametrize("x_shape,w_shape", [c[1:] for c in PRELU], ids=[c[0] for c in PRELU])
def test_prelu(x_shape, w_shape):
    x = randn(*x_shape, seed=1)
    if x.ndim:
        x.reshape(-1)[:3] = 0.0  # the kink
    w = np.asarray(np.abs(randn(*w_shape, seed=2)) * 0.5, np.float32)
    check_function(F.prelu, TF.prelu, [x, w], jit=False)


def test_prelu_and_softmax_family_under_jit():
    cases = [
        (F.prelu, TF.prelu, [randn(*xs, seed=1), randn(*ws, seed=2) * 0.5], {})
        for _, xs, ws in PRELU
        if ws
    ]
    cases += [
        (*SOFTMAX_FNS[fn], [randn(*shape, seed=5)], dict(dim=dim))
        for _, fn, shape, dim in SOFTMAX
        if shape
    ]
    check_jitted_together(cases)


def test_prelu_float64(x64):
    check_function(
        F.prelu, TF.prelu, [randn(2, 3, 4, dtype=np.float64), randn(3, dtype=np.float64)]
    )


def test_prelu_0d_input():
    out = F.prelu(jnp.float32(-2.0), jnp.array([0.25]))
    assert out.shape == () and float(out) == -0.5


SOFTMAX_FNS = {
    "softmax": (F.softmax, TF.softmax),
    "log_softmax": (F.log_softmax, TF.log_softmax),
    "softmin": (F.softmin, TF.softmin),
}

# id, function, input shape, dim (few distinct shapes: each one compiles anew)
SOFTMAX = [
    ("softmax-dim1", "softmax", (2, 3, 4), 1),
    ("log_softmax-dim0", "log_softmax", (2, 3, 4), 0),
    ("softmin-dim1", "softmin", (2, 3, 4), 1),
    ("softmax-1d", "softmax", (5,), 0),
    ("log_softmax-0d", "log_softmax", (), 0),
    ("softmin-empty-batch", "softmin", (0, 4), 1),
]


@pytest.mark.parametrize("fn,shape,dim", [c[1:] for c in SOFTMAX], ids=[c[0] for c in SOFTMAX])
def test_softmax_family(fn, shape, dim):
    x = np.asarray(randn(*shape, seed=5) * 3, np.float32)
    check_function(*SOFTMAX_FNS[fn], [x], dict(dim=dim), jit=False)


def test_softmax_family_float64(x64):
    check_function(*SOFTMAX_FNS["log_softmax"], [randn(3, 4, dtype=np.float64)], dict(dim=1))


@pytest.mark.parametrize("fn", list(SOFTMAX_FNS))
def test_softmax_family_bfloat16(fn):
    x = jnp.asarray(randn(3, 6), jnp.bfloat16)
    out = check_function(*SOFTMAX_FNS[fn], [x], dict(dim=1), grad=False, jit=False)
    assert out.dtype == jnp.bfloat16


@pytest.mark.parametrize("fn", list(SOFTMAX_FNS))
def test_softmax_family_dtype_argument(fn, x64):
    jfn, tfn = SOFTMAX_FNS[fn]
    ints = np.array([[1, 2, 3], [0, -1, 4]], np.int64)
    out = jfn(jnp.asarray(ints), 1, dtype=jnp.float32)
    assert out.dtype == jnp.float32
    assert_close(out, tfn(torch.from_numpy(ints), 1, dtype=torch.float32), rtol=1e-6, atol=1e-6)
    # float32 in, computed in float64 (the cast happens before the op; gradient flows back).
    x = randn(2, 3)
    out = jfn(jnp.asarray(x), 1, dtype=jnp.float64)
    assert out.dtype == jnp.float64
    assert_close(out, tfn(to_torch(x), 1, dtype=torch.float64), rtol=1e-10, atol=1e-10)


# input shape, the dim torch implies (0 for 0-, 1- and 3-d inputs, else 1), function
IMPLICIT = [
    ((4,), 0, "softmax"),
    ((2, 3), 1, "log_softmax"),
    ((2, 3, 4), 0, "softmin"),
    ((2, 3, 4, 5), 1, "softmax"),
    ((), 0, "log_softmax"),
]


@pytest.mark.parametrize(
    "shape,implied,fn", IMPLICIT, ids=[f"{len(c[0])}d-{c[2]}" for c in IMPLICIT]
)
def test_softmax_family_implicit_dim_warns(shape, implied, fn):
    jfn, tfn = SOFTMAX_FNS[fn]
    x = np.asarray(randn(*shape, seed=2))
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {fn} has been deprecated"):
        out = jfn(jnp.asarray(x))
    assert_close(out, tfn(to_torch(x), dim=implied), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,dim", [((2, 4, 3), 1), ((0, 4), -1)])
def test_glu(shape, dim):
    check_function(F.glu, TF.glu, [randn(*shape, seed=6)], dict(dim=dim))


ERRORS = [
    (
        "prelu-channels",
        lambda: F.prelu(jnp.ones((2, 3, 4)), jnp.ones(4)),
        ValueError,
        r"Found parameter numbers = 4 and channel size = 3",
    ),
    (
        "prelu-1d-input",
        lambda: F.prelu(jnp.ones(3), jnp.ones(3)),
        ValueError,
        r"Found parameter numbers = 3 and channel size = 1",
    ),
    (
        "prelu-2d-weight",
        lambda: F.prelu(jnp.ones((2, 3)), jnp.ones((1, 3))),
        ValueError,
        r"scalar or 1D tensor, but got: ndim = 2",
    ),
    ("glu-odd", lambda: F.glu(jnp.ones((2, 5)), 1), ValueError, r"dimension 1 is size 5"),
    ("glu-scalar", lambda: F.glu(jnp.ones(())), ValueError, r"glu does not support scalars"),
    ("glu-dim", lambda: F.glu(jnp.ones((2, 4)), 2), IndexError, r"Dimension out of range"),
    (
        "hardtanh-bounds",
        lambda: F.hardtanh(jnp.ones(2), 1.0, -1.0),
        ValueError,
        r"min_val cannot be greater than max_val",
    ),
    ("celu-zero", lambda: F.celu(jnp.ones(2), 0.0), ValueError, r"alpha cannot be 0 for CELU"),
    (
        "softshrink-negative",
        lambda: F.softshrink(jnp.ones(2), -0.5),
        ValueError,
        r"lambd must be >= 0",
    ),
    (
        "gelu-approximate",
        lambda: F.gelu(jnp.ones(2), approximate="foo"),
        ValueError,
        r"approximate='foo' is not valid; choose one of \('none', 'tanh'\)",
    ),
    (
        "softmax-int",
        lambda: F.softmax(jnp.ones(3, jnp.int32), 0),
        TypeError,
        r"pass dtype=jnp.float32",
    ),
    (
        "softmax-dim",
        lambda: F.softmax(jnp.ones((2, 3)), 2),
        IndexError,
        r"expected to be in range of \[-2, 1\], but got 2",
    ),
    (
        "log_softmax-scalar-dim",
        lambda: F.log_softmax(jnp.ones(()), 1),
        IndexError,
        r"expected to be in range of \[-1, 0\], but got 1",
    ),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_vmap_and_jit_compose():
    x = jnp.asarray(randn(4, 3, 5))
    w = jnp.asarray([0.1, 0.2, 0.3])
    # vmap over the batch: each example is (C, L) -> prelu's channel is then dim 1 (= L), so
    # use a shared slope here, and softmax over the last dim.
    out = jax.jit(jax.vmap(lambda v: F.softmax(F.prelu(v, w[:1]), dim=-1)))(x)
    ref = TF.softmax(TF.prelu(to_torch(np.asarray(x)), to_torch(np.asarray(w[:1]))), dim=-1)
    assert_close(out, ref, rtol=1e-5, atol=1e-6)
