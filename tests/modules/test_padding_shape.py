"""Padding layers, Upsample, pixel/channel shuffles and the distance layers against torch.nn."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn


def _build(name, args, kwargs):
    return getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


# id, class, constructor args, input shape
# fmt: off
PAD_CASES = [
    ("zero1d", "ZeroPad1d", ((1, 2),), (2, 3, 4)),
    ("zero2d-unbatched", "ZeroPad2d", (1,), (3, 4, 4)),
    ("zero2d-last-dim-only", "ZeroPad2d", ((1, 2),), (2, 3, 4, 4)),
    ("zero3d", "ZeroPad3d", ((1, 0, 2, 1, 0, 1),), (1, 2, 3, 3, 3)),
    ("constant1d-unbatched", "ConstantPad1d", (2, 3.5), (3, 4)),
    ("constant2d-negative-crops", "ConstantPad2d", ((-1, 2, 0, 1), 1.0), (2, 3, 4, 4)),
    ("constant3d", "ConstantPad3d", (1, -2.0), (1, 2, 2, 3, 2)),
    ("reflection1d", "ReflectionPad1d", ((2, 1),), (2, 3, 5)),
    ("reflection2d", "ReflectionPad2d", ((1, 2, 2, 1),), (2, 3, 4, 4)),
    ("reflection3d-unbatched", "ReflectionPad3d", (1,), (2, 3, 3, 3)),
    ("replication1d-unbatched", "ReplicationPad1d", (2,), (3, 4)),
    ("replication2d", "ReplicationPad2d", ((0, 2, 1, 0),), (2, 3, 3, 4)),
    ("replication3d", "ReplicationPad3d", ((1, 1, 0, 2, 1, 0),), (1, 2, 2, 3, 2)),
    ("circular1d", "CircularPad1d", ((1, 2),), (2, 3, 4)),
    ("circular2d-unbatched", "CircularPad2d", (1,), (3, 4, 4)),
    ("circular3d", "CircularPad3d", ((1, 0, 0, 1, 1, 1),), (1, 2, 2, 3, 2)),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,shape", [c[1:] for c in PAD_CASES], ids=[c[0] for c in PAD_CASES]
)
def test_padding(name, args, shape):
    check_module(*_build(name, args, {}), [randn(*shape)])


# id, class, constructor args, constructor kwargs, input shapes
# fmt: off
SHAPE_CASES = [
    ("upsample-nearest-1d", "Upsample", (), dict(scale_factor=2), [(2, 3, 4)]),
    ("upsample-bilinear-size", "Upsample", (), dict(size=(5, 7), mode="bilinear"), [(2, 3, 3, 4)]),
    ("upsample-bilinear-align", "Upsample", (), dict(scale_factor=(2, 1.5), mode="bilinear", align_corners=True), [(1, 2, 4, 4)]),
    ("upsample-bicubic", "Upsample", (), dict(scale_factor=2, mode="bicubic"), [(1, 2, 3, 3)]),
    ("upsample-linear", "Upsample", (5,), dict(mode="linear", align_corners=False), [(2, 3, 4)]),
    ("upsample-trilinear", "Upsample", (), dict(scale_factor=2, mode="trilinear"), [(1, 2, 2, 3, 2)]),
    ("upsample-area", "Upsample", ((2, 3),), dict(mode="area"), [(1, 2, 5, 7)]),
    ("upsample-nearest-exact-recompute", "Upsample", (), dict(scale_factor=1.5, mode="nearest-exact", recompute_scale_factor=True), [(1, 2, 4, 5)]),
    ("upsampling-nearest2d", "UpsamplingNearest2d", (), dict(scale_factor=2), [(1, 2, 3, 3)]),
    ("upsampling-bilinear2d", "UpsamplingBilinear2d", ((5, 4),), {}, [(1, 2, 3, 3)]),
    ("pixel-shuffle", "PixelShuffle", (2,), {}, [(2, 8, 3, 2)]),
    ("pixel-shuffle-unbatched", "PixelShuffle", (3,), {}, [(9, 2, 1)]),
    ("pixel-unshuffle", "PixelUnshuffle", (2,), {}, [(2, 2, 4, 6)]),
    ("channel-shuffle", "ChannelShuffle", (2,), {}, [(2, 4, 3, 3)]),
    ("cosine-similarity", "CosineSimilarity", (), {}, [(3, 5), (3, 5)]),
    ("cosine-similarity-broadcast", "CosineSimilarity", (0, 1e-3), {}, [(4, 3), (1, 3)]),
    ("pairwise-distance", "PairwiseDistance", (), {}, [(3, 5), (3, 5)]),
    ("pairwise-distance-p1-keepdim", "PairwiseDistance", (1.0,), dict(keepdim=True), [(3, 5), (3, 5)]),
    ("pairwise-distance-inf-unbatched", "PairwiseDistance", (float("inf"),), {}, [(5,), (5,)]),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs,shapes", [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES]
)
def test_shape(name, args, kwargs, shapes):
    inputs = [randn(*s, seed=i) for i, s in enumerate(shapes)]
    check_module(*_build(name, args, kwargs), inputs)


def test_float64(x64):
    check_module(
        tnn.ReflectionPad2d((1, 2, 0, 1)),
        nn.ReflectionPad2d((1, 2, 0, 1)),
        [randn(2, 2, 3, 4, dtype=np.float64)],
    )
    up = dict(scale_factor=2, mode="bilinear")
    check_module(tnn.Upsample(**up), nn.Upsample(**up), [randn(1, 2, 3, 3, dtype=np.float64)])


# ---------------------------------------------------------------------------- repr
# fmt: off
REPR_CASES = [
    ("ZeroPad1d", (2,), {}),
    ("ZeroPad2d", ((1, 2, 3, 4),), {}),
    ("ZeroPad3d", (1,), {}),
    ("ConstantPad1d", ((1, 2), 0.5), {}),
    ("ConstantPad2d", (1, 3.5), {}),
    ("ConstantPad3d", (2, 0), {}),
    ("ReflectionPad1d", (1,), {}),
    ("ReflectionPad2d", ((1, 0, 2, 1),), {}),
    ("ReflectionPad3d", (1,), {}),
    ("ReplicationPad1d", ((3, 1),), {}),
    ("ReplicationPad2d", (2,), {}),
    ("ReplicationPad3d", (1,), {}),
    ("CircularPad1d", (1,), {}),
    ("CircularPad2d", ((1, 2, 3, 4),), {}),
    ("CircularPad3d", (2,), {}),
    ("Upsample", (), dict(scale_factor=2)),
    ("Upsample", ((3, 4),), dict(mode="bilinear", align_corners=True)),
    ("Upsample", (), dict(scale_factor=(2, 3), mode="nearest-exact")),
    ("Upsample", (7,), dict(mode="linear")),
    ("UpsamplingNearest2d", (), dict(scale_factor=2)),
    ("UpsamplingBilinear2d", (4,), {}),
    ("PixelShuffle", (3,), {}),
    ("PixelUnshuffle", (2,), {}),
    ("ChannelShuffle", (4,), {}),
    ("CosineSimilarity", (0, 1e-6), {}),
    ("PairwiseDistance", (1,), dict(keepdim=True)),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs", REPR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(REPR_CASES)]
)
def test_repr(name, args, kwargs):
    tmod, jmod = _build(name, args, kwargs)
    assert repr(jmod) == repr(tmod)
    for attr in ("padding", "value", "size", "scale_factor", "mode", "align_corners", "upscale_factor",
                 "downscale_factor", "groups", "dim", "eps", "norm", "keepdim"):  # fmt: skip
        if hasattr(tmod, attr):
            assert getattr(jmod, attr) == getattr(tmod, attr), attr


# ---------------------------------------------------------------------------- errors
# fmt: off
ERRORS = [
    ("pad-odd-length", "ZeroPad2d", ((1, 2, 3),), {}, ValueError, r"padding must be an int or a tuple of 4 ints"),
    ("pad-float", "ReflectionPad1d", (1.5,), {}, ValueError, r"padding must be an int or a tuple of 2 ints"),
    ("pad-too-long", "CircularPad1d", ((1, 1, 1, 1),), {}, ValueError, r"got \(1, 1, 1, 1\)"),
    ("upsample-none", "Upsample", (), {}, ValueError, r"either size or scale_factor should be defined"),
    ("upsample-both", "Upsample", (2, 2), {}, ValueError, r"only one of size or scale_factor should be defined"),
    ("upsample-align", "Upsample", (2,), dict(align_corners=True), ValueError, r"align_corners option can only be set with the interpolating modes"),
    ("upsample-mode", "Upsample", (2,), dict(mode="cubic"), ValueError, r"mode='cubic' is not valid"),
    ("pixel-shuffle-zero", "PixelShuffle", (0,), {}, ValueError, r"upscale_factor must be a positive int"),
    ("pixel-unshuffle-float", "PixelUnshuffle", (2.0,), {}, ValueError, r"downscale_factor must be a positive int"),
    ("channel-shuffle-zero", "ChannelShuffle", (0,), {}, ValueError, r"groups must be a positive int"),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_constructor_errors(name, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, name)(*args, **kwargs)


def test_circular_pad_rank_error():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(jnp.zeros((4, 4)))
