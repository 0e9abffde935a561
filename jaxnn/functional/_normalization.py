"""Channel-wise normalisation: ``batch_norm``, ``instance_norm``, ``group_norm`` (and the
layer-wise ones from ``_normalization_layer``, re-exported here).

Statistics of bfloat16 and float16 inputs are computed in float32 and the result is cast
back, as torch's CPU kernels do (their "opmath" type); float32 and float64 stay as they are.

JAX arrays cannot be updated in place, so the running statistics that torch's
``batch_norm`` and ``instance_norm`` mutate come back from the ``*_with_stats`` twins,
which the modules call; ``batch_norm`` and ``instance_norm`` themselves return only the
normalised output, like torch's.
"""

from __future__ import annotations

import math
import numbers
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ._normalization_layer import layer_norm, local_response_norm, normalize, rms_norm
from ._utils import check_input_dtype, expand_channel, opmath

__all__ = [
    "batch_norm",
    "batch_norm_with_stats",
    "instance_norm",
    "instance_norm_with_stats",
    "layer_norm",
    "group_norm",
    "local_response_norm",
    "rms_norm",
    "normalize",
]


# Each function validates its arguments in Python, then runs one jitted core (as jax.nn's
# functions are jitted): called eagerly it dispatches one compiled program instead of a
# dozen small ones, and under an outer jit the core is simply inlined.


def _check_vector(v: jax.Array | None, name: str, n: int) -> None:
    if v is not None and v.size != n:
        raise RuntimeError(
            f"{name} should contain {n} elements not {v.size}; pass a vector with one "
            f"entry per channel (shape ({n},))."
        )


def _affine(out: jax.Array, weight: jax.Array | None, bias: jax.Array | None) -> jax.Array:
    """Per-channel ``out * weight + bias`` on an ``(N, C, *)`` array."""
    if weight is not None:
        out = out * expand_channel(opmath(jnp.ravel(weight)), out.ndim)
    if bias is not None:
        out = out + expand_channel(opmath(jnp.ravel(bias)), out.ndim)
    return out


def _check_momentum(momentum: float | jax.Array | None, name: str) -> None:
    if momentum is None:
        raise ValueError(
            f"{name}: momentum=None (a cumulative moving average) is handled by the module, "
            "which passes momentum=1/num_batches_tracked; pass a float here."
        )
    # A number, or an array (the module passes 1/num_batches_tracked, traced under jit).
    if not (isinstance(momentum, numbers.Real) or hasattr(momentum, "dtype")):
        raise TypeError(
            f"{name}: momentum must be a float, got {type(momentum).__name__} {momentum!r}; "
            "pass e.g. momentum=0.1."
        )


def _running_update(
    old: jax.Array | None, batch_stat: jax.Array, momentum: float
) -> jax.Array | None:
    """torch's in-place rule ``new = (1 - momentum) * old + momentum * batch_stat``.

    torch updates its buffers outside autograd, so the new values carry no gradient.
    """
    if old is None:
        return None
    new = (1 - momentum) * opmath(old) + momentum * batch_stat
    return lax.stop_gradient(new.astype(old.dtype))


def batch_norm_with_stats(
    input: jax.Array,
    running_mean: jax.Array | None,
    running_var: jax.Array | None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    r"""Batch normalisation that also returns the updated running statistics.

    Not a torch name: torch's ``batch_norm`` updates ``running_mean`` and ``running_var``
    in place, which JAX cannot do, so this twin returns them. In training mode

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta,
        \quad r_\mu \leftarrow (1 - m) r_\mu + m \mathrm{E}[x],
        \quad r_{\sigma^2} \leftarrow (1 - m) r_{\sigma^2} + m \mathrm{Var}_u[x],

    where statistics are over every axis but the channel axis, the output uses the biased
    variance and the running variance the unbiased one :math:`\mathrm{Var}_u`, as torch
    does. In evaluation mode the running statistics normalise and come back unchanged.
    The new statistics carry no gradient (torch updates them outside autograd). An empty
    batch in training mode leaves them unchanged, as in torch.

    Args:
        input: ``(N, C, *)``.
        running_mean, running_var: ``(C,)`` or ``None`` (then returned as ``None``);
            required in evaluation mode.
        weight, bias: optional ``(C,)`` affine parameters.
        training: use batch statistics (and update the running ones).
        momentum: the update factor. ``None`` (torch's cumulative average) is not accepted
            here: the module computes ``1 / num_batches_tracked`` and passes it.
        eps: added to the variance.

    Returns:
        ``(output, new_running_mean, new_running_var)``.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    Example:
        >>> x = jnp.arange(8.0).reshape(4, 2)
        >>> y, m, v = batch_norm_with_stats(x, jnp.zeros(2), jnp.ones(2), training=True)
        >>> [round(float(a), 4) for a in (*m, *v)]
        [0.3, 0.4, 1.5667, 1.5667]
    """
    check_input_dtype(input, "batch_norm")
    if input.ndim < 2 and input.size == 0:
        # torch returns an empty input as it is, whatever its rank, before any shape check.
        return input, running_mean, running_var
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm expects an input of shape (N, C, *) with at least 2 dimensions, "
            f"got shape {tuple(input.shape)}; add a batch axis with input[None]."
        )
    c = input.shape[1]
    if training:
        n = input.shape[0] * math.prod(input.shape[2:])
        if n == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{list(input.shape)}; use a batch of at least 2 or evaluation mode."
            )
        if eps <= 0.0:
            raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
        _check_momentum(momentum, "batch_norm")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training:
        for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
            if stat is None:
                raise RuntimeError(
                    f"{name} must be defined in evaluation mode; pass the running statistics "
                    "or training=True."
                )
    _check_vector(running_mean, "running_mean", c)
    _check_vector(running_var, "running_var", c)
    _check_vector(weight, "weight", c)
    _check_vector(bias, "bias", c)

    return _batch_norm_core(input, running_mean, running_var, weight, bias, training, momentum, eps)


