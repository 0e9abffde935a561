"""Parity of the loss modules with torch.nn: constructor, repr, weight buffers, output, input
gradients (eager and jitted, through tests/parity.check_module)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import check_module, randn

LEGACY = "size_average and reduce args will be deprecated"


def idx(*shape: int, high: int, seed: int = 0, ignore: int | None = None) -> np.ndarray:
    out = np.random.default_rng(seed).integers(0, high, size=shape).astype(np.int64)
    if ignore is not None:
        out.reshape(-1)[::3] = ignore
    return out


def unif(*shape: int, lo: float, hi: float, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def pm1(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def probs(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    e = np.exp(randn(*shape, dtype=np.float64, seed=seed))
    return (e / e.sum(axis=1, keepdims=True)).astype(dtype)


def log_probs(*shape: int, dtype: Any = np.float32, seed: int = 0, axis: int = 1) -> np.ndarray:
    x = randn(*shape, dtype=np.float64, seed=seed)
    return (x - np.log(np.exp(x).sum(axis=axis, keepdims=True))).astype(dtype)


class Case(NamedTuple):
    id: str
    cls: str
    ctor: dict  # constructor kwargs; numpy arrays become torch tensors for torch
    inputs: Callable[[Any], list]  # dtype -> positional inputs (float ones are differentiated)
    kw: Callable[[Any], dict] = lambda dt: {}  # forward kwargs, not differentiated
    legacy: bool = False  # the constructor warns (size_average / reduce)


W5 = unif(5, lo=0.5, hi=2.0, seed=9)

# fmt: off
CASES = [
    Case("l1", "L1Loss", {}, lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("l1-sum", "L1Loss", dict(reduction="sum"), lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("mse-none", "MSELoss", dict(reduction="none"), lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("mse-legacy-sum", "MSELoss", dict(size_average=False), lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)], legacy=True),
    Case("nll", "NLLLoss", {}, lambda dt: [log_probs(4, 5, dtype=dt), idx(4, high=5)]),
    Case("nll-weight-ignore-kdim", "NLLLoss", dict(weight=W5, ignore_index=1), lambda dt: [log_probs(2, 5, 3, dtype=dt), idx(2, 3, high=5, ignore=1)]),
    Case("nll-legacy-none", "NLLLoss", dict(reduce=False), lambda dt: [log_probs(4, 5, dtype=dt), idx(4, high=5)], legacy=True),
    Case("ce", "CrossEntropyLoss", {}, lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)]),
    Case("ce-weight-smooth-ignore", "CrossEntropyLoss", dict(weight=W5, label_smoothing=0.2), lambda dt: [randn(6, 5, dtype=dt), idx(6, high=5, ignore=-100)]),
    Case("ce-probs", "CrossEntropyLoss", dict(label_smoothing=0.1), lambda dt: [randn(4, 5, dtype=dt), probs(4, 5, dtype=dt, seed=1)]),
    Case("ce-kdim-none", "CrossEntropyLoss", dict(reduction="none", ignore_index=2), lambda dt: [randn(2, 5, 3, dtype=dt), idx(2, 3, high=5)]),
    Case("ce-unbatched", "CrossEntropyLoss", {}, lambda dt: [randn(5, dtype=dt), np.array(3)]),
    Case("poisson", "PoissonNLLLoss", {}, lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=4, dtype=dt, seed=1)]),
    Case("poisson-rate-full-none", "PoissonNLLLoss", dict(log_input=False, full=True, eps=1e-6, reduction="none"), lambda dt: [unif(3, 4, lo=0.1, hi=3, dtype=dt)], lambda dt: dict(target=jnp.asarray(np.array([[0, 1, 2, 3]] * 3, dt)))),
    Case("gauss", "GaussianNLLLoss", {}, lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1), unif(3, 4, lo=0.1, hi=2, dtype=dt, seed=2)]),
    Case("gauss-full-eps-sum", "GaussianNLLLoss", dict(full=True, eps=1e-3, reduction="sum"), lambda dt: [randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1), unif(3, 1, lo=0.1, hi=2, dtype=dt, seed=2)]),
    Case("kl-batchmean", "KLDivLoss", dict(reduction="batchmean"), lambda dt: [log_probs(3, 4, dtype=dt), probs(3, 4, dtype=dt, seed=1)]),
    Case("kl-log-target-sum", "KLDivLoss", dict(reduction="sum", log_target=True), lambda dt: [log_probs(3, 4, dtype=dt), log_probs(3, 4, dtype=dt, seed=1)]),
    Case("bce", "BCELoss", {}, lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)]),
    Case("bce-weight-sum", "BCELoss", dict(weight=unif(4, lo=0.5, hi=2), reduction="sum"), lambda dt: [unif(3, 4, lo=0.05, hi=0.95, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)]),
    Case("bce-logits", "BCEWithLogitsLoss", {}, lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)]),
    Case("bce-logits-weights-none", "BCEWithLogitsLoss", dict(weight=unif(3, 4, lo=0.5, hi=2), pos_weight=unif(4, lo=0.5, hi=3), reduction="none"), lambda dt: [randn(3, 4, dtype=dt), unif(3, 4, lo=0, hi=1, dtype=dt, seed=1)]),
    Case("hinge", "HingeEmbeddingLoss", dict(margin=0.5), lambda dt: [randn(3, 4, dtype=dt)], lambda dt: dict(target=jnp.asarray(pm1(3, 4, dtype=dt, seed=1)))),
    Case("ml-margin", "MultiLabelMarginLoss", {}, lambda dt: [randn(3, 5, dtype=dt), np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 2, 0, 0, 0]])]),
    Case("smooth-l1-beta", "SmoothL1Loss", dict(beta=0.5), lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("huber-delta-sum", "HuberLoss", dict(delta=0.7, reduction="sum"), lambda dt: [2 * randn(3, 4, dtype=dt), randn(3, 4, dtype=dt, seed=1)]),
    Case("soft-margin", "SoftMarginLoss", {}, lambda dt: [randn(3, 4, dtype=dt)], lambda dt: dict(target=jnp.asarray(pm1(3, 4, dtype=dt, seed=1)))),
    Case("ml-soft-margin", "MultiLabelSoftMarginLoss", dict(weight=W5), lambda dt: [randn(3, 5, dtype=dt), (unif(3, 5, lo=0, hi=1, seed=1) > 0.5).astype(dt)]),
    Case("cosine", "CosineEmbeddingLoss", dict(margin=0.2), lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1)], lambda dt: dict(target=jnp.asarray(pm1(4, dtype=dt, seed=2)))),
    Case("ranking", "MarginRankingLoss", dict(margin=0.3), lambda dt: [randn(6, dtype=dt), randn(6, dtype=dt, seed=1), pm1(6, dtype=dt, seed=2)]),
    Case("multi-margin", "MultiMarginLoss", {}, lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)]),
    Case("multi-margin-p2-weight", "MultiMarginLoss", dict(p=2, margin=0.7, weight=W5), lambda dt: [randn(4, 5, dtype=dt), idx(4, high=5)]),
    Case("triplet", "TripletMarginLoss", {}, lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)]),
    Case("triplet-p1-swap-none", "TripletMarginLoss", dict(p=1.0, swap=True, margin=2.0, reduction="none"), lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)]),
    Case("triplet-distance", "TripletMarginWithDistanceLoss", dict(margin=2.0, swap=True), lambda dt: [randn(4, 6, dtype=dt), randn(4, 6, dtype=dt, seed=1), randn(4, 6, dtype=dt, seed=2)]),
    Case("ctc", "CTCLoss", {}, lambda dt: [log_probs(6, 2, 4, dtype=dt, axis=2), idx(2, 3, high=3, seed=1) + 1, np.array([6, 5]), np.array([3, 2])]),
    Case("ctc-blank-sum-zero-inf", "CTCLoss", dict(blank=3, reduction="sum", zero_infinity=True), lambda dt: [log_probs(4, 2, 4, dtype=dt, axis=2), np.array([[0, 1, 2], [0, 0, 0]]), np.array([4, 2]), np.array([3, 3])]),
]
# fmt: on
CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


def _long_targets(module: tnn.Module) -> tnn.Module:
    """torch wants int64 class indices; JAX without x64 hands over int32."""

    def cast(a: Any) -> Any:
        return a.long() if isinstance(a, torch.Tensor) and a.dtype == torch.int32 else a

    module.register_forward_pre_hook(
        lambda m, args, kwargs: (
            tuple(cast(a) for a in args),
            {k: cast(v) for k, v in kwargs.items()},
        ),
        with_kwargs=True,
    )
    return module


def _build(case: Case, dtype: Any = np.float32) -> tuple[tnn.Module, nn.Module]:
    tkw = {
        k: torch.from_numpy(v.astype(dtype)) if isinstance(v, np.ndarray) else v
        for k, v in case.ctor.items()
    }
    jkw = {k: v.astype(dtype) if isinstance(v, np.ndarray) else v for k, v in case.ctor.items()}
    with warnings.catch_warnings():
        if case.legacy:
            warnings.filterwarnings("ignore", LEGACY)
        return _long_targets(getattr(tnn, case.cls)(**tkw)), getattr(nn, case.cls)(**jkw)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_parity(case):
    tmod, jmod = _build(case)
    check_module(tmod, jmod, case.inputs(np.float32), case.kw(np.float32))


F64 = [
    "nll-weight-ignore-kdim",
    "ce-weight-smooth-ignore",
    "gauss-full-eps-sum",
    "bce-logits-weights-none",
    "kl-log-target-sum",
]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in F64], ids=F64)
def test_parity_float64(case, x64):
    tmod, jmod = _build(case, np.float64)
    check_module(tmod, jmod, case.inputs(np.float64), case.kw(np.float64))


def test_custom_distance_function():
    a, p, n = (randn(4, 6, seed=s) for s in range(3))
    tmod = tnn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: (x - y).abs().sum(-1), reduction="none"
    )
    jmod = nn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: jnp.abs(x - y).sum(-1), reduction="none"
    )
    check_module(tmod, jmod, [a, p, n])
    # a module as the distance is a child, printed as in torch
    tmod = tnn.TripletMarginWithDistanceLoss(distance_function=tnn.PairwiseDistance(p=1.0))
    jmod = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1.0))
    check_module(tmod, jmod, [a, p, n])


def test_kl_div_mean_warns_like_torch():
    x, y = log_probs(3, 4), probs(3, 4, seed=1)
    with pytest.warns(UserWarning, match="batchmean"):
        out = nn.KLDivLoss()(jnp.asarray(x), jnp.asarray(y))
    with pytest.warns(UserWarning, match="batchmean"):
        expected = tnn.KLDivLoss()(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=1e-5)


# ------------------------------------------------------------------ construction

ALL = [
    "L1Loss", "NLLLoss", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss", "MSELoss", "BCELoss",
    "BCEWithLogitsLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss", "SmoothL1Loss", "HuberLoss",
    "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
    "MarginRankingLoss", "MultiMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss",
]  # fmt: skip


@pytest.mark.parametrize("cls", ALL)
def test_defaults_repr_and_reduction_match_torch(cls):
    j, t = getattr(nn, cls)(), getattr(tnn, cls)()
    assert repr(j) == repr(t)
    assert j.reduction == t.reduction == "mean"
    assert list(j.state_dict()) == list(t.state_dict()) == []


@pytest.mark.parametrize(
    "flags, expected",
    [
        (dict(size_average=False), "sum"),
        (dict(reduce=False), "none"),
        (dict(size_average=True), "mean"),
        (dict(size_average=False, reduce=False), "none"),
        (dict(size_average=True, reduce=True, reduction="none"), "mean"),  # the flags win
    ],
)
@pytest.mark.parametrize(
    "cls", ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "TripletMarginLoss"]
)
def test_legacy_flags_warn_and_decide_reduction_like_torch(cls, flags, expected):
    with pytest.warns(UserWarning, match=f"{LEGACY}, please use reduction='{expected}' instead"):
        j = getattr(nn, cls)(**flags)
    with pytest.warns(UserWarning, match=LEGACY):
        t = getattr(tnn, cls)(**flags)
    assert j.reduction == t.reduction == expected


def test_weights_are_buffers_in_state_dict():
    w, pw = unif(4, lo=0.5, hi=2), unif(4, lo=1, hi=3, seed=1)
    j = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)
    t = tnn.BCEWithLogitsLoss(weight=torch.from_numpy(w), pos_weight=torch.from_numpy(pw))
    assert list(j.state_dict()) == list(t.state_dict()) == ["weight", "pos_weight"]
    assert [n for n, _ in j.named_buffers()] == ["weight", "pos_weight"] and list(
        j.parameters()
    ) == []
    mask = nn.trainable(j)
    assert mask.weight is False and mask.pos_weight is False
    for cls in [
        "NLLLoss",
        "CrossEntropyLoss",
        "BCELoss",
        "MultiLabelSoftMarginLoss",
        "MultiMarginLoss",
    ]:
        j = getattr(nn, cls)(weight=torch.ones(4))  # torch tensors are accepted too
        assert list(j.state_dict()) == ["weight"] and j.weight.dtype == jnp.float32
        j.load_state_dict({"weight": np.full(4, 2.0, np.float32)})
        np.testing.assert_array_equal(np.asarray(j.weight), 2.0)


# fmt: off
REPRS = [
    ("CrossEntropyLoss", dict(label_smoothing=0.1, ignore_index=3, reduction="sum")),
    ("NLLLoss", dict(weight=np.ones(3, np.float32))),
    ("TripletMarginLoss", dict(margin=2.0, p=1.0, swap=True)),
    ("CTCLoss", dict(blank=2, zero_infinity=True)),
    ("HuberLoss", dict(delta=2)),
    ("KLDivLoss", dict(reduction="batchmean", log_target=True)),
]
# fmt: on


@pytest.mark.parametrize("cls, kwargs", REPRS, ids=[c for c, _ in REPRS])
def test_repr_with_arguments(cls, kwargs):
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    assert repr(getattr(nn, cls)(**kwargs)) == repr(getattr(tnn, cls)(**tkw))


def test_construction_errors():
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="'batchmean' is not a valid value for reduction"):
        nn.L1Loss(reduction="batchmean")  # only KLDivLoss takes it
    nn.KLDivLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="expected weight to be None or 1D tensor, got 2D instead"):
        nn.MultiMarginLoss(weight=np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="expected margin to be greater than 0, got 0"):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match=r"expected margin to be greater than 0, got -1\.0"):
        nn.TripletMarginWithDistanceLoss(margin=-1.0)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        nn.HuberLoss(delta="1")


def test_loss_in_a_jitted_training_step():
    model = nn.Linear(3, 4)
    loss_fn = nn.CrossEntropyLoss(
        weight=np.array([1.0, 2.0, 1.0, 0.5], np.float32), label_smoothing=0.1
    )
    x, y = jnp.asarray(randn(5, 3)), jnp.asarray(idx(5, high=4))

    @jax.jit
    def loss(model, loss_fn):
        return loss_fn(model(x), y)

    value = loss(model, loss_fn)
    t = tnn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 1.0, 0.5]), label_smoothing=0.1)
    tlin = tnn.Linear(3, 4)
    tlin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    expected = t(tlin(torch.from_numpy(randn(5, 3))), torch.from_numpy(idx(5, high=4)))
    assert math.isclose(float(value), expected.item(), rel_tol=1e-5)
