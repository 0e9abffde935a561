"""Bad-input audit: losses (see _audit.py)."""

import numpy as np
import pytest

from ._audit import check_case, err, ints, params, rnd, same, vg

A = "losses"

LOGITS = rnd(4, 3)
TARGET = np.array([0, 2, 1, 2], np.int64)
PROBS = np.abs(rnd(4, 3, seed=1))
PROBS = (PROBS / PROBS.sum(1, keepdims=True)).astype(np.float32)
SIG = (1 / (1 + np.exp(-rnd(4, 3)))).astype(np.float32)
BIN = (rnd(4, 3, seed=2) > 0).astype(np.float32)
NAN_LOGITS = LOGITS.copy()
NAN_LOGITS[1, 1] = np.nan
NAN_REG = rnd(4, 3)
NAN_REG[0, 0] = np.nan
NAN_REG[2, 1] = np.inf
PM1 = np.where(rnd(4, seed=3) > 0, 1.0, -1.0).astype(np.float32)
PM1_2D = np.where(rnd(4, 3, seed=3) > 0, 1.0, -1.0).astype(np.float32)


def ce(L, x=LOGITS, t=TARGET, w=None, **kw):
    return L.F.cross_entropy(L.A(x), L.A(t), None if w is None else L.A(w), **kw)


def nll(L, x=LOGITS, t=TARGET, w=None, **kw):
    return L.F.nll_loss(L.A(x), L.A(t), None if w is None else L.A(w), **kw)


# (name, call(F, input, target, **kw), input, target) for the reduction/NaN/shape sweep
PAIRWISE = {
    "mse_loss": (lambda F, x, t, **k: F.mse_loss(x, t, **k), rnd(4, 3), rnd(4, 3, seed=1)),
    "l1_loss": (lambda F, x, t, **k: F.l1_loss(x, t, **k), rnd(4, 3), rnd(4, 3, seed=1)),
    "smooth_l1_loss": (lambda F, x, t, **k: F.smooth_l1_loss(x, t, **k), rnd(4, 3), rnd(4, 3, seed=1)),
    "huber_loss": (lambda F, x, t, **k: F.huber_loss(x, t, **k), rnd(4, 3), rnd(4, 3, seed=1)),
    "binary_cross_entropy": (lambda F, x, t, **k: F.binary_cross_entropy(x, t, **k), SIG, BIN),
    "binary_cross_entropy_with_logits": (lambda F, x, t, **k: F.binary_cross_entropy_with_logits(x, t, **k), rnd(4, 3), BIN),
    "kl_div": (lambda F, x, t, **k: F.kl_div(x, t, **k), np.log(PROBS), PROBS[::-1].copy()),
    "poisson_nll_loss": (lambda F, x, t, **k: F.poisson_nll_loss(x, t, **k), rnd(4, 3), np.abs(rnd(4, 3, seed=1))),
    "soft_margin_loss": (lambda F, x, t, **k: F.soft_margin_loss(x, t, **k), rnd(4, 3), PM1_2D),
    "multilabel_soft_margin_loss": (lambda F, x, t, **k: F.multilabel_soft_margin_loss(x, t, **k), rnd(4, 3), BIN),
    "hinge_embedding_loss": (lambda F, x, t, **k: F.hinge_embedding_loss(x, t, **k), rnd(4, 3), PM1_2D),
    "cross_entropy": (lambda F, x, t, **k: F.cross_entropy(x, t, **k), LOGITS, TARGET),
    "cross_entropy_probs": (lambda F, x, t, **k: F.cross_entropy(x, t, **k), LOGITS, PROBS),
    "nll_loss": (lambda F, x, t, **k: F.nll_loss(x, t, **k), LOGITS, TARGET),
    "multi_margin_loss": (lambda F, x, t, **k: F.multi_margin_loss(x, t, **k), LOGITS, TARGET),
    "gaussian_nll_loss": (lambda F, x, t, **k: F.gaussian_nll_loss(x, t, x * 0 + 1, **k), rnd(4, 3), rnd(4, 3, seed=1)),
}
FLOAT_TARGET = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss", "soft_margin_loss", "multilabel_soft_margin_loss", "hinge_embedding_loss", "cross_entropy_probs", "gaussian_nll_loss"}


