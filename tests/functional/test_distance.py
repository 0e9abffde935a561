"""Parity of jaxnn.functional's cosine_similarity, pairwise_distance and pdist with torch."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.functional.test_activation import check_jitted_together
from tests.parity import check_function, randn


def _rows():
    """(4, 5) rows: random, a zero row, a tiny row (norm < eps), and a repeat of row 0."""
    x = randn(4, 5, seed=1)
    x[1] = 0.0
    x[2] *= 1e-9
    return x


# id, x1, x2, kwargs
COSINE = [
    ("2d", randn(4, 5, seed=1), randn(4, 5, seed=2), {}),
    ("zero-and-tiny-rows", _rows(), randn(4, 5, seed=2), {}),  # the eps clamp, torch's gradient
    ("eps", _rows(), randn(4, 5, seed=2), dict(eps=1e-3)),
    ("broadcast", randn(2, 3, 4, seed=1), randn(1, 4, seed=2), {}),  # dim 1 of the common shape
    ("1d", randn(5, seed=1), randn(5, seed=2), dict(dim=0)),
    ("0d", np.array(2.0, np.float32), np.array(-3.0, np.float32), dict(dim=0)),
    ("empty-batch", randn(0, 5, seed=1), randn(0, 5, seed=2), {}),
]


@pytest.mark.parametrize("x1,x2,kwargs", [c[1:] for c in COSINE], ids=[c[0] for c in COSINE])
def test_cosine_similarity(x1, x2, kwargs):
    check_function(F.cosine_similarity, TF.cosine_similarity, [x1, x2], kwargs, jit=False)


def test_cosine_similarity_float64(x64):
    x1 = _rows().astype(np.float64)
    check_function(
        F.cosine_similarity, TF.cosine_similarity, [x1, randn(4, 5, dtype=np.float64, seed=2)]
    )


def test_cosine_similarity_bfloat16():
    x1, x2 = (jnp.asarray(randn(4, 5, seed=s), jnp.bfloat16) for s in (1, 2))
    out = check_function(F.cosine_similarity, TF.cosine_similarity, [x1, x2], grad=False, jit=False)
    assert out.dtype == jnp.bfloat16


def test_cosine_similarity_promotes_integers():
    x1, x2 = np.arange(6).reshape(2, 3), randn(2, 3, seed=2)
    check_function(F.cosine_similarity, TF.cosine_similarity, [x1, x2], grad=False, jit=False)


P_VALUES = [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0, -1.5]


def _pairs():
    """x1 - x2 has exact zeros, exact ties of the largest |entry| and an all-zero row."""
    x1 = randn(4, 5, seed=3)
    x2 = randn(4, 5, seed=4)
    x2[0, :2] = x1[0, :2]  # zero entries
    x2[1] = x1[1]  # zero row
    x1[2, :3] = [1.0, -2.0, 2.0]
    x2[2] = 0.0  # |diff| ties at 2 (and zeros)
    return x1, x2


@pytest.mark.parametrize("p", P_VALUES, ids=[f"p={p}" for p in P_VALUES])
def test_pairwise_distance_p(p):
    x1, x2 = _pairs()
    # eps=0 keeps the zeros and ties exact (torch adds eps to the difference).
    check_function(
        F.pairwise_distance, TF.pairwise_distance, [x1, x2], dict(p=p, eps=0.0), jit=False
    )


# id, x1, x2, kwargs
PAIRWISE = [
    ("default-eps", randn(4, 5, seed=3), randn(4, 5, seed=4), {}),
    ("keepdim", randn(4, 5, seed=3), randn(4, 5, seed=4), dict(keepdim=True, p=1.0)),
    ("broadcast-vector", randn(4, 5, seed=3), randn(5, seed=4), {}),
    ("1d", randn(5, seed=3), randn(5, seed=4), dict(keepdim=True)),
    ("0d", np.array(2.0, np.float32), np.array(-1.0, np.float32), {}),
    ("3d", randn(2, 3, 5, seed=3), randn(2, 3, 5, seed=4), dict(p=3.0)),
]


@pytest.mark.parametrize("x1,x2,kwargs", [c[1:] for c in PAIRWISE], ids=[c[0] for c in PAIRWISE])
def test_pairwise_distance(x1, x2, kwargs):
    check_function(F.pairwise_distance, TF.pairwise_distance, [x1, x2], kwargs, jit=False)


def test_pairwise_distance_float64(x64):
    x1, x2 = (a.astype(np.float64) for a in _pairs())
    check_function(F.pairwise_distance, TF.pairwise_distance, [x1, x2], dict(p=3.0))


def _pdist_rows():
    x = randn(5, 4, seed=5)
    x[3] = x[0]  # a zero distance
    x[4, :3] = x[1, :3] + np.array([2.0, -2.0, 1.0], np.float32)  # an exact max tie with row 1
    return x


PDIST_P = [2.0, 1.0, 3.0, 0.5, math.inf, 0.0]


@pytest.mark.parametrize("p", PDIST_P, ids=[f"p={p}" for p in PDIST_P])
def test_pdist(p):
    check_function(F.pdist, TF.pdist, [_pdist_rows()], dict(p=p), jit=False)


def test_all_under_jit():
    cases = [
        (F.cosine_similarity, TF.cosine_similarity, [x1, x2], kw)
        for _, x1, x2, kw in COSINE
        if x1.ndim
    ]
    cases += [
        (F.pairwise_distance, TF.pairwise_distance, list(_pairs()), dict(p=p, eps=0.0))
        for p in P_VALUES
    ]
    cases += [
        (F.pairwise_distance, TF.pairwise_distance, [x1, x2], kw)
        for _, x1, x2, kw in PAIRWISE
        if x1.ndim
    ]
    cases += [(F.pdist, TF.pdist, [_pdist_rows()], dict(p=p)) for p in PDIST_P]
    check_jitted_together(cases)


@pytest.mark.parametrize(
    "shape", [(1, 3), (0, 3), (4, 0)], ids=["one-row", "no-rows", "no-columns"]
)
def test_pdist_degenerate(shape):
    # torch 2.13's pdist backward segfaults on 0 rows: compare outputs only there.
    x = randn(*shape, seed=5)
    check_function(F.pdist, TF.pdist, [x], grad=shape[0] > 0)
    assert jax.grad(lambda v: F.pdist(v).sum())(jnp.asarray(x)).shape == shape


def test_pdist_float64(x64):
    check_function(F.pdist, TF.pdist, [_pdist_rows().astype(np.float64)], dict(p=math.inf))


def test_pdist_inf_ties_each_get_the_full_gradient():
    x = jnp.array([[1.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
    g = jax.grad(lambda v: F.pdist(v, math.inf).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), [[0.0, -1.0, 1.0], [0.0, 1.0, -1.0]])
    # while pairwise_distance (torch.norm) shares it between the ties.
    g = jax.grad(lambda v: F.pairwise_distance(v[:1], v[1:], math.inf, eps=0.0).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), [[0.0, -0.5, 0.5], [0.0, 0.5, -0.5]])


ERRORS = [
    (
        "cos-int",
        lambda: F.cosine_similarity(jnp.ones((2, 3), jnp.int32), jnp.ones((2, 3), jnp.int32)),
        TypeError,
        r"expected common dtype to be floating point, yet common dtype is int32",
    ),
    (
        "cos-shapes",
        lambda: F.cosine_similarity(jnp.ones((2, 3)), jnp.ones((2, 4))),
        ValueError,
        r"x1 of shape \(2, 3\) and x2 of shape \(2, 4\) do not broadcast",
    ),
    (
        "cos-dim",
        lambda: F.cosine_similarity(jnp.ones(3), jnp.ones(3)),
        IndexError,
        r"expected to be in range of \[-1, 0\], but got 1",
    ),
    (
        "pairwise-shapes",
        lambda: F.pairwise_distance(jnp.ones((2, 3)), jnp.ones((2, 4))),
        ValueError,
        r"do not broadcast",
    ),
    (
        "pdist-rank",
        lambda: F.pdist(jnp.ones((2, 4, 3))),
        ValueError,
        r"pdist only supports 2D tensors, got: 3D",
    ),
    (
        "pdist-p",
        lambda: F.pdist(jnp.ones((4, 3)), -1.0),
        ValueError,
        r"pdist only supports non-negative p values",
    ),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_torch_agrees_on_the_pdist_errors():
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors, got: 3D"):
        TF.pdist(torch.ones(2, 4, 3))
