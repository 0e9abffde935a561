"""Dropout and its channel-wise and self-normalising variants.

Randomness comes from the keyword-only ``key`` (a ``jax.random.key``), never from global
state. Without ``key``, a call inside a module call that was given ``key=`` (a custom
``forward`` calling ``F.dropout(x, p, training=self.training)``) splits one off that key;
with no key anywhere, a call that needs randomness (``training=True`` and ``0 < p < 1``)
raises. ``training=False`` or ``p = 0`` is the identity and ``p = 1`` gives zeros; neither
needs a key. The masks are drawn with ``jax.random.bernoulli``, so they cannot equal torch's
bits; the distribution, the scaling and the gradient (the scaled mask) are torch's.
``inplace`` is accepted for signature compatibility and has no effect (JAX arrays are
immutable).
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp

from .._random import check_key, draw_forward_key, key_hint

__all__ = [
    "dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
]

# SELU's negative saturation value, scale * alpha, as in torch's alpha dropout.
_ALPHA = 1.7580993408473766


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout_impl(
    name: str,
    input: jax.Array,
    p: float,
    training: bool,
    key: jax.Array | None,
    *,
    feature: bool,
    alpha: bool,
) -> jax.Array:
    """torch's ``_dropout_impl``: the identity, zeros, or input times a (feature) mask."""
    # A wrong key is checked even where it is not used, so it fails in evaluation too and
    # not first in training.
    if key is not None:
        key = check_key(key)
    if p == 0 or not training:
        return input
    if p == 1:
        return input * jnp.zeros((), input.dtype)
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(
            f"{name}() in training mode needs a floating-point input, got {input.dtype}; "
            "cast it with .astype(jnp.float32)."
        )
    if feature and input.ndim < 2:
        raise ValueError(
            f"Feature dropout requires at least 2 dimensions in the input, got shape "
            f"{input.shape}; {name} zeroes whole channels of (N, C, *) inputs."
        )
    if key is None:
        # A custom forward that calls F.dropout is reached through a module call that may
        # have been given key=: that key is the forward's randomness (torch: global RNG).
        key = draw_forward_key()
    if key is None:
        raise ValueError(
            f"{name}(p={p}) in training mode needs a PRNG key and got none: pass "
            f"F.{name}(x, p={p}, training=True, key=sub), or call the module whose forward "
            f"calls it with model(x, key=sub); "
            + key_hint()
            + "; or pass training=False for evaluation."
        )
    return _apply_mask(input, key, p, feature, alpha)


@partial(jax.jit, static_argnames=("p", "feature", "alpha"))
def _apply_mask(
    input: jax.Array, key: jax.Array, p: float, feature: bool, alpha: bool
) -> jax.Array:
    # One Bernoulli draw per element, or per (n, c) channel broadcast over the rest.
    shape = input.shape[:2] + (1,) * (input.ndim - 2) if feature else input.shape
    keep = jax.random.bernoulli(key, 1.0 - p, shape).astype(input.dtype)
    if not alpha:
        return input * (keep * (1.0 / (1.0 - p)))
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1.0) * (1.0 - p))
    b = (keep - 1.0) * (_ALPHA * a) + _ALPHA * a * p
    return input * (keep * a) + b


def dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Zero each element with probability ``p`` and scale the rest by :math:`1/(1-p)`.

    Args:
        input: any shape.
        p: probability of an element to be zeroed, in :math:`[0, 1]`. Default 0.5.
        training: apply dropout if True (torch's default for the function); False is the
            identity.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> y = F.dropout(jnp.ones(8), 0.5, key=jax.random.key(0))
    >>> set(y.tolist()) <= {0.0, 2.0}
    True
    """
    _check_p(p)
    return _dropout_impl("dropout", input, p, training, key, feature=False, alpha=False)


def alpha_dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Dropout for SELU networks: keeps zero mean and unit variance of its input.

    Dropped elements are set to SELU's saturation :math:`-\lambda\alpha`, then an affine map
    :math:`a x + b` with :math:`a = ((1 - p)(1 + p \lambda^2\alpha^2))^{-1/2}` restores the
    statistics. Note the default ``training=False``, as in torch.

    Args:
        input: any shape.
        p: drop probability in :math:`[0, 1]`. Default 0.5.
        training: apply it if True. Default False.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> F.alpha_dropout(jnp.ones((2, 3)), 0.2, training=True, key=jax.random.key(0)).shape
    (2, 3)
    """
    _check_p(p)
    return _dropout_impl("alpha_dropout", input, p, training, key, feature=False, alpha=True)


def feature_alpha_dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Alpha dropout of whole channels: one draw per ``input[n, c]``, at least 2-d input.

    Args:
        input: ``(N, C, *)``.
        p: drop probability in :math:`[0, 1]`. Default 0.5.
        training: apply it if True. Default False.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(N, C, *)`. Output: same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> F.feature_alpha_dropout(jnp.ones((2, 3, 4)), 0.2, True, key=jax.random.key(0)).shape
    (2, 3, 4)
    """
    _check_p(p)
    return _dropout_impl("feature_alpha_dropout", input, p, training, key, feature=True, alpha=True)


def dropout1d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Zero whole channels of ``(N, C, L)`` or unbatched ``(C, L)`` inputs with probability ``p``.

    Kept channels are scaled by :math:`1/(1-p)`.

    Args:
        input: 2-d ``(C, L)`` or 3-d ``(N, C, L)``.
        p: probability of a channel to be zeroed. Default 0.5.
        training: apply dropout if True. Default True.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`. Output: same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> y = F.dropout1d(jnp.ones((2, 3, 5)), 0.5, key=jax.random.key(0))
    >>> bool(((y == 0).all(-1) | (y == 2).all(-1)).all())
    True
    """
    _check_p(p)
    if input.ndim not in (2, 3):
        raise ValueError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs)."
        )
    batched = input.ndim == 3
    x = input if batched else input[None]
    out = _dropout_impl("dropout1d", x, p, training, key, feature=True, alpha=False)
    return out if batched else out[0]


def dropout2d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Zero whole channels (2-d feature maps ``input[n, c]``) with probability ``p``.

    Kept channels are scaled by :math:`1/(1-p)`. As in torch, a 3-d input is read as
    ``(N, C, L)`` (1-d channel dropout, with torch's warning), not as an unbatched
    ``(C, H, W)``; inputs that are not 3-d or 4-d warn and are treated as ``(N, C, *)``.

    Args:
        input: ``(N, C, H, W)``.
        p: probability of a channel to be zeroed. Default 0.5.
        training: apply dropout if True. Default True.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(N, C, H, W)`. Output: same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> F.dropout2d(jnp.ones((2, 3, 4, 4)), 0.5, key=jax.random.key(0)).shape
    (2, 3, 4, 4)
    """
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).",
            UserWarning,
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
    return _dropout_impl("dropout2d", input, p, training, key, feature=True, alpha=False)


def dropout3d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Zero whole channels (3-d feature maps) of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs.

    Kept channels are scaled by :math:`1/(1-p)`. Inputs that are not 4-d or 5-d warn as in
    torch; anything but 5-d is treated as unbatched (a batch dimension of 1 is added).

    Args:
        input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
        p: probability of a channel to be zeroed. Default 0.5.
        training: apply dropout if True. Default True.
        inplace: accepted, no effect (JAX arrays are immutable).
        key: a ``jax.random.key``, required when ``training`` and ``0 < p < 1``.

    Shape:
        - Input: :math:`(N, C, D, H, W)` or :math:`(C, D, H, W)`. Output: same shape.

    >>> import jax, jax.numpy as jnp, jaxnn.functional as F
    >>> F.dropout3d(jnp.ones((3, 2, 2, 2)), 0.5, key=jax.random.key(0)).shape
    (3, 2, 2, 2)
    """
    _check_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 4D or 5D inputs).",
            UserWarning,
            stacklevel=2,
        )
    batched = input.ndim == 5
    x = input if batched else input[None]
    out = _dropout_impl("dropout3d", x, p, training, key, feature=True, alpha=False)
    return out if batched else out[0]
