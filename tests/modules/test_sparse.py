"""Parity of Embedding and EmbeddingBag with torch.nn; padding rows, freezing, initialisation."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn, to_numpy

IDX_2D = np.array([[1, 2, 4, 5], [4, 3, 2, 9]], np.int32)
IDX_1D = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0], np.int32)

# (id, constructor kwargs, inputs). Embedding(10, 3) throughout; inputs are integer indices.
# fmt: off
EMBEDDING_CASES = [
    ("default-2d", {}, [IDX_2D]),
    ("default-1d", {}, [IDX_1D]),
    ("scalar-index", {}, [np.array(7, np.int32)]),
    ("padding", dict(padding_idx=2), [IDX_2D]),
    ("padding-negative", dict(padding_idx=-1), [IDX_2D]),
    ("max-norm", dict(max_norm=1.0), [IDX_2D]),
    ("max-norm-p1", dict(max_norm=1.5, norm_type=1.0), [IDX_1D]),
    ("scale-grad-by-freq", dict(scale_grad_by_freq=True), [IDX_2D]),
    ("scale-grad-padding", dict(scale_grad_by_freq=True, padding_idx=4), [IDX_1D]),
    # sparse=True: printed only (torch's gradient is then a sparse tensor; ours is dense).
]

OFFSETS = np.array([0, 3, 3, 7], np.int32)  # includes an empty bag
PSW = randn(9, seed=3)
BAG_CASES = [
    ("mean-2d", {}, [IDX_2D]),
    ("sum-2d", dict(mode="sum"), [IDX_2D]),
    ("max-2d", dict(mode="max"), [IDX_2D]),
    ("mean-offsets", {}, [IDX_1D, OFFSETS]),
    ("max-offsets", dict(mode="max"), [IDX_1D, OFFSETS]),
    ("sum-per-sample-weights", dict(mode="sum"), [IDX_1D, OFFSETS, PSW]),
    ("sum-last-offset", dict(mode="sum", include_last_offset=True), [IDX_1D, np.array([0, 2, 5, 9], np.int32)]),
    ("mean-padding", dict(padding_idx=4), [IDX_1D, OFFSETS]),
    ("max-padding-negative", dict(mode="max", padding_idx=-8), [IDX_2D]),
    ("mean-max-norm", dict(max_norm=1.0), [IDX_2D]),
    ("sum-max-norm-p3", dict(mode="sum", max_norm=1.0, norm_type=3.0), [IDX_1D, OFFSETS]),
    # scale_grad_by_freq: no parity case. torch's embedding_bag scales by the count of another
    # index (4 appearing twice gets gradient 2, 3 appearing once gets 0.5); jaxnn's functional
    # divides each row's gradient by its own count, as Embedding does.
]
# fmt: on


@pytest.mark.parametrize(
    "kwargs, inputs", [c[1:] for c in EMBEDDING_CASES], ids=[c[0] for c in EMBEDDING_CASES]
)
def test_embedding_parity(kwargs, inputs):
    check_module(tnn.Embedding(10, 3, **kwargs), nn.Embedding(10, 3, **kwargs), inputs)


@pytest.mark.parametrize(
    "kwargs, inputs", [c[1:] for c in BAG_CASES], ids=[c[0] for c in BAG_CASES]
)
def test_embedding_bag_parity(kwargs, inputs):
    check_module(tnn.EmbeddingBag(10, 3, **kwargs), nn.EmbeddingBag(10, 3, **kwargs), inputs)


def test_embedding_float64(x64):
    tmod = tnn.Embedding(10, 3, padding_idx=1, max_norm=2.0).double()
    check_module(
        tmod, nn.Embedding(10, 3, padding_idx=1, max_norm=2.0, dtype=jnp.float64), [IDX_2D]
    )
    tbag = tnn.EmbeddingBag(10, 3, mode="sum").double()
    psw = randn(9, dtype=np.float64)
    check_module(
        tbag, nn.EmbeddingBag(10, 3, mode="sum", dtype=jnp.float64), [IDX_1D, OFFSETS, psw]
    )


# ------------------------------------------------------------------ padding, freezing


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_padding_row_starts_at_zero_and_gets_no_gradient(cls):
    m = getattr(nn, cls)(6, 4, padding_idx=-2)  # wraps to 4, as torch
    assert m.padding_idx == 4
    np.testing.assert_array_equal(np.asarray(m.weight[4]), 0.0)
    assert np.abs(np.asarray(m.weight)).sum(1).astype(bool).sum() == 5
    # a non-zero pad vector, as a user may set
    m = eqx.tree_at(lambda m: m.weight, m, jnp.ones((6, 4)))
    idx = jnp.array([[4, 1, 4, 0]], jnp.int32)
    grad = jax.grad(lambda w: jnp.sum(eqx.tree_at(lambda m: m.weight, m, w)(idx) ** 2))(m.weight)
    np.testing.assert_array_equal(np.asarray(grad[4]), 0.0)
    assert np.all(np.asarray(grad)[[0, 1]] != 0)


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
@pytest.mark.parametrize("freeze", [True, False])
def test_from_pretrained_freeze_is_reflected_in_trainable(cls, freeze):
    weights = torch.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    m = getattr(nn, cls).from_pretrained(weights, freeze=freeze)
    t = getattr(tnn, cls).from_pretrained(weights, freeze=freeze)
    assert repr(m) == repr(t)
    assert nn.trainable(m).weight is (not freeze) is t.weight.requires_grad
    assert m.parameter_requires_grad("weight") is (not freeze)
    params, _ = eqx.partition(m, nn.trainable(m))
    assert (params.weight is None) is freeze
    np.testing.assert_array_equal(np.asarray(m.weight), to_numpy(weights))
    idx = torch.tensor([[1, 0]])
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(idx.numpy()))), to_numpy(t(idx)), rtol=1e-6)


def test_from_pretrained_keeps_its_arguments():
    w = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    m = nn.Embedding.from_pretrained(
        w, padding_idx=1, max_norm=2.0, norm_type=1.0, scale_grad_by_freq=True
    )
    t = tnn.Embedding.from_pretrained(
        torch.from_numpy(w.copy()),
        padding_idx=1,
        max_norm=2.0,
        norm_type=1.0,
        scale_grad_by_freq=True,
    )
    assert repr(m) == repr(t)
    np.testing.assert_array_equal(np.asarray(m.weight[1]), w[1])  # the pad row is not zeroed
    bag = nn.EmbeddingBag.from_pretrained(w, mode="max", include_last_offset=True, padding_idx=0)
    assert (bag.mode, bag.include_last_offset, bag.padding_idx) == ("max", True, 0)


# ------------------------------------------------------------------ construction


def test_default_initialisation_is_standard_normal():
    w = np.asarray(nn.Embedding(1000, 64).weight)
    # 64000 draws of N(0, 1): the mean's std is 0.004 and the std's is 0.003; 5 sigma.
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.015
    t = tnn.Embedding(1000, 64).weight.detach().numpy()
    assert abs(w.std() - t.std()) < 0.02
    assert nn.Embedding(3, 2).weight.dtype == jnp.float32
    a, b = nn.Embedding(5, 2, key=jax.random.key(1)), nn.Embedding(5, 2, key=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))


def test_float64_weight(x64):
    assert nn.EmbeddingBag(4, 2, dtype=jnp.float64).weight.dtype == jnp.float64


# fmt: off
REPRS = [
    ("Embedding", (10, 3), {}),
    ("Embedding", (10, 3), dict(padding_idx=-1, max_norm=1.0, norm_type=3, scale_grad_by_freq=True, sparse=True)),
    ("Embedding", (10, 3), dict(norm_type=2.0, max_norm=2)),
    ("EmbeddingBag", (10, 3), {}),
    ("EmbeddingBag", (10, 3), dict(max_norm=2.0, norm_type=1, scale_grad_by_freq=True, mode="sum", padding_idx=1)),
    ("EmbeddingBag", (10, 3), dict(mode="max", sparse=False, include_last_offset=True)),
]
# fmt: on


@pytest.mark.parametrize(
    "cls, args, kwargs", REPRS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(REPRS)]
)
def test_repr(cls, args, kwargs):
    assert repr(getattr(nn, cls)(*args, **kwargs)) == repr(getattr(tnn, cls)(*args, **kwargs))


def test_errors():
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(5, 2, padding_idx=-6)
    with pytest.raises(
        ValueError, match="Shape of weight does not match num_embeddings and embedding_dim"
    ):
        nn.Embedding(5, 2, _weight=np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="mode='min' is not valid"):
        nn.EmbeddingBag(5, 2, mode="min")
    with pytest.raises(IndexError, match="index out of range"):
        nn.Embedding(5, 2)(jnp.array([5]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        nn.EmbeddingBag(5, 2)(jnp.array([1, 2]))


def test_max_norm_renormalises_the_output_but_not_the_weight():
    # torch rescales the looked-up rows of weight in place; a JAX array cannot be mutated, so
    # only the output is renormalised (documented deviation).
    m = nn.Embedding.from_pretrained(jnp.array([[3.0, 4.0], [0.3, 0.4]]), max_norm=1.0)
    out = m(jnp.array([0, 1]))
    np.testing.assert_allclose(np.asarray(out), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(m.weight[0]), [3.0, 4.0])
