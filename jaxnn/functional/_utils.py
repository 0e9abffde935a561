"""Argument canonicalisation shared by every functional family.

Each helper validates once and says, in one f-string, which argument was wrong, what it
was, what is allowed and how to fix it (STYLE rule 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

REDUCTIONS = ("none", "mean", "sum")


def ntuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """``3 -> (3, 3)``; a sequence must have ``n`` entries. Mirrors torch's ``_pair``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = tuple(value)
        if len(out) == 1:
            out = out * n
        if len(out) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
            raise ValueError(
                f"{name} must be an int or a sequence of {n} ints, got {value!r}; "
                f"pass e.g. {name}={(out[0] if out else 1,) * n!r}."
            )
        return out
    raise TypeError(
        f"{name} must be an int or a tuple of {n} ints, got {type(value).__name__} {value!r}."
    )


def check_choice(value: Any, allowed: Sequence[str], name: str) -> str:
    """Raise a ValueError naming ``name``, the value and the allowed set."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {tuple(allowed)!r}.")
    return value


def reduce_loss(loss: jax.Array, reduction: str) -> jax.Array:
    """Apply torch's ``reduction`` ('none' | 'mean' | 'sum') to an elementwise loss."""
    check_choice(reduction, REDUCTIONS, "reduction")
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's ``_Reduction.legacy_get_string``: map the deprecated flags to a reduction."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def expand_last(v: jax.Array, ndim: int) -> jax.Array:
    """Reshape a vector to broadcast against the last axis of a rank-``ndim`` array."""
    return jnp.reshape(v, (1,) * (ndim - 1) + (-1,))


def expand_channel(v: jax.Array, ndim: int) -> jax.Array:
    """Reshape a per-channel vector ``(C,)`` to broadcast against ``(N, C, *spatial)``."""
    return jnp.reshape(v, (1, -1) + (1,) * (ndim - 2))


def opmath(x: jax.Array) -> jax.Array:
    """torch's CPU kernels compute (and accumulate) half-precision inputs in float32."""
    if x.dtype in (jnp.bfloat16, jnp.float16):
        return x.astype(jnp.float32)
    return x


# torch's kernels at NaN: these two are used wherever torch computes relu or abs, so that a
# NaN flows through the gradient as it does in torch (jax.nn.relu and jnp.sign stop or
# multiply it differently).
def torch_relu(x: jax.Array) -> jax.Array:
    """``max(x, 0)`` with torch's gradient: 0 where ``x <= 0``, 1 elsewhere, NaN included.

    ``jax.nn.relu``'s gradient is 0 at NaN, so a NaN activation would stop its gradient.
    """
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def torch_sign(x: jax.Array) -> jax.Array:
    """``sign(x)`` as torch's ``abs``/``l1`` backward uses it: 0 at 0 and at NaN (``jnp.sign``: NaN)."""
    one = jnp.ones_like(x)
    return jnp.where(x > 0, one, jnp.where(x < 0, -one, jnp.zeros_like(x)))


def normalize_dim(dim: int, ndim: int, name: str = "dim") -> int:
    """Wrap a negative dimension like torch and raise torch's IndexError when out of range."""
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, int) or not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim}) "
            f"for {name} of a {ndim}-d input."
        )
    return dim % max(ndim, 1)


def check_input_dtype(input: Any, fn: str, name: str = "input", *, allow_int: bool = False) -> None:
    """torch's "not implemented for 'Long'/'Bool'" as a TypeError naming ``name``.

    Floating inputs pass; integer inputs pass when ``allow_int`` (the function then computes
    in the integer dtype, as torch does); bool never passes. The dtype is static, so inside a
    jitted function this runs once, at trace time.
    """
    dtype = jnp.result_type(input)
    if jnp.issubdtype(dtype, jnp.floating):
        return
    if allow_int and jnp.issubdtype(dtype, jnp.integer):
        return
    accepted = "a floating-point or integer" if allow_int else "a floating-point"
    raise TypeError(
        f"{fn}() is not implemented for {name} of dtype {dtype} (torch raises too); it needs "
        f"{accepted} {name}: pass {name}.astype(jnp.float32)."
    )
