"""Parity of jaxnn.functional.scaled_dot_product_attention with torch's."""

from __future__ import annotations

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn

SDPA = F.scaled_dot_product_attention
TSDPA = TF.scaled_dot_product_attention


def qkv(q_shape, k_shape, v_shape, dtype=np.float32):
    return [
        randn(*q_shape, dtype=dtype),
        randn(*k_shape, dtype=dtype, seed=1),
        randn(*v_shape, dtype=dtype, seed=2),
    ]


def bool_mask(*shape, seed=3):
    m = np.random.default_rng(seed).random(shape) < 0.7
    m[..., 1, :] = False  # a query row that sees no key: torch 2.13 returns zeros there
    return m


def float_mask(*shape, seed=3):
    m = randn(*shape, seed=seed)
    m[..., 2, :] = -np.inf  # fully masked row again, now through the additive mask
    m[..., 0, 1] = -np.inf
    return m


B = ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6))  # (N, H, L, E), (N, H, S, E), (N, H, S, Ev)

# id, (q, k, v shapes), kwargs, full (gradients + jit) or forward only
CASES = [
    ("plain", B, {}, False),
    ("bool-mask-2d", B, dict(attn_mask=bool_mask(4, 5)), True),
    ("bool-mask-4d", B, dict(attn_mask=bool_mask(2, 1, 4, 5)), False),
    ("float-mask", B, dict(attn_mask=float_mask(2, 3, 4, 5)), True),
    ("float-mask-broadcast", B, dict(attn_mask=float_mask(1, 4, 5)), False),
    ("causal-L<S", B, dict(is_causal=True), False),
    ("causal-L>S", ((1, 2, 5, 4), (1, 2, 3, 4), (1, 2, 3, 4)), dict(is_causal=True), False),
    ("scale", B, dict(scale=0.3), False),
    (
        "gqa",
        ((2, 6, 4, 8), (2, 2, 5, 8), (2, 3, 5, 6)),
        dict(enable_gqa=True, is_causal=True),
        True,
    ),
    ("heads-broadcast", ((2, 3, 4, 8), (2, 1, 5, 8), (2, 1, 5, 6)), {}, False),
    ("3d", ((3, 4, 8), (3, 5, 8), (3, 5, 6)), dict(attn_mask=bool_mask(4, 5)), False),
    ("2d-unbatched", ((4, 8), (5, 8), (5, 6)), dict(is_causal=True), False),
    ("5d", ((2, 2, 3, 4, 8), (2, 2, 3, 5, 8), (2, 2, 3, 5, 6)), {}, False),
    ("key-fewer-dims", ((2, 3, 4, 8), (3, 5, 8), (3, 5, 6)), {}, False),
    ("empty-batch", ((0, 3, 4, 8), (0, 3, 5, 8), (0, 3, 5, 6)), {}, False),
    ("empty-keys", ((2, 3, 4, 8), (2, 3, 0, 8), (2, 3, 0, 6)), {}, False),
    ("dropout-one", B, dict(dropout_p=1.0, dropout_key=jax.random.key(0)), False),
]


def _torch_kwargs(kwargs):
    return {k: v for k, v in kwargs.items() if k != "dropout_key"}


@pytest.mark.parametrize("shapes,kwargs,full", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sdpa(shapes, kwargs, full):
    check_function(
        lambda *a, **kw: SDPA(
            *a, **kw, **({"dropout_key": kwargs["dropout_key"]} if "dropout_key" in kwargs else {})
        ),
        TSDPA,
        qkv(*shapes),
        _torch_kwargs(kwargs),
        grad=full,
        jit=full,
    )


def test_sdpa_float64(x64):
    _, shapes, kwargs, _ = next(c for c in CASES if c[0] == "float-mask")
    kwargs = {
        k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v)
        for k, v in kwargs.items()
    }
    check_function(SDPA, TSDPA, qkv(*shapes, dtype=np.float64), kwargs, jit=False)


