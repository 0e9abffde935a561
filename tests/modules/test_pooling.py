"""Max, average, power-average, adaptive pooling and max-unpooling layers against torch.nn."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn


def _build(name, args, kwargs):
    return getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


def _positive(*shape):
    # Fractional powers (LPPool with p=1.5) need non-negative inputs, as in torch.
    return np.abs(randn(*shape)) + np.float32(0.1)


# id, class, constructor args, constructor kwargs, input
# fmt: off
CASES = [
    ("max1d-stride-pad", "MaxPool1d", (3,), dict(stride=2, padding=1), randn(2, 3, 9)),
    ("max1d-dilation-ceil-unbatched", "MaxPool1d", (2,), dict(dilation=2, ceil_mode=True), randn(3, 8)),
    ("max2d-seed002", "MaxPool2d", (), dict(kernel_size=2, stride=2), randn(2, 3, 6, 6)),
    ("max2d-tuples-indices", "MaxPool2d", ((3, 2),), dict(stride=(2, 1), padding=(1, 0), return_indices=True), randn(2, 2, 7, 5)),
    ("max3d-ceil", "MaxPool3d", (2,), dict(stride=1, ceil_mode=True), randn(1, 2, 3, 4, 3)),
    ("max3d-unbatched-indices", "MaxPool3d", ((1, 2, 2),), dict(return_indices=True), randn(2, 3, 4, 4)),
    ("avg1d-pad-nocount", "AvgPool1d", (3, 2, 1), dict(count_include_pad=False), randn(2, 3, 9)),
    ("avg1d-ceil-unbatched", "AvgPool1d", (2,), dict(ceil_mode=True), randn(3, 7)),
    ("avg2d-stride-pad", "AvgPool2d", (3,), dict(stride=2, padding=1), randn(2, 3, 7, 6)),
    ("avg2d-divisor-ceil", "AvgPool2d", ((2, 3),), dict(ceil_mode=True, divisor_override=4), randn(1, 2, 5, 7)),
    ("avg3d-unbatched-nocount", "AvgPool3d", (2,), dict(stride=1, padding=1, count_include_pad=False), randn(2, 3, 3, 3)),
    ("lp1d", "LPPool1d", (2, 3), dict(stride=2), randn(2, 3, 9)),
    ("lp2d-float-ceil", "LPPool2d", (1.5, 2), dict(stride=1, ceil_mode=True), _positive(2, 2, 4, 5)),
    ("lp3d-unbatched", "LPPool3d", (3, (2, 1, 2)), {}, _positive(2, 4, 3, 4)),
    ("adaptive-avg1d", "AdaptiveAvgPool1d", (3,), {}, randn(2, 3, 8)),
    ("adaptive-avg2d-none", "AdaptiveAvgPool2d", ((None, 3),), {}, randn(2, 3, 5, 7)),
    ("adaptive-avg2d-unbatched", "AdaptiveAvgPool2d", (4,), {}, randn(3, 6, 9)),
    ("adaptive-avg3d", "AdaptiveAvgPool3d", ((2, 1, 3),), {}, randn(1, 2, 4, 3, 5)),
    ("adaptive-max1d-indices", "AdaptiveMaxPool1d", (3,), dict(return_indices=True), randn(2, 3, 8)),
    ("adaptive-max2d", "AdaptiveMaxPool2d", ((3, 2),), {}, randn(2, 3, 7, 5)),
    ("adaptive-max2d-unbatched-indices", "AdaptiveMaxPool2d", (2,), dict(return_indices=True), randn(3, 5, 4)),
    ("adaptive-max3d", "AdaptiveMaxPool3d", (2,), {}, randn(1, 2, 4, 4, 3)),
]
# fmt: on


@pytest.mark.parametrize("name,args,kwargs,x", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pooling(name, args, kwargs, x):
    check_module(*_build(name, args, kwargs), [x])


def _torch_unpool(name, *args):
    # torch wants int64 indices, JAX (x64 off) hands int32 ones over: cast them. The
    # subclass keeps torch's class name, so the printouts still compare.
    base = getattr(tnn, name)

    def forward(self, input, indices, output_size=None):
        return base.forward(self, input, indices.long(), output_size)

    return type(name, (base,), {"forward": forward})(*args)


# id, n, pool args, pool kwargs, unpool args, input shape, forward kwargs
# fmt: off
UNPOOL_CASES = [
    ("1d", 1, (2,), {}, (2,), (2, 3, 8), {}),
    ("2d-output-size", 2, (2,), dict(stride=2), (2,), (1, 2, 5, 5), dict(output_size=(5, 5))),
    ("2d-stride-pad", 2, (3,), dict(stride=2, padding=1), (3, 2, 1), (2, 2, 5, 5), {}),
    ("2d-stride-pad-output-size", 2, (3,), dict(stride=2, padding=1), (3, 2, 1), (1, 2, 6, 6), dict(output_size=[1, 2, 6, 6])),
    ("3d-unbatched", 3, (2,), {}, (2,), (2, 4, 4, 4), {}),
]
# fmt: on


@pytest.mark.parametrize(
    "n,pool_args,pool_kwargs,unpool_args,shape,call",
    [c[1:] for c in UNPOOL_CASES],
    ids=[c[0] for c in UNPOOL_CASES],
)
def test_max_unpool(n, pool_args, pool_kwargs, unpool_args, shape, call):
    pool = getattr(tnn, f"MaxPool{n}d")(*pool_args, return_indices=True, **pool_kwargs)
    y, idx = pool(torch.from_numpy(randn(*shape)))
    tmod = _torch_unpool(f"MaxUnpool{n}d", *unpool_args)
    jmod = getattr(nn, f"MaxUnpool{n}d")(*unpool_args)
    check_module(tmod, jmod, [y.numpy(), idx.numpy().astype(np.int32)], call)


def test_pool_then_unpool_roundtrip():
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    x = jnp.asarray(_positive(1, 1, 4, 4))  # unpooled zeros must not beat the maxima
    y, idx = pool(x)
    back = unpool(y, idx)
    assert back.shape == x.shape
    np.testing.assert_array_equal(np.asarray(pool(back)[0]), np.asarray(y))


def test_pooling_float64(x64):
    x = randn(2, 2, 5, 6, dtype=np.float64)
    check_module(
        tnn.AvgPool2d(2, stride=1, padding=1).double(), nn.AvgPool2d(2, stride=1, padding=1), [x]
    )
    check_module(tnn.MaxPool2d(3, 2, 1).double(), nn.MaxPool2d(3, 2, 1), [x])


# ---------------------------------------------------------------------------- repr
# fmt: off
REPR_CASES = [
    ("MaxPool1d", (3,), dict(stride=2)),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((3, 2),), dict(stride=(2, 1), padding=1, dilation=2, return_indices=True, ceil_mode=True)),
    ("MaxPool3d", ((1, 2, 2),), dict(stride=1)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", (3, 2, 1, True, False, 2), {}),
    ("AvgPool2d", ((2, 3),), {}),
    ("AvgPool3d", (2,), dict(stride=(1, 2, 1))),
    ("LPPool1d", (2, 3), {}),
    ("LPPool2d", (1.5, 2), dict(stride=1, ceil_mode=True)),
    ("LPPool3d", (float("inf"), (2, 1, 2)), dict(stride=2)),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("AdaptiveAvgPool3d", (2,), {}),
    ("AdaptiveMaxPool1d", (3,), dict(return_indices=True)),
    ("AdaptiveMaxPool2d", ((3, None),), {}),
    ("AdaptiveMaxPool3d", ((2, 1, 2),), {}),
    ("MaxUnpool1d", (2,), {}),
    ("MaxUnpool2d", (2, 1, 1), {}),
    ("MaxUnpool3d", ((2, 1, 2),), dict(stride=2)),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs", REPR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(REPR_CASES)]
)
def test_repr(name, args, kwargs):
    tmod, jmod = _build(name, args, kwargs)
    assert repr(jmod) == repr(tmod)
    for attr in (
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "output_size",
        "return_indices",
        "ceil_mode",
    ):
        if hasattr(tmod, attr):
            assert getattr(jmod, attr) == getattr(tmod, attr), attr


def test_seed_print():
    """Seed 002's dynamic branch builds MaxPool2d / AvgPool2d with kernel_size only."""
    # An rbg key: this printout needs no threefry compile for a 128x3x5x5 weight.
    conv = nn.Conv2d(3, 128, kernel_size=5, key=jax.random.key(0, impl="rbg"))
    model = nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(kernel_size=2))
    assert str(model) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 128, kernel_size=(5, 5), stride=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): AvgPool2d(kernel_size=2, stride=2, padding=0)\n"
        ")"
    )


