"""Transformer, TransformerEncoder/Decoder and their layers, with torch's children and masks.

The layers are torch's "slow path" (the computation torch runs in training mode or with
gradients): torch's inference fast paths (``torch._transformer_encoder_layer_fwd`` and
the nested-tensor "sparsity fast path") compute the same function, except that the
nested-tensor path returns zeros at padded positions; jaxnn always runs the plain
computation. ``enable_nested_tensor`` and ``mask_check`` are accepted and stored.

Deliberate difference: torch deep-copies a TransformerDecoderLayer into its stacks, and
the copy's ``__setstate__`` sets ``activation = F.relu`` when the activation is a module
(``nn.GELU()``): torch's TransformerDecoder/Transformer then still print ``GELU`` but
compute ReLU. jaxnn computes with the activation it prints.

Randomness: each layer's ``forward`` takes ``key=`` (or draws from the forward key scope)
and splits it among its dropouts and attention blocks; a MultiheadAttention receives its
share as ``dropout_key=`` since its ``key`` argument is the key tensor.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._container import ModuleList
from .._module import Module
from .._random import check_key, draw_forward_key
from ._utils import check_positive_int, factory_dtype, place, split_key
from .activation import GELU, ReLU
from .attention import MultiheadAttention, _canonical_mask, _dtype_or_none
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

__all__ = [
    "Transformer",
    "TransformerEncoder",
    "TransformerDecoder",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
]


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> jax.Array:
    dt = factory_dtype(dtype)
    return place(jnp.triu(jnp.full((sz, sz), -jnp.inf, dt), k=1), device)


def _get_activation_fn(activation: str) -> Callable[[jax.Array], jax.Array]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(
        f"activation should be relu/gelu, not {activation}; pass 'relu', 'gelu' or a "
        f"callable such as jaxnn.functional.silu or nn.GELU(approximate='tanh')."
    )


def _get_clones(module: Module, n: int) -> ModuleList:
    # Independent copies with equal initial values, as torch's deepcopy.
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _causal_flag(is_causal: bool | None) -> bool:
    # torch turns is_causal=None into True when the mask equals the causal mask; that only
    # selects a faster kernel for the same numbers, so None means False here (and works
    # under jit, where the mask's values are unknown).
    return bool(is_causal)


def _keys(layer: Module, key: jax.Array | None, n: int, needs: bool) -> list[jax.Array | None]:
    """``n`` keys for a layer's random children, or Nones when no key is needed or given."""
    if key is None:
        key = draw_forward_key()
    else:
        key = check_key(key)
    if key is None:
        if needs:
            name = type(layer).__name__
            raise ValueError(
                f"{name} in training mode with dropout needs a PRNG key: call "
                f"`model(x, key=jax.random.key(0))` (split a fresh key every step), or "
                f"`model.eval()` for inference."
            )
        return [None] * n
    return list(jax.random.split(key, n))


def _random_in_training(*modules: Module) -> bool:
    for m in modules:
        if not m.training:
            continue
        p = getattr(m, "p", None)
        if p is None:
            p = getattr(m, "dropout", 0.0)
        if isinstance(p, int | float) and p > 0.0:
            return True
    return False


