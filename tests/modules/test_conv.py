"""Conv1d/2d/3d, ConvTranspose1d/2d/3d, Unfold and Fold against torch.nn."""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn

# torch's own performance note for even-kernel 'same' padding, raised from C++.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


# Parity cases overwrite the initial weights with torch's, so they draw them from 'rbg'
# keys: the default threefry keys compile a new XLA program for every weight shape
# (~1.5 s CPU each here), rbg's in a tenth of that. Initialisation itself is tested with
# the default key stream below.
FAST_KEY = jax.random.key(0, impl="rbg")


@contextlib.contextmanager
def fast_init():
    """Build layers with ``key=None`` (as users write them) from an rbg key stream."""
    try:
        with jax.default_prng_impl("rbg"):
            nn.manual_seed(0)
            yield
    finally:
        nn.manual_seed(0)  # back to a threefry stream for whatever follows


def _build(name, args, kwargs):
    with fast_init():
        return getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


# id, class, constructor args, constructor kwargs, input shape
# fmt: off
CONV_CASES = [
    ("1d-stride-dilation", "Conv1d", (3, 4, 3), dict(stride=2, dilation=2), (2, 3, 10)),
    ("1d-same-even-kernel", "Conv1d", (2, 3, 4), dict(padding="same"), (2, 2, 8)),
    ("1d-valid-groups-nobias", "Conv1d", (4, 6, 3), dict(padding="valid", groups=2, bias=False), (2, 4, 7)),
    ("2d-tuples", "Conv2d", (3, 4, (3, 2)), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2)), (2, 3, 9, 8)),
    ("2d-depthwise", "Conv2d", (4, 8, 3), dict(groups=4, padding=1), (2, 4, 6, 6)),
    ("2d-same-dilated", "Conv2d", (2, 4, (3, 2)), dict(padding="same", dilation=(2, 3)), (2, 2, 7, 6)),
    ("2d-nobias-groups-stride", "Conv2d", (6, 4, (2, 3)), dict(groups=2, stride=2, bias=False), (1, 6, 9, 7)),
    ("2d-unbatched", "Conv2d", (3, 4, 3), dict(stride=2, padding=1), (3, 7, 6)),
    ("3d-stride-pad-groups", "Conv3d", (4, 2, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1), groups=2), (1, 4, 5, 4, 5)),
    ("3d-same-unbatched", "Conv3d", (2, 3, 3), dict(padding="same", bias=False), (2, 4, 3, 4)),
]
# fmt: on

# Non-zero padding modes pad with F.pad first, as torch's _conv_forward.
# fmt: off
PAD_MODE_CASES = [
    ("1d-reflect", "Conv1d", (2, 3, 3), dict(padding=2, padding_mode="reflect"), (2, 2, 6)),
    ("1d-circular-unbatched", "Conv1d", (2, 3, 3), dict(padding=1, padding_mode="circular"), (2, 6)),
    ("2d-replicate-stride", "Conv2d", (2, 3, 3), dict(padding=1, stride=2, padding_mode="replicate"), (2, 2, 6, 5)),
    ("2d-circular-same-even", "Conv2d", (2, 3, (4, 3)), dict(padding="same", padding_mode="circular"), (1, 2, 6, 5)),
    ("3d-circular-dilated", "Conv3d", (2, 2, 2), dict(padding="same", dilation=2, padding_mode="circular"), (1, 2, 4, 3, 4)),
]
# fmt: on

