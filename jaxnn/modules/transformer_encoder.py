"""TransformerEncoderLayer and TransformerEncoder (see :mod:`.transformer` for the family).

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
from ..functional._attention_mha import _canonical_mask, _dtype_or_none
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

__all__ = ["TransformerEncoder", "TransformerEncoderLayer"]


def _canonical_masks(
    src: jax.Array, mask: Any, mask_name: str, key_padding_mask: Any
) -> tuple[jax.Array | None, jax.Array | None]:
    """``(mask, key_padding_mask)`` as torch's encoder checks them: the padding mask's type
    must agree with the attention mask's, and both become float masks of ``src``'s dtype."""
    key_padding_mask = _canonical_mask(
        key_padding_mask, "src_key_padding_mask", _dtype_or_none(mask), mask_name, src.dtype
    )
    mask = _canonical_mask(mask, mask_name, None, "", src.dtype, check_other=False)
    return mask, key_padding_mask


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with dropout, residual and LayerNorm.

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, where
    ``ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))``.

    Args:
        d_model: the number of expected features ``E``.
        nhead: the number of attention heads.
        dim_feedforward: the hidden size of the feed-forward block. Default 2048.
        dropout: the dropout probability. Default 0.1.
        activation: ``'relu'``, ``'gelu'`` or a callable (a function or a jaxnn module;
            a module is a child and prints, as in torch). Default ``F.relu``.
        layer_norm_eps: the LayerNorm eps. Default 1e-5.
        batch_first: inputs are ``(N, S, E)`` instead of ``(S, N, E)``.
        norm_first: LayerNorm before each block instead of after.
        bias: biases in the Linear and LayerNorm layers. Default True.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, key=None)``:
    ``key`` is needed in training mode with ``dropout > 0``.

    Shape:
        - src: ``(S, E)``, ``(S, N, E)`` or ``(N, S, E)`` with batch_first.
        - src_mask: ``(S, S)`` or ``(N * nhead, S, S)``; src_key_padding_mask: ``(N, S)``
          (``(S,)`` unbatched). Boolean masks mark with True what is ignored.
        - Output: the shape of ``src``.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16).eval()
    >>> layer(jnp.ones((5, 3, 8))).shape
    (5, 3, 8)
    """

    _uses_key = True

    self_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm_first: bool = eqx.field(static=True)
    norm1: LayerNorm
    norm2: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    activation_relu_or_gelu: int = eqx.field(static=True)
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
        fn, kind = _check_activation(activation)
        ka, k1, k2 = split_key(key, 3)
        factory = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory, key=ka
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory, key=k1)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory, key=k2)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation_relu_or_gelu = kind
        self.activation = fn

    def forward(
        self,
        src: jax.Array,
        src_mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        src = jnp.asarray(src)
        src_mask, src_key_padding_mask = _canonical_masks(
            src, src_mask, "src_mask", src_key_padding_mask
        )
        needs = _random_in_training(self.self_attn, self.dropout, self.dropout1, self.dropout2)
        ka, k1, kd, k2 = _keys(self, key, 4, needs)

        def sa(y: jax.Array) -> jax.Array:
            return _attention_block(
                self.self_attn,
                self.dropout1,
                y,
                y,
                src_mask,
                src_key_padding_mask,
                is_causal,
                ka,
                k1,
            )

        x = _residual(src, self.norm1, self.norm_first, sa)
        return _residual(
            x, self.norm2, self.norm_first, lambda y: _feed_forward(self, self.dropout2, y, kd, k2)
        )


class TransformerEncoder(Module):
    """A stack of ``num_layers`` encoder layers (independent copies of ``encoder_layer``).

    As torch, ``encoder_layer`` is deep-copied ``num_layers`` times into ``layers`` (a
    ModuleList): the copies start with equal weights and train independently.

    Args:
        encoder_layer: the layer to copy (a :class:`TransformerEncoderLayer`).
        num_layers: the number of layers.
        norm: an optional final normalisation module.
        enable_nested_tensor, mask_check: accepted for torch compatibility; jaxnn has no
            nested-tensor fast path, so ``use_nested_tensor`` is always False.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None, *, key=None)``.

    Shape:
        - As :class:`TransformerEncoderLayer`; the output has the shape of ``src``.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> encoder = nn.TransformerEncoder(layer, num_layers=2).eval()
    >>> encoder(jnp.ones((5, 3, 8))).shape
    (5, 3, 8)
    """

    _uses_key = True

    layers: ModuleList
    num_layers: int = eqx.field(static=True)
    norm: Any
    enable_nested_tensor: bool = eqx.field(static=True)
    use_nested_tensor: bool = eqx.field(static=True)
    mask_check: bool = eqx.field(static=True)

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clone_layers(encoder_layer, num_layers, "encoder_layer")
        self.num_layers = num_layers
        self.norm = _check_norm(norm)
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(
        self,
        src: jax.Array,
        mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        is_causal: bool | None = None,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        src = jnp.asarray(src)
        mask, src_key_padding_mask = _canonical_masks(src, mask, "mask", src_key_padding_mask)
        keys = _stack_keys(key, self.num_layers)
        output = src
        for layer, k in zip(self.layers, keys, strict=True):
            output = layer(
                output,
                src_mask=mask,
                is_causal=_causal_flag(is_causal),
                src_key_padding_mask=src_key_padding_mask,
                key=k,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output
