"""Bad-input audit: embedding/one_hot/embedding_bag, pad, interpolate, pixel/channel
shuffle, grid_sample/affine_grid, distances (see _audit.py)."""

import numpy as np
import pytest

from ._audit import check_case, err, ints, params, rnd, same

S = "sparse/embedding"
V = "vision/pad/interpolate"
DI = "distance"

W = rnd(5, 3)
IMG = rnd(1, 2, 4, 4)
NAN_IMG = rnd(1, 2, 4, 4)
NAN_IMG[0, 0, 1, 2] = np.nan
NAN_IMG[0, 1, 2, 2] = np.inf


def emb(L, idx, w=W, **kw):
    return L.F.embedding(L.A(idx), L.A(w), **kw)


def bag(L, idx, offsets=None, **kw):
    return L.F.embedding_bag(L.A(idx), L.A(W), None if offsets is None else L.A(offsets), **kw)


SPARSE = [
    same("embedding-ok", lambda L: emb(L, ints(2, 3, high=5)), area=S, kind="valid edge"),
    same("embedding-0d-index", lambda L: emb(L, np.int64(2)), area=S, kind="0-d input"),
    same("embedding-empty", lambda L: emb(L, np.zeros((0,), np.int64)), area=S, kind="empty input"),
    same("embedding-negative-padding-idx", lambda L: emb(L, ints(4, high=5), padding_idx=-1), area=S, kind="valid edge"),
    same("embedding-int32-index", lambda L: emb(L, ints(4, high=5).astype(np.int32)), area=S, kind="valid edge"),
    same("embedding-nan-weight", lambda L: emb(L, np.array([0, 1]), w=np.where(np.arange(15).reshape(5, 3) == 4, np.nan, W).astype(np.float32)), area=S, kind="NaN/inf"),
    err("embedding-index-too-large", lambda L: emb(L, np.array([0, 5])), IndexError, r"index out of range.*5.*\[0, 4\]", area=S, kind="target out of range"),
    err("embedding-index-negative", lambda L: emb(L, np.array([-1, 0])), IndexError, r"index out of range.*-1", area=S, kind="target out of range"),
    err("embedding-float-index", lambda L: emb(L, np.array([0.0, 1.0], np.float32)), (TypeError, RuntimeError), r"(?i)(indices|input).*(int|Long)|float", area=S, kind="float indices"),
    err("embedding-bool-index", lambda L: emb(L, np.array([True, False])), (TypeError, RuntimeError), r"(?i)(indices|input).*(int|Long)|bool", area=S, kind="bool indices"),
    err("embedding-padding-idx-out-of-range", lambda L: emb(L, np.array([0]), padding_idx=5), (ValueError, AssertionError), r"(?i)padding_idx.*5", area=S, kind="target out of range"),
    err("embedding-1d-weight", lambda L: emb(L, np.array([0]), w=rnd(5)), (ValueError, RuntimeError), r"(?i)weight.*2-D|weight", area=S, kind="wrong rank"),
    # one_hot
    same("one_hot-ok", lambda L: L.F.one_hot(L.A(np.array([0, 2, 1])), 4), area=S, kind="valid edge"),
    same("one_hot-infer", lambda L: L.F.one_hot(L.A(np.array([[0, 2], [1, 1]]))), area=S, kind="valid edge"),
    same("one_hot-empty-with-classes", lambda L: L.F.one_hot(L.A(np.zeros((0,), np.int64)), 3), area=S, kind="empty input"),
    err("one_hot-value-too-large", lambda L: L.F.one_hot(L.A(np.array([0, 3])), 3), (ValueError, RuntimeError), r"(?i)class values must be smaller than num_classes", area=S, kind="target out of range"),
    err("one_hot-negative-value", lambda L: L.F.one_hot(L.A(np.array([-1, 0])), 3), (ValueError, RuntimeError), r"(?i)class values must be non-negative", area=S, kind="target out of range"),
    err("one_hot-float-input", lambda L: L.F.one_hot(L.A(np.array([0.0, 1.0], np.float32)), 3), (TypeError, RuntimeError), r"(?i)int|Long|float", area=S, kind="float indices"),
    err("one_hot-num-classes-negative", lambda L: L.F.one_hot(L.A(np.array([0, 1])), -2), (ValueError, RuntimeError), r"(?i)num_classes", area=S, kind="negative size"),
    err("one_hot-infer-empty", lambda L: L.F.one_hot(L.A(np.zeros((0,), np.int64))), (ValueError, RuntimeError), r"(?i)empty", area=S, kind="empty input", eager_only=True),
    # embedding_bag
    same("embedding_bag-2d-mean", lambda L: bag(L, ints(2, 3, high=5)), area=S, kind="valid edge"),
    same("embedding_bag-offsets-sum", lambda L: bag(L, ints(6, high=5), np.array([0, 2, 2]), mode="sum"), area=S, kind="valid edge"),
    same("embedding_bag-max", lambda L: bag(L, ints(2, 3, high=5), mode="max"), area=S, kind="valid edge"),
    err("embedding_bag-bad-mode", lambda L: bag(L, ints(2, 3, high=5), mode="median"), (ValueError, RuntimeError), r"mode.*median", area=S, kind="invalid string"),
    err("embedding_bag-1d-no-offsets", lambda L: bag(L, ints(6, high=5)), (ValueError, RuntimeError), r"offsets", area=S, kind="missing argument"),
    err("embedding_bag-2d-with-offsets", lambda L: bag(L, ints(2, 3, high=5), np.array([0, 1])), (ValueError, RuntimeError), r"offsets has to be None", area=S, kind="invalid combination"),
    err("embedding_bag-offsets-not-starting-at-0", lambda L: bag(L, ints(6, high=5), np.array([1, 3])), (ValueError, RuntimeError), r"offsets\[0\] has to be 0", area=S, kind="wrong value"),
    err("embedding_bag-offsets-past-end", lambda L: bag(L, ints(6, high=5), np.array([0, 7])), (ValueError, RuntimeError), r"offsets\[-1\].*7", area=S, kind="target out of range"),
    err("embedding_bag-index-out-of-range", lambda L: bag(L, np.array([[0, 9]])), (IndexError, RuntimeError), r"(?i)9.*not in the valid range|index", area=S, kind="target out of range"),
    err("embedding_bag-3d-input", lambda L: bag(L, ints(2, 2, 2, high=5)), (ValueError, RuntimeError), r"1D or 2D", area=S, kind="wrong rank"),
    err("embedding_bag-per-sample-weights-mean", lambda L: L.F.embedding_bag(L.A(ints(2, 3, high=5)), L.A(W), per_sample_weights=L.A(rnd(2, 3))), (ValueError, NotImplementedError, RuntimeError), r"per_sample_weights.*(sum|mode)", area=S, kind="invalid combination"),
    # module
    err("Embedding-padding-idx-too-large", lambda L: L.M("Embedding", 5, 3, padding_idx=5), (ValueError, AssertionError), r"(?i)padding_idx", area=S, kind="target out of range"),
    err("Embedding-float-input", lambda L: L.M("Embedding", 5, 3)(L.A(np.array([0.0, 1.0], np.float32))), (TypeError, RuntimeError), r"(?i)int|Long|float", area=S, kind="float indices"),
    err("Embedding-out-of-range", lambda L: L.M("Embedding", 5, 3)(L.A(np.array([7]))), IndexError, r"index out of range.*7", area=S, kind="target out of range"),
    err("EmbeddingBag-bad-mode", lambda L: L.M("EmbeddingBag", 5, 3, mode="avg")(L.A(ints(2, 3, high=5))), ValueError, r"mode.*avg", area=S, kind="invalid string"),
]


