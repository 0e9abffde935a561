"""Parity of the normalisation layers with torch.nn, and BatchNorm's running statistics."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import assert_close, check_module, copy_from_torch, randn, to_numpy


class Case(NamedTuple):
    id: str
    cls: str
    args: tuple
    kwargs: dict
    shape: tuple
    train: bool = True
    random_stats: bool = False  # load random running statistics (and weights) from torch


# Few distinct input shapes: JAX compiles each eager primitive once per shape, which is most
# of this file's run time. C = 4 channels throughout.
S2, S3, S4, S5 = (3, 4), (2, 4, 3), (2, 4, 3, 3), (2, 4, 2, 2, 3)

# fmt: off
CASES = [
    # BatchNorm: training (batch statistics, running update) and eval (running statistics)
    Case("bn1d-2d", "BatchNorm1d", (4,), {}, S2),
    Case("bn1d-3d", "BatchNorm1d", (4,), {}, S3, random_stats=True),
    Case("bn1d-3d-eval", "BatchNorm1d", (4,), {}, S3, train=False, random_stats=True),
    Case("bn1d-momentum-none", "BatchNorm1d", (4,), dict(momentum=None), S2, random_stats=True),
    Case("bn1d-no-affine", "BatchNorm1d", (4,), dict(affine=False, eps=1e-3, momentum=0.3), S3),
    Case("bn1d-no-bias", "BatchNorm1d", (4,), dict(bias=False), S2, random_stats=True),
    Case("bn1d-untracked", "BatchNorm1d", (4,), dict(track_running_stats=False), S2),
    Case("bn1d-untracked-eval", "BatchNorm1d", (4,), dict(track_running_stats=False), S2, train=False),
    Case("bn2d", "BatchNorm2d", (4,), {}, S4, random_stats=True),
    Case("bn2d-eval", "BatchNorm2d", (4,), dict(eps=1e-2), S4, train=False, random_stats=True),
    Case("bn3d", "BatchNorm3d", (4,), dict(momentum=0.5), S5),
    Case("bn3d-eval", "BatchNorm3d", (4,), {}, S5, train=False, random_stats=True),
    # InstanceNorm: batched and unbatched, with and without running statistics
    Case("in1d", "InstanceNorm1d", (4,), {}, S3),
    Case("in1d-unbatched", "InstanceNorm1d", (4,), {}, S3[1:]),
    Case("in1d-affine-track", "InstanceNorm1d", (4,), dict(affine=True, track_running_stats=True), S3, random_stats=True),
    Case("in1d-track-eval", "InstanceNorm1d", (4,), dict(track_running_stats=True), S3, train=False, random_stats=True),
    Case("in2d-affine-no-bias", "InstanceNorm2d", (4,), dict(affine=True, bias=False, eps=1e-3), S4, random_stats=True),
    Case("in2d-unbatched-track", "InstanceNorm2d", (4,), dict(track_running_stats=True, momentum=0.4), S4[1:]),
    Case("in3d", "InstanceNorm3d", (4,), dict(affine=True), S5, random_stats=True),
    Case("in3d-unbatched-eval", "InstanceNorm3d", (4,), dict(track_running_stats=True), S5[1:], train=False, random_stats=True),
    # LayerNorm grid: normalized_shape x affine x bias x eps
    Case("ln-int", "LayerNorm", (3,), {}, S3, random_stats=True),
    Case("ln-tuple", "LayerNorm", ((4, 3),), dict(eps=1e-3), S3, random_stats=True),
    Case("ln-no-bias", "LayerNorm", ([4],), dict(bias=False), S2, random_stats=True),
    Case("ln-no-affine", "LayerNorm", ((4, 3),), dict(elementwise_affine=False), S3),
    Case("ln-unbatched", "LayerNorm", (4,), {}, (4,), random_stats=True),
    # GroupNorm grid: groups x affine x bias x input rank
    Case("gn-1-group", "GroupNorm", (1, 4), {}, S3, random_stats=True),
    Case("gn-2-groups-4d", "GroupNorm", (2, 4), dict(eps=1e-3), S4, random_stats=True),
    Case("gn-per-channel", "GroupNorm", (4, 4), dict(bias=False), S3, random_stats=True),
    Case("gn-no-affine-2d", "GroupNorm", (2, 4), dict(affine=False), S2),
    # LocalResponseNorm
    Case("lrn-3d", "LocalResponseNorm", (2,), {}, S3),
    Case("lrn-4d", "LocalResponseNorm", (3,), dict(alpha=0.1, beta=0.5, k=2.0), S4),
    # RMSNorm
    Case("rms-int", "RMSNorm", (3,), {}, S3, random_stats=True),
    Case("rms-tuple-eps", "RMSNorm", ((4, 3),), dict(eps=1e-3), S3, random_stats=True),
    Case("rms-no-affine", "RMSNorm", (4,), dict(elementwise_affine=False), (4,)),
]
# fmt: on


def _randomise(tmod: tnn.Module, seed: int = 1) -> None:
    """Random affine parameters and running statistics (positive variances), as a trained model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(tmod.named_parameters()) + list(tmod.named_buffers()):
            if name == "num_batches_tracked":
                t.fill_(7)
            elif name == "running_var":
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype))