@partial(jax.jit, static_argnames="training")
def _batch_norm_core(input, running_mean, running_var, weight, bias, training, momentum, eps):
    x = opmath(input)
    if training:
        n = input.shape[0] * math.prod(input.shape[2:])
        if n == 0:
            return input, running_mean, running_var
        axes = (0, *range(2, input.ndim))
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(jnp.square(x - expand_channel(mean, x.ndim)), axis=axes)
        new_mean = _running_update(running_mean, mean, momentum)
        new_var = _running_update(running_var, var * (n / (n - 1)), momentum)
    else:
        mean, var = opmath(running_mean), opmath(running_var)
        new_mean, new_var = running_mean, running_var
    out = (x - expand_channel(mean, x.ndim)) * expand_channel(lax.rsqrt(var + eps), x.ndim)
    return _affine(out, weight, bias).astype(input.dtype), new_mean, new_var


def batch_norm(
    input: jax.Array,
    running_mean: jax.Array | None,
    running_var: jax.Array | None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> jax.Array:
    r"""Batch normalisation over every axis of ``(N, C, *)`` but the channel axis.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    In training mode the (biased) batch statistics are used, otherwise the running ones.
    torch also updates ``running_mean``/``running_var`` in place in training mode; JAX
    arrays are immutable, so use :func:`batch_norm_with_stats` to get the updated values.

    Args:
        input: ``(N, C, *)``.
        running_mean, running_var: ``(C,)``; may be ``None`` in training mode.
        weight, bias: optional ``(C,)`` affine parameters.
        training: use batch statistics.
        momentum: the running-statistics factor (only used by the ``_with_stats`` twin).
        eps: added to the variance.

    Shape:
        - Input: :math:`(N, C)`, :math:`(N, C, L)`, :math:`(N, C, H, W)`, ...
        - Output: same shape as the input.

    Example:
        >>> x = jnp.array([[1.0, 2.0], [3.0, 6.0]])
        >>> batch_norm(x, None, None, training=True).round(3)
        Array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
    """
    return batch_norm_with_stats(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )[0]


def instance_norm_with_stats(
    input: jax.Array,
    running_mean: jax.Array | None = None,
    running_var: jax.Array | None = None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    r"""Instance normalisation that also returns the updated running statistics.

    Not a torch name (see :func:`batch_norm_with_stats`). With ``use_input_stats`` each
    ``(n, c)`` plane is normalised by its own mean and biased variance, and the running
    statistics, when given, move towards the batch average of the per-instance mean and
    *unbiased* variance: ``new = (1 - momentum) * old + momentum * stat``, as torch does.
    Otherwise the running statistics normalise and come back unchanged.

    Args:
        input: ``(N, C, *)``.
        running_mean, running_var: ``(C,)`` or both ``None``.
        weight, bias: optional ``(C,)`` affine parameters.
        use_input_stats: normalise with the statistics of each instance.
        momentum: the running-statistics update factor.
        eps: added to the variance.

    Returns:
        ``(output, new_running_mean, new_running_var)``.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    Example:
        >>> x = jnp.arange(6.0).reshape(1, 2, 3)
        >>> y, m, v = instance_norm_with_stats(x, jnp.zeros(2), jnp.ones(2))
        >>> [round(float(a), 4) for a in (*m, *v)]
        [0.1, 0.4, 1.0, 1.0]
    """
    check_input_dtype(input, "instance_norm")
    if input.ndim < 2:
        raise ValueError(
            f"instance_norm expects an input of shape (N, C, *), got shape "
            f"{tuple(input.shape)}; add a batch axis with input[None]."
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size "
                f"{list(input.shape)}; use use_input_stats=False with running statistics."
            )
        _check_momentum(momentum, "instance_norm")
    elif running_mean is None:
        raise RuntimeError(
            "Expected running_mean and running_var to be defined when use_input_stats is "
            "false; pass them or use_input_stats=True."
        )
    c = input.shape[1]
    _check_vector(running_mean, "running_mean", c)
    _check_vector(running_var, "running_var", c)
    _check_vector(weight, "weight", c)
    _check_vector(bias, "bias", c)

    return _instance_norm_core(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


@partial(jax.jit, static_argnames="use_input_stats")
def _instance_norm_core(
    input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
):
    x = opmath(input)
    if use_input_stats:
        axes = tuple(range(2, x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        out = (x - mean) * lax.rsqrt(var + eps)
        m = math.prod(input.shape[2:])
        new_mean = _running_update(running_mean, jnp.mean(mean, axis=(0, *axes)), momentum)
        unbiased = jnp.mean(var, axis=(0, *axes)) * (m / (m - 1))
        new_var = _running_update(running_var, unbiased, momentum)
    else:
        mean = expand_channel(opmath(running_mean), x.ndim)
        inv = expand_channel(lax.rsqrt(opmath(running_var) + eps), x.ndim)
        out = (x - mean) * inv
        new_mean, new_var = running_mean, running_var
    return _affine(out, weight, bias).astype(input.dtype), new_mean, new_var


def instance_norm(
    input: jax.Array,
    running_mean: jax.Array | None = None,
    running_var: jax.Array | None = None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> jax.Array:
    r"""Instance normalisation: each ``(n, c)`` plane by its own statistics.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    torch also updates the running statistics in place when they are given; use
    :func:`instance_norm_with_stats` to get the updated values.

    Args:
        input: ``(N, C, *)``.
        running_mean, running_var: optional ``(C,)`` (needed when ``use_input_stats`` is
            false).
        weight, bias: optional ``(C,)`` affine parameters.
        use_input_stats: normalise with the statistics of each instance.
        momentum: the running-statistics factor (only used by the ``_with_stats`` twin).
        eps: added to the variance.

    Shape:
        - Input: :math:`(N, C, L)`, :math:`(N, C, H, W)`, ...; Output: same shape.

    Example:
        >>> instance_norm(jnp.array([[[1.0, 3.0]]])).round(3)
        Array([[[-1.,  1.]]], dtype=float32)
    """
    return instance_norm_with_stats(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )[0]


def group_norm(
    input: jax.Array,
    num_groups: int,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    eps: float = 1e-05,
) -> jax.Array:
    r"""Group normalisation: channels split into ``num_groups`` groups, each normalised.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    with statistics over each group's channels and all spatial positions of one sample,
    and a per-channel affine transform.

    Args:
        input: ``(N, C, *)``; ``C`` divisible by ``num_groups``.
        num_groups: number of groups.
        weight, bias: optional ``(C,)``.
        eps: added to the variance.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    Example:
        >>> group_norm(jnp.array([[1.0, 3.0, 5.0, 9.0]]), 2).round(3)
        Array([[-1.,  1., -1.,  1.]], dtype=float32)
    """
    check_input_dtype(input, "group_norm")
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}; "
            "group_norm takes (N, C, *): add a batch axis with input[None]."
        )
    if not isinstance(num_groups, int) or num_groups <= 0:
        raise ValueError(f"num_groups must be a positive int, got {num_groups!r}.")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got "
            f"input of shape {list(input.shape)} and num_groups={num_groups}"
        )
    if n * c // num_groups * math.prod(input.shape[2:]) == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size "
            f"{[c // num_groups, num_groups, *input.shape[2:]]}; each group needs more "
            "than one value."
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and (p.ndim != 1 or p.shape[0] != c):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(p.shape)} and input of shape "
                f"{list(input.shape)}"
            )
    return _group_norm_core(input, num_groups, weight, bias, eps)


@partial(jax.jit, static_argnames="num_groups")
def _group_norm_core(input, num_groups, weight, bias, eps):
    n = input.shape[0]
    x = opmath(input)
    g = jnp.reshape(x, (n, num_groups, x.size // max(n * num_groups, 1)))
    mean = jnp.mean(g, axis=2, keepdims=True)
    var = jnp.mean(jnp.square(g - mean), axis=2, keepdims=True)
    out = jnp.reshape((g - mean) * lax.rsqrt(var + eps), x.shape)
    return _affine(out, weight, bias).astype(input.dtype)
