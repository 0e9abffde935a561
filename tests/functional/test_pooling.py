"""Parity of jaxnn.functional's pooling (max, avg, lp, adaptive, unpool) with torch."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn


def ints(*shape, seed=0):
    """Small integer values as floats: many ties inside every window."""
    return np.random.default_rng(seed).integers(-3, 4, shape).astype(np.float32)


def dims(name):
    return {n: (getattr(F, f"{name}{n}d"), getattr(TF, f"{name}{n}d")) for n in (1, 2, 3)}


MAX = dims("max_pool")
AVG = dims("avg_pool")
LP = dims("lp_pool")
UNPOOL = dims("max_unpool")
ADAPTIVE_AVG = dims("adaptive_avg_pool")
ADAPTIVE_MAX = dims("adaptive_max_pool")

# id, n, input shape, kwargs. Inputs are integer-valued: ties everywhere.
# fmt: off
MAX_CASES = [
    ("1d-ceil-dilation", 1, (2, 2, 10), dict(kernel_size=3, stride=2, dilation=2, ceil_mode=True, return_indices=True)),
    ("2d-k3-s2-p1-ceil", 2, (2, 2, 7, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True)),
    ("2d-tuples-dilation", 2, (1, 2, 9, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 3))),
    ("2d-ceil-drops-last-window", 2, (1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True, return_indices=True)),
    ("2d-unbatched-overlap", 2, (3, 5, 6), dict(kernel_size=2, stride=1, return_indices=True)),
    ("3d-ceil-indices", 3, (1, 2, 5, 4, 6), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True, return_indices=True)),
]
# fmt: on


@pytest.mark.parametrize(
    "n,shape,kwargs", [c[1:] for c in MAX_CASES], ids=[c[0] for c in MAX_CASES]
)
def test_max_pool(n, shape, kwargs):
    check_function(*MAX[n], [ints(*shape)], kwargs)


# float64 cases run eagerly only (jit=False): the kernels are jitted internally and the
# float32 cases already cover the outer-jit path; this keeps the files within the time budget.
def test_max_pool_float64(x64):
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True)
    out = check_function(*MAX[2], [randn(2, 2, 7, 8, dtype=np.float64)], kwargs, jit=False)
    assert out[1].dtype == jnp.int64  # torch's index dtype where JAX has it


def test_max_pool_bfloat16():
    x = jnp.asarray(randn(2, 3, 6, 7), jnp.bfloat16)
    check_function(*MAX[2], [x], dict(kernel_size=3, stride=2, padding=1), grad=False)


def test_max_pool_with_indices_always_returns_pair():
    check_function(
        F.max_pool2d_with_indices,
        TF.max_pool2d_with_indices,
        [ints(1, 2, 4, 5)],
        dict(kernel_size=2, stride=1),
    )
    assert isinstance(F.max_pool1d(jnp.ones((1, 2, 4)), 2), jax.Array)
    for n in (1, 2, 3):
        out = getattr(F, f"max_pool{n}d_with_indices")(jnp.ones((1,) + (4,) * n), 2)
        assert isinstance(out, tuple) and len(out) == 2


def test_max_pool_gradient_goes_to_first_max():
    # Windows [2, 2, 2] and [2, 2, 1]: torch credits positions 0 and 1, the first maxima.
    g = jax.grad(lambda x: F.max_pool1d(x, 3, stride=1).sum())(jnp.array([[2.0, 2.0, 2.0, 1.0]]))
    np.testing.assert_array_equal(np.asarray(g), [[1.0, 1.0, 0.0, 0.0]])


def test_max_pool_nan_index_like_torch():
    nan = float("nan")
    x = np.array([[[1.0, nan, 3.0, nan, 2.0, 0.0]]], np.float32)
    check_function(*MAX[1], [x], dict(kernel_size=3, stride=1, return_indices=True), grad=False)


def test_max_pool_vmap_grad():
    x = jnp.asarray(ints(3, 2, 2, 5, 6))

    def f(v):
        y, i = F.max_pool2d(v, 2, return_indices=True)
        return y.sum(), i

    (g, idx) = jax.vmap(jax.grad(f, has_aux=True))(x)
    t = torch.from_numpy(np.array(x).reshape(6, 2, 5, 6)).requires_grad_()
    ty, ti = TF.max_pool2d(t, 2, return_indices=True)
    ty.sum().backward()
    np.testing.assert_array_equal(np.asarray(g).reshape(6, 2, 5, 6), t.grad.numpy())
    np.testing.assert_array_equal(np.asarray(idx).reshape(ti.shape), ti.numpy())


# id, n, input shape, kwargs
# fmt: off
AVG_CASES = [
    ("1d-ceil-overhang", 1, (2, 2, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("1d-ceil-exclude-pad", 1, (2, 2, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("2d-pad-ceil-include", 2, (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("2d-divisor-override", 2, (2, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True, divisor_override=5)),
    ("2d-ceil-drops-last-window", 2, (1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("2d-empty-batch", 2, (0, 3, 4, 4), dict(kernel_size=2)),
    ("3d-ceil", 3, (1, 2, 5, 4, 6), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True)),
    ("3d-unbatched-exclude-override", 3, (2, 4, 5, 4), dict(kernel_size=2, padding=1, count_include_pad=False, divisor_override=3)),
]
# fmt: on


@pytest.mark.parametrize(
    "n,shape,kwargs", [c[1:] for c in AVG_CASES], ids=[c[0] for c in AVG_CASES]
)
def test_avg_pool(n, shape, kwargs):
    check_function(*AVG[n], [randn(*shape)], kwargs)


def test_avg_pool_float64(x64):
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    check_function(*AVG[2], [randn(2, 2, 7, 6, dtype=np.float64)], kwargs, jit=False)


def test_avg_pool_bfloat16():
    x = jnp.asarray(randn(2, 3, 6, 7), jnp.bfloat16)
    check_function(
        *AVG[2], [x], dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), grad=False
    )


# id, n, input shape, positive input?, kwargs
# fmt: off
LP_CASES = [
    ("2d-p3-ceil", 2, (2, 2, 7, 7), True, dict(norm_type=3, kernel_size=3, stride=2, ceil_mode=True)),
    ("2d-p2.5", 2, (1, 2, 6, 6), True, dict(norm_type=2.5, kernel_size=2, stride=1)),
    ("2d-inf", 2, (2, 2, 6, 6), False, dict(norm_type=math.inf, kernel_size=2)),
    ("3d-p2", 3, (1, 2, 4, 4, 5), False, dict(norm_type=2, kernel_size=2, ceil_mode=True)),
]
# fmt: on


@pytest.mark.parametrize(
    "n,shape,positive,kwargs", [c[1:] for c in LP_CASES], ids=[c[0] for c in LP_CASES]
)
def test_lp_pool(n, shape, positive, kwargs):
    x = randn(*shape)
    x = np.abs(x) + 0.1 if positive else x
    kwargs = dict(kwargs)
    check_function(*LP[n], [x, kwargs.pop("norm_type")], kwargs)


def test_lp_pool_zero_window_has_zero_gradient():
    x = randn(1, 1, 4, 4)
    x[..., :2, :2] = 0.0
    # torch's gradient there is 0 (not nan); the harness compares gradients with torch's.
    check_function(*LP[2], [x, 2, 2])


# id, n, input shape, output_size, with indices?
# fmt: off
ADAPTIVE_CASES = [
    ("1d-up-4to7", 1, (2, 3, 4), 7),
    ("2d-7x9to3x4", 2, (2, 3, 7, 9), (3, 4)),
    ("2d-keep-rows", 2, (2, 2, 5, 7), (None, 3)),
    ("2d-unbatched", 2, (3, 5, 6), 2),
    ("2d-zero-output", 2, (2, 2, 5, 5), 0),
    ("3d-mixed", 3, (1, 2, 5, 7, 6), (2, 3, 4)),
]
# fmt: on


# torch's backward rejects a zero-size output, so that case is compared forward only.
@pytest.mark.parametrize(
    "n,shape,size", [c[1:] for c in ADAPTIVE_CASES], ids=[c[0] for c in ADAPTIVE_CASES]
)
def test_adaptive_avg_pool(n, shape, size):
    check_function(*ADAPTIVE_AVG[n], [randn(*shape), size], grad=size != 0)


@pytest.mark.parametrize(
    "n,shape,size", [c[1:] for c in ADAPTIVE_CASES], ids=[c[0] for c in ADAPTIVE_CASES]
)
def test_adaptive_max_pool(n, shape, size):
    check_function(
        *ADAPTIVE_MAX[n], [ints(*shape), size], dict(return_indices=True), grad=size != 0
    )


def test_adaptive_max_pool_float64(x64):
    x = randn(2, 3, 7, 9, dtype=np.float64)
    out = check_function(*ADAPTIVE_MAX[2], [x, (3, 5)], dict(return_indices=True), jit=False)
    assert out[1].dtype == jnp.int64


def test_adaptive_pool_bfloat16():
    x = jnp.asarray(randn(2, 3, 7, 9), jnp.bfloat16)
    check_function(*ADAPTIVE_AVG[2], [x, (3, 4)], grad=False)
    check_function(*ADAPTIVE_MAX[2], [x, (3, 4)], grad=False)


def test_adaptive_max_return_types():
    x = jnp.ones((1, 2, 5))
    assert isinstance(F.adaptive_max_pool1d(x, 2), jax.Array)
    assert len(F.adaptive_max_pool1d_with_indices(x, 2)) == 2


# id, n, pooled input shape, pool kwargs (kernel_size, stride, padding), output_size
# fmt: off
UNPOOL_CASES = [
    ("1d-unbatched-output-size", 1, (3, 9), dict(kernel_size=3, stride=2), (9,)),
    ("2d-overlap-duplicates", 2, (2, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1), None),
    ("2d-output-size-nc", 2, (2, 2, 7, 8), dict(kernel_size=2), (2, 2, 7, 8)),
    ("3d", 3, (1, 2, 4, 5, 4), dict(kernel_size=2), (4, 5, 4)),
]
# fmt: on


@pytest.mark.parametrize(
    "n,shape,pool,size", [c[1:] for c in UNPOOL_CASES], ids=[c[0] for c in UNPOOL_CASES]
)
def test_max_unpool(n, shape, pool, size):
    y, idx = MAX[n][1](torch.from_numpy(ints(*shape)), return_indices=True, **pool)
    check_function(
        UNPOOL[n][0],
        _long_indices(UNPOOL[n][1]),
        [y.numpy(), idx.numpy()],
        dict(pool, output_size=size),
    )


def _long_indices(tfn):
    # The harness hands torch JAX's int32 indices (x64 off); torch insists on int64.
    return lambda y, idx, *args, **kwargs: tfn(y, idx.long(), *args, **kwargs)


def _z(*shape, dtype=jnp.float32):
    return jnp.zeros(shape, dtype)


_I = _z(2, 3, 7, 7, dtype=jnp.int32)

# id, function, args, kwargs, exception, match
# fmt: off
ERRORS = [
    ("max2d-rank", F.max_pool2d, (_z(7, 7), 2), {}, RuntimeError, r"Expected 3D or 4D \(batch mode\) tensor with optional 0 dim batch size for input, but got: \[7, 7\]"),
    ("max1d-rank", F.max_pool1d, (_z(7), 2), {}, RuntimeError, r"max_pool1d: Expected 2D or 3D \(batch mode\)"),
    ("max2d-empty-channels", F.max_pool2d, (_z(2, 0, 4, 4), 2), {}, RuntimeError, r"Expected 3D or 4D"),
    ("max2d-pad", F.max_pool2d, (_z(1, 3, 7, 7), 3), dict(padding=2), RuntimeError, r"pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"),
    ("max2d-pad-dilated", F.max_pool2d, (_z(1, 3, 7, 7), 3), dict(padding=2, dilation=3), RuntimeError, r"pad should be smaller than or equal to half of kernel size"),
    ("max2d-negative-pad", F.max_pool2d, (_z(1, 3, 7, 7), 2), dict(padding=-1), RuntimeError, r"pad must be non-negative"),
    ("max2d-zero-kernel", F.max_pool2d, (_z(1, 3, 7, 7), 0), {}, RuntimeError, r"kernel size should be greater than zero"),
    ("max2d-zero-stride", F.max_pool2d, (_z(1, 3, 7, 7), 2), dict(stride=0), RuntimeError, r"stride should be greater than zero"),
    ("max2d-zero-dilation", F.max_pool2d, (_z(1, 3, 7, 7), 2), dict(dilation=0), RuntimeError, r"dilation should be greater than zero"),
    ("max2d-too-small", F.max_pool2d, (_z(2, 3, 2, 2), 3), {}, RuntimeError, r"Given input size: \(3x2x2\)\. Calculated output size: \(3x0x0\)\. Output size is too small"),
    ("max2d-kernel-length", F.max_pool2d, (_z(1, 3, 7, 7), (2, 2, 2)), {}, ValueError, r"kernel_size must be an int or a sequence of 2 ints"),
    ("avg2d-pad", F.avg_pool2d, (_z(1, 3, 7, 7), 3), dict(padding=2), RuntimeError, r"pad should be at most half of effective kernel size"),
    ("avg3d-rank", F.avg_pool3d, (_z(7, 7, 7), 2), {}, RuntimeError, r"Expected 4D or 5D \(batch mode\)"),
    ("avg2d-divisor-zero", F.avg_pool2d, (_z(1, 3, 7, 7), 2), dict(divisor_override=0), RuntimeError, r"divisor must be not zero"),
    ("lp2d-zero-norm", F.lp_pool2d, (_z(1, 3, 6, 6), 0, 2), {}, ZeroDivisionError, r"norm_type must be non-zero"),
    ("aavg2d-rank", F.adaptive_avg_pool2d, (_z(7, 7), 2), {}, RuntimeError, r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[7, 7\]"),
    ("aavg1d-rank", F.adaptive_avg_pool1d, (_z(7), 2), {}, RuntimeError, r"Expected 2 to 3 dimensions, but got 1-dimensional tensor"),
    ("aavg2d-empty-dim", F.adaptive_avg_pool2d, (_z(2, 3, 0, 4), 2), {}, RuntimeError, r"Expected input to have non-zero size for non-batch dimensions, but input has sizes \[2, 3, 0, 4\] with dimension 2 being empty"),
    ("amax2d-empty-dim", F.adaptive_max_pool2d, (_z(2, 3, 0, 4), 2), {}, RuntimeError, r"adaptive_max_pool2d\(\): Expected input to have non-zero size"),
    ("aavg2d-size-length", F.adaptive_avg_pool2d, (_z(1, 3, 7, 7), (2, 2, 2)), {}, RuntimeError, r"output_size must be 2"),
    ("aavg2d-negative-size", F.adaptive_avg_pool2d, (_z(1, 3, 7, 7), -1), {}, RuntimeError, r"elements of output_size must be greater than or equal to 0"),
    ("amax1d-none", F.adaptive_max_pool1d, (_z(1, 3, 7), None), {}, TypeError, r"'output_size' must be an int or tuple of ints, not None"),
    ("unpool2d-output-size", F.max_unpool2d, (_z(2, 3, 7, 7), _I, 2), dict(output_size=(20, 20)), ValueError, r'invalid output_size "\(20, 20\)" \(dim 0 must be between 12 and 16\)'),
    ("unpool2d-output-size-length", F.max_unpool2d, (_z(2, 3, 7, 7), _I, 2), dict(output_size=(20,)), ValueError, r"output_size should be a sequence containing 2 or 4 elements, but it has a length of '1'"),
    ("unpool2d-index-shape", F.max_unpool2d, (_z(2, 3, 7, 7), _I[..., :6], 2), {}, RuntimeError, r"Expected shape of indices to be same as that of the input tensor \(\[2, 3, 7, 7\]\)"),
    ("unpool2d-index-dtype", F.max_unpool2d, (_z(2, 3, 7, 7), _z(2, 3, 7, 7), 2), {}, RuntimeError, r"elements in indices should be type int64 but got: float32"),
    ("unpool3d-rank", F.max_unpool3d, (_z(3, 7, 7), _I[0], 2), {}, RuntimeError, r"Input to max_unpool3d should be a 4d or 5d Tensor, but got a tensor with 3 dimensions"),
]
# fmt: on


@pytest.mark.parametrize(
    "fn,args,kwargs,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
