"""MultiheadAttention, with torch's parameters, masks, shapes and returned weights.

torch names the second argument of ``MultiheadAttention.forward`` ``key`` (the key
tensor), which collides with jaxnn's ``key=`` for PRNG keys. Here ``key`` always means the
tensor, as in torch; the PRNG key for attention dropout is the keyword-only
``dropout_key`` (or comes from the forward key scope of an enclosing module's call).

``_multi_head_attention_forward`` is torch's ``F.multi_head_attention_forward`` written on
``jaxnn.functional``; it lives here until ``jaxnn.functional`` takes it over.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._module import Module
from .._random import check_key, draw_forward_key
from ._utils import check_positive_int, check_prob, factory_dtype, place, split_key
from .linear import Linear

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under torch's name for MultiheadAttention's ``out_proj``.

    torch uses the subclass only to steer its quantization tooling; it computes exactly
    what ``Linear`` computes. jaxnn keeps the name so that ``print(model)`` matches torch.

    >>> NonDynamicallyQuantizableLinear(4, 4)
    NonDynamicallyQuantizableLinear(in_features=4, out_features=4, bias=True)
    """


# ---------------------------------------------------------------------------------------
# The functional form (to move into jaxnn.functional).


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
        proj = F.linear(q, w, b)
        return proj[..., :E], proj[..., E : 2 * E], proj[..., 2 * E :]
    w_q, w_k, w_v = w[:E], w[E : 2 * E], w[2 * E :]
    b_q, b_k, b_v = (None, None, None) if b is None else (b[:E], b[E : 2 * E], b[2 * E :])
    if k is v:
        kv = F.linear(k, w[E:], None if b is None else b[E:])
        return F.linear(q, w_q, b_q), kv[..., :E], kv[..., E:]
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


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
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _multi_head_attention_forward(
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
    is the keyword-only ``dropout_key`` (required when ``training`` and ``dropout_p > 0``).
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
        raise ValueError(
            f"multi_head_attention_forward with dropout_p={dropout_p} in training mode needs a "
            f"PRNG key: pass dropout_key=jax.random.key(0) (split a fresh one per step), or "
            f"training=False for evaluation."
        )

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        weights = jnp.matmul(q_scaled, jnp.swapaxes(k, -2, -1))
        if attn_mask is not None:
            weights = weights + attn_mask
        weights = F.softmax(weights, dim=-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p, key=dropout_key)
        out = jnp.matmul(weights, v)
        out = jnp.reshape(jnp.swapaxes(out, 0, 1), (tgt_len * bsz, embed_dim))
        out = F.linear(out, out_proj_weight, out_proj_bias)
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
    out = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask,
        dropout_p,
        is_causal,
        dropout_key=dropout_key if dropout_p > 0.0 else None,
    )
    out = jnp.reshape(jnp.transpose(out, (2, 0, 1, 3)), (bsz * tgt_len, embed_dim))
    out = F.linear(out, out_proj_weight, out_proj_bias)
    out = jnp.reshape(out, (tgt_len, bsz, out.shape[-1]))
    if not is_batched:
        out = out[:, 0]
    return out, None


# ---------------------------------------------------------------------------------------


class MultiheadAttention(Module):
    r"""Multi-head attention: :math:`\text{Concat}(\text{head}_1, \ldots, \text{head}_h) W^O`
    with :math:`\text{head}_i = \text{Attention}(Q W_i^Q, K W_i^K, V W_i^V)`.

    torch's parameters and layout: ``in_proj_weight`` ``(3E, E)`` packs the query, key and
    value projections when ``kdim == vdim == embed_dim``; otherwise they are separate
    (``q_proj_weight`` ``(E, E)``, ``k_proj_weight`` ``(E, kdim)``, ``v_proj_weight``
    ``(E, vdim)``). ``in_proj_bias`` ``(3E,)``, ``out_proj`` (a Linear), and with
    ``add_bias_kv`` the learned extra key and value ``bias_k``, ``bias_v`` ``(1, 1, E)``.
    Initialised as torch: Xavier-uniform projection weights, zero biases, Xavier-normal
    ``bias_k``/``bias_v``, ``out_proj.weight`` as Linear's default.

    **The name ``key``.** As in torch, the second argument of ``forward`` (and of the
    call) is ``key``, the key *tensor*: ``mha(q, key=k, value=v)`` works as in torch.
    So this module does not take jaxnn's usual ``key=`` PRNG key: pass it as
    ``dropout_key=`` (keyword-only), or let it come from an enclosing module's call
    (``model(x, key=k)`` hands it down through the forward key scope). A PRNG key is
    needed only in training mode with ``dropout > 0``. Modules that hold a
    MultiheadAttention (the Transformer layers) pass their key with ``dropout_key=``.

    Args:
        embed_dim: total dimension ``E`` of the model.
        num_heads: number of parallel heads; ``embed_dim`` must be divisible by it (each
            head has dimension ``E // num_heads``).
        dropout: dropout probability on the attention weights (training mode). Default 0.
        bias: add biases to the input and output projections. Default True.
        add_bias_kv: append a learned key and value to the key/value sequences.
        add_zero_attn: append a zero key and value (after the projections).
        kdim, vdim: feature sizes of ``key`` and ``value`` (default ``embed_dim``).
        batch_first: inputs and output are ``(N, L, E)`` instead of ``(L, N, E)``.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape (``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False, *, dropout_key=None)``):
        - query: ``(L, E)`` unbatched, ``(L, N, E)``, or ``(N, L, E)`` with batch_first.
        - key: ``(S, kdim)``, ``(S, N, kdim)`` or ``(N, S, kdim)``; value likewise with vdim.
        - key_padding_mask: ``(N, S)`` or ``(S,)`` unbatched; bool (True = ignore this key)
          or float (added to the scores).
        - attn_mask: ``(L, S)`` or ``(N * num_heads, L, S)``; bool (True = not allowed)
          or float (added).
        - Output: ``attn_output`` ``(L, E)``, ``(L, N, E)`` or ``(N, L, E)``, and
          ``attn_weights`` (None unless ``need_weights``): ``(N, L, S)`` averaged over heads
          (``(L, S)`` unbatched), or ``(N, num_heads, L, S)`` with
          ``average_attn_weights=False`` (``(num_heads, L, S)`` unbatched).

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> mha = nn.MultiheadAttention(8, 2)
    >>> q = jnp.ones((5, 3, 8))  # (L, N, E)
    >>> out, w = mha(q, q, q)
    >>> out.shape, w.shape
    ((5, 3, 8), (3, 5, 5))
    """

    _uses_key = True

    in_proj_weight: jax.Array | None
    q_proj_weight: jax.Array | None
    k_proj_weight: jax.Array | None
    v_proj_weight: jax.Array | None
    in_proj_bias: jax.Array | None
    out_proj: NonDynamicallyQuantizableLinear
    bias_k: jax.Array | None
    bias_v: jax.Array | None
    embed_dim: int = eqx.field(static=True)
    kdim: int = eqx.field(static=True)
    vdim: int = eqx.field(static=True)
    _qkv_same_embed_dim: bool = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)
    dropout: float = eqx.field(static=True)
    batch_first: bool = eqx.field(static=True)
    head_dim: int = eqx.field(static=True)
    add_zero_attn: bool = eqx.field(static=True)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(
                    f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                    f"and num_heads={num_heads} instead ({name}={v!r})."
                )
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                f"num_heads={num_heads}; each head gets embed_dim // num_heads features."
            )
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else check_positive_int(kdim, "kdim")
        self.vdim = embed_dim if vdim is None else check_positive_int(vdim, "vdim")
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = check_prob(dropout, "dropout")
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = bool(add_zero_attn)

        dtype = factory_dtype(dtype)
        kq, kk, kv, kout, kbk, kbv = split_key(key, 6)
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = place(
                init.xavier_uniform_((3 * E, E), key=kq, dtype=dtype), device
            )
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = place(init.xavier_uniform_((E, E), key=kq, dtype=dtype), device)
            self.k_proj_weight = place(
                init.xavier_uniform_((E, self.kdim), key=kk, dtype=dtype), device
            )
            self.v_proj_weight = place(
                init.xavier_uniform_((E, self.vdim), key=kv, dtype=dtype), device
            )
        self.in_proj_bias = place(jnp.zeros((3 * E,), dtype), device) if bias else None
        out_proj = NonDynamicallyQuantizableLinear(
            E, E, bias=bias, device=device, dtype=dtype, key=kout
        )
        if bias:
            # torch zeroes out_proj.bias together with in_proj_bias. A pure replacement,
            # not `out_proj.bias = ...`: that edits a finished module in place, which the
            # guard refuses inside a transformation, where building a model is allowed.
            zeros = place(jnp.zeros((E,), dtype), device)
            out_proj = eqx.tree_at(lambda m: m.bias, out_proj, zeros)
        self.out_proj = out_proj
        if add_bias_kv:
            self.bias_k = place(init.xavier_normal_((1, 1, E), key=kbk, dtype=dtype), device)
            self.bias_v = place(init.xavier_normal_((1, 1, E), key=kbv, dtype=dtype), device)
        else:
            self.bias_k = self.bias_v = None

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[jax.Array, jax.Array | None]:
        """Run ``forward``; ``key=`` is the key tensor here (torch's meaning), not a PRNG key."""
        return self.forward(*args, **kwargs)

    def forward(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        key_padding_mask: jax.Array | None = None,
        need_weights: bool = True,
        attn_mask: jax.Array | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        *,
        dropout_key: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array | None]:
        if dropout_key is None:
            dropout_key = draw_forward_key()
        else:
            dropout_key = check_key(dropout_key, "dropout_key")
        if self.training and self.dropout > 0.0 and dropout_key is None:
            raise ValueError(
                f"MultiheadAttention(dropout={self.dropout}) in training mode needs a PRNG key "
                f"for attention dropout. Pass it as dropout_key (the name `key` is the key "
                f"tensor, as in torch): mha(q, k, v, dropout_key=jax.random.key(0)), or call "
                f"an enclosing model with model(x, key=jax.random.key(0)); use mha.eval() for "
                f"inference."
            )
        query, key, value = jnp.asarray(query), jnp.asarray(key), jnp.asarray(value)
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            # Keep identities (self-attention runs one projection matmul).
            same_kv, same_qk = key is value, query is key
            query = jnp.swapaxes(query, 0, 1)
            key = query if same_qk else jnp.swapaxes(key, 0, 1)
            value = key if same_kv else jnp.swapaxes(value, 0, 1)
        separate = not self._qkv_same_embed_dim
        out, weights = _multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=separate,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
            dropout_key=dropout_key,
        )
        if self.batch_first and is_batched:
            out = jnp.swapaxes(out, 0, 1)
        return out, weights
