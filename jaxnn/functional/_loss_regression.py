"""Regression losses: ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``,
``poisson_nll_loss`` and ``gaussian_nll_loss`` (re-exported by ``_loss``).

As in torch, a target whose shape differs from the input's is broadcast against it with a
UserWarning (mse / l1 / smooth_l1 / huber), since that is rarely what was meant.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._loss_common import (
    apply_reduction,
    as_array,
    broadcast_all,
    broadcast_shape,
    check_same_shape_weight,
    concrete,
    float_dtype,
    resolve_reduction,
    torch_abs,
    warn_size_mismatch,
    weighted_reduce,
)
from ._utils import check_choice

__all__ = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
]


def _pointwise(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    reduction: str,
    kind: str,
    param: float = 0.0,
) -> jax.Array:
    """Validate (torch's warning and errors), then run the jitted elementwise loss."""
    input, target = as_array(input), as_array(target)
    warn_size_mismatch(input, target)
    broadcast_shape(input.shape, target.shape)
    if weight is not None:
        weight = as_array(weight)
        check_same_shape_weight(weight, input)
    return _pointwise_impl(input, target, weight, reduction=reduction, kind=kind, param=param)


@functools.partial(jax.jit, static_argnames=("reduction", "kind", "param"))
def _pointwise_impl(input, target, weight, *, reduction, kind, param):
    dtype = float_dtype(input, target)
    input, target = broadcast_all(input.astype(dtype), target.astype(dtype))
    d = input - target
    ad = torch_abs(d)
    if kind == "mse":
        loss = d * d
    elif kind == "l1" or (kind == "smooth_l1" and param == 0.0):
        loss = ad
    else:
        # torch's backward takes the quadratic branch unless |d| >= beta (delta), so NaN
        # gets d / beta = NaN there; the quadratic branch sees 0 where it is not taken, or
        # its gradient would be 0 * inf = NaN at d = +-inf (torch: +-1, +-delta).
        linear = ad >= param
        dq = jnp.where(linear, jnp.zeros_like(d), d)
        if kind == "smooth_l1":
            loss = jnp.where(linear, ad - 0.5 * param, 0.5 * dq * dq / param)
        else:  # huber
            loss = jnp.where(linear, param * (ad - 0.5 * param), 0.5 * dq * dq)
    if weight is None:
        return apply_reduction(loss, reduction)
    loss, weight = broadcast_all(loss, weight.astype(dtype))
    loss = loss * weight
    if kind == "huber":  # torch 2.13: plain mean of the weighted loss
        return apply_reduction(loss, reduction)
    return weighted_reduce(loss, weight, reduction)


def mse_loss(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: jax.Array | None = None,
) -> jax.Array:
    r"""Mean squared error :math:`\ell = w\,(x - y)^2`.

    With ``weight``, ``'mean'`` is :math:`\sum w (x - y)^2 / \sum w` (torch 2.13's rule).

    Args:
        input: predictions.
        target: targets, broadcast to ``input`` with a warning when the shapes differ.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        weight: optional elementwise weight of ``input``'s shape.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.mse_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0])))
    2.5
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    return _pointwise(input, target, weight, reduction, "mse")


def l1_loss(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: jax.Array | None = None,
) -> jax.Array:
    r"""Mean absolute error :math:`\ell = w\,|x - y|` (gradient 0 where ``x == y``, like torch).

    With ``weight``, ``'mean'`` is :math:`\sum w |x - y| / \sum w` (torch 2.13's rule).

    Args:
        input: predictions.
        target: targets, broadcast to ``input`` with a warning when the shapes differ.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        weight: optional elementwise weight of ``input``'s shape.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.l1_loss(jnp.array([1.0, -2.0]), jnp.array([0.0, 0.0])))
    1.5
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    return _pointwise(input, target, weight, reduction, "l1")


def smooth_l1_loss(
    input: jax.Array,
    target: jax.Array,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> jax.Array:
    r"""Smooth L1: :math:`0.5 d^2 / \beta` where :math:`|d| < \beta`, else :math:`|d| - 0.5\beta`.

    ``beta=0`` is exactly ``l1_loss``.

    Args:
        input: predictions.
        target: targets, broadcast to ``input`` with a warning when the shapes differ.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        beta: non-negative threshold between the quadratic and linear parts.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.smooth_l1_loss(jnp.array([0.5, 3.0]), jnp.zeros(2), reduction="none"))
    [0.125 2.5  ]
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(
            f"smooth_l1_loss does not support negative values for beta (got beta={beta}); "
            "pass beta >= 0."
        )
    return _pointwise(input, target, None, reduction, "smooth_l1", float(beta))


def huber_loss(
    input: jax.Array,
    target: jax.Array,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: jax.Array | None = None,
) -> jax.Array:
    r"""Huber loss: :math:`0.5 d^2` where :math:`|d| < \delta`, else :math:`\delta(|d| - 0.5\delta)`.

    With ``weight`` the elementwise loss is multiplied by it and ``'mean'`` is the plain
    mean of the product (torch 2.13's rule; unlike ``mse_loss`` it does not divide by
    :math:`\sum w`).

    Args:
        input: predictions.
        target: targets, broadcast to ``input`` with a warning when the shapes differ.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        delta: positive threshold between the quadratic and linear parts.
        weight: optional elementwise weight of ``input``'s shape.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(F.huber_loss(jnp.array([0.5, 3.0]), jnp.zeros(2), reduction="none", delta=2.0))
    [0.125 4.   ]
    """
    reduction = check_choice(reduction, ("none", "mean", "sum"), "reduction")
    if delta <= 0:
        raise ValueError(
            f"huber_loss does not support non-positive values for delta (got delta={delta}); "
            "pass delta > 0."
        )
    return _pointwise(input, target, weight, reduction, "huber", float(delta))


def poisson_nll_loss(
    input: jax.Array,
    target: jax.Array,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-08,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Poisson negative log likelihood.

    :math:`\ell = e^{x} - y\,x` with ``log_input=True``, else :math:`x - y \log(x + \epsilon)`;
    ``full=True`` adds Stirling's term :math:`y \log y - y + \frac12 \log(2\pi y)` where
    :math:`y > 1`.

    Args:
        input: expectation of the Poisson distribution (its log with ``log_input``).
        target: observed counts, broadcastable to ``input``.
        log_input: whether ``input`` is the log-rate.
        full: add the Stirling approximation term.
        size_average, reduce: deprecated torch flags; they override ``reduction``.
        eps: keeps the log finite at ``input = 0`` when ``log_input=False``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(*)``; target: ``(*)``; output: scalar, or ``(*)`` with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(round(float(F.poisson_nll_loss(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))), 4))
    0.8591
    """
    reduction = resolve_reduction(size_average, reduce, reduction)
    input, target = as_array(input), as_array(target)
    broadcast_shape(input.shape, target.shape)
    return _poisson_impl(
        input, target, log_input=log_input, full=full, eps=float(eps), reduction=reduction
    )


@functools.partial(jax.jit, static_argnames=("log_input", "full", "eps", "reduction"))
def _poisson_impl(input, target, *, log_input, full, eps, reduction):
    dtype = float_dtype(input, target)
    input, target = broadcast_all(input.astype(dtype), target.astype(dtype))
    if log_input:
        loss = jnp.exp(input) - target * input
    else:
        loss = input - target * jnp.log(input + eps)
    if full:
        stirling = target * jnp.log(target) - target + 0.5 * jnp.log(2 * math.pi * target)
        loss = loss + jnp.where(target <= 1, 0, stirling)
    return apply_reduction(loss, reduction)


def _gaussian_var(var: jax.Array | float, input: jax.Array) -> jax.Array:
    """torch's ``var`` shape rules: same shape, one dim short, or one size-1 dim."""
    if isinstance(var, int | float):
        if var < 0:
            raise ValueError(f"var has negative entry/entries (var={var}); pass var >= 0.")
        return jnp.full(input.shape, var, float_dtype(input))
    var = as_array(var)
    values = concrete(var)
    if values is not None and np.any(values < 0):
        raise ValueError("var has negative entry/entries; variances must be >= 0.")
    if tuple(var.shape) == tuple(input.shape):
        return var
    if tuple(input.shape[:-1]) == tuple(var.shape):
        return var[..., None]
    mismatched = [v for i, v in zip(input.shape, var.shape, strict=False) if i != v]
    if var.ndim == input.ndim and sum(mismatched) == 1:
        return var
    raise ValueError(
        f"var is of incorrect size: {tuple(var.shape)} for input of shape {tuple(input.shape)}; "
        "pass var of input's shape, input's shape without its last dimension, or input's "
        "shape with one dimension set to 1."
    )


def gaussian_nll_loss(
    input: jax.Array,
    target: jax.Array,
    var: jax.Array | float,
    full: bool = False,
    eps: float = 1e-06,
    reduction: str = "mean",
) -> jax.Array:
    r"""Gaussian negative log likelihood :math:`\frac12 (\log \max(v, \epsilon) + (x - y)^2 / \max(v, \epsilon))`.

    ``full=True`` adds :math:`\frac12 \log 2\pi`. As in torch the clamp at ``eps`` is not
    differentiated: the gradient with respect to ``var`` is taken at the clamped value and
    passed through unchanged.

    Args:
        input: predicted means.
        target: samples, broadcastable to ``input``.
        var: predicted variances (a float, or an array of ``input``'s shape, of ``input``'s
            shape without the last dimension, or with one dimension of size 1). Concrete
            negative entries raise.
        full: include the constant term.
        eps: lower clamp on ``var``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        - input: ``(N, *)`` or ``(*)``; target: same shape or broadcastable; var: see above;
          output: scalar, or the broadcast shape with ``'none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> print(round(float(F.gaussian_nll_loss(jnp.array([1.0, 2.0]), jnp.array([1.5, 2.0]), 1.0)), 4))
    0.0625
    """
    reduction = check_choice(reduction, ("none", "mean", "sum"), "reduction")
    input, target = as_array(input), as_array(target)
    var = _gaussian_var(var, input)
    broadcast_shape(input.shape, target.shape, var.shape)
    return _gaussian_impl(input, target, var, full=full, eps=float(eps), reduction=reduction)


@functools.partial(jax.jit, static_argnames=("full", "eps", "reduction"))
def _gaussian_impl(input, target, var, *, full, eps, reduction):
    dtype = float_dtype(input, target, var)
    input, target, var = broadcast_all(input.astype(dtype), target.astype(dtype), var.astype(dtype))
    # torch clamps a clone in-place under no_grad: straight-through gradient for var. Only
    # where the clamp bites: var + (eps - var) elsewhere would make var = inf a NaN (torch: inf).
    var = jnp.where(var < eps, var + jax.lax.stop_gradient(eps - var), var)
    d = input - target
    loss = 0.5 * (jnp.log(var) + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return apply_reduction(loss, reduction)
