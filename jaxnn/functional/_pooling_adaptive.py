"""Adaptive average / max pooling, max-unpooling, and the index machinery max-pools share.

torch's adaptive windows: output cell ``i`` of a dim of length ``L`` pooled to ``out``
covers ``[floor(i*L/out), ceil((i+1)*L/out))``. Windows are Cartesian products, so both
the sum and the max are taken one spatial axis at a time. When ``out`` divides ``L`` an
axis is a reshape; otherwise a static gather of the widest window plus a mask.

Max-pool gradients follow torch's index convention: all of an output's cotangent goes to
the single element torch reports as the argmax (the first maximum in row-major window
order, or the last NaN). ``lax.reduce_window``'s own max gradient makes no promise about
ties, so the argmax is computed explicitly and values are gathered from it. Indices are
flat positions within each ``(N, C)`` plane, as torch's ``return_indices``; max-unpooling
scatters back to them.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._utils import check_input_dtype, ntuple

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]

_Size = int | tuple[int, ...]
_OptSize = int | None | tuple[int | None, ...]

# Index carried by padded / masked window slots: loses every tie against a real element.
SENTINEL = np.iinfo(np.int32).max


def index_dtype() -> jnp.dtype:
    """torch's int64 indices where JAX allows them (x64 enabled), int32 otherwise."""
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def lowest(dtype) -> np.ndarray:
    """The identity of ``max`` for ``dtype``: -inf for floats, the minimum for integers.

    A concrete numpy scalar, so that ``lax.reduce_window`` recognises its max monoid."""
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    return np.array(jnp.iinfo(dtype).min, dtype)


def accumulator(dtype) -> jnp.dtype:
    """Sums of 16-bit floats accumulate in float32, as torch's CPU kernels do."""
    if dtype in (jnp.bfloat16, jnp.float16):
        return jnp.dtype(jnp.float32)
    return jnp.dtype(dtype)


def pick(a, b):
    """Reducer over (value, flat index) pairs reproducing torch's argmax scan.

    torch scans a window in row-major order and replaces the running max when
    ``val > max or isnan(val)``: the first maximum wins, but the LAST NaN wins. As a max
    under a total order (NaN above everything, then value, then smaller index above larger
    for numbers, larger index above smaller for NaNs) the reduction is associative and
    commutative, so XLA may evaluate it in any order.
    """
    (av, ai), (bv, bi) = a, b
    a_nan, b_nan = av != av, bv != bv
    both_num = (bv > av) | ((bv == av) & (bi < ai))
    take_b = lax.select(a_nan | b_nan, b_nan & (~a_nan | (bi > ai)), both_num)
    return lax.select(take_b, bv, av), lax.select(take_b, bi, ai)


def outer_product(sizes: tuple[tuple[int, ...], ...], dtype) -> jax.Array:
    """``prod_i sizes[i][j_i]`` shaped ``(1, 1, *out)``, built from per-dim vectors so that
    only small constants enter the program (products of counts are exact in float)."""
    n = len(sizes)
    out = jnp.ones((1, 1) + (1,) * n, dtype)
    for a, v in enumerate(sizes):
        shape = [1] * (n + 2)
        shape[2 + a] = len(v)
        out = out * jnp.asarray(np.array(v), dtype).reshape(shape)
    return out


def plane_iota(shape: tuple[int, ...], n: int) -> jax.Array:
    """Flat index of every element within its (N, C) plane, broadcast to ``shape``."""
    sp = shape[-n:]
    iota = jnp.arange(math.prod(sp), dtype=jnp.int32).reshape((1,) * (len(shape) - n) + sp)
    return jnp.broadcast_to(iota, shape)


