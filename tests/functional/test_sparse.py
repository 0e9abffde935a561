"""Parity of jaxnn.functional's embedding, embedding_bag and one_hot with torch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.functional.test_activation import check_jitted_together
from tests.parity import assert_close, check_function, randn

V, D = 10, 3
IDX = np.array([[1, 2, 4, 5], [4, 3, 2, 9], [0, 0, 4, 4]], np.int32)  # repeats and 0


def _weight(dtype=np.float32):
    return randn(V, D, dtype=dtype, seed=1) * 2.0


# id, indices, kwargs
EMBEDDING = [
    ("2d", IDX, {}),
    ("1d", IDX[0], {}),
    ("0d", np.array(7, np.int32), {}),
    ("empty", np.zeros((0,), np.int32), {}),
    ("padding-negative", IDX, dict(padding_idx=-6)),  # row 4
    ("padding-and-freq", IDX, dict(padding_idx=4, scale_grad_by_freq=True)),
    ("max-norm-p1", IDX, dict(max_norm=1.5, norm_type=1.0)),
    ("max-norm-padding-freq", IDX, dict(max_norm=1.0, padding_idx=2, scale_grad_by_freq=True)),
]


@pytest.mark.parametrize("idx,kwargs", [c[1:] for c in EMBEDDING], ids=[c[0] for c in EMBEDDING])
def test_embedding(idx, kwargs):
    # torch's max_norm renormalises its (copied) weight in place; the output and the
    # gradient must still agree with ours, which leaves the weight alone.
    check_function(F.embedding, TF.embedding, [idx, _weight()], kwargs, jit=False)


def test_embedding_sparse_flag_has_no_effect():
    # torch returns a sparse gradient; its dense values are those of sparse=False.
    check_function(lambda i, w: F.embedding(i, w, sparse=True), TF.embedding, [IDX, _weight()])


def test_embedding_max_norm_leaves_weight_unchanged():
    w = jnp.asarray(_weight())
    before = np.asarray(w).copy()
    out = F.embedding(jnp.asarray(IDX), w, max_norm=1.0)
    np.testing.assert_array_equal(np.asarray(w), before)
    assert float(jnp.linalg.norm(out, axis=-1).max()) <= 1.0 + 1e-6


def test_embedding_float64(x64):
    check_function(
        F.embedding,
        TF.embedding,
        [IDX.astype(np.int64), _weight(np.float64)],
        dict(padding_idx=0, scale_grad_by_freq=True),
    )


def test_embedding_bfloat16():
    w = jnp.asarray(_weight(), jnp.bfloat16)
    out = check_function(F.embedding, TF.embedding, [IDX, w], grad=False, jit=False)
    assert out.dtype == jnp.bfloat16


def test_embedding_out_of_range_under_jit_gives_nan():
    out = jax.jit(F.embedding)(jnp.array([1, 10, -1]), jnp.asarray(_weight()))
    assert np.isnan(np.asarray(out[1:])).all() and not np.isnan(np.asarray(out[0])).any()


EMBEDDING_ERRORS = [
    (
        "index-high",
        lambda: F.embedding(jnp.array([0, 10]), jnp.ones((V, D))),
        IndexError,
        r"index out of range in self: embedding got index 10 for a weight with 10 rows",
    ),
    (
        "index-negative",
        lambda: F.embedding(jnp.array([0, -1]), jnp.ones((V, D))),
        IndexError,
        r"index out of range in self",
    ),
    (
        "float-indices",
        lambda: F.embedding(jnp.array([0.0]), jnp.ones((V, D))),
        TypeError,
        r"integer dtype",
    ),
    (
        "weight-1d",
        lambda: F.embedding(jnp.array([0]), jnp.ones(V)),
        ValueError,
        r"'weight' must be 2-D",
    ),
    (
        "padding-range",
        lambda: F.embedding(jnp.array([0]), jnp.ones((V, D)), padding_idx=10),
        ValueError,
        r"Padding_idx must be within num_embeddings",
    ),
]


@pytest.mark.parametrize(
    "call,exc,match", [c[1:] for c in EMBEDDING_ERRORS], ids=[c[0] for c in EMBEDDING_ERRORS]
)
def test_embedding_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _one_hot_torch(t, *args, **kwargs):
    return TF.one_hot(t.long(), *args, **kwargs)


# id, values, num_classes
ONE_HOT = [
    ("infer", np.array([0, 2, 1], np.int32), -1),
    ("explicit", np.array([0, 2, 1], np.int32), 5),
    ("2d", np.array([[0, 2], [1, 1]], np.int32), -1),
    ("0d", np.array(2, np.int32), 4),
    ("empty", np.zeros((0,), np.int32), 3),
]


@pytest.mark.parametrize(
    "values,num_classes", [c[1:] for c in ONE_HOT], ids=[c[0] for c in ONE_HOT]
)
def test_one_hot(values, num_classes):
    out = check_function(
        F.one_hot, _one_hot_torch, [values], dict(num_classes=num_classes), jit=False
    )
    assert out.dtype == jnp.int32  # torch's int64, as JAX's default int without x64


def test_one_hot_jit_and_x64(x64):
    f = jax.jit(F.one_hot, static_argnums=1)
    out = f(jnp.array([3, 0], jnp.int64), 4)
    assert out.dtype == jnp.int64
    np.testing.assert_array_equal(np.asarray(out), TF.one_hot(torch.tensor([3, 0]), 4).numpy())


ONE_HOT_ERRORS = [
    (
        "jit-infer",
        lambda: jax.jit(F.one_hot)(jnp.array([0, 1])),
        ValueError,
        r"num_classes=-1 infers .* inside jax\.jit.*pass num_classes explicitly",
    ),
    (
        "negative",
        lambda: F.one_hot(jnp.array([0, -1]), 3),
        ValueError,
        r"Class values must be non-negative",
    ),
    (
        "too-large",
        lambda: F.one_hot(jnp.array([0, 3]), 3),
        ValueError,
        r"Class values must be smaller than num_classes",
    ),
    ("float", lambda: F.one_hot(jnp.array([0.0]), 3), TypeError, r"integer dtype"),
    (
        "empty-infer",
        lambda: F.one_hot(jnp.zeros((0,), jnp.int32)),
        ValueError,
        r"Can not infer total number of classes from empty tensor",
    ),
    ("num-classes", lambda: F.one_hot(jnp.array([0]), -2), ValueError, r"num_classes must be -1"),
]


@pytest.mark.parametrize(
    "call,exc,match", [c[1:] for c in ONE_HOT_ERRORS], ids=[c[0] for c in ONE_HOT_ERRORS]
)
def test_one_hot_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2, 2], np.int32)
OFFSETS = np.array([0, 4, 4, 8], np.int32)  # an empty bag; the last bag [2, 2]
# id, input, offsets, kwargs
BAG = [
    ("2d-mean", IDX, None, {}),
    ("2d-max", IDX, None, dict(mode="max")),  # rows 0 and 4 repeat in a bag: max ties
    ("offsets-max", FLAT, OFFSETS, dict(mode="max")),
    (
        "padding-mean-max-norm",
        FLAT,
        OFFSETS,
        dict(padding_idx=2, max_norm=1.0),
    ),  # last bag: all padding
    ("padding-max", FLAT, OFFSETS, dict(mode="max", padding_idx=2)),
    # The documented use: offsets[-1] == len(input). (Entries past it: see
    # test_embedding_bag_entries_past_last_offset.)
    (
        "last-offset",
        FLAT,
        np.array([0, 3, 3, 10], np.int32),
        dict(mode="sum", include_last_offset=True),
    ),
    ("max-norm-max", FLAT, OFFSETS, dict(mode="max", max_norm=1.0, norm_type=3.0)),
    ("empty-input", np.zeros((0,), np.int32), np.array([0, 0], np.int32), dict(mode="max")),
]


@pytest.mark.parametrize("idx,offsets,kwargs", [c[1:] for c in BAG], ids=[c[0] for c in BAG])
def test_embedding_bag(idx, offsets, kwargs):
    check_function(F.embedding_bag, TF.embedding_bag, [idx, _weight(), offsets], kwargs, jit=False)


def test_embedding_and_bags_under_jit():
    cases = [
        (F.embedding, TF.embedding, [idx, _weight()], kw) for _, idx, kw in EMBEDDING if idx.ndim
    ]
    cases += [
        (F.embedding_bag, TF.embedding_bag, [idx, _weight(), offsets], kw)
        for _, idx, offsets, kw in BAG
        if idx.size
    ]
    check_jitted_together(cases)


def test_embedding_bag_entries_past_last_offset():
    """With include_last_offset, entries past offsets[-1] belong to no bag.

    The forward matches torch. The gradient is compared with zero, not with torch: torch
    2.13's CPU backward leaves those weight rows uninitialised (garbage such as 1e24 that
    changes from run to run). (torch 2.13's mode="mean" also divides the last bag by its
    count up to the end of input: not reproduced, so only "sum" is compared.)
    """
    offsets = np.array([0, 3, 3, 7], np.int32)
    kw = dict(mode="sum", include_last_offset=True)
    w = _weight()
    out = F.embedding_bag(jnp.asarray(FLAT), jnp.asarray(w), jnp.asarray(offsets), **kw)
    expected = TF.embedding_bag(
        torch.as_tensor(FLAT), torch.as_tensor(w), torch.as_tensor(offsets), **kw
    )
    assert_close(out, expected, rtol=1e-6, atol=1e-6, what="forward")
    grad = jax.grad(
        lambda w_: F.embedding_bag(jnp.asarray(FLAT), w_, jnp.asarray(offsets), **kw).sum()
    )(jnp.asarray(w))
    counts = np.bincount(FLAT[: offsets[-1]], minlength=w.shape[0])
    np.testing.assert_array_equal(
        np.asarray(grad), np.repeat(counts[:, None], w.shape[1], 1).astype(np.float32)
    )


@pytest.mark.parametrize(
    "idx,offsets", [(IDX, None), (FLAT, np.array([0, 2, 2, 6], np.int32))], ids=["2d", "offsets"]
)
def test_embedding_bag_per_sample_weights(idx, offsets):
    psw = randn(*idx.shape, seed=5)

    def jfn(i, w, o, s):
        return F.embedding_bag(i, w, o, mode="sum", per_sample_weights=s, padding_idx=9)

    def tfn(i, w, o, s):
        return TF.embedding_bag(i, w, o, mode="sum", per_sample_weights=s, padding_idx=9)

    check_function(jfn, tfn, [idx, _weight(), offsets, psw])


def _torch_bag_via_embedding(i, w, o=None, mode="mean", scale_grad_by_freq=False, padding_idx=None):
    """torch's documented embedding_bag semantics built from F.embedding.

    torch 2.13's CPU embedding_bag divides by the wrong count under scale_grad_by_freq
    (pytorch/pytorch#190063, fixed after 2.13); F.embedding's count is the documented one.
    """
    flat = i.reshape(-1).long()
    rows = TF.embedding(flat, w, scale_grad_by_freq=scale_grad_by_freq)
    if o is None:
        seg = torch.arange(i.shape[0]).repeat_interleave(i.shape[1])
        bags = i.shape[0]
    else:
        seg = torch.bucketize(torch.arange(flat.shape[0]), o.long(), right=True) - 1
        bags = o.shape[0]
    keep = (
        torch.ones_like(flat, dtype=w.dtype)
        if padding_idx is None
        else (flat != padding_idx).to(w.dtype)
    )
    total = torch.zeros(bags, w.shape[1], dtype=w.dtype).index_add(0, seg, rows * keep[:, None])
    if mode == "mean":
        count = torch.zeros(bags, dtype=w.dtype).index_add(0, seg, keep)
        total = total / count.clamp_min(1)[:, None]
    return total


# id, input, offsets, kwargs
BAG_FREQ = [
    ("mean-offsets", FLAT, np.array([0, 4, 4, 7], np.int32), dict(scale_grad_by_freq=True)),
    ("sum-2d-padding", IDX, None, dict(mode="sum", scale_grad_by_freq=True, padding_idx=0)),
]


@pytest.mark.parametrize(
    "idx,offsets,kwargs", [c[1:] for c in BAG_FREQ], ids=[c[0] for c in BAG_FREQ]
)
def test_embedding_bag_scale_grad_by_freq(idx, offsets, kwargs):
    check_function(F.embedding_bag, _torch_bag_via_embedding, [idx, _weight(), offsets], kwargs)


def test_torch_embedding_bag_freq_bug_is_what_we_do_not_reproduce():
    # If this starts failing, torch fixed #190063: compare with TF.embedding_bag directly.
    w = torch.ones(4, 1, requires_grad=True)
    TF.embedding_bag(
        torch.tensor([1, 1, 3]), w, torch.tensor([0]), mode="sum", scale_grad_by_freq=True
    ).sum().backward()
    assert w.grad[:, 0].tolist() == [0.0, 1.0, 0.0, 0.5]
    g = jax.grad(
        lambda w: F.embedding_bag(
            jnp.array([1, 1, 3]), w, jnp.array([0]), mode="sum", scale_grad_by_freq=True
        ).sum()
    )(jnp.ones((4, 1)))
    assert g[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_embedding_bag_float64(x64):
    check_function(
        F.embedding_bag,
        TF.embedding_bag,
        [IDX.astype(np.int64), _weight(np.float64)],
        dict(mode="max", padding_idx=0),
    )


def test_embedding_bag_max_ties_go_to_the_first():
    # Rows 1 and 2 are equal: torch sends the gradient to the first maximal entry of the bag.
    w = jnp.asarray(np.array([[0.0, 0.0], [1.0, 3.0], [1.0, 3.0]], np.float32))
    g = jax.grad(lambda w: F.embedding_bag(jnp.array([[0, 2, 1]]), w, mode="max").sum())(w)
    tw = torch.tensor(np.asarray(w), requires_grad=True)
    TF.embedding_bag(torch.tensor([[0, 2, 1]]), tw, mode="max").sum().backward()
    assert_close(g, tw.grad, rtol=0, atol=0)


BAG_ERRORS = [
    (
        "offsets-2d-input",
        lambda: F.embedding_bag(jnp.asarray(IDX), jnp.ones((V, D)), jnp.array([0])),
        ValueError,
        r"if input is 2D, then offsets has to be None",
    ),
    (
        "no-offsets",
        lambda: F.embedding_bag(jnp.array([0, 1]), jnp.ones((V, D))),
        ValueError,
        r"offsets has to be a 1D Tensor but got None",
    ),
    (
        "offsets-2d",
        lambda: F.embedding_bag(jnp.array([0, 1]), jnp.ones((V, D)), jnp.array([[0]])),
        ValueError,
        r"offsets has to be a 1D Tensor",
    ),
    (
        "input-3d",
        lambda: F.embedding_bag(jnp.zeros((1, 1, 2), jnp.int32), jnp.ones((V, D))),
        ValueError,
        r"input has to be 1D or 2D Tensor, but got Tensor of dimension 3",
    ),
    (
        "weight-1d",
        lambda: F.embedding_bag(jnp.array([0]), jnp.ones(V), jnp.array([0])),
        ValueError,
        r"weight has to be a 2D Tensor, but got Tensor of dimension 1",
    ),
    (
        "mode",
        lambda: F.embedding_bag(jnp.asarray(IDX), jnp.ones((V, D)), mode="foo"),
        ValueError,
        r"mode has to be one of sum, mean or max",
    ),
    (
        "max-freq",
        lambda: F.embedding_bag(
            jnp.asarray(IDX), jnp.ones((V, D)), mode="max", scale_grad_by_freq=True
        ),
        ValueError,
        r"max mode does not support scaling the gradient by the frequency",
    ),
    (
        "max-sparse",
        lambda: F.embedding_bag(jnp.asarray(IDX), jnp.ones((V, D)), mode="max", sparse=True),
        ValueError,
        r"max mode does not support sparse weights",
    ),
    (
        "psw-mean",
        lambda: F.embedding_bag(
            jnp.asarray(IDX), jnp.ones((V, D)), per_sample_weights=jnp.ones(IDX.shape)
        ),
        NotImplementedError,
        r"per_sample_weights is only supported for mode='sum' \(got mode='mean'\)",
    ),
    (
        "psw-shape",
        lambda: F.embedding_bag(
            jnp.asarray(IDX), jnp.ones((V, D)), mode="sum", per_sample_weights=jnp.ones(3)
        ),
        ValueError,
        r"then it must have the same shape as the input",
    ),
    (
        "first-offset",
        lambda: F.embedding_bag(jnp.array([0, 1]), jnp.ones((V, D)), jnp.array([1])),
        ValueError,
        r"offsets\[0\] has to be 0, i\.e\., the first sequence in the mini-batch has to start from position 0\. However, got 1",
    ),
    (
        "last-offset",
        lambda: F.embedding_bag(jnp.array([0, 1]), jnp.ones((V, D)), jnp.array([0, 3])),
        ValueError,
        r"offsets\[-1\] can not be greater than input's length 2 but got offsets\[-1\] of 3",
    ),
    (
        "decreasing",
        lambda: F.embedding_bag(jnp.array([0, 1, 2]), jnp.ones((V, D)), jnp.array([0, 2, 1])),
        ValueError,
        r"offsets must be non-decreasing",
    ),
    (
        "index",
        lambda: F.embedding_bag(jnp.array([0, 10]), jnp.ones((V, D)), jnp.array([0])),
        IndexError,
        r"Index 1 of input takes value 10 which is not in the valid range \[0, 10\)",
    ),
    (
        "padding",
        lambda: F.embedding_bag(jnp.asarray(IDX), jnp.ones((V, D)), padding_idx=10),
        ValueError,
        r"padding_idx must be within the number of embeddings, -10 through 9, but got 10",
    ),
]


@pytest.mark.parametrize(
    "call,exc,match", [c[1:] for c in BAG_ERRORS], ids=[c[0] for c in BAG_ERRORS]
)
def test_embedding_bag_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_embedding_bag_jit_with_traced_offsets():
    w = jnp.asarray(_weight())
    f = jax.jit(lambda i, o: F.embedding_bag(i, w, o, mode="sum"))
    out = f(jnp.asarray(FLAT), jnp.array([0, 4, 4, 7]))
    ref = TF.embedding_bag(
        torch.from_numpy(FLAT), torch.tensor(np.asarray(w)), torch.tensor([0, 4, 4, 7]), mode="sum"
    )
    assert_close(out, ref, rtol=1e-5, atol=1e-5)