def _check_activation(activation: Any) -> tuple[Any, int]:
    if isinstance(activation, str):
        activation = _get_activation_fn(activation)
    if not callable(activation):
        raise TypeError(
            f"activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__} "
            f"{activation!r}."
        )
    if activation is F.relu or isinstance(activation, ReLU):
        kind = 1
    elif activation is F.gelu or isinstance(activation, GELU):
        kind = 2
    else:
        kind = 0
    return activation, kind


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
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask,
            "src_key_padding_mask",
            _dtype_or_none(src_mask),
            "src_mask",
            src.dtype,
        )
        src_mask = _canonical_mask(src_mask, "src_mask", None, "", src.dtype, check_other=False)
        needs = _random_in_training(self.self_attn, self.dropout, self.dropout1, self.dropout2)
        ka, k1, kd, k2 = _keys(self, key, 4, needs)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, ka, k1)
            x = x + self._ff_block(self.norm2(x), kd, k2)
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal, ka, k1))
            x = self.norm2(x + self._ff_block(x, kd, k2))
        return x

    def _sa_block(
        self,
        x: jax.Array,
        attn_mask: jax.Array | None,
        key_padding_mask: jax.Array | None,
        is_causal: bool,
        attn_key: jax.Array | None,
        key: jax.Array | None,
    ) -> jax.Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
            dropout_key=attn_key,
        )[0]
        return self.dropout1(x, key=key)

    def _ff_block(
        self, x: jax.Array, key_mid: jax.Array | None, key: jax.Array | None
    ) -> jax.Array:
        x = self.linear2(self.dropout(self.activation(self.linear1(x)), key=key_mid))
        return self.dropout2(x, key=key)


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
        x = jnp.asarray(tgt)
        if self.norm_first:
            x = x + self._sa_block(
                self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal, ks, k1
            )
            x = x + self._mha_block(
                self.norm2(x),
                memory,
                memory_mask,
                memory_key_padding_mask,
                memory_is_causal,
                km,
                k2,
            )
            x = x + self._ff_block(self.norm3(x), kd, k3)
        else:
            x = self.norm1(
                x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, ks, k1)
            )
            x = self.norm2(
                x
                + self._mha_block(
                    x, memory, memory_mask, memory_key_padding_mask, memory_is_causal, km, k2
                )
            )
            x = self.norm3(x + self._ff_block(x, kd, k3))
        return x

    def _sa_block(
        self,
        x: jax.Array,
        attn_mask: jax.Array | None,
        key_padding_mask: jax.Array | None,
        is_causal: bool,
        attn_key: jax.Array | None,
        key: jax.Array | None,
    ) -> jax.Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
            dropout_key=attn_key,
        )[0]
        return self.dropout1(x, key=key)

    def _mha_block(
        self,
        x: jax.Array,
        mem: jax.Array,
        attn_mask: jax.Array | None,
        key_padding_mask: jax.Array | None,
        is_causal: bool,
        attn_key: jax.Array | None,
        key: jax.Array | None,
    ) -> jax.Array:
        mem = jnp.asarray(mem)
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
            dropout_key=attn_key,
        )[0]
        return self.dropout2(x, key=key)

    def _ff_block(
        self, x: jax.Array, key_mid: jax.Array | None, key: jax.Array | None
    ) -> jax.Array:
        x = self.linear2(self.dropout(self.activation(self.linear1(x)), key=key_mid))
        return self.dropout3(x, key=key)


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
        _check_layer(encoder_layer, "encoder_layer")
        self.layers = _get_clones(encoder_layer, check_positive_int(num_layers, "num_layers"))
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
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", _dtype_or_none(mask), "mask", src.dtype
        )
        mask = _canonical_mask(mask, "mask", None, "", src.dtype, check_other=False)
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
        _check_layer(decoder_layer, "decoder_layer")
        self.layers = _get_clones(decoder_layer, check_positive_int(num_layers, "num_layers"))
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
        if key is None:
            key = draw_forward_key()
        ke, kd = (None, None) if key is None else jax.random.split(check_key(key))
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


def _stack_keys(key: jax.Array | None, n: int) -> list[jax.Array | None]:
    """One key per layer of a stack (each layer splits its own further)."""
    if key is None:
        key = draw_forward_key()
    if key is None:
        return [None] * n
    return list(jax.random.split(check_key(key), n))


def _check_layer(layer: Any, name: str) -> None:
    if not isinstance(layer, Module):
        raise TypeError(
            f"{name} must be a jaxnn Module (e.g. nn.TransformerEncoderLayer(d_model, nhead)), "
            f"got {type(layer).__name__}."
        )


def _check_norm(norm: Any) -> Any:
    if norm is not None and not isinstance(norm, Module):
        raise TypeError(
            f"norm must be a jaxnn Module (e.g. nn.LayerNorm(d_model)) or None, got {type(norm).__name__}."
        )
    return norm
