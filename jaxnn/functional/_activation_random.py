"""Activations that draw random numbers: ``rrelu`` and ``gumbel_softmax``, with ``key=``."""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp

from .._random import check_key, draw_forward_key, key_hint
from ._activation_softmax import _softmax_dim

__all__ = ["rrelu", "gumbel_softmax"]


def rrelu(
    input: jax.Array,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Randomized leaky ReLU: :math:`x` if :math:`x > 0`, else :math:`a x`.

    In training :math:`a \sim U(\text{lower}, \text{upper})`, drawn per element from
    ``key`` (torch draws from its global generator); the gradient of a non-positive
    element is its :math:`a`, as torch's. In evaluation :math:`a = (\text{lower} +
    \text{upper}) / 2`, exactly torch's numbers. ``inplace`` is accepted and has no effect.

    Args:
        input: a floating array.
        lower, upper: bounds of the slope's distribution; ``lower <= upper``.
        training: draw random slopes (needs ``key``). Default False.
        inplace: no effect (JAX arrays are immutable).
        key: PRNG key for the slopes in training (inside a module call given ``key=``,
            a subkey of that key when omitted).

    Shape:
        - Input: ``(*)``; Output: same shape.

    >>> import jax, jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> F.rrelu(jnp.array([-2.0, 3.0]), 0.1, 0.3)
    Array([-0.4,  3. ], dtype=float32)
    >>> y = F.rrelu(jnp.array([-2.0, 3.0]), training=True, key=jax.random.key(0))
    >>> bool(-2 / 3 <= y[0] <= -0.25), float(y[1])
    (True, 3.0)
    """
    if not lower <= upper:
        raise ValueError(
            f"Lower bound should be less than or equal to the upper bound (lower={lower}, "
            f"upper={upper})."
        )
    input = jnp.asarray(input)
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(
            f"rrelu needs a floating-point input (torch: not implemented for its dtype), got "
            f"{input.dtype}; cast it with .astype(jnp.float32)."
        )
    if not training:
        return _leaky(input, (lower + upper) / 2)
    if key is None:
        key = draw_forward_key()  # inside a model call given key= (RReLU, a custom forward)
    if key is None:
        raise ValueError(
            "rrelu() in training mode draws a random slope per element and got no PRNG key: "
            "pass key=sub (F.rrelu(x, training=True, key=sub)), or call the model with key=sub; "
            + key_hint()
            + "; or training=False for evaluation."
        )
    return _rrelu_train(input, check_key(key), float(lower), float(upper))


@partial(jax.jit, static_argnames=("slope",))
def _leaky(x: jax.Array, slope: float) -> jax.Array:
    # ``x > 0``: at 0 the gradient is the slope, as torch's rrelu backward.
    return jnp.where(x > 0, x, x * jnp.asarray(slope, x.dtype))


@partial(jax.jit, static_argnames=("lower", "upper"))
def _rrelu_train(x: jax.Array, key: jax.Array, lower: float, upper: float) -> jax.Array:
    a = jax.random.uniform(key, x.shape, x.dtype, lower, upper)
    return jnp.where(x > 0, x, x * a)


def gumbel_softmax(
    logits: jax.Array,
    tau: float = 1,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""Samples from the Gumbel-softmax distribution: ``softmax((logits + g) / tau, dim)``.

    :math:`g` are i.i.d. Gumbel(0, 1) draws from ``key``. With ``hard=True`` the result is
    the one-hot of the argmax, with the soft sample's gradient (straight-through), as
    torch's. ``eps`` is deprecated and unused, as in torch (a value other than its default
    warns).

    Args:
        logits: unnormalised log-probabilities ``(*, num_features)``.
        tau: non-negative temperature.
        hard: return one-hot samples, differentiated as the soft ones.
        eps: deprecated, no effect.
        dim: the dimension of the categories. Default -1.
        key: PRNG key for the Gumbel noise (inside a module call given ``key=``, a
            subkey of that key when omitted).

    Shape:
        - Input: ``(*)``; Output: same shape, summing to 1 over ``dim``.

    >>> import jax, jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> y = F.gumbel_softmax(jnp.zeros((2, 3)), hard=True, key=jax.random.key(0))
    >>> y.sum(axis=-1)
    Array([1., 1.], dtype=float32)
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    if key is None:
        key = draw_forward_key()  # inside a model call given key= (a custom forward)
    if key is None:
        raise ValueError(
            "gumbel_softmax() draws Gumbel noise and got no PRNG key: pass key=sub "
            "(F.gumbel_softmax(logits, key=sub)), or call the model with key=sub; "
            + key_hint("F.gumbel_softmax(logits, key=sub)")
            + "."
        )
    logits = jnp.asarray(logits)
    dim = _softmax_dim("gumbel_softmax", logits, dim, 3)
    return _gumbel(logits, check_key(key), float(tau), bool(hard), dim)


@partial(jax.jit, static_argnames=("tau", "hard", "dim"))
def _gumbel(logits: jax.Array, key: jax.Array, tau: float, hard: bool, dim: int) -> jax.Array:
    # torch: -log(Exponential(1)), which is Gumbel(0, 1).
    g = -jnp.log(jax.random.exponential(key, logits.shape, logits.dtype))
    y = jax.nn.softmax((logits + g) / tau, axis=dim)
    if not hard:
        return y
    index = jnp.argmax(y, axis=dim, keepdims=True)
    one_hot = (
        jnp.arange(y.shape[dim]).reshape([-1 if a == dim else 1 for a in range(y.ndim)]) == index
    )
    return one_hot.astype(y.dtype) - jax.lax.stop_gradient(y) + y
