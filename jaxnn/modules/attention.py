"""MultiheadAttention, with torch's parameters, masks, shapes and returned weights.

torch names the second argument of ``MultiheadAttention.forward`` ``key`` (the key
tensor), which collides with jaxnn's ``key=`` for PRNG keys. Here ``key`` always means the
tensor, as in torch; the PRNG key for attention dropout is the keyword-only
``dropout_key`` (or comes from the forward key scope of an enclosing module's call).

The maths is ``jaxnn.functional.multi_head_attention_forward``, torch's function of the
same name.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._module import Module, observed_call
from .._random import check_key, draw_forward_key, key_hint
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
        return observed_call(self, self.forward, args, kwargs)

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
                f"tensor, as in torch): mha(q, k, v, dropout_key=sub), or call an enclosing "
                f"model with model(x, key=sub); "
                + key_hint("mha(q, k, v, dropout_key=sub)")
                + "; use mha.eval() for inference."
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
        out, weights = F.multi_head_attention_forward(
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
