"""Activations: torch.nn.functional's names, defaults and gradient conventions.

Where an activation has a kink, torch picks one derivative there and so do we: relu'(0) = 0,
hardtanh/relu6/hardsigmoid are flat *on* their bounds, leaky_relu/prelu/elu/selu/celu take
the negative branch at 0, softshrink/hardshrink/threshold are flat at their threshold. Each
is written with ``jnp.where`` on the branch torch takes, so no ``custom_jvp`` is needed.
NaN goes through every function as it does in torch.

``inplace`` is accepted for signature compatibility and has no effect: JAX arrays are
immutable, the result is always a new array. Each function is ``jax.jit``-compiled (its
float and string arguments are static), like ``jax.nn``'s, so eager calls run one fused
kernel instead of dispatching op by op.

This file holds the piecewise-linear ones; the smooth ones (elu ... logsigmoid) live in
``_activation_smooth.py``, the softmax family and ``glu`` in ``_activation_softmax.py``;
both are re-exported here.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ._activation_smooth import (
    celu,
    elu,
    gelu,
    logsigmoid,
    mish,
    selu,
    sigmoid,
    silu,
    softplus,
    softsign,
    tanh,
    tanhshrink,
)
from ._activation_softmax import glu, log_softmax, softmax, softmin
from ._utils import check_input_dtype, expand_channel, torch_relu

__all__ = [
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "softplus",
    "softsign",
    "softshrink",
    "hardshrink",
    "tanhshrink",
    "threshold",
    "logsigmoid",
    "glu",
    "softmax",
    "log_softmax",
    "softmin",
]


def _as_int(v: float, dtype: jnp.dtype) -> int:
    """A float argument as torch casts it for an integer input: toward zero, saturated."""
    info = jnp.iinfo(dtype)
    return int(min(max(v, info.min), info.max))


def _clamp_strict(x: jax.Array, lo: float, hi: float, nan_grad: bool = True) -> jax.Array:
    """``clip(x, lo, hi)`` with torch's hardtanh gradient: 1 strictly inside, 0 on the bounds.

    ``jnp.clip`` would give 0.5 at a bound. NaN stays NaN, with gradient 1 where torch's
    backward zeroes it only for ``x <= lo or x >= hi`` (hardtanh, relu6), and 0 with
    ``nan_grad=False`` where it passes it only for ``lo < x < hi`` (hardsigmoid). An integer
    input stays integer, its bounds truncated toward zero as torch casts them.
    """
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.clip(x, _as_int(lo, x.dtype), _as_int(hi, x.dtype)).astype(x.dtype)
    outside = (x <= lo) | (x >= hi) if nan_grad else ~((x > lo) & (x < hi))
    return jnp.where(outside, lax.stop_gradient(jnp.clip(x, lo, hi)), x)


@partial(jax.jit, static_argnames=("inplace",))
def relu(input: jax.Array, inplace: bool = False) -> jax.Array:
    r"""Rectified linear unit, elementwise: :math:`\max(0, x)`; gradient 0 at 0 like torch.

    Args:
        input: any shape; an integer input keeps its dtype, as in torch.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.relu(jnp.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 2.], dtype=float32)
    """
    check_input_dtype(input, "relu", allow_int=True)
    return torch_relu(input)


@partial(jax.jit, static_argnames=("inplace",))
def relu6(input: jax.Array, inplace: bool = False) -> jax.Array:
    r""":math:`\min(\max(0, x), 6)`, elementwise; gradient 0 at 0 and at 6 like torch.

    Args:
        input: any shape; an integer input keeps its dtype, as in torch.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.relu6(jnp.array([-1.0, 3.0, 8.0]))
    Array([0., 3., 6.], dtype=float32)
    """
    check_input_dtype(input, "relu6", allow_int=True)
    return _clamp_strict(input, 0.0, 6.0)


@partial(jax.jit, static_argnames=("negative_slope", "inplace"))
def leaky_relu(input: jax.Array, negative_slope: float = 0.01, inplace: bool = False) -> jax.Array:
    r""":math:`x` if :math:`x > 0` else :math:`\text{negative\_slope} \cdot x`; gradient at 0 is the slope.

    Args:
        input: any shape.
        negative_slope: slope for :math:`x \le 0`. Default 0.01.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.leaky_relu(jnp.array([-2.0, 3.0]), 0.1)
    Array([-0.2,  3. ], dtype=float32)
    """
    check_input_dtype(input, "leaky_relu")
    return jnp.where(input > 0, input, input * negative_slope)


@jax.jit
def prelu(input: jax.Array, weight: jax.Array) -> jax.Array:
    r""":math:`\max(0, x) + w \cdot \min(0, x)` with a learnable slope per channel.

    Args:
        input: ``(N, C, *)``, or any shape when ``weight`` has one element.
        weight: the slopes, a scalar or 1-D: one element, or ``C = input.shape[1]`` elements
            applied along dim 1. As in torch, a 0-d or 1-d input has one channel, so its
            weight must have one element.

    Shape:
        - Input: :math:`(N, C, *)` or :math:`(*)`. Weight: :math:`()`, :math:`(1,)` or
          :math:`(C,)`. Output: same shape as the input.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.prelu(jnp.array([[-1.0, 2.0], [-4.0, -2.0]]), jnp.array([0.5, 0.25])).tolist()
    [[-0.5, 2.0], [-2.0, -0.5]]
    """
    check_input_dtype(input, "prelu")
    check_input_dtype(weight, "prelu", "weight")
    if weight.ndim > 1:
        raise ValueError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim} "
            f"(shape {weight.shape}); pass weight of shape (C,) or (1,)."
        )
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.size == 1:
        w = jnp.reshape(weight, ())
    elif weight.size == channels:
        w = expand_channel(weight, input.ndim)
    else:
        raise ValueError(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
            f"{weight.size} and channel size = {channels}. weight must have 1 or "
            f"input.shape[1] elements (input shape {input.shape}; a 0-d/1-d input has 1 channel)."
        )
    # The slope branch sees 0 where it is not taken: an inf or NaN slope would otherwise
    # give a positive input the gradient inf * 0 = NaN (torch: 1).
    negative = jnp.where(input > 0, jnp.zeros_like(input), input)
    return jnp.where(input > 0, input, w * negative)


@partial(jax.jit, static_argnames=("min_val", "max_val", "inplace"))
def hardtanh(
    input: jax.Array, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> jax.Array:
    r""":math:`\text{clip}(x, \text{min\_val}, \text{max\_val})`; gradient 0 on both bounds like torch.

    Args:
        input: any shape; an integer input keeps its dtype, as in torch.
        min_val, max_val: the bounds, ``min_val <= max_val``. Defaults -1 and 1.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.hardtanh(jnp.array([-2.0, 0.5, 2.0]))
    Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    check_input_dtype(input, "hardtanh", allow_int=True)
    if min_val > max_val:
        raise ValueError(
            f"min_val cannot be greater than max_val (got min_val={min_val!r}, "
            f"max_val={max_val!r}); swap them."
        )
    return _clamp_strict(input, min_val, max_val)


