"""Dropout layers: torch's reprs and eval-mode identity, the training-mode masks by statistics
(JAX's bits cannot equal torch's), the key contract, and the errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn

CLASSES = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]

# (class, kwargs, input shape) in eval mode: the identity, compared with torch by the harness.
# fmt: off
EVAL_CASES = [
    ("Dropout", {}, (3, 4)),
    ("Dropout", dict(p=0.2, inplace=True), (2, 3, 4)),
    ("Dropout1d", dict(p=0.3), (2, 3, 4)),
    ("Dropout1d", {}, (3, 4)),  # unbatched
    ("Dropout2d", dict(p=0.1), (2, 3, 4, 4)),
    ("Dropout3d", {}, (2, 3, 2, 2, 2)),
    ("Dropout3d", dict(p=0.7), (3, 2, 2, 2)),  # unbatched
    ("AlphaDropout", dict(p=0.2), (3, 4)),
    ("FeatureAlphaDropout", dict(p=0.4), (2, 3, 4)),
]
# fmt: on


@pytest.mark.parametrize(
    "cls, kwargs, shape", EVAL_CASES, ids=[f"{c}-{'x'.join(map(str, s))}" for c, _, s in EVAL_CASES]
)
def test_eval_mode_is_identity_like_torch(cls, kwargs, shape):
    tmod = getattr(tnn, cls)(**kwargs).eval()
    check_module(tmod, getattr(nn, cls)(**kwargs), [randn(*shape)], jit=False)


SHAPES = {"Dropout1d": (2, 3, 4), "Dropout2d": (2, 3, 2, 2)}


@pytest.mark.parametrize("cls", CLASSES)
def test_eval_and_p0_need_no_key(cls):
    x = jnp.asarray(randn(*SHAPES.get(cls, (2, 3, 2, 2, 2))))
    np.testing.assert_array_equal(np.asarray(getattr(nn, cls)(0.5).eval()(x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(getattr(nn, cls)(0.0)(x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(getattr(nn, cls)(1.0)(x)), 0.0)  # torch: zeros at p=1


# ------------------------------------------------------------------ training-mode statistics

KEY = jax.random.key(0)


def test_dropout_mask_statistics_and_scaling():
    p = 0.3
    y = np.asarray(nn.Dropout(p)(jnp.ones(20000), key=KEY))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)], rtol=1e-6)
    # fraction dropped ~ Binomial(20000, 0.3)/20000: std 0.0032; 5 sigma.
    assert abs((y == 0).mean() - p) < 0.016
    assert abs(y.mean() - 1.0) < 0.03  # the scaling keeps the expectation


@pytest.mark.parametrize(
    "cls, shape",
    [("Dropout1d", (40, 50, 6)), ("Dropout2d", (40, 50, 2, 3)), ("Dropout3d", (40, 50, 1, 2, 3))],
)
def test_channel_dropout_zeroes_whole_channels(cls, shape):
    p = 0.4
    y = np.asarray(getattr(nn, cls)(p)(jnp.ones(shape), key=KEY)).reshape(shape[0], shape[1], -1)
    constant = (y == y[..., :1]).all(-1)
    assert constant.all()
    channel = y[..., 0]
    np.testing.assert_allclose(np.unique(channel), [0.0, 1 / (1 - p)], rtol=1e-6)
    assert abs((channel == 0).mean() - p) < 0.05  # 2000 channels: std 0.011


def test_channel_dropout_unbatched():
    y = np.asarray(nn.Dropout1d(0.5)(jnp.ones((200, 7)), key=KEY))
    assert ((y == 0).all(-1) | (y == 2).all(-1)).all()
    y = np.asarray(nn.Dropout3d(0.5)(jnp.ones((200, 2, 2, 2)), key=KEY)).reshape(200, -1)
    assert ((y == 0).all(-1) | (y == 2).all(-1)).all()


@pytest.mark.parametrize(
    "cls, shape", [("AlphaDropout", (40000,)), ("FeatureAlphaDropout", (400, 50, 2))]
)
def test_alpha_dropout_keeps_zero_mean_unit_variance(cls, shape):
    x = jax.random.normal(jax.random.key(1), shape)
    y = np.asarray(getattr(nn, cls)(0.2)(x, key=KEY))
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1.0) < 0.05
    if cls == "FeatureAlphaDropout":  # one affine map per channel: dropped channels are constant
        dropped = y[..., 0] == y[..., 1]
        assert 0.17 < dropped.mean() < 0.23  # 20000 channels: std 0.003


def test_gradient_is_the_scaled_mask():
    m = nn.Dropout(0.25)
    x = jnp.asarray(randn(50))
    y = m(x, key=KEY)
    g = jax.grad(lambda x: jnp.sum(m(x, key=KEY)))(x)
    np.testing.assert_allclose(
        np.asarray(g), np.where(np.asarray(y) == 0, 0.0, 1 / 0.75), rtol=1e-6
    )


def test_jit_and_eager_give_the_same_mask_for_the_same_key(x64):
    m = nn.Dropout2d(0.5)
    x = jnp.ones((4, 5, 2, 2), jnp.float64)
    eager = m(x, key=KEY)
    jitted = jax.jit(lambda m, x, k: m(x, key=k))(m, x, KEY)
    assert eager.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))
    assert not np.array_equal(np.asarray(eager), np.asarray(m(x, key=jax.random.key(1))))


# ------------------------------------------------------------------ the key contract


@pytest.mark.parametrize("cls", CLASSES)
def test_training_without_key_raises_with_the_fix(cls):
    with pytest.raises(
        ValueError, match=r"needs a PRNG key.*key, sub = jax\.random\.split\(key\).*model\.eval\(\)"
    ):
        getattr(nn, cls)(0.5)(jnp.ones(SHAPES.get(cls, (2, 3, 2, 2, 2))))


def test_containers_hand_keys_down():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.ReLU(), nn.Dropout(0.5))
    x = jnp.ones((3, 4))
    a, b = model(x, key=jax.random.key(0)), model(x, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(model(x, key=jax.random.key(1))))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        model(x)
    model.eval()
    np.testing.assert_allclose(
        np.asarray(model(x)), np.asarray(nn.functional.relu(model[0](x))), rtol=1e-6
    )


# ------------------------------------------------------------------ construction


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    "kwargs", [{}, dict(p=0.2, inplace=True), dict(p=1)], ids=["default", "p0.2-inplace", "p1"]
)
def test_repr(cls, kwargs):
    assert repr(getattr(nn, cls)(**kwargs)) == repr(getattr(tnn, cls)(**kwargs))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_raises(p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        tnn.Dropout(p)


def test_dropout2d_3d_input_warns_like_torch():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        nn.Dropout2d(0.5)(jnp.ones((2, 3, 4)), key=KEY)