# id, class, constructor args, constructor kwargs, input shape, forward kwargs
# fmt: off
CONV_T_CASES = [
    ("1d-stride-outpad", "ConvTranspose1d", (3, 2, 3), dict(stride=3, padding=1, output_padding=2), (2, 3, 4), {}),
    ("1d-output-size", "ConvTranspose1d", (2, 2, 3), dict(stride=2), (2, 2, 4), dict(output_size=[10])),
    ("2d-plain-nobias", "ConvTranspose2d", (2, 3, (3, 2)), dict(bias=False), (2, 2, 4, 3), {}),
    ("2d-stride-outpad-groups-dil", "ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2)), (2, 4, 3, 4), {}),
    ("2d-output-size", "ConvTranspose2d", (2, 3, 3), dict(stride=2, padding=1), (1, 2, 3, 4), dict(output_size=(6, 8))),
    ("2d-unbatched-output-size", "ConvTranspose2d", (2, 3, 2), dict(stride=(2, 3)), (2, 3, 3), dict(output_size=[3, 7, 10])),
    ("3d-stride-pad-groups", "ConvTranspose3d", (2, 4, 2), dict(stride=2, padding=(1, 0, 1), output_padding=(1, 0, 0), groups=2), (1, 2, 3, 2, 3), {}),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs,shape", [c[1:] for c in CONV_CASES], ids=[c[0] for c in CONV_CASES]
)
def test_conv(name, args, kwargs, shape):
    check_module(*_build(name, args, kwargs), [randn(*shape)])


@pytest.mark.parametrize(
    "name,args,kwargs,shape", [c[1:] for c in PAD_MODE_CASES], ids=[c[0] for c in PAD_MODE_CASES]
)
def test_conv_padding_mode(name, args, kwargs, shape):
    check_module(*_build(name, args, kwargs), [randn(*shape)])


@pytest.mark.parametrize(
    "name,args,kwargs,shape,call", [c[1:] for c in CONV_T_CASES], ids=[c[0] for c in CONV_T_CASES]
)
def test_conv_transpose(name, args, kwargs, shape, call):
    check_module(*_build(name, args, kwargs), [randn(*shape)], call)


def test_conv_float64(x64):
    tmod = tnn.Conv2d(2, 4, (3, 2), padding=(1, 2), groups=2, padding_mode="reflect").double()
    jmod = nn.Conv2d(
        2,
        4,
        (3, 2),
        padding=(1, 2),
        groups=2,
        padding_mode="reflect",
        dtype=jnp.float64,
        key=FAST_KEY,
    )
    check_module(tmod, jmod, [randn(2, 2, 5, 4, dtype=np.float64)])
    assert jmod.weight.dtype == jnp.float64


def test_conv_transpose_float64(x64):
    tmod = tnn.ConvTranspose2d(2, 3, 3, stride=2).double()
    jmod = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=jnp.float64, key=FAST_KEY)
    check_module(tmod, jmod, [randn(1, 2, 3, 3, dtype=np.float64)], dict(output_size=(8, 8)))


# ---------------------------------------------------------------------------- seeds
def test_seed000_sequential():
    """Seed 000: nn.Sequential(Conv2d(1, 20, 5), ReLU(), Conv2d(20, 64, 5), ReLU())."""
    tmod = tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.Conv2d(20, 64, 5), tnn.ReLU())
    with fast_init():
        jmod = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
    assert str(jmod) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 20, kernel_size=(5, 5), stride=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): Conv2d(20, 64, kernel_size=(5, 5), stride=(1, 1))\n"
        "  (3): ReLU()\n"
        ")"
    )
    # Weight gradients sum 2·24·24 products; float32 summation order differs by ~1e-5
    # absolute on entries that cancel to ~0.04 out of a gradient of magnitude ~35.
    out = check_module(tmod, jmod, [randn(2, 1, 28, 28)], grad_atol=1e-4)
    assert out.shape == (2, 64, 20, 20)