def test_sdpa_bfloat16():
    args = [jnp.asarray(a, jnp.bfloat16) for a in qkv(*B)]
    check_function(SDPA, TSDPA, args, dict(attn_mask=bool_mask(4, 5)), grad=False, jit=False)


def test_fully_masked_row_is_zero_with_zero_gradient():
    q, k, v = qkv(*B)
    mask = np.ones((4, 5), bool)
    mask[1] = False
    out, grads = jax.value_and_grad(
        lambda q, k, v: SDPA(q, k, v, attn_mask=mask).sum(), argnums=(0, 1, 2)
    )(q, k, v)
    assert np.isfinite(out)
    full = SDPA(q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(np.asarray(full[..., 1, :]), 0)
    np.testing.assert_array_equal(np.asarray(grads[0][..., 1, :]), 0)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


def test_dropout_statistics():
    # q = k = 0 gives uniform weights 1/S; with v = 1 each output is (kept count) / (S (1 - p)):
    # mean 1, variance p / (S (1 - p)).
    L, S, p = 4000, 50, 0.3
    q, k, v = jnp.zeros((1, L, 4)), jnp.zeros((1, S, 4)), jnp.ones((1, S, 1))
    out = SDPA(q, k, v, dropout_p=p, dropout_key=jax.random.key(1))[0, :, 0]
    var = p / (S * (1 - p))
    assert abs(float(out.mean()) - 1) < 5 * np.sqrt(var / L)
    assert abs(float(out.var()) / var - 1) < 0.15
    again = SDPA(q, k, v, dropout_p=p, dropout_key=jax.random.key(1))[0, :, 0]
    other = SDPA(q, k, v, dropout_p=p, dropout_key=jax.random.key(2))[0, :, 0]
    np.testing.assert_array_equal(np.asarray(out), np.asarray(again))
    assert not np.array_equal(np.asarray(out), np.asarray(other))


def test_vmap():
    q, k, v = qkv(*B)
    out = jax.vmap(lambda a, b, c: SDPA(a, b, c, is_causal=True))(q, k, v)
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(SDPA(q, k, v, is_causal=True)), rtol=1e-6, atol=1e-6
    )


def test_signature_matches_torch_doc():
    # torch's sdpa is a C builtin without a signature; its docstring's first line has it.
    doc = re.sub(r"\s+", " ", TSDPA.__doc__.split("->")[0])
    torch_params = [
        p.split("=")[0].strip() for p in doc[doc.index("(") + 1 : doc.rindex(")")].split(",")
    ]
    params = inspect.signature(SDPA).parameters
    assert list(params)[: len(torch_params)] == torch_params
    assert [p.default for p in list(params.values())[3:8]] == [None, 0.0, False, None, False]
    assert (
        list(params)[-1] == "dropout_key"
        and params["dropout_key"].kind is inspect.Parameter.KEYWORD_ONLY
    )


q, k, v = qkv(*B)

