"""AdaptiveLogSoftmaxWithLoss, SyncBatchNorm and CrossMapLRN2d against torch.nn."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn

RBG = jax.random.key(0, impl="rbg")


@pytest.mark.parametrize(
    ("size", "channels"),
    [
        (3, 6),
        pytest.param(2, 5, marks=pytest.mark.long),
        pytest.param(8, 3, marks=pytest.mark.long),
    ],
)
def test_cross_map_lrn2d(size, channels):
    # torch's forward and its own (not the forward's exact) backward
    check_module(
        tnn.CrossMapLRN2d(size, 0.1, 0.6, 2.0),
        nn.CrossMapLRN2d(size, 0.1, 0.6, 2.0),
        [randn(2, channels, 3, 3)],
    )


def test_sync_batchnorm():
    check_module(tnn.SyncBatchNorm(3), nn.SyncBatchNorm(3), [randn(4, 3, 2, 2, 2, 2)])
    check_module(
        tnn.SyncBatchNorm(3, affine=False).eval(),
        nn.SyncBatchNorm(3, affine=False).eval(),
        [randn(4, 3)],
    )
    with pytest.raises(ValueError, match="process_group=None and shard the batch"):
        nn.SyncBatchNorm(3, process_group="world")
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        nn.SyncBatchNorm(3)(jnp.ones(3))


def test_convert_sync_batchnorm():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm2d(3)))
    model[1].eval()
    weight = model[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert type(model[1]) is nn.SyncBatchNorm and type(model[2][0]) is nn.SyncBatchNorm
    assert model[1].weight is weight and not model[1].training
    assert repr(model) == repr(
        tnn.SyncBatchNorm.convert_sync_batchnorm(
            tnn.Sequential(tnn.Linear(2, 3), tnn.BatchNorm1d(3), tnn.Sequential(tnn.BatchNorm2d(3)))
        )
    )


def test_adaptive_log_softmax():
    kw = dict(cutoffs=[3, 6], div_value=2.0, head_bias=True)
    tm = tnn.AdaptiveLogSoftmaxWithLoss(8, 10, **kw)
    jm = nn.AdaptiveLogSoftmaxWithLoss(8, 10, **kw, key=RBG)
    tm.register_forward_pre_hook(lambda m, a: (a[0], a[1].long()))
    check_module(tm, jm, [randn(5, 8), np.array([0, 4, 9, 2, 7])])
    x = randn(6, 8, seed=1)
    np.testing.assert_allclose(
        jm.log_prob(jnp.asarray(x)),
        tm.log_prob(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        jm.predict(jnp.asarray(x)), tm.predict(torch.from_numpy(x)).numpy()
    )


@pytest.mark.long
def test_adaptive_log_softmax_unbatched():
    tm = tnn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3])
    jm = nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3], key=RBG)
    jm.load_state_dict(tm.state_dict())
    out, loss = jm(jnp.asarray(randn(8)), jnp.array(9))
    tout, tloss = tm(torch.from_numpy(randn(8)), torch.tensor(9))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[]), "length larger than 0"),
        (
            lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[6, 3]),
            "sorted in an increasing order",
        ),
        (
            lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3], key=RBG)(
                jnp.ones((2, 8)), jnp.array([1, 10])
            ),
            r"Target values should be in \[0, 9\]",
        ),
        (
            lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3], key=RBG)(
                jnp.ones((2, 8)), jnp.array(1)
            ),
            "0D target tensor expects 1D input",
        ),
        (
            lambda: nn.CrossMapLRN2d(3)(jnp.ones((2, 3, 4))),
            "CrossMapLRN2d: Expected input to be 4D, got 3D instead",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
