"""``multi_head_attention_forward``: torch's functional multi-head attention.

Sequence-first ``(L, N, E)`` inputs (or unbatched ``(L, E)``), torch's packed
``in_proj_weight`` or separate projection weights, ``bias_k``/``bias_v``, ``add_zero_attn``,
boolean or float masks, and the attention weights averaged over heads or not.
``nn.MultiheadAttention`` is a thin module over it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp

from .._random import draw_forward_key, key_hint
from ._activation_softmax import softmax
from ._attention import scaled_dot_product_attention
from ._dropout import dropout
from ._linear import linear

__all__ = ["multi_head_attention_forward"]


def _dtype_or_none(mask: jax.Array | None) -> Any:
    return None if mask is None else jnp.asarray(mask).dtype


def _canonical_mask(
    mask: jax.Array | None,
    mask_name: str,
    other_type: Any,
    other_name: str,
    target_type: Any,
    check_other: bool = True,
) -> jax.Array | None:
    """torch's ``_canonical_mask``: a bool mask (True = masked out) becomes an additive
    float mask (``-inf`` where True, 0 elsewhere); a float mask passes unchanged."""
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    is_float = jnp.issubdtype(mask.dtype, jnp.floating)
    if mask.dtype != jnp.bool_ and not is_float:
        raise TypeError(
            f"only bool and floating types of {mask_name} are supported, got {mask.dtype}; "
            f"pass a boolean mask (True = ignore) or an additive float mask."
        )
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. "
            "Use same type for both instead.",
            UserWarning,
            stacklevel=3,
        )
    if not is_float:
        mask = jnp.where(mask, jnp.asarray(-jnp.inf, target_type), jnp.asarray(0, target_type))
    return mask


def _mha_shape_check(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    key_padding_mask: jax.Array | None,
    attn_mask: jax.Array | None,
    num_heads: int,
) -> bool:
    """Whether the inputs are batched (3-D) or unbatched (2-D); torch's rank checks."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise ValueError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise ValueError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D "
                f"(N, S) but found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise ValueError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                f"but found {attn_mask.ndim}-D tensor instead"
            )
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise ValueError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise ValueError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"(S,) but found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise ValueError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                    f"3-D but found {attn_mask.ndim}-D tensor instead"
                )
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and attn_mask.shape != expected:
                raise ValueError(
                    f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}"
                )
        return False
    raise ValueError(
        f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D "
        f"query tensor (shape {query.shape})"
    )


