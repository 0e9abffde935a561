"""Construction helpers shared by the layer families: dtype, device, keys, validation."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._random import as_key


def factory_dtype(dtype: Any) -> Any:
    """torch's ``dtype=`` factory argument: float32 by default, floating types only."""
    if dtype is None:
        return jnp.float32
    dt = jnp.dtype(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"dtype={dtype!r}: parameters must be floating point (e.g. jnp.float32).")
    if dt == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype=float64 needs 64-bit JAX: jax.config.update('jax_enable_x64', True) "
            "before building the model (otherwise the arrays would silently be float32)."
        )
    return dt


def place(x: jax.Array | None, device: Any) -> jax.Array | None:
    """torch's ``device=`` factory argument: None keeps JAX's default placement."""
    if x is None or device is None:
        return x
    if isinstance(device, str):
        from .._module import _device_from_string

        device = _device_from_string(device)
    return jax.device_put(x, device)


def split_key(key: jax.Array | None, n: int) -> list[jax.Array]:
    """``n`` keys from ``key`` (or from the global stream when None)."""
    return list(jax.random.split(as_key(key), n))


def check_positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """Validate a size argument: an int > 0 (>= 0 with ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {what} int, got {value!r}.")
    return value


def check_prob(p: Any, name: str = "p") -> float:
    """A probability in [0, 1] (torch's dropout check)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r} ({name}).")
    return float(p)
