"""rrelu / RReLU, gumbel_softmax, Softmax2d, conv_tbc, native_channel_shuffle, NLLLoss2d
against torch: exact numbers where torch is deterministic, distributions and bounds where
it draws random numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import check_function, check_module, randn

X = randn(3, 4, 5)
X[0, 0, :2] = 0.0  # torch's slope gradient at 0


@pytest.mark.parametrize(
    ("lower", "upper"), [(1 / 8, 1 / 3), pytest.param(0.2, 0.2, marks=pytest.mark.long)]
)
def test_rrelu_eval_parity(lower, upper):
    check_function(F.rrelu, TF.rrelu, [X, lower, upper])


def test_rrelu_training_draws_slopes_in_bounds_with_their_gradient():
    x = -jnp.abs(jnp.asarray(randn(200, 50))) - 0.1
    f = jax.jit(lambda x, k: F.rrelu(x, 0.1, 0.4, training=True, key=k))
    y, vjp = jax.vjp(lambda x: f(x, jax.random.key(0)), x)
    slopes = np.asarray(y / x)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.4
    assert abs(slopes.mean() - 0.25) < 0.005 and abs(slopes.std() - 0.3 / np.sqrt(12)) < 0.005
    (g,) = vjp(jnp.ones_like(y))
    np.testing.assert_allclose(g, slopes, rtol=1e-6)  # torch's gradient is the noise
    pos = jnp.abs(x)
    np.testing.assert_array_equal(f(pos, jax.random.key(1)), pos)
    assert not np.array_equal(f(x, jax.random.key(1)), y)
    with pytest.raises(ValueError, match="pass key="):
        F.rrelu(x, training=True)
    with pytest.raises(ValueError, match="Lower bound should be less than or equal"):
        F.rrelu(x, 0.5, 0.1)


def test_rrelu_module():
    tmod, jmod = tnn.RReLU(0.1, 0.3), nn.RReLU(0.1, 0.3)
    check_module(tmod.eval(), jmod.eval(), [X])
    assert repr(nn.RReLU(inplace=True)) == repr(tnn.RReLU(inplace=True))
    out = jmod.train()(jnp.asarray(X), key=jax.random.key(0))
    ratio = np.asarray(out)[X < 0] / X[X < 0]
    assert ratio.min() >= 0.1 and ratio.max() <= 0.3
    with pytest.raises(ValueError, match="pass key="):
        jmod(jnp.asarray(X))
    # a container hands the key down
    seq = nn.Sequential(nn.RReLU(), nn.Identity())
    assert seq(jnp.asarray(X), key=jax.random.key(0)).shape == X.shape


def test_gumbel_softmax():
    logits = jnp.log(jnp.array([0.1, 0.2, 0.7]))
    keys = jax.random.split(jax.random.key(0), 4000)
    hard = jax.vmap(lambda k: F.gumbel_softmax(logits, tau=0.5, hard=True, key=k))(keys)
    assert set(np.unique(np.asarray(hard))) <= {0.0, 1.0}
    np.testing.assert_allclose(hard.mean(0), [0.1, 0.2, 0.7], atol=0.025)  # Gumbel-max is exact
    soft = F.gumbel_softmax(jnp.asarray(randn(4, 6)), dim=0, key=jax.random.key(1))
    np.testing.assert_allclose(soft.sum(0), np.ones(6), rtol=1e-6)
    # hard: straight-through, the soft sample's gradient
    g_hard = jax.grad(
        lambda z: (F.gumbel_softmax(z, hard=True, key=jax.random.key(2)) * jnp.arange(3.0)).sum()
    )(logits)
    g_soft = jax.grad(
        lambda z: (F.gumbel_softmax(z, key=jax.random.key(2)) * jnp.arange(3.0)).sum()
    )(logits)
    np.testing.assert_allclose(g_hard, g_soft, rtol=1e-6)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(logits, eps=1e-3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="pass key="):
        F.gumbel_softmax(logits)


def test_softmax2d():
    check_module(tnn.Softmax2d(), nn.Softmax2d(), [randn(2, 3, 4, 5)])
    check_module(tnn.Softmax2d(), nn.Softmax2d(), [randn(3, 4, 5)], jit=False)
    with pytest.raises(
        ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"
    ):
        nn.Softmax2d()(jnp.ones((3, 4)))


@pytest.mark.parametrize("pad", [pytest.param(0, marks=pytest.mark.long), 2])
def test_conv_tbc(pad):
    check_function(
        F.conv_tbc, TF.conv_tbc, [randn(7, 2, 3), randn(3, 3, 4, seed=1), randn(4, seed=2), pad]
    )


def test_native_channel_shuffle_and_nllloss2d():
    check_function(
        F.native_channel_shuffle, TF.native_channel_shuffle, [randn(2, 6, 3), 3], grad=False
    )
    t = np.random.default_rng(0).integers(0, 3, (2, 4, 5))
    match = "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead"
    with pytest.warns(FutureWarning, match=match):
        tmod = tnn.NLLLoss2d(ignore_index=1)
    with pytest.warns(FutureWarning, match=match):
        jmod = nn.NLLLoss2d(ignore_index=1)
    tmod.register_forward_pre_hook(lambda m, args: (args[0], args[1].long()))
    check_module(tmod, jmod, [randn(2, 3, 4, 5), t])


# (a shape, b shape, offs, what torch defines, what it leaves uninitialised - zeros here)
GROUPED = [
    ("2d-3d", (12, 8), (3, 8, 4), [2, 6, 9], np.s_[:9], np.s_[9:]),
    ("3d-3d", (3, 4, 8), (3, 8, 4), None, np.s_[:], np.s_[:0], pytest.mark.long),
    ("2d-2d", (4, 12), (12, 8), [4, 6, 8], np.s_[:], np.s_[:0], pytest.mark.long),
    ("3d-2d", (3, 4, 8), (8, 12), [4, 6, 8], np.s_[:, :8], np.s_[:, 8:]),
]


@pytest.mark.parametrize(
    ("a", "b", "offs", "defined", "rest"),
    [pytest.param(*c[1:6], id=c[0], marks=c[6:]) for c in GROUPED],
)
def test_grouped_mm(a, b, offs, defined, rest):
    a, b = randn(*a), randn(*b, seed=1)
    o = None if offs is None else np.array(offs, np.int32)
    to = None if o is None else torch.from_numpy(o)
    ref = TF.grouped_mm(torch.from_numpy(a), torch.from_numpy(b), offs=to).numpy()
    out = np.asarray(jax.jit(lambda a, b, o: F.grouped_mm(a, b, offs=o))(a, b, o))
    np.testing.assert_allclose(out[defined], ref[defined], rtol=1e-5, atol=1e-5)
    assert not out[rest].any()