def _sweep():
    cases = []
    for name, (call, x, t) in PAIRWISE.items():
        mk = lambda L, call=call, x=x, t=t, **k: call(L.F, L.A(x), L.A(t), **k)  # noqa: E731
        cases.append(err(f"{name}-reduction-bad", lambda L, mk=mk: mk(L, reduction="avg"), ValueError, r"(?i)'?avg'?.*(reduction|valid)|reduction.*avg", area=A, kind="invalid string"))
        for red in ("none", "sum"):
            cases.append(same(f"{name}-reduction-{red}", lambda L, mk=mk, red=red: mk(L, reduction=red), area=A, kind="valid edge"))
        xn = x.copy()
        xn[0, 0] = np.nan
        if name in ("binary_cross_entropy",):
            continue
        cases.append(same(f"{name}-nan-input", lambda L, call=call, xn=xn, t=t: call(L.F, L.A(xn), L.A(t), reduction="none"), area=A, kind="NaN/inf"))
        cases.append(same(f"{name}-nan-input-mean", lambda L, call=call, xn=xn, t=t: call(L.F, L.A(xn), L.A(t)), area=A, kind="NaN/inf",
                          warns=UserWarning if name == "kl_div" else None))
        if name in FLOAT_TARGET:
            tn = t.copy()
            tn[1, 2] = np.nan
            cases.append(same(f"{name}-nan-target", lambda L, call=call, x=x, tn=tn: call(L.F, L.A(x), L.A(tn), reduction="none"), area=A, kind="NaN/inf"))
    return cases