def _in_projection_packed(
    q: jax.Array, k: jax.Array, v: jax.Array, w: jax.Array, b: jax.Array | None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """q, k, v projected by the packed ``(3E, E)`` weight; one matmul for self-attention."""
    E = q.shape[-1]
    if k is v and q is k:
        proj = linear(q, w, b)
        return proj[..., :E], proj[..., E : 2 * E], proj[..., 2 * E :]
    w_q, w_k, w_v = w[:E], w[E : 2 * E], w[2 * E :]
    b_q, b_k, b_v = (None, None, None) if b is None else (b[:E], b[E : 2 * E], b[2 * E :])
    if k is v:
        kv = linear(k, w[E:], None if b is None else b[E:])
        return linear(q, w_q, b_q), kv[..., :E], kv[..., E:]
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    w_q: jax.Array,
    w_k: jax.Array,
    w_v: jax.Array,
    b: jax.Array | None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """q, k, v projected by separate weights (``kdim``/``vdim`` differ from ``embed_dim``)."""
    Eq, Ek, Ev = q.shape[-1], k.shape[-1], v.shape[-1]
    for name, w, shape in (
        ("query", w_q, (Eq, Eq)),
        ("key", w_k, (Eq, Ek)),
        ("value", w_v, (Eq, Ev)),
    ):
        if w.shape != shape:
            raise ValueError(f"expecting {name} weights shape of {shape}, but got {w.shape}")
    b_q, b_k, b_v = (None, None, None) if b is None else (b[:Eq], b[Eq : 2 * Eq], b[2 * Eq :])
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: jax.Array | None,
    in_proj_bias: jax.Array | None,
    bias_k: jax.Array | None,
    bias_v: jax.Array | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: jax.Array,
    out_proj_bias: jax.Array | None,
    training: bool = True,
    key_padding_mask: jax.Array | None = None,
    need_weights: bool = True,
    attn_mask: jax.Array | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: jax.Array | None = None,
    k_proj_weight: jax.Array | None = None,
    v_proj_weight: jax.Array | None = None,
    static_k: jax.Array | None = None,
    static_v: jax.Array | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
    *,
    dropout_key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """torch's ``F.multi_head_attention_forward``, sequence-first: ``(L, N, E)`` or ``(L, E)``.

    Same arguments and results as torch; the PRNG key for dropout on the attention weights
    is the keyword-only ``dropout_key`` (required when ``training`` and ``dropout_p > 0``;
    inside a module call given ``key=``, a subkey of that key is used when it is omitted).
    Boolean masks mark with ``True`` the positions to ignore; float masks are added.
    With ``need_weights=True`` the weights are computed explicitly (a query whose keys are
    all masked gives NaN, as in torch); otherwise ``scaled_dot_product_attention`` runs
    (such a query gives zeros, as torch's kernel does).
    """
    query, key, value = jnp.asarray(query), jnp.asarray(key), jnp.asarray(value)
    if key_padding_mask is not None:
        key_padding_mask = jnp.asarray(key_padding_mask)
    if attn_mask is not None:
        attn_mask = jnp.asarray(attn_mask)
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        # Run the batched computation on a batch of one and drop it at the end.
        same_kv, same_qk = key is value, query is key
        query = query[:, None]
        key = query if same_qk else key[:, None]
        value = key if same_kv else value[:, None]
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask[None]

    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(
        key_padding_mask, "key_padding_mask", _dtype_or_none(attn_mask), "attn_mask", query.dtype
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        # The hint alone selects the causal mask (the given attn_mask is ignored), as torch.
        attn_mask = None
    else:
        attn_mask = _canonical_mask(
            attn_mask, "attn_mask", None, "", query.dtype, check_other=False
        )
        if key_padding_mask is not None:
            is_causal = False

    if embed_dim != embed_dim_to_check:
        raise ValueError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    if key.shape[1] != bsz or value.shape[1] != bsz:
        raise ValueError(
            f"query, key and value must have the same batch size N, got batch size {bsz} "
            f"for query, {key.shape[1]} for key and {value.shape[1]} for value; pass one "
            "key/value sequence per query in the batch."
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise ValueError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"key's sequence and batch dims {key.shape[:2]} do not match value's {value.shape[:2]}"
            )
    elif key.shape != value.shape:
        raise ValueError(f"key shape {key.shape} does not match value shape {value.shape}")

    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise ValueError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError("use_separate_proj_weight is True but q/k/v_proj_weight is None")
        q, k, v = _in_projection(
            query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias
        )

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(tgt_len, src_len)}."
                )
            attn_mask = attn_mask[None]
        elif attn_mask.ndim == 3:
            if attn_mask.shape != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)} (N * num_heads, L, S)."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    def pad_last(mask: jax.Array | None) -> jax.Array | None:
        # One more attended key (bias_k / the zero key): a 0 in every additive mask.
        if mask is None:
            return None
        return jnp.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, 1)])

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError("bias cannot be added to static key or value.")
        k = jnp.concatenate([k, jnp.broadcast_to(bias_k, (1, bsz, embed_dim))])
        v = jnp.concatenate([v, jnp.broadcast_to(bias_v, (1, bsz, embed_dim))])
        attn_mask, key_padding_mask = pad_last(attn_mask), pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise ValueError("bias_k and bias_v must be given together (both or neither).")

    # (L, N, E) -> (N * H, L, head_dim): the heads of one batch entry are adjacent.
    q = jnp.swapaxes(jnp.reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    for name, static in (("static_k", static_k), ("static_v", static_v)):
        if static is not None and (
            static.shape[0] != bsz * num_heads or static.shape[2] != head_dim
        ):
            raise ValueError(
                f"expecting {name} of shape ({bsz * num_heads}, S, {head_dim}), but got {static.shape}"
            )
    if static_k is None:
        k = jnp.swapaxes(jnp.reshape(k, (k.shape[0], bsz * num_heads, head_dim)), 0, 1)
    else:
        k = jnp.asarray(static_k)
    if static_v is None:
        v = jnp.swapaxes(jnp.reshape(v, (v.shape[0], bsz * num_heads, head_dim)), 0, 1)
    else:
        v = jnp.asarray(static_v)

    if add_zero_attn:
        zeros = jnp.zeros((bsz * num_heads, 1, head_dim), k.dtype)
        k = jnp.concatenate([k, zeros], axis=1)
        v = jnp.concatenate([v, zeros.astype(v.dtype)], axis=1)
        attn_mask, key_padding_mask = pad_last(attn_mask), pad_last(key_padding_mask)

    src_len = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape != (bsz, src_len):
            raise ValueError(
                f"Expected key_padding_mask of shape {(bsz, src_len)} (N, S), but got "
                f"{key_padding_mask.shape}"
            )
        kpm = jnp.broadcast_to(key_padding_mask[:, None, None, :], (bsz, num_heads, 1, src_len))
        kpm = jnp.reshape(kpm, (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0
    if dropout_p > 0.0 and dropout_key is None:
        dropout_key = draw_forward_key()  # a custom forward reached by model(x, key=...)
    if dropout_p > 0.0 and dropout_key is None:
        raise ValueError(
            f"multi_head_attention_forward with dropout_p={dropout_p} in training mode needs a "
            f"PRNG key: pass dropout_key=sub; "
            + key_hint("multi_head_attention_forward(..., dropout_key=sub)")
            + "; or training=False for evaluation."
        )

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        weights = jnp.matmul(q_scaled, jnp.swapaxes(k, -2, -1))
        if attn_mask is not None:
            weights = weights + attn_mask
        weights = softmax(weights, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p, key=dropout_key)
        out = jnp.matmul(weights, v)
        out = jnp.reshape(jnp.swapaxes(out, 0, 1), (tgt_len * bsz, embed_dim))
        out = linear(out, out_proj_weight, out_proj_bias)
        out = jnp.reshape(out, (tgt_len, bsz, out.shape[-1]))
        weights = jnp.reshape(weights, (bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = jnp.mean(weights, axis=1)
        if not is_batched:
            out, weights = out[:, 0], weights[0]
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            attn_mask = attn_mask[None]
        else:
            attn_mask = jnp.reshape(attn_mask, (bsz, num_heads, -1, src_len))
    q = jnp.reshape(q, (bsz, num_heads, tgt_len, head_dim))
    k = jnp.reshape(k, (bsz, num_heads, src_len, head_dim))
    v = jnp.reshape(v, (bsz, num_heads, src_len, head_dim))
    out = scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask,
        dropout_p,
        is_causal,
        dropout_key=dropout_key if dropout_p > 0.0 else None,
    )
    out = jnp.reshape(jnp.transpose(out, (2, 0, 1, 3)), (bsz * tgt_len, embed_dim))
    out = linear(out, out_proj_weight, out_proj_bias)
    out = jnp.reshape(out, (tgt_len, bsz, out.shape[-1]))
    if not is_batched:
        out = out[:, 0]
    return out, None
