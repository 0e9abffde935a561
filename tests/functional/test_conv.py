"""Parity of jaxnn.functional's convolutions and unfold/fold with torch.nn.functional."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn

# torch's own performance note for even-kernel 'same' padding, raised from C++.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

CONV = {1: (F.conv1d, TF.conv1d), 2: (F.conv2d, TF.conv2d), 3: (F.conv3d, TF.conv3d)}
CONV_T = {
    1: (F.conv_transpose1d, TF.conv_transpose1d),
    2: (F.conv_transpose2d, TF.conv_transpose2d),
    3: (F.conv_transpose3d, TF.conv_transpose3d),
}

# id, n, input shape, weight shape, bias?, kwargs
# fmt: off
CONV_CASES = [
    ("1d-dilation-groups-valid", 1, (2, 4, 11), (6, 2, 3), True, dict(dilation=2, groups=2, padding="valid")),
    ("1d-same-even-kernel", 1, (2, 3, 8), (2, 3, 4), True, dict(padding="same")),
    ("2d-tuples", 2, (2, 3, 9, 8), (4, 3, 3, 2), True, dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ("2d-depthwise", 2, (2, 4, 7, 7), (8, 1, 3, 3), True, dict(groups=4, padding=1)),
    ("2d-same-dilated-groups", 2, (2, 4, 7, 6), (4, 2, 2, 3), True, dict(padding="same", dilation=(3, 2), groups=2)),
    ("2d-unbatched-same", 2, (3, 5, 6), (4, 3, 2, 2), False, dict(padding="same")),
    ("2d-empty-batch", 2, (0, 3, 5, 5), (2, 3, 3, 3), True, {}),
    ("3d-stride-pad-dil", 3, (1, 2, 7, 6, 5), (3, 2, 2, 3, 2), True, dict(stride=(2, 1, 2), padding=(1, 0, 2), dilation=(1, 2, 1))),
    ("3d-groups-same", 3, (1, 4, 4, 5, 4), (2, 2, 2, 3, 2), True, dict(groups=2, padding="same")),
]
# fmt: on


def _conv_args(x_shape, w_shape, bias, dtype):
    x = randn(*x_shape, dtype=dtype, seed=1)
    w = randn(*w_shape, dtype=dtype, seed=2)
    return [x, w] + ([randn(w_shape[0], dtype=dtype, seed=3)] if bias else [])


@pytest.mark.parametrize(
    "n,x_shape,w_shape,bias,kwargs", [c[1:] for c in CONV_CASES], ids=[c[0] for c in CONV_CASES]
)
def test_conv(n, x_shape, w_shape, bias, kwargs):
    check_function(*CONV[n], _conv_args(x_shape, w_shape, bias, np.float32), kwargs)


# float64 cases run eagerly only (jit=False): the kernels are jitted internally and the
# float32 cases already cover the outer-jit path; this keeps the files within the time budget.
F64_CONV = ["2d-same-dilated-groups"]


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c[0] in F64_CONV], ids=F64_CONV)
def test_conv_float64(case, x64):
    _, n, x_shape, w_shape, bias, kwargs = case
    check_function(*CONV[n], _conv_args(x_shape, w_shape, bias, np.float64), kwargs, jit=False)


def test_conv_bfloat16():
    x, w, b = (
        jnp.asarray(a, jnp.bfloat16)
        for a in _conv_args((2, 3, 6, 6), (4, 3, 3, 3), True, np.float32)
    )
    check_function(F.conv2d, TF.conv2d, [x, w, b], dict(padding=1), grad=False)


# id, n, input shape, weight shape (in, out/groups, *k), bias?, kwargs
# fmt: off
CONV_T_CASES = [
    ("1d-stride-outpad-crop", 1, (2, 3, 5), (3, 2, 4), True, dict(stride=3, padding=4, output_padding=2)),
    ("1d-groups-dilation", 1, (2, 4, 6), (4, 3, 3), False, dict(groups=2, dilation=2, padding=2, output_padding=1)),
    ("2d-stride-pad-outpad", 2, (2, 3, 4, 5), (3, 2, 3, 2), True, dict(stride=2, padding=1, output_padding=1)),
    ("2d-tuples-groups", 2, (1, 4, 5, 4), (4, 3, 3, 2), True, dict(stride=(3, 2), padding=(2, 1), output_padding=(2, 0), groups=2, dilation=(1, 2))),
    ("2d-outpad-from-dilation", 2, (1, 2, 4, 4), (2, 3, 3, 3), True, dict(dilation=2, output_padding=1)),
    ("2d-unbatched", 2, (3, 4, 4), (3, 2, 2, 3), True, dict(stride=(2, 1), padding=(0, 1))),
    ("3d-stride-outpad-groups", 3, (2, 4, 3, 3, 2), (4, 1, 3, 2, 2), True, dict(stride=2, padding=1, output_padding=(1, 0, 1), groups=2)),
]
# fmt: on


def _conv_t_args(x_shape, w_shape, bias, groups, dtype):
    x = randn(*x_shape, dtype=dtype, seed=1)
    w = randn(*w_shape, dtype=dtype, seed=2)
    return [x, w] + ([randn(w_shape[1] * groups, dtype=dtype, seed=3)] if bias else [])


@pytest.mark.parametrize(
    "n,x_shape,w_shape,bias,kwargs", [c[1:] for c in CONV_T_CASES], ids=[c[0] for c in CONV_T_CASES]
)
def test_conv_transpose(n, x_shape, w_shape, bias, kwargs):
    args = _conv_t_args(x_shape, w_shape, bias, kwargs.get("groups", 1), np.float32)
    check_function(*CONV_T[n], args, kwargs)


F64_CONV_T = ["2d-tuples-groups"]


@pytest.mark.parametrize("case", [c for c in CONV_T_CASES if c[0] in F64_CONV_T], ids=F64_CONV_T)
def test_conv_transpose_float64(case, x64):
    _, n, x_shape, w_shape, bias, kwargs = case
    args = _conv_t_args(x_shape, w_shape, bias, kwargs.get("groups", 1), np.float64)
    check_function(*CONV_T[n], args, kwargs, jit=False)


def test_conv_transpose_is_conv_gradient():
    """conv_transpose2d is the input-gradient of conv2d with the same weight."""
    x, w = jnp.asarray(randn(1, 2, 7, 6)), jnp.asarray(randn(3, 2, 3, 2, seed=1))
    kw = dict(stride=2, padding=1, dilation=(1, 2), groups=1)
    y, vjp = jax.vjp(lambda v: F.conv2d(v, w, **kw), x)
    ct = jnp.asarray(randn(*y.shape, seed=2))
    ref = F.conv_transpose2d(ct, w, output_padding=(0, 1), **kw)
    np.testing.assert_allclose(np.asarray(vjp(ct)[0]), np.asarray(ref), rtol=1e-5, atol=1e-5)


# id, input shape, kwargs (kernel_size required)
# fmt: off
UNFOLD_CASES = [
    ("tuples", (2, 2, 7, 8), dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(2, 3))),
    ("unbatched", (3, 5, 5), dict(kernel_size=(3, 2), stride=(1, 2))),
]
# fmt: on


@pytest.mark.parametrize(
    "shape,kwargs", [c[1:] for c in UNFOLD_CASES], ids=[c[0] for c in UNFOLD_CASES]
)
def test_unfold(shape, kwargs):
    check_function(F.unfold, TF.unfold, [randn(*shape)], kwargs)


@pytest.mark.parametrize(
    "shape,kwargs", [c[1:] for c in UNFOLD_CASES], ids=[c[0] for c in UNFOLD_CASES]
)
def test_fold(shape, kwargs):
    # fold's input is unfold's output; output_size is unfold's input size.
    cols = TF.unfold(torch.from_numpy(randn(*shape)), **kwargs).numpy()
    check_function(F.fold, TF.fold, [cols, shape[-2:]], kwargs)


def test_unfold_fold_float64(x64):
    kwargs = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(2, 3))
    check_function(F.unfold, TF.unfold, [randn(2, 2, 7, 8, dtype=np.float64)], kwargs, jit=False)
    cols = TF.unfold(torch.from_numpy(randn(2, 2, 7, 8, dtype=np.float64)), **kwargs).numpy()
    check_function(F.fold, TF.fold, [cols, (7, 8)], kwargs, jit=False)


def _conv_precisions(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args)
    found = []

    def walk(jp):
        for e in jp.eqns:
            if e.primitive.name in ("conv_general_dilated", "dot_general"):
                found.append(e.params["precision"])
            for sub in jax.extend.core.jaxprs_in_params(e.params):
                walk(sub)

    walk(jaxpr.jaxpr)
    return found


@pytest.mark.parametrize("setting", ["default", "float32"])
def test_conv_follows_default_matmul_precision(setting):
    """No hard-coded precision: a conv gets whatever a plain jnp.dot gets."""
    x, w = jnp.ones((1, 2, 5, 5)), jnp.ones((3, 2, 3, 3))
    with jax.default_matmul_precision(setting):
        (expected,) = _conv_precisions(jnp.dot, jnp.ones((2, 2)), jnp.ones((2, 2)))
        for fn, weight in ((F.conv2d, w), (F.conv_transpose2d, jnp.ones((2, 3, 3, 3)))):
            assert _conv_precisions(fn, x, weight) == [expected]


def test_conv_vmap():
    x, w = jnp.asarray(randn(3, 2, 3, 6, 6)), jnp.asarray(randn(4, 3, 3, 3, seed=1))
    out = jax.vmap(lambda v: F.conv2d(v, w, padding=1))(x)
    ref = TF.conv2d(
        torch.from_numpy(np.array(x).reshape(6, 3, 6, 6)), torch.from_numpy(np.array(w)), padding=1
    )
    np.testing.assert_allclose(
        np.asarray(out).reshape(6, 4, 6, 6), ref.numpy(), rtol=1e-5, atol=1e-5
    )


def _z(*shape):
    return jnp.zeros(shape)


# id, function, args, kwargs, exception, match
# fmt: off
ERRORS = [
    ("conv2d-rank", F.conv2d, (_z(2, 3), _z(2, 3, 3, 3)), {}, RuntimeError, r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[2, 3\]"),
    ("conv1d-rank", F.conv1d, (_z(2), _z(2, 2, 3)), {}, RuntimeError, r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d"),
    ("conv3d-rank", F.conv3d, (_z(2, 2, 2), _z(2, 2, 3, 3, 3)), {}, RuntimeError, r"Expected 4D \(unbatched\) or 5D \(batched\) input to conv3d"),
    ("conv2d-channels", F.conv2d, (_z(2, 3, 28, 28), _z(20, 1, 5, 5)), {}, RuntimeError, r"Given groups=1, weight of size \[20, 1, 5, 5\], expected input\[2, 3, 28, 28\] to have 1 channels, but got 3 channels instead"),
    ("conv2d-groups-in", F.conv2d, (_z(2, 3, 8, 8), _z(4, 1, 3, 3)), dict(groups=2), RuntimeError, r"Given groups=2, weight of size \[4, 1, 3, 3\], expected input\[2, 3, 8, 8\] to have 2 channels, but got 3 channels"),
    ("conv2d-groups-out", F.conv2d, (_z(2, 4, 8, 8), _z(3, 2, 3, 3)), dict(groups=2), RuntimeError, r"expected weight to be divisible by 2 at dimension 0"),
    ("conv2d-weight-rank", F.conv2d, (_z(2, 3, 8, 8), _z(2, 3, 3)), {}, RuntimeError, r"weight must be 4-D"),
    ("conv2d-kernel-too-big", F.conv2d, (_z(2, 3, 4, 4), _z(2, 3, 5, 5)), {}, RuntimeError, r"Calculated padded input size per channel: \(4 x 4\)\. Kernel size: \(5 x 5\)\. Kernel size can't be greater than actual input size"),
    ("conv2d-dilated-too-big", F.conv2d, (_z(2, 3, 4, 6), _z(2, 3, 2, 2)), dict(dilation=4), RuntimeError, r"Kernel size: \(5 x 5\)"),
    ("conv2d-same-strided", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(padding="same", stride=2), RuntimeError, r"padding='same' is not supported for strided convolutions"),
    ("conv2d-bad-padding-string", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(padding="full"), RuntimeError, r"Invalid padding string: 'full'"),
    ("conv2d-negative-padding", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(padding=-1), RuntimeError, r"negative padding is not supported"),
    ("conv2d-zero-stride", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(stride=0), RuntimeError, r"non-positive stride is not supported"),
    ("conv2d-zero-dilation", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(dilation=0), RuntimeError, r"non-positive dilation is not supported"),
    ("conv2d-zero-groups", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(groups=0), RuntimeError, r"non-positive groups is not supported"),
    ("conv2d-stride-length", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3)), dict(stride=(1, 1, 1)), ValueError, r"stride must be an int or a sequence of 2 ints"),
    ("conv2d-bias-size", F.conv2d, (_z(1, 3, 8, 8), _z(2, 3, 3, 3), _z(3)), {}, RuntimeError, r"expected bias to be 1-dimensional with 2 elements, but got bias of size \[3\]"),
    ("conv2d-dtype", F.conv2d, (_z(1, 3, 8, 8), jnp.zeros((2, 3, 3, 3), jnp.bfloat16)), {}, RuntimeError, r"Input type \(float32\) and weight type \(bfloat16\) should be the same"),
    ("convT-channels", F.conv_transpose2d, (_z(2, 3, 5, 5), _z(4, 2, 3, 3)), {}, RuntimeError, r"Given transposed=1, weight of size \[4, 2, 3, 3\], expected input\[2, 3, 5, 5\] to have 4 channels, but got 3 channels instead"),
    ("convT-groups", F.conv_transpose2d, (_z(2, 3, 5, 5), _z(3, 2, 3, 3)), dict(groups=2), RuntimeError, r"expected weight to be divisible by 2 at dimension 0"),
    ("convT-output-padding", F.conv_transpose2d, (_z(2, 3, 5, 5), _z(3, 2, 3, 3)), dict(stride=2, output_padding=2), RuntimeError, r"output padding must be smaller than either stride or dilation"),
    ("convT-too-small", F.conv_transpose2d, (_z(1, 3, 2, 2), _z(3, 2, 3, 3)), dict(padding=2), RuntimeError, r"Given input size per channel: \(2 x 2\)\. Calculated output size per channel: \(0 x 0\)\. Output size is too small"),
    ("convT-rank", F.conv_transpose1d, (_z(3), _z(3, 2, 3)), {}, RuntimeError, r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv_transpose1d"),
    ("convT-same", F.conv_transpose2d, (_z(1, 3, 5, 5), _z(3, 2, 3, 3)), dict(padding="same"), TypeError, r"argument 'padding' must be tuple of ints, not str"),
    ("convT-bias", F.conv_transpose2d, (_z(1, 3, 5, 5), _z(3, 2, 3, 3), _z(3)), {}, RuntimeError, r"Given transposed=1, weight of size \[3, 2, 3, 3\], expected bias to be 1-dimensional with 2 elements"),
    ("unfold-rank", F.unfold, (_z(5, 5), 2), {}, RuntimeError, r"Expected 3D or 4D \(batch mode\) tensor with possibly 0 batch size"),
    ("unfold-too-big", F.unfold, (_z(1, 3, 5, 5), 6), {}, RuntimeError, r"calculated shape of the array of sliding blocks as \(0, 0\), but its components must be at least one"),
    ("unfold-zero-kernel", F.unfold, (_z(1, 3, 5, 5), 0), {}, RuntimeError, r"kernel_size should be at least 1"),
    ("fold-rank", F.fold, (_z(16), (5, 5), 2), {}, RuntimeError, r"Expected 2D or 3D \(batch mode\) tensor for input"),
    ("fold-divisible", F.fold, (_z(1, 7, 16), (5, 5), 2), {}, RuntimeError, r"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size\(1\)=7"),
    ("fold-blocks", F.fold, (_z(1, 8, 15), (5, 5), 2), {}, RuntimeError, r"calculated number of sliding blocks 4 \* 4 = 16, but got input.size\(2\)=15"),
]
# fmt: on


@pytest.mark.parametrize(
    "fn,args,kwargs,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
