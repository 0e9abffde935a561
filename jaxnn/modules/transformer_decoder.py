"""TransformerDecoderLayer and TransformerDecoder (see :mod:`.transformer` for the family).

The shared blocks and the ``norm_first`` wiring live in :mod:`._transformer_common`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .._container import ModuleList
from .._module import Module
from ._transformer_common import (
    _attention_block,
    _causal_flag,
    _check_activation,
    _check_norm,
    _clone_layers,
    _feed_forward,
    _keys,
    _random_in_training,
    _residual,
    _stack_keys,
)
from ._utils import check_positive_int, split_key
from .attention import MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

__all__ = ["TransformerDecoder", "TransformerDecoderLayer"]


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory``, and a feed-forward block.

    ``norm_first=False``: ``x = norm1(x + sa(x)); x = norm2(x + mha(x, mem));
    x = norm3(x + ff(x))``; ``norm_first=True`` applies each norm before its block.

    Args: as :class:`TransformerEncoderLayer` (``d_model``, ``nhead``, ``dim_feedforward``,
    ``dropout``, ``activation``, ``layer_norm_eps``, ``batch_first``, ``norm_first``,
    ``bias``, ``device``, ``dtype``, keyword-only ``key``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *, key=None)``.

    Shape:
        - tgt: ``(T, E)``, ``(T, N, E)`` or ``(N, T, E)`` with batch_first; memory:
          ``(S, E)``, ``(S, N, E)`` or ``(N, S, E)``.
        - tgt_mask ``(T, T)``, memory_mask ``(T, S)`` (or with a leading ``N * nhead``);
          tgt_key_padding_mask ``(N, T)``, memory_key_padding_mask ``(N, S)``.
        - Output: the shape of ``tgt``.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> layer = nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16).eval()
    >>> layer(jnp.ones((4, 3, 8)), jnp.ones((6, 3, 8))).shape
    (4, 3, 8)
    """

    _uses_key = True

    self_attn: MultiheadAttention
    multihead_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm_first: bool = eqx.field(static=True)
    norm1: LayerNorm
    norm2: LayerNorm
    norm3: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    dropout3: Dropout
    activation: Any

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[jax.Array], jax.Array] = F.relu,
        layer_norm_eps: float = 1e-05,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(dim_feedforward, "dim_feedforward")
        fn, _ = _check_activation(activation)
        ks, km, k1, k2 = split_key(key, 4)
        factory = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **factory, key=ks
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **factory, key=km
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory, key=k1)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory, key=k2)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = fn

    def forward(
        self,
        tgt: jax.Array,
        memory: jax.Array,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        needs = _random_in_training(
            self.self_attn,
            self.multihead_attn,
            self.dropout,
            self.dropout1,
            self.dropout2,
            self.dropout3,
        )
        ks, k1, km, k2, kd, k3 = _keys(self, key, 6, needs)
        memory = jnp.asarray(memory)

        def sa(y: jax.Array) -> jax.Array:
            return _attention_block(
                self.self_attn,
                self.dropout1,
                y,
                y,
                tgt_mask,
                tgt_key_padding_mask,
                tgt_is_causal,
                ks,
                k1,
            )

        def mha(y: jax.Array) -> jax.Array:
            return _attention_block(
                self.multihead_attn,
                self.dropout2,
                y,
                memory,
                memory_mask,
                memory_key_padding_mask,
                memory_is_causal,
                km,
                k2,
            )

        x = _residual(jnp.asarray(tgt), self.norm1, self.norm_first, sa)
        x = _residual(x, self.norm2, self.norm_first, mha)
        return _residual(
            x, self.norm3, self.norm_first, lambda y: _feed_forward(self, self.dropout3, y, kd, k3)
        )


class TransformerDecoder(Module):
    """A stack of ``num_layers`` decoder layers (independent copies of ``decoder_layer``).

    Args:
        decoder_layer: the layer to copy (a :class:`TransformerDecoderLayer`).
        num_layers: the number of layers.
        norm: an optional final normalisation module.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)``.

    Shape:
        - As :class:`TransformerDecoderLayer`; the output has the shape of ``tgt``.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> layer = nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> decoder = nn.TransformerDecoder(layer, num_layers=2).eval()
    >>> decoder(jnp.ones((4, 3, 8)), jnp.ones((6, 3, 8))).shape
    (4, 3, 8)
    """

    _uses_key = True

    layers: ModuleList
    num_layers: int = eqx.field(static=True)
    norm: Any

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clone_layers(decoder_layer, num_layers, "decoder_layer")
        self.num_layers = num_layers
        self.norm = _check_norm(norm)

    def forward(
        self,
        tgt: jax.Array,
        memory: jax.Array,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        keys = _stack_keys(key, self.num_layers)
        output = jnp.asarray(tgt)
        for layer, k in zip(self.layers, keys, strict=True):
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=_causal_flag(tgt_is_causal),
                memory_is_causal=memory_is_causal,
                key=k,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output
