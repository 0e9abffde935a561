"""Dropout layers: Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout.

In eval mode each is the identity. In training mode the mask needs a PRNG key: pass
``model(x, key=sub)`` with a fresh ``key, sub = jax.random.split(key)`` every step
(containers split it among their children) or
call ``model.eval()`` for inference. A missing key is an error, never a fixed mask
(DESIGN rule 6). ``inplace`` is accepted and printed as torch does; it has no effect (JAX
arrays are immutable). Masks come from ``jax.random``, so they cannot equal torch's bits:
the distribution and scaling are torch's.
"""

from __future__ import annotations

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module
from .._random import draw_forward_key, key_hint
from ._utils import check_prob

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """torch's ``_DropoutNd``: ``p`` and ``inplace``; subclasses name their function."""

    _uses_key = True
    _fn = staticmethod(F.dropout)

    p: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        check_prob(p)
        self.p = p  # as given: torch prints p=1 for an int
        self.inplace = inplace

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        if key is None:
            key = draw_forward_key()
        if key is None and self.training and 0.0 < self.p < 1.0:
            name = type(self).__name__
            raise ValueError(
                f"{name}(p={self.p}) in training mode needs a PRNG key for its mask: call "
                f"the model with key= (containers hand it down); "
                + key_hint()
                + "; or call `model.eval()` for inference."
            )
        return type(self)._fn(input, self.p, self.training, self.inplace, key=key)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training mode; scale the rest by 1/(1-p).

    Args:
        p: probability of an element to be zeroed. Default 0.5.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Dropout(p=0.2)
    >>> m(jnp.ones((2, 3)), key=jax.random.key(0)).shape
    (2, 3)
    >>> m.eval()(jnp.ones(2))
    Array([1., 1.], dtype=float32)
    """

    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` / ``(C, L)`` inputs with probability ``p``.

    Args:
        p: probability of a channel to be zeroed. Default 0.5.
        inplace: accepted, no effect.

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> nn.Dropout1d(0.5)(jnp.ones((2, 3, 4)), key=jax.random.key(0)).shape
    (2, 3, 4)
    """

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole channels (2-d feature maps) of ``(N, C, H, W)`` inputs with probability ``p``.

    As torch, a 3-d input warns and is read as ``(N, C, L)``.

    Args:
        p: probability of a channel to be zeroed. Default 0.5.
        inplace: accepted, no effect.

    Shape:
        - Input: :math:`(N, C, H, W)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> nn.Dropout2d(0.5)(jnp.ones((2, 3, 4, 4)), key=jax.random.key(0)).shape
    (2, 3, 4, 4)
    """

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels (3-d feature maps) of ``(N, C, D, H, W)`` / ``(C, D, H, W)`` inputs.

    Args:
        p: probability of a channel to be zeroed. Default 0.5.
        inplace: accepted, no effect.

    Shape:
        - Input: :math:`(N, C, D, H, W)` or :math:`(C, D, H, W)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> nn.Dropout3d(0.5)(jnp.ones((2, 3, 2, 2, 2)), key=jax.random.key(0)).shape
    (2, 3, 2, 2, 2)
    """

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: keeps the input's zero mean and unit variance.

    Dropped elements are set to SELU's saturation value, then an affine map restores the
    statistics.

    Args:
        p: probability of an element to be dropped. Default 0.5.
        inplace: accepted, no effect.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> nn.AlphaDropout(0.2)(jnp.ones(4), key=jax.random.key(0)).shape
    (4,)
    """

    _fn = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of ``(N, C, *)`` inputs.

    Args:
        p: probability of a channel to be dropped. Default 0.5.
        inplace: accepted, no effect.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> nn.FeatureAlphaDropout(0.2)(jnp.ones((2, 3, 4)), key=jax.random.key(0)).shape
    (2, 3, 4)
    """

    _fn = staticmethod(F.feature_alpha_dropout)
