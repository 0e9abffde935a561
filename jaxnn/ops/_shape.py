"""Shape, layout and indexing ops under torch's names and argument conventions.

torch spells the same op two ways: a method with varargs (``x.view(2, -1)``,
``x.permute(0, 2, 1)``) and a function with a tuple (``torch.permute(x, (0, 2, 1))``).
Each op here takes both. JAX arrays have no strides, so ``view`` never fails on a
non-contiguous input (torch raises there) and ``contiguous`` is the identity.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "size",
    "dim",
    "numel",
    "view",
    "reshape",
    "view_as",
    "reshape_as",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "t",
    "movedim",
    "unsqueeze",
    "squeeze",
    "expand",
    "expand_as",
    "repeat",
    "cat",
    "concat",
    "stack",
    "chunk",
    "split",
    "unbind",
    "narrow",
    "select",
    "slice",
    "index",
    "flip",
    "roll",
    "tril",
    "triu",
    "gather",
    "index_select",
    "masked_fill",
    "where",
    "contiguous",
    "clone",
    "detach",
]

_builtin_slice = slice


def _dims(args: tuple[Any, ...], name: str) -> tuple[int, ...]:
    """``(2, 3)`` or ``((2, 3),)`` -> ``(2, 3)``: torch's varargs-or-sequence convention."""
    if len(args) == 1 and isinstance(args[0], Sequence):
        args = tuple(args[0])
    try:
        return tuple(operator.index(a) for a in args)
    except TypeError:
        raise TypeError(
            f"{name}() takes ints (or one sequence of ints), got {args!r}; a traced array "
            f"cannot be a shape: use Python ints from x.shape."
        ) from None


def _dim(d: int, ndim: int, name: str = "dim") -> int:
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return d % n


def promote_ranks(*args: Any) -> tuple[Any, ...]:
    """Give array arguments equal rank by prepending size-1 dimensions (torch broadcasts
    ranks implicitly; jaxnn runs with ``jax_numpy_rank_promotion='raise'`` in tests)."""
    ranks = [jnp.ndim(a) for a in args if isinstance(a, jax.Array | np.ndarray)]
    if not ranks or min(ranks) == max(ranks):
        return args
    top = max(ranks)
    return tuple(
        jnp.reshape(a, (1,) * (top - jnp.ndim(a)) + jnp.shape(a))
        if isinstance(a, jax.Array | np.ndarray) and 0 < jnp.ndim(a) < top
        else a
        for a in args
    )


def size(input: jax.Array, dim: int | None = None) -> Any:
    """``x.size()`` (the shape, a tuple) or ``x.size(dim)`` (one int).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.size(jnp.zeros((2, 3))), ops.size(jnp.zeros((2, 3)), -1)
    ((2, 3), 3)
    """
    shape = tuple(jnp.shape(input))
    if dim is None:
        return shape
    if not shape:
        raise IndexError(f"size(dim={dim}) of a 0-d tensor: it has no dimensions.")
    return shape[_dim(dim, len(shape))]


def dim(input: jax.Array) -> int:
    """``x.dim()``: the number of dimensions.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.dim(jnp.zeros((2, 3)))
    2
    """
    return jnp.ndim(input)


def numel(input: jax.Array) -> int:
    """``x.numel()``: the number of elements.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.numel(jnp.zeros((2, 3)))
    6
    """
    return math.prod(jnp.shape(input))


def _infer_shape(shape: tuple[int, ...], total: int, name: str, input_shape: Any) -> tuple:
    if shape.count(-1) > 1:
        raise RuntimeError(f"{name}(): only one dimension can be inferred, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or total % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {total}")
        shape = tuple(total // known if s == -1 else s for s in shape)
    elif known != total:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {total}")
    return shape


def view(input: jax.Array, *shape: Any) -> jax.Array:
    """``x.view(*shape)``: the same elements in a new shape (``-1`` is inferred).

    torch raises for a non-contiguous input; JAX arrays have no strides, so this never
    does (it is ``reshape``). ``x.view(dtype)`` (a bit-cast) is not supported.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.view(jnp.arange(6), 2, -1).shape
    (2, 3)
    """
    if len(shape) == 1 and isinstance(shape[0], np.dtype | type):
        raise NotImplementedError(
            f"view(dtype={shape[0]}) reinterprets bits; use jax.lax.bitcast_convert_type."
        )
    dims = _dims(shape, "view")
    return jnp.reshape(input, _infer_shape(dims, numel(input), "view", jnp.shape(input)))


def reshape(input: jax.Array, *shape: Any) -> jax.Array:
    """``torch.reshape(x, shape)`` / ``x.reshape(*shape)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.reshape(jnp.arange(6), (3, 2)).shape
    (3, 2)
    """
    dims = _dims(shape, "reshape")
    return jnp.reshape(input, _infer_shape(dims, numel(input), "reshape", jnp.shape(input)))


def view_as(input: jax.Array, other: jax.Array) -> jax.Array:
    """``x.view_as(other)``: reshape to ``other``'s shape.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.view_as(jnp.arange(6), jnp.zeros((2, 3))).shape
    (2, 3)
    """
    return view(input, jnp.shape(other))


reshape_as = view_as


def flatten(input: jax.Array, start_dim: int = 0, end_dim: int = -1) -> jax.Array:
    """``torch.flatten``: merge dimensions ``start_dim..end_dim`` into one.

    A 0-d input becomes 1-d, as in torch.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.flatten(jnp.zeros((2, 3, 4)), 1).shape
    (2, 12)
    """
    shape = jnp.shape(input)
    if not shape:
        return jnp.reshape(input, (1,))
    s, e = _dim(start_dim, len(shape)), _dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return jnp.reshape(input, shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :])


def unflatten(input: jax.Array, dim: int, sizes: Sequence[int]) -> jax.Array:
    """``torch.unflatten``: split dimension ``dim`` into ``sizes`` (one may be ``-1``).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.unflatten(jnp.zeros((2, 12)), 1, (3, -1)).shape
    (2, 3, 4)
    """
    shape = jnp.shape(input)
    d = _dim(dim, len(shape))
    sizes = _infer_shape(tuple(sizes), shape[d], "unflatten", shape)
    return jnp.reshape(input, shape[:d] + tuple(sizes) + shape[d + 1 :])


def permute(input: jax.Array, *dims: Any) -> jax.Array:
    """``x.permute(*dims)`` / ``torch.permute(x, dims)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.permute(jnp.zeros((2, 3, 4)), 2, 0, 1).shape
    (4, 2, 3)
    """
    nd = jnp.ndim(input)
    axes = tuple(_dim(d, nd) for d in _dims(dims, "permute"))
    if sorted(axes) != list(range(nd)):
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match "
            f"the length of the desired ordering of dimensions: got dims {dims} for {nd}-d input"
        )
    return jnp.transpose(input, axes)


def transpose(input: jax.Array, dim0: int, dim1: int) -> jax.Array:
    """``torch.transpose``: swap two dimensions.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.transpose(jnp.zeros((2, 3, 4)), 0, -1).shape
    (4, 3, 2)
    """
    nd = jnp.ndim(input)
    if nd == 0:
        return input
    return jnp.swapaxes(input, _dim(dim0, nd), _dim(dim1, nd))


def t(input: jax.Array) -> jax.Array:
    """``x.t()``: transpose a matrix (0-d and 1-d inputs are returned as is).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.t(jnp.zeros((2, 3))).shape
    (3, 2)
    """
    if jnp.ndim(input) > 2:
        raise RuntimeError(
            f"t() expects a tensor with <= 2 dimensions, but self is {jnp.ndim(input)}D"
        )
    return input.T if jnp.ndim(input) == 2 else input