def _pair(case: Case, dtype: Any = None) -> tuple[tnn.Module, nn.Module]:
    tmod = getattr(tnn, case.cls)(*case.args, **case.kwargs)
    jkw = dict(case.kwargs)
    if dtype is not None and case.cls != "LocalResponseNorm":
        jkw["dtype"] = dtype
        tmod = tmod.double()
    jmod = getattr(nn, case.cls)(*case.args, **jkw)
    if case.random_stats:
        _randomise(tmod)
    tmod.train(case.train)
    return tmod, jmod


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parity(case):
    tmod, jmod = _pair(case)
    check_module(tmod, jmod, [randn(*case.shape)])


F64 = ["bn1d-momentum-none", "in1d-affine-track", "ln-tuple"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in F64], ids=F64)
def test_parity_float64(case, x64):
    tmod, jmod = _pair(case, jnp.float64)
    check_module(tmod, jmod, [randn(*case.shape, dtype=np.float64)])


# ------------------------------------------------------------------ running statistics


def _torch_steps(tmod: tnn.Module, xs: list[np.ndarray]) -> None:
    for x in xs:
        tmod(torch.from_numpy(x))


@pytest.mark.parametrize(
    "cls, kwargs, shape",
    [
        ("BatchNorm1d", {}, (4, 3)),
        ("BatchNorm2d", dict(momentum=None), (3, 3, 2, 2)),
        ("BatchNorm1d", dict(momentum=None, affine=False), (5, 3, 2)),
        ("InstanceNorm1d", dict(track_running_stats=True, momentum=0.2), (2, 3, 4)),
    ],
    ids=["bn1d", "bn2d-cumulative", "bn1d-cumulative-no-affine", "in1d-tracked"],
)
def test_buffers_after_three_training_steps(cls, kwargs, shape):
    tmod = getattr(tnn, cls)(shape[1], **kwargs)
    jmod = getattr(nn, cls)(shape[1], **kwargs)
    xs = [randn(*shape, seed=s) * (s + 1) + s for s in range(3)]
    _torch_steps(tmod, xs)
    step = jax.jit(nn.forward)
    for x in xs:
        _, jmod = step(jmod, jnp.asarray(x))
    for name, tbuf in tmod.named_buffers():
        assert_close(jmod.get_buffer(name), tbuf, rtol=1e-5, atol=1e-6, what=name)
    if cls.startswith("Batch"):
        assert int(jmod.num_batches_tracked) == 3
        assert jmod.num_batches_tracked.dtype == jnp.int32  # torch's int64 without x64


