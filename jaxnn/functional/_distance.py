"""Distances and similarities: ``cosine_similarity``, ``pairwise_distance``, ``pdist``.

All of them go through ``_vector_norm``, a p-norm whose derivative follows torch's
conventions where the plain formula is 0/0 or ambiguous: a zero vector has gradient 0 (not
NaN), zero entries get gradient 0 for p < 1, and ties of an infinity norm share the
gradient (``torch.norm``) or each get all of it (``pdist``'s own kernel).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._utils import normalize_dim, torch_sign

__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]


def _straight_through(x: jax.Array, value: jax.Array) -> jax.Array:
    """``value`` in the forward pass, the gradient of ``x`` in the backward pass.

    Reproduces torch's in-place edits made under ``no_grad`` (cosine_similarity's clamp of
    the norms, embedding's max_norm renormalisation): autograd never sees them.
    """
    return x + lax.stop_gradient(value - x)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4))
def _vector_norm(x: jax.Array, p: float, axis: int, keepdims: bool, split_ties: bool) -> jax.Array:
    """``torch.linalg.vector_norm(x, p, axis, keepdims)`` with torch's derivative."""
    a = jnp.abs(x)
    if p == 0:
        return jnp.sum(a != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    if p == math.inf:
        return jnp.max(a, axis=axis, keepdims=keepdims, initial=0.0)
    if p == -math.inf:
        return jnp.min(a, axis=axis, keepdims=keepdims, initial=math.inf)
    if p == 1:
        return jnp.sum(a, axis=axis, keepdims=keepdims)
    if p == 2:
        return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))
    return jnp.sum(a**p, axis=axis, keepdims=keepdims) ** (1.0 / p)


# Custom rule because autodiff of the formulas above gives NaN at a zero vector (p = 2:
# x / 0) and at zero entries for p < 1, where torch gives 0; and because pdist's kernel
# gives every tie of an infinity norm the full gradient (torch.norm splits it evenly).
@_vector_norm.defjvp
def _vector_norm_jvp(p, axis, keepdims, split_ties, primals, tangents):
    (x,), (t,) = primals, tangents
    norm = _vector_norm(x, p, axis, True, split_ties)
    if p == 0:
        dot = jnp.zeros_like(norm)
    elif p == 1:  # (torch's sign: a NaN entry gets gradient 0, as in torch)
        dot = jnp.sum(torch_sign(x) * t, axis=axis, keepdims=True)
    elif math.isinf(p):
        hit = (jnp.abs(x) == norm).astype(x.dtype)
        dot = jnp.sum(jnp.sign(x) * hit * t, axis=axis, keepdims=True)
        if split_ties:
            dot = dot / jnp.maximum(jnp.sum(hit, axis=axis, keepdims=True), 1.0)
    else:
        a = jnp.abs(x)
        zero = norm == 0
        safe_norm = jnp.where(zero, jnp.ones_like(norm), norm)
        if p == 2:
            term = x * t
        else:
            safe_a = jnp.where(a == 0, jnp.ones_like(a), a)
            term = jnp.where(a == 0, 0.0, jnp.sign(x) * safe_a ** (p - 1)) * t
        dot = jnp.sum(term, axis=axis, keepdims=True) / safe_norm ** (p - 1)
        dot = jnp.where(zero, jnp.zeros_like(dot), dot)
    if not keepdims:
        norm, dot = jnp.squeeze(norm, axis), jnp.squeeze(dot, axis)
    return norm, dot


def _norm(x: jax.Array, p: float, axis: int, keepdims: bool, split_ties: bool = True) -> jax.Array:
    """``_vector_norm`` computed in float32 for half types (torch accumulates in float)."""
    if jnp.finfo(x.dtype).bits >= 32:
        return _vector_norm(x, float(p), axis, keepdims, split_ties)
    return _vector_norm(x.astype(jnp.float32), float(p), axis, keepdims, split_ties).astype(x.dtype)


def _float_pair(name: str, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    dtype = jnp.result_type(x1, x2)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{name}(): expected common dtype to be floating point, yet common dtype is {dtype}; "
            "cast the inputs with .astype(jnp.float32)."
        )
    try:
        shape = jnp.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(
            f"{name}(): x1 of shape {x1.shape} and x2 of shape {x2.shape} do not broadcast "
            "to a common shape; their sizes must match or be 1 in every dimension."
        ) from None
    return jnp.broadcast_to(x1.astype(dtype), shape), jnp.broadcast_to(x2.astype(dtype), shape)


