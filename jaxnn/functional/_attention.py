"""Attention: ``scaled_dot_product_attention`` (torch's math definition, jittable)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from .._random import draw_forward_key, key_hint
from ._loss_common import broadcast_shape

__all__ = ["scaled_dot_product_attention"]


def _to_rank(x: jax.Array, ndim: int) -> jax.Array:
    return jnp.reshape(x, (1,) * (ndim - x.ndim) + x.shape)


def _safe_softmax(scores: jax.Array) -> jax.Array:
    """Softmax over the last axis that gives 0 (not NaN) on a row masked everywhere, like
    torch 2.13's ``_safe_softmax`` (its CPU math and flash kernels both return zeros there);
    the gradient on such a row is 0 as well."""
    m = jnp.max(scores, axis=-1, keepdims=True, initial=-jnp.inf)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0))
    e = jnp.exp(scores - m)
    s = jnp.sum(e, axis=-1, keepdims=True)
    return e / jnp.where(s == 0, 1, s)


def scaled_dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    attn_mask: jax.Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    dropout_key: jax.Array | None = None,
) -> jax.Array:
    r"""Attention :math:`\mathrm{softmax}(Q K^T \cdot \text{scale} + B)\, V`.

    ``B`` is the bias from ``attn_mask`` and ``is_causal``: a boolean mask marks with
    ``True`` the positions that take part (the others get :math:`-\infty`), a float mask is
    added to the scores. ``is_causal`` applies torch's top-left aligned causal mask
    ``tril(ones(L, S))`` (query ``i`` sees keys ``0..i``, also when ``L != S``). A query row
    whose keys are all masked out returns zeros with a zero gradient, as torch 2.13 does on
    CPU (no NaN). Leading batch dimensions broadcast between ``query``, ``key``, ``value``
    and ``attn_mask``. bfloat16/float16 inputs are scored and normalised in float32 and the
    result cast back (torch's CPU kernels also accumulate in float32).

    Because torch names the second argument ``key``, the PRNG key for attention dropout is
    the keyword-only ``dropout_key`` (this is the only difference from torch's signature;
    torch's ``generator`` does not exist here).

    Args:
        query: ``(..., L, E)``.
        key: ``(..., S, E)``.
        value: ``(..., S, Ev)``.
        attn_mask: boolean (True = attend) or float (added) mask broadcastable to
            ``(..., L, S)``; must be None when ``is_causal``.
        dropout_p: dropout probability on the attention weights (applied whenever > 0,
            like torch's functional; pass 0.0 at evaluation).
        is_causal: apply the top-left causal mask.
        scale: score scale; default :math:`1 / \sqrt{E}`.
        enable_gqa: grouped-query attention: ``key``/``value`` have ``Hk`` heads (dim -3)
            that are each repeated ``Hq // Hk`` times to match ``query``'s ``Hq`` heads.
        dropout_key: ``jax.random`` key, required when ``dropout_p > 0`` (inside a module
            call given ``key=``, a subkey of that key is used when it is omitted).

    Shape:
        - query: ``(N, ..., Hq, L, E)``; key: ``(N, ..., H, S, E)``; value:
          ``(N, ..., H, S, Ev)``
        - output: ``(N, ..., Hq, L, Ev)``.

    >>> import jax
    >>> import jaxnn.functional as F
    >>> q = k = v = jax.numpy.ones((2, 4, 3, 8))  # (batch, heads, seq, dim)
    >>> print(F.scaled_dot_product_attention(q, k, v, is_causal=True).shape)
    (2, 4, 3, 8)
    >>> F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, dropout_key=jax.random.key(0)).shape
    (2, 4, 3, 8)
    """
    query, key, value = jnp.asarray(query), jnp.asarray(key), jnp.asarray(value)
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(
            "Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same embedding size E (last dimension), got "
            f"query {query.shape} and key {key.shape}."
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same sequence length S (dimension -2), got key "
            f"{key.shape} and value {value.shape}."
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}.")
    if dropout_p > 0.0 and dropout_key is None:
        dropout_key = draw_forward_key()  # a custom forward reached by model(x, key=...)
    if dropout_p > 0.0 and dropout_key is None:
        raise ValueError(
            f"dropout_p={dropout_p} needs a PRNG key: pass "
            "scaled_dot_product_attention(q, k, v, dropout_p=..., dropout_key=sub), or call the "
            "module whose forward calls it with model(x, key=sub); "
            + key_hint("scaled_dot_product_attention(q, k, v, dropout_p=..., dropout_key=sub)")
            + "; or dropout_p=0.0 at evaluation."
        )
    if is_causal and attn_mask is not None:
        raise ValueError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True; fold the causal mask into attn_mask or drop it."
        )
    q_batch, k_batch, v_batch = query.shape[:-2], key.shape[:-2], value.shape[:-2]
    if enable_gqa and query.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise ValueError(
                "Number of heads in key and value must divide the number of heads in query: "
                f"got {hq} query heads, {hk} key heads and {hv} value heads."
            )
        # key and value heads are repeated to query's count before the batch dims broadcast.
        k_batch, v_batch = k_batch[:-1] + (hq,), v_batch[:-1] + (hq,)
    try:
        broadcast_shape(q_batch, k_batch, v_batch)
    except ValueError:
        hint = ""
        if not enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
            hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
            if (hk, hv) != (hq, hq) and hq % hk == 0 and hq % hv == 0:
                hint = (
                    f" For grouped-query attention ({hq} query heads sharing {hk} key and {hv} "
                    "value heads) pass enable_gqa=True."
                )
        raise ValueError(
            "query, key and value must have broadcastable batch dimensions (all but the last "
            f"two, e.g. (N, heads)), got query {query.shape}, key {key.shape} and value "
            f"{value.shape}.{hint}"
        ) from None
    if attn_mask is not None:
        attn_mask = jnp.asarray(attn_mask)
        if attn_mask.dtype != jnp.bool_ and not jnp.issubdtype(attn_mask.dtype, jnp.floating):
            raise TypeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                f"attn_mask.dtype: {attn_mask.dtype}; pass a boolean mask (True = attend) or "
                "an additive float mask."
            )
    return _sdpa(
        query,
        key,
        value,
        attn_mask,
        dropout_key,
        dropout_p=float(dropout_p),
        is_causal=is_causal,
        scale=scale,
        enable_gqa=enable_gqa,
    )


@functools.partial(jax.jit, static_argnames=("dropout_p", "is_causal", "scale", "enable_gqa"))
def _sdpa(query, key, value, attn_mask, dropout_key, *, dropout_p, is_causal, scale, enable_gqa):
    if enable_gqa and query.ndim >= 3:
        key = jnp.repeat(key, query.shape[-3] // key.shape[-3], axis=-3)
        value = jnp.repeat(value, query.shape[-3] // value.shape[-3], axis=-3)
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    out_dtype = query.dtype
    work = jnp.promote_types(out_dtype, jnp.float32)
    ndim = max(query.ndim, key.ndim, value.ndim)
    query, key, value = (_to_rank(x.astype(work), ndim) for x in (query, key, value))
    scale_factor = 1.0 / math.sqrt(E) if scale is None else scale
    scores = jnp.matmul(query, jnp.swapaxes(key, -1, -2)) * scale_factor

    if is_causal:
        attn_mask = jnp.tril(jnp.ones((L, S), bool))
    if attn_mask is not None:
        rank = max(attn_mask.ndim, scores.ndim)
        scores, attn_mask = _to_rank(scores, rank), _to_rank(attn_mask, rank)
        shape = broadcast_shape(scores.shape, attn_mask.shape)
        scores, attn_mask = jnp.broadcast_to(scores, shape), jnp.broadcast_to(attn_mask, shape)
        if attn_mask.dtype == jnp.bool_:
            scores = jnp.where(attn_mask, scores, -jnp.inf)
        else:
            scores = scores + attn_mask.astype(work)

    weights = _safe_softmax(scores)
    if dropout_p == 1.0:
        weights = jnp.zeros_like(weights)
    elif dropout_p > 0.0:
        keep = jax.random.bernoulli(dropout_key, 1.0 - dropout_p, weights.shape)
        weights = jnp.where(keep, weights / (1.0 - dropout_p), 0)
    value = _to_rank(value, weights.ndim)
    batch = broadcast_shape(weights.shape[:-2], value.shape[:-2])
    weights = jnp.broadcast_to(weights, batch + weights.shape[-2:])
    value = jnp.broadcast_to(value, batch + value.shape[-2:])
    return jnp.matmul(weights, value).astype(out_dtype)
