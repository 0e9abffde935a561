"""Embedding losses: ``cosine_embedding_loss`` and the triplet losses (re-exported by
``_loss``). Their hinges are torch's ``clamp_min``: the gradient passes at the boundary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._distance import pairwise_distance
from ._loss_common import (
    apply_reduction,
    as_array,
    broadcast_all,
    broadcast_shape,
    clamp_min0,
    float_dtype,
    resolve_reduction,
)
from ._utils import check_choice

__all__ = ["cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"]


def _floats(*arrays) -> list[jax.Array]:
    arrays = [as_array(a) for a in arrays]
    dtype = float_dtype(*arrays)
    return broadcast_all(*(a.astype(dtype) for a in arrays))


def _jit(*static: str):
    return functools.partial(jax.jit, static_argnames=static)


def cosine_embedding_loss(
    input1: jax.Array,
    input2: jax.Array,
    target: jax.Array,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Cosine embedding loss: :math:`1 - \cos(x_1, x_2)` where :math:`y = 1`, :math:`\max(0, \cos(x_1, x_2) - \text{margin})` where :math:`y = -1`.

    The cosine is torch's :math:`\frac{x_1 \cdot x_2}{\sqrt{(\|x_1\|^2 + \epsilon)(\|x_2\|^2 + \epsilon)}}`
    with :math:`\epsilon = 10^{-12}`.

    Args:
        input1, input2: embeddings.
        target: labels 1 or -1.
        margin: should be in ``[-1, 1]``; 0 to 0.5 is suggested.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input1, input2: ``(N, D)`` or ``(D,)``; target: ``(N,)`` or ``()``; output: scalar,
          or the target's shape with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> a, b = jnp.array([[1.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> print(F.cosine_embedding_loss(a, b, jnp.array([1.0, -1.0]), reduction="none").round(4))
    [1.     0.7071]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input1, input2, target = as_array(input1), as_array(input2), as_array(target)
    if target.ndim == 1 and not (input1.ndim == input2.ndim == 2):
        raise ValueError(
            "1D target tensor expects 2D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    if target.ndim == 0 and not (input1.ndim == input2.ndim == 1):
        raise ValueError(
            "0D target tensor expects 1D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    if target.ndim > 1:
        raise ValueError(
            f"0D or 1D target tensor expected, multi-target not supported (got {target.shape})."
        )
    broadcast_shape(broadcast_shape(input1.shape, input2.shape)[:-1], target.shape)
    return _cosine_impl(input1, input2, target, margin=float(margin), reduction=reduction)


@_jit("margin", "reduction")
def _cosine_impl(input1, input2, target, *, margin, reduction):
    x1, x2 = _floats(input1, input2)
    eps = 1e-12
    prod = jnp.sum(x1 * x2, axis=-1)
    mag1 = jnp.sum(x1 * x1, axis=-1) + eps
    mag2 = jnp.sum(x2 * x2, axis=-1) + eps
    cos = prod / jnp.sqrt(mag1 * mag2)
    cos, y = broadcast_all(cos, target.astype(cos.dtype))
    zeros = jnp.zeros_like(cos)
    loss = jnp.where(y == 1, 1 - cos, zeros) + jnp.where(y == -1, clamp_min0(cos - margin), zeros)
    return apply_reduction(loss, reduction)


def _check_triplet(
    anchor: jax.Array, positive: jax.Array, negative: jax.Array, margin: float
) -> None:
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}.")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs."
        )


def triplet_margin_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-06,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Triplet loss :math:`\ell = \max(d(a, p) - d(a, n) + \text{margin}, 0)`.

    :math:`d(x, y) = \|x - y + \epsilon\|_p` over the last dimension (torch's
    ``pairwise_distance``); with ``swap`` the negative distance is
    :math:`\min(d(a, n), d(p, n))`.

    Args:
        anchor, positive, negative: embeddings with the same number of dimensions.
        margin: positive margin.
        p: norm degree.
        eps: added to the difference before the norm.
        swap: use the distance swap of Balntas et al.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - anchor, positive, negative: ``(N, D)`` or ``(D,)``; output: scalar, or ``(N,)`` /
          ``()`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> a, pos, neg = jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])
    >>> print(round(float(F.triplet_margin_loss(a, pos, neg, eps=0.0)), 4))
    0.5858
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    anchor, positive, negative = as_array(anchor), as_array(positive), as_array(negative)
    _check_triplet(anchor, positive, negative, margin)
    broadcast_shape(anchor.shape, positive.shape, negative.shape)
    return _triplet_impl(
        anchor,
        positive,
        negative,
        margin=float(margin),
        p=float(p),
        eps=float(eps),
        swap=swap,
        reduction=reduction,
    )


@_jit("margin", "p", "eps", "swap", "reduction")
def _triplet_impl(anchor, positive, negative, *, margin, p, eps, swap, reduction):
    a, pos, neg = _floats(anchor, positive, negative)
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = jnp.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return apply_reduction(clamp_min0(margin + d_pos - d_neg), reduction)


def triplet_margin_with_distance_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    r"""Triplet loss with a custom distance: :math:`\max(d(a, p) - d(a, n) + \text{margin}, 0)`.

    Args:
        anchor, positive, negative: embeddings with the same number of dimensions.
        distance_function: ``(x, y) -> distances``; defaults to the p=2 pairwise distance
            (with torch's ``eps=1e-6``).
        margin: positive margin.
        swap: use :math:`\min(d(a, n), d(p, n))` as the negative distance.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - anchor, positive, negative: ``(N, *)`` or ``(*)``; output: scalar, or the
          distances' shape with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> a, pos, neg = jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])
    >>> l1 = lambda x, y: jnp.abs(x - y).sum(-1)
    >>> print(float(F.triplet_margin_with_distance_loss(a, pos, neg, distance_function=l1)))
    0.0
    """
    reduction = check_choice(reduction, ("none", "mean", "sum"), "reduction")
    anchor, positive, negative = as_array(anchor), as_array(positive), as_array(negative)
    _check_triplet(anchor, positive, negative, margin)
    if distance_function is None:
        distance_function = pairwise_distance
    d_pos = distance_function(anchor, positive)
    d_neg = distance_function(anchor, negative)
    if swap:
        d_neg = jnp.minimum(d_neg, distance_function(positive, negative))
    return apply_reduction(clamp_min0(margin + d_pos - d_neg), reduction)
