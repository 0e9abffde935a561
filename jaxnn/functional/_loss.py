"""Classification losses: ``nll_loss``, ``cross_entropy`` and ``kl_div``. The other loss
families live in ``_loss_binary``, ``_loss_regression``, ``_loss_margin``,
``_loss_embedding`` and ``_loss_ctc``; this file re-exports them all in ``__all__``.

Class indices are checked against ``[0, C)`` only when the target is concrete (known at
trace time); under ``jax.jit`` an out-of-range index cannot raise, and is clipped.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp

from ._loss_binary import binary_cross_entropy, binary_cross_entropy_with_logits
from ._loss_common import (
    apply_reduction,
    as_array,
    broadcast_all,
    broadcast_shape,
    concrete,
    float_dtype,
    resolve_reduction,
)
from ._loss_ctc import ctc_loss
from ._loss_embedding import (
    cosine_embedding_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from ._loss_margin import (
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
)
from ._loss_regression import (
    gaussian_nll_loss,
    huber_loss,
    l1_loss,
    mse_loss,
    poisson_nll_loss,
    smooth_l1_loss,
)
from ._utils import check_input_dtype

__all__ = [
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    # re-exported from the other loss files
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "ctc_loss",
]


def _check_class_targets(
    target: jax.Array, input: jax.Array, weight: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """torch's ``nll_loss_nd`` shape rules; returns (input, target) with a batch axis."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim}) for input of shape ().")
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(
            f"expected target dtype to be an integer type (class indices), but got {target.dtype}; "
            "pass class indices, or class probabilities with the same shape as input."
        )
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != C):
        raise ValueError(
            f"weight tensor should be defined either for all {C} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}."
        )
    if input.ndim == 1:
        if target.shape not in ((), (1,)):
            raise ValueError(
                f"0D or 1D target tensor expected, multi-target not supported: an unbatched input "
                f"of shape {input.shape} needs a 0-d target, got shape {target.shape}."
            )
        return input[None], jnp.reshape(target, (1,))
    if target.ndim >= 1 and target.shape[0] != input.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0]})."
        )
    if input.ndim == 2 and target.ndim != 1:
        raise ValueError(
            f"0D or 1D target tensor expected, multi-target not supported: input of shape "
            f"{input.shape} needs a target of shape ({input.shape[0]},), got {target.shape}."
        )
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"Expected target size {list(expected)}, got {list(target.shape)}; the target of an "
            "(N, C, d1, ..., dK) input has shape (N, d1, ..., dK)."
        )
    return input, target


def _check_bounds(target: jax.Array, n_classes: int, ignore_index: int) -> None:
    values = concrete(target)
    if values is None or values.size == 0:
        return
    bad = (values != ignore_index) & ((values < 0) | (values >= n_classes))
    if bad.any():
        raise IndexError(
            f"Target {int(values[bad].flat[0])} is out of bounds. Class indices must lie in "
            f"[0, {n_classes}) or equal ignore_index={ignore_index}."
        )


