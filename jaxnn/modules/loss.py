"""Loss modules: the ``_Loss`` / ``_WeightedLoss`` bases and the classification losses.

One thin module per loss of torch.nn, each calling its ``jaxnn.functional`` twin. The
other families mirror ``jaxnn.functional``'s split and build on these bases:
:mod:`.loss_regression`, :mod:`.loss_binary`, :mod:`.loss_margin`, :mod:`.loss_embedding`.

Constructors are torch's, legacy ``size_average`` / ``reduce`` included (they warn and
decide ``reduction`` as torch's ``_Reduction.legacy_get_string``). Class weights
(``weight``, ``pos_weight``) are buffers, as in torch: they appear in ``state_dict`` and
are never trained. A bad ``reduction`` raises at construction (torch waits for the first
call).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._fields import buffer
from .._module import Module, _to_array

__all__ = [
    "NLLLoss",
    "NLLLoss2d",
    "CrossEntropyLoss",
    "KLDivLoss",
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


class NLLLoss2d(NLLLoss):
    """torch's deprecated alias of ``NLLLoss`` for ``(N, C, H, W)`` inputs: the same loss.

    Constructing it warns (a ``FutureWarning``), as torch's does.

    >>> import warnings, jaxnn as nn, jax.numpy as jnp
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     loss = nn.NLLLoss2d()
    >>> loss(jnp.zeros((1, 2, 1, 1)), jnp.zeros((1, 1, 1), jnp.int32))
    Array(-0., dtype=float32)
    """

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        warnings.warn(
            "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
            "replacement and see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for "
            "more details.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


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