def take_plane(x: jax.Array, idx: jax.Array, n: int) -> jax.Array:
    """Gather ``x[..., *plane]`` at flat per-plane indices; the gradient scatters back there."""
    lead = x.shape[:-n]
    rows = math.prod(lead)
    flat = jnp.reshape(x, (rows, math.prod(x.shape[-n:])))
    where = jnp.reshape(idx, (rows, math.prod(idx.shape[-n:])))
    out = jnp.take_along_axis(flat, where, axis=1, mode="clip")
    return jnp.reshape(out, lead + idx.shape[-n:])


def batch_input(input: jax.Array, n: int, message: str) -> tuple[jax.ShapeDtypeStruct, bool]:
    """The batched view ``(N, C, *spatial)`` of the input's shape; raise ``message`` for a
    rank other than ``n + 1`` or ``n + 2``. Kernels add the batch axis themselves, inside
    their ``jit``, so an eager call compiles once instead of op by op."""
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(message)
    unbatched = input.ndim == n + 1
    shape = (1, *input.shape) if unbatched else input.shape
    return jax.ShapeDtypeStruct(shape, input.dtype), unbatched


def _output_size(output_size, x: jax.Array, n: int, name: str) -> tuple[int, ...]:
    sp = x.shape[2:]
    if output_size is None:
        example = (None,) * (n - 1) + (2,)
        keep = "" if n == 1 else f", or {example} (a None entry keeps that input size)"
        raise TypeError(
            f"{name}(): argument 'output_size' must be an int or tuple of ints, not None; "
            f"pass e.g. output_size=2{keep}."
        )
    if isinstance(output_size, int) or output_size is None:
        out = (output_size,) * n
    else:
        out = tuple(output_size)
    if len(out) != n:
        raise RuntimeError(f"{name}: output_size must be {n}, got output_size={output_size!r}.")
    out = tuple(s if o is None else o for o, s in zip(out, sp, strict=True))
    if any(not isinstance(o, int) or o < 0 for o in out):
        raise RuntimeError(
            f"{name}: elements of output_size must be greater than or equal to 0 but received "
            f"{output_size!r}."
        )
    return out


def _adaptive_input(input, n, name, output_size):
    check_input_dtype(input, name)
    if n == 1:
        message = (
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            f"#1 'self' (while checking arguments for {name}); pass (C, L) or (N, C, L)."
        )
    else:
        message = (
            f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got {list(input.shape)}; "
            f"pass (C, *spatial) or (N, C, *spatial)."
        )
    x, unbatched = batch_input(input, n, message)
    first = 0 if unbatched else 1
    for dim in range(first, input.ndim):
        if input.shape[dim] == 0:
            raise RuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {list(input.shape)} with dimension {dim} being empty"
            )
    return x, unbatched, _output_size(output_size, x, n, name)