@partial(jax.jit, static_argnames=("dim", "eps"))
def cosine_similarity(x1: jax.Array, x2: jax.Array, dim: int = 1, eps: float = 1e-8) -> jax.Array:
    r"""Cosine similarity along ``dim``, each norm clamped from below by ``eps`` (torch's formula).

    .. math::
        \text{similarity} = \sum \frac{x_1}{\max(\Vert x_1 \Vert_2, \epsilon)}
        \cdot \frac{x_2}{\max(\Vert x_2 \Vert_2, \epsilon)}

    As in torch the clamp is invisible to autodiff: the gradient is that of the unclamped
    norm, evaluated at the clamped value.

    Args:
        x1, x2: arrays that broadcast to a common shape; ``dim`` indexes that shape.
        dim: the dimension of the vectors. Default 1.
        eps: lower bound of each norm. Default 1e-8.

    Shape:
        - Input1: :math:`(*_1, D, *_2)`. Input2: broadcastable to it.
          Output: :math:`(*_1, *_2)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.cosine_similarity(jnp.array([[1.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 2.0], [3.0, 3.0]]))
    Array([0., 1.], dtype=float32)
    """
    x1, x2 = _float_pair("cosine_similarity", x1, x2)
    dim = normalize_dim(dim, x1.ndim)
    if x1.ndim == 0:
        x1, x2 = x1[None], x2[None]
    n1 = _norm(x1, 2, dim, True)
    n2 = _norm(x2, 2, dim, True)
    n1 = _straight_through(n1, jnp.maximum(n1, eps))
    n2 = _straight_through(n2, jnp.maximum(n2, eps))
    return jnp.sum((x1 / n1) * (x2 / n2), axis=dim)


@partial(jax.jit, static_argnames=("p", "eps", "keepdim"))
def pairwise_distance(
    x1: jax.Array, x2: jax.Array, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> jax.Array:
    r"""p-norm of :math:`x_1 - x_2 + \epsilon` along the last dimension (torch's formula).

    Args:
        x1, x2: arrays that broadcast to a common shape; the vectors are along its last dim.
        p: the norm degree; any float, including 0 (count of nonzeros) and ``±inf``. Default 2.
        eps: added to the difference to avoid a zero vector. Default 1e-6.
        keepdim: keep the reduced dimension with size 1. Default False.

    Shape:
        - Input1: :math:`(N, D)` or :math:`(D)`. Input2: broadcastable to it.
          Output: :math:`(N)` or :math:`()`; with ``keepdim``, :math:`(N, 1)` or :math:`(1)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.pairwise_distance(jnp.array([[3.0, 4.0]]), jnp.zeros((1, 2)), eps=0.0)
    Array([5.], dtype=float32)
    """
    x1, x2 = _float_pair("pairwise_distance", x1, x2)
    diff = x1 - x2 + eps
    if diff.ndim == 0:
        # torch reduces a 0-d difference over "dim -1" to its absolute value.
        return _norm(diff[None], p, 0, False)
    return _norm(diff, p, diff.ndim - 1, keepdim)


@partial(jax.jit, static_argnames=("p",))
def pdist(input: jax.Array, p: float = 2) -> jax.Array:
    r"""p-norm distance between every pair of rows: the upper triangle of ``cdist(x, x)``.

    Output entry :math:`k` for the pair :math:`(i, j)`, :math:`i < j`, in row-major order
    (as ``numpy.triu_indices(N, 1)``). For ``p = inf`` every tied coordinate gets the full
    gradient, as in torch's pdist kernel.

    Args:
        input: ``(N, M)``.
        p: the norm degree, ``p >= 0`` (``inf`` allowed). Default 2.

    Shape:
        - Input: :math:`(N, M)`. Output: :math:`(N (N - 1) / 2)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.pdist(jnp.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]]))
    Array([5., 4., 3.], dtype=float32)
    """
    if input.ndim != 2:
        raise ValueError(
            f"pdist only supports 2D tensors, got: {input.ndim}D (shape {input.shape}); "
            "pass rows of shape (N, M)."
        )
    if p < 0:
        raise ValueError(f"pdist only supports non-negative p values, got p={p!r}.")
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(f"pdist(): input must be floating point, got {input.dtype}.")
    i, j = np.triu_indices(input.shape[0], 1)
    diff = input[i] - input[j]
    return _norm(diff, p, 1, False, split_ties=False)
