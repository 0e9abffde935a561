"""``LinearCrossEntropyLoss``: a ``Linear`` head and cross entropy in one (torch 2.13)."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from ..functional._loss_linear import LinearCrossEntropyOptions, _as_options
from .linear import Linear
from .loss import _WeightedLoss

__all__ = ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions"]


class LinearCrossEntropyLoss(_WeightedLoss):
    """Cross entropy of ``linear(input)`` and ``target``, with the head's weights inside.

    ``self.linear`` is a ``Linear(in_features, C * prod(out_features))`` (stored flat, as
    torch's); ``forward`` reshapes it to ``(C, *out_features, in_features)`` and calls
    ``F.linear_cross_entropy``. With ``options`` the batch is processed in chunks, so the
    ``(N, C)`` logits are never materialised (see ``LinearCrossEntropyOptions``).

    Args:
        in_features: size of each input sample.
        num_classes: the number of classes ``C``.
        out_features: ``(d1, ..., dK)`` for a K-dimensional loss. Default ``()``.
        bias: the head learns a bias. Default False.
        device, dtype: where and in which floating type the head's parameters are made.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        weight: optional ``(C,)`` class weights (a buffer).
        ignore_index: skipped class index; ``None`` means -100 for class indices.
        label_smoothing: in ``[0, 1]``. Default 0.
        options: chunking options, or ``None`` for the reference computation.
        key: PRNG key for the head's initialisation (default: the global stream).

    Shape:
        - Input: ``(in_features,)`` or ``(N, in_features)``; Target: ``()``, ``(N,)``,
          ``(N, *out_features)`` indices or ``(N, C, *out_features)`` probabilities;
          Output: scalar, or the target's shape with ``reduction='none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> loss = nn.LinearCrossEntropyLoss(5, 10)
    >>> loss(jnp.ones((2, 5)), jnp.array([1, 7])).shape
    ()
    >>> loss.linear
    Linear(in_features=5, out_features=10, bias=False)
    """

    num_classes: int = eqx.field(static=True)
    out_features: tuple[int, ...] = eqx.field(static=True)
    ignore_index: int | None = eqx.field(static=True)
    label_smoothing: float = eqx.field(static=True)
    linear: Linear
    options: LinearCrossEntropyOptions | None = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        reduction: str = "mean",
        weight: Any = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
        key: jax.Array | None = None,
    ) -> None:
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise ValueError(
                f"expected weight shape to be {(num_classes,)}, got {tuple(weight.shape)}"
            )
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"expected label_smoothing to be in range [0, 1], got {label_smoothing}"
            )
        options = _as_options(options)
        super().__init__(weight, None, None, reduction)
        self.num_classes = num_classes
        self.out_features = tuple(out_features)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        flat = math.prod(self.out_features) * num_classes
        self.linear = Linear(in_features, flat, bias=bias, device=device, dtype=dtype, key=key)
        self.options = options

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        shape = (self.num_classes, *self.out_features)
        bias = self.linear.bias
        return F.linear_cross_entropy(
            input,
            self.linear.weight.reshape(*shape, self.linear.in_features),
            target,
            linear_bias=None if bias is None else bias.reshape(shape),
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
            f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
            f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
            f"label_smoothing={self.label_smoothing}, options={self.options}"
        )
