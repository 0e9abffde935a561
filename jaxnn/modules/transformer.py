"""Transformer (and its encoder/decoder family), with torch's children and masks.

The layers are torch's "slow path" (the computation torch runs in training mode or with
gradients): torch's inference fast paths (``torch._transformer_encoder_layer_fwd`` and
the nested-tensor "sparsity fast path") compute the same function, except that the
nested-tensor path returns zeros at padded positions; jaxnn always runs the plain
computation. ``enable_nested_tensor`` and ``mask_check`` are accepted and stored.

Deliberate difference: torch deep-copies a TransformerDecoderLayer into its stacks, and
the copy's ``__setstate__`` sets ``activation = F.relu`` when the activation is a module
(``nn.GELU()``): torch's TransformerDecoder/Transformer then still print ``GELU`` but
compute ReLU. jaxnn computes with the activation it prints.

Layout: this file holds Transformer; :mod:`.transformer_encoder` and
:mod:`.transformer_decoder` the layers and their stacks; :mod:`._transformer_common` the
blocks they share and how a layer splits its ``key`` among its dropouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._module import Module
from ._transformer_common import _stack_keys
from ._utils import factory_dtype, place, split_key
from .normalization import LayerNorm
from .transformer_decoder import TransformerDecoder, TransformerDecoderLayer
from .transformer_encoder import TransformerEncoder, TransformerEncoderLayer

__all__ = ["Transformer"]


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> jax.Array:
    dt = factory_dtype(dtype)
    return place(jnp.triu(jnp.full((sz, sz), -jnp.inf, dt), k=1), device)


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", with torch's layout.

    An encoder (``num_encoder_layers`` layers and a final LayerNorm) and a decoder
    (``num_decoder_layers`` layers and a final LayerNorm), or ``custom_encoder`` /
    ``custom_decoder``. As torch, every parameter with more than one dimension (also those
    of a custom encoder/decoder, edited in place) is re-initialised Xavier-uniform.

    Args:
        d_model: the number of expected features. Default 512.
        nhead: the number of attention heads. Default 8.
        num_encoder_layers, num_decoder_layers: the stack depths. Default 6 each.
        dim_feedforward: the feed-forward hidden size. Default 2048.
        dropout: the dropout probability. Default 0.1.
        activation: ``'relu'``, ``'gelu'`` or a callable. Default ``F.relu``.
        custom_encoder, custom_decoder: modules used instead of the default stacks.
        layer_norm_eps: the LayerNorm eps. Default 1e-5.
        batch_first: inputs are ``(N, S, E)`` instead of ``(S, N, E)``.
        norm_first: pre-norm layers.
        bias: biases in the Linear and LayerNorm layers. Default True.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)``.

    Shape:
        - src: ``(S, E)``, ``(S, N, E)`` or ``(N, S, E)`` with batch_first; tgt: ``(T, E)``,
          ``(T, N, E)`` or ``(N, T, E)``.
        - src_mask ``(S, S)``, tgt_mask ``(T, T)``, memory_mask ``(T, S)`` (or with a leading
          ``N * nhead``); key padding masks ``(N, S)`` / ``(N, T)``.
        - Output: the shape of ``tgt``.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
    ...                        num_decoder_layers=1, dim_feedforward=16).eval()
    >>> tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    >>> model(jnp.ones((6, 3, 8)), jnp.ones((4, 3, 8)), tgt_mask=tgt_mask).shape
    (4, 3, 8)
    """

    _uses_key = True

    encoder: Any
    decoder: Any
    d_model: int = eqx.field(static=True)
    nhead: int = eqx.field(static=True)
    batch_first: bool = eqx.field(static=True)

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[jax.Array], jax.Array] = F.relu,
        custom_encoder: Any | None = None,
        custom_decoder: Any | None = None,
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
        ke, kd, kr = split_key(key, 3)
        factory = dict(device=device, dtype=dtype)
        layer_args = (
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(*layer_args, **factory, key=ke)
            encoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(*layer_args, **factory, key=kd)
            decoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        self._reset_parameters(kr)

    def _reset_parameters(self, key: jax.Array) -> None:
        """torch's ``_reset_parameters``: Xavier-uniform for every parameter with ndim > 1.

        Edits the (possibly user-given) encoder and decoder in place, as torch does.
        """
        targets = []
        seen: set[int] = set()
        for m in (self.encoder, self.decoder):
            for sub in m.modules():
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                targets += [
                    (sub, n, v)
                    for n, v, kind in sub._named_members_own()
                    if kind == "param" and v.ndim > 1
                ]
        for (sub, name, value), k in zip(
            targets, jax.random.split(key, max(len(targets), 1)), strict=False
        ):
            sub._set_member(name, init.xavier_uniform_(value.shape, key=k, dtype=value.dtype))

    def forward(
        self,
        src: jax.Array,
        tgt: jax.Array,
        src_mask: jax.Array | None = None,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        src, tgt = jnp.asarray(src), jnp.asarray(tgt)
        is_batched = src.ndim == 3
        batch_dim = 0 if self.batch_first else 1
        if is_batched and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise RuntimeError(
                f"the batch number of src and tgt must be equal: src {src.shape}, tgt {tgt.shape} "
                f"(batch dimension {batch_dim}, batch_first={self.batch_first})."
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(
                f"the feature number of src and tgt must be equal to d_model ({self.d_model}), got "
                f"src {src.shape} and tgt {tgt.shape}."
            )
        ke, kd = _stack_keys(key, 2)
        memory = self.encoder(
            src,
            mask=src_mask,
            src_key_padding_mask=src_key_padding_mask,
            is_causal=src_is_causal,
            key=ke,
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
            key=kd,
        )

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: Any = None, dtype: Any = None
    ) -> jax.Array:
        """A causal float mask ``(sz, sz)``: ``-inf`` above the diagonal, 0 elsewhere.

        >>> import jaxnn as nn
        >>> nn.Transformer.generate_square_subsequent_mask(3)
        Array([[  0., -inf, -inf],
               [  0.,   0., -inf],
               [  0.,   0.,   0.]], dtype=float32)
        """
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)
