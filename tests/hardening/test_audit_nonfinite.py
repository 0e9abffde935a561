"""Bad-input audit: NaN and +-inf through the clamps, kinks and branches outside the losses
(activations, prelu, distances, pooling, grid_sample): values and input gradients against
torch (see _audit.py; the losses' cases are in test_audit_loss.py).

torch's default (scalar) CPU kernels and its AVX2 ones give the same numbers for every case
here (checked with ATEN_CPU_CAPABILITY=default and =avx2). What torch does at NaN shows in
the gradient: its backward kernels test ``x <= 0`` (relu, elu), ``x <= lo or x >= hi``
(hardtanh), so a NaN input takes the identity branch and gets gradient 1 there.
"""

import numpy as np
import pytest

from ._audit import check_case, params, same, vg

nan, inf = np.nan, np.inf
N = "NaN/inf"
S = np.array([nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 7.0, -7.0, 3.0, -3.0, 6.0], np.float32)


def act(name, **kw):
    return same(f"{name}-nan-inf-grad", lambda L: vg(L, lambda F, x: getattr(F, name)(x, **kw), S), area="activations", kind=N)


IMG = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) - 4
IMG_INF = IMG.copy()
IMG_INF[0, 0, 2, 2] = inf
IMG_INF[0, 0, 0, 0] = nan
GRID = np.array([[[[-0.6, 0.0], [0.1, 0.5]], [[0.5, 1.0], [0.2, 0.3]], [[0.0, 0.0], [0.9, -0.9]], [[1.0, 1.0], [-1.0, 1.0]]]], np.float32)
GRID_NONFINITE = np.array([[[[nan, 0.0], [inf, 0.5]], [[-inf, 1.0], [0.2, nan]], [[0.0, 0.0], [0.9, -0.9]], [[1.0, 1.0], [-1.0, 1.0]]]], np.float32)
ROWS = np.array([[1.0, 2.0], [nan, 1.0], [inf, 1.0], [-inf, 1.0], [1.0, -2.0]], np.float32)


def gs(**kw):
    return lambda F, x, g: F.grid_sample(x, g, **kw)


CASES = [
    *[act(n) for n in ("relu", "relu6", "hardtanh", "elu", "selu", "hardswish", "hardsigmoid", "leaky_relu", "softshrink", "hardshrink")],
    act("celu", alpha=0.5),
    act("threshold", threshold=0.5, value=-1.0),
    same("prelu-nan-inf-grad", lambda L: vg(L, lambda F, x, w: F.prelu(x, w), S[None], np.float32([0.25]), wrt=(0, 1)), area="activations", kind=N),
    # an infinite or NaN slope must not give a positive input the gradient inf * 0 = NaN
    same("prelu-inf-weight-grad", lambda L: vg(L, lambda F, x, w: F.prelu(x, w), np.float32([[-2.0, 0.0, 3.0, -1.0]]), np.float32([inf]), wrt=(0, 1)), area="activations", kind=N),
    same("prelu-nan-weight-grad", lambda L: vg(L, lambda F, x, w: F.prelu(x, w), np.float32([[-2.0, 0.0, 3.0, -1.0]]), np.float32([nan]), wrt=(0, 1)), area="activations", kind=N),
    # distances: abs's gradient is sign(x), 0 at NaN in torch
    same("pairwise_distance-p1-nan-inf-grad", lambda L: vg(L, lambda F, a, b: F.pairwise_distance(a, b, p=1.0), ROWS, ROWS[::-1].copy(), wrt=(0, 1)), area="distance", kind=N),
    same("pairwise_distance-p2-nan-inf-grad", lambda L: vg(L, lambda F, a, b: F.pairwise_distance(a, b), ROWS, ROWS[::-1].copy(), wrt=(0, 1)), area="distance", kind=N),
    same("cosine_similarity-nan-inf-grad", lambda L: vg(L, lambda F, a, b: F.cosine_similarity(a, b), ROWS, ROWS[::-1].copy(), wrt=(0, 1)), area="distance", kind=N),
    # lp_pool: torch's relu passes a NaN window's gradient to every element of the window
    same("lp_pool2d-nan-inf-grad", lambda L: vg(L, lambda F, x: F.lp_pool2d(x, 2.0, 2), np.array([[[[nan, 1.0], [2.0, 3.0]], [[inf, 1.0], [2.0, 3.0]], [[-inf, 1.0], [2.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]]], np.float32)), area="pooling", kind=N),
    same("lp_pool1d-p3-nan-inf-grad", lambda L: vg(L, lambda F, x: F.lp_pool1d(x, 3.0, 2), np.array([[[nan, 1.0, inf, 1.0, -inf, 1.0, 0.0, 0.0, -1.0, -2.0]]], np.float32)), area="pooling", kind=N),
    # grid_sample: a NaN/inf position reads nothing (zeros padding) and its weights make the
    # output NaN; an out-of-bounds tap is 0 even where the clipped index holds inf
    same("grid_sample-bilinear-zeros-nonfinite-grid", lambda L: vg(L, gs(align_corners=False), IMG, GRID_NONFINITE, wrt=(0, 1)), area="vision", kind=N),
    same("grid_sample-bilinear-zeros-inf-pixel", lambda L: vg(L, gs(align_corners=False), IMG_INF, GRID, wrt=(0, 1)), area="vision", kind=N),
    same("grid_sample-bilinear-border-inf-pixel", lambda L: vg(L, gs(padding_mode="border", align_corners=True), IMG_INF, GRID, wrt=(0, 1)), area="vision", kind=N),
    same("grid_sample-nearest-zeros-nonfinite-grid", lambda L: vg(L, gs(mode="nearest", align_corners=False), IMG, GRID_NONFINITE), area="vision", kind=N),
    # border / reflection clamp a NaN position to the first pixel, as torch's kernels do.
    # (Not the bilinear gradient there: torch 2.13's CPU backward segfaults on it.)
    same("grid_sample-nearest-border-nonfinite-grid", lambda L: vg(L, gs(mode="nearest", padding_mode="border", align_corners=True), IMG, GRID_NONFINITE), area="vision", kind=N),
    same("grid_sample-nearest-reflection-nonfinite-grid", lambda L: vg(L, gs(mode="nearest", padding_mode="reflection", align_corners=False), IMG, GRID_NONFINITE), area="vision", kind=N),
    same("grid_sample-bilinear-border-nonfinite-grid-value", lambda L: L.F.grid_sample(L.A(IMG), L.A(GRID_NONFINITE), padding_mode="border", align_corners=False), area="vision", kind=N),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
