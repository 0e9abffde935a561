"""Binary cross-entropy losses (torch.nn's BCELoss and BCEWithLogitsLoss), each calling its
``jaxnn.functional`` twin; ``weight`` and ``pos_weight`` are buffers, as in torch.
"""

from __future__ import annotations

from typing import Any

import jax

from .. import functional as F
from .._fields import buffer
from .loss import _Loss, _optional_array, _WeightedLoss

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
]


class BCELoss(_WeightedLoss):
    """Binary cross entropy between probabilities and targets in [0, 1] (logs clamped at -100).

    Args:
        weight: optional rescaling weight broadcast to the input (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.BCELoss()(jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0])).round(4)
    Array(0.6931, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one numerically stable step.

    Args:
        weight: optional rescaling weight broadcast to the input (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        pos_weight: optional weight of positive examples, broadcast along the last (class)
            dimension (a buffer).

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.BCEWithLogitsLoss()(jnp.zeros(2), jnp.array([0.0, 1.0])).round(4)
    Array(0.6931, dtype=float32)
    """

    weight: jax.Array | None = buffer()
    pos_weight: jax.Array | None = buffer()

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Any = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _optional_array(weight, "weight")
        self.pos_weight = _optional_array(pos_weight, "pos_weight")

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )
