"""The softmax family and ``glu``: activations that reduce or split along a dimension.

Re-exported by ``_activation``. ``dim=None`` follows torch's deprecated implicit choice
(dim 0 for 0-, 1- and 3-d inputs, else dim 1) and warns like torch does. Half-precision
inputs are computed in float32 and cast back, as torch's CPU kernels accumulate in float.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ._utils import normalize_dim

__all__ = ["glu", "softmax", "log_softmax", "softmin"]


def _softmax_dim(name: str, input: jax.Array, dim: int | None, stacklevel: int) -> int:
    if dim is None:
        # torch's _get_softmax_dim: the deprecated implicit choice, with its warning.
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=stacklevel,
        )
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return normalize_dim(dim, input.ndim)


def _check_float(name: str, input: jax.Array, dtype: Any) -> None:
    target = input.dtype if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(target, jnp.floating):
        raise TypeError(
            f"{name}() needs a floating-point input, got dtype {target}; "
            f"pass dtype=jnp.float32 to cast before the {name}."
        )


@partial(jax.jit, static_argnames=("dim", "log", "negate", "dtype"))
def _run(input: jax.Array, dim: int, log: bool, negate: bool, dtype: Any) -> jax.Array:
    """(log-)softmax of ``±input`` cast to ``dtype``, in float32 for half types.

    A 0-d input is treated as a 1-element vector.
    """
    x = input if dtype is None else input.astype(dtype)
    x = -x if negate else x
    fn = jax.nn.log_softmax if log else jax.nn.softmax
    out_dtype = x.dtype
    if jnp.finfo(out_dtype).bits < 32:
        x = x.astype(jnp.float32)
    if x.ndim == 0:
        return fn(x[None], axis=0)[0].astype(out_dtype)
    return fn(x, axis=dim).astype(out_dtype)


def softmax(
    input: jax.Array, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> jax.Array:
    r""":math:`\text{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}` along ``dim``.

    Args:
        input: any shape.
        dim: the dimension that sums to 1. ``None`` is torch's deprecated implicit choice
            (0 for 0-, 1- and 3-d inputs, else 1) and warns; pass it explicitly.
        _stacklevel: where the implicit-dim warning points, as in torch.
        dtype: if given, the input is cast to it before the operation (e.g. ``jnp.float32``
            for an integer input, or to compute a bfloat16 input in float32).

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.softmax(jnp.array([0.0, 0.0, jnp.log(2.0)]), dim=0)
    Array([0.25, 0.25, 0.5 ], dtype=float32)
    """
    dim = _softmax_dim("softmax", input, dim, _stacklevel)
    _check_float("softmax", input, dtype)
    return _run(input, dim, False, False, dtype)


def log_softmax(
    input: jax.Array, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> jax.Array:
    r""":math:`\log \text{softmax}(x)_i = x_i - \log \sum_j e^{x_j}` along ``dim``, computed stably.

    Args:
        input: any shape.
        dim: the dimension to normalise over; ``None`` is torch's deprecated implicit choice
            (0 for 0-, 1- and 3-d inputs, else 1) and warns.
        _stacklevel: where the implicit-dim warning points, as in torch.
        dtype: if given, the input is cast to it before the operation.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.log_softmax(jnp.array([1.0, 1.0]), dim=0).round(4)
    Array([-0.6931, -0.6931], dtype=float32)
    """
    dim = _softmax_dim("log_softmax", input, dim, _stacklevel)
    _check_float("log_softmax", input, dtype)
    return _run(input, dim, True, False, dtype)


def softmin(
    input: jax.Array, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> jax.Array:
    r""":math:`\text{softmin}(x) = \text{softmax}(-x)` along ``dim``.

    Args:
        input: any shape.
        dim: the dimension that sums to 1; ``None`` is torch's deprecated implicit choice
            (0 for 0-, 1- and 3-d inputs, else 1) and warns.
        _stacklevel: where the implicit-dim warning points, as in torch.
        dtype: if given, the input is cast to it before the operation.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> [round(v, 4) for v in F.softmin(jnp.array([0.0, jnp.log(3.0)]), dim=0).tolist()]
    [0.75, 0.25]
    """
    dim = _softmax_dim("softmin", input, dim, _stacklevel)
    _check_float("softmin", input, dtype)
    return _run(input, dim, False, True, dtype)


@partial(jax.jit, static_argnames=("dim",))
def glu(input: jax.Array, dim: int = -1) -> jax.Array:
    r"""Gated linear unit: split ``input`` in halves :math:`a, b` along ``dim``; :math:`a \otimes \sigma(b)`.

    Args:
        input: at least 1-d; ``input.shape[dim]`` must be even.
        dim: the dimension to halve. Default -1.

    Shape:
        - Input: :math:`(*_1, N, *_2)`. Output: :math:`(*_1, N/2, *_2)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.glu(jnp.array([[1.0, 2.0, 0.0, 0.0]])).tolist()
    [[0.5, 1.0]]
    """
    if input.ndim == 0:
        raise ValueError(
            "glu does not support scalars because halving size must be even; "
            "pass an input with an even-sized dimension."
        )
    dim = normalize_dim(dim, input.ndim)
    size = input.shape[dim]
    if size % 2:
        raise ValueError(
            f"Halving dimension must be even, but dimension {dim} is size {size} "
            f"(input shape {input.shape}); choose a dim of even size."
        )
    a, b = jnp.split(input, 2, axis=dim)
    return a * jax.nn.sigmoid(b)
