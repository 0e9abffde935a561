"""Loss modules: one thin module per loss of torch.nn, each calling its ``jaxnn.functional`` twin.

Constructors are torch's, legacy ``size_average`` / ``reduce`` included (they warn and
decide ``reduction`` as torch's ``_Reduction.legacy_get_string``). Class weights
(``weight``, ``pos_weight``) are buffers, as in torch: they appear in ``state_dict`` and
are never trained. A bad ``reduction`` raises at construction (torch waits for the first
call).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._fields import buffer
from .._module import Module, _to_array

__all__ = [
    "L1Loss",
    "NLLLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "KLDivLoss",
    "MSELoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "HingeEmbeddingLoss",
    "MultiLabelMarginLoss",
    "SmoothL1Loss",
    "HuberLoss",
    "SoftMarginLoss",
    "CrossEntropyLoss",
    "MultiLabelSoftMarginLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "CTCLoss",
]

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(
    size_average: bool | None,
    reduce: bool | None,
    reduction: str,
    cls: str,
    allowed: Sequence[str] = _REDUCTIONS,
) -> str:
    """torch's rule: the legacy flags (with their deprecation warning) win over ``reduction``."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
            UserWarning,
            stacklevel=4,
        )
    if reduction not in allowed:
        raise ValueError(
            f"{cls}: {reduction!r} is not a valid value for reduction; choose one of {tuple(allowed)!r}."
        )
    return reduction


def _optional_array(value: Any, name: str) -> jax.Array | None:
    return None if value is None else _to_array(value, name)


class _Loss(Module):
    """torch's ``_Loss``: holds ``reduction``."""

    reduction: str = eqx.field(static=True)

    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.reduction = _reduction(
            size_average, reduce, reduction, type(self).__name__, self._reductions
        )

    _reductions = _REDUCTIONS


class _WeightedLoss(_Loss):
    """torch's ``_WeightedLoss``: a ``weight`` buffer (``None`` when not given)."""

    weight: jax.Array | None = buffer()

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _optional_array(weight, "weight")


