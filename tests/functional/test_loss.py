"""Parity of jaxnn.functional's losses with torch.nn.functional, forward and gradient."""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import assert_close, check_function, randn, to_torch

LOSSES = [
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "ctc_loss",
]


# ------------------------------------------------------------------------------ data


def idx(*shape: int, high: int, seed: int = 0, ignore: int | None = None) -> np.ndarray:
    """Class indices (int64, so torch sees Long); with ``ignore``, every third is ignored."""
    out = np.random.default_rng(seed).integers(0, high, size=shape).astype(np.int64)
    if ignore is not None:
        out.reshape(-1)[::3] = ignore
    return out


def unif(*shape: int, lo: float, hi: float, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def pm1(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def probs(*shape: int, axis: int = 1, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    e = np.exp(randn(*shape, dtype=np.float64, seed=seed))
    return (e / e.sum(axis=axis, keepdims=True)).astype(dtype)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    fn: str
    args: Any  # dtype -> list of positional arguments
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad: Any = True
    tol: dict = dataclasses.field(default_factory=dict)


def _ce_weight(dt):
    return unif(5, lo=0.5, hi=2.0, dtype=dt, seed=9)


# fmt: off
CASES = [
    # cross_entropy: class indices
    Case("ce-2d-sum", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(reduction="sum")),
    Case("ce-2d-none", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(reduction="none")),
    Case("ce-ignore-weight", "cross_entropy", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32))),
    Case("ce-ignore-class", "cross_entropy", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=2)], dict(ignore_index=2)),
    Case("ce-smooth-weight-ignore", "cross_entropy", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=1)], dict(weight=_ce_weight(np.float32), ignore_index=1, label_smoothing=0.3)),
    Case("ce-smooth-weight-ignore-sum", "cross_entropy", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32), label_smoothing=0.3, reduction="sum")),
    Case("ce-smooth-weight-ignore-none", "cross_entropy", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32), label_smoothing=0.3, reduction="none")),
    Case("ce-smooth-one", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(label_smoothing=1.0)),
    Case("ce-kdim", "cross_entropy", lambda dt: [randn(2, 5, 3, 2, dtype=dt), idx(2, 3, 2, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32), label_smoothing=0.1)),
    Case("ce-kdim-none", "cross_entropy", lambda dt: [randn(2, 5, 3, dtype=dt), idx(2, 3, high=5)], dict(reduction="none")),
    Case("ce-unbatched", "cross_entropy", lambda dt: [randn(5, dtype=dt), np.array(3)], dict(label_smoothing=0.1)),
    Case("ce-unbatched-none", "cross_entropy", lambda dt: [randn(5, dtype=dt), np.array(3)], dict(reduction="none")),
    Case("ce-legacy-reduce-false", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(reduce=False)),
    Case("ce-empty-sum", "cross_entropy", lambda dt: [randn(0, 5, dtype=dt), idx(0, high=5)], dict(reduction="sum")),
    Case("ce-empty-mean-nan", "cross_entropy", lambda dt: [randn(0, 5, dtype=dt), idx(0, high=5)], grad=False),
    Case("ce-all-ignored-nan", "cross_entropy", lambda dt: [randn(3, 5, dtype=dt), np.full(3, -100)], grad=False),
    # cross_entropy: class probabilities
    Case("ce-probs", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), probs(4, 5, dtype=dt, seed=1)]),
    Case("ce-probs-weight-smooth", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), probs(4, 5, dtype=dt, seed=1)], dict(weight=_ce_weight(np.float32), label_smoothing=0.25)),
    Case("ce-probs-weight-sum", "cross_entropy", lambda dt: [randn(4, 5, dtype=dt), probs(4, 5, dtype=dt, seed=1)], dict(weight=_ce_weight(np.float32), reduction="sum")),
    Case("ce-probs-kdim-none", "cross_entropy", lambda dt: [randn(2, 5, 3, dtype=dt), probs(2, 5, 3, dtype=dt, seed=1)], dict(reduction="none", label_smoothing=0.1)),
    Case("ce-probs-unbatched", "cross_entropy", lambda dt: [randn(5, dtype=dt), probs(5, axis=0, dtype=dt, seed=1)]),
    Case("ce-probs-empty-nan", "cross_entropy", lambda dt: [randn(0, 5, dtype=dt), np.zeros((0, 5), dt)], grad=False),
    # nll_loss
    Case("nll-weight-ignore", "nll_loss", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32))),
    Case("nll-weight-ignore-none", "nll_loss", lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=4)], dict(weight=_ce_weight(np.float32), ignore_index=4, reduction="none")),
    Case("nll-kdim", "nll_loss", lambda dt: [randn(2, 5, 2, 3, 2, dtype=dt), idx(2, 2, 3, 2, high=5, ignore=-100)], dict(weight=_ce_weight(np.float32))),
    Case("nll-kdim-sum", "nll_loss", lambda dt: [randn(2, 5, 2, 3, 2, dtype=dt), idx(2, 2, 3, 2, high=5)], dict(weight=_ce_weight(np.float32), reduction="sum")),
    Case("nll-unbatched", "nll_loss", lambda dt: [randn(5, dtype=dt), np.array(1)]),
    Case("nll-legacy", "nll_loss", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(size_average=False, reduce=True)),
    Case("nll-empty-sum", "nll_loss", lambda dt: [randn(0, 5, dtype=dt), idx(0, high=5)], dict(reduction="sum")),
    # regression
    Case("mse", "mse_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("mse-weight", "mse_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2))),
    Case("mse-weight-sum", "mse_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2), reduction="sum")),
    Case("mse-legacy", "mse_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(size_average=False)),
    Case("mse-scalar", "mse_loss", lambda dt: [np.array(1.5, dt), np.array(-0.5, dt)]),
    Case("mse-empty-nan", "mse_loss", lambda dt: [randn(0, 4, dtype=dt), randn(0, 4, dtype=dt)], grad=False),
    Case("l1-kinks", "l1_loss", lambda dt: [np.array([0.0, 1.0, -2.0, 0.5], dt), np.array([0.0, 1.0, 1.0, 0.0], dt)], dict(reduction="none")),
    Case("l1-weight", "l1_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2))),
    Case("l1-weight-none", "l1_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2), reduction="none")),
    Case("smooth-l1-kinks", "smooth_l1_loss", lambda dt: [np.array([0.0, 1.0, -1.0, 0.5, 3.0], dt), np.zeros(5, dt)], dict(reduction="none")),
    Case("smooth-l1-beta", "smooth_l1_loss", lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(beta=0.5, reduction="sum")),
    Case("smooth-l1-beta0", "smooth_l1_loss", lambda dt: [np.array([0.0, 1.0, -2.0], dt), np.zeros(3, dt)], dict(beta=0.0, reduction="none")),
    Case("smooth-l1-legacy", "smooth_l1_loss", lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(reduce=False)),
    Case("huber-kinks", "huber_loss", lambda dt: [np.array([0.0, 2.0, -2.0, 0.5, 3.0], dt), np.zeros(5, dt)], dict(reduction="none", delta=2.0)),
    Case("huber-weight", "huber_loss", lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2), delta=0.7)),
    Case("huber-weight-none", "huber_loss", lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.1, hi=2), reduction="none")),
    # binary cross entropy
    Case("bce", "binary_cross_entropy", lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)]),
    Case("bce-weight-broadcast", "binary_cross_entropy", lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)], dict(weight=unif(4, lo=0.5, hi=2), reduction="sum")),
    Case("bce-weight-none", "binary_cross_entropy", lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)], dict(weight=unif(3, 4, lo=0.5, hi=2), reduction="none")),
    # x in {0, 1}: logs clamped at -100, gradient (x - t) / 1e-12 as in torch's backward.
    Case("bce-edges", "binary_cross_entropy", lambda dt: [np.array([0.0, 1.0, 0.0, 1.0, 0.5], dt), np.array([0.0, 1.0, 0.3, 0.6, 1.0], dt)], dict(reduction="none"), grad=[0]),
    Case("bce-legacy", "binary_cross_entropy", lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)], dict(reduce=False)),
    Case("bce-logits-large", "binary_cross_entropy_with_logits", lambda dt: [np.array([-200.0, -30.0, 0.0, 30.0, 200.0], dt), np.array([1.0, 0.0, 0.5, 1.0, 0.0], dt)], dict(reduction="none")),
    Case("bce-logits-pos-weight", "binary_cross_entropy_with_logits", lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)], dict(pos_weight=unif(4, lo=0.5, hi=3), weight=unif(3, 4, lo=0.5, hi=2))),
    Case("bce-logits-pos-weight-none", "binary_cross_entropy_with_logits", lambda dt: [randn(2, 4, 3, dtype=dt), unif(2, 4, 3, lo=0, hi=1, dtype=dt, seed=1)], dict(pos_weight=unif(4, 1, lo=0.5, hi=3), reduction="none")),
    Case("bce-logits-weight-broadcast", "binary_cross_entropy_with_logits", lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)], dict(weight=unif(4, lo=0.5, hi=2), reduction="sum")),
    # kl_div ('mean' has its own test: it warns)
    Case("kl-batchmean", "kl_div", lambda dt: [np.log(probs(3, 4, dtype=dt)), probs(3, 4, dtype=dt, seed=1)], dict(reduction="batchmean")),
    Case("kl-sum-log-target", "kl_div", lambda dt: [np.log(probs(3, 4, dtype=dt)), np.log(probs(3, 4, dtype=dt, seed=1))], dict(reduction="sum", log_target=True)),
    Case("kl-none", "kl_div", lambda dt: [np.log(probs(3, 4, dtype=dt)), probs(3, 4, dtype=dt, seed=1)], dict(reduction="none")),
    Case("kl-legacy", "kl_div", lambda dt: [np.log(probs(3, 4, dtype=dt)), probs(3, 4, dtype=dt, seed=1)], dict(size_average=False)),
    Case("kl-target-zero", "kl_div", lambda dt: [np.log(probs(2, 3, dtype=dt)), np.array([[0.0, 0.5, 0.5], [0.2, 0.0, 0.8]], dt)], dict(reduction="batchmean"), grad=[0]),
    Case("kl-0d-batchmean", "kl_div", lambda dt: [np.array(-1.0, dt), np.array(0.3, dt)], dict(reduction="batchmean")),
    # poisson / gaussian
    Case("poisson", "poisson_nll_loss", lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=4, dtype=dt, seed=1)]),
    Case("poisson-rate-full", "poisson_nll_loss", lambda dt: [unif(3, 4, lo=0.1, hi=3, dtype=dt), np.array([[0, 1, 2, 3]] * 3, dt)], dict(log_input=False, full=True, reduction="none"), grad=[0]),
    Case("poisson-full-eps-sum", "poisson_nll_loss", lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=1.5, hi=4, dtype=dt, seed=1)], dict(full=True, eps=1e-4, reduction="sum")),
    Case("poisson-legacy", "poisson_nll_loss", lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=4, dtype=dt, seed=1)], dict(reduce=False)),
    Case("gauss-var-short", "gaussian_nll_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1), unif(3, lo=0.1, hi=2, dtype=dt, seed=2)], dict(full=True, reduction="none")),
    Case("gauss-var-size1", "gaussian_nll_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1), unif(1, 4, lo=0.1, hi=2, dtype=dt, seed=2)], dict(reduction="sum")),
    Case("gauss-var-float", "gaussian_nll_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1), 0.7]),
    Case("gauss-target-broadcast", "gaussian_nll_loss", lambda dt: [randn(3, 4, dtype=dt), randn(3, 1, dtype=dt, seed=1), unif(3, 4, lo=0.1, hi=2, dtype=dt, seed=2)]),
    # var below eps is clamped; the var gradient passes straight through the clamp.
    Case("gauss-var-clamped", "gaussian_nll_loss", lambda dt: [np.array([0.1, 0.2, 0.3], dt), np.zeros(3, dt), np.array([0.0, 1e-3, 2.0], dt)], dict(eps=1e-2, reduction="none")),
    # margin / embedding
    Case("ranking", "margin_ranking_loss", lambda dt: [randn(6, dtype=dt), randn(6, dtype=dt, seed=1), pm1(6, dtype=dt, seed=2)], dict(margin=0.3)),
    Case("ranking-kink", "margin_ranking_loss", lambda dt: [np.array([0.0, 1.0, 2.0], dt), np.array([0.0, 0.5, 1.0], dt), np.array([1.0, 1.0, -1.0], dt)], dict(margin=0.0, reduction="none")),
    Case("ranking-0d", "margin_ranking_loss", lambda dt: [np.array(0.2, dt), np.array(0.5, dt), np.array(1.0, dt)], dict(margin=0.1, reduction="sum")),
    Case("hinge-emb", "hinge_embedding_loss", lambda dt: [randn(3, 4, dtype=dt), pm1(3, 4, dtype=dt, seed=1)], dict(margin=0.5), grad=[0]),
    Case("hinge-emb-kink", "hinge_embedding_loss", lambda dt: [np.array([1.0, 0.0, 2.0, 0.5], dt), np.array([-1.0, -1.0, -1.0, 1.0], dt)], dict(reduction="none"), grad=[0]),
    Case("soft-margin", "soft_margin_loss", lambda dt: [randn(3, 4, dtype=dt), pm1(3, 4, dtype=dt, seed=1)], grad=[0]),
    Case("soft-margin-none-legacy", "soft_margin_loss", lambda dt: [randn(3, 4, dtype=dt), pm1(3, 4, dtype=dt, seed=1)], dict(reduce=False), grad=[0]),
    # The last row sits on the hinge (z = 0 for class 1): torch's gradient is 0 there.
    Case("ml-margin", "multilabel_margin_loss", lambda dt: [np.concatenate([randn(3, 5, dtype=dt), np.array([[1.0, 0.0, 0.5, 0.2, 0.3]], dt)]), np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 2, 0, 0, 0], [0, -1, 1, 1, 1]])]),
    Case("ml-margin-dup-none", "multilabel_margin_loss", lambda dt: [randn(2, 4, dtype=dt), np.array([[2, 2, -1, 0], [0, 1, 1, -1]])], dict(reduction="none")),
    Case("ml-margin-unbatched", "multilabel_margin_loss", lambda dt: [randn(5, dtype=dt), np.array([4, 1, -1, 0, 0])], dict(reduction="none")),
    Case("ml-soft-margin", "multilabel_soft_margin_loss", lambda dt: [randn(3, 5, dtype=dt), (unif(3, 5, lo=0, hi=1, seed=1) > 0.5).astype(dt)], dict(weight=unif(5, lo=0.5, hi=2))),
    Case("ml-soft-margin-none", "multilabel_soft_margin_loss", lambda dt: [randn(3, 5, dtype=dt), (unif(3, 5, lo=0, hi=1, seed=1) > 0.5).astype(dt)], dict(reduction="none")),
    Case("ml-soft-margin-unbatched", "multilabel_soft_margin_loss", lambda dt: [randn(5, dtype=dt), (unif(5, lo=0, hi=1, seed=1) > 0.5).astype(dt)], dict(reduction="sum")),
    # The last row sits on the hinge for class 1 (z = 0): torch's gradient is 0 there.
    Case("multi-margin", "multi_margin_loss", lambda dt: [np.concatenate([randn(4, 5, dtype=dt), np.array([[1.0, 0.0, 0.5, 0.2, -1.0]], dt)]), np.array([0, 2, 4, 1, 0])], dict(weight=unif(5, lo=0.5, hi=2))),
    Case("multi-margin-p2-weight", "multi_margin_loss", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(p=2, margin=0.7, weight=unif(5, lo=0.5, hi=2))),
    Case("multi-margin-none", "multi_margin_loss", lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)], dict(reduction="none", margin=2.0)),
    Case("multi-margin-unbatched", "multi_margin_loss", lambda dt: [randn(5, dtype=dt), np.array(2)], dict(reduction="none")),
    # The last pair is orthogonal with y = -1 and margin 0: clamp_min's gradient passes at 0.
    Case("cosine", "cosine_embedding_loss", lambda dt: [np.concatenate([randn(4, 6, dtype=dt), np.eye(1, 6, 0, dtype=dt)]), np.concatenate([randn(4, 6, dtype=dt, seed=1), np.eye(1, 6, 1, dtype=dt)]), np.concatenate([pm1(4, dtype=dt, seed=2), np.array([-1.0], dt)])], grad=[0, 1]),
    Case("cosine-none", "cosine_embedding_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), pm1(4, dtype=dt, seed=2)], dict(reduction="none", margin=-0.3), grad=[0, 1]),
    Case("cosine-unbatched", "cosine_embedding_loss", lambda dt: [randn(6, dtype=dt), randn(6, dtype=dt, seed=1), np.array(1.0, dt)], grad=[0, 1]),
    Case("triplet", "triplet_margin_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)]),
    Case("triplet-p1-swap", "triplet_margin_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)], dict(p=1, swap=True, margin=2.0, reduction="none")),
    Case("triplet-p3-eps", "triplet_margin_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)], dict(p=3, eps=0.1, reduction="sum")),
    Case("triplet-pinf", "triplet_margin_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)], dict(p=math.inf, margin=3.0)),
    Case("triplet-unbatched", "triplet_margin_loss", lambda dt: [randn(6, dtype=dt), randn(6, dtype=dt, seed=1), randn(6, dtype=dt, seed=2)], dict(reduction="none", swap=True)),
    Case("triplet-3d", "triplet_margin_loss", lambda dt: [randn(2, 3, 4, dtype=dt), randn(2, 3, 4, dtype=dt, seed=1), randn(2, 3, 4, dtype=dt, seed=2)], dict(margin=1.5, reduction="none")),
    Case("triplet-dist-default", "triplet_margin_with_distance_loss", lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)], dict(margin=2.0, swap=True, reduction="none")),
]
# fmt: on

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)

# Compilation dominates the runtime, so each function's main variants are checked in full
# (output and input gradients, eager and jitted) and the remaining variants (reductions,
# legacy flags, empty and scalar inputs) compare the eager output only.
FULL = {
    "ce-smooth-weight-ignore",
    "ce-kdim",
    "ce-probs-weight-smooth",
    "nll-kdim",
    "mse-weight",
    "l1-kinks",
    "smooth-l1-kinks",
    "huber-kinks",
    "bce-weight-broadcast",
    "bce-edges",
    "bce-logits-pos-weight",
    "bce-logits-large",
    "kl-sum-log-target",
    "poisson-rate-full",
    "gauss-var-short",
    "gauss-var-clamped",
    "ranking-kink",
    "hinge-emb-kink",
    "soft-margin",
    "ml-margin",
    "ml-soft-margin",
    "multi-margin",
    "cosine",
    "triplet-p1-swap",
    "triplet-p3-eps",
    "triplet-dist-default",
}
assert FULL <= set(CASE_IDS)


def torch_fn(name: str) -> Any:
    """torch's loss with integer tensors as Long (JAX hands over int32 without x64)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        args = [
            a.long() if isinstance(a, torch.Tensor) and a.dtype == torch.int32 else a for a in args
        ]
        return getattr(TF, name)(*args, **kwargs)

    return call


def _kwargs(case: Case, dtype: Any) -> dict:
    """Float keyword arrays (weights) in the case's dtype, as torch requires."""
    return {
        k: jnp.asarray(v, dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in case.kwargs.items()
    }


def _run(case: Case, dtype: Any, full: bool = True) -> None:
    check_function(
        getattr(F, case.fn),
        torch_fn(case.fn),
        case.args(dtype),
        _kwargs(case, dtype),
        grad=case.grad if full else False,
        jit=full,
        **case.tol,
    )


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_loss(case):
    _run(case, np.float32, full=case.id in FULL)


F64 = [
    "ce-smooth-weight-ignore",
    "bce-edges",
    "gauss-var-clamped",
    "multi-margin",
    "triplet-p3-eps",
]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in F64], ids=F64)
def test_loss_float64(case, x64):
    _run(case, np.float64)


BF16 = ["ce-smooth-weight-ignore", "mse-legacy", "bce-logits-pos-weight", "triplet-pinf"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in BF16], ids=BF16)
def test_loss_bfloat16(case):
    args = [
        jnp.asarray(a, jnp.bfloat16) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a
        for a in case.args(np.float32)
    ]
    check_function(
        getattr(F, case.fn),
        torch_fn(case.fn),
        args,
        _kwargs(case, jnp.bfloat16),
        grad=False,
        jit=False,
    )


# ------------------------------------------------------------------------------ warnings


def test_kl_div_mean_warns_and_averages_all_elements():
    x, y = np.log(probs(3, 4)), probs(3, 4, seed=1)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        out = F.kl_div(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = TF.kl_div(to_torch(x), to_torch(y))
    assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # The legacy flags bypass the warning, as in torch.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, y, reduce=True)


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_target_size_mismatch_warns_and_broadcasts(fn):
    x, y = randn(3, 4), randn(3, 1, seed=1)
    with pytest.warns(
        UserWarning,
        match=r"Using a target size \(\(3, 1\)\) that is different to the input size \(\(3, 4\)\)",
    ):
        out = getattr(F, fn)(x, y, reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(TF, fn)(to_torch(x), to_torch(y), reduction="none")
    assert_close(out, expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ others


def test_triplet_with_custom_distance():
    def jdist(x, y):
        return jnp.sum(jnp.abs(x - y), axis=-1)

    def tdist(x, y):
        return torch.sum(torch.abs(x - y), dim=-1)

    args = [randn(4, 6), randn(4, 6, seed=1), randn(4, 6, seed=2)]
    check_function(
        lambda *a: F.triplet_margin_with_distance_loss(*a, distance_function=jdist, margin=2.5),
        lambda *a: TF.triplet_margin_with_distance_loss(*a, distance_function=tdist, margin=2.5),
        args,
        # Output only: gradients are plain autodiff through the user's function (and the
        # default-distance case checks them).
        grad=False,
    )


def test_cross_entropy_vmap_and_grad_of_mean():
    x, t = randn(3, 4, 5), idx(3, 4, high=5)
    per_batch = jax.vmap(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1))(x, t)
    expected = [
        TF.cross_entropy(to_torch(x[i]), to_torch(t[i]), label_smoothing=0.1) for i in range(3)
    ]
    assert_close(per_batch, torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_target_out_of_bounds_unchecked_under_jit():
    # A traced target cannot be checked: no error, the index is clipped.
    out = jax.jit(F.cross_entropy)(randn(2, 5), jnp.array([0, 12]))
    assert out.shape == ()


@pytest.mark.parametrize("name", LOSSES)
def test_signature_matches_torch(name):
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]


# ------------------------------------------------------------------------------ errors

x35 = randn(3, 5)
t3 = np.array([0, 1, 2])

# fmt: off
ERRORS = [
    ("ce-target-oob", lambda: F.cross_entropy(x35, np.array([0, 12, 1])), IndexError, r"Target 12 is out of bounds\. .*\[0, 5\)"),
    ("ce-target-negative", lambda: F.cross_entropy(x35, np.array([0, -1, 1])), IndexError, r"Target -1 is out of bounds"),
    ("nll-kdim-oob", lambda: F.nll_loss(randn(2, 5, 4), np.full((2, 4), 9)), IndexError, r"Target 9 is out of bounds"),
    ("ce-smooth-oob", lambda: F.cross_entropy(x35, np.array([0, 12, 1]), label_smoothing=0.1), IndexError, r"Target 12 is out of bounds"),
    ("ce-reduction", lambda: F.cross_entropy(x35, t3, reduction="batchmean"), ValueError, r"reduction='batchmean' is not valid; choose one of \('none', 'mean', 'sum'\)"),
    ("ce-smoothing", lambda: F.cross_entropy(x35, t3, label_smoothing=1.5), ValueError, r"label_smoothing must be between 0\.0 and 1\.0\. Got: 1\.5"),
    ("ce-probs-ignore", lambda: F.cross_entropy(x35, probs(3, 5), ignore_index=1), ValueError, r"ignore_index is not supported for floating point target"),
    ("ce-probs-int", lambda: F.cross_entropy(x35, np.zeros((3, 5), np.int64)), TypeError, r"Expected floating point type for target with class probabilities"),
    ("ce-float-index", lambda: F.cross_entropy(x35, np.array([0.0, 1.0, 2.0])), TypeError, r"expected target dtype to be an integer type"),
    ("ce-0d-input", lambda: F.cross_entropy(np.float32(1.0), np.array(0)), ValueError, r"Expected 1 or more dimensions \(got 0\)"),
    ("nll-batch", lambda: F.nll_loss(x35, np.array([0, 1])), ValueError, r"Expected input batch_size \(3\) to match target batch_size \(2\)\."),
    ("nll-kdim-shape", lambda: F.nll_loss(randn(2, 5, 4), np.zeros((2, 3), np.int64)), ValueError, r"Expected target size \[2, 4\], got \[2, 3\]"),
    ("nll-multi-target", lambda: F.nll_loss(x35, np.zeros((3, 1), np.int64)), ValueError, r"0D or 1D target tensor expected, multi-target not supported"),
    ("nll-weight", lambda: F.nll_loss(x35, t3, weight=np.ones(4, np.float32)), ValueError, r"weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: \[4\]"),
    ("mse-weight-shape", lambda: F.mse_loss(x35, x35, weight=np.ones(5, np.float32)), ValueError, r"Weights and input must have the same size"),
    ("mse-broadcast", lambda: F.mse_loss(x35, randn(3, 4), reduction="sum"), ValueError, r"The size of tensor a \(5\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("mse-reduction", lambda: F.mse_loss(x35, x35, reduction="avg"), ValueError, r"reduction='avg' is not valid"),
    ("smooth-l1-beta", lambda: F.smooth_l1_loss(x35, x35, beta=-1.0), ValueError, r"smooth_l1_loss does not support negative values for beta"),
    ("huber-delta", lambda: F.huber_loss(x35, x35, delta=0.0), ValueError, r"huber_loss does not support non-positive values for delta"),
    ("bce-shape", lambda: F.binary_cross_entropy(unif(3, lo=0, hi=1), unif(3, 1, lo=0, hi=1)), ValueError, r"Using a target size \(\(3, 1\)\) that is different to the input size \(\(3,\)\) is deprecated"),
    ("bce-range", lambda: F.binary_cross_entropy(np.array([0.5, 1.5], np.float32), np.array([0.0, 1.0], np.float32)), ValueError, r"all elements of input should be between 0 and 1"),
    ("bce-target-range", lambda: F.binary_cross_entropy(np.array([0.5, 0.5], np.float32), np.array([0.0, 3.0], np.float32)), ValueError, r"all elements of target should be between 0 and 1"),
    ("bce-logits-shape", lambda: F.binary_cross_entropy_with_logits(randn(3), randn(3, 1)), ValueError, r"Target size \(\(3, 1\)\) must be the same as input size \(\(3,\)\)"),
    ("bce-logits-pos-weight", lambda: F.binary_cross_entropy_with_logits(x35, x35, pos_weight=np.ones(4, np.float32)), ValueError, r"The size of tensor a \(4\) must match the size of tensor b \(5\)"),
    ("kl-reduction", lambda: F.kl_div(x35, x35, reduction="foo"), ValueError, r"reduction='foo' is not valid; choose one of \('none', 'batchmean', 'sum', 'mean'\)"),
    ("gauss-var-size", lambda: F.gaussian_nll_loss(x35, x35, np.ones((3, 4), np.float32)), ValueError, r"var is of incorrect size"),
    ("gauss-var-size-two-dims", lambda: F.gaussian_nll_loss(x35, x35, np.ones((1, 1), np.float32)), ValueError, r"var is of incorrect size"),
    ("gauss-var-negative", lambda: F.gaussian_nll_loss(x35, x35, -np.ones((3, 5), np.float32)), ValueError, r"var has negative entry/entries"),
    ("gauss-var-negative-float", lambda: F.gaussian_nll_loss(x35, x35, -1.0), ValueError, r"var has negative entry/entries"),
    ("gauss-reduction", lambda: F.gaussian_nll_loss(x35, x35, 1.0, reduction="x"), ValueError, r"reduction='x' is not valid"),
    ("ranking-dims", lambda: F.margin_ranking_loss(x35, x35, np.ones(3, np.float32)), ValueError, r"margin_ranking_loss : All input tensors should have same dimension"),
    ("ml-margin-shape", lambda: F.multilabel_margin_loss(x35, np.ones((3, 4), np.int64)), ValueError, r"inconsistent target size: \[3, 4\] for input of size: \[3, 5\]"),
    ("ml-margin-range", lambda: F.multilabel_margin_loss(x35, np.full((3, 5), 7)), ValueError, r"argument #2 'target' is out of range"),
    ("ml-margin-3d", lambda: F.multilabel_margin_loss(randn(3, 5, 1), np.ones((3, 5, 1), np.int64)), ValueError, r"Expected non-empty vector or matrix with optional 0-dim batch size, but got: \[3, 5, 1\]"),
    ("multi-margin-p", lambda: F.multi_margin_loss(x35, t3, p=3), ValueError, r"only p == 1 and p == 2 supported"),
    ("multi-margin-weight-dim", lambda: F.multi_margin_loss(x35, t3, weight=np.ones((3, 5), np.float32)), ValueError, r"weight must be one-dimensional"),
    ("multi-margin-weight-size", lambda: F.multi_margin_loss(x35, t3, weight=np.ones(4, np.float32)), ValueError, r"inconsistent weight size, expected 5 but got \[4\]"),
    ("multi-margin-target-size", lambda: F.multi_margin_loss(x35, np.array([0, 1])), ValueError, r"Expected target size \[3\], but got \[2\]"),
    ("multi-margin-range", lambda: F.multi_margin_loss(x35, np.array([0, 1, 7])), IndexError, r"target out of range"),
    ("cosine-dims", lambda: F.cosine_embedding_loss(randn(3, 5, 1), randn(3, 5, 1), np.ones(3, np.float32)), ValueError, r"1D target tensor expects 2D input tensors, but found inputs with sizes \[3, 5, 1\] and \[3, 5, 1\]"),
    ("cosine-0d", lambda: F.cosine_embedding_loss(x35, x35, np.float32(1.0)), ValueError, r"0D target tensor expects 1D input tensors"),
    ("triplet-margin", lambda: F.triplet_margin_loss(x35, x35, x35, margin=-1.0), ValueError, r"margin must be greater than 0, got -1\.0"),
    ("triplet-dims", lambda: F.triplet_margin_loss(x35, x35[0], x35), ValueError, r"anchor 2D, positive 1D, and negative 2D inputs"),
    ("triplet-dist-reduction", lambda: F.triplet_margin_with_distance_loss(x35, x35, x35, reduction="avg"), ValueError, r"reduction='avg' is not valid"),
]
# fmt: on


@pytest.mark.parametrize("fn,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(fn, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's size-mismatch warning precedes some errors
        with pytest.raises(exc, match=match):
            fn()


# ------------------------------------------------------------------------------ ctc


def log_softmax_np(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return (x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))).astype(x.dtype)


def ctc_data(dtype: Any = np.float32) -> list:
    # T=7, N=3, C=5; sample 1 repeats a label (needs a blank between), sample 2 is empty.
    lp = log_softmax_np(randn(7, 3, 5, dtype=dtype))
    targets = np.array([[1, 2, 2, 3], [4, 4, 1, 0], [0, 0, 0, 0]])
    return [lp, targets, np.array([7, 5, 3]), np.array([4, 3, 0])]


CTC_CASES = [
    # Gradients are torch's exp(log_probs) - posterior (not the exact -posterior).
    ("mean", lambda dt: ctc_data(dt), {}, True),
    ("sum", lambda dt: ctc_data(dt), dict(reduction="sum"), False),
    (
        "none-blank-last",
        lambda dt: [
            ctc_data(dt)[0],
            np.array([[1, 2, 2, 3], [0, 0, 1, 3], [2, 0, 0, 0]]),
            (7, 5, 3),
            (4, 3, 1),
        ],
        dict(reduction="none", blank=4),
        False,
    ),
    (
        "concatenated",
        lambda dt: [ctc_data(dt)[0], np.array([1, 2, 2, 3, 4, 4, 1]), (7, 5, 3), (4, 3, 0)],
        {},
        False,
    ),
    # torch reads a blank inside a target as an ordinary label; so do we.
    (
        "blank-in-target",
        lambda dt: [
            ctc_data(dt)[0],
            np.array([[1, 0, 2, 0], [3, 1, 0, 0], [2, 2, 0, 0]]),
            (7, 6, 4),
            (3, 3, 2),
        ],
        dict(reduction="none"),
        False,
    ),
    (
        "unbatched",
        lambda dt: [ctc_data(dt)[0][:, 0], np.array([1, 2, 2, 3]), np.array(7), np.array(4)],
        dict(reduction="none"),
        False,
    ),
    # Sample 0 is infeasible (4 labels incl. a repeat in 3 frames): loss and gradient zeroed.
    (
        "zero-infinity",
        lambda dt: [
            ctc_data(dt)[0],
            np.array([[1, 2, 2, 3], [4, 1, 0, 0]]).repeat([1, 2], 0)[:3],
            (3, 7, 5),
            (4, 2, 2),
        ],
        dict(reduction="none", zero_infinity=True),
        "eager",
    ),
    # Without zero_infinity the infeasible sample's loss is inf and its gradient NaN, as in torch.
    (
        "infinite-nan-grad",
        lambda dt: [
            ctc_data(dt)[0],
            np.array([[1, 2, 2, 3], [4, 1, 0, 0], [4, 1, 0, 0]]),
            (3, 7, 5),
            (4, 2, 2),
        ],
        dict(reduction="sum"),
        "eager",
    ),
    (
        "empty-input-and-target",
        lambda dt: [ctc_data(dt)[0], np.array([[1, 2], [3, 4], [1, 1]]), (0, 7, 7), (0, 2, 2)],
        dict(reduction="none"),
        False,
    ),
]


# True: output and gradient, eager and jitted; "eager": output and gradient, eager only
# (compiling the scan's gradient is slow; the jitted path is already covered by "mean");
# False: output only.
@pytest.mark.parametrize(
    "args,kwargs,mode", [c[1:] for c in CTC_CASES], ids=[c[0] for c in CTC_CASES]
)
def test_ctc_loss(args, kwargs, mode):
    check_function(
        F.ctc_loss,
        torch_fn("ctc_loss"),
        args(np.float32),
        kwargs,
        grad=[0] if mode else False,
        jit=mode is True,
    )


def test_ctc_loss_float64(x64):
    # Forward only: the gradient formula is checked in float32 (compiling it again is slow).
    check_function(
        F.ctc_loss,
        torch_fn("ctc_loss"),
        ctc_data(np.float64),
        dict(reduction="none"),
        grad=False,
        jit=False,
    )


def test_ctc_loss_through_log_softmax():
    # Through log_softmax torch's gradient is the exact one, so plain autodiff agrees.
    _, targets, il, tl = ctc_data()
    check_function(
        lambda x: F.ctc_loss(jax.nn.log_softmax(x, -1), targets, il, tl),
        lambda x: TF.ctc_loss(
            x.log_softmax(-1), to_torch(targets).long(), to_torch(il).long(), to_torch(tl).long()
        ),
        [randn(7, 3, 5)],
        jit=False,
    )


def test_ctc_loss_traced_lengths_and_concatenated_targets():
    lp, _, il, tl = ctc_data()
    flat = np.array([1, 2, 2, 3, 4, 4, 1])
    out = jax.jit(lambda *a: F.ctc_loss(*a, reduction="none"))(lp, flat, il, tl)
    expected = TF.ctc_loss(
        to_torch(lp), to_torch(flat), to_torch(il), to_torch(tl), reduction="none"
    )
    assert_close(out, expected, rtol=1e-5, atol=1e-5)


lp735 = log_softmax_np(randn(7, 3, 5))
tg34 = np.array([[1, 2, 2, 3], [4, 4, 1, 0], [0, 0, 0, 0]])

# fmt: off
CTC_ERRORS = [
    ("blank", lambda: F.ctc_loss(lp735, tg34, (7, 5, 3), (4, 3, 0), blank=5), ValueError, r"blank must be in label range"),
    ("input-too-long", lambda: F.ctc_loss(lp735, tg34, (8, 5, 3), (4, 3, 0)), ValueError, r"Expected input_lengths to have value at most 7, but got value 8"),
    ("negative-length", lambda: F.ctc_loss(lp735, tg34, (7, 5, 3), (-1, 3, 0)), ValueError, r"Expected target_lengths to have value at least 0, but got value -1"),
    ("targets-short", lambda: F.ctc_loss(lp735, tg34, (7, 5, 3), (5, 3, 0)), ValueError, r"Expected tensor to have size at least 5 at dimension 1, but got size 4"),
    ("concat-short", lambda: F.ctc_loss(lp735, np.array([1, 2]), (7, 5, 3), (2, 3, 0)), ValueError, r"Expected tensor to have size at least 5 at dimension 0"),
    ("lengths-size", lambda: F.ctc_loss(lp735, tg34, (7, 5), (4, 3, 0)), ValueError, r"input_lengths must be of size batch_size"),
    ("label-range", lambda: F.ctc_loss(lp735, np.array([[1, 7, 2, 3], [4, 4, 1, 0], [0, 0, 0, 0]]), (7, 5, 3), (4, 3, 0)), ValueError, r"target label 7 is out of range for 5 classes"),
    ("ndim", lambda: F.ctc_loss(lp735[..., None], tg34, (7, 5, 3), (4, 3, 0)), ValueError, r"Expected 3-dimensional tensor, but got 4-dimensional tensor for argument #1 'log_probs'"),
    ("reduction", lambda: F.ctc_loss(lp735, tg34, (7, 5, 3), (4, 3, 0), reduction="batchmean"), ValueError, r"reduction='batchmean' is not valid"),
]
# fmt: on


@pytest.mark.parametrize(
    "fn,exc,match", [e[1:] for e in CTC_ERRORS], ids=[e[0] for e in CTC_ERRORS]
)
def test_ctc_errors(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()
