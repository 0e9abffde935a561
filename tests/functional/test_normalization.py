"""Parity of jaxnn.functional's normalisation functions with torch.nn.functional."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import assert_close, check_function, randn, to_torch, tolerance


def cases(table):
    """pytest params from a case table (first column: the id), plus a ``jit`` flag.

    The functions run a jitted core, so the eager comparison already runs compiled code;
    the harness's extra outer-``jax.jit`` comparison (a fresh compile per case) runs on the
    first row of each table only, which keeps this file inside its time budget.
    """
    return [pytest.param(*row[1:], i == 0, id=row[0]) for i, row in enumerate(table)]


def ids(table):
    return [pytest.param(*row[1:], id=row[0]) for row in table]


def _x(shape, dtype=np.float32, seed=0, shift=0.0):
    return np.asarray(randn(*shape, dtype=dtype, seed=seed) * 2 + shift, dtype=dtype)


def _vec(c, dtype=np.float32, seed=1, positive=False):
    v = randn(c, dtype=dtype, seed=seed)
    return (np.abs(v) + 0.5).astype(dtype) if positive else v


# --------------------------------------------------------------------------------------
# batch_norm
# --------------------------------------------------------------------------------------

# One shape per rank, shared by every family: eager JAX compiles each op once per shape,
# so reusing shapes keeps the suite fast.
NC, NCL, NCHW, NCDHW = (3, 4), (2, 4, 3), (2, 4, 2, 3), (2, 4, 2, 2, 2)
BN_SHAPES = {"NC": NC, "NCL": NCL, "NCHW": NCHW, "NCDHW": NCDHW}
BN_CASES = [
    # id, shape, training, affine, running, kwargs
    ("NC-train", "NC", True, True, True, {}),
    ("NCL-train", "NCL", True, True, True, {"momentum": 0.3}),
    ("NCHW-train", "NCHW", True, True, True, {"eps": 1e-3}),
    ("NCDHW-train", "NCDHW", True, True, True, {}),
    ("NCL-train-nostats", "NCL", True, True, False, {}),
    ("NC-eval", "NC", False, True, True, {}),
    ("NCHW-eval-noaffine", "NCHW", False, False, True, {"eps": 0.1}),
]


def _bn_args(shape, affine, running, dtype=np.float32):
    c = shape[1]
    x = _x(shape, dtype, shift=1.5)
    rm = _vec(c, dtype, seed=2) if running else None
    rv = _vec(c, dtype, seed=3, positive=True) if running else None
    w = _vec(c, dtype, seed=4) if affine else None
    b = _vec(c, dtype, seed=5) if affine else None
    return [x, rm, rv, w, b]


def _bn_stats_torch(x, rm, rv, w=None, b=None, **kw):
    out = TF.batch_norm(x, rm, rv, w, b, **kw)
    return out, rm, rv  # torch has updated the buffers in place


@pytest.mark.parametrize(
    ("shape", "training", "affine", "running", "kwargs", "jit"), cases(BN_CASES)
)
def test_batch_norm(shape, training, affine, running, kwargs, jit):
    """Output and gradients; with running statistics given, also the updated statistics,
    compared with torch's in-place updated buffers (through ``batch_norm_with_stats``)."""
    args = _bn_args(BN_SHAPES[shape], affine, running)
    kw = dict(kwargs, training=training)
    grad = [0, 3, 4] if affine else [0]
    if running:
        check_function(F.batch_norm_with_stats, _bn_stats_torch, args, kw, grad=grad, jit=jit)
        out = F.batch_norm(*[jnp.asarray(a) for a in args[:3]], *args[3:], **kw)
        assert_close(
            out,
            F.batch_norm_with_stats(*[jnp.asarray(a) for a in args[:3]], *args[3:], **kw)[0],
            rtol=0,
            atol=0,
        )
    else:
        check_function(F.batch_norm, TF.batch_norm, args, kw, grad=grad, jit=jit)


def test_batch_norm_with_stats_none_and_no_grad():
    x = jnp.asarray(_x(NC))
    out, m, v = F.batch_norm_with_stats(x, None, None, training=True)
    assert m is None and v is None and out.shape == x.shape
    rm, rv = jnp.zeros(4), jnp.ones(4)
    g = jax.grad(lambda x: jnp.sum(F.batch_norm_with_stats(x, rm, rv, training=True)[1]))(x)
    np.testing.assert_array_equal(np.asarray(g), 0.0)  # buffers carry no gradient


def test_batch_norm_with_stats_traced_momentum():
    """The module passes 1 / num_batches_tracked (an array) when torch's momentum is None."""
    x, rm, rv = jnp.asarray(_x(NC)), jnp.zeros(4), jnp.ones(4)
    step = jax.jit(lambda x, m: F.batch_norm_with_stats(x, rm, rv, training=True, momentum=m))
    got = step(x, 1.0 / jnp.asarray(3.0))
    want = F.batch_norm_with_stats(x, rm, rv, training=True, momentum=1.0 / 3.0)
    assert_close(list(got), list(want), rtol=1e-6, atol=1e-6)


def test_batch_norm_empty_batch():
    rm, rv = _vec(4, seed=2), _vec(4, seed=3, positive=True)
    args = [np.zeros((0, 4), np.float32), rm, rv]
    check_function(F.batch_norm, TF.batch_norm, args, {"training": False}, grad=False, jit=False)
    check_function(F.batch_norm_with_stats, _bn_stats_torch, args, {"training": True}, grad=False)


def test_batch_norm_float64(x64):
    args = _bn_args(NCL, True, True, np.float64)
    check_function(
        F.batch_norm_with_stats, _bn_stats_torch, args, {"training": True}, grad=[0, 3, 4]
    )


def test_batch_norm_bfloat16():
    x = jnp.asarray(_x(NCL)).astype(jnp.bfloat16)
    rm, rv = _vec(4, seed=2), _vec(4, seed=3, positive=True)
    for training in (True, False):
        out = F.batch_norm(x, jnp.asarray(rm), jnp.asarray(rv), training=training)
        ref = TF.batch_norm(to_torch(x), to_torch(rm), to_torch(rv), training=training)
        assert out.dtype == jnp.bfloat16
        assert_close(out, ref, **tolerance(jnp.bfloat16))


def test_batch_norm_vmap():
    x = jnp.asarray(_x((3, *NCL)))
    out = jax.vmap(lambda x: F.batch_norm(x, None, None, training=True))(x)
    ref = [F.batch_norm(x[i], None, None, training=True) for i in range(3)]
    assert_close(out, jnp.stack(ref), rtol=1e-6, atol=1e-6)


BN_ERRORS = [
    (
        "eval-no-mean",
        dict(shape=(2, 3), rm=None, training=False),
        RuntimeError,
        "running_mean must be defined",
    ),
    (
        "eval-no-var",
        dict(shape=(2, 3), rv=None, training=False),
        RuntimeError,
        "running_var must be defined",
    ),
    (
        "one-value",
        dict(shape=(1, 3), training=True),
        ValueError,
        r"Expected more than 1 value per channel when training, got input size \[1, 3\]",
    ),
    (
        "one-value-3d",
        dict(shape=(1, 3, 1), training=True),
        ValueError,
        "more than 1 value per channel",
    ),
    (
        "mean-size",
        dict(shape=(2, 4), training=False),
        RuntimeError,
        "running_mean should contain 4 elements not 3",
    ),
    (
        "weight-size",
        dict(shape=(2, 3), w=np.ones(4, np.float32)),
        RuntimeError,
        "weight should contain 3 elements not 4",
    ),
    (
        "bias-size",
        dict(shape=(2, 3), b=np.ones(2, np.float32)),
        RuntimeError,
        "bias should contain 3 elements not 2",
    ),
    ("rank-1", dict(shape=(3,)), ValueError, "at least 2 dimensions"),
    (
        "eps-train",
        dict(shape=(2, 3), training=True, eps=0.0),
        ValueError,
        "eps must be positive during training",
    ),
    ("eps-eval", dict(shape=(2, 3), eps=-1.0), ValueError, "eps must be non-negative"),
    (
        "momentum-none",
        dict(shape=(2, 3), training=True, momentum=None),
        ValueError,
        "momentum=None",
    ),
]


@pytest.mark.parametrize(("case", "exc", "match"), ids(BN_ERRORS))
def test_batch_norm_errors(case, exc, match):
    case = dict(case)
    x = jnp.zeros(case.pop("shape"))
    rm = case.pop("rm", np.zeros(3, np.float32))
    rv = case.pop("rv", np.ones(3, np.float32))
    w, b = case.pop("w", None), case.pop("b", None)
    with pytest.raises(exc, match=match):
        F.batch_norm_with_stats(
            x,
            rm if rm is None else jnp.asarray(rm),
            rv if rv is None else jnp.asarray(rv),
            w,
            b,
            **case,
        )


# --------------------------------------------------------------------------------------
# instance_norm
# --------------------------------------------------------------------------------------

IN_CASES = [
    # id, shape, running, use_input_stats, affine, kwargs
    ("NCL-affine", NCL, False, True, True, {"eps": 1e-3}),
    ("NCHW-running", NCHW, True, True, True, {"momentum": 0.2}),
    ("NCDHW-running-noaffine", NCDHW, True, True, False, {}),
    ("NCHW-running-stats", NCHW, True, False, True, {}),
]


def _in_stats_torch(x, rm, rv, w=None, b=None, **kw):
    out = TF.instance_norm(x, rm, rv, w, b, **kw)
    return out, rm, rv


@pytest.mark.parametrize(
    ("shape", "running", "use_input_stats", "affine", "kwargs", "jit"), cases(IN_CASES)
)
def test_instance_norm(shape, running, use_input_stats, affine, kwargs, jit):
    args = _bn_args(shape, affine, running)
    kw = dict(kwargs, use_input_stats=use_input_stats)
    grad = [0, 3, 4] if affine else [0]
    if running:
        check_function(F.instance_norm_with_stats, _in_stats_torch, args, kw, grad=grad, jit=jit)
    else:
        check_function(F.instance_norm, TF.instance_norm, args, kw, grad=grad, jit=jit)


def test_instance_norm_float64_and_empty(x64):
    args = _bn_args(NCL, True, True, np.float64)
    check_function(F.instance_norm_with_stats, _in_stats_torch, args, {}, grad=[0, 3, 4], jit=False)
    empty = [np.zeros((0, 4, 3)), *args[1:3]]  # torch computes NaN running statistics
    check_function(F.instance_norm_with_stats, _in_stats_torch, empty, {}, grad=False, jit=False)


IN_ERRORS = [
    (
        "one-spatial",
        dict(shape=(2, 3, 1)),
        ValueError,
        r"Expected more than 1 spatial element when training, got input size \[2, 3, 1\]",
    ),
    ("no-spatial", dict(shape=(2, 3)), ValueError, "more than 1 spatial element"),
    (
        "no-running",
        dict(shape=(2, 3, 4), rm=None, rv=None, use_input_stats=False),
        RuntimeError,
        "running_mean and running_var to be defined",
    ),
    ("half-running", dict(shape=(2, 3, 4), rv=None), ValueError, "both be None or neither"),
    (
        "mean-size",
        dict(shape=(2, 4, 4)),
        RuntimeError,
        "running_mean should contain 4 elements not 3",
    ),
    ("rank-1", dict(shape=(4,)), ValueError, r"\(N, C, \*\)"),
]


@pytest.mark.parametrize(("case", "exc", "match"), ids(IN_ERRORS))
def test_instance_norm_errors(case, exc, match):
    case = dict(case)
    x = jnp.zeros(case.pop("shape"))
    rm = case.pop("rm", np.zeros(3, np.float32))
    rv = case.pop("rv", np.ones(3, np.float32))
    with pytest.raises(exc, match=match):
        F.instance_norm(
            x, rm if rm is None else jnp.asarray(rm), rv if rv is None else jnp.asarray(rv), **case
        )


# --------------------------------------------------------------------------------------
# layer_norm, rms_norm, group_norm
# --------------------------------------------------------------------------------------

LN_CASES = [
    # id, shape, normalized_shape, weight, bias, kwargs
    ("2d", NC, (4,), True, True, {}),
    ("3d-two-dims", NCL, (4, 3), True, True, {"eps": 1e-3}),
    ("4d-bias-only", NCHW, (3,), False, True, {}),
    ("unbatched", (4,), (4,), True, True, {}),
    ("empty-batch", (0, 4), (4,), True, True, {}),
]


@pytest.mark.parametrize(("shape", "ns", "w", "b", "kwargs", "jit"), cases(LN_CASES))
def test_layer_norm(shape, ns, w, b, kwargs, jit):
    x = _x(shape, shift=1.0)
    args = [x, ns, randn(*ns, seed=1) if w else None, randn(*ns, seed=2) if b else None]
    check_function(F.layer_norm, TF.layer_norm, args, kwargs, jit=jit)


def test_layer_norm_int_shape():
    x = jnp.asarray(_x(NC))
    assert_close(F.layer_norm(x, 4), F.layer_norm(x, (4,)), rtol=0, atol=0)


RMS_CASES = [
    ("2d", NC, (4,), True, {}),
    ("3d-two-dims", NCL, (4, 3), True, {"eps": 1e-3}),
    ("no-weight-unbatched", (4,), (4,), False, {"eps": 0.5}),
    ("tiny-values-default-eps", NCL, (3,), True, {"scale": 1e-4}),
]


