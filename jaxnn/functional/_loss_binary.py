"""Binary cross entropies: on probabilities (torch's clamped logs and backward) and on
logits (the numerically stable form). Re-exported by ``_loss``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._loss_common import (
    apply_reduction,
    as_array,
    broadcast_all,
    broadcast_shape,
    concrete,
    resolve_reduction,
)
from ._utils import check_input_dtype

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]


@jax.custom_jvp
def _bce(x: jax.Array, t: jax.Array) -> jax.Array:
    # torch clamps each log at -100 so that x in {0, 1} gives a finite loss.
    return -(t * jnp.maximum(jnp.log(x), -100) + (1 - t) * jnp.maximum(jnp.log1p(-x), -100))


@_bce.defjvp
def _bce_jvp(primals, tangents):
    # torch's backward, not the derivative of the clamped logs: at x in {0, 1} the
    # gradient is (x - t) / 1e-12 rather than 0, and the target's gradient is -logit(x).
    x, t = primals
    dx, dt = tangents
    out = _bce(x, t)
    eps = jnp.asarray(np.float32(1e-12), x.dtype)  # torch's EPSILON is the float 1e-12f
    d_x = (x - t) / jnp.maximum((1 - x) * x, eps)
    d_t = -jnp.log(x / (1 - x))
    return out, d_x * dx + d_t * dt


def binary_cross_entropy(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Binary cross entropy between probabilities and targets.

    :math:`\ell = -w\,[y \log x + (1 - y) \log(1 - x)]`, each log clamped below at -100
    like torch (so ``x`` in ``{0, 1}`` gives a finite loss); the gradient is torch's
    :math:`w (x - y) / \max(x (1 - x), 10^{-12})`. Concrete inputs/targets outside
    ``[0, 1]`` raise torch's error.

    Args:
        input: probabilities in ``[0, 1]``.
        target: targets in ``[0, 1]``, same shape as ``input``.
        weight: optional rescaling weight, broadcast to ``target``'s shape.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: same shape; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> out = F.binary_cross_entropy(jnp.array([0.9, 0.2]), jnp.array([1.0, 0.0]), reduction="none")
    >>> print([round(v, 4) for v in out.tolist()])
    [0.1054, 0.2231]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    check_input_dtype(input, "binary_cross_entropy")
    check_input_dtype(target, "binary_cross_entropy", "target")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    for name, arr, fix in (
        ("input", input, "apply sigmoid to logits, or use binary_cross_entropy_with_logits"),
        ("target", target, "targets are probabilities"),
    ):
        values = concrete(arr)
        if values is not None and not np.all((values >= 0) & (values <= 1)):
            raise ValueError(f"all elements of {name} should be between 0 and 1 ({fix}).")
    weight = None if weight is None else as_array(weight)
    if weight is not None:
        broadcast_shape(target.shape, weight.shape)
    return _bce_impl(input, target, weight, reduction=reduction)


@functools.partial(jax.jit, static_argnames=("reduction",))
def _bce_impl(input, target, weight, *, reduction):
    loss = _bce(input, target.astype(input.dtype))
    if weight is not None:
        loss, weight = broadcast_all(loss, weight.astype(input.dtype))
        loss = loss * weight
    return apply_reduction(loss, reduction)


def binary_cross_entropy_with_logits(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: jax.Array | None = None,
) -> jax.Array:
    r"""Binary cross entropy on logits, in the numerically stable form.

    :math:`\ell = w\,[(1 - y)\,x - (1 + (p_w - 1)\,y) \log \sigma(x)]`, which equals
    :math:`-w\,[p_w\, y \log \sigma(x) + (1 - y) \log(1 - \sigma(x))]` without overflow.

    Args:
        input: logits.
        target: targets in ``[0, 1]``, same shape as ``input``.
        weight: optional rescaling weight, broadcast to ``input``'s shape.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        pos_weight: weight of positive examples, broadcast along the trailing (class) axes,
            e.g. ``(C,)`` for ``(N, C)`` logits.

    Shape:
        - input: ``(*)``; target: same shape; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> x, y = jnp.array([2.0, -1.0]), jnp.array([1.0, 0.0])
    >>> print([round(v, 4) for v in F.binary_cross_entropy_with_logits(x, y, reduction="none").tolist()])
    [0.1269, 0.3133]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    check_input_dtype(input, "binary_cross_entropy_with_logits")
    check_input_dtype(target, "binary_cross_entropy_with_logits", "target")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape}); "
            "reshape the target to the logits' shape."
        )
    if pos_weight is not None:
        pos_weight = as_array(pos_weight)
        if broadcast_shape(pos_weight.shape, target.shape) != tuple(target.shape):
            raise ValueError(
                f"pos_weight of shape {pos_weight.shape} must broadcast to the target's shape "
                f"{target.shape}; pass one weight per class, e.g. shape {target.shape[-1:]}."
            )
    weight = None if weight is None else as_array(weight)
    if weight is not None:
        broadcast_shape(input.shape, weight.shape)
    return _bce_logits_impl(input, target, weight, pos_weight, reduction=reduction)


@functools.partial(jax.jit, static_argnames=("reduction",))
def _bce_logits_impl(input, target, weight, pos_weight, *, reduction):
    target = target.astype(input.dtype)
    log_sig = jax.nn.log_sigmoid(input)
    if pos_weight is None:
        loss = (1 - target) * input - log_sig
    else:
        pw = jnp.broadcast_to(pos_weight.astype(input.dtype), target.shape)
        loss = (1 - target) * input - ((pw - 1) * target + 1) * log_sig
    if weight is not None:
        loss, weight = broadcast_all(loss, weight.astype(input.dtype))
        loss = loss * weight
    return apply_reduction(loss, reduction)
