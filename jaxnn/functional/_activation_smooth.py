"""Smooth pointwise activations: the exponential, sigmoid and softplus families.

Re-exported by ``_activation``. elu/selu/celu take the negative branch at 0 like torch (so
their gradient there is ``alpha``, ``scale * alpha`` and 1). Exponentials are fed 0 on the
branch ``jnp.where`` discards, so a huge input cannot turn the gradient into ``0 * inf``.
Each function is ``jax.jit``-compiled with its float and string arguments static;
``inplace`` is accepted and has no effect (JAX arrays are immutable).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ._utils import check_choice, check_input_dtype

__all__ = [
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "softplus",
    "softsign",
    "tanhshrink",
    "logsigmoid",
]

# SELU's constants, as in torch (Klambauer et al., 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu(x: jax.Array, alpha: float, input_scale: float = 1.0) -> jax.Array:
    # torch takes the negative branch where x <= 0: at 0 (grad alpha there), not at NaN
    # (grad 1 there, like a positive x). The exponent is fed 0 on the positive side so a
    # huge x cannot put inf * 0 = NaN into the gradient.
    neg = x <= 0
    safe = jnp.where(neg, x, jnp.zeros_like(x))
    return jnp.where(neg, alpha * jnp.expm1(safe * input_scale), x)


@partial(jax.jit, static_argnames=("alpha", "inplace"))
def elu(input: jax.Array, alpha: float = 1.0, inplace: bool = False) -> jax.Array:
    r""":math:`x` if :math:`x > 0` else :math:`\alpha (e^x - 1)`; gradient at 0 is :math:`\alpha`.

    Args:
        input: any shape.
        alpha: the saturation value for negative inputs. Default 1.0.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.elu(jnp.array([-1.0, 2.0])).round(4)
    Array([-0.6321,  2.    ], dtype=float32)
    """
    check_input_dtype(input, "elu")
    return _elu(input, alpha)


@partial(jax.jit, static_argnames=("inplace",))
def selu(input: jax.Array, inplace: bool = False) -> jax.Array:
    r""":math:`\text{scale} \cdot \text{elu}(x, \alpha)` with torch's constants
    :math:`\alpha \approx 1.6733`, :math:`\text{scale} \approx 1.0507`.

    Args:
        input: any shape.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.selu(jnp.array([-1.0, 1.0])).round(4)
    Array([-1.1113,  1.0507], dtype=float32)
    """
    check_input_dtype(input, "selu")
    return _SELU_SCALE * _elu(input, _SELU_ALPHA)


@partial(jax.jit, static_argnames=("alpha", "inplace"))
def celu(input: jax.Array, alpha: float = 1.0, inplace: bool = False) -> jax.Array:
    r""":math:`\max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))`; gradient at 0 is 1.

    Args:
        input: any shape.
        alpha: nonzero scale. Default 1.0.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.celu(jnp.array([-1.0, 1.0]), alpha=2.0).round(4)
    Array([-0.7869,  1.    ], dtype=float32)
    """
    check_input_dtype(input, "celu")
    if alpha == 0:
        raise ValueError(
            f"celu(): alpha cannot be 0 for CELU (got alpha={alpha!r}); pass a nonzero alpha such as 1.0."
        )
    return _elu(input, alpha, 1.0 / alpha)


@partial(jax.jit, static_argnames=("approximate",))
def gelu(input: jax.Array, approximate: str = "none") -> jax.Array:
    r"""Gaussian error linear unit: :math:`x \Phi(x)`, or its tanh approximation.

    ``approximate='none'``: :math:`\tfrac{x}{2} (1 + \text{erf}(x / \sqrt{2}))`;
    ``'tanh'``: :math:`\tfrac{x}{2} (1 + \tanh(\sqrt{2/\pi} (x + 0.044715 x^3)))`.

    Args:
        input: any shape.
        approximate: ``'none'`` (default) or ``'tanh'``.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> [round(v, 4) for v in F.gelu(jnp.array([-1.0, 1.0])).tolist()]
    [-0.1587, 0.8413]
    """
    check_input_dtype(input, "gelu")
    check_choice(approximate, ("none", "tanh"), "approximate")
    x = input
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + jnp.tanh(inner))
    return x * 0.5 * (1.0 + lax.erf(x * (1.0 / math.sqrt(2.0))))


@partial(jax.jit, static_argnames=("inplace",))
def silu(input: jax.Array, inplace: bool = False) -> jax.Array:
    r"""Sigmoid-weighted linear unit (swish): :math:`x \sigma(x)`.

    Args:
        input: any shape.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> [round(v, 4) for v in F.silu(jnp.array([-1.0, 1.0])).tolist()]
    [-0.2689, 0.7311]
    """
    if not jnp.iscomplexobj(input):  # torch computes the complex forward too
        check_input_dtype(input, "silu")
    return input * jax.nn.sigmoid(input)


@partial(jax.jit, static_argnames=("inplace",))
def mish(input: jax.Array, inplace: bool = False) -> jax.Array:
    r""":math:`x \tanh(\text{softplus}(x))`.

    Args:
        input: any shape.
        inplace: accepted, no effect (JAX arrays are immutable).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> [round(v, 4) for v in F.mish(jnp.array([-1.0, 1.0])).tolist()]
    [-0.3034, 0.8651]
    """
    check_input_dtype(input, "mish")
    return input * jnp.tanh(jax.nn.softplus(input))


@jax.jit
def sigmoid(input: jax.Array) -> jax.Array:
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`.

    Args:
        input: any shape; an integer or bool input is computed in float32, as in torch.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.sigmoid(jnp.array([0.0]))
    Array([0.5], dtype=float32)
    """
    # torch computes an integer or bool input in its default float dtype.
    if jnp.issubdtype(input.dtype, jnp.integer) or input.dtype == jnp.bool_:
        input = input.astype(jnp.float32)
    return jax.nn.sigmoid(input)