@partial(jax.jit, static_argnames=("inplace",))
def hardsigmoid(input: jax.Array, inplace: bool = False) -> jax.Array:
    r""":math:`\text{relu6}(x + 3) / 6`; gradient :math:`1/6` strictly inside :math:`(-3, 3)`, else 0.

    Args:
        input: any shape.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.hardsigmoid(jnp.array([-4.0, 0.0, 4.0]))
    Array([0. , 0.5, 1. ], dtype=float32)
    """
    check_input_dtype(input, "hardsigmoid")
    return _clamp_strict(input + 3.0, 0.0, 6.0, nan_grad=False) / 6.0


@partial(jax.jit, static_argnames=("inplace",))
def hardswish(input: jax.Array, inplace: bool = False) -> jax.Array:
    r""":math:`x \cdot \text{relu6}(x + 3) / 6`; gradient 0 at -3 and 1 at 3 like torch.

    Args:
        input: any shape.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.hardswish(jnp.array([-4.0, 1.0, 4.0])).round(4)
    Array([-0.    ,  0.6667,  4.    ], dtype=float32)
    """
    check_input_dtype(input, "hardswish")
    # torch's branches: 0 where x <= -3 (x * 0 keeps -inf -> NaN as torch does), x where
    # x >= 3 or NaN (gradient 1), the parabola in between, fed 0 elsewhere so that its
    # gradient is not inf * 0 = NaN at +-inf.
    low, mid = input <= -3.0, (input > -3.0) & (input < 3.0)
    m = jnp.where(mid, input, jnp.zeros_like(input))
    return jnp.where(low, input * 0.0, jnp.where(mid, m * (m + 3.0) / 6.0, input))


@partial(jax.jit, static_argnames=("lambd",))
def softshrink(input: jax.Array, lambd: float = 0.5) -> jax.Array:
    r""":math:`x - \lambda` if :math:`x > \lambda`, :math:`x + \lambda` if :math:`x < -\lambda`, else 0.

    The gradient is 0 at :math:`\pm\lambda` (torch's convention).

    Args:
        input: any shape.
        lambd: the threshold :math:`\lambda \ge 0`. Default 0.5.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.softshrink(jnp.array([-2.0, 0.25, 1.0]))
    Array([-1.5,  0. ,  0.5], dtype=float32)
    """
    check_input_dtype(input, "softshrink")
    if lambd < 0:
        raise ValueError(
            f"softshrink(): lambd must be >= 0, but found {lambd!r}; pass e.g. lambd=0.5."
        )
    # |x| <= lambd is False for NaN, so NaN goes through like in torch.
    return jnp.where(
        jnp.abs(input) <= lambd, jnp.zeros_like(input), input - jnp.sign(input) * lambd
    )


@partial(jax.jit, static_argnames=("lambd",))
def hardshrink(input: jax.Array, lambd: float = 0.5) -> jax.Array:
    r""":math:`x` if :math:`|x| > \lambda` else 0; gradient 0 at :math:`\pm\lambda`.

    Args:
        input: any shape.
        lambd: the threshold :math:`\lambda`. Default 0.5.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.hardshrink(jnp.array([-2.0, 0.25, 1.0]))
    Array([-2.,  0.,  1.], dtype=float32)
    """
    check_input_dtype(input, "hardshrink")
    return jnp.where((input >= -lambd) & (input <= lambd), jnp.zeros_like(input), input)


@partial(jax.jit, static_argnames=("threshold", "value", "inplace"))
def threshold(input: jax.Array, threshold: float, value: float, inplace: bool = False) -> jax.Array:
    r""":math:`x` if :math:`x > \text{threshold}` else ``value``; gradient 0 at the threshold.

    Args:
        input: any shape; an integer input keeps its dtype, as in torch.
        threshold: the cut.
        value: what replaces ``x <= threshold``.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.threshold(jnp.array([0.5, 1.0, 2.0]), 1.0, -5.0)
    Array([-5., -5.,  2.], dtype=float32)
    """
    check_input_dtype(input, "threshold", allow_int=True)
    if jnp.issubdtype(input.dtype, jnp.integer):
        threshold = _as_int(threshold, input.dtype)
    return jnp.where(input <= threshold, jnp.full_like(input, value), input)
