"""Margin and hinge losses (torch.nn's margin ranking, hinge embedding, soft margin and the
multi-label / multi-class margin losses), each calling its ``jaxnn.functional`` twin.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .loss import _Loss, _WeightedLoss

__all__ = [
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
]


class MarginRankingLoss(_Loss):
    """:math:`\\max(0, -y (x_1 - x_2) + \\text{margin})`: ranks ``x1`` above ``x2`` where ``y = 1``.

    Args:
        margin: Default 0.
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input1, Input2, Target: :math:`(N)` or :math:`()`; Output: scalar, or :math:`(N)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MarginRankingLoss()(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0]))
    Array(0.5, dtype=float32)
    """

    margin: float = eqx.field(static=True)

    def __init__(
        self,
        margin: float = 0.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: jax.Array, input2: jax.Array, target: jax.Array) -> jax.Array:
        return F.margin_ranking_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class HingeEmbeddingLoss(_Loss):
    """:math:`x` where :math:`y = 1`, :math:`\\max(0, \\text{margin} - x)` where :math:`y = -1`.

    Args:
        margin: Default 1.
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target (entries ±1): :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.HingeEmbeddingLoss()(jnp.array([0.3, 0.2]), jnp.array([1.0, -1.0]))
    Array(0.55, dtype=float32)
    """

    margin: float = eqx.field(static=True)

    def __init__(
        self,
        margin: float = 1.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss :math:`\\log(1 + e^{-y x})` with targets ±1.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.SoftMarginLoss()(jnp.zeros(2), jnp.array([1.0, -1.0])).round(4)
    Array(0.6931, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-class multi-label hinge loss; each target row lists class indices, ended by -1.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input: :math:`(C)` or :math:`(N, C)`; Target: integers of the same shape;
          Output: scalar, or :math:`(N)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> loss = nn.MultiLabelMarginLoss()(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
    >>> round(float(loss), 4)
    0.85
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Multi-label one-versus-all logistic loss, averaged over the classes.

    Args:
        weight: optional ``(C,)`` class weights (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target (0/1): :math:`(N, C)` or :math:`(C)`; Output: scalar, or :math:`(N)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MultiLabelSoftMarginLoss()(jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]])).round(4)
    Array(0.6931, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.multilabel_soft_margin_loss(
            input, target, weight=self.weight, reduction=self.reduction
        )


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss :math:`\\sum_{i \\ne y} \\max(0, \\text{margin} - x_y + x_i)^p / C`.

    Args:
        p: 1 (default) or 2.
        margin: Default 1.
        weight: optional ``(C,)`` class weights (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input: :math:`(N, C)` or :math:`(C)`; Target: :math:`(N)` or :math:`()` integers;
          Output: scalar, or :math:`(N)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MultiMarginLoss()(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3])).round(4)
    Array(0.325, dtype=float32)
    """

    p: int = eqx.field(static=True)
    margin: float = eqx.field(static=True)

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Any = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError(f"only p == 1 and p == 2 supported, got p={p!r}.")
        if self.weight is not None and self.weight.ndim != 1:
            raise ValueError(
                f"MultiMarginLoss: expected weight to be None or 1D tensor, got {self.weight.ndim}D instead; "
                f"pass one weight per class, shape (C,)."
            )
        self.p = p
        self.margin = margin

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.multi_margin_loss(
            input,
            target,
            p=self.p,
            margin=self.margin,
            weight=self.weight,
            reduction=self.reduction,
        )