@pytest.mark.parametrize(("shape", "ns", "w", "kwargs", "jit"), cases(RMS_CASES))
def test_rms_norm(shape, ns, w, kwargs, jit):
    kwargs = dict(kwargs)
    x = _x(shape) * kwargs.pop("scale", 1.0)
    args = [x.astype(np.float32), ns, randn(*ns, seed=1) if w else None]
    check_function(F.rms_norm, TF.rms_norm, args, kwargs, jit=jit)


def test_layer_and_rms_norm_float64(x64):
    x = _x(NC, np.float64)
    w, b = randn(4, dtype=np.float64, seed=1), randn(4, dtype=np.float64, seed=2)
    check_function(F.layer_norm, TF.layer_norm, [x, (4,), w, b], jit=False)
    check_function(
        F.rms_norm, TF.rms_norm, [x * 1e-9, (4,), w], jit=False
    )  # default eps is float64's


@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm", "group_norm"])
def test_bfloat16(fn):
    x = jnp.asarray(_x(NCL, shift=1.0)).astype(jnp.bfloat16)
    w = jnp.asarray(randn(3, seed=1)).astype(jnp.bfloat16)
    small = jnp.asarray(np.full(NCL, 0.01, np.float32)).astype(jnp.bfloat16)
    if fn == "group_norm":
        calls = [(x, 2)]
    elif fn == "layer_norm":
        calls = [(x, (3,), w)]
    else:  # default eps: float32's machine epsilon, as torch's upcast computation uses
        calls = [(x, (3,), w), (small, (3,))]
    for args in calls:
        out = getattr(F, fn)(*args)
        ref = getattr(TF, fn)(*[to_torch(a) for a in args])
        assert out.dtype == jnp.bfloat16
        assert_close(out, ref, **tolerance(jnp.bfloat16))


GN_CASES = [
    # id, shape, groups, affine, kwargs
    ("NCL", NCL, 2, True, {}),
    ("NC", NC, 2, True, {"eps": 1e-3}),
    ("NCHW-one-group", NCHW, 1, True, {}),
    ("NCHW-groups=C", NCHW, 4, False, {}),
    ("empty-batch", (0, 4, 3), 2, True, {}),
]


@pytest.mark.parametrize(("shape", "groups", "affine", "kwargs", "jit"), cases(GN_CASES))
def test_group_norm(shape, groups, affine, kwargs, jit):
    c = shape[1]
    args = [
        _x(shape, shift=1.0),
        groups,
        randn(c, seed=1) if affine else None,
        randn(c, seed=2) if affine else None,
    ]
    check_function(F.group_norm, TF.group_norm, args, kwargs, jit=jit)


def test_group_norm_float64(x64):
    x = _x(NCL, np.float64)
    check_function(
        F.group_norm,
        TF.group_norm,
        [x, 2, randn(4, dtype=np.float64), randn(4, dtype=np.float64, seed=2)],
        jit=False,
    )