def _nll(
    logp: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    reduction: str,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Batched ``(N, C, *d)`` NLL; returns (reduced loss, per-element weight, ignore mask)."""
    target = target.astype(jnp.int32)
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)
    picked = jnp.take_along_axis(logp, safe[:, None], axis=1, mode="clip")[:, 0]
    if weight is None:
        w = valid.astype(logp.dtype)
    else:
        w = jnp.where(valid, jnp.take(weight.astype(logp.dtype), safe, mode="clip"), 0)
    # Ignored elements are cut off by ``where``, not by their zero weight: with every target
    # ignored the 'mean' divides by zero, and d(sum/0) = inf times a zero weight would be
    # NaN. torch writes zero gradients there (its loss is NaN, 0/0); a kept target whose
    # class weight is 0 still gets torch's NaN gradient.
    loss = jnp.where(valid, -picked * w, 0)
    if reduction == "mean":
        # Like torch: divided by the summed weight of non-ignored targets (NaN if none).
        return jnp.sum(loss) / jnp.sum(w), w, valid
    return apply_reduction(loss, reduction), w, valid


def nll_loss(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Negative log likelihood loss: :math:`\ell_n = -w_{y_n} x_{n, y_n}`.

    ``'mean'`` divides the sum by :math:`\sum_n w_{y_n}` over the targets that are not
    ``ignore_index`` (NaN when every target is ignored, as in torch).

    Args:
        input: log-probabilities.
        target: class indices in ``[0, C)`` (any integer dtype).
        weight: optional per-class weight of shape ``(C,)``.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        ignore_index: target value that contributes nothing (neither loss nor weight).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)``, ``(C,)`` or ``(N, C, d1, ..., dK)``
        - target: ``(N,)``, ``()`` or ``(N, d1, ..., dK)``
        - output: scalar, or the target's shape with ``reduction='none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> logp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
    >>> print([round(v, 4) for v in F.nll_loss(logp, jnp.array([0, 1]), reduction="none").tolist()])
    [0.6931, 0.2231]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    check_input_dtype(input, "nll_loss")
    weight = None if weight is None else as_array(weight)
    batched_input, batched_target = _check_class_targets(target, input, weight)
    _check_bounds(target, batched_input.shape[1], ignore_index)
    return _nll_impl(
        batched_input,
        batched_target,
        weight,
        ignore_index=ignore_index,
        reduction=reduction,
        unbatched=input.ndim == 1,
    )


@functools.partial(jax.jit, static_argnames=("ignore_index", "reduction", "unbatched"))
def _nll_impl(input, target, weight, *, ignore_index, reduction, unbatched):
    loss, _, _ = _nll(input, target, weight, ignore_index, reduction)
    return loss[0] if unbatched and reduction == "none" else loss


def cross_entropy(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Cross entropy between logits and class indices or class probabilities.

    With class indices it is ``nll_loss(log_softmax(input, class_dim), target, ...)``; with
    ``label_smoothing`` :math:`\epsilon` it is torch's
    :math:`(1 - \epsilon)\,\mathrm{nll} + \frac{\epsilon}{C} \cdot
    (-\sum_c w_c \log p_c)`, the second term zero at ignored targets and, for ``'mean'``,
    divided by the same summed weight as the NLL term. With probabilities (a floating
    target of ``input``'s shape), :math:`\ell_n = -\sum_c w_c\, y_{n,c} \log p_{n,c}` where
    :math:`y \leftarrow (1 - \epsilon) y + \epsilon / C`; ``'mean'`` divides by
    ``N * d1 * ... * dK`` (not by the weights).

    Args:
        input: unnormalised logits.
        target: class indices, or class probabilities with ``input``'s shape.
        weight: optional per-class weight ``(C,)``.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        ignore_index: index target value to skip (not allowed with probabilities).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: amount of smoothing, at most 1.0 (negative values are accepted, as
            in torch).

    Shape:
        - input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``
        - target: ``()``, ``(N,)``, ``(N, d1, ..., dK)`` indices, or ``input``'s shape
        - output: scalar, or ``input``'s shape without ``C`` with ``reduction='none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    >>> print(round(float(F.cross_entropy(logits, jnp.array([0, 1]))), 4))
    0.3964
    >>> print(round(float(F.cross_entropy(logits, jnp.array([0, 1]), label_smoothing=0.1)), 4))
    0.5047
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    weight = None if weight is None else as_array(weight)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim}) for input of shape ().")
    check_input_dtype(input, "cross_entropy")
    # torch checks only the upper bound: negative smoothing (used in the noisy-label
    # literature) is accepted and computed by the same formula.
    if not label_smoothing <= 1.0:
        raise ValueError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}; pass e.g. "
            "label_smoothing=0.1."
        )
    if tuple(target.shape) == tuple(input.shape):
        if not jnp.issubdtype(target.dtype, jnp.floating):
            raise TypeError(
                f"Expected floating point type for target with class probabilities, got "
                f"{target.dtype}; a target with input's shape {target.shape} is read as class "
                "probabilities, pass class indices of shape (N, d1, ..., dK) otherwise."
            )
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index is not supported for floating point target (got "
                f"ignore_index={ignore_index}); leave ignore_index at its default -100."
            )
        C = input.shape[0 if input.ndim == 1 else 1]
        if weight is not None and tuple(weight.shape) != (C,):
            raise ValueError(
                f"weight tensor should be defined either for all {C} classes or no classes but "
                f"got weight tensor of shape: {list(weight.shape)}."
            )
        return _cross_entropy_probs(
            input, target, weight, reduction=reduction, label_smoothing=float(label_smoothing)
        )
    batched_input, batched_target = _check_class_targets(target, input, weight)
    _check_bounds(target, batched_input.shape[1], ignore_index)
    return _cross_entropy_index(
        batched_input,
        batched_target,
        weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=float(label_smoothing),
        unbatched=input.ndim == 1,
    )


@functools.partial(
    jax.jit, static_argnames=("ignore_index", "reduction", "label_smoothing", "unbatched")
)
def _cross_entropy_index(
    input, target, weight, *, ignore_index, reduction, label_smoothing, unbatched
):
    C = input.shape[1]
    logp = jax.nn.log_softmax(input, axis=1)
    nll, w, valid = _nll(logp, target, weight, ignore_index, reduction)
    if label_smoothing > 0.0:
        if weight is None:
            smooth = -jnp.sum(logp, axis=1)
        else:
            w_c = jnp.reshape(weight.astype(logp.dtype), (1, C) + (1,) * (logp.ndim - 2))
            smooth = -jnp.sum(logp * jnp.broadcast_to(w_c, logp.shape), axis=1)
        smooth = jnp.where(valid, smooth, 0)
        if reduction == "mean":
            smooth = jnp.sum(smooth) / jnp.sum(w)
        else:
            smooth = apply_reduction(smooth, reduction)
        nll = (1 - label_smoothing) * nll + smooth * (label_smoothing / C)
    return nll[0] if unbatched and reduction == "none" else nll


@functools.partial(jax.jit, static_argnames=("reduction", "label_smoothing"))
def _cross_entropy_probs(input, target, weight, *, reduction, label_smoothing):
    class_axis = 0 if input.ndim == 1 else 1
    C = input.shape[class_axis]
    logp = jax.nn.log_softmax(input, axis=class_axis)
    target = target.astype(logp.dtype)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    prod = logp * target
    if weight is not None:
        w_shape = [1] * input.ndim
        w_shape[class_axis] = C
        prod = prod * jnp.broadcast_to(jnp.reshape(weight.astype(logp.dtype), w_shape), prod.shape)
    if reduction == "none":
        return -jnp.sum(prod, axis=class_axis)
    if reduction == "sum":
        return -jnp.sum(prod)
    # 'mean' divides by the number of samples N * d1 * ... * dK (NaN when empty).
    return -jnp.sum(prod) / (logp.size // C if C else 0)


def kl_div(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> jax.Array:
    r"""Kullback-Leibler divergence, pointwise :math:`y (\log y - x)` with ``input`` = log q.

    With ``log_target=True`` the target is given as log-probabilities:
    :math:`e^{y} (y - x)`. ``reduction='mean'`` averages over *all* elements and, as in
    torch, warns that ``'batchmean'`` (sum divided by the batch size, the mathematical KL
    divergence) is what is usually meant.

    Args:
        input: log-probabilities.
        target: probabilities (or log-probabilities with ``log_target=True``).
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'batchmean'`` | ``'sum'`` | ``'mean'``.
        log_target: whether ``target`` is in log space.

    Shape:
        - input: ``(*)``; target: broadcastable to ``input``; output: scalar, or the
          broadcast shape with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> logq = jnp.log(jnp.array([[0.5, 0.5], [0.9, 0.1]]))
    >>> p = jnp.array([[0.25, 0.75], [0.9, 0.1]])
    >>> print(round(float(F.kl_div(logq, p, reduction="batchmean")), 4))
    0.0654
    """
    if size_average is not None or reduce is not None:
        reduction = resolve_reduction(size_average, reduce, reduction)
    else:
        resolve_reduction(None, None, reduction, ("none", "batchmean", "sum", "mean"))
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the "
                "support size.'batchmean' divides only by the batch size, and aligns with the KL "
                "div math definition.'mean' will be changed to behave the same as 'batchmean' in "
                "the next major release.",
                UserWarning,
                stacklevel=2,
            )
    input, target = as_array(input), as_array(target)
    broadcast_shape(input.shape, target.shape)
    return _kl_impl(input, target, reduction=reduction, log_target=log_target)


@functools.partial(jax.jit, static_argnames=("reduction", "log_target"))
def _kl_impl(input, target, *, reduction, log_target):
    batch = input.shape[0] if input.ndim != 0 else None
    dtype = float_dtype(input, target)
    input, target = broadcast_all(input.astype(dtype), target.astype(dtype))
    if log_target:
        loss = jnp.exp(target) * (target - input)
    else:
        loss = jax.scipy.special.xlogy(target, target) - target * input
    if reduction == "batchmean":
        total = jnp.sum(loss)
        return total if batch is None else total / batch
    return apply_reduction(loss, reduction)