def _seed002_cnn(lib):
    class CNN(lib.Module):
        def __init__(self):
            super(CNN, self).__init__()
            self.conv1 = lib.Conv2d(
                in_channels=1, out_channels=16, kernel_size=3, stride=1, padding=1
            )
            self.relu = lib.ReLU()
            self.pool = lib.MaxPool2d(kernel_size=2, stride=2)
            self.conv2 = lib.Conv2d(
                in_channels=16, out_channels=32, kernel_size=3, stride=1, padding=1
            )
            self.fc = lib.Linear(32 * 7 * 7, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = self.relu(x)
            x = self.pool(x)
            x = self.conv2(x)
            x = self.relu(x)
            x = self.pool(x)
            x = x.reshape(-1, 32 * 7 * 7)
            x = self.fc(x)
            return x

    return CNN()


def test_seed002_cnn():
    with fast_init():
        tmod, jmod = _seed002_cnn(tnn), _seed002_cnn(nn)
    assert str(jmod) == (
        "CNN(\n"
        "  (conv1): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (relu): ReLU()\n"
        "  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (conv2): Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (fc): Linear(in_features=1568, out_features=10, bias=True)\n"
        ")"
    )
    out = check_module(tmod, jmod, [randn(2, 1, 28, 28)], grad_atol=1e-4)  # as seed 000
    assert out.shape == (2, 10)


# ---------------------------------------------------------------------------- unfold / fold
# fmt: off
UNFOLD_CASES = [
    ("tuples", ((2, 3),), dict(dilation=(2, 1), padding=1, stride=(2, 3)), (2, 2, 7, 8)),
    ("unbatched", (3,), dict(stride=2), (2, 5, 5)),
]
# fmt: on


@pytest.mark.parametrize(
    "args,kwargs,shape", [c[1:] for c in UNFOLD_CASES], ids=[c[0] for c in UNFOLD_CASES]
)
def test_unfold(args, kwargs, shape):
    check_module(*_build("Unfold", args, kwargs), [randn(*shape)])


@pytest.mark.parametrize(
    "args,kwargs,shape", [c[1:] for c in UNFOLD_CASES], ids=[c[0] for c in UNFOLD_CASES]
)
def test_fold(args, kwargs, shape):
    # Fold's input is Unfold's output; its output_size is Unfold's input size.
    cols = tnn.Unfold(*args, **kwargs)(torch.from_numpy(randn(*shape))).numpy()
    check_module(*_build("Fold", (shape[-2:], *args), kwargs), [cols])


# ---------------------------------------------------------------------------- initialisation
# id, class, args, kwargs: big enough layers for tight statistics.
# fmt: off
INIT_CASES = [
    ("conv2d", "Conv2d", (64, 128, 3), {}),
    ("conv1d-groups", "Conv1d", (32, 256, 5), dict(groups=4)),
    ("conv-transpose2d-groups", "ConvTranspose2d", (64, 128, 3), dict(groups=2)),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs", [c[1:] for c in INIT_CASES], ids=[c[0] for c in INIT_CASES]
)
def test_init_statistics(name, args, kwargs):
    """Weight and bias ~ U(±1/√fan_in), fan_in from torch's own weight (torch's bound)."""
    tmod, jmod = getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert jmod.weight.shape == tuple(tmod.weight.shape)
    fan_in, _ = tnn.init._calculate_fan_in_and_fan_out(tmod.weight)
    bound = 1 / math.sqrt(fan_in)
    for arr, n_min in ((np.asarray(jmod.weight), 0.99), (np.asarray(jmod.bias), 0.8)):
        assert np.abs(arr).max() <= bound
        # The extremes reach close to the bound: with >= 64 draws, P(max|x| < 0.8 b) < 1e-6.
        assert np.abs(arr).max() >= n_min * bound
    w = np.asarray(jmod.weight).ravel()
    # std of U(-b, b) is b/√3; with >= 40k draws the sample std is within 1%.
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.01
    assert abs(w.mean()) < 0.01 * bound


def test_init_key_and_stream():
    a = nn.Conv2d(2, 3, 3, key=jax.random.key(1))
    b = nn.Conv2d(2, 3, 3, key=jax.random.key(1))
    c = nn.Conv2d(2, 3, 3, key=jax.random.key(2))
    assert (a.weight == b.weight).all() and (a.bias == b.bias).all()
    assert not (a.weight == c.weight).all()
    assert not (a.weight.ravel()[: a.bias.size] == a.bias).all()  # separate keys
    nn.manual_seed(5)
    d = nn.Conv2d(2, 3, 3)
    nn.manual_seed(5)
    assert (nn.Conv2d(2, 3, 3).weight == d.weight).all()


def test_device_and_nobias():
    m = nn.Conv2d(2, 3, 3, bias=False, device="cpu", key=FAST_KEY)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    assert m.weight.devices() == {jax.devices("cpu")[0]}


# ---------------------------------------------------------------------------- repr
# fmt: off
REPR_CASES = [
    ("Conv1d", (16, 33, 3), dict(stride=2)),
    ("Conv1d", (2, 4, 3), dict(padding="same")),
    ("Conv2d", (1, 20, 5), {}),
    ("Conv2d", (2, 4, 3), dict(padding="valid")),
    ("Conv2d", (16, 33, (3, 5)), dict(stride=(2, 1), padding=(4, 2), dilation=(3, 1))),
    ("Conv2d", (4, 8, 3), dict(groups=4, bias=False, padding_mode="reflect", padding=1)),
    ("Conv2d", (4, 8, [3, 3]), dict(stride=[1, 2], padding_mode="circular")),
    ("Conv3d", (16, 33, (3, 5, 2)), dict(stride=(2, 1, 1), padding=(4, 2, 0))),
    ("ConvTranspose1d", (2, 4, 3), {}),
    ("ConvTranspose2d", (16, 33, (3, 5)), dict(stride=(2, 1), padding=(4, 2), output_padding=(1, 0), groups=1, dilation=2)),
    ("ConvTranspose3d", (4, 4, 3), dict(groups=2, bias=False)),
    ("Unfold", ((2, 3),), dict(dilation=2, padding=1, stride=2)),
    ("Fold", ((4, 5), 2), {}),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs", REPR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(REPR_CASES)]
)
def test_repr(name, args, kwargs):
    tmod, jmod = _build(name, args, kwargs)
    assert repr(jmod) == repr(tmod)
    # torch's attributes, under torch's names and in torch's form.
    for attr in (
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "output_padding",
        "groups",
        "padding_mode",
    ):
        if hasattr(tmod, attr):
            assert getattr(jmod, attr) == getattr(tmod, attr), attr
    if hasattr(tmod, "_reversed_padding_repeated_twice"):
        assert jmod._reversed_padding_repeated_twice == tuple(tmod._reversed_padding_repeated_twice)


# ---------------------------------------------------------------------------- errors
# fmt: off
ERRORS = [
    ("float-out-channels", "Conv2d", (8, 8 / 4, 1), {}, TypeError, r"out_channels must be an int, got float 2\.0.*in_channel // 4"),
    ("float-in-channels", "Conv2d", (8 / 4, 2, 1), {}, TypeError, r"in_channels must be an int"),
    ("missing-kernel-size", "Conv2d", (2, 2), {}, TypeError, r"kernel_size"),
    ("groups-in", "Conv2d", (3, 4, 3), dict(groups=2), ValueError, r"in_channels must be divisible by groups"),
    ("groups-out", "Conv2d", (4, 3, 3), dict(groups=2), ValueError, r"out_channels must be divisible by groups"),
    ("groups-zero", "Conv1d", (4, 4, 3), dict(groups=0), ValueError, r"groups must be a positive integer"),
    ("padding-string", "Conv2d", (2, 2, 3), dict(padding="full"), ValueError, r"Invalid padding string 'full', should be one of"),
    ("same-strided", "Conv2d", (2, 2, 3), dict(padding="same", stride=2), ValueError, r"padding='same' is not supported for strided convolutions"),
    ("padding-mode", "Conv2d", (2, 2, 3), dict(padding_mode="foo"), ValueError, r"padding_mode must be one of .*, but got padding_mode='foo'"),
    ("kernel-length", "Conv2d", (2, 2, (3, 3, 3)), {}, ValueError, r"kernel_size must be an int or a sequence of 2 ints"),
    ("kernel-zero", "Conv3d", (2, 2, 0), {}, ValueError, r"kernel_size must be positive"),
    ("negative-padding", "Conv1d", (2, 2, 3), dict(padding=-1), ValueError, r"padding must be non-negative"),
    ("transpose-padding-mode", "ConvTranspose2d", (2, 2, 3), dict(padding_mode="reflect"), ValueError, r'Only "zeros" padding mode is supported for ConvTranspose2d'),
    ("transpose-padding-string", "ConvTranspose1d", (2, 2, 3), dict(padding="same"), ValueError, r"ConvTranspose1d does not take a padding string"),
    ("unfold-kernel", "Unfold", (0,), {}, ValueError, r"kernel_size must be positive"),
    ("fold-output-size", "Fold", ((4, 5, 6), 2), {}, ValueError, r"output_size must be an int or a sequence of 2 ints"),
]
# fmt: on


@pytest.mark.parametrize(
    "name,args,kwargs,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_constructor_errors(name, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(nn, name)(*args, **kwargs)


def test_float_channels_like_torch():
    """Seed 003 passes ``in_channel / 4``: torch raises a TypeError too."""
    with pytest.raises(TypeError):
        tnn.Conv2d(8, 8 / 4, kernel_size=1)
    with pytest.raises(TypeError, match=r"in_channel // 4"):
        nn.Conv2d(8, 8 / 4, kernel_size=1)


def test_output_size_errors():
    m = nn.ConvTranspose2d(2, 2, 3, stride=2, key=FAST_KEY)
    x = jnp.ones((1, 2, 3, 3))
    with pytest.raises(
        ValueError,
        match=r"requested an output size of \[9, 10\], but valid sizes range from \[7, 7\] to \[8, 8\]",
    ):
        m(x, output_size=(9, 10))
    with pytest.raises(ValueError, match=r"output_size must have 2 or 4 elements \(got 3\)"):
        m(x, output_size=(1, 7, 7))


def test_forward_shape_error():
    with pytest.raises(RuntimeError, match=r"expected input\[2, 3, 28, 28\] to have 1 channels"):
        nn.Conv2d(1, 20, 5, key=FAST_KEY)(jnp.zeros((2, 3, 28, 28)))
