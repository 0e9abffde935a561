"""Parity of jaxnn.functional's vision functions with torch.nn.functional."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import assert_close, check_function, randn, to_torch, tolerance

S3, S4, S5 = (2, 3, 4), (2, 2, 3, 4), (1, 2, 2, 3, 4)


def cases(table):
    """pytest params from a case table (first column: the id), plus a ``jit`` flag.

    The functions run a jitted core, so the eager comparison already runs compiled code;
    the harness's extra outer-``jax.jit`` comparison (a fresh compile per case) runs on the
    first row of each table only, which keeps this file inside its time budget.
    """
    return [pytest.param(*row[1:], i == 0, id=row[0]) for i, row in enumerate(table)]


def ids(table):
    return [pytest.param(*row[1:], id=row[0]) for row in table]


# --------------------------------------------------------------------------------------
# pad
# --------------------------------------------------------------------------------------

PAD_CASES = [
    # id, shape, pad, mode, value
    ("constant-1d-unbatched", (4,), (1, 2), "constant", None),
    ("constant-2d-value", S3, (1, 1, 2, 0), "constant", 1.5),
    ("constant-3d-crop", S3, (-1, 2, 1, -1, 1, 1), "constant", None),
    ("reflect-1d", S3, (2, 3), "reflect", None),
    ("reflect-1d-unbatched", (3, 4), (1, 2), "reflect", None),
    ("reflect-2d", S4, (3, 0, 1, 2), "reflect", 0.0),
    ("reflect-3d", S5, (1, 1, 2, 1, 1, 0), "reflect", None),
    ("reflect-crop", S3, (-1, 3), "reflect", None),
    ("replicate-2d", S4, (2, 0, 1, 3), "replicate", None),
    ("replicate-crop", S4, (-1, 3, 1, -2), "replicate", None),
    ("circular-2d", S4, (1, 2, 3, 0), "circular", None),
    ("circular-3d", S5, (1, 1, 2, 1, 1, 2), "circular", None),
    ("circular-crop", S3, (-1, 3), "circular", None),
    ("reflect-empty-batch", (0, 3, 4), (1, 2), "reflect", None),
]


@pytest.mark.parametrize(("shape", "pad", "mode", "value", "jit"), cases(PAD_CASES))
def test_pad(shape, pad, mode, value, jit):
    check_function(F.pad, TF.pad, [randn(*shape), pad, mode, value], jit=jit)


def test_pad_float64_and_bfloat16(x64):
    check_function(
        F.pad, TF.pad, [randn(*S4, dtype=np.float64), (1, 2, 2, 1), "reflect"], jit=False
    )
    x = jnp.asarray(randn(*S3)).astype(jnp.bfloat16)
    for mode in ("constant", "replicate", "circular"):
        assert_close(F.pad(x, (2, 1), mode), TF.pad(to_torch(x), (2, 1), mode), rtol=0, atol=0)


PAD_ERRORS = [
    ("odd", S3, (1,), "constant", None, RuntimeError, "Padding length must be divisible by 2"),
    (
        "too-long",
        S3,
        (1,) * 8,
        "constant",
        None,
        RuntimeError,
        "Padding length should be less than or equal to two times the input dimension but got padding length 8 and input of dimension 3",
    ),
    ("mode", S3, (1, 1), "foo", None, NotImplementedError, "Unrecognised padding mode foo"),
    (
        "value",
        S3,
        (1, 1),
        "reflect",
        1.0,
        RuntimeError,
        'Padding mode "reflect" doesn\'t take in value argument',
    ),
    (
        "reflect-size",
        (1, 2, 3),
        (3, 3),
        "reflect",
        None,
        RuntimeError,
        r"Padding size should be less than the corresponding input dimension, but got: padding \(3, 3\) at dimension 2 of input \[1, 2, 3\]",
    ),
    (
        "rank-1",
        (3,),
        (1, 1),
        "reflect",
        None,
        NotImplementedError,
        "Padding size 2 is not supported for 1D input tensor",
    ),
    (
        "rank-4-for-1d",
        S4,
        (1, 1),
        "replicate",
        None,
        NotImplementedError,
        "Padding size 2 is not supported for 4D input tensor",
    ),
    (
        "rank-2-for-2d",
        (2, 3),
        (1, 1, 1, 1),
        "circular",
        None,
        NotImplementedError,
        "Padding size 4 is not supported for 2D input tensor",
    ),
    (
        "empty-dim",
        (2, 0, 4),
        (1, 1),
        "reflect",
        None,
        RuntimeError,
        r"Expected 2D or 3D \(batch mode\) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: \[2, 0, 4\]",
    ),
    (
        "circular-wrap",
        (1, 2, 3),
        (4, 0),
        "circular",
        None,
        RuntimeError,
        "Padding value causes wrapping around more than once",
    ),
    (
        "circular-negative",
        (2, 5),
        (-3, -3),
        "circular",
        None,
        RuntimeError,
        "Negative padding value is resulting in an empty dimension",
    ),
    ("constant-negative", (1, 2, 3), (-4, 0), "constant", None, RuntimeError, "negative size -1"),
    ("float-pad", S3, (1.5, 1), "constant", None, TypeError, "pad must be a sequence of ints"),
]


@pytest.mark.parametrize(("shape", "pad", "mode", "value", "exc", "match"), ids(PAD_ERRORS))
def test_pad_errors(shape, pad, mode, value, exc, match):
    with pytest.raises(exc, match=match):
        F.pad(jnp.zeros(shape), pad, mode, value)


# --------------------------------------------------------------------------------------
# interpolate
# --------------------------------------------------------------------------------------

I3, I4, I5 = (2, 2, 5), (1, 2, 4, 5), (1, 2, 3, 4, 3)
INTERP_CASES = [
    # id, shape, kwargs
    ("nearest-3d-scale", I3, dict(scale_factor=2.3)),
    ("nearest-5d-scale", I5, dict(scale_factor=(1.5, 0.6, 2.0))),
    ("nearest-exact-4d", I4, dict(size=(3, 7), mode="nearest-exact")),
    ("linear-down", I3, dict(size=3, mode="linear")),
    ("linear-align", I3, dict(size=8, mode="linear", align_corners=True)),
    ("linear-scale", I3, dict(scale_factor=1.7, mode="linear")),
    (
        "linear-scale-recompute",
        I3,
        dict(scale_factor=1.7, mode="linear", recompute_scale_factor=True),
    ),
    ("bilinear", I4, dict(size=(3, 7), mode="bilinear")),
    ("bilinear-align", I4, dict(size=(3, 7), mode="bilinear", align_corners=True)),
    ("bilinear-scale", I4, dict(scale_factor=(1.5, 0.7), mode="bilinear")),
    ("bicubic", I4, dict(size=(6, 3), mode="bicubic")),
    ("bicubic-align", I4, dict(size=(6, 3), mode="bicubic", align_corners=True)),
    ("bicubic-scale", I4, dict(scale_factor=(2.0, 1.3), mode="bicubic")),
    ("trilinear", I5, dict(size=(2, 5, 4), mode="trilinear")),
    (
        "trilinear-align-scale",
        I5,
        dict(scale_factor=(1.5, 0.6, 2.0), mode="trilinear", align_corners=True),
    ),
    ("area-4d", I4, dict(size=(3, 2), mode="area")),
    ("area-5d-scale", I5, dict(scale_factor=0.5, mode="area")),
    ("aa-bilinear", I4, dict(size=(2, 3), mode="bilinear", antialias=True)),
    (
        "aa-bilinear-align",
        I4,
        dict(size=(2, 3), mode="bilinear", antialias=True, align_corners=True),
    ),
    ("aa-bilinear-up", I4, dict(size=(6, 7), mode="bilinear", antialias=True)),
    ("aa-bicubic-scale", I4, dict(scale_factor=0.6, mode="bicubic", antialias=True)),
    ("aa-lanczos", I4, dict(size=(2, 3), mode="lanczos", antialias=True)),
    ("empty-batch", (0, 2, 4, 5), dict(size=(3, 7), mode="bilinear")),
]


@pytest.mark.parametrize(("shape", "kwargs", "jit"), cases(INTERP_CASES))
def test_interpolate(shape, kwargs, jit):
    check_function(F.interpolate, TF.interpolate, [randn(*shape)], kwargs, jit=jit)


INTERP64 = [
    ("bicubic-align", I4, dict(size=(6, 3), mode="bicubic", align_corners=True)),
    ("nearest-exact-scale", I3, dict(scale_factor=1.7, mode="nearest-exact")),
    ("aa-bicubic", I4, dict(size=(3, 2), mode="bicubic", antialias=True)),
]


@pytest.mark.parametrize(("shape", "kwargs", "jit"), cases(INTERP64))
def test_interpolate_float64(x64, shape, kwargs, jit):
    check_function(
        F.interpolate, TF.interpolate, [randn(*shape, dtype=np.float64)], kwargs, jit=jit
    )


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_interpolate_bfloat16(mode):
    x = jnp.asarray(randn(*I4)).astype(jnp.bfloat16)
    out = F.interpolate(x, size=(3, 7), mode=mode)
    assert out.dtype == jnp.bfloat16
    assert_close(
        out, TF.interpolate(to_torch(x), size=(3, 7), mode=mode), **tolerance(jnp.bfloat16)
    )


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("upsample", dict(size=(3, 7), mode="bilinear", align_corners=False)),
        ("upsample_nearest", dict(scale_factor=2)),
        ("upsample_bilinear", dict(size=(3, 7))),
    ],
)
def test_upsample_aliases_warn(name, kwargs):
    x = randn(*I4)
    with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
        out = getattr(F, name)(jnp.asarray(x), **kwargs)
    with pytest.warns(UserWarning):
        ref = getattr(TF, name)(to_torch(x), **kwargs)
    assert_close(out, ref, **tolerance(np.float32))


INTERP_ERRORS = [
    (
        "both",
        I3,
        dict(size=3, scale_factor=2.0),
        ValueError,
        "only one of size or scale_factor should be defined",
    ),
    ("neither", I3, dict(), ValueError, "either size or scale_factor should be defined"),
    (
        "size-len",
        I4,
        dict(size=(2,)),
        ValueError,
        "Input and output must have the same number of spatial dimensions",
    ),
    (
        "scale-len",
        I4,
        dict(scale_factor=(2.0,)),
        ValueError,
        "Input and scale_factor must have the same number of spatial dimensions",
    ),
    ("size-type", I4, dict(size=(2.0, 2)), TypeError, "expected size to be one of int"),
    (
        "align-nearest",
        I4,
        dict(size=2, align_corners=True),
        ValueError,
        "align_corners option can only be set with the interpolating modes",
    ),
    (
        "recompute-size",
        I4,
        dict(size=2, recompute_scale_factor=True),
        ValueError,
        "recompute_scale_factor is not meaningful with an explicit size",
    ),
    (
        "mode",
        I4,
        dict(size=2, mode="foo"),
        NotImplementedError,
        r"Input Error: Only 3D, 4D and 5D input Tensors supported \(got 4D\).*\(got foo\)",
    ),
    ("rank", (2, 3), dict(size=2), NotImplementedError, r"\(got 2D\)"),
    (
        "bilinear-3d",
        I3,
        dict(size=2, mode="bilinear"),
        NotImplementedError,
        "Got 3D input, but bilinear mode needs 4D input",
    ),
    (
        "linear-5d",
        I5,
        dict(size=2, mode="linear"),
        NotImplementedError,
        "Got 5D input, but linear mode needs 3D input",
    ),
    (
        "bicubic-5d",
        I5,
        dict(size=2, mode="bicubic"),
        NotImplementedError,
        "Got 5D input, but bicubic mode needs 4D input",
    ),
    (
        "aa-mode",
        I4,
        dict(size=2, antialias=True),
        ValueError,
        "Anti-alias option is restricted to bilinear, bicubic, and lanczos",
    ),
    (
        "lanczos-no-aa",
        I4,
        dict(size=2, mode="lanczos"),
        ValueError,
        "Lanczos mode requires antialias=True",
    ),
    (
        "size-zero",
        I4,
        dict(size=(0, 2)),
        RuntimeError,
        r"Input and output sizes should be greater than 0, but got input \(H: 4, W: 5\) output \(H: 0, W: 2\)",
    ),
    (
        "scale-too-small",
        I3,
        dict(scale_factor=0.1, mode="linear"),
        RuntimeError,
        r"input \(W: 5\) output \(W: 0\)",
    ),
]


@pytest.mark.parametrize(("shape", "kwargs", "exc", "match"), ids(INTERP_ERRORS))
def test_interpolate_errors(shape, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        F.interpolate(jnp.zeros(shape), **kwargs)


def test_interpolate_integer_input():
    x = jnp.arange(8, dtype=jnp.uint8).reshape(1, 1, 2, 4)
    out = F.interpolate(x, scale_factor=2)  # nearest copies values: any dtype
    assert out.dtype == jnp.uint8
    assert_close(out, TF.interpolate(to_torch(x), scale_factor=2), rtol=0, atol=0)
    with pytest.raises(TypeError, match="needs a floating-point input, got int32"):
        F.interpolate(x.astype(jnp.int32), size=2, mode="bilinear")


# --------------------------------------------------------------------------------------
# pixel_shuffle, pixel_unshuffle, channel_shuffle
# --------------------------------------------------------------------------------------

SHUFFLE_CASES = [
    # id, function, shape, factor
    ("pixel_shuffle", "pixel_shuffle", (2, 8, 2, 3), 2),
    ("pixel_shuffle-unbatched", "pixel_shuffle", (9, 2, 1), 3),
    ("pixel_shuffle-5d", "pixel_shuffle", (2, 1, 4, 2, 2), 2),
    ("pixel_unshuffle", "pixel_unshuffle", (2, 2, 4, 6), 2),
    ("channel_shuffle", "channel_shuffle", (2, 6, 3), 2),
    ("channel_shuffle-4d", "channel_shuffle", (2, 6, 2, 2), 3),
    ("channel_shuffle-empty", "channel_shuffle", (0, 6, 3), 3),
]


@pytest.mark.parametrize(("fn", "shape", "factor", "jit"), cases(SHUFFLE_CASES))
def test_shuffles(fn, shape, factor, jit):
    check_function(getattr(F, fn), getattr(TF, fn), [randn(*shape), factor], jit=jit)


SHUFFLE_ERRORS = [
    (
        "ps-rank",
        "pixel_shuffle",
        (2, 3),
        2,
        "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 dimension",
    ),
    ("ps-channels", "pixel_shuffle", (5, 3, 3), 2, r"input.size\(-3\)=5 is not divisible by 4"),
    (
        "ps-factor",
        "pixel_shuffle",
        (4, 3, 3),
        0,
        "pixel_shuffle expects a positive upscale_factor, but got 0",
    ),
    (
        "pu-height",
        "pixel_unshuffle",
        (1, 3, 4),
        2,
        r"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size\(-2\)=3",
    ),
    (
        "pu-width",
        "pixel_unshuffle",
        (1, 4, 3),
        2,
        r"expects width to be divisible by downscale_factor, but input.size\(-1\)=3",
    ),
    ("pu-factor", "pixel_unshuffle", (1, 4, 4), -1, "positive downscale_factor, but got -1"),
    (
        "cs-rank",
        "channel_shuffle",
        (2, 6),
        2,
        r"channel_shuffle expects input with > 2 dims, but got input with sizes \[2, 6\]",
    ),
    (
        "cs-divisible",
        "channel_shuffle",
        (2, 6, 3),
        4,
        "Number of channels must be divisible by groups. Got 6 channels and 4 groups.",
    ),
    (
        "cs-groups",
        "channel_shuffle",
        (2, 6, 3),
        0,
        "Number of groups to divide channels in must be positive. Value of groups:0",
    ),
]


@pytest.mark.parametrize(("fn", "shape", "factor", "match"), ids(SHUFFLE_ERRORS))
def test_shuffle_errors(fn, shape, factor, match):
    with pytest.raises(RuntimeError, match=match):
        getattr(F, fn)(jnp.zeros(shape), factor)


# --------------------------------------------------------------------------------------
# grid_sample, affine_grid
# --------------------------------------------------------------------------------------


def _grid(*shape, dtype=np.float32):
    # Uniform over [-1.2, 1.2]: some samples fall outside, exercising the padding modes.
    return (np.random.default_rng(7).uniform(-1.2, 1.2, shape)).astype(dtype)


GS_CASES = [
    # id, rank, mode, padding_mode, align_corners
    ("4d-bilinear-zeros-noalign", 4, "bilinear", "zeros", False),
    ("4d-bilinear-zeros-align", 4, "bilinear", "zeros", True),
    ("4d-bilinear-border-noalign", 4, "bilinear", "border", False),
    ("4d-bilinear-reflection-noalign", 4, "bilinear", "reflection", False),
    ("4d-bilinear-reflection-align", 4, "bilinear", "reflection", True),
    ("4d-nearest-zeros-noalign", 4, "nearest", "zeros", False),
    ("4d-nearest-reflection-noalign", 4, "nearest", "reflection", False),
    ("4d-bicubic-zeros-noalign", 4, "bicubic", "zeros", False),
    ("4d-bicubic-border-align", 4, "bicubic", "border", True),
    ("4d-bicubic-reflection-align", 4, "bicubic", "reflection", True),
    ("5d-bilinear-zeros-noalign", 5, "bilinear", "zeros", False),
    ("5d-nearest-reflection-align", 5, "nearest", "reflection", True),
]


@pytest.mark.parametrize(
    ("d", "mode", "padding_mode", "align", "jit"),
    # the outer-jit comparison on one row per mode, plus the 5-d bilinear one
    [pytest.param(*c[1:], c[0].endswith("zeros-noalign"), id=c[0]) for c in GS_CASES],
)
def test_grid_sample(d, mode, padding_mode, align, jit):
    if d == 4:
        x, g = randn(2, 2, 3, 4), _grid(2, 3, 2, 2)
    else:
        x, g = randn(1, 2, 2, 3, 4), _grid(1, 2, 2, 3, 3)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align)
    check_function(F.grid_sample, TF.grid_sample, [x, g], kw, jit=jit)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_grid_sample_float64(x64, mode):
    x, g = randn(2, 2, 3, 4, dtype=np.float64), _grid(2, 3, 2, 2, dtype=np.float64)
    kw = dict(mode=mode, padding_mode="reflection", align_corners=False)
    check_function(F.grid_sample, TF.grid_sample, [x, g], kw, jit=False)


def test_grid_sample_empty():
    """Empty batch, channel axis or output grid, as torch accepts them."""
    for xs, gs in (
        ((0, 2, 3, 4), (0, 2, 2, 2)),
        ((2, 0, 3, 4), (2, 2, 2, 2)),
        ((2, 2, 3, 4), (2, 0, 2, 2)),
    ):
        x, g = np.zeros(xs, np.float32), _grid(*gs)
        check_function(
            F.grid_sample, TF.grid_sample, [x, g], dict(align_corners=False), grad=False, jit=False
        )


def test_grid_sample_default_align_corners_is_false():
    x, g = jnp.asarray(randn(1, 1, 3, 4)), jnp.asarray(_grid(1, 2, 2, 2))
    assert_close(F.grid_sample(x, g), F.grid_sample(x, g, align_corners=False), rtol=0, atol=0)


GS_ERRORS = [
    (
        "mode",
        (1, 1, 2, 2),
        (1, 1, 1, 2),
        dict(mode="foo"),
        ValueError,
        "expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'foo'",
    ),
    (
        "padding",
        (1, 1, 2, 2),
        (1, 1, 1, 2),
        dict(padding_mode="foo"),
        ValueError,
        "expected padding_mode to be 'zeros', 'border', or 'reflection'",
    ),
    (
        "rank",
        (1, 2, 2),
        (1, 1, 2),
        {},
        RuntimeError,
        "expected 4D or 5D input and grid with same number of dimensions",
    ),
    (
        "batch",
        (2, 1, 2, 2),
        (1, 1, 1, 2),
        {},
        RuntimeError,
        "expected grid and input to have same batch size",
    ),
    (
        "last-dim",
        (1, 1, 2, 2),
        (1, 1, 1, 3),
        {},
        RuntimeError,
        r"expected grid to have size 2 in last dimension, but got grid with sizes \[1, 1, 1, 3\]",
    ),
    (
        "empty",
        (1, 1, 0, 2),
        (1, 1, 1, 2),
        {},
        RuntimeError,
        "expected input to have non-empty spatial dimensions",
    ),
    (
        "bicubic-5d",
        (1, 1, 2, 2, 2),
        (1, 1, 1, 1, 3),
        dict(mode="bicubic"),
        RuntimeError,
        "bicubic interpolation only supports 4D input",
    ),
]


@pytest.mark.parametrize(("xs", "gs", "kwargs", "exc", "match"), ids(GS_ERRORS))
def test_grid_sample_errors(xs, gs, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        F.grid_sample(jnp.zeros(xs), jnp.zeros(gs), align_corners=False, **kwargs)


AG_CASES = [
    # id, theta shape, size, align
    ("4d", (2, 2, 3), (2, 3, 3, 4), False),
    ("4d-align", (2, 2, 3), (2, 3, 3, 4), True),
    ("5d-align", (1, 3, 4), (1, 2, 2, 3, 4), True),
    ("4d-unit-width", (2, 2, 3), (2, 1, 3, 1), False),
]


@pytest.mark.parametrize(("ts", "size", "align", "jit"), cases(AG_CASES))
def test_affine_grid(ts, size, align, jit):
    check_function(F.affine_grid, TF.affine_grid, [randn(*ts), size, align], jit=jit)


def test_affine_grid_float64_and_sampling(x64):
    theta = randn(2, 2, 3, dtype=np.float64) * 0.5
    check_function(F.affine_grid, TF.affine_grid, [theta, (2, 1, 3, 4), False], jit=False)
    x = randn(2, 2, 3, 4, dtype=np.float64)

    def warp(fn_grid, fn_sample):
        return lambda x, theta: fn_sample(
            x, fn_grid(theta, (2, 2, 3, 4), align_corners=False), align_corners=False
        )

    check_function(
        warp(F.affine_grid, F.grid_sample),
        warp(TF.affine_grid, TF.grid_sample),
        [x, theta],
        jit=False,
    )


AG_ERRORS = [
    (
        "dtype",
        np.zeros((1, 2, 3), np.int32),
        (1, 1, 2, 2),
        ValueError,
        "Expected theta to have floating point type",
    ),
    (
        "shape-4d",
        np.zeros((1, 3, 4), np.float32),
        (1, 1, 2, 2),
        ValueError,
        "Expected a batch of 2D affine matrices of shape Nx2x3 for size",
    ),
    (
        "shape-5d",
        np.zeros((1, 2, 3), np.float32),
        (1, 1, 2, 2, 2),
        ValueError,
        "Expected a batch of 3D affine matrices of shape Nx3x4",
    ),
    (
        "size-rank",
        np.zeros((1, 2, 3), np.float32),
        (1, 1, 2),
        NotImplementedError,
        "affine_grid only supports 4D and 5D sizes",
    ),
    (
        "size-zero",
        np.zeros((1, 2, 3), np.float32),
        (1, 1, 0, 2),
        ValueError,
        "Expected non-zero, positive output size",
    ),
    (
        "batch",
        np.zeros((2, 2, 3), np.float32),
        (3, 1, 2, 2),
        ValueError,
        "theta holds 2 matrices but size asks for a batch of 3",
    ),
]


@pytest.mark.parametrize(("theta", "size", "exc", "match"), ids(AG_ERRORS))
def test_affine_grid_errors(theta, size, exc, match):
    with pytest.raises(exc, match=match):
        F.affine_grid(jnp.asarray(theta), size, align_corners=False)


def test_torch_warns_where_we_do_not():
    """torch warns about align_corners=None (a 2019 default change); jaxnn uses False silently."""
    with pytest.warns(UserWarning):
        TF.grid_sample(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 2))
    F.grid_sample(jnp.zeros((1, 1, 2, 2)), jnp.zeros((1, 1, 1, 2)))
    F.affine_grid(jnp.zeros((1, 2, 3)), (1, 1, 2, 2))


VMAP_CASES = [
    # id, function, per-example args (after the input), kwargs
    ("pad-reflect", F.pad, ((1, 2, 2, 1), "reflect"), {}),
    ("interpolate-bicubic", F.interpolate, (), dict(size=(3, 7), mode="bicubic")),
    (
        "grid_sample-bilinear",
        F.grid_sample,
        ("grid",),
        dict(padding_mode="reflection", align_corners=False),
    ),
    ("pixel_shuffle", F.pixel_shuffle, (2,), {}),
]


@pytest.mark.parametrize(("fn", "args", "kwargs"), ids(VMAP_CASES))
def test_vmap(fn, args, kwargs):
    """vmap over an extra leading axis equals a loop over it."""
    x = jnp.asarray(randn(3, 1, 4, 4, 5))
    g = jnp.asarray(_grid(3, 1, 2, 3, 2))
    args_for = lambda i: [g[i] if a == "grid" else a for a in args]  # noqa: E731
    if "grid" in args:
        out = jax.vmap(lambda x, g: fn(x, g, **kwargs))(x, g)
    else:
        out = jax.vmap(lambda x: fn(x, *args, **kwargs))(x)
    ref = jnp.stack([fn(x[i], *args_for(i), **kwargs) for i in range(3)])
    assert_close(out, ref, rtol=1e-6, atol=1e-6)
