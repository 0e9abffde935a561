"""Lazy modules against torch.nn: printout and state_dict before and after the first call,
the class they become, outputs after materialisation, load_state_dict, and the jit rule."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn

# rbg keys: threefry compiles one XLA program per weight shape (see tests/modules/test_conv.py).
KEY = jax.random.key(0, impl="rbg")

# id, class, constructor args, constructor kwargs, input shape
# fmt: off
CASES = [
    ("linear", "LazyLinear", (4,), {}, (2, 3)),
    ("linear-nobias-unbatched", "LazyLinear", (4,), dict(bias=False), (3,)),
    ("conv2d-unbatched", "LazyConv2d", (4, 3), dict(stride=2, bias=False), (3, 7, 6)),
    ("convT1d", "LazyConvTranspose1d", (4, 3), dict(stride=2, output_padding=1), (2, 3, 5)),
    ("bn1d", "LazyBatchNorm1d", (), {}, (4, 3)),
    ("bn2d-noaffine", "LazyBatchNorm2d", (), dict(affine=False), (2, 3, 4, 4)),
    ("bn3d-nostats", "LazyBatchNorm3d", (), dict(track_running_stats=False, momentum=None), (2, 3, 2, 2, 2)),
    ("in2d-nobias", "LazyInstanceNorm2d", (), dict(bias=False), (2, 3, 4, 4)),
    ("in3d-affine-only", "LazyInstanceNorm3d", (), dict(track_running_stats=False), (2, 3, 2, 3, 2)),
]
# fmt: on


def _build(name, args, kwargs):
    jkw = dict(kwargs, key=KEY) if "Norm" not in name else kwargs
    return getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **jkw)


def _entries(module) -> dict[str, str]:
    """state_dict as (kind or shape) per key: placeholders by repr, arrays by shape."""
    out = {}
    for k, v in module.state_dict().items():
        if isinstance(v, tnn.parameter.UninitializedTensorMixin) or isinstance(
            v, nn.UninitializedParameter | nn.UninitializedBuffer
        ):
            out[k] = repr(v)
        else:
            out[k] = tuple(v.shape)
    return out


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_first_call_matches_torch(name, args, kwargs, shape):
    tmod, jmod = _build(name, args, kwargs)
    assert repr(jmod) == repr(tmod)
    assert _entries(jmod) == _entries(tmod)
    assert isinstance(jmod, getattr(nn, name).cls_to_become)
    x = randn(*shape)
    tmod(torch.from_numpy(x))
    nn.forward(jmod, jnp.asarray(x))  # materialises jmod in place
    assert type(jmod).__name__ == type(tmod).__name__
    assert type(jmod) is getattr(nn, type(tmod).__name__)
    assert repr(jmod) == repr(tmod)
    assert _entries(jmod) == _entries(tmod)


# One parity check per family after materialisation (the complete classes have their own
# parity suites); training-mode BatchNorm also checks the returned running statistics.
@pytest.mark.parametrize("case", ["linear", "bn1d"])
def test_materialised_parity(case):
    _, name, args, kwargs, shape = next(c for c in CASES if c[0] == case)
    tmod, jmod = _build(name, args, kwargs)
    x = randn(*shape)
    tmod(torch.from_numpy(x))
    nn.forward(jmod, jnp.asarray(x))  # materialises jmod in place
    check_module(tmod, jmod, [randn(*shape, seed=1)])


def test_initialisation_uses_torch_distributions():
    m = nn.LazyLinear(200, key=KEY)
    m(jnp.ones((1, 50)))
    bound = 1 / math.sqrt(50)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound
    c = nn.LazyConv2d(64, 3, groups=2, key=KEY)
    c(jnp.ones((1, 8, 5, 5)))
    fan_in = 4 * 9
    cw = np.asarray(c.weight)
    assert np.abs(cw).max() <= 1 / math.sqrt(fan_in)
    assert abs(cw.std() - 1 / math.sqrt(3 * fan_in)) < 0.05 / math.sqrt(3 * fan_in)
    bn = nn.LazyBatchNorm1d().eval()
    bn(jnp.ones((2, 5)))
    for got, want in [(bn.weight, 1), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 1)]:
        np.testing.assert_array_equal(np.asarray(got), np.full(5, want, np.float32))


def test_same_key_as_the_complete_class():
    lazy = nn.LazyLinear(4, key=KEY)
    lazy(jnp.ones(3))
    full = nn.Linear(3, 4, key=KEY)
    np.testing.assert_array_equal(lazy.weight, full.weight)
    np.testing.assert_array_equal(lazy.bias, full.bias)
    # key=None draws the key at construction: the order of first calls does not matter.
    with jax.default_prng_impl("rbg"):
        nn.manual_seed(1)
        a, b = nn.LazyLinear(2), nn.LazyLinear(2)
        b(jnp.ones(3))
        a(jnp.ones(3))
        nn.manual_seed(1)
        a2 = nn.LazyLinear(2)
        a2(jnp.ones(3))
    nn.manual_seed(0)
    np.testing.assert_array_equal(a.weight, a2.weight)


def test_uninitialised_inside_jit_raises_with_the_fix():
    model = nn.Sequential(nn.LazyLinear(4, key=KEY), nn.ReLU())
    with pytest.raises(RuntimeError, match=r"LazyLinear has not been initialised.*once outside"):
        jax.jit(lambda m, x: m(x))(model, jnp.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"nn\.Linear\(in_features=\.\.\."):
        jax.grad(lambda x: model(x).sum())(jnp.ones((2, 3)))
    model(jnp.ones((2, 3)))  # the dry run
    out = jax.jit(lambda m, x: m(x))(model, jnp.ones((2, 3)))
    np.testing.assert_allclose(out, model(jnp.ones((2, 3))))
    assert repr(model[0]) == "Linear(in_features=3, out_features=4, bias=True)"


def test_forward_returns_buffers_at_the_first_call():
    bn = nn.LazyBatchNorm1d()
    x = randn(6, 3)
    out, new = nn.forward(bn, jnp.asarray(x))
    tbn = tnn.LazyBatchNorm1d()
    tout = tbn(torch.from_numpy(x))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new.running_var, tbn.running_var.numpy(), rtol=1e-5)
    assert int(new.num_batches_tracked) == 1 and type(new) is nn.BatchNorm1d


@pytest.mark.parametrize(
    ("name", "args", "full"),
    [
        ("LazyLinear", (4,), lambda: tnn.Linear(3, 4)),
        ("LazyConvTranspose2d", (4, 3), lambda: tnn.ConvTranspose2d(6, 4, 3, groups=2)),
        ("LazyConv1d", (4, 3), lambda: tnn.Conv1d(6, 4, 3, groups=2)),
        ("LazyBatchNorm1d", (), lambda: tnn.BatchNorm1d(5)),
        (
            "LazyInstanceNorm2d",
            (),
            lambda: tnn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        ),
    ],
)
def test_load_state_dict_materialises(name, args, full):
    tfull = full()
    kwargs = dict(groups=2) if "Conv" in name else {}
    lazy = getattr(nn, name)(*args, **kwargs)
    result = lazy.load_state_dict(tfull.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    # Complete at once, with the size read from the loaded shapes (torch keeps the lazy
    # class until the next call and then prints a size of 0).
    assert repr(lazy) == repr(tfull)
    for k, v in tfull.state_dict().items():
        np.testing.assert_array_equal(np.asarray(lazy.state_dict()[k]), v.numpy())


def test_load_state_dict_checks_shapes_and_partial_loads():
    lazy = nn.LazyLinear(4)
    with pytest.raises(
        RuntimeError, match=r"size mismatch for bias: .*torch.Size\(\[5\]\).*torch.Size\(\[4\]\)"
    ):
        lazy.load_state_dict(
            {"weight": np.ones((5, 3), np.float32), "bias": np.ones(5, np.float32)}
        )
    assert repr(lazy) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    # A bias alone does not say in_features: the module stays lazy and keeps the bias.
    result = lazy.load_state_dict({"bias": np.arange(4, dtype=np.float32)}, strict=False)
    assert result.missing_keys == ["weight"] and type(lazy) is nn.LazyLinear
    lazy(jnp.ones((1, 3)))
    assert type(lazy) is nn.Linear and lazy.weight.shape == (4, 3)
    np.testing.assert_array_equal(lazy.bias, np.arange(4))


def test_modes_dtype_and_frozen_state_survive():
    m = nn.LazyLinear(4, key=KEY).eval().requires_grad_(False)
    m.to(jnp.bfloat16)
    m(jnp.ones((1, 3), jnp.bfloat16))
    assert not m.training and m.weight.dtype == jnp.bfloat16
    assert not m.parameter_requires_grad("weight")
    assert jax.tree.leaves(nn.trainable(m)) == [False, False]


def test_instance_norm_unbatched_reads_the_channels():
    # torch reads shape[1] of an unbatched (C, L) input (L) and then raises; jaxnn reads C.
    m = nn.LazyInstanceNorm1d()
    out, _ = nn.forward(m, jnp.asarray(randn(3, 5)))
    assert repr(m).startswith("InstanceNorm1d(3,") and out.shape == (3, 5)


@pytest.mark.parametrize(
    ("module", "shape", "match"),
    [
        (
            lambda: nn.LazyConv2d(4, 3),
            (2, 3),
            r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d",
        ),
        (
            lambda: nn.LazyBatchNorm2d(),
            (2, 3, 4),
            r"LazyBatchNorm2d .* takes an input of 4D, got 3D",
        ),
        (lambda: nn.LazyLinear(2), (), r"LazyLinear reads in_features .* 0-d"),
        (
            lambda: nn.LazyConv2d(4, 3, groups=2),
            (1, 3, 5, 5),
            r"in_channels must be divisible by groups",
        ),
    ],
)
def test_input_errors(module, shape, match):
    m = module()
    with pytest.raises((ValueError, RuntimeError), match=match):
        m(jnp.ones(shape))
    assert type(m).__name__.startswith("Lazy")


def test_from_torch_keeps_placeholders():
    tmodel = tnn.Sequential(tnn.LazyConv2d(4, 3), tnn.LazyBatchNorm2d(), tnn.LazyLinear(2))
    model = nn.from_torch(tmodel)
    assert repr(model) == repr(tmodel) and _entries(model) == _entries(tmodel)
    nn.forward(model.eval(), jnp.ones((1, 3, 5, 5)))
    assert repr(model[0]) == "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))"
