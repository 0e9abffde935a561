"""Margin losses (re-exported by ``_loss``).

Kinks follow torch's gradients: losses written with ``clamp_min`` in torch (ranking, hinge
embedding) pass the gradient at the boundary; the multi-class margin kernels only count
strictly positive terms.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ._loss_common import (
    apply_reduction,
    as_array,
    broadcast_all,
    broadcast_shape,
    clamp_min0,
    concrete,
    float_dtype,
    hinge,
    resolve_reduction,
)

__all__ = [
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
]


def _floats(*arrays) -> list[jax.Array]:
    arrays = [as_array(a) for a in arrays]
    dtype = float_dtype(*arrays)
    return broadcast_all(*(a.astype(dtype) for a in arrays))


def _jit(*static: str):
    return functools.partial(jax.jit, static_argnames=static)


def margin_ranking_loss(
    input1: jax.Array,
    input2: jax.Array,
    target: jax.Array,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Ranking loss :math:`\ell = \max(0, -y\,(x_1 - x_2) + \text{margin})` with :math:`y = \pm 1`.

    Args:
        input1, input2: scores to rank; same number of dimensions as ``target``.
        target: 1 if ``input1`` should rank higher, -1 otherwise.
        margin: required score gap.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2, target: ``(N,)`` or ``()``; output: scalar, or ``(N,)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.margin_ranking_loss(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]), jnp.array([1.0, 1.0]), margin=0.1, reduction="none"))
    [0.  0.6]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input1, input2, target = as_array(input1), as_array(input2), as_array(target)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape}."
        )
    broadcast_shape(input1.shape, input2.shape, target.shape)
    return _ranking_impl(input1, input2, target, margin=float(margin), reduction=reduction)


@_jit("margin", "reduction")
def _ranking_impl(input1, input2, target, *, margin, reduction):
    x1, x2, y = _floats(input1, input2, target)
    return apply_reduction(clamp_min0(-y * (x1 - x2) + margin), reduction)


def hinge_embedding_loss(
    input: jax.Array,
    target: jax.Array,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Hinge embedding loss: :math:`x` where :math:`y = 1`, :math:`\max(0, \text{margin} - x)` where :math:`y = -1`.

    (torch's exact rule: the first term applies where ``y != -1``, the second where
    ``y != 1``.)

    Args:
        input: distances, usually non-negative.
        target: labels 1 or -1, broadcastable to ``input``.
        margin: the hinge for dissimilar pairs.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.hinge_embedding_loss(jnp.array([0.3, 0.3]), jnp.array([1.0, -1.0]), reduction="none"))
    [0.3 0.7]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    broadcast_shape(as_array(input).shape, as_array(target).shape)
    return _hinge_embedding_impl(input, target, margin=float(margin), reduction=reduction)


@_jit("margin", "reduction")
def _hinge_embedding_impl(input, target, *, margin, reduction):
    x, y = _floats(input, target)
    zeros = jnp.zeros_like(x)
    loss = jnp.where(y != 1, clamp_min0(margin - x), zeros) + jnp.where(y != -1, x, zeros)
    return apply_reduction(loss, reduction)


def soft_margin_loss(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Two-class logistic loss :math:`\ell = \log(1 + e^{-y x})`.

    Computed as ``logaddexp(0, -y x)``: the same values and gradient as torch, but finite
    where torch's ``log1p(exp(.))`` overflows to ``inf``.

    Args:
        input: scores.
        target: labels 1 or -1, broadcastable to ``input``.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.soft_margin_loss(jnp.array([2.0, 0.0]), jnp.array([1.0, -1.0]), reduction="none").round(4))
    [0.1269 0.6931]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    broadcast_shape(as_array(input).shape, as_array(target).shape)
    return _soft_margin_impl(input, target, reduction=reduction)


@_jit("reduction")
def _soft_margin_impl(input, target, *, reduction):
    x, y = _floats(input, target)
    return apply_reduction(jnp.logaddexp(jnp.zeros_like(x), -y * x), reduction)


def _check_vector_or_matrix(input: jax.Array, name: str) -> None:
    ok = (input.ndim == 1 and input.shape[0] > 0) or (input.ndim == 2 and input.shape[1] > 0)
    if not ok:
        raise ValueError(
            f"{name}: Expected non-empty vector or matrix with optional 0-dim batch size, but "
            f"got: {list(input.shape)}; pass input of shape (C,) or (N, C)."
        )


def multilabel_margin_loss(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Multi-label hinge loss :math:`\ell = \sum_{j, i} \max(0, 1 - (x_{y_j} - x_i)) / C`.

    :math:`j` runs over the target classes (``target`` lists them, padded with -1 after
    the last one: everything from the first -1 on is ignored) and :math:`i` over the
    classes not in the target set.

    Args:
        input: scores.
        target: integer class lists, same shape as ``input``, -1 terminated.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(C,)`` or ``(N, C)``; target: same; output: scalar, or ``()`` / ``(N,)``
          with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8]])
    >>> print(round(float(F.multilabel_margin_loss(x, jnp.array([[3, 0, -1, 1]]))), 4))
    0.85
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    if input.ndim == 0 and target.ndim == 0:
        # torch reads a 0-d input as one class (C = 1), with a 0-d target list.
        input, target = input[None], target[None]
    _check_vector_or_matrix(input, "multilabel_margin_loss")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"inconsistent target size: {list(target.shape)} for input of size: "
            f"{list(input.shape)}; target must list class indices with input's shape."
        )
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}.")
    C = input.shape[-1]
    values = concrete(target)
    if values is not None and values.size and ((values < -1) | (values >= C)).any():
        raise ValueError(
            f"argument #2 'target' is out of range: class indices must lie in [0, {C}) "
            "(or be -1 to end the list)."
        )
    return _multilabel_margin_impl(input, target, reduction=reduction)


@_jit("reduction")
def _multilabel_margin_impl(input, target, *, reduction):
    C = input.shape[-1]
    target = target.astype(jnp.int32)
    valid = jnp.cumprod(target != -1, axis=-1).astype(bool)
    safe = jnp.where(valid, target, 0)
    classes = jnp.arange(C)
    # is_target[..., i]: class i is one of the listed targets.
    is_target = jnp.any(
        valid[..., :, None] & (safe[..., :, None] == jnp.expand_dims(classes, range(target.ndim))),
        axis=-2,
    )
    x_y = jnp.take_along_axis(input, safe, axis=-1)
    z = 1 - x_y[..., :, None] + input[..., None, :]
    pair = valid[..., :, None] & ~is_target[..., None, :]
    loss = jnp.sum(jnp.where(pair, hinge(z), 0), axis=(-2, -1)) / C
    return apply_reduction(loss, reduction)


def multilabel_soft_margin_loss(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""One-vs-all logistic loss, averaged over the classes.

    :math:`\ell_n = -\frac1C \sum_c w_c [y_{nc} \log\sigma(x_{nc}) + (1 - y_{nc}) \log\sigma(-x_{nc})]`.

    Args:
        input: scores.
        target: 0/1 labels of ``input``'s shape.
        weight: optional per-class weight, broadcastable to ``input``.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C,)``; target: same; output: scalar, or ``(N,)`` / ``()``
          with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(round(float(F.multilabel_soft_margin_loss(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]))), 4))
    0.2201
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    shape = broadcast_shape(input.shape, target.shape)
    if weight is not None:
        weight = as_array(weight)
        broadcast_shape(shape, weight.shape)
    return _multilabel_soft_margin_impl(input, target, weight, reduction=reduction)


@_jit("reduction")
def _multilabel_soft_margin_impl(input, target, weight, *, reduction):
    x, y = _floats(input, target)
    loss = -(y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))
    if weight is not None:
        loss, w = broadcast_all(loss, as_array(weight).astype(loss.dtype))
        loss = loss * w
    C = loss.shape[-1]
    return apply_reduction(jnp.sum(loss, axis=-1) / C, reduction)


def multi_margin_loss(
    input: jax.Array,
    target: jax.Array,
    p: int = 1,
    margin: float = 1.0,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Multi-class hinge loss :math:`\ell = \sum_{i \ne y} w_y \max(0, \text{margin} - x_y + x_i)^p / C`.

    Args:
        input: scores.
        target: class indices in ``[0, C)``.
        p: 1 or 2.
        margin: required score gap.
        weight: optional per-class weight ``(C,)``, indexed by the target class.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, C)`` or ``(C,)``; target: ``(N,)`` or ``()``; output: scalar, or the
          target's shape with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(round(float(F.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))), 4))
    0.325
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"only p == 1 and p == 2 supported, got p={p!r}.")
    input, target = as_array(input), as_array(target)
    if weight is not None:
        weight = as_array(weight)
        if weight.ndim != 1:
            raise ValueError(f"weight must be one-dimensional, got shape {weight.shape}.")
    if input.ndim == 0:
        input = input[None]  # torch reads a 0-d input as one class (C = 1)
    _check_vector_or_matrix(input, "multi_margin_loss")
    C = input.shape[-1]
    n = input.shape[0] if input.ndim == 2 else 1
    if target.size != n or target.ndim > 1:
        raise ValueError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{n}], but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}."
        )
    if weight is not None and weight.shape[0] != C:
        raise ValueError(f"inconsistent weight size, expected {C} but got {list(weight.shape)}.")
    values = concrete(target)
    if values is not None and values.size and ((values < 0) | (values >= C)).any():
        raise IndexError(f"target out of range: class indices must lie in [0, {C}).")
    return _multi_margin_impl(input, target, weight, p=p, margin=float(margin), reduction=reduction)


@_jit("p", "margin", "reduction")
def _multi_margin_impl(input, target, weight, *, p, margin, reduction):
    n, C = (input.shape[0] if input.ndim == 2 else 1), input.shape[-1]
    out_shape = target.shape
    x = jnp.reshape(input, (n, C))
    t = jnp.reshape(target, (n,)).astype(jnp.int32)
    x_y = jnp.take_along_axis(x, t[:, None], axis=1, mode="clip")
    z = hinge(margin - jnp.broadcast_to(x_y, x.shape) + x)
    if p == 2:
        z = z * z
    if weight is not None:
        w_y = jnp.take(weight.astype(x.dtype), t, mode="clip")
        z = z * jnp.broadcast_to(w_y[:, None], z.shape)
    not_target = jnp.arange(C)[None, :] != t[:, None]
    loss = jnp.sum(jnp.where(not_target, z, 0), axis=1) / C
    return apply_reduction(jnp.reshape(loss, out_shape), reduction)
