"""Embedding losses (torch.nn's cosine embedding and triplet margin losses), each calling its
``jaxnn.functional`` twin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module
from .loss import _Loss

__all__ = [
    "CosineEmbeddingLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


class CosineEmbeddingLoss(_Loss):
    """:math:`1 - \\cos(x_1, x_2)` where :math:`y = 1`, :math:`\\max(0, \\cos(x_1, x_2) - \\text{margin})` where :math:`y = -1`.

    Args:
        margin: in [-1, 1]. Default 0.
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input1, Input2: :math:`(N, D)` or :math:`(D)`; Target: :math:`(N)` or :math:`()`;
          Output: scalar, or :math:`(N)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.CosineEmbeddingLoss()(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([1.0]))
    Array(1., dtype=float32)
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
        return F.cosine_embedding_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class TripletMarginLoss(_Loss):
    """Triplet loss :math:`\\max(d(a, p) - d(a, n) + \\text{margin}, 0)` with the p-norm distance.

    Args:
        margin: positive. Default 1.
        p: the norm degree of the pairwise distance. Default 2.
        eps: added to the differences. Default 1e-6.
        swap: use :math:`\\min(d(a, n), d(p, n))` as the negative distance. Default False.
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Anchor, Positive, Negative: :math:`(N, D)` or :math:`(D)`; Output: scalar, or :math:`(N)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> a = jnp.zeros((1, 2))
    >>> nn.TripletMarginLoss(eps=0.0)(a, a, jnp.array([[3.0, 4.0]]))
    Array(0., dtype=float32)
    """

    margin: float = eqx.field(static=True)
    p: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    swap: bool = eqx.field(static=True)

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-06,
        swap: bool = False,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: jax.Array, positive: jax.Array, negative: jax.Array) -> jax.Array:
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


def _default_distance() -> Module | None:
    """torch's default ``PairwiseDistance()`` child (None: the functional's same default)."""
    try:
        from .shape import PairwiseDistance
    except ImportError:  # pragma: no cover - the distance modules are not installed
        return None
    return PairwiseDistance()


class TripletMarginWithDistanceLoss(_Loss):
    """Triplet loss with any distance: :math:`\\max(d(a, p) - d(a, n) + \\text{margin}, 0)`.

    Args:
        distance_function: ``(x, y) -> distances``, a function or a module; default
            ``nn.PairwiseDistance()`` (a child module, as in torch).
        margin: positive. Default 1.
        swap: use :math:`\\min(d(a, n), d(p, n))` as the negative distance. Default False.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Anchor, Positive, Negative: :math:`(N, *)` or :math:`(*)`; Output: scalar, or :math:`(N)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> l1 = lambda x, y: jnp.abs(x - y).sum(-1)
    >>> a, pos, neg = jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])
    >>> nn.TripletMarginWithDistanceLoss(distance_function=l1)(a, pos, neg)
    Array(0., dtype=float32)
    """

    # Not static: a Module (the default) is a child; a plain function is boxed as static.
    distance_function: Any
    margin: float = eqx.field(static=True)
    swap: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(None, None, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.distance_function = (
            distance_function if distance_function is not None else _default_distance()
        )
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: jax.Array, positive: jax.Array, negative: jax.Array) -> jax.Array:
        return F.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )
