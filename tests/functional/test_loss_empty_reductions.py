"""Reductions that divide by the weight sum of kept targets, where that sum is zero.

torch's loss is then NaN (0/0) but its gradients are zero for every ignored element: a
batch that is all padding must not poison the parameters with NaN at the next step. Each
case compares the output and the input gradients with torch, eager and jitted. (The other
count-dividing reductions - ctc_loss with zero target lengths, kl_div 'batchmean' on an
empty batch, multilabel_margin_loss without labels, zero class weights in
multi_margin_loss and binary_cross_entropy, empty bags in embedding_bag 'mean', fully
masked queries in scaled_dot_product_attention - were checked against torch and already
matched; they are not repeated here to keep the suite's time.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn


def _long(tfn: Any) -> Any:
    """torch's function with integer tensors as Long (JAX hands over int32 without x64)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        args = [
            a.long() if isinstance(a, torch.Tensor) and a.dtype == torch.int32 else a for a in args
        ]
        return tfn(*args, **kwargs)

    return call


IGN = np.full((3,), -100, np.int64)
ZERO_T = np.zeros((3,), np.int64)
W0 = np.array([0.0, 1.0, 2.0, 3.0], np.float32)

# (id, jaxnn function, torch function, args, kwargs)
CASES = [
    ("nll-all-ignored", F.nll_loss, TF.nll_loss, [randn(3, 4), IGN], {}),
    ("nll-kdim-all-ignored", F.nll_loss, TF.nll_loss, [randn(2, 3, 4), np.full((2, 4), -100)], {}),
    ("nll-weight-all-ignored", F.nll_loss, TF.nll_loss, [randn(3, 4), IGN], dict(weight=W0)),
    # kept targets whose class weight is 0: torch's gradient is NaN there (-0 * g / 0)
    ("nll-zero-class-weight", F.nll_loss, TF.nll_loss, [randn(3, 4), ZERO_T], dict(weight=W0)),
    ("ce-all-ignored", F.cross_entropy, TF.cross_entropy, [randn(3, 4), IGN], {}),
    (
        "ce-all-ignored-smoothing",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(3, 4), IGN],
        dict(label_smoothing=0.1),
    ),
    (
        "ce-kdim-all-ignored-smoothing-weight",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(2, 4, 3), np.full((2, 3), -100)],
        dict(label_smoothing=0.2, weight=W0 + 1),
    ),
    (
        "ce-all-ignored-sum",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(3, 4), IGN],
        dict(reduction="sum", label_smoothing=0.2),
    ),
    (
        "ce-some-ignored-smoothing",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(3, 4), np.array([0, -100, 2])],
        dict(label_smoothing=0.3),
    ),
    (
        "ce-zero-class-weight-smoothing",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(3, 4), ZERO_T],
        dict(weight=W0, label_smoothing=0.2),
    ),
    (
        "ce-probs-zero-weight",
        F.cross_entropy,
        TF.cross_entropy,
        [randn(2, 4), np.zeros((2, 4), np.float32)],
        dict(weight=np.zeros(4, np.float32)),
    ),
]


# Variations CI samples; all run with --long.
LONG_IDS = {
    "nll-weight-all-ignored",
    "ce-all-ignored-sum",
    "ce-some-ignored-smoothing",
    "ce-zero-class-weight-smoothing",
    "ce-probs-zero-weight",
}


@pytest.mark.parametrize(
    ("jfn", "tfn", "args", "kwargs"),
    [
        pytest.param(*c[1:], id=c[0], marks=[pytest.mark.long] if c[0] in LONG_IDS else [])
        for c in CASES
    ],
)
def test_empty_reduction_matches_torch(jfn: Any, tfn: Any, args: list, kwargs: dict) -> None:
    check_function(jfn, _long(tfn), args, kwargs)


@pytest.mark.parametrize("fn", [F.nll_loss, F.cross_entropy], ids=["nll_loss", "cross_entropy"])
def test_all_padding_batch_gives_zero_gradients(fn: Any) -> None:
    # The regression as a user meets it: the loss is NaN, but the step must not be.
    g = jax.jit(jax.grad(lambda x: fn(x, jnp.full((4,), -100))))(jnp.ones((4, 3)))
    assert bool(jnp.all(g == 0))
