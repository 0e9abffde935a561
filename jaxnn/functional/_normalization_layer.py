"""Layer-wise normalisation: ``layer_norm``, ``rms_norm``, ``local_response_norm`` and
``normalize`` (re-exported by ``_normalization``).

Half-precision inputs are normalised in float32 and cast back, as torch's CPU kernels do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ._utils import check_input_dtype, normalize_dim, opmath

__all__ = ["layer_norm", "rms_norm", "local_response_norm", "normalize"]

# Each function validates its arguments in Python, then runs one jitted core (as jax.nn's
# functions are jitted): called eagerly it dispatches one compiled program instead of a
# dozen small ones, and under an outer jit the core is simply inlined.


def _normalized_axes(
    input: jax.Array, normalized_shape: int | Sequence[int], what: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) == 0:
        raise RuntimeError(
            f"Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
            f"least one element, but got normalized_shape = {list(shape)}"
        )
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}; "
            f"{what} normalises the trailing dimensions of the input."
        )
    return shape, tuple(range(input.ndim - k, input.ndim))


def _check_param_shape(p: jax.Array | None, name: str, shape: tuple[int, ...]) -> None:
    if p is not None and tuple(p.shape) != shape:
        raise RuntimeError(
            f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
            f"shape {list(p.shape)} and normalized_shape = {list(shape)}"
        )


def _trailing(p: jax.Array, ndim: int) -> jax.Array:
    return jnp.reshape(opmath(p), (1,) * (ndim - p.ndim) + tuple(p.shape))


def layer_norm(
    input: jax.Array,
    normalized_shape: Sequence[int],
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    eps: float = 1e-05,
) -> jax.Array:
    r"""Layer normalisation over the trailing ``normalized_shape`` dimensions.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    with the biased variance. ``normalized_shape`` may also be a plain ``int`` (torch's
    functional form insists on a sequence).

    Args:
        input: ``(*, *normalized_shape)``.
        normalized_shape: the trailing shape to normalise over.
        weight, bias: optional, of shape ``normalized_shape``.
        eps: added to the variance.

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`; Output: same shape.

    Example:
        >>> layer_norm(jnp.array([[1.0, 3.0]]), (2,)).round(3)
        Array([[-1.,  1.]], dtype=float32)
    """
    check_input_dtype(input, "layer_norm")
    shape, axes = _normalized_axes(input, normalized_shape, "layer_norm")
    _check_param_shape(weight, "weight", shape)
    _check_param_shape(bias, "bias", shape)
    return _layer_norm_core(input, weight, bias, eps, axes)


@partial(jax.jit, static_argnames="axes")
def _layer_norm_core(input, weight, bias, eps, axes):
    x = opmath(input)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    out = (x - mean) * lax.rsqrt(var + eps)
    if weight is not None:
        out = out * _trailing(weight, x.ndim)
    if bias is not None:
        out = out + _trailing(bias, x.ndim)
    return out.astype(input.dtype)


def rms_norm(
    input: jax.Array,
    normalized_shape: Sequence[int],
    weight: jax.Array | None = None,
    eps: float | None = None,
) -> jax.Array:
    r"""Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions.

    .. math::
        y = \frac{x}{\sqrt{\mathrm{E}[x^2] + \epsilon}} \gamma

    ``eps=None`` uses the machine epsilon of the type torch computes in: float32's for
    float32, bfloat16 and float16 inputs (torch upcasts those), float64's for float64.

    Args:
        input: ``(*, *normalized_shape)``.
        normalized_shape: the trailing shape (an ``int`` is accepted too).
        weight: optional, of shape ``normalized_shape``.
        eps: added to the mean square; ``None`` for the machine epsilon.

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`; Output: same shape.

    Example:
        >>> rms_norm(jnp.array([[3.0, 4.0]]), (2,)).shape
        (1, 2)
    """
    check_input_dtype(input, "rms_norm")
    shape, axes = _normalized_axes(input, normalized_shape, "rms_norm")
    _check_param_shape(weight, "weight", shape)
    if eps is None:
        eps = float(jnp.finfo(opmath(input).dtype).eps)
    return _rms_norm_core(input, weight, eps, axes)


@partial(jax.jit, static_argnames="axes")
def _rms_norm_core(input, weight, eps, axes):
    x = opmath(input)
    out = (x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axes, keepdims=True) + eps)).astype(
        input.dtype
    )
    if weight is not None:
        out = out * jnp.reshape(weight, (1,) * (out.ndim - weight.ndim) + tuple(weight.shape))
    return out


def local_response_norm(
    input: jax.Array,
    size: int,
    alpha: float = 0.0001,
    beta: float = 0.75,
    k: float = 1.0,
) -> jax.Array:
    r"""Local response normalisation across channels.

    .. math::
        b_c = a_c \left(k + \frac{\alpha}{n} \sum_{c'} a_{c'}^2\right)^{-\beta}

    where the sum runs over the window of ``n = size`` channels from ``c - size // 2`` to
    ``c + (size - 1) // 2``, zero-padded at the ends and always divided by ``size``
    (torch's average pool with the padding counted).

    Args:
        input: ``(N, C, *)`` with at least one spatial dimension.
        size: number of neighbouring channels in the window.
        alpha, beta, k: the formula's constants.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    Example:
        >>> local_response_norm(jnp.ones((1, 3, 1)), 2, alpha=1.0, beta=1.0).ravel()
        Array([0.6666667, 0.5      , 0.5      ], dtype=float32)
    """
    if input.ndim < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions); "
            "local_response_norm takes (N, C, *) with a spatial axis."
        )
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}.")
    if input.size == 0:
        return input
    return _lrn_core(input, size, alpha, beta, k)


@partial(jax.jit, static_argnames="size")
def _lrn_core(input, size, alpha, beta, k):
    x = opmath(input)
    window = (1, size) + (1,) * (x.ndim - 2)
    padding = ((0, 0), (size // 2, (size - 1) // 2)) + ((0, 0),) * (x.ndim - 2)
    div = lax.reduce_window(jnp.square(x), 0.0, lax.add, window, (1,) * x.ndim, padding)
    div = (div / size * alpha + k) ** beta
    return (x / div).astype(input.dtype)


def _safe_pnorm(x: jax.Array, p: float, axes: tuple[int, ...]) -> jax.Array:
    """``||x||_p`` with torch's gradient conventions: zero gradient at a zero vector
    (torch masks it) and at zero entries when ``p < 1``, where ``|x|^p`` has no finite
    derivative."""
    a = jnp.sign(x) * x  # |x| with torch's abs'(0) = 0; jnp.abs has 1 there
    if p == math.inf:
        return jnp.max(a, axis=axes, keepdims=True)
    if p == -math.inf:
        return jnp.min(a, axis=axes, keepdims=True)
    if p == 0:
        return lax.stop_gradient(jnp.sum((a != 0).astype(x.dtype), axis=axes, keepdims=True))
    if p == 1:
        return jnp.sum(a, axis=axes, keepdims=True)
    if p == 2:
        s = jnp.sum(jnp.square(x), axis=axes, keepdims=True)
    elif p < 0:  # a zero entry makes the sum infinite and the norm zero, as in torch
        return jnp.sum(a**p, axis=axes, keepdims=True) ** (1.0 / p)
    else:
        nz = a != 0
        s = jnp.sum(jnp.where(nz, jnp.where(nz, a, 1) ** p, 0), axis=axes, keepdims=True)
    # Mask the zero sum only (s == 0, not s > 0), so that a NaN sum gives a NaN norm.
    zero = s == 0
    root = jnp.sqrt if p == 2 else (lambda v: v ** (1.0 / p))
    return jnp.where(zero, 0, root(jnp.where(zero, 1, s)))


def normalize(
    input: jax.Array,
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: None = None,
) -> jax.Array:
    r"""Divide by the :math:`L_p` norm along ``dim``.

    .. math::
        v = \frac{v}{\max(\lVert v \rVert_p, \epsilon)}

    Args:
        input: any shape.
        p: the norm's exponent (``inf``, ``-inf`` and ``0`` as in ``torch.norm``).
        dim: the dimension (or tuple of dimensions) to reduce.
        eps: lower bound of the denominator.
        out: must be ``None``: JAX arrays cannot be written into.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Example:
        >>> normalize(jnp.array([[3.0, 4.0]]))
        Array([[0.6, 0.8]], dtype=float32)
    """
    if out is not None:
        raise ValueError(
            "normalize(out=...) is not supported: JAX arrays are immutable; use the "
            "returned array instead (y = normalize(x, ...))."
        )
    check_input_dtype(input, "normalize")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    axes = tuple(sorted({normalize_dim(d, input.ndim) for d in dims}))
    if input.ndim == 0:  # torch reduces a 0-d input over "dim 0": its norm is |x|
        axes = ()
    return _normalize_core(input, float(p), axes, eps)


@partial(jax.jit, static_argnames=("p", "axes"))
def _normalize_core(input, p, axes, eps):
    x = opmath(input)
    norm = _safe_pnorm(x, p, axes)
    # torch's clamp_min passes the gradient where norm >= eps (ties included); comparing
    # with `<` lets a NaN norm through, as torch's clamp does.
    denom = jnp.where(norm < eps, eps, norm)
    return (x / denom).astype(input.dtype)