LOSS = [
    *_sweep(),
    # cross_entropy / nll: classes, targets, weights
    same("cross_entropy-unbatched", lambda L: ce(L, x=LOGITS[0], t=np.int64(1)), area=A, kind="unbatched input"),
    same("cross_entropy-ignore-index", lambda L: ce(L, t=np.array([0, -100, 1, 2])), area=A, kind="valid edge"),
    same("cross_entropy-all-ignored-mean-nan", lambda L: ce(L, t=np.full(4, -100)), area=A, kind="valid edge"),
    same("cross_entropy-custom-ignore-index", lambda L: ce(L, t=np.array([0, 5, 1, 5]), ignore_index=5), area=A, kind="valid edge"),
    same("cross_entropy-weight-label-smoothing", lambda L: ce(L, w=np.array([0.2, 1.0, 3.0], np.float32), label_smoothing=0.2), area=A, kind="valid edge"),
    same("cross_entropy-spatial", lambda L: ce(L, x=rnd(2, 3, 2, 2), t=ints(2, 2, 2, high=3)), area=A, kind="valid edge"),
    same("cross_entropy-probs-label-smoothing", lambda L: ce(L, t=PROBS, label_smoothing=0.1), area=A, kind="valid edge"),
    same("cross_entropy-inf-logit", lambda L: ce(L, x=np.array([[np.inf, 0.0, 1.0]], np.float32), t=np.array([0])), area=A, kind="NaN/inf"),
    same("cross_entropy-neg-inf-logit-target", lambda L: ce(L, x=np.array([[-np.inf, 0.0, 1.0]], np.float32), t=np.array([0])), area=A, kind="NaN/inf"),
    same("cross_entropy-neg-inf-logit-other", lambda L: ce(L, x=np.array([[-np.inf, 0.0, 1.0]], np.float32), t=np.array([1])), area=A, kind="NaN/inf"),
    err("cross_entropy-target-out-of-range", lambda L: ce(L, t=np.array([0, 3, 1, 2])), IndexError, r"Target 3 is out of bounds", area=A, kind="target out of range"),
    err("cross_entropy-target-negative", lambda L: ce(L, t=np.array([0, -1, 1, 2])), IndexError, r"Target -1 is out of bounds", area=A, kind="target out of range"),
    err("cross_entropy-batch-mismatch", lambda L: ce(L, t=TARGET[:3]), ValueError, r"input batch_size \(4\) to match target batch_size \(3\)", area=A, kind="batch mismatch"),
    err("cross_entropy-float-target-wrong-shape", lambda L: ce(L, t=TARGET.astype(np.float32)), (TypeError, RuntimeError, ValueError), r"(?i)target.*(dtype|integer|float|Long)|(Float|float).*target", area=A, kind="float target"),
    err("cross_entropy-int-probs-target", lambda L: ce(L, t=(PROBS > 0.3).astype(np.int64)), (TypeError, RuntimeError, ValueError), r"(?i)(floating point|float).*target|target.*float", area=A, kind="int target"),
    err("cross_entropy-weight-wrong-size", lambda L: ce(L, w=np.ones(4, np.float32)), (ValueError, RuntimeError), r"weight tensor should be defined either for all 3 classes", area=A, kind="feature count"),
    err("cross_entropy-label-smoothing-gt-1", lambda L: ce(L, label_smoothing=1.5), (ValueError, RuntimeError), r"label_smoothing must be between 0\.0 and 1\.0.*1\.5", area=A, kind="invalid probability"),
    # torch 2.13 checks only label_smoothing <= 1.0 although its message and docs say [0, 1];
    # jaxnn rejects a negative value too (a deliberate difference, listed in the README).
    same("cross_entropy-label-smoothing-negative", lambda L: ce(L, label_smoothing=-0.1), area=A, kind="valid edge"),
    err("cross_entropy-0d-input", lambda L: ce(L, x=np.float32(1.0), t=np.int64(0)), (ValueError, RuntimeError, IndexError), r"(?i)1 or more dimensions", area=A, kind="wrong rank"),
    err("cross_entropy-spatial-target-shape", lambda L: ce(L, x=rnd(2, 3, 2, 2), t=ints(2, 2, 3, high=3)), (ValueError, RuntimeError), r"(?i)target size|shape", area=A, kind="wrong shape"),
    err("cross_entropy-probs-ignore-index", lambda L: ce(L, t=PROBS, ignore_index=1), (ValueError, RuntimeError), r"ignore_index", area=A, kind="invalid combination"),
    err("cross_entropy-bool-target", lambda L: ce(L, t=np.array([True, False, True, False])), (TypeError, RuntimeError, ValueError), r"(?i)target.*(bool|integer|dtype)|bool", area=A, kind="bool target"),
    err("nll_loss-int-input", lambda L: nll(L, x=ints(4, 3, high=3)), (TypeError, RuntimeError), r"nll_loss.*input of dtype int|Long", area=A, kind="int input"),
    err("cross_entropy-int-input", lambda L: ce(L, x=ints(4, 3, high=3)), (TypeError, RuntimeError), r"(?i)input.*(dtype|float)|float|Long", area=A, kind="int input"),
    same("nll_loss-weight", lambda L: nll(L, w=np.array([1.0, 2.0, 0.5], np.float32)), area=A, kind="valid edge"),
    err("nll_loss-target-out-of-range", lambda L: nll(L, t=np.array([0, 1, 5, 2])), IndexError, r"Target 5 is out of bounds", area=A, kind="target out of range"),
    err("nll_loss-float-target", lambda L: nll(L, t=TARGET.astype(np.float32)), (TypeError, RuntimeError), r"(?i)target.*(dtype|integer)|Float", area=A, kind="float target"),
    err("nll_loss-batch-mismatch", lambda L: nll(L, t=TARGET[:2]), ValueError, r"batch_size \(4\).*\(2\)", area=A, kind="batch mismatch"),
    err("nll_loss-2d-target", lambda L: nll(L, t=TARGET[:, None]), (ValueError, RuntimeError), r"(?i)multi-target not supported|target", area=A, kind="wrong rank"),
    err("nll_loss-weight-2d", lambda L: nll(L, w=np.ones((3, 1), np.float32)), (ValueError, RuntimeError), r"weight", area=A, kind="wrong rank"),
    # binary
    same("binary_cross_entropy-log-clamp-at-0-and-1", lambda L: L.F.binary_cross_entropy(L.A(np.array([0.0, 1.0, 0.5], np.float32)), L.A(np.array([1.0, 0.0, 0.5], np.float32))), area=A, kind="valid edge"),
    same("binary_cross_entropy-weight-broadcast", lambda L: L.F.binary_cross_entropy(L.A(SIG), L.A(BIN), L.A(np.array([1.0, 2.0, 3.0], np.float32))), area=A, kind="valid edge"),
    err("binary_cross_entropy-target-shape", lambda L: L.F.binary_cross_entropy(L.A(SIG), L.A(BIN[:, :2])), ValueError, r"(?i)target size.*different.*input size|same size", area=A, kind="wrong shape"),
    err("binary_cross_entropy-input-out-of-range", lambda L: L.F.binary_cross_entropy(L.A(np.array([1.5, 0.5], np.float32)), L.A(np.array([1.0, 0.0], np.float32))), (ValueError, RuntimeError), r"(?i)between 0 and 1", area=A, kind="value out of range"),
    err("binary_cross_entropy-int-target", lambda L: L.F.binary_cross_entropy(L.A(SIG), L.A(BIN.astype(np.int64))), (TypeError, RuntimeError), r"(?i)target.*(dtype|float)|Long|dtype", area=A, kind="int target"),
    err("binary_cross_entropy-int-input", lambda L: L.F.binary_cross_entropy(L.A(BIN.astype(np.int64)), L.A(BIN)), (TypeError, RuntimeError), r"input.*dtype int", area=A, kind="int input"),
    err("bce_with_logits-int-target", lambda L: L.F.binary_cross_entropy_with_logits(L.A(LOGITS), L.A(BIN.astype(np.int64))), (TypeError, RuntimeError), r"target.*dtype int", area=A, kind="int target"),
    err("bce_with_logits-bool-target", lambda L: L.F.binary_cross_entropy_with_logits(L.A(LOGITS), L.A(BIN > 0)), (TypeError, RuntimeError), r"target.*dtype bool", area=A, kind="bool target"),
    err("bce_with_logits-target-shape", lambda L: L.F.binary_cross_entropy_with_logits(L.A(LOGITS), L.A(BIN[:2])), ValueError, r"(?i)target size.*must be the same as input size|same size", area=A, kind="wrong shape"),
    same("bce_with_logits-pos-weight", lambda L: L.F.binary_cross_entropy_with_logits(L.A(LOGITS), L.A(BIN), pos_weight=L.A(np.array([1.0, 2.0, 0.5], np.float32))), area=A, kind="valid edge"),
    err("bce_with_logits-pos-weight-wrong-size", lambda L: L.F.binary_cross_entropy_with_logits(L.A(LOGITS), L.A(BIN), pos_weight=L.A(np.ones(4, np.float32))), (ValueError, RuntimeError), r"(?i)size|pos_weight|broadcast", area=A, kind="feature count"),
    same("bce_with_logits-inf-logits", lambda L: L.F.binary_cross_entropy_with_logits(L.A(np.array([np.inf, -np.inf, 0.0], np.float32)), L.A(np.array([1.0, 0.0, 1.0], np.float32))), area=A, kind="NaN/inf"),
    # regression: broadcasting with torch's warning, mismatch errors
    same("mse_loss-broadcast-warns", lambda L: L.F.mse_loss(L.A(rnd(4, 3)), L.A(rnd(1, 3))), warns=UserWarning, area=A, kind="shape mismatch (broadcast)"),
    err("mse_loss-shape-mismatch", lambda L: L.F.mse_loss(L.A(rnd(4, 3)), L.A(rnd(4, 2))), (ValueError, RuntimeError), r"size of tensor a \(3\) must match the size of tensor b \(2\)", area=A, kind="wrong shape"),
    err("l1_loss-shape-mismatch", lambda L: L.F.l1_loss(L.A(rnd(4, 3)), L.A(rnd(3, 3))), (ValueError, RuntimeError), r"size of tensor a \(4\) must match the size of tensor b \(3\)", area=A, kind="wrong shape"),
    err("smooth_l1_loss-negative-beta", lambda L: L.F.smooth_l1_loss(L.A(rnd(4)), L.A(rnd(4)), beta=-1.0), (ValueError, RuntimeError), r"(?i)beta.*(non-negative|-1)", area=A, kind="negative size"),
    err("huber_loss-zero-delta", lambda L: L.F.huber_loss(L.A(rnd(4)), L.A(rnd(4)), delta=0.0), (ValueError, RuntimeError), r"(?i)delta.*(positive|0)", area=A, kind="zero size"),
    same("smooth_l1_loss-beta-zero-is-l1", lambda L: L.F.smooth_l1_loss(L.A(rnd(4)), L.A(rnd(4, seed=1)), beta=0.0), area=A, kind="zero size"),
    same("mse_loss-empty-mean-nan", lambda L: L.F.mse_loss(L.A(np.zeros(0, np.float32)), L.A(np.zeros(0, np.float32))), area=A, kind="empty input"),
    err("kl_div-bad-reduction", lambda L: L.F.kl_div(L.A(np.log(PROBS)), L.A(PROBS), reduction="average"), ValueError, r"average", area=A, kind="invalid string"),
    same("kl_div-batchmean", lambda L: L.F.kl_div(L.A(np.log(PROBS)), L.A(PROBS[::-1].copy()), reduction="batchmean"), area=A, kind="valid edge"),
    same("kl_div-log-target", lambda L: L.F.kl_div(L.A(np.log(PROBS)), L.A(np.log(PROBS[::-1].copy())), log_target=True), warns=UserWarning, area=A, kind="valid edge"),
    same("kl_div-zero-target", lambda L: L.F.kl_div(L.A(np.log(PROBS)), L.A(np.zeros_like(PROBS)), reduction="sum"), area=A, kind="zero size"),
    err("gaussian_nll_loss-negative-var", lambda L: L.F.gaussian_nll_loss(L.A(rnd(4)), L.A(rnd(4)), L.A(-np.ones(4, np.float32))), (ValueError, RuntimeError), r"(?i)var.*negative", area=A, kind="value out of range"),
    err("gaussian_nll_loss-var-wrong-shape", lambda L: L.F.gaussian_nll_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3)), L.A(np.ones((4, 2), np.float32))), (ValueError, RuntimeError), r"(?i)var.*(size|shape)", area=A, kind="wrong shape"),
    same("gaussian_nll_loss-var-one-fewer-dim", lambda L: L.F.gaussian_nll_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3, seed=1)), L.A(np.ones(4, np.float32) * 0.5)), area=A, kind="valid edge"),
    same("poisson_nll_loss-full", lambda L: L.F.poisson_nll_loss(L.A(np.abs(rnd(4, 3)) + 0.1), L.A(np.abs(rnd(4, 3, seed=1)) * 3), log_input=False, full=True), area=A, kind="valid edge"),
    # margin losses
    same("margin_ranking_loss-ok", lambda L: L.F.margin_ranking_loss(L.A(rnd(4)), L.A(rnd(4, seed=1)), L.A(PM1), margin=0.3), area=A, kind="valid edge"),
    err("margin_ranking_loss-size-mismatch", lambda L: L.F.margin_ranking_loss(L.A(rnd(4)), L.A(rnd(3)), L.A(PM1)), (ValueError, RuntimeError), r"(?i)size|shape|match", area=A, kind="wrong shape"),
    same("cosine_embedding_loss-ok", lambda L: L.F.cosine_embedding_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3, seed=1)), L.A(PM1)), area=A, kind="valid edge"),
    err("cosine_embedding_loss-target-shape", lambda L: L.F.cosine_embedding_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3, seed=1)), L.A(PM1[:3])), (ValueError, RuntimeError), r"(?i)size|shape|target", area=A, kind="batch mismatch"),
    err("cosine_embedding_loss-3d", lambda L: L.F.cosine_embedding_loss(L.A(rnd(2, 4, 3)), L.A(rnd(2, 4, 3)), L.A(PM1)), (ValueError, RuntimeError), r"1D target tensor expects 2D input tensors.*\[2, 4, 3\]", area=A, kind="wrong rank"),
    same("triplet_margin_loss-ok", lambda L: L.F.triplet_margin_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3, seed=1)), L.A(rnd(4, 3, seed=2)), swap=True), area=A, kind="valid edge"),
    err("triplet_margin_loss-dim-mismatch", lambda L: L.F.triplet_margin_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3)), L.A(rnd(3))), (ValueError, RuntimeError), r"(?i)dimension|dim|shape", area=A, kind="wrong rank"),
    err("triplet_margin_loss-margin-negative", lambda L: L.F.triplet_margin_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3)), L.A(rnd(4, 3)), margin=-1.0), (ValueError, RuntimeError), r"(?i)margin.*(greater than 0|-1)", area=A, kind="negative size"),
    err("triplet_margin_with_distance-margin-negative", lambda L: L.F.triplet_margin_with_distance_loss(L.A(rnd(4, 3)), L.A(rnd(4, 3)), L.A(rnd(4, 3)), margin=-1.0), (ValueError, RuntimeError), r"(?i)margin.*(non-negative|-1)", area=A, kind="negative size"),
    same("multi_margin_loss-p2-weight", lambda L: L.F.multi_margin_loss(L.A(LOGITS), L.A(TARGET), p=2, weight=L.A(np.array([1.0, 0.5, 2.0], np.float32))), area=A, kind="valid edge"),
    err("multi_margin_loss-p3", lambda L: L.F.multi_margin_loss(L.A(LOGITS), L.A(TARGET), p=3), (ValueError, RuntimeError), r"(?i)only p == 1 and p == 2|p", area=A, kind="invalid value"),
    err("multi_margin_loss-target-out-of-range", lambda L: L.F.multi_margin_loss(L.A(LOGITS), L.A(np.array([0, 1, 2, 3]))), (IndexError, RuntimeError, ValueError), r"(?i)target.*(out of|range|bounds)|3", area=A, kind="target out of range"),
    same("multilabel_margin_loss-ok", lambda L: L.F.multilabel_margin_loss(L.A(LOGITS), L.A(np.array([[0, 2, -1], [1, -1, 0], [2, 1, 0], [-1, 0, 0]]))), area=A, kind="valid edge"),
    err("multilabel_margin_loss-target-shape", lambda L: L.F.multilabel_margin_loss(L.A(LOGITS), L.A(np.array([[0, 2], [1, -1], [2, 1], [-1, 0]]))), (ValueError, RuntimeError), r"(?i)target|shape|size", area=A, kind="wrong shape"),
    same("soft_margin_loss-any-target-values", lambda L: L.F.soft_margin_loss(L.A(rnd(4)), L.A(rnd(4, seed=2))), area=A, kind="valid edge"),
    # ctc
    same("ctc_loss-ok", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 2], [1, 1]])), L.A(np.array([5, 4])), L.A(np.array([2, 2]))), area=A, kind="valid edge"),
    same("ctc_loss-impossible-is-inf", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 1, 1], [1, 2, 1]])), L.A(np.array([3, 5])), L.A(np.array([3, 3])), reduction="none"), area=A, kind="NaN/inf"),
    same("ctc_loss-zero-infinity", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 1, 1], [1, 2, 1]])), L.A(np.array([3, 5])), L.A(np.array([3, 3])), reduction="none", zero_infinity=True), area=A, kind="NaN/inf"),
    err("ctc_loss-input-length-too-long", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 2], [1, 1]])), L.A(np.array([6, 4])), L.A(np.array([2, 2]))), (ValueError, RuntimeError), r"(?i)input_lengths?.*(6|exceed|must be)", area=A, kind="target out of range"),
    err("ctc_loss-blank-out-of-range", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 2], [1, 1]])), L.A(np.array([5, 4])), L.A(np.array([2, 2])), blank=4), (ValueError, RuntimeError, IndexError), r"(?i)blank", area=A, kind="target out of range"),
    err("ctc_loss-lengths-batch-mismatch", lambda L: L.F.ctc_loss(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 2], [1, 1]])), L.A(np.array([5])), L.A(np.array([2, 2]))), (ValueError, RuntimeError), r"(?i)input_lengths.*(batch|size|2)", area=A, kind="batch mismatch"),
    # modules
    err("CrossEntropyLoss-bad-reduction", lambda L: L.M("CrossEntropyLoss", reduction="avg")(L.A(LOGITS), L.A(TARGET)), ValueError, r"avg", area=A, kind="invalid string"),
    err("MSELoss-bad-reduction", lambda L: L.M("MSELoss", reduction="batchmean")(L.A(rnd(2)), L.A(rnd(2))), ValueError, r"batchmean", area=A, kind="invalid string"),
    err("NLLLoss-weight-wrong-size", lambda L: L.M("NLLLoss", weight=np.ones(2, np.float32))(L.A(LOGITS), L.A(TARGET)), (ValueError, RuntimeError), r"weight tensor should be defined either for all 3 classes", area=A, kind="feature count"),
    same("CrossEntropyLoss-weight-ignore", lambda L: L.M("CrossEntropyLoss", weight=np.array([1.0, 2.0, 3.0], np.float32), ignore_index=1)(L.A(LOGITS), L.A(TARGET)), area=A, kind="valid edge"),
    same("BCELoss-legacy-size-average", lambda L: L.M("BCELoss", size_average=False)(L.A(SIG), L.A(BIN)), warns=UserWarning, area=A, kind="valid edge"),
    err("CTCLoss-bad-reduction", lambda L: L.M("CTCLoss", reduction="max")(L.A(np.log(_ctc_probs())), L.A(np.array([[1, 2], [1, 1]])), L.A(np.array([5, 4])), L.A(np.array([2, 2]))), ValueError, r"max", area=A, kind="invalid string"),
]