class L1Loss(_Loss):
    """Mean absolute error :math:`|x - y|`, reduced by ``reduction``.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`, same shape; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.L1Loss()(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array(1.5, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error :math:`(x - y)^2`, reduced by ``reduction``.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`, same shape; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MSELoss()(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array(2.5, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of class indices given log-probabilities.

    Args:
        weight: optional ``(C,)`` class weights (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        ignore_index: targets equal to it contribute nothing. Default -100.
        reduction: ``'none'`` | ``'mean'`` (default; weighted mean) | ``'sum'``.

    Shape:
        - Input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ...)`; Target: :math:`(N)`,
          :math:`()` or :math:`(N, d_1, ...)` integers; Output: scalar, or the target's shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.NLLLoss()(jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]])), jnp.array([0, 1])).round(4)
    Array(0.4904, dtype=float32)
    """

    ignore_index: int = eqx.field(static=True)

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between logits and class indices or class probabilities.

    Args:
        weight: optional ``(C,)`` class weights (a buffer).
        size_average, reduce: deprecated; use ``reduction``.
        ignore_index: class-index targets equal to it contribute nothing. Default -100.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        label_smoothing: in ``[0, 1]``; mixes the target with the uniform distribution.

    Shape:
        - Input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ...)`; Target: class indices
          :math:`(N)` / :math:`()` / :math:`(N, d_1, ...)`, or probabilities shaped as the input.
        - Output: scalar, or the target's batch shape with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.CrossEntropyLoss()(jnp.zeros((2, 4)), jnp.array([1, 3])).round(4)
    Array(1.3863, dtype=float32)
    """

    ignore_index: int = eqx.field(static=True)
    label_smoothing: float = eqx.field(static=True)

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class PoissonNLLLoss(_Loss):
    """Negative log likelihood of a Poisson target: :math:`e^x - y x` (``log_input``) or :math:`x - y \\log(x + \\epsilon)`.

    Args:
        log_input: the input is the log of the rate. Default True.
        full: add Stirling's approximation of :math:`\\log y!`. Default False.
        size_average, reduce: deprecated; use ``reduction``.
        eps: keeps the log finite when ``log_input=False``. Default 1e-8.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.PoissonNLLLoss()(jnp.zeros(3), jnp.ones(3))
    Array(1., dtype=float32)
    """

    log_input: bool = eqx.field(static=True)
    full: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: bool | None = None,
        eps: float = 1e-08,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: jax.Array, target: jax.Array) -> jax.Array:
        return F.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """Negative log likelihood of a Gaussian target: :math:`\\frac12(\\log \\sigma^2 + (x - y)^2 / \\sigma^2)`.

    Args:
        full: add the constant :math:`\\frac12 \\log 2\\pi`. Default False.
        eps: lower clamp of the variance. Default 1e-6.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(N, *)` or :math:`(*)`; Var: the input's shape, one dimension
          fewer, a last dimension of 1, or a float; Output: scalar, or :math:`(N, *)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.GaussianNLLLoss()(jnp.zeros(2), jnp.ones(2), jnp.ones(2))
    Array(0.5, dtype=float32)
    """

    full: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, *, full: bool = False, eps: float = 1e-06, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: jax.Array, target: jax.Array, var: jax.Array | float) -> jax.Array:
        return F.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence :math:`y (\\log y - x)` with ``x`` log-probabilities.

    ``reduction='mean'`` averages over every element and warns, as torch; ``'batchmean'``
    is the mathematically right KL divergence.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'batchmean'`` | ``'sum'`` | ``'mean'`` (default).
        log_target: the target is given as log-probabilities. Default False.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.KLDivLoss(reduction="batchmean")(jnp.log(jnp.array([[0.5, 0.5]])), jnp.array([[0.5, 0.5]]))
    Array(0., dtype=float32)
    """

    _reductions = ("none", "batchmean", "sum", "mean")
    log_target: bool = eqx.field(static=True)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


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


class SmoothL1Loss(_Loss):
    """Squared error below ``beta`` (divided by ``2 beta``), absolute error (minus ``beta/2``) above.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        beta: the threshold; 0 gives the L1 loss. Default 1.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.SmoothL1Loss()(jnp.array([0.5, 3.0]), jnp.zeros(2))
    Array(1.3125, dtype=float32)
    """

    beta: float = eqx.field(static=True)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared error below ``delta`` (halved), ``delta`` times (absolute error - ``delta/2``) above.

    Args:
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        delta: the threshold. Default 1.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.HuberLoss()(jnp.array([0.5, 3.0]), jnp.zeros(2))
    Array(1.3125, dtype=float32)
    """

    delta: float = eqx.field(static=True)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, float | int):
            raise TypeError(
                f"delta must be a float or int, got: {type(delta)}; e.g. HuberLoss(delta=1.0)."
            )
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


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


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss over every alignment of the targets.

    Args:
        blank: the blank label. Default 0.
        reduction: ``'none'`` | ``'mean'`` (default; each loss divided by its target length,
            then averaged) | ``'sum'``.
        zero_infinity: make infinite losses (impossible alignments) and their gradients 0.

    Shape:
        - Log_probs: :math:`(T, N, C)` or :math:`(T, C)`; Targets: :math:`(N, S)`, concatenated
          :math:`(\\sum S_n)`, or :math:`(S)`; Input_lengths, Target_lengths: :math:`(N)` or
          :math:`()`; Output: scalar, or :math:`(N)` with ``'none'``.

    >>> import jax, jaxnn as nn, jax.numpy as jnp
    >>> log_probs = jax.nn.log_softmax(jnp.zeros((5, 1, 3)), axis=-1)
    >>> nn.CTCLoss()(log_probs, jnp.array([[1, 2]]), jnp.array([5]), jnp.array([2])).shape
    ()
    """

    blank: int = eqx.field(static=True)
    zero_infinity: bool = eqx.field(static=True)

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(
        self, log_probs: jax.Array, targets: jax.Array, input_lengths: Any, target_lengths: Any
    ) -> jax.Array:
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )
