"""Arithmetic, reductions, comparisons and matrix products under torch's names.

Where torch and ``jax.numpy`` differ, these follow torch: ``div(rounding_mode=...)``,
``max(x, dim)`` returning ``(values, indices)``, ``var``'s unbiased default, ``sum`` of
booleans and integers giving the default integer type, ``clamp`` with either bound.
"""

from __future__ import annotations

import ast
from collections import namedtuple
from typing import Any

import jax
import jax.numpy as jnp

from ._shape import _dim, promote_ranks

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "true_divide",
    "floor_divide",
    "remainder",
    "fmod",
    "neg",
    "pow",
    "abs",
    "sqrt",
    "rsqrt",
    "square",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log2",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "erf",
    "reciprocal",
    "sign",
    "floor",
    "ceil",
    "round",
    "trunc",
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "maximum",
    "minimum",
    "lerp",
    "addcmul",
    "addcdiv",
    "matmul",
    "mm",
    "bmm",
    "addmm",
    "baddbmm",
    "einsum",
    "outer",
    "sum",
    "mean",
    "prod",
    "var",
    "std",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "cumsum",
    "cumprod",
    "logsumexp",
    "norm",
    "any",
    "all",
    "diff",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "isnan",
    "isinf",
    "isfinite",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
]

_MinMax = namedtuple("_MinMax", ["values", "indices"])


def _reduce_axes(input: Any, dim: Any) -> Any:
    """torch's ``dim`` (None, an int, or a sequence; ``()`` means all) -> jnp ``axis``."""
    nd = jnp.ndim(input)
    if dim is None:
        return None
    if isinstance(dim, int):
        return _dim(dim, nd)
    dims = tuple(dim)
    return tuple(_dim(d, nd) for d in dims) if dims else None


def _is_int_like(x: Any) -> bool:
    dt = jnp.result_type(x)
    return jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.bool_)


def add(input: Any, other: Any, *, alpha: Any = 1) -> jax.Array:
    """``torch.add``: ``input + alpha * other``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.add(jnp.ones(2), jnp.ones(2), alpha=2).tolist()
    [3.0, 3.0]
    """
    return jnp.add(*promote_ranks(input, other if alpha == 1 else jnp.multiply(other, alpha)))


def sub(input: Any, other: Any, *, alpha: Any = 1) -> jax.Array:
    """``torch.sub``: ``input - alpha * other``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.sub(jnp.ones(2), 2.0).tolist()
    [-1.0, -1.0]
    """
    return jnp.subtract(*promote_ranks(input, other if alpha == 1 else jnp.multiply(other, alpha)))


def mul(input: Any, other: Any) -> jax.Array:
    """``torch.mul``: elementwise product (broadcasting).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.mul(jnp.array([1.0, 2.0]), 3).tolist()
    [3.0, 6.0]
    """
    return jnp.multiply(*promote_ranks(input, other))


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> jax.Array:
    """``torch.div``: true division, or rounded with ``rounding_mode='trunc'|'floor'``.

    Integer inputs give a float result without a rounding mode, as in torch.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.div(jnp.array([-7, 7]), 2, rounding_mode="trunc").tolist()
    [-3, 3]
    """
    input, other = promote_ranks(input, other)
    if rounding_mode is None:
        return jnp.true_divide(input, other)
    if rounding_mode == "floor":
        return jnp.floor_divide(input, other)
    if rounding_mode == "trunc":
        if _is_int_like(input) and _is_int_like(other):
            q = jnp.floor_divide(input, other)
            # floor and trunc differ where the signs differ and the division is inexact.
            fix = (jnp.remainder(input, other) != 0) & ((input < 0) != (jnp.asarray(other) < 0))
            return q + fix.astype(q.dtype)
        return jnp.trunc(jnp.true_divide(input, other))
    raise ValueError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
        f"{rounding_mode!r}"
    )


def true_divide(input: Any, other: Any) -> jax.Array:
    """``torch.true_divide``: ``div`` without rounding.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.true_divide(jnp.array([1, 2]), 2).tolist()
    [0.5, 1.0]
    """
    return jnp.true_divide(*promote_ranks(input, other))


def floor_divide(input: Any, other: Any) -> jax.Array:
    """``torch.floor_divide`` (``//``): division rounded toward minus infinity.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.floor_divide(jnp.array([-7, 7]), 2).tolist()
    [-4, 3]
    """
    return jnp.floor_divide(*promote_ranks(input, other))


def remainder(input: Any, other: Any) -> jax.Array:
    """``torch.remainder`` (``%``): the result has the sign of the divisor.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.remainder(jnp.array([-3, 3]), 2).tolist()
    [1, 1]
    """
    return jnp.remainder(*promote_ranks(input, other))


def fmod(input: Any, other: Any) -> jax.Array:
    """``torch.fmod``: the result has the sign of the dividend.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.fmod(jnp.array([-3, 3]), 2).tolist()
    [-1, 1]
    """
    return jnp.fmod(*promote_ranks(input, other))


def _unary(name: str, fn: Any, example: str) -> Any:
    def op(input: jax.Array) -> jax.Array:
        return fn(input)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"``torch.{name}``: elementwise.\n\n"
        f"    >>> import jax.numpy as jnp, jaxnn.ops as ops\n"
        f"    >>> [f'{{v:.4f}}' for v in ops.{name}(jnp.array([0.5, 2.0])).tolist()]\n"
        f"    {[f'{v:.4f}' for v in ast.literal_eval(example)]}\n"
    )
    return op


neg = _unary("neg", jnp.negative, "[-0.5, -2.0]")
abs = _unary("abs", jnp.abs, "[0.5, 2.0]")
sqrt = _unary("sqrt", jnp.sqrt, "[0.7071, 1.4142]")
rsqrt = _unary("rsqrt", jax.lax.rsqrt, "[1.4142, 0.7071]")
square = _unary("square", jnp.square, "[0.25, 4.0]")
exp = _unary("exp", jnp.exp, "[1.6487, 7.3891]")
expm1 = _unary("expm1", jnp.expm1, "[0.6487, 6.3891]")
log = _unary("log", jnp.log, "[-0.6931, 0.6931]")
log1p = _unary("log1p", jnp.log1p, "[0.4055, 1.0986]")
log2 = _unary("log2", jnp.log2, "[-1.0, 1.0]")
sin = _unary("sin", jnp.sin, "[0.4794, 0.9093]")
cos = _unary("cos", jnp.cos, "[0.8776, -0.4161]")
tanh = _unary("tanh", jnp.tanh, "[0.4621, 0.964]")
sigmoid = _unary("sigmoid", jax.nn.sigmoid, "[0.6225, 0.8808]")
erf = _unary("erf", jax.scipy.special.erf, "[0.5205, 0.9953]")
reciprocal = _unary("reciprocal", jnp.reciprocal, "[2.0, 0.5]")
sign = _unary("sign", jnp.sign, "[1.0, 1.0]")
floor = _unary("floor", jnp.floor, "[0.0, 2.0]")
ceil = _unary("ceil", jnp.ceil, "[1.0, 2.0]")
round = _unary("round", jnp.round, "[0.0, 2.0]")
trunc = _unary("trunc", jnp.trunc, "[0.0, 2.0]")


def pow(input: Any, exponent: Any) -> jax.Array:
    """``torch.pow``: ``input ** exponent`` elementwise.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.pow(jnp.array([2.0, 3.0]), 2).tolist()
    [4.0, 9.0]
    """
    return jnp.power(*promote_ranks(input, exponent))


def clamp(input: jax.Array, min: Any = None, max: Any = None) -> jax.Array:
    """``torch.clamp``: limit to ``[min, max]`` (either may be None, not both).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.clamp(jnp.array([-2.0, 0.5, 2.0]), min=0.0).tolist()
    [0.0, 0.5, 2.0]
    """
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    out, min, max = promote_ranks(input, min, max)
    if min is not None:
        out = jnp.maximum(out, min)
    if max is not None:
        out = jnp.minimum(out, max)
    return out


clip = clamp


def clamp_min(input: jax.Array, min: Any) -> jax.Array:
    """``torch.clamp_min``: ``max(input, min)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.clamp_min(jnp.array([-1.0, 1.0]), 0.0).tolist()
    [0.0, 1.0]
    """
    return jnp.maximum(*promote_ranks(input, min))


def clamp_max(input: jax.Array, max: Any) -> jax.Array:
    """``torch.clamp_max``: ``min(input, max)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.clamp_max(jnp.array([-1.0, 1.0]), 0.0).tolist()
    [-1.0, 0.0]
    """
    return jnp.minimum(*promote_ranks(input, max))


def maximum(input: Any, other: Any) -> jax.Array:
    """``torch.maximum``: elementwise maximum (NaN propagates).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.maximum(jnp.array([1.0, 3.0]), jnp.array([2.0, 2.0])).tolist()
    [2.0, 3.0]
    """
    return jnp.maximum(*promote_ranks(input, other))


def minimum(input: Any, other: Any) -> jax.Array:
    """``torch.minimum``: elementwise minimum (NaN propagates).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.minimum(jnp.array([1.0, 3.0]), jnp.array([2.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    return jnp.minimum(*promote_ranks(input, other))


def lerp(input: Any, end: Any, weight: Any) -> jax.Array:
    """``torch.lerp``: ``input + weight * (end - input)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.lerp(jnp.zeros(2), jnp.ones(2), 0.25).tolist()
    [0.25, 0.25]
    """
    input, end, weight = promote_ranks(input, end, weight)
    return input + weight * (end - input)


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> jax.Array:
    """``torch.addcmul``: ``input + value * tensor1 * tensor2``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.addcmul(jnp.ones(2), jnp.ones(2), jnp.full(2, 3.0), value=0.5).tolist()
    [2.5, 2.5]
    """
    input, tensor1, tensor2 = promote_ranks(input, tensor1, tensor2)
    return input + value * tensor1 * tensor2


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> jax.Array:
    """``torch.addcdiv``: ``input + value * tensor1 / tensor2``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.addcdiv(jnp.ones(2), jnp.ones(2), jnp.full(2, 4.0), value=2).tolist()
    [1.5, 1.5]
    """
    input, tensor1, tensor2 = promote_ranks(input, tensor1, tensor2)
    return input + value * tensor1 / tensor2


def matmul(input: jax.Array, other: jax.Array) -> jax.Array:
    """``torch.matmul`` (``@``): matrix product with torch's 1-d and batch rules.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.matmul(jnp.ones((4, 2, 3)), jnp.ones(3)).shape
    (4, 2)
    """
    if jnp.ndim(input) >= 2 and jnp.ndim(other) >= 2:
        input, other = promote_ranks(input, other)
    return jnp.matmul(input, other)


def mm(input: jax.Array, mat2: jax.Array) -> jax.Array:
    """``torch.mm``: product of two matrices (2-d only).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.mm(jnp.ones((2, 3)), jnp.ones((3, 4))).shape
    (2, 4)
    """
    if jnp.ndim(input) != 2 or jnp.ndim(mat2) != 2:
        raise RuntimeError(
            f"mm: both arguments must be 2-d, got {jnp.ndim(input)}-d and {jnp.ndim(mat2)}-d"
        )
    return jnp.matmul(input, mat2)


def bmm(input: jax.Array, mat2: jax.Array) -> jax.Array:
    """``torch.bmm``: batched product of ``(b, n, m)`` and ``(b, m, p)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.bmm(jnp.ones((5, 2, 3)), jnp.ones((5, 3, 4))).shape
    (5, 2, 4)
    """
    if jnp.ndim(input) != 3 or jnp.ndim(mat2) != 3:
        raise RuntimeError(
            f"bmm: both arguments must be 3-d, got {jnp.ndim(input)}-d and {jnp.ndim(mat2)}-d"
        )
    return jnp.matmul(input, mat2)


def _scaled_sum(input: Any, product: jax.Array, beta: Any, alpha: Any) -> jax.Array:
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # torch ignores input entirely (NaN/inf in it do not propagate)
        return product
    return jnp.add(*promote_ranks(product, input if beta == 1 else beta * input))


def addmm(
    input: Any, mat1: jax.Array, mat2: jax.Array, *, beta: Any = 1, alpha: Any = 1
) -> jax.Array:
    """``torch.addmm``: ``beta * input + alpha * (mat1 @ mat2)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.addmm(jnp.ones(4), jnp.ones((2, 3)), jnp.ones((3, 4))).tolist()[0]
    [4.0, 4.0, 4.0, 4.0]
    """
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def baddbmm(
    input: Any, batch1: jax.Array, batch2: jax.Array, *, beta: Any = 1, alpha: Any = 1
) -> jax.Array:
    """``torch.baddbmm``: ``beta * input + alpha * (batch1 @ batch2)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.baddbmm(jnp.zeros((1, 2, 4)), jnp.ones((5, 2, 3)), jnp.ones((5, 3, 4)), beta=0).shape
    (5, 2, 4)
    """
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def einsum(equation: str, *operands: Any) -> jax.Array:
    """``torch.einsum``: operands as varargs or one list.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.einsum("ij,jk->ik", jnp.ones((2, 3)), jnp.ones((3, 4))).shape
    (2, 4)
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    return jnp.einsum(equation, *operands)


def outer(input: jax.Array, vec2: jax.Array) -> jax.Array:
    """``torch.outer``: outer product of two vectors.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.outer(jnp.ones(2), jnp.ones(3)).shape
    (2, 3)
    """
    return jnp.outer(input, vec2)


def _sum_dtype(input: Any, dtype: Any) -> Any:
    # torch sums booleans and integers in int64 (jaxnn: the default integer type).
    if dtype is None and _is_int_like(input):
        return jnp.dtype(int) if jax.config.jax_enable_x64 else jnp.int32
    return dtype


def sum(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> jax.Array:
    """``torch.sum``: over all elements, or ``dim`` (an int or a tuple).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.sum(jnp.ones((2, 3)), 1, keepdim=True).shape
    (2, 1)
    """
    return jnp.sum(
        input, _reduce_axes(input, dim), dtype=_sum_dtype(input, dtype), keepdims=keepdim
    )


def mean(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> jax.Array:
    """``torch.mean``: over all elements, or ``dim`` (an int or a tuple).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.mean(jnp.arange(6.0).reshape(2, 3), (0, 1)).tolist()
    2.5
    """
    if dtype is None and _is_int_like(input):
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {jnp.result_type(input)}; cast it or pass dtype=."
        )
    return jnp.mean(input, _reduce_axes(input, dim), dtype=dtype, keepdims=keepdim)


def prod(
    input: Any, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None
) -> jax.Array:
    """``torch.prod``: product over all elements or one ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.prod(jnp.array([2.0, 3.0])).tolist()
    6.0
    """
    return jnp.prod(
        input, _reduce_axes(input, dim), dtype=_sum_dtype(input, dtype), keepdims=keepdim
    )


def _correction(unbiased: Any, correction: Any) -> Any:
    if correction is not None:
        return correction
    if isinstance(unbiased, bool) or unbiased is None:
        return 1 if unbiased in (None, True) else 0
    return unbiased


def var(
    input: jax.Array,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> jax.Array:
    """``torch.var``: unbiased (``correction=1``) by default, as in torch.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.var(jnp.array([1.0, 2.0, 3.0])).tolist()
    1.0
    """
    return jnp.var(
        input, _reduce_axes(input, dim), ddof=_correction(unbiased, correction), keepdims=keepdim
    )


def std(
    input: jax.Array,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> jax.Array:
    """``torch.std``: unbiased (``correction=1``) by default, as in torch.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.std(jnp.array([1.0, 2.0, 3.0])).tolist()
    1.0
    """
    return jnp.std(
        input, _reduce_axes(input, dim), ddof=_correction(unbiased, correction), keepdims=keepdim
    )


def _minmax(name: str, input: Any, dim: Any, keepdim: bool) -> Any:
    reduce = jnp.max if name == "max" else jnp.min
    arg = jnp.argmax if name == "max" else jnp.argmin
    if dim is None:
        return reduce(input)
    if not isinstance(dim, int):  # torch.max(x, other): elementwise
        return (jnp.maximum if name == "max" else jnp.minimum)(*promote_ranks(input, dim))
    d = _dim(dim, jnp.ndim(input))
    values = reduce(input, axis=d, keepdims=keepdim)
    indices = arg(input, axis=d, keepdims=keepdim)
    return _MinMax(values, indices)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """``torch.max``: the maximum; with ``dim``, ``(values, indices)``; with a tensor,
    the elementwise maximum.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.max(jnp.array([[1, 5], [7, 2]]), 1).indices.tolist()
    [1, 0]
    """
    return _minmax("max", input, dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """``torch.min``: the minimum; with ``dim``, ``(values, indices)``; with a tensor,
    the elementwise minimum.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.min(jnp.array([[1, 5], [7, 2]]), 1).values.tolist()
    [1, 2]
    """
    return _minmax("min", input, dim, keepdim)


def amax(input: Any, dim: Any = (), keepdim: bool = False) -> jax.Array:
    """``torch.amax``: maximum over ``dim`` (``()``: all dimensions).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.amax(jnp.array([[1, 5], [7, 2]]), 0).tolist()
    [7, 5]
    """
    return jnp.max(input, _reduce_axes(input, dim), keepdims=keepdim)


def amin(input: Any, dim: Any = (), keepdim: bool = False) -> jax.Array:
    """``torch.amin``: minimum over ``dim`` (``()``: all dimensions).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.amin(jnp.array([[1, 5], [7, 2]]), 0).tolist()
    [1, 2]
    """
    return jnp.min(input, _reduce_axes(input, dim), keepdims=keepdim)


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> jax.Array:
    """``torch.argmax``: index of the maximum (of the flattened input without ``dim``).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.argmax(jnp.array([[1, 5], [7, 2]]), dim=1).tolist()
    [1, 0]
    """
    if dim is None:
        out = jnp.argmax(jnp.ravel(input))
        return jnp.reshape(out, (1,) * jnp.ndim(input)) if keepdim else out
    return jnp.argmax(input, _dim(dim, jnp.ndim(input)), keepdims=keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> jax.Array:
    """``torch.argmin``: index of the minimum (of the flattened input without ``dim``).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.argmin(jnp.array([[1, 5], [7, 2]]), dim=1).tolist()
    [0, 1]
    """
    if dim is None:
        out = jnp.argmin(jnp.ravel(input))
        return jnp.reshape(out, (1,) * jnp.ndim(input)) if keepdim else out
    return jnp.argmin(input, _dim(dim, jnp.ndim(input)), keepdims=keepdim)


def cumsum(input: Any, dim: int, *, dtype: Any = None) -> jax.Array:
    """``torch.cumsum``: running sum along ``dim`` (integers and booleans in the default
    integer type, as torch's int64).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.cumsum(jnp.array([1, 2, 3]), 0).tolist()
    [1, 3, 6]
    """
    return jnp.cumsum(input, _dim(dim, jnp.ndim(input)), dtype=_sum_dtype(input, dtype))


def cumprod(input: Any, dim: int, *, dtype: Any = None) -> jax.Array:
    """``torch.cumprod``: running product along ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.cumprod(jnp.array([1.0, 2.0, 3.0]), 0).tolist()
    [1.0, 2.0, 6.0]
    """
    return jnp.cumprod(input, _dim(dim, jnp.ndim(input)), dtype=_sum_dtype(input, dtype))


def logsumexp(input: jax.Array, dim: Any, keepdim: bool = False) -> jax.Array:
    """``torch.logsumexp``: ``log(sum(exp(x)))`` over ``dim``, computed stably.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> f"{float(ops.logsumexp(jnp.zeros(4), 0)):.4f}"
    '1.3863'
    """
    return jax.nn.logsumexp(input, _reduce_axes(input, dim), keepdims=keepdim)


def norm(input: jax.Array, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> jax.Array:
    """``torch.norm``: the vector p-norm over ``dim`` (all elements by default; ``'fro'``
    is the 2-norm of the flattened values).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.norm(jnp.array([3.0, 4.0])).tolist()
    5.0
    """
    if p == "fro" or p is None:
        p = 2
    axes = _reduce_axes(input, dim)
    if p == float("inf"):
        return jnp.max(jnp.abs(input), axes, keepdims=keepdim)
    if p == 2:
        return jnp.sqrt(jnp.sum(jnp.square(input), axes, keepdims=keepdim))
    return jnp.sum(jnp.abs(input) ** p, axes, keepdims=keepdim) ** (1.0 / p)


def any(input: Any, dim: Any = None, keepdim: bool = False) -> jax.Array:
    """``torch.any``: is any element truthy (over ``dim``)?

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.any(jnp.array([0, 1])).tolist()
    True
    """
    return jnp.any(input, _reduce_axes(input, dim), keepdims=keepdim)


def all(input: Any, dim: Any = None, keepdim: bool = False) -> jax.Array:
    """``torch.all``: are all elements truthy (over ``dim``)?

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.all(jnp.array([0, 1])).tolist()
    False
    """
    return jnp.all(input, _reduce_axes(input, dim), keepdims=keepdim)


def diff(
    input: jax.Array, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None
) -> jax.Array:
    """``torch.diff``: the ``n``-th forward difference along ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.diff(jnp.array([1, 4, 9])).tolist()
    [3, 5]
    """
    kwargs = {}
    if prepend is not None:
        kwargs["prepend"] = prepend
    if append is not None:
        kwargs["append"] = append
    return jnp.diff(input, n=n, axis=_dim(dim, jnp.ndim(input)), **kwargs)


def _binary(name: str, fn: Any, example: str) -> Any:
    def op(input: Any, other: Any) -> jax.Array:
        return fn(*promote_ranks(input, other))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"``torch.{name}``: elementwise, broadcasting.\n\n"
        f"    >>> import jax.numpy as jnp, jaxnn.ops as ops\n"
        f"    >>> ops.{name}(jnp.array([1, 2, 3]), 2).tolist()\n"
        f"    {example}\n"
    )
    return op


eq = _binary("eq", jnp.equal, "[False, True, False]")
ne = _binary("ne", jnp.not_equal, "[True, False, True]")
lt = _binary("lt", jnp.less, "[True, False, False]")
le = _binary("le", jnp.less_equal, "[True, True, False]")
gt = _binary("gt", jnp.greater, "[False, False, True]")
ge = _binary("ge", jnp.greater_equal, "[False, True, True]")
logical_and = _binary("logical_and", jnp.logical_and, "[True, True, True]")
logical_or = _binary("logical_or", jnp.logical_or, "[True, True, True]")
logical_xor = _binary("logical_xor", jnp.logical_xor, "[False, False, False]")
bitwise_and = _binary("bitwise_and", jnp.bitwise_and, "[0, 2, 2]")
bitwise_or = _binary("bitwise_or", jnp.bitwise_or, "[3, 2, 3]")
bitwise_xor = _binary("bitwise_xor", jnp.bitwise_xor, "[3, 0, 1]")


def logical_not(input: Any) -> jax.Array:
    """``torch.logical_not``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.logical_not(jnp.array([0, 2])).tolist()
    [True, False]
    """
    return jnp.logical_not(input)


def bitwise_not(input: Any) -> jax.Array:
    """``torch.bitwise_not`` (``~``): logical not for booleans, bit flip for integers.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.bitwise_not(jnp.array([True, False])).tolist()
    [False, True]
    """
    return jnp.invert(input)


def isnan(input: Any) -> jax.Array:
    """``torch.isnan``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.isnan(jnp.array([1.0, jnp.nan])).tolist()
    [False, True]
    """
    return jnp.isnan(input)


def isinf(input: Any) -> jax.Array:
    """``torch.isinf``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.isinf(jnp.array([1.0, jnp.inf])).tolist()
    [False, True]
    """
    return jnp.isinf(input)


def isfinite(input: Any) -> jax.Array:
    """``torch.isfinite``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.isfinite(jnp.array([1.0, jnp.inf])).tolist()
    [True, False]
    """
    return jnp.isfinite(input)