def pad(L, x, p, **kw):
    return L.F.pad(L.A(x), p, **kw)


def interp(L, x=IMG, **kw):
    return L.F.interpolate(L.A(x), **kw)


VISION = [
    same("pad-constant-negative-crops", lambda L: pad(L, IMG, (-1, 1, 0, -2)), area=V, kind="negative size"),
    same("pad-constant-value", lambda L: pad(L, IMG, (1, 1), value=3.5), area=V, kind="valid edge"),
    same("pad-constant-nan-value", lambda L: pad(L, IMG, (1, 1), value=float("nan")), area=V, kind="NaN/inf"),
    same("pad-reflect-nan", lambda L: pad(L, NAN_IMG, (1, 1, 2, 2), mode="reflect"), area=V, kind="NaN/inf"),
    same("pad-replicate-unbatched", lambda L: pad(L, IMG[0], (1, 2, 0, 1), mode="replicate"), area=V, kind="unbatched input"),
    same("pad-circular", lambda L: pad(L, IMG, (1, 2, 2, 1), mode="circular"), area=V, kind="valid edge"),
    same("pad-constant-1d", lambda L: pad(L, rnd(3), (2, 1)), area=V, kind="valid edge"),
    same("pad-reflect-max", lambda L: pad(L, IMG[0], (3, 3), mode="reflect"), area=V, kind="valid edge"),
    same("pad-int-input-constant", lambda L: pad(L, ints(2, 3, high=4), (1, 1)), area=V, kind="int input"),
    err("pad-odd-length", lambda L: pad(L, IMG, (1, 1, 1)), (RuntimeError, ValueError), r"(?i)padding length.*(even|divisible)", area=V, kind="wrong length"),
    err("pad-too-long", lambda L: pad(L, rnd(3), (1, 1, 1, 1)), (RuntimeError, ValueError), r"(?i)padding length should be less than or equal to two times.*padding length 4", area=V, kind="wrong length"),
    err("pad-bad-mode", lambda L: pad(L, IMG, (1, 1), mode="wrap"), (NotImplementedError, ValueError), r"(?i)padding mode.*wrap|mode", area=V, kind="invalid string"),
    err("pad-reflect-4d-input-2-pad", lambda L: pad(L, IMG, (1, 1), mode="reflect"), NotImplementedError, r"Padding size 2 is not supported for 4D input", area=V, kind="wrong rank"),
    err("pad-reflect-too-large", lambda L: pad(L, IMG[0], (4, 0), mode="reflect"), RuntimeError, r"(?i)padding size should be less than.*input dimension", area=V, kind="too large padding"),
    err("pad-circular-too-large", lambda L: pad(L, IMG, (5, 0, 0, 0), mode="circular"), RuntimeError, r"(?i)padding.*(circular|less than|at most)|circular", area=V, kind="too large padding"),
    err("pad-reflect-with-value", lambda L: pad(L, IMG, (1, 1), mode="reflect", value=1.0), (RuntimeError, ValueError, NotImplementedError), r"(?i)value", area=V, kind="invalid combination"),
    err("pad-reflect-too-many-dims", lambda L: pad(L, rnd(2, 2, 3, 3, 3), (1, 1, 1, 1, 1, 1, 1, 1), mode="reflect"), (RuntimeError, NotImplementedError, ValueError), r"(?i)pad|dimension", area=V, kind="wrong rank"),
    err("pad-float-entries", lambda L: pad(L, IMG, (1.0, 1.0)), (TypeError, RuntimeError, ValueError), r"(?i)pad", area=V, kind="wrong type"),
    same("pad-constant-crop-to-empty", lambda L: pad(L, IMG, (-4, 0)), area=V, kind="negative size"),
    err("pad-constant-crop-past-empty", lambda L: pad(L, IMG, (-5, 0)), RuntimeError, r"(?i)(resulting|output).*size|non-positive|negative", area=V, kind="negative size"),
    # interpolate
    same("interpolate-nearest", lambda L: interp(L, scale_factor=2), area=V, kind="valid edge"),
    same("interpolate-bilinear-ac", lambda L: interp(L, size=(5, 7), mode="bilinear", align_corners=True), area=V, kind="valid edge"),
    same("interpolate-bicubic", lambda L: interp(L, size=6, mode="bicubic"), area=V, kind="valid edge"),
    same("interpolate-area", lambda L: interp(L, size=(2, 3), mode="area"), area=V, kind="valid edge"),
    same("interpolate-nearest-exact", lambda L: interp(L, scale_factor=1.5, mode="nearest-exact"), area=V, kind="valid edge"),
    same("interpolate-linear-1d", lambda L: interp(L, x=rnd(1, 2, 5), size=8, mode="linear"), area=V, kind="valid edge"),
    same("interpolate-bilinear-nan", lambda L: interp(L, x=NAN_IMG, size=(6, 6), mode="bilinear"), area=V, kind="NaN/inf"),
    same("interpolate-nearest-nan", lambda L: interp(L, x=NAN_IMG, scale_factor=2), area=V, kind="NaN/inf"),
    same("interpolate-downscale-antialias", lambda L: interp(L, size=(2, 2), mode="bilinear", antialias=True), area=V, kind="valid edge"),
    err("interpolate-size-and-scale", lambda L: interp(L, size=4, scale_factor=2), ValueError, r"(?i)only one of size or scale_factor", area=V, kind="invalid combination"),
    err("interpolate-neither", lambda L: interp(L), ValueError, r"(?i)either size or scale_factor", area=V, kind="missing argument"),
    err("interpolate-bad-mode", lambda L: interp(L, scale_factor=2, mode="cubic"), (ValueError, NotImplementedError), r"(?i)mode.*cubic|cubic", area=V, kind="invalid string"),
    err("interpolate-align-corners-nearest", lambda L: interp(L, scale_factor=2, align_corners=True), ValueError, r"(?i)align_corners.*(only|linear)", area=V, kind="invalid combination"),
    err("interpolate-bilinear-3d-input", lambda L: interp(L, x=rnd(1, 2, 5), size=4, mode="bilinear"), (ValueError, NotImplementedError, RuntimeError), r"(?i)(4D|bilinear|input)", area=V, kind="wrong rank"),
    err("interpolate-linear-4d-input", lambda L: interp(L, size=4, mode="linear"), (ValueError, NotImplementedError, RuntimeError), r"(?i)(3D|linear|input)", area=V, kind="wrong rank"),
    err("interpolate-size-wrong-length", lambda L: interp(L, size=(2, 3, 4)), ValueError, r"(?i)size", area=V, kind="wrong length"),
    err("interpolate-size-zero", lambda L: interp(L, size=0), (ValueError, RuntimeError), r"(?i)(output|input).*size|size.*0|greater than 0", area=V, kind="zero size"),
    err("interpolate-scale-negative", lambda L: interp(L, scale_factor=-1.0), (ValueError, RuntimeError), r"(?i)size|scale", area=V, kind="negative size"),
    err("interpolate-2d-input", lambda L: interp(L, x=rnd(4, 4), scale_factor=2), (ValueError, NotImplementedError, RuntimeError), r"(?i)input|3D|dimension", area=V, kind="wrong rank"),
    err("interpolate-antialias-nearest", lambda L: interp(L, size=2, antialias=True), (ValueError, NotImplementedError, RuntimeError), r"(?i)anti-?alias", area=V, kind="invalid combination"),
    # pixel / channel shuffle
    same("pixel_shuffle-ok", lambda L: L.F.pixel_shuffle(L.A(rnd(1, 8, 2, 2)), 2), area=V, kind="valid edge"),
    same("pixel_unshuffle-unbatched", lambda L: L.F.pixel_unshuffle(L.A(rnd(2, 4, 4)), 2), area=V, kind="unbatched input"),
    err("pixel_shuffle-not-divisible", lambda L: L.F.pixel_shuffle(L.A(rnd(1, 6, 2, 2)), 2), RuntimeError, r"(?i)divisible by.*upscale_factor|upscale_factor", area=V, kind="channel count"),
    err("pixel_shuffle-zero-factor", lambda L: L.F.pixel_shuffle(L.A(rnd(1, 4, 2, 2)), 0), RuntimeError, r"(?i)positive upscale_factor.*0", area=V, kind="zero size"),
    err("pixel_shuffle-2d-input", lambda L: L.F.pixel_shuffle(L.A(rnd(4, 4)), 2), RuntimeError, r"(?i)at least 3 dimensions|input", area=V, kind="wrong rank"),
    err("pixel_unshuffle-not-divisible", lambda L: L.F.pixel_unshuffle(L.A(rnd(1, 1, 5, 4)), 2), RuntimeError, r"(?i)divisible by downscale_factor", area=V, kind="wrong size"),
    same("channel_shuffle-ok", lambda L: L.F.channel_shuffle(L.A(rnd(1, 6, 2, 2)), 3), area=V, kind="valid edge"),
    err("channel_shuffle-not-divisible", lambda L: L.F.channel_shuffle(L.A(rnd(1, 5, 2, 2)), 2), RuntimeError, r"(?i)divisible by groups|groups", area=V, kind="channel count"),
    err("channel_shuffle-zero-groups", lambda L: L.F.channel_shuffle(L.A(rnd(1, 4, 2, 2)), 0), RuntimeError, r"(?i)groups.*0|positive", area=V, kind="zero size"),
    # grid_sample / affine_grid
    same("grid_sample-ok", lambda L: L.F.grid_sample(L.A(IMG), L.A(np.tanh(rnd(1, 3, 3, 2, seed=1))), align_corners=False), area=V, kind="valid edge"),
    same("grid_sample-nan-grid", lambda L: L.F.grid_sample(L.A(IMG), L.A(np.where(np.arange(18).reshape(1, 3, 3, 2) == 3, np.nan, np.tanh(rnd(1, 3, 3, 2, seed=1))).astype(np.float32)), align_corners=False), area=V, kind="NaN/inf"),
    err("grid_sample-bad-mode", lambda L: L.F.grid_sample(L.A(IMG), L.A(rnd(1, 3, 3, 2)), mode="linear", align_corners=False), ValueError, r"(?i)mode.*linear", area=V, kind="invalid string"),
    err("grid_sample-bad-padding-mode", lambda L: L.F.grid_sample(L.A(IMG), L.A(rnd(1, 3, 3, 2)), padding_mode="wrap", align_corners=False), ValueError, r"(?i)padding_mode.*wrap", area=V, kind="invalid string"),
    err("grid_sample-batch-mismatch", lambda L: L.F.grid_sample(L.A(IMG), L.A(rnd(2, 3, 3, 2)), align_corners=False), RuntimeError, r"(?i)batch size", area=V, kind="batch mismatch"),
    err("grid_sample-grid-last-dim", lambda L: L.F.grid_sample(L.A(IMG), L.A(rnd(1, 3, 3, 3)), align_corners=False), RuntimeError, r"(?i)grid.*last dimension|grid", area=V, kind="wrong shape"),
    err("grid_sample-bicubic-5d", lambda L: L.F.grid_sample(L.A(rnd(1, 1, 2, 2, 2)), L.A(rnd(1, 2, 2, 2, 3)), mode="bicubic", align_corners=False), RuntimeError, r"(?i)bicubic.*4D", area=V, kind="invalid combination"),
    same("affine_grid-ok", lambda L: L.F.affine_grid(L.A(rnd(2, 2, 3)), [2, 1, 3, 4], align_corners=False), area=V, kind="valid edge"),
    err("affine_grid-theta-shape", lambda L: L.F.affine_grid(L.A(rnd(2, 3, 3)), [2, 1, 3, 4], align_corners=False), ValueError, r"affine matrices of shape Nx2x3.*\(2, 3, 3\)", area=V, kind="wrong shape"),
    err("affine_grid-int-theta", lambda L: L.F.affine_grid(L.A(ints(2, 2, 3, high=3)), [2, 1, 3, 4], align_corners=False), ValueError, r"(?i)theta.*floating", area=V, kind="int input"),
    err("affine_grid-batch-mismatch", lambda L: L.F.affine_grid(L.A(rnd(2, 2, 3)), [3, 1, 3, 4], align_corners=False), ValueError, r"(?i)size|batch|theta", area=V, kind="batch mismatch"),
    err("affine_grid-zero-size", lambda L: L.F.affine_grid(L.A(rnd(2, 2, 3)), [2, 1, 0, 4], align_corners=False), ValueError, r"(?i)non-zero, positive output size", area=V, kind="zero size"),
    # modules
    err("Upsample-bad-mode", lambda L: L.M("Upsample", scale_factor=2, mode="trilinear")(L.A(IMG)), (ValueError, NotImplementedError, RuntimeError), r"(?i)trilinear|5D|input", area=V, kind="invalid string"),
    err("ReflectionPad2d-too-large", lambda L: L.M("ReflectionPad2d", 4)(L.A(IMG)), RuntimeError, r"(?i)padding size should be less than", area=V, kind="too large padding"),
    err("ConstantPad2d-wrong-length", lambda L: L.M("ConstantPad2d", (1, 1, 1), 0.0)(L.A(IMG)), (ValueError, TypeError, RuntimeError), r"(?i)padding", area=V, kind="wrong length"),
    err("PixelShuffle-not-divisible", lambda L: L.M("PixelShuffle", 3)(L.A(rnd(1, 8, 2, 2))), RuntimeError, r"(?i)divisible", area=V, kind="channel count"),
]

DIST = [
    same("cosine_similarity-ok", lambda L: L.F.cosine_similarity(L.A(rnd(3, 4)), L.A(rnd(3, 4, seed=1))), area=DI, kind="valid edge"),
    same("cosine_similarity-broadcast", lambda L: L.F.cosine_similarity(L.A(rnd(3, 4)), L.A(rnd(1, 4, seed=1))), area=DI, kind="valid edge"),
    same("cosine_similarity-zero-vector", lambda L: L.F.cosine_similarity(L.A(np.zeros((2, 4), np.float32)), L.A(rnd(2, 4))), area=DI, kind="zero size"),
    same("cosine_similarity-nan", lambda L: L.F.cosine_similarity(L.A(np.array([[np.nan, 1, 2]], np.float32)), L.A(rnd(1, 3))), area=DI, kind="NaN/inf"),
    same("pairwise_distance-nan", lambda L: L.F.pairwise_distance(L.A(np.array([[np.nan, 1, 2]], np.float32)), L.A(rnd(1, 3))), area=DI, kind="NaN/inf"),
    same("pairwise_distance-inf", lambda L: L.F.pairwise_distance(L.A(np.array([[np.inf, 1, 2]], np.float32)), L.A(rnd(1, 3))), area=DI, kind="NaN/inf"),
    same("pdist-nan", lambda L: L.F.pdist(L.A(np.array([[np.nan, 1], [0, 1], [2, 2]], np.float32))), area=DI, kind="NaN/inf"),
    err("cosine_similarity-shape-mismatch", lambda L: L.F.cosine_similarity(L.A(rnd(3, 4)), L.A(rnd(3, 5))), (ValueError, RuntimeError), r"(?i)size|shape|broadcast", area=DI, kind="feature count"),
    err("cosine_similarity-dim-out-of-range", lambda L: L.F.cosine_similarity(L.A(rnd(3, 4)), L.A(rnd(3, 4)), dim=2), IndexError, r"(?i)dimension out of range", area=DI, kind="dim out of range"),
    err("pairwise_distance-batch-mismatch", lambda L: L.F.pairwise_distance(L.A(rnd(3, 4)), L.A(rnd(2, 4))), (ValueError, RuntimeError), r"(?i)size|shape|broadcast", area=DI, kind="batch mismatch"),
    err("pdist-3d", lambda L: L.F.pdist(L.A(rnd(2, 3, 4))), (ValueError, RuntimeError), r"(?i)2D|2-D|dim", area=DI, kind="wrong rank"),
    err("pdist-negative-p", lambda L: L.F.pdist(L.A(rnd(3, 4)), p=-1.0), (ValueError, RuntimeError), r"(?i)p.*non-negative|p", area=DI, kind="negative size"),
]

CASES = SPARSE + VISION + DIST


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