def movedim(input: jax.Array, source: Any, destination: Any) -> jax.Array:
    """``torch.movedim``: move dimension(s) ``source`` to position(s) ``destination``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.movedim(jnp.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    return jnp.moveaxis(input, source, destination)


def unsqueeze(input: jax.Array, dim: int) -> jax.Array:
    """``torch.unsqueeze``: insert a size-1 dimension at ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.unsqueeze(jnp.zeros((2, 3)), -1).shape
    (2, 3, 1)
    """
    nd = jnp.ndim(input) + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})"
        )
    return jnp.expand_dims(input, dim % nd)


def squeeze(input: jax.Array, dim: int | Sequence[int] | None = None) -> jax.Array:
    """``torch.squeeze``: drop size-1 dimensions (only those in ``dim`` if given).

    As in torch, a named dimension whose size is not 1 is left alone (``jnp.squeeze``
    would raise).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.squeeze(jnp.zeros((2, 1, 3)), (0, 1)).shape
    (2, 3)
    """
    shape = jnp.shape(input)
    if dim is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        axes = tuple(sorted({_dim(d, len(shape)) for d in dims}))
        axes = tuple(a for a in axes if shape and shape[a] == 1)
    return jnp.squeeze(input, axes) if axes else input


def expand(input: jax.Array, *sizes: Any) -> jax.Array:
    """``x.expand(*sizes)``: broadcast to ``sizes``; ``-1`` keeps a dimension.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.expand(jnp.zeros((3, 1)), 2, -1, 4).shape
    (2, 3, 4)
    """
    target = _dims(sizes, "expand")
    shape = jnp.shape(input)
    lead = len(target) - len(shape)
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(target)}) must be greater or equal "
            f"to the number of dimensions in the tensor ({len(shape)})"
        )
    out = []
    for i, s in enumerate(target):
        if s == -1:
            if i < lead:
                raise RuntimeError(
                    f"expand: -1 is not allowed in a leading, non-existing dimension {i}"
                )
            s = shape[i - lead]
        elif i >= lead and shape[i - lead] != 1 and shape[i - lead] != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size "
                f"({shape[i - lead]}) at non-singleton dimension {i}.  Target sizes: "
                f"{list(target)}.  Tensor sizes: {list(shape)}"
            )
        out.append(s)
    return jnp.broadcast_to(input, tuple(out))


def expand_as(input: jax.Array, other: jax.Array) -> jax.Array:
    """``x.expand_as(other)``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.expand_as(jnp.zeros(3), jnp.zeros((2, 3))).shape
    (2, 3)
    """
    return expand(input, jnp.shape(other))


def repeat(input: jax.Array, *sizes: Any) -> jax.Array:
    """``x.repeat(*sizes)``: tile the tensor (``sizes`` may add leading dimensions).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.repeat(jnp.array([1, 2]), 2, 2).tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    reps = _dims(sizes, "repeat")
    if len(reps) < jnp.ndim(input):
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of "
            "dimensions of tensor"
        )
    return jnp.tile(input, reps)


