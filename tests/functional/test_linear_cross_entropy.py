"""F.linear_cross_entropy, LinearCrossEntropyOptions and nn.LinearCrossEntropyLoss against
torch 2.13: reference and chunked paths, outputs and gradients, and the chunked path's
promise that the (N, C) logits never exist."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import check_function, check_module, randn

LONG = pytest.mark.long


def table(cases):
    """Rows ``(id, *values[, mark])`` as pytest params; a trailing mark marks the row."""
    out = []
    for case in cases:
        marks = [v for v in case[1:] if isinstance(v, type(LONG))]
        values = [v for v in case[1:] if not isinstance(v, type(LONG))]
        out.append(pytest.param(*values, id=case[0], marks=marks))
    return out


N, H, C = 9, 5, 7
X, W, B = randn(N, H), randn(C, H, seed=1), randn(C, seed=2)
CW = np.abs(randn(C, seed=3)) + 0.1
T = np.array([1, 2, -100, 4, 0, 6, 6, 3, -100])


def _opts(lib, chunk):
    return None if chunk is None else lib.LinearCrossEntropyOptions(batch_chunk_size=chunk)


# id, reduction, chunk size (None: reference path), with bias, with class weight
# fmt: off
CASES = [
    ("mean-chunk2-weight", "mean", 2, True, True),
    ("none-chunk3-weight", "none", 3, False, True),
    ("mean-reference", "mean", None, True, True, LONG),
    ("sum-chunk4-nobias", "sum", 4, False, False, LONG),
    ("mean-one-chunk", "mean", 100, True, False, LONG),
]
# fmt: on


@pytest.mark.parametrize(("reduction", "chunk", "bias", "cw"), table(CASES))
def test_parity(reduction, chunk, bias, cw):
    def jfn(x, w, b, t, c):
        return F.linear_cross_entropy(
            x, w, t, linear_bias=b if bias else None, weight=c if cw else None,
            reduction=reduction, options=_opts(nn, chunk),
        )  # fmt: skip

    def tfn(x, w, b, t, c):
        return TF.linear_cross_entropy(
            x, w, t.long(), linear_bias=b if bias else None, weight=c if cw else None,
            reduction=reduction, options=_opts(tnn, chunk),
        )  # fmt: skip

    check_function(jfn, tfn, [X, W, B, T, CW], grad=[0, 1, 2])


# The reference path's other forms: K-dimensional loss, probabilities, smoothing, unbatched.
# fmt: off
REF_CASES = [
    ("kdim-indices-smoothing", randn(3, H), randn(4, 2, H), np.array([[0, 3], [1, 1], [2, -100]]), dict(label_smoothing=0.2)),
    ("kdim-probabilities", randn(3, H), randn(4, 2, H), np.asarray(jax.nn.softmax(jnp.asarray(randn(3, 4, 2)), 1)), {}, LONG),
    ("unbatched-index", randn(H), W, np.array(3), dict(reduction="none"), LONG),
    ("unbatched-probabilities", randn(H), W, np.full((C,), 1 / C, np.float32), {}, LONG),
]
# fmt: on


@pytest.mark.parametrize(("x", "w", "t", "kwargs"), table(REF_CASES))
def test_reference_forms(x, w, t, kwargs):
    def tfn(x, w, t, **kw):
        return TF.linear_cross_entropy(x, w, t.long() if not t.is_floating_point() else t, **kw)

    check_function(
        lambda x, w, t, **kw: F.linear_cross_entropy(x, w, t, **kw), tfn, [x, w, t], kwargs
    )


def test_unbatched_chunked_and_all_ignored():
    opts_j, opts_t = _opts(nn, 1), _opts(tnn, 1)
    check_function(
        lambda x, w, t: F.linear_cross_entropy(x, w, t, options=opts_j),
        lambda x, w, t: TF.linear_cross_entropy(x, w, t.long(), options=opts_t),
        [randn(H), W, np.array(2)],
        jit=False,
    )
    # All targets ignored: NaN loss, zero gradients (torch's chunked path gives NaN
    # gradients here; its reference path gives zeros, as both of jaxnn's paths do).
    loss, g = jax.jit(
        jax.value_and_grad(
            lambda x, w: F.linear_cross_entropy(x, w, jnp.full((N,), -100), options=opts_j), (0, 1)
        )
    )(jnp.asarray(X), jnp.asarray(W))
    assert bool(jnp.isnan(loss)) and all(bool(jnp.all(a == 0)) for a in g)


def test_torch_options_are_read():
    topts = tnn.LinearCrossEntropyOptions(batch_chunk_size=2, acc_dtype=torch.float32)
    out = F.linear_cross_entropy(X, W, T, options=topts)
    ref = TF.linear_cross_entropy(
        torch.from_numpy(X), torch.from_numpy(W), torch.from_numpy(T), options=topts
    )
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5)
    with pytest.raises(TypeError, match="options must be a LinearCrossEntropyOptions"):
        F.linear_cross_entropy(X, W, T, options={"batch_chunk_size": 2})


def test_chunked_path_never_materialises_the_logits():
    n, h, c, chunk = 64, 4, 1000, 8
    opts = F.LinearCrossEntropyOptions(batch_chunk_size=chunk)

    def loss(x, w):
        return F.linear_cross_entropy(x, w, jnp.zeros((n,), jnp.int32), options=opts)

    jaxpr = jax.make_jaxpr(jax.value_and_grad(loss, (0, 1)))(jnp.ones((n, h)), jnp.ones((c, h)))

    def sizes(jp):
        for eqn in jp.eqns:
            for v in eqn.outvars:
                yield int(np.prod(v.aval.shape)) if hasattr(v.aval, "shape") else 0
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from sizes(sub)

    biggest = max(sizes(jaxpr.jaxpr))
    assert biggest <= chunk * c < n * c, biggest


def test_options_resolve_like_torch():
    for kw, n, h, c in [
        ({}, 1000, 64, 5000),
        (dict(chunking_method="aspect_ratio:4"), 300, 16, 100),
        (dict(chunking_method=None, batch_chunk_size=7), 20, 3, 9),
        (dict(batch_chunk_size=50), 20, 3, 9),
    ]:
        adj = tnn.LinearCrossEntropyOptions(**kw)._adjust(
            num_batches=n,
            in_features=h,
            num_classes=c,
            dtype=torch.float32,
            device=torch.device("cpu"),
        )
        chunk, acc = F.LinearCrossEntropyOptions(**kw)._resolve(n, h, c, jnp.float32, "cpu")
        assert chunk == adj.batch_chunk_size and acc == jnp.float32, (kw, chunk, adj)
    assert F.LinearCrossEntropyOptions()._resolve(10, 2, 3, jnp.bfloat16, "cpu")[1] == jnp.float32
    with pytest.raises(ValueError, match="give different chunk sizes"):
        F.LinearCrossEntropyOptions(batch_chunk_size=3, chunking_method="aspect_ratio")._resolve(
            1000, 64, 5000, jnp.float32, "cpu"
        )
    assert repr(F.LinearCrossEntropyOptions()) == repr(tnn.LinearCrossEntropyOptions())


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: F.LinearCrossEntropyOptions(acc_policy="fast"), ValueError, "invalid acc_policy"),
        (
            lambda: F.LinearCrossEntropyOptions(chunking_method="aspect_ratio:0"),
            ValueError,
            "invalid chunking_method",
        ),
        (
            lambda: F.LinearCrossEntropyOptions(batch_chunk_size=0),
            ValueError,
            "batch_chunk_size must be positive",
        ),
        (
            lambda: F.linear_cross_entropy(randn(2, 3, 4), W, T),
            ValueError,
            "dimensionality 1 or 2, got 3",
        ),
        (
            lambda: F.linear_cross_entropy(X, randn(C, 4), T),
            ValueError,
            "got 5 and 4, respectively",
        ),
        (
            lambda: F.linear_cross_entropy(X, W, T, linear_bias=randn(3)),
            ValueError,
            r"linear_bias shape \(7,\), got \(3,\)",
        ),
        (
            lambda: F.linear_cross_entropy(randn(H), randn(C, 2, H), np.zeros(2, np.int64)),
            ValueError,
            "requires batched input",
        ),
        (
            lambda: F.linear_cross_entropy(X, W, randn(N, C), ignore_index=3),
            ValueError,
            "ignore_index cannot be specified",
        ),
        (
            lambda: nn.LinearCrossEntropyLoss(3, 4, label_smoothing=1.5),
            ValueError,
            r"range \[0, 1\], got 1.5",
        ),
        (
            lambda: nn.LinearCrossEntropyLoss(3, 4, weight=jnp.ones(3)),
            ValueError,
            r"weight shape to be \(4,\)",
        ),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_options_that_the_chunked_path_cannot_take_warn_and_fall_back():
    with pytest.warns(UserWarning, match=r"``options`` ignored.*label_smoothing=0.1"):
        out = F.linear_cross_entropy(X, W, T, label_smoothing=0.1, options=_opts(nn, 2))
    ref = TF.linear_cross_entropy(
        torch.from_numpy(X), torch.from_numpy(W), torch.from_numpy(T), label_smoothing=0.1
    )
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "target"),
    [
        pytest.param(
            dict(out_features=(4, 3), bias=True, label_smoothing=0.1),
            np.random.default_rng(0).integers(0, 10, (2, 4, 3)),
            id="kdim-bias",
            marks=LONG,
        ),
        pytest.param(
            dict(reduction="sum", ignore_index=2, options="chunked"),
            np.array([2, 7]),
            id="chunked-weight",
        ),
    ],
)
def test_module(kwargs, target):
    weight = np.linspace(0.5, 2, 10).astype(np.float32)
    tk, jk = dict(kwargs), dict(kwargs)
    if kwargs.get("options") == "chunked":
        tk.update(
            options=tnn.LinearCrossEntropyOptions(batch_chunk_size=1),
            weight=torch.from_numpy(weight),
        )
        jk.update(
            options=nn.LinearCrossEntropyOptions(batch_chunk_size=1), weight=jnp.asarray(weight)
        )
    tmod = tnn.LinearCrossEntropyLoss(5, 10, **tk)
    tmod.register_forward_pre_hook(lambda m, args: (args[0], args[1].long()))
    jmod = nn.LinearCrossEntropyLoss(5, 10, **jk, key=jax.random.key(0, impl="rbg"))
    check_module(tmod, jmod, [randn(2, 5), target])
