"""RReLU (random slopes in training, with ``key=``) and Softmax2d."""

from __future__ import annotations

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module
from .activation import _inplace

__all__ = ["RReLU", "Softmax2d"]


class RReLU(Module):
    """Randomized leaky ReLU (torch's ``nn.RReLU``): ``F.rrelu`` in the module's mode.

    In training each non-positive element gets a slope drawn from U(lower, upper) using
    ``key=`` (a training-mode call without a key raises); in evaluation the slope is
    ``(lower + upper) / 2``.

    Args:
        lower, upper: bounds of the slope's distribution. Default 1/8 and 1/3.
        inplace: accepted and printed as torch; no effect.

    Shape:
        - Input: ``(*)``; Output: same shape.

    >>> import jax, jax.numpy as jnp, jaxnn as nn
    >>> m = nn.RReLU(0.1, 0.3)
    >>> m
    RReLU(lower=0.1, upper=0.3)
    >>> m.eval()(jnp.array([-1.0, 2.0]))
    Array([-0.2,  2. ], dtype=float32)
    >>> m.train()(jnp.array([-1.0, 2.0]), key=jax.random.key(0)).shape
    (2,)
    """

    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    _uses_key = True  # containers hand it a key (random slopes in training)

    def __init__(
        self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
    ) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return F.rrelu(input, self.lower, self.upper, self.training, key=key)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace(self.inplace)}"


class Softmax2d(Module):
    """Softmax over the channels of each location: ``softmax(x, dim=-3)``.

    Shape:
        - Input: ``(N, C, H, W)`` or ``(C, H, W)``; Output: same shape.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> nn.Softmax2d()(jnp.zeros((2, 1, 1)))[:, 0, 0]
    Array([0.5, 0.5], dtype=float32)
    """

    def forward(self, input: jax.Array) -> jax.Array:
        if input.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead; pass "
                f"(N, C, H, W) or (C, H, W)."
            )
        return F.softmax(input, -3)