SHAPE_ERRORS = [
    (
        "ln-shape",
        lambda: F.layer_norm(jnp.zeros((2, 3)), (4,)),
        RuntimeError,
        r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], but got input of size\[2, 3\]",
    ),
    (
        "ln-too-long",
        lambda: F.layer_norm(jnp.zeros((2, 3)), (2, 3, 4)),
        RuntimeError,
        "expected input with shape",
    ),
    (
        "ln-empty",
        lambda: F.layer_norm(jnp.zeros((2, 3)), ()),
        RuntimeError,
        "at least 1-dimensional",
    ),
    (
        "ln-weight",
        lambda: F.layer_norm(jnp.zeros((2, 3)), (3,), jnp.ones(4)),
        RuntimeError,
        r"Expected weight to be of same shape as normalized_shape, but got weight of shape \[4\]",
    ),
    (
        "ln-bias",
        lambda: F.layer_norm(jnp.zeros((2, 3)), (3,), None, jnp.ones(4)),
        RuntimeError,
        "Expected bias to be of same shape",
    ),
    (
        "rms-shape",
        lambda: F.rms_norm(jnp.zeros((2, 3)), (4,)),
        RuntimeError,
        "Given normalized_shape=\\[4\\]",
    ),
    (
        "rms-weight",
        lambda: F.rms_norm(jnp.zeros((2, 3)), (3,), jnp.ones(4)),
        RuntimeError,
        "Expected weight to be of same shape",
    ),
    (
        "gn-divisible",
        lambda: F.group_norm(jnp.zeros((2, 6, 4)), 4),
        RuntimeError,
        r"divisible by num_groups, but got input of shape \[2, 6, 4\] and num_groups=4",
    ),
    (
        "gn-rank",
        lambda: F.group_norm(jnp.zeros(6), 3),
        RuntimeError,
        "Expected at least 2 dimensions for input tensor but received 1",
    ),
    (
        "gn-one-value",
        lambda: F.group_norm(jnp.zeros((1, 6)), 6),
        ValueError,
        r"more than 1 value per channel when training, got input size \[1, 6\]",
    ),
    (
        "gn-weight",
        lambda: F.group_norm(jnp.zeros((2, 6, 4)), 3, jnp.ones(4)),
        RuntimeError,
        "Expected weight to be a vector of size equal to the number of channels",
    ),
    (
        "gn-bias",
        lambda: F.group_norm(jnp.zeros((2, 6, 4)), 3, None, jnp.ones(2)),
        RuntimeError,
        "Expected bias to be a vector",
    ),
    (
        "gn-groups",
        lambda: F.group_norm(jnp.zeros((2, 6, 4)), 0),
        ValueError,
        "num_groups must be a positive int",
    ),
    (
        "lrn-rank",
        lambda: F.local_response_norm(jnp.zeros((2, 6)), 2),
        ValueError,
        r"Expected 3D or higher dimensionality input \(got 2 dimensions\)",
    ),
    (
        "lrn-size",
        lambda: F.local_response_norm(jnp.zeros((2, 6, 3)), 0),
        ValueError,
        "size must be a positive int",
    ),
    (
        "normalize-out",
        lambda: F.normalize(jnp.zeros((2, 3)), out=jnp.zeros((2, 3))),
        ValueError,
        "out=.*not supported",
    ),
    (
        "normalize-dim",
        lambda: F.normalize(jnp.zeros((2, 3)), dim=2),
        IndexError,
        r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
    ),
]


@pytest.mark.parametrize(("call", "exc", "match"), ids(SHAPE_ERRORS))
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------------------
# local_response_norm, normalize
# --------------------------------------------------------------------------------------

LRN_CASES = [
    # id, shape, size, kwargs
    ("3d-odd", NCL, 3, {}),
    ("3d-even", NCL, 2, {"alpha": 0.5, "beta": 0.5, "k": 2.0}),
    ("4d", NCHW, 4, {"alpha": 1e-2}),
    ("5d", NCDHW, 3, {"alpha": 0.3, "beta": 1.2}),
    ("size-1", NCL, 1, {"alpha": 0.1}),
    ("size>C", NCL, 7, {"alpha": 1.0}),
    ("empty", (0, 4, 3), 3, {}),
]


@pytest.mark.parametrize(("shape", "size", "kwargs", "jit"), cases(LRN_CASES))
def test_local_response_norm(shape, size, kwargs, jit):
    check_function(
        F.local_response_norm, TF.local_response_norm, [_x(shape), size], kwargs, jit=jit
    )


def test_local_response_norm_float64(x64):
    check_function(
        F.local_response_norm,
        TF.local_response_norm,
        [_x(NCL, np.float64), 3],
        {"alpha": 0.1},
        jit=False,
    )


NORMALIZE_CASES = [
    # id, shape, kwargs
    ("default", NC, {}),
    ("p1-dim0", NC, {"p": 1.0, "dim": 0}),
    ("p3-dim-1", NCL, {"p": 3.0, "dim": -1}),
    ("p0.5", NC, {"p": 0.5}),
    ("p-neg-inf", NC, {"p": -math.inf}),
    ("p-negative", NC, {"p": -2.0}),
    ("dim-tuple", NCL, {"dim": (1, 2)}),
    ("eps-large", NC, {"eps": 3.0}),
    ("1d", (4,), {"dim": 0}),
    ("0d", (), {"dim": 0}),
]


@pytest.mark.parametrize(("shape", "kwargs", "jit"), cases(NORMALIZE_CASES))
def test_normalize(shape, kwargs, jit):
    check_function(F.normalize, TF.normalize, [_x(shape)], kwargs, jit=jit)


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5, math.inf, 0.0])
def test_normalize_zero_vector_gradient(p):
    """A zero row (and zero entries) take torch's zero gradient, not NaN."""
    x = _x(NC)
    x[1] = 0.0
    x[2, 1] = 0.0
    check_function(F.normalize, TF.normalize, [x], {"p": p}, jit=p == 2.0)


def test_normalize_float64(x64):
    check_function(F.normalize, TF.normalize, [_x(NC, np.float64)], {"p": 1.5}, jit=False)