def _windows(length: int, out: int):
    """Static gather indices ``(out, kmax)`` and validity mask for torch's adaptive windows."""
    i = np.arange(out)
    start = (i * length) // out
    end = -((-(i + 1) * length) // out)
    kmax = int((end - start).max())
    pos = start[:, None] + np.arange(kmax)[None, :]
    return np.minimum(pos, length - 1), pos < end[:, None], end - start


def _split_axis(x: jax.Array, axis: int, out: int):
    """View ``axis`` as ``(out, window)``; returns the windows and a mask (None: all valid)."""
    length = x.shape[axis]
    before, after = x.shape[:axis], x.shape[axis + 1 :]
    if length % out == 0:
        return jnp.reshape(x, (*before, out, length // out, *after)), None
    idx, valid, _ = _windows(length, out)
    g = jnp.take(x, idx.reshape(-1), axis=axis, mode="clip")
    g = jnp.reshape(g, before + idx.shape + after)
    return g, np.reshape(valid, (1,) * axis + valid.shape + (1,) * len(after))


def _adaptive_avg(n, name, input, output_size):
    _x, unbatched, out = _adaptive_input(input, n, name, output_size)
    return _adaptive_avg_kernel(input, out, unbatched)


def _adaptive_max(n, name, input, output_size):
    _x, unbatched, out = _adaptive_input(input, n, name, output_size)
    return _adaptive_max_kernel(input, out, unbatched)


@partial(jax.jit, static_argnums=(1, 2))
def _adaptive_avg_kernel(x, out, unbatched):
    if unbatched:
        x = x[None]
    n = len(out)
    if 0 in out:
        y = jnp.zeros(x.shape[:2] + out, x.dtype)
    else:
        y = x.astype(accumulator(x.dtype))
        for a in range(n):
            g, valid = _split_axis(y, 2 + a, out[a])
            if valid is not None:
                g = jnp.where(valid, g, 0)
            y = jnp.sum(g, axis=3 + a)
        counts = tuple(tuple(_windows(x.shape[2 + a], out[a])[2].tolist()) for a in range(n))
        y = (y / outer_product(counts, y.dtype)).astype(x.dtype)
    return y[0] if unbatched else y


@partial(jax.jit, static_argnums=(1, 2))
def _adaptive_max_kernel(x, out, unbatched):
    if unbatched:
        x = x[None]
    n = len(out)
    if 0 in out:
        y = jnp.zeros(x.shape[:2] + out, x.dtype)
        idx = jnp.zeros(x.shape[:2] + out, index_dtype())
    else:
        v = lax.stop_gradient(x)
        i = plane_iota(x.shape, n)
        low = lowest(x.dtype)
        for a in range(n):
            gv, valid = _split_axis(v, 2 + a, out[a])
            gi, _ = _split_axis(i, 2 + a, out[a])
            if valid is not None:
                gv, gi = jnp.where(valid, gv, low), jnp.where(valid, gi, SENTINEL)
            v, i = lax.reduce((gv, gi), (low, np.int32(SENTINEL)), pick, (3 + a,))
        y = take_plane(x, i, n)
        idx = i.astype(index_dtype())
    if unbatched:
        y, idx = y[0], idx[0]
    return y, idx


def _unpool_output_size(x, n, k, s, p, output_size):
    default = [(x.shape[2 + i] - 1) * s[i] + k[i] - 2 * p[i] for i in range(n)]
    if output_size is None:
        size = default
    else:
        size = list(output_size)
        if len(size) == n + 2:
            size = size[2:]
        if len(size) != n:
            raise ValueError(
                f"output_size should be a sequence containing {n} or {n + 2} elements, but it "
                f"has a length of '{len(size)}'"
            )
        for i in range(n):
            lo, hi = default[i] - s[i], default[i] + s[i]
            if not lo < size[i] < hi:
                raise ValueError(
                    f'invalid output_size "{tuple(output_size)}" (dim {i} must be between {lo} and {hi})'
                )
    if any(v < 0 for v in size):
        raise ValueError(
            f"max_unpooling: output_size must contain non-negative spatial dimensions, but got {size}"
        )
    return tuple(size)


# custom_jvp: the forward writes each value at its index (torch: the last write wins on
# duplicates). torch's backward is a gather of the cotangent at ``indices`` for every
# input, even duplicated ones (overlapping max-pool windows): the adjoint of a scatter-ADD,
# not of the scatter-set whose JAX gradient would reach only one duplicate.
@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _scatter_planes(x, idx, size):
    return _scatter(x, idx, size, add=False)


@_scatter_planes.defjvp
def _scatter_planes_jvp(size, primals, tangents):
    (x, idx), (t, _) = primals, tangents
    return _scatter(x, idx, size, add=False), _scatter(t, idx, size, add=True)


def _scatter(x, idx, size, add):
    rows = x.shape[0] * x.shape[1]
    plane = math.prod(size)
    per_row = math.prod(idx.shape[2:])
    idx2 = jnp.reshape(idx, (rows, per_row))
    # Negative indices would wrap; torch rejects them, so drop them like out-of-range ones.
    idx2 = jnp.where(idx2 < 0, plane, idx2)
    target = jnp.zeros((rows, plane), x.dtype).at[jnp.arange(rows)[:, None], idx2]
    vals = jnp.reshape(x, (rows, per_row))
    flat = target.add(vals, mode="drop") if add else target.set(vals, mode="drop")
    return jnp.reshape(flat, x.shape[:2] + size)


def _max_unpool(n, name, input, indices, kernel_size, stride, padding, output_size):
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(
            f"Input to {name} should be a {n + 1}d or {n + 2}d Tensor, but got a tensor with "
            f"{input.ndim} dimensions."
        )
    if indices.shape != input.shape:
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor "
            f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}"
        )
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise RuntimeError(
            f"elements in indices should be type int64 but got: {indices.dtype}; pass the "
            f"indices returned by max_pool{n}d(..., return_indices=True)."
        )
    unbatched = input.ndim == n + 1
    x = jax.ShapeDtypeStruct((1, *input.shape) if unbatched else input.shape, input.dtype)
    k = ntuple(kernel_size, n, "kernel_size")
    s = k if stride is None else ntuple(stride, n, "stride")
    p = ntuple(padding, n, "padding")
    size = _unpool_output_size(x, n, k, s, p, output_size)
    return _max_unpool_kernel(input, indices, size, unbatched)


@partial(jax.jit, static_argnums=(2, 3))
def _max_unpool_kernel(x, idx, size, unbatched):
    if unbatched:
        x, idx = x[None], idx[None]
    y = _scatter_planes(x, idx, size)
    return y[0] if unbatched else y


_AVG_DOC = """Apply a {n}D adaptive average pooling: output size is fixed, windows adapt.

    Output cell ``i`` of a dim of length ``L`` averages input ``[floor(i*L/out),
    ceil((i+1)*L/out))``; windows may overlap or differ in size when ``out`` does not
    divide ``L``, exactly as torch.

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        output_size: target size, {os}.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.adaptive_avg_pool{n}d(jnp.arange(5.0).reshape((1,) * {n} + (5,)), {arg})
        {avg}
    """

_MAX_DOC = """Apply a {n}D adaptive max pooling: output size is fixed, windows adapt.

    Windows are torch's ``[floor(i*L/out), ceil((i+1)*L/out))`` per dim. The gradient goes
    to the element torch reports as the argmax (first maximum in row-major order).{dispatch}

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        output_size: target size, {os}.
        return_indices: {ri}

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`; indices (flat within each
          input plane, int64 under x64 else int32) have the output's shape.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.adaptive_max_pool{n}d{suffix}(jnp.arange(5.0).reshape((1,) * {n} + (5,)), {arg}{ex_ri})
        {max}
    """


_UNPOOL_DOC = """Compute a partial inverse of max_pool{n}d: place values at their indices, zeros elsewhere.

    ``out.reshape(N, C, -1)[n, c, indices[n, c, j]] = input[n, c, j]``. Indices outside the
    output plane are dropped (torch raises; JAX cannot check values at trace time). The
    gradient with respect to ``input`` gathers the cotangent at ``indices``, as torch.

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        indices: same shape, the indices from ``max_pool{n}d(..., return_indices=True)``.
        kernel_size: the max-pool's kernel size.
        stride: the max-pool's stride. Default: ``kernel_size``.
        padding: the max-pool's padding. Default 0.
        output_size: the spatial size (optionally with N, C in front) to produce, within
            ``stride`` of the default.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` with
          :math:`L_{{out}} = (L_{{in}} - 1) s - 2p + k` per dim, or ``output_size``.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> y, i = F.max_pool{n}d(jnp.arange(4.0).reshape((1,) * {n} + (4,)), {k}, return_indices=True)
        >>> F.max_unpool{n}d(y, i, {k})
        {unpool}
    """


def _fill(template: str, n: int, with_indices: bool = False) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    lb, rb = "[" * (n + 1), "]" * (n + 1)

    def arr(body, dtype="float32"):
        return f"Array({lb}{body}{rb}, dtype={dtype})"

    if with_indices:
        dispatch = "\n\n    Always returns ``(output, indices)``, whatever ``return_indices`` says."
        ri = "ignored; present for torch's signature."
    else:
        dispatch = "\n\n    Returns ``(output, indices)`` when ``return_indices=True`` (torch's return type)."
        ri = "also return the argmax indices (for ``max_unpool``). Default False."
    return template.format(
        n=n,
        sp=sp,
        osp=", ".join(s + "_{out}" for s in sp.split(", ")),
        os="an int" if n == 1 else f"an int or a tuple of {n} (None entries keep that size)",
        arg="2" if n == 1 else "(" + "None, " * (n - 1) + "2)",
        k="2" if n == 1 else "(" + "1, " * (n - 1) + "2)",
        dispatch=dispatch,
        ri=ri,
        suffix="_with_indices" if with_indices else "",
        ex_ri="" if with_indices else ", return_indices=True",
        avg=arr("1., 3."),
        max=f"({arr('2., 4.')}, {arr('2, 4', 'int32')})",
        unpool=arr("0., 1., 0., 3."),
    )


def adaptive_avg_pool1d(input: jax.Array, output_size: _OptSize) -> jax.Array:
    return _adaptive_avg(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input: jax.Array, output_size: _OptSize) -> jax.Array:
    return _adaptive_avg(2, "adaptive_avg_pool2d", input, output_size)


def adaptive_avg_pool3d(input: jax.Array, output_size: _OptSize) -> jax.Array:
    return _adaptive_avg(3, "adaptive_avg_pool3d", input, output_size)


def adaptive_max_pool1d_with_indices(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    return _adaptive_max(1, "adaptive_max_pool1d", input, output_size)


def adaptive_max_pool2d_with_indices(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    return _adaptive_max(2, "adaptive_max_pool2d", input, output_size)


def adaptive_max_pool3d_with_indices(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    return _adaptive_max(3, "adaptive_max_pool3d", input, output_size)


# torch returns a tuple only when return_indices=True (its boolean_dispatch); so do we.
def adaptive_max_pool1d(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> jax.Array | tuple[jax.Array, jax.Array]:
    out = _adaptive_max(1, "adaptive_max_pool1d", input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool2d(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> jax.Array | tuple[jax.Array, jax.Array]:
    out = _adaptive_max(2, "adaptive_max_pool2d", input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool3d(
    input: jax.Array, output_size: _OptSize, return_indices: bool = False
) -> jax.Array | tuple[jax.Array, jax.Array]:
    out = _adaptive_max(3, "adaptive_max_pool3d", input, output_size)
    return out if return_indices else out[0]


def max_unpool1d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    output_size: _Size | None = None,
) -> jax.Array:
    return _max_unpool(1, "max_unpool1d", input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    output_size: _Size | None = None,
) -> jax.Array:
    return _max_unpool(2, "max_unpool2d", input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    output_size: _Size | None = None,
) -> jax.Array:
    return _max_unpool(3, "max_unpool3d", input, indices, kernel_size, stride, padding, output_size)


for _n, _f in ((1, adaptive_avg_pool1d), (2, adaptive_avg_pool2d), (3, adaptive_avg_pool3d)):
    _f.__doc__ = _fill(_AVG_DOC, _n)
for _n, _f in ((1, adaptive_max_pool1d), (2, adaptive_max_pool2d), (3, adaptive_max_pool3d)):
    _f.__doc__ = _fill(_MAX_DOC, _n)
for _n, _f in (
    (1, adaptive_max_pool1d_with_indices),
    (2, adaptive_max_pool2d_with_indices),
    (3, adaptive_max_pool3d_with_indices),
):
    _f.__doc__ = _fill(_MAX_DOC, _n, with_indices=True)
for _n, _f in ((1, max_unpool1d), (2, max_unpool2d), (3, max_unpool3d)):
    _f.__doc__ = _fill(_UNPOOL_DOC, _n)