@jax.jit
def tanh(input: jax.Array) -> jax.Array:
    r"""Hyperbolic tangent, elementwise.

    Args:
        input: any shape.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.tanh(jnp.array([0.0]))
    Array([0.], dtype=float32)
    """
    return jnp.tanh(input)


@partial(jax.jit, static_argnames=("beta", "threshold"))
def softplus(input: jax.Array, beta: float = 1, threshold: float = 20) -> jax.Array:
    r""":math:`\frac{1}{\beta} \log(1 + e^{\beta x})`, and :math:`x` where :math:`\beta x > \text{threshold}`.

    Args:
        input: any shape.
        beta: sharpness. Default 1.
        threshold: above ``beta * x > threshold`` the function is the identity. Default 20.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.softplus(jnp.array([0.0, 30.0])).round(4)
    Array([ 0.6931, 30.    ], dtype=float32)
    """
    check_input_dtype(input, "softplus")
    z = input * beta
    linear = z > threshold
    # Feed 0 to exp on the linear side: exp(big) = inf would make the gradient 0 * inf = NaN.
    safe = jnp.where(linear, jnp.zeros_like(z), z)
    return jnp.where(linear, input, jnp.log1p(jnp.exp(safe)) / beta)


@jax.jit
def softsign(input: jax.Array) -> jax.Array:
    r""":math:`x / (1 + |x|)`.

    Args:
        input: any shape.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.softsign(jnp.array([-3.0, 1.0]))
    Array([-0.75,  0.5 ], dtype=float32)
    """
    if not jnp.iscomplexobj(input):  # torch computes the complex forward too
        check_input_dtype(input, "softsign", allow_int=True)
    return input / (jnp.abs(input) + 1.0)


@jax.jit
def tanhshrink(input: jax.Array) -> jax.Array:
    r""":math:`x - \tanh(x)`.

    Args:
        input: any shape.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.tanhshrink(jnp.array([0.0, 1.0])).round(4)
    Array([0.    , 0.2384], dtype=float32)
    """
    if not jnp.iscomplexobj(input):  # torch computes the complex forward too
        check_input_dtype(input, "tanhshrink", allow_int=True)
    return input - jnp.tanh(input)


@jax.jit
def logsigmoid(input: jax.Array) -> jax.Array:
    r""":math:`\log \sigma(x) = -\text{softplus}(-x)`, computed stably.

    Args:
        input: any shape.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.logsigmoid(jnp.array([0.0])).round(4)
    Array([-0.6931], dtype=float32)
    """
    check_input_dtype(input, "logsigmoid")
    return jax.nn.log_sigmoid(input)