def test_eval_mode_leaves_buffers_and_plain_call_warns():
    bn = nn.BatchNorm1d(2)
    x = jnp.asarray(randn(4, 2))
    _, same = nn.forward(bn.eval(), x)
    assert int(same.num_batches_tracked) == 0
    np.testing.assert_array_equal(np.asarray(same.running_mean), 0.0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with pytest.warns(
        nn.BufferUpdateDroppedWarning, match="BatchNorm1d computed new buffer values"
    ):
        out = model(x)
    expected, _ = nn.forward(model, x)  # the same output, with the update kept
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_shared_batchnorm_called_twice_updates_twice_like_torch():
    tbn = tnn.BatchNorm1d(3)
    tmodel = tnn.Sequential(tbn, tnn.Tanh(), tbn)
    bn = nn.BatchNorm1d(3)
    model = nn.Sequential(bn, nn.Tanh(), bn)
    x = randn(5, 3)
    tout = tmodel(torch.from_numpy(x))
    out, new = nn.forward(model, jnp.asarray(x))
    assert_close(out, tout, rtol=1e-5, atol=1e-5)
    for name, tbuf in tmodel.named_buffers():
        assert_close(new.get_buffer(name), tbuf, rtol=1e-5, atol=1e-6, what=name)
    assert int(new[0].num_batches_tracked) == 2 and new[0] is new[2]


# ------------------------------------------------------------------ training under jit (the issue)


def _twins(momentum: float | None) -> tuple[tnn.Module, nn.Module]:
    """A small MLP with BatchNorm1d and (on a reshaped activation) BatchNorm2d, in both libraries."""

    def build(lib):
        return lib.Sequential(
            lib.Linear(6, 8),
            lib.BatchNorm1d(8),
            lib.ReLU(),
            lib.Linear(8, 8),
            lib.Unflatten(1, (2, 2, 2)),
            lib.BatchNorm2d(2, momentum=momentum),
            lib.Flatten(),
            lib.Linear(8, 3),
        )

    tmodel, jmodel = build(tnn), build(nn)
    copy_from_torch(jmodel, tmodel)
    return tmodel, jmodel


def test_training_20_steps_under_jit_tracks_torch():
    # BatchNorm1d with momentum 0.1, BatchNorm2d with the cumulative average (momentum=None).
    tmodel, model = _twins(None)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((20, 16, 6)).astype(np.float32)
    ys = rng.standard_normal((20, 16, 3)).astype(np.float32)

    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    for x, y in zip(xs, ys, strict=True):
        topt.zero_grad()
        loss = ((tmodel(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        topt.step()

    mask = nn.trainable(model)
    params, rest = eqx.partition(model, mask)

    @jax.jit
    def step(params, rest, x, y):
        def loss_fn(p):
            out, new = nn.forward(eqx.combine(p, rest), x)
            return jnp.mean((out - y) ** 2), eqx.partition(new, mask)[1]

        (_, rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), rest

    for x, y in zip(xs, ys, strict=True):
        params, rest = step(params, rest, jnp.asarray(x), jnp.asarray(y))
    trained = eqx.combine(params, rest)
    tstate = tmodel.state_dict()
    assert list(trained.state_dict()) == list(tstate)
    for name, value in trained.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(value), to_numpy(tstate[name]), rtol=1e-4, atol=1e-4, err_msg=name
        )
    assert int(trained[1].num_batches_tracked) == 20 and int(trained[5].num_batches_tracked) == 20


# ------------------------------------------------------------------ construction


def test_default_initialisation_matches_torch():
    for cls, args, kwargs in [
        ("BatchNorm2d", (5,), {}),
        ("InstanceNorm1d", (5,), dict(affine=True, track_running_stats=True)),
        ("LayerNorm", ((2, 3),), {}),
        ("GroupNorm", (1, 5), {}),
        ("RMSNorm", (5,), {}),
    ]:
        tmod, jmod = getattr(tnn, cls)(*args, **kwargs), getattr(nn, cls)(*args, **kwargs)
        tstate, jstate = tmod.state_dict(), jmod.state_dict()
        assert list(jstate) == list(tstate)
        for name, value in jstate.items():
            np.testing.assert_array_equal(
                np.asarray(value), to_numpy(tstate[name]), err_msg=f"{cls}.{name}"
            )
    bn = nn.BatchNorm1d(3)
    assert bn.running_mean.dtype == jnp.float32 and bn.num_batches_tracked.shape == ()
    mask = nn.trainable(bn)  # buffers are never trained
    assert mask.weight is True and mask.bias is True
    assert mask.running_mean is mask.running_var is mask.num_batches_tracked is False


def test_float64_construction_and_count_dtype(x64):
    bn = nn.BatchNorm1d(3, dtype=jnp.float64)
    assert bn.weight.dtype == bn.running_var.dtype == jnp.float64
    assert bn.num_batches_tracked.dtype == jnp.int64  # torch's long, with x64
    bn.load_state_dict(tnn.BatchNorm1d(3).double().state_dict())
    assert bn.num_batches_tracked.dtype == jnp.int64


# fmt: off
REPRS = [
    ("BatchNorm1d", (3,), {}),
    ("BatchNorm2d", (4,), dict(eps=1e-3, momentum=None, affine=False, track_running_stats=False)),
    ("BatchNorm3d", (2,), dict(bias=False)),
    ("InstanceNorm1d", (3,), {}),
    ("InstanceNorm2d", (3,), dict(affine=True, track_running_stats=True, momentum=0.2)),
    ("InstanceNorm3d", (3,), dict(eps=1e-4)),
    ("LayerNorm", (10,), {}),
    ("LayerNorm", ([2, 3],), dict(eps=1e-6, elementwise_affine=False, bias=False)),
    ("GroupNorm", (2, 4), {}),
    ("GroupNorm", (1, 3), dict(eps=1e-3, affine=False)),
    ("LocalResponseNorm", (2,), {}),
    ("LocalResponseNorm", (3,), dict(alpha=0.5, beta=1, k=2)),
    ("RMSNorm", (3,), {}),
    ("RMSNorm", ((2, 3),), dict(eps=1e-6, elementwise_affine=False)),
]
# fmt: on


@pytest.mark.parametrize(
    "cls, args, kwargs", REPRS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(REPRS)]
)
def test_repr(cls, args, kwargs):
    assert repr(getattr(nn, cls)(*args, **kwargs)) == repr(getattr(tnn, cls)(*args, **kwargs))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "module, shape, match",
    [
        (lambda: nn.BatchNorm1d(3), (2, 3, 4, 4), r"expected 2D or 3D input \(got 4D input\)"),
        (lambda: nn.BatchNorm2d(3), (2, 3, 4), r"expected 4D input \(got 3D input\)"),
        (lambda: nn.BatchNorm3d(3), (2, 3, 4, 4), r"expected 5D input \(got 4D input\)"),
        (lambda: nn.InstanceNorm1d(3), (2, 3, 4, 4), r"expected 2D or 3D input \(got 4D input\)"),
        (
            lambda: nn.InstanceNorm2d(3, affine=True),
            (2, 4, 3, 3),
            r"expected input's size at dim=1 to match num_features \(3\)",
        ),
    ],
    ids=["bn1d-rank", "bn2d-rank", "bn3d-rank", "in1d-rank", "in2d-affine-channels"],
)
def test_input_errors(module, shape, match):
    with pytest.raises(ValueError, match=match):
        module()(jnp.ones(shape))


def test_instance_norm_channel_mismatch_warns_without_affine():
    with pytest.warns(UserWarning, match="input's size at dim=0 does not match num_features"):
        out = nn.InstanceNorm2d(3)(jnp.asarray(randn(4, 3, 3)))  # unbatched, 4 channels
    with pytest.warns(UserWarning, match="does not match num_features"):
        expected = tnn.InstanceNorm2d(3)(torch.from_numpy(randn(4, 3, 3)))
    assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_construction_errors():
    with pytest.raises(
        ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"
    ):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(TypeError, match="normalized_shape must be an int or a sequence"):
        nn.LayerNorm(None)


def test_batch_of_one_in_training_raises_like_torch():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.forward(nn.BatchNorm1d(3), jnp.ones((1, 3)))
    nn.BatchNorm1d(3).eval()(jnp.ones((1, 3)))  # fine in eval mode, as in torch