def cat(tensors: Sequence[jax.Array], dim: int = 0) -> jax.Array:
    """``torch.cat``: concatenate along ``dim`` (dtypes are promoted, as in torch).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.cat([jnp.zeros((2, 3)), jnp.ones((2, 1))], dim=1).shape
    (2, 4)
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    nd = jnp.ndim(tensors[0])
    return jnp.concatenate(tensors, axis=_dim(dim, nd))


concat = cat


def stack(tensors: Sequence[jax.Array], dim: int = 0) -> jax.Array:
    """``torch.stack``: join along a new dimension ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.stack([jnp.zeros(3), jnp.ones(3)], dim=1).shape
    (3, 2)
    """
    tensors = list(tensors)
    nd = jnp.ndim(tensors[0]) + 1
    return jnp.stack(tensors, axis=_dim(dim, nd))


def chunk(input: jax.Array, chunks: int, dim: int = 0) -> tuple[jax.Array, ...]:
    """``torch.chunk``: ``chunks`` pieces of ``ceil(n / chunks)`` (the last may be smaller,
    and there may be fewer pieces, as in torch).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> [c.shape for c in ops.chunk(jnp.zeros(5), 3)]
    [(2,), (2,), (1,)]
    """
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim(dim, jnp.ndim(input))
    n = jnp.shape(input)[d]
    step = max(-(-n // chunks), 1)
    return split(input, step, d)


def split(input: jax.Array, split_size_or_sections: Any, dim: int = 0) -> tuple[jax.Array, ...]:
    """``torch.split``: pieces of ``split_size`` along ``dim``, or of the given sizes.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> [c.shape for c in ops.split(jnp.zeros(5), 2)], [c.shape for c in ops.split(jnp.zeros(5), [1, 4])]
    ([(2,), (2,), (1,)], [(1,), (4,)])
    """
    d = _dim(dim, jnp.ndim(input))
    n = jnp.shape(input)[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={step}"
            )
        sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(jax.lax.slice_in_dim(input, start, start + s, axis=d))
        start += s
    return tuple(out)


def unbind(input: jax.Array, dim: int = 0) -> tuple[jax.Array, ...]:
    """``torch.unbind``: the slices along ``dim``, without that dimension.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> [u.shape for u in ops.unbind(jnp.zeros((2, 3)), 1)]
    [(2,), (2,), (2,)]
    """
    d = _dim(dim, jnp.ndim(input))
    return tuple(jnp.take(input, i, axis=d) for i in range(jnp.shape(input)[d]))


def narrow(input: jax.Array, dim: int, start: int, length: int) -> jax.Array:
    """``torch.narrow``: ``length`` elements of ``dim`` from ``start``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.narrow(jnp.arange(5), 0, 1, 3).tolist()
    [1, 2, 3]
    """
    d = _dim(dim, jnp.ndim(input))
    n = jnp.shape(input)[d]
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return jax.lax.slice_in_dim(input, start, start + length, axis=d)


def select(input: jax.Array, dim: int, index: int) -> jax.Array:
    """``torch.select``: the slice at ``index`` of ``dim``, without that dimension.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.select(jnp.arange(6).reshape(2, 3), 1, -1).tolist()
    [2, 5]
    """
    d = _dim(dim, jnp.ndim(input))
    n = jnp.shape(input)[d]
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(jnp.shape(input))} "
            f"at dimension {d}"
        )
    return jnp.take(input, index % n, axis=d)


def slice(
    input: jax.Array, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1
) -> jax.Array:
    """``x[..., start:end:step]`` on dimension ``dim`` (torch's ``aten.slice``).

    Out-of-range bounds are clamped, as Python slicing does.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.slice(jnp.arange(6).reshape(2, 3), 1, 1, 100).tolist()
    [[1, 2], [4, 5]]
    """
    d = _dim(dim, jnp.ndim(input))
    idx = (_builtin_slice(None),) * d + (_builtin_slice(start, end, step),)
    return input[idx]


def index(input: jax.Array, indices: Sequence[jax.Array | None]) -> jax.Array:
    """``x[i0, i1, ...]`` with index tensors, ``None`` meaning a whole dimension
    (torch's ``aten.index``; numpy's advanced-indexing rules, which torch follows).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.index(jnp.arange(6).reshape(2, 3), [None, jnp.array([2, 0])]).tolist()
    [[2, 0], [5, 3]]
    """
    return input[tuple(_builtin_slice(None) if i is None else i for i in indices)]


def flip(input: jax.Array, *dims: Any) -> jax.Array:
    """``torch.flip``: reverse the order along ``dims``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.flip(jnp.arange(3), 0).tolist()
    [2, 1, 0]
    """
    nd = jnp.ndim(input)
    return jnp.flip(input, tuple(_dim(d, nd) for d in _dims(dims, "flip")))


def roll(input: jax.Array, shifts: Any, dims: Any = None) -> jax.Array:
    """``torch.roll``: shift elements cyclically (flattened when ``dims`` is None).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.roll(jnp.arange(4), 1).tolist()
    [3, 0, 1, 2]
    """
    return jnp.roll(input, shifts, dims)


def tril(input: jax.Array, diagonal: int = 0) -> jax.Array:
    """``torch.tril``: zero the elements above the ``diagonal``-th diagonal.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.tril(jnp.ones((2, 2))).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return jnp.tril(input, diagonal)


def triu(input: jax.Array, diagonal: int = 0) -> jax.Array:
    """``torch.triu``: zero the elements below the ``diagonal``-th diagonal.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.triu(jnp.ones((2, 2)), 1).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    return jnp.triu(input, diagonal)


def gather(input: jax.Array, dim: int, index: jax.Array) -> jax.Array:
    """``torch.gather``: ``out[i][j] = input[i][index[i][j]]`` along ``dim``.

    As in torch, ``index`` may be smaller than ``input`` in the other dimensions; the
    output has ``index``'s shape.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.gather(jnp.array([[1, 2], [3, 4]]), 1, jnp.array([[1], [0]])).tolist()
    [[2], [3]]
    """
    nd = jnp.ndim(input)
    d = _dim(dim, nd)
    if jnp.ndim(index) != nd:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    crop = tuple(
        _builtin_slice(None) if i == d else _builtin_slice(0, s)
        for i, s in enumerate(jnp.shape(index))
    )
    return jnp.take_along_axis(input[crop], index, axis=d)


def index_select(input: jax.Array, dim: int, index: jax.Array) -> jax.Array:
    """``torch.index_select``: the entries ``index`` (1-d) of dimension ``dim``.

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.index_select(jnp.arange(6).reshape(2, 3), 1, jnp.array([2, 0])).tolist()
    [[2, 0], [5, 3]]
    """
    return jnp.take(input, index, axis=_dim(dim, jnp.ndim(input)))


def masked_fill(input: jax.Array, mask: jax.Array, value: Any) -> jax.Array:
    """``x.masked_fill(mask, value)``: ``value`` where ``mask`` is True (keeps ``x``'s dtype).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.masked_fill(jnp.zeros(3), jnp.array([True, False, True]), -1.0).tolist()
    [-1.0, 0.0, -1.0]
    """
    value = jnp.asarray(value, dtype=jnp.result_type(input))
    return jnp.where(*promote_ranks(mask, value, input))


def where(condition: jax.Array, input: Any = None, other: Any = None) -> Any:
    """``torch.where(condition, input, other)``; ``torch.where(condition)`` gives indices
    (not under ``jit``, whose shapes must be static).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.where(jnp.array([True, False]), jnp.ones(2), 0.0).tolist()
    [1.0, 0.0]
    """
    if input is None and other is None:
        return jnp.nonzero(condition)
    return jnp.where(*promote_ranks(condition, input, other))


def contiguous(input: jax.Array, memory_format: Any = None) -> jax.Array:
    """``x.contiguous()``: the identity (JAX arrays have no strides).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.contiguous(jnp.ones(2)).tolist()
    [1.0, 1.0]
    """
    return input


def clone(input: jax.Array, *, memory_format: Any = None) -> jax.Array:
    """``x.clone()``: the same values (JAX arrays are immutable, so no copy is needed).

    >>> import jax.numpy as jnp, jaxnn.ops as ops
    >>> ops.clone(jnp.ones(2)).tolist()
    [1.0, 1.0]
    """
    return input


def detach(input: jax.Array) -> jax.Array:
    """``x.detach()``: the same values with no gradient flowing back (``stop_gradient``).

    >>> import jax, jax.numpy as jnp, jaxnn.ops as ops
    >>> jax.grad(lambda x: (ops.detach(x) * x).sum())(jnp.ones(2)).tolist()
    [1.0, 1.0]
    """
    return jax.lax.stop_gradient(input)
