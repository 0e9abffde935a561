"""Tensor creation, dtype conversion and random draws under torch's names.

dtypes follow torch's inference: ``arange(5)`` and ``full(s, 1)`` are integers,
``zeros(s)`` is float32, ``*_like`` and ``new_*`` keep the input's dtype. torch's int64
is JAX's default integer (int32 unless ``jax_enable_x64`` is on, as everywhere in
jaxnn). ``device``, ``layout``, ``pin_memory``, ``memory_format`` and ``requires_grad``
are accepted and have no effect (placement is JAX's; every array can be differentiated).
Random draws take an explicit ``key`` (DESIGN rule 6): their distribution is torch's,
their bits cannot be.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._random import check_key
from ._shape import _dims

__all__ = [
    "tensor",
    "arange",
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "new_empty",
    "new_tensor",
    "to",
    "type_as",
    "float",
    "double",
    "half",
    "bfloat16",
    "int",
    "long",
    "bool",
    "rand",
    "randn",
    "rand_like",
    "randn_like",
    "bernoulli",
    "stochastic_depth",
]

_IGNORED = (
    "device",
    "layout",
    "pin_memory",
    "memory_format",
    "requires_grad",
    "non_blocking",
    "copy",
)


def _dtype(dtype: Any) -> Any:
    """A jnp dtype, with int64/float64 narrowed to JAX's defaults when x64 is off."""
    if dtype is None:
        return None
    return jax.dtypes.canonicalize_dtype(dtype)


def _default_int() -> Any:
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def _infer(value: Any) -> Any:
    """torch's dtype for a Python scalar: bool, int64, or the default float."""
    if isinstance(value, builtins.bool):
        return jnp.bool_
    if isinstance(value, builtins.int):
        return _default_int()
    if isinstance(value, builtins.float):
        return jnp.float32
    if isinstance(value, complex):
        return jnp.complex64
    return jnp.result_type(value)


def _check_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(_IGNORED))
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword arguments {unknown}.")


def tensor(data: Any, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.tensor``: an array from nested Python numbers (torch's dtype inference).

    >>> import jaxnn.ops as ops
    >>> ops.tensor([1, 2]).dtype, ops.tensor(1.5).dtype
    (dtype('int32'), dtype('float32'))
    """
    _check_kwargs("tensor", kwargs)
    if dtype is None:
        leaves = jax.tree_util.tree_leaves(data)
        if leaves and builtins.all(isinstance(v, builtins.bool) for v in leaves):
            dtype = jnp.bool_
        elif leaves and builtins.all(isinstance(v, builtins.int) for v in leaves):
            dtype = _default_int()
        elif leaves and builtins.all(isinstance(v, builtins.int | builtins.float) for v in leaves):
            dtype = jnp.float32
    return jnp.asarray(data, dtype=_dtype(dtype))


def arange(
    start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, **kwargs: Any
) -> jax.Array:
    """``torch.arange``: ``[start, end)`` in steps; integers unless a bound is a float.

    >>> import jaxnn.ops as ops
    >>> ops.arange(1, 7, 2).tolist(), ops.arange(2.0).dtype
    ([1, 3, 5], dtype('float32'))
    """
    _check_kwargs("arange", kwargs)
    if end is None:
        start, end = 0, start
    if dtype is None:
        bounds = (start, end, step)
        is_int = builtins.all(
            isinstance(v, builtins.int)
            or (hasattr(v, "dtype") and jnp.issubdtype(v.dtype, jnp.integer))
            for v in bounds
        )
        dtype = _default_int() if is_int else jnp.float32
    return jnp.arange(start, end, step, dtype=_dtype(dtype))


def zeros(*size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.zeros``: float32 unless ``dtype`` is given.

    >>> import jaxnn.ops as ops
    >>> ops.zeros(2, 3).shape
    (2, 3)
    """
    _check_kwargs("zeros", kwargs)
    return jnp.zeros(_dims(size, "zeros"), _dtype(dtype) or jnp.float32)


def ones(*size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.ones``: float32 unless ``dtype`` is given.

    >>> import jaxnn.ops as ops
    >>> ops.ones((2,)).tolist()
    [1.0, 1.0]
    """
    _check_kwargs("ones", kwargs)
    return jnp.ones(_dims(size, "ones"), _dtype(dtype) or jnp.float32)


def empty(*size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.empty``: torch leaves the memory uninitialised; here it is zeros.

    >>> import jaxnn.ops as ops
    >>> ops.empty(2).shape
    (2,)
    """
    _check_kwargs("empty", kwargs)
    return jnp.zeros(_dims(size, "empty"), _dtype(dtype) or jnp.float32)


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.full``: the dtype is inferred from ``fill_value`` (bool, int64, float32).

    >>> import jaxnn.ops as ops
    >>> ops.full((2,), 7).tolist(), ops.full((1,), 0.5).dtype
    ([7, 7], dtype('float32'))
    """
    _check_kwargs("full", kwargs)
    return jnp.full(_dims((size,), "full"), fill_value, _dtype(dtype) or _infer(fill_value))


def zeros_like(input: jax.Array, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.zeros_like``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.zeros_like(jnp.ones(2, jnp.int32)).tolist()
    [0, 0]
    """
    _check_kwargs("zeros_like", kwargs)
    return jnp.zeros(jnp.shape(input), _dtype(dtype) or jnp.result_type(input))


def ones_like(input: jax.Array, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.ones_like``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.ones_like(jnp.zeros(2)).tolist()
    [1.0, 1.0]
    """
    _check_kwargs("ones_like", kwargs)
    return jnp.ones(jnp.shape(input), _dtype(dtype) or jnp.result_type(input))


def empty_like(input: jax.Array, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.empty_like``: zeros here (torch leaves the memory uninitialised).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.empty_like(jnp.ones(2)).shape
    (2,)
    """
    return zeros_like(input, dtype=dtype, **kwargs)


def full_like(input: jax.Array, fill_value: Any, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.full_like``: ``input``'s shape and dtype, filled with ``fill_value``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.full_like(jnp.zeros(2), 3).tolist()
    [3.0, 3.0]
    """
    _check_kwargs("full_like", kwargs)
    return jnp.full(jnp.shape(input), fill_value, _dtype(dtype) or jnp.result_type(input))


def new_zeros(input: jax.Array, *size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``x.new_zeros(size)``: zeros of ``x``'s dtype.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.new_zeros(jnp.ones(1, jnp.int32), (2,)).tolist()
    [0, 0]
    """
    return zeros(*size, dtype=dtype or jnp.result_type(input), **kwargs)


def new_ones(input: jax.Array, *size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``x.new_ones(size)``: ones of ``x``'s dtype.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.new_ones(jnp.zeros(1), 2).tolist()
    [1.0, 1.0]
    """
    return ones(*size, dtype=dtype or jnp.result_type(input), **kwargs)


def new_empty(input: jax.Array, *size: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``x.new_empty(size)``: zeros of ``x``'s dtype (torch: uninitialised memory).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.new_empty(jnp.zeros(1), (2, 1)).shape
    (2, 1)
    """
    return zeros(*size, dtype=dtype or jnp.result_type(input), **kwargs)


def new_full(
    input: jax.Array, size: Sequence[int], fill_value: Any, *, dtype: Any = None, **kwargs: Any
) -> jax.Array:
    """``x.new_full(size, fill_value)``: of ``x``'s dtype.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.new_full(jnp.zeros(1), (2,), 5).tolist()
    [5.0, 5.0]
    """
    return full(size, fill_value, dtype=dtype or jnp.result_type(input), **kwargs)


def new_tensor(input: jax.Array, data: Any, *, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``x.new_tensor(data)``: ``data`` as an array of ``x``'s dtype.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.new_tensor(jnp.zeros(1), [1, 2]).tolist()
    [1.0, 2.0]
    """
    _check_kwargs("new_tensor", kwargs)
    return jnp.asarray(data, dtype=_dtype(dtype) or jnp.result_type(input))


def _is_dtype(x: Any) -> builtins.bool:
    if isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic)):
        return True
    if isinstance(x, str | None) or hasattr(x, "shape"):
        return False
    try:
        jnp.dtype(x)
    except TypeError:
        return False
    return True


def to(input: jax.Array, *args: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``x.to(...)``: a cast when a dtype (or another tensor, whose dtype is taken) is
    given; devices, ``copy`` and ``non_blocking`` are accepted and have no effect.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.to(jnp.ones(2), jnp.int32).dtype, ops.to(jnp.ones(2), "cpu").dtype
    (dtype('int32'), dtype('float32'))
    """
    kwargs.pop("device", None)
    _check_kwargs("to", kwargs)
    for a in args:
        if _is_dtype(a):
            dtype = a
        elif hasattr(a, "dtype") and hasattr(a, "shape"):
            dtype = a.dtype
        elif not (a is None or isinstance(a, str | builtins.bool) or type(a).__name__ == "Device"):
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}.")
    if dtype is None:
        return input
    return jnp.asarray(input).astype(_dtype(dtype))


def type_as(input: jax.Array, other: jax.Array) -> jax.Array:
    """``x.type_as(other)``: cast to ``other``'s dtype.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.type_as(jnp.ones(2), jnp.zeros(1, jnp.int32)).dtype
    dtype('int32')
    """
    return jnp.asarray(input).astype(jnp.result_type(other))


def _cast(name: str, dtype: Any) -> Any:
    def op(input: jax.Array, memory_format: Any = None) -> jax.Array:
        return jnp.asarray(input).astype(_dtype(dtype))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"``x.{name}()``: cast to {jnp.dtype(dtype).name}"
        + (" (int32 unless jax_enable_x64 is on)" if name in ("long", "double") else "")
        + f".\n\n    >>> import jax.numpy as jnp, jaxnn.ops as ops\n"
        f"    >>> ops.{name}(jnp.zeros(1)).shape\n    (1,)\n"
    )
    return op


float = _cast("float", jnp.float32)
double = _cast("double", jnp.float64)
half = _cast("half", jnp.float16)
bfloat16 = _cast("bfloat16", jnp.bfloat16)
int = _cast("int", jnp.int32)
long = _cast("long", jnp.int64)
bool = _cast("bool", jnp.bool_)


def _key(key: Any, name: str) -> jax.Array:
    if key is None:
        raise ValueError(
            f"{name}() draws random numbers and needs key=jax.random.key(...); jaxnn has no "
            f"global random state in computations."
        )
    return check_key(key)


def rand(*size: Any, key: Any = None, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.rand``: uniform on ``[0, 1)``; needs ``key``.

    >>> import jax, jaxnn.ops as ops
    >>> ops.rand(2, 3, key=jax.random.key(0)).shape
    (2, 3)
    """
    _check_kwargs("rand", kwargs)
    return jax.random.uniform(_key(key, "rand"), _dims(size, "rand"), _dtype(dtype) or jnp.float32)


def randn(*size: Any, key: Any = None, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.randn``: standard normal; needs ``key``.

    >>> import jax, jaxnn.ops as ops
    >>> ops.randn(4, key=jax.random.key(0)).shape
    (4,)
    """
    _check_kwargs("randn", kwargs)
    return jax.random.normal(_key(key, "randn"), _dims(size, "randn"), _dtype(dtype) or jnp.float32)


def rand_like(input: jax.Array, *, key: Any = None, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.rand_like``: uniform on ``[0, 1)`` with ``input``'s shape and dtype.

    >>> import jax, jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.rand_like(jnp.zeros(3), key=jax.random.key(0)).shape
    (3,)
    """
    return rand(jnp.shape(input), key=key, dtype=dtype or jnp.result_type(input), **kwargs)


def randn_like(input: jax.Array, *, key: Any = None, dtype: Any = None, **kwargs: Any) -> jax.Array:
    """``torch.randn_like``: standard normal with ``input``'s shape and dtype.

    >>> import jax, jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.randn_like(jnp.zeros(3), key=jax.random.key(0)).shape
    (3,)
    """
    return randn(jnp.shape(input), key=key, dtype=dtype or jnp.result_type(input), **kwargs)


def bernoulli(input: jax.Array, p: Any = None, *, key: Any = None) -> jax.Array:
    """``torch.bernoulli``: 1 with probability ``input`` (elementwise), or with
    probability ``p`` in ``input``'s shape (``x.bernoulli_(p)``); ``input``'s dtype.

    >>> import jax, jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.bernoulli(jnp.array([0.0, 1.0]), key=jax.random.key(0)).tolist()
    [0.0, 1.0]
    """
    probs = input if p is None else jnp.full(jnp.shape(input), p, jnp.result_type(input))
    draw = jax.random.bernoulli(_key(key, "bernoulli"), probs)
    return draw.astype(jnp.result_type(input))


def stochastic_depth(
    input: jax.Array,
    p: builtins.float,
    mode: str,
    training: builtins.bool = True,
    *,
    key: Any = None,
) -> jax.Array:
    """``torchvision.ops.stochastic_depth``: drop whole residual branches with probability
    ``p``, per sample (``mode='row'``) or for the batch (``'batch'``); survivors are
    scaled by ``1 / (1 - p)``. Needs ``key`` in training when ``0 < p``.

    >>> import jax, jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.stochastic_depth(jnp.ones((4, 2)), 0.5, "row", key=jax.random.key(0)).shape
    (4, 2)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ("batch", "row"):
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    survival = 1.0 - p
    shape = (
        (jnp.shape(input)[0],) + (1,) * (jnp.ndim(input) - 1)
        if mode == "row"
        else (1,) * jnp.ndim(input)
    )
    noise = jax.random.bernoulli(_key(key, "stochastic_depth"), survival, shape)
    noise = noise.astype(jnp.result_type(input))
    if survival > 0.0:
        noise = noise / survival
    return input * noise