# NaN and +-inf through the losses' clamps and branches: value and input gradients, torch's
# default (scalar) CPU kernels give the same numbers as its AVX2 ones here (checked with
# ATEN_CPU_CAPABILITY=default and =avx2). A NaN loss must stay NaN: a clamp written
# where(x >= 0, x, 0) used to turn it into 0, a diverged model looking fine.
nan, inf = np.nan, np.inf
N = "NaN/inf"
# pairs chosen so that -y * (x1 - x2) + margin is NaN, inf - inf, +-inf and finite
X1 = np.array([nan, inf, -inf, inf, 1.0, 0.0, inf, -inf, 0.5], np.float32)
X2 = np.array([0.0, 0.0, 0.0, inf, nan, inf, -inf, -inf, 0.2], np.float32)
Y8 = np.array([1, 1, -1, 1, -1, -1, 1, 1, -1], np.float32)
D = np.array([nan, inf, -inf, 0.5, 3.0, 0.0, -0.25, -2.0], np.float32)  # input - target
ROWS = np.array([[1.0, 2.0], [nan, 1.0], [inf, 1.0], [-inf, 1.0], [1.0, 2.0], [inf, 1.0]], np.float32)
ROWS2 = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [inf, 1.0], [inf, 1.0]], np.float32)
ZEROS2, ONES2 = np.zeros((6, 2), np.float32), np.ones((6, 2), np.float32)
NONFINITE = [
    same("margin_ranking_loss-nan-inf-grad", lambda L: vg(L, lambda F, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.3, reduction="none"), X1, X2, Y8, wrt=(0, 1)), area=A, kind=N),
    same("margin_ranking_loss-nan-mean", lambda L: vg(L, lambda F, a, b, y: F.margin_ranking_loss(a, b, y), X1, X2, Y8, wrt=(0, 1)), area=A, kind=N),
    same("hinge_embedding_loss-nan-inf-grad", lambda L: vg(L, lambda F, x, y: F.hinge_embedding_loss(x, y, reduction="none"), np.array([nan, inf, -inf, nan, inf, -inf, 0.5, 2.0], np.float32), np.array([1, 1, 1, -1, -1, -1, -1, -1], np.float32)), area=A, kind=N),
    same("cosine_embedding_loss-nan-inf-y-neg", lambda L: vg(L, lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, reduction="none"), ROWS, ROWS2, -np.ones(6, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("cosine_embedding_loss-nan-inf-margin", lambda L: vg(L, lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.2, reduction="none"), ROWS, ROWS2, np.array([1, -1, -1, 1, -1, -1], np.float32), wrt=(0, 1)), area=A, kind=N),
    same("triplet_margin_loss-nan-inf-anchor", lambda L: vg(L, lambda F, a, p, n: F.triplet_margin_loss(a, p, n, reduction="none"), ROWS, ZEROS2, ONES2, wrt=(0, 1, 2)), area=A, kind=N),
    same("triplet_margin_loss-nan-inf-negative-swap", lambda L: vg(L, lambda F, a, p, n: F.triplet_margin_loss(a, p, n, swap=True, reduction="none"), ZEROS2, ONES2, ROWS, wrt=(0, 1, 2)), area=A, kind=N),
    same("triplet_margin_with_distance_loss-nan-inf", lambda L: vg(L, lambda F, a, p, n: F.triplet_margin_with_distance_loss(a, p, n, reduction="none"), ROWS, ZEROS2, ONES2, wrt=(0, 1, 2)), area=A, kind=N),
    same("triplet_margin_with_distance_loss-swap-mean", lambda L: vg(L, lambda F, a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=True), ZEROS2, ONES2, ROWS, wrt=(0, 1, 2)), area=A, kind=N),
    # gradients at +-inf are +-1 (smooth_l1) / +-delta (huber), as torch's backward gives
    same("smooth_l1_loss-nan-inf-grad", lambda L: vg(L, lambda F, x, t: F.smooth_l1_loss(x, t, reduction="none"), D, np.zeros(8, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("smooth_l1_loss-nan-inf-grad-mean-beta", lambda L: vg(L, lambda F, x, t: F.smooth_l1_loss(x, t, beta=0.5), D, np.zeros(8, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("smooth_l1_loss-beta0-nan-grad", lambda L: vg(L, lambda F, x, t: F.smooth_l1_loss(x, t, beta=0.0, reduction="none"), D, np.zeros(8, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("huber_loss-nan-inf-grad", lambda L: vg(L, lambda F, x, t: F.huber_loss(x, t, reduction="none", delta=0.5), D, np.zeros(8, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("l1_loss-nan-inf-grad", lambda L: vg(L, lambda F, x, t: F.l1_loss(x, t, reduction="none"), D, np.zeros(8, np.float32), wrt=(0, 1)), area=A, kind=N),
    same("gaussian_nll_loss-var-inf-nan", lambda L: vg(L, lambda F, x, t, v: F.gaussian_nll_loss(x, t, v, reduction="none"), np.array([1, 1, 1, nan, inf], np.float32), np.zeros(5, np.float32), np.array([inf, nan, 1, 1, 1], np.float32), wrt=(0, 1, 2)), area=A, kind=N),
    same("gaussian_nll_loss-var-inf-mean", lambda L: vg(L, lambda F, x, t, v: F.gaussian_nll_loss(x, t, v), np.ones(3, np.float32), np.zeros(3, np.float32), np.array([inf, 1, 1e-9], np.float32), wrt=(0, 1, 2)), area=A, kind=N),
    # torch's multi-class margin kernels count a term only where it is > 0: NaN drops out
    same("multi_margin_loss-nan-inf", lambda L: vg(L, lambda F, x, t: F.multi_margin_loss(x, t, reduction="none"), np.array([[nan, 0.0, 1.0], [inf, 0.0, 1.0], [0.0, -inf, 1.0]], np.float32), np.array([0, 1, 2])), area=A, kind=N),
    same("multilabel_margin_loss-nan-inf", lambda L: vg(L, lambda F, x, t: F.multilabel_margin_loss(x, t, reduction="none"), np.array([[nan, 0.0, 1.0], [inf, 0.0, 1.0], [0.0, -inf, 1.0]], np.float32), np.array([[0, -1, 0], [1, 2, -1], [2, -1, 0]])), area=A, kind=N),
]


def _ctc_probs():
    p = np.abs(rnd(5, 2, 4, seed=9)) + 0.1
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


CASES = LOSS + NONFINITE


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