# fmt: off
ERRORS = [
    ("dropout-no-key", lambda: SDPA(q, k, v, dropout_p=0.1), ValueError, r"dropout_p=0\.1 needs a PRNG key: pass .*dropout_key=sub.*key, sub = jax\.random\.split\(key\)"),
    ("dropout-range", lambda: SDPA(q, k, v, dropout_p=1.5), ValueError, r"dropout probability has to be between 0 and 1, but got 1\.5"),
    ("causal-and-mask", lambda: SDPA(q, k, v, attn_mask=bool_mask(4, 5), is_causal=True), ValueError, r"Explicit attn_mask should not be set when is_causal=True"),
    ("gqa-heads", lambda: SDPA(*qkv((2, 3, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6)), enable_gqa=True), ValueError, r"Number of heads in key and value must divide the number of heads in query: got 3 query heads, 2 key heads"),
    ("dtype", lambda: SDPA(q, k.astype(np.float16), v), TypeError, r"Expected query, key, and value to have the same dtype"),
    ("int-mask", lambda: SDPA(q, k, v, attn_mask=np.ones((4, 5), np.int32)), TypeError, r"Expected attn_mask dtype to be bool or float"),
    ("rank", lambda: SDPA(q[0, 0, 0], k[0, 0, 0], v[0, 0, 0]), ValueError, r"Expected query, key, and value to all be at least 2 dimensional"),
    ("embed", lambda: SDPA(q, k[..., :7], v), ValueError, r"query and key must have the same embedding size E"),
    ("seq", lambda: SDPA(q, k, v[..., :4, :]), ValueError, r"key and value must have the same sequence length S"),
    ("mask-shape", lambda: SDPA(q, k, v, attn_mask=np.ones((3, 5), bool)), ValueError, r"The size of tensor a \(4\) must match the size of tensor b \(3\)"),
]
# fmt: on


@pytest.mark.parametrize("fn,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


# F.multi_head_attention_forward: (L, N, E) sequence-first, packed or separate projections.
L_, S_, N_, E_, H_ = 3, 4, 2, 6, 2
MHA_CASES = [
    ("packed", {}, False),
    ("bias-kv-zero-attn-masks", dict(bias_kv=True, add_zero_attn=True, masks=True), False),
    ("separate-weights-per-head", dict(separate=True, average_attn_weights=False), False),
    ("no-weights-sdpa-path", dict(need_weights=False, masks=True), False),
    ("unbatched", {}, True),
]


@pytest.mark.parametrize(
    "opts, unbatched", [c[1:] for c in MHA_CASES], ids=[c[0] for c in MHA_CASES]
)
def test_multi_head_attention_forward(opts, unbatched):
    shape = (lambda n: (n, E_)) if unbatched else (lambda n: (n, N_, E_))
    q, k, v = randn(*shape(L_), seed=1), randn(*shape(S_), seed=2), randn(*shape(S_), seed=3)
    sep = opts.get("separate", False)
    weights = [
        None if sep else randn(3 * E_, E_, seed=4) * 0.5,
        randn(3 * E_, seed=5),
        randn(1, 1, E_, seed=6) if opts.get("bias_kv") else None,
        randn(1, 1, E_, seed=7) if opts.get("bias_kv") else None,
        randn(E_, E_, seed=8) * 0.5,
        randn(E_, seed=9),
    ]
    proj = [randn(E_, E_, seed=10 + i) * 0.5 for i in range(3)] if sep else [None] * 3
    masks = []
    if opts.get("masks"):
        kpm = np.zeros((N_, S_), bool) if not unbatched else np.zeros((S_,), bool)
        kpm[..., -1] = True
        masks = [kpm, np.triu(np.ones((L_, S_), bool), 1)]
    n_kw = dict(
        need_weights=opts.get("need_weights", True),
        use_separate_proj_weight=sep,
        average_attn_weights=opts.get("average_attn_weights", True),
    )

    def call(fn):
        def run(q, k, v, in_w, in_b, bk, bv, out_w, out_b, qw, kw_, vw, *m):
            kpm, am = (m + (None, None))[:2]
            out, weights = fn(
                q, k, v, E_, H_, in_w, in_b, bk, bv, opts.get("add_zero_attn", False), 0.0,
                out_w, out_b, training=False, key_padding_mask=kpm, attn_mask=am,
                q_proj_weight=qw, k_proj_weight=kw_, v_proj_weight=vw, **n_kw,
            )  # fmt: skip
            return out if weights is None else (out, weights)

        return run

    args = [q, k, v, *weights, *proj, *masks]
    diff = [i for i, a in enumerate(args) if a is not None and a.dtype == np.float32]
    check_function(
        call(F.multi_head_attention_forward), call(TF.multi_head_attention_forward), args, grad=diff
    )
