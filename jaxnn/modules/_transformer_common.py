"""What TransformerEncoderLayer and TransformerDecoderLayer (and their stacks) share.

The blocks are torch's ``_sa_block`` / ``_mha_block`` / ``_ff_block`` as functions of the
layer's children, and ``_residual`` is the ``norm_first`` wiring around each of them, so
the encoder and the decoder run one piece of code where torch repeats it.

Randomness: each layer's ``forward`` takes ``key=`` (or draws from the forward key scope)
and splits it among its dropouts and attention blocks (``_keys``); a MultiheadAttention
receives its share as ``dropout_key=`` since its ``key`` argument is the key tensor.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jax

from .. import functional as F
from .._container import ModuleList
from .._module import Module
from .._random import check_key, draw_forward_key, key_hint
from ._utils import check_positive_int
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .dropout import Dropout


def _get_activation_fn(activation: str) -> Callable[[jax.Array], jax.Array]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(
        f"activation should be relu/gelu, not {activation}; pass 'relu', 'gelu' or a "
        f"callable such as jaxnn.functional.silu or nn.GELU(approximate='tanh')."
    )


def _check_activation(activation: Any) -> tuple[Any, int]:
    """The activation callable and torch's ``activation_relu_or_gelu`` code (1, 2, or 0)."""
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


def _causal_flag(is_causal: bool | None) -> bool:
    # torch turns is_causal=None into True when the mask equals the causal mask; that only
    # selects a faster kernel for the same numbers, so None means False here (and works
    # under jit, where the mask's values are unknown).
    return bool(is_causal)


def _keys(layer: Module, key: jax.Array | None, n: int, needs: bool) -> list[jax.Array | None]:
    """``n`` keys for a layer's random children, or Nones when no key is needed or given."""
    keys = _stack_keys(key, n)
    if keys[0] is None and needs:
        name = type(layer).__name__
        raise ValueError(
            f"{name} in training mode with dropout needs a PRNG key: call the model with "
            f"key=; " + key_hint() + "; or call `model.eval()` for inference."
        )
    return keys


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


def _residual(
    x: jax.Array, norm: Module, norm_first: bool, block: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """One sub-layer with its residual: ``x + block(norm(x))`` (pre-norm) or
    ``norm(x + block(x))`` (post-norm)."""
    if norm_first:
        return x + block(norm(x))
    return norm(x + block(x))


def _attention_block(
    attn: MultiheadAttention,
    dropout: Dropout,
    x: jax.Array,
    kv: jax.Array,
    attn_mask: jax.Array | None,
    key_padding_mask: jax.Array | None,
    is_causal: bool,
    attn_key: jax.Array | None,
    key: jax.Array | None,
) -> jax.Array:
    """torch's ``_sa_block`` (``kv`` is ``x``) and ``_mha_block`` (``kv`` is the memory)."""
    x = attn(
        x,
        kv,
        kv,
        attn_mask=attn_mask,
        key_padding_mask=key_padding_mask,
        is_causal=is_causal,
        need_weights=False,
        dropout_key=attn_key,
    )[0]
    return dropout(x, key=key)


def _feed_forward(
    layer: Any,
    out_dropout: Dropout,
    x: jax.Array,
    key_mid: jax.Array | None,
    key: jax.Array | None,
) -> jax.Array:
    """torch's ``_ff_block``: ``out_dropout(linear2(dropout(activation(linear1(x)))))``."""
    x = layer.linear2(layer.dropout(layer.activation(layer.linear1(x)), key=key_mid))
    return out_dropout(x, key=key)


def _clone_layers(layer: Any, num_layers: int, name: str) -> ModuleList:
    """``num_layers`` independent copies with equal initial values, as torch's deepcopy."""
    if not isinstance(layer, Module):
        raise TypeError(
            f"{name} must be a jaxnn Module (e.g. nn.TransformerEncoderLayer(d_model, nhead)), "
            f"got {type(layer).__name__}."
        )
    n = check_positive_int(num_layers, "num_layers")
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


def _check_norm(norm: Any) -> Any:
    if norm is not None and not isinstance(norm, Module):
        raise TypeError(
            f"norm must be a jaxnn Module (e.g. nn.LayerNorm(d_model)) or None, got {type(norm).__name__}."
        )
    return norm


def _stack_keys(key: jax.Array | None, n: int) -> list[jax.Array | None]:
    """One key per layer of a stack (each layer splits its own further)."""
    if key is None:
        key = draw_forward_key()
    if key is None:
        return [None] * n
    return list(jax.random.split(check_key(key), n))
