"""Private helpers shared by the loss files (``_loss*.py``); nothing public here.

They reproduce three torch conventions the losses rely on: the legacy reduction flags,
torch's broadcasting error, and what torch's kernels do at a kink and at NaN
(``abs'(0) = abs'(NaN) = 0``, ``clamp_min`` passing the gradient at the boundary and
propagating NaN, the margin kernels dropping it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._utils import REDUCTIONS, check_choice, legacy_reduction, torch_sign


def resolve_reduction(
    size_average: bool | None,
    reduce: bool | None,
    reduction: str,
    allowed: Sequence[str] = REDUCTIONS,
) -> str:
    """The legacy ``size_average`` / ``reduce`` flags win over ``reduction`` (torch's rule)."""
    return check_choice(legacy_reduction(size_average, reduce, reduction), allowed, "reduction")


def concrete(x: Any) -> np.ndarray | None:
    """``x`` as numpy when its values are known at trace time, else None (a tracer)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def as_array(x: Any, dtype: Any = None) -> jax.Array:
    return jnp.asarray(x) if dtype is None else jnp.asarray(x, dtype=dtype)


def float_dtype(*arrays: jax.Array) -> Any:
    """torch's type promotion of the loss operands, floating (integers promote to float32)."""
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(dtype, jnp.float32)


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """Broadcast shapes, raising torch's message for the first incompatible dimension."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for d in range(ndim):
        size = 1
        for s in padded:
            if s[d] != 1:
                if size not in (1, s[d]):
                    raise ValueError(
                        f"The size of tensor a ({size}) must match the size of tensor b ({s[d]}) "
                        f"at non-singleton dimension {d}; got shapes {[tuple(s) for s in shapes]}, "
                        "make them broadcastable."
                    )
                size = s[d]
        out.append(size)
    return tuple(out)


def broadcast_all(*arrays: jax.Array) -> list[jax.Array]:
    """Explicit broadcasting (implicit rank promotion raises in this project's config)."""
    shape = broadcast_shape(*(a.shape for a in arrays))
    return [jnp.broadcast_to(a, shape) for a in arrays]


def warn_size_mismatch(input: jax.Array, target: jax.Array) -> None:
    """torch's UserWarning for regression losses whose target is broadcast against input."""
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def torch_abs(x: jax.Array) -> jax.Array:
    """``|x|`` with torch's gradient ``sign(x)``: 0 at 0 and at NaN; ``jnp.abs`` gives 1 at 0.

    A complex ``x`` has a real modulus (torch's l1_loss of complex inputs); JAX's gradient
    of ``jnp.abs`` there is already 0 at 0.
    """
    if jnp.iscomplexobj(x):
        return jnp.abs(x)
    return x * jax.lax.stop_gradient(torch_sign(x))


def clamp_min0(x: jax.Array) -> jax.Array:
    """torch's ``clamp_min(x, 0)``: NaN stays NaN, and the gradient is ``x >= 0``'s mask.

    So the gradient passes at ``x == 0`` (unlike relu's) and is 0 at NaN. A plain
    ``where(x >= 0, x, 0)`` would turn a NaN loss into 0: a diverged model looking fine.
    """
    clamped = jnp.where(x >= 0, x, jnp.zeros_like(x))
    return jnp.where(jnp.isnan(x), jax.lax.stop_gradient(x), clamped)


def hinge(x: jax.Array) -> jax.Array:
    """``max(x, 0)`` as torch's margin kernels compute it: ``x if x > 0 else 0``.

    The gradient is 0 at ``x == 0``, and a NaN term counts as 0, as in torch's
    ``multi_margin_loss`` / ``multilabel_margin_loss`` kernels (checked against them).
    """
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def apply_reduction(loss: jax.Array, reduction: str) -> jax.Array:
    """Apply a validated reduction ('mean' of an empty loss is NaN, as in torch)."""
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def weighted_reduce(loss: jax.Array, weight: jax.Array, reduction: str) -> jax.Array:
    """``loss * weight`` reduced torch's weighted way: 'mean' divides by ``sum(weight)``."""
    if reduction == "mean":
        return jnp.sum(loss) / jnp.sum(weight)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def check_same_shape_weight(weight: jax.Array, input: jax.Array) -> None:
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(
            f"Weights and input must have the same size: weight has shape {tuple(weight.shape)}, "
            f"input {tuple(input.shape)}."
        )
