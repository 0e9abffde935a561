"""``grouped_mm``: torch 2.13's grouped matrix multiply (Mixture-of-Experts layers).

The 2-D x 3-D form (tokens sorted by expert, one weight per expert) is
``jax.lax.ragged_dot``. The other forms follow torch's layout rules: 3-D x 3-D is a
batched product, 2-D x 2-D splits the contraction dimension by ``offs`` (the weight
gradient of an MoE layer), 3-D x 2-D splits the output columns.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["grouped_mm"]


def grouped_mm(
    mat_a: jax.Array,
    mat_b: jax.Array,
    *,
    offs: jax.Array | None = None,
    bias: jax.Array | None = None,
    out_dtype: Any = None,
) -> jax.Array:
    r"""Per-group matrix products that share shapes across groups with jagged sizes.

    ``offs`` (1-D, increasing) marks the end of each group along the jagged dimension of
    a 2-D operand; elements past ``offs[-1]`` take part in no group (their output rows
    or columns are 0; torch leaves them uninitialised).

    - ``a (M, K)``, ``b (G, K, N)``, ``offs (G,)`` over M: rows of group g use ``b[g]``
      -> ``(M, N)``.
    - ``a (G, M, K)``, ``b (G, K, N)``, no ``offs``: ``a[g] @ b[g]`` -> ``(G, M, N)``.
    - ``a (M, K)``, ``b (K, N)``, ``offs (G,)`` over K: ``a[:, Kg] @ b[Kg]`` -> ``(G, M, N)``.
    - ``a (G, M, K)``, ``b (K, N)``, ``offs (G,)`` over N: columns of group g are
      ``a[g] @ b[:, Ng]`` -> ``(M, N)``.

    Args:
        mat_a, mat_b: the operands (2-D or 3-D).
        offs: group ends (integers), required when an operand is 2-D.
        bias: not supported (torch 2.13 raises too).
        out_dtype: the result's (and accumulation's) dtype; default the operands'.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> a, b = jnp.ones((5, 2)), jnp.stack([jnp.ones((2, 3)), 2 * jnp.ones((2, 3))])
    >>> F.grouped_mm(a, b, offs=jnp.array([2, 5], jnp.int32))[:, 0]
    Array([2., 2., 4., 4., 4.], dtype=float32)
    """
    a, b = jnp.asarray(mat_a), jnp.asarray(mat_b)
    if bias is not None:
        raise NotImplementedError(
            "grouped_mm: Bias not supported yet (torch 2.13 raises too); add the bias to the "
            "result instead."
        )
    if a.ndim not in (2, 3) or b.ndim not in (2, 3):
        raise ValueError(
            f"grouped_mm: mat_a and mat_b must be 2-D or 3-D, got shapes {a.shape} and {b.shape}."
        )
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"grouped_mm: contraction sizes differ: mat_a {a.shape} and mat_b {b.shape} "
            f"(mat_a.shape[-1] must equal mat_b.shape[-2])."
        )
    if a.ndim == 3 and b.ndim == 3:
        if offs is not None:
            raise ValueError("grouped_mm: offs must be None when both operands are 3-D.")
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"grouped_mm: group counts differ: {a.shape[0]} vs {b.shape[0]}.")
    elif offs is None:
        raise ValueError(
            "grouped_mm: offs (the end of each group) is required when an operand is 2-D."
        )
    dtype = jnp.dtype(out_dtype) if out_dtype is not None else jnp.result_type(a, b)
    if offs is not None:
        offs = jnp.asarray(offs).astype(jnp.int32)
        if offs.ndim != 1:
            raise ValueError(f"grouped_mm: offs must be 1-D, got shape {offs.shape}.")
        groups = offs.shape[0]
        three = a if a.ndim == 3 else b if b.ndim == 3 else None
        if three is not None and three.shape[0] != groups:
            raise ValueError(
                f"grouped_mm: offs has {groups} groups but the 3-D operand has {three.shape[0]}."
            )
    return _grouped(a, b, offs, dtype)


def _members(offs: jax.Array, size: int) -> jax.Array:
    """``(G, size)`` mask: position i belongs to group g (``offs[g-1] <= i < offs[g]``)."""
    starts = jnp.concatenate([jnp.zeros((1,), offs.dtype), offs[:-1]])
    i = jnp.arange(size)[None, :]
    return (i >= starts[:, None]) & (i < offs[:, None])


@partial(jax.jit, static_argnames="dtype")
def _grouped(a, b, offs, dtype):
    if a.ndim == 3 and b.ndim == 3:
        return jnp.einsum("gmk,gkn->gmn", a, b, preferred_element_type=dtype).astype(dtype)
    if a.ndim == 2 and b.ndim == 3:
        sizes = jnp.diff(offs, prepend=jnp.zeros((1,), offs.dtype))
        return jax.lax.ragged_dot(a, b, sizes, preferred_element_type=dtype).astype(dtype)
    if a.ndim == 2:  # 2-D x 2-D: groups split the contraction dimension
        mask = _members(offs, a.shape[1]).astype(a.dtype)
        return jnp.einsum("mk,gk,kn->gmn", a, mask, b, preferred_element_type=dtype).astype(dtype)
    # 3-D x 2-D: groups split the output columns
    mask = _members(offs, b.shape[1])
    full = jnp.einsum("gmk,kn->gmn", a, b, preferred_element_type=dtype)
    return jnp.sum(jnp.where(mask[:, None, :], full, 0), axis=0).astype(dtype)