# ---------------------------------------------------------------------------- errors
# fmt: off
ERRORS = [
    ("max-pad-too-big", "MaxPool2d", (2,), dict(padding=2), ValueError, r"pad should be at most half of effective kernel size"),
    ("max-kernel-zero", "MaxPool1d", (0,), {}, ValueError, r"kernel_size must be positive"),
    ("max-kernel-length", "MaxPool2d", ((2, 2, 2),), {}, ValueError, r"kernel_size must be an int or a sequence of 2 ints"),
    ("avg-stride-zero", "AvgPool2d", (2,), dict(stride=0), ValueError, r"stride must be positive"),
    ("avg1d-pad", "AvgPool1d", (2,), dict(padding=3), ValueError, r"pad should be at most half"),
    ("avg-divisor-zero", "AvgPool2d", (2,), dict(divisor_override=0), ValueError, r"divisor_override must be a non-zero int"),
    ("lp-norm-type", "LPPool2d", ("2", 2), {}, TypeError, r"norm_type must be a number"),
    ("adaptive-length", "AdaptiveAvgPool2d", ((1, 2, 3),), {}, ValueError, r"output_size must be a non-negative int or a tuple of 2 ints"),
    ("adaptive1d-none", "AdaptiveAvgPool1d", (None,), {}, ValueError, r"output_size must be a non-negative int"),
    ("adaptive-negative", "AdaptiveMaxPool3d", (-1,), {}, ValueError, r"output_size=-1"),
    ("unpool-kernel", "MaxUnpool2d", ((2, 2, 2),), {}, ValueError, r"kernel_size must be an int or a sequence of 2 ints"),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_constructor_errors(name, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, name)(*args, **kwargs)


def test_forward_rank_error():
    with pytest.raises(RuntimeError, match=r"max_pool2d"):
        nn.MaxPool2d(2)(jnp.zeros((4, 4)))
