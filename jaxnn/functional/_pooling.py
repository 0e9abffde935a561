"""Max, average, power-average pooling and max-unpooling, as torch.nn.functional.

Windows are ``lax.reduce_window`` windows over ``(N, C, *spatial)``. torch's
``ceil_mode`` adds windows that hang off the right edge (only while they start inside the
input or the left padding); that is extra right padding here, the identity of the
reduction, with the average's divisor computed statically with torch's exact rule.
On CPU, max and average pooling are computed by ``_pooling_cpu`` (elementwise over strided
views; the max-pool gradient without ``select_and_scatter``) with the same numbers and
torch's first-maximum gradient rule. Adaptive pooling and max-unpooling live in
``_pooling_adaptive`` and are re-exported from here.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _pooling_cpu
from ._pooling_adaptive import (
    SENTINEL,
    accumulator,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    batch_input,
    index_dtype,
    lowest,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
    outer_product,
    pick,
    plane_iota,
    take_plane,
)
from ._utils import ntuple, torch_relu

_Size = int | tuple[int, ...]

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    # re-exported from _pooling_adaptive
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


def _pool_input(input, n, name):
    x, unbatched = batch_input(
        input,
        n,
        f"{name}: Expected {n + 1}D or {n + 2}D (batch mode) tensor with optional 0 dim batch "
        f"size for input, but got: {list(input.shape)}; pass (C, *spatial) or (N, C, *spatial).",
    )
    if 0 in x.shape[1:]:
        raise RuntimeError(
            f"{name}: Expected {n + 1}D or {n + 2}D (batch mode) tensor with optional 0 dim "
            f"batch size for input, but got: {list(input.shape)} (a non-batch dim is empty)."
        )
    return x, unbatched


def _geometry(x, n, name, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate like torch; return (window args for reduce_window, output spatial size)."""
    k = ntuple(kernel_size, n, "kernel_size")
    no_stride = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    s = k if no_stride else ntuple(stride, n, "stride")
    p = ntuple(padding, n, "padding")
    d = ntuple(dilation, n, "dilation")
    for what, vals in (("kernel size", k), ("stride", s), ("dilation", d)):
        if any(v <= 0 for v in vals):
            raise RuntimeError(f"{name}: {what} should be greater than zero, but got {vals}.")
    if any(v < 0 for v in p):
        raise RuntimeError(f"{name}: pad must be non-negative, but got pad: {p}.")
    for pi, ki, di in zip(p, k, d, strict=True):
        if pi > ((ki - 1) * di + 1) // 2:
            raise RuntimeError(
                f"{name}: pad should be at most half of effective kernel size, but got "
                f"pad={pi}, kernel_size={ki} and dilation={di}; use padding <= {ki // 2}."
            )
        if pi > ki // 2:
            raise RuntimeError(
                f"{name}: pad should be smaller than or equal to half of kernel size, but got "
                f"pad={pi}, kernel_size={ki}; use padding <= {ki // 2}."
            )
    out, pads = [], [(0, 0), (0, 0)]
    for size, ki, si, pi, di in zip(x.shape[2:], k, s, p, d, strict=True):
        span = di * (ki - 1) + 1
        o = (size + 2 * pi - span + (si - 1 if ceil_mode else 0)) // si + 1
        if ceil_mode and (o - 1) * si >= size + pi:
            # torch drops a last window that would start in the right padding.
            o -= 1
        out.append(o)
        pads.append((pi, pi + max(0, (o - 1) * si + span - size - 2 * pi)))
    if any(o < 1 for o in out):
        shown = "x".join(str(v) for v in x.shape[1:])
        computed = "x".join(str(v) for v in [x.shape[1], *out])
        raise RuntimeError(
            f"{name}: Given input size: ({shown}). Calculated output size: ({computed}). "
            f"Output size is too small; use a smaller kernel_size or more padding."
        )
    window = ((1, 1, *k), (1, 1, *s), tuple(pads), (1, 1, *d))
    return window, tuple(out), (k, s, p)


def _crop(y, out):
    return y[(slice(None), slice(None), *tuple(slice(0, o) for o in out))]


def _argmax(x, window):
    dims, strides, pads, dil = window
    x = lax.stop_gradient(x)
    n = len(dims) - 2
    init = (lowest(x.dtype), np.int32(SENTINEL))
    _, idx = lax.reduce_window(
        (x, plane_iota(x.shape, n)), init, pick, dims, strides, pads, window_dilation=dil
    )
    return idx


# custom_jvp: the forward is the plain (fast) reduce_window max, but its built-in gradient
# resolves ties in an unspecified order. torch sends the whole cotangent to the first
# maximum of each window (its returned index), so the tangent is gathered at that argmax.
@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_values(x, window):
    dims, strides, pads, dil = window
    return lax.reduce_window(x, lowest(x.dtype), lax.max, dims, strides, pads, window_dilation=dil)


@_max_values.defjvp
def _max_values_jvp(window, primals, tangents):
    (x,), (t,) = primals, tangents
    idx = _argmax(x, window)
    n = len(window[0]) - 2
    # A window of padding only (dilation can step over the input) has no argmax (SENTINEL):
    # its value is -inf, as torch's, and no input element gets its gradient.
    empty = idx == SENTINEL
    y = jnp.where(empty, lowest(x.dtype), take_plane(x, idx, n))
    return y, jnp.where(empty, 0, take_plane(t, idx, n))


def _max_pool(n, name, input, kernel_size, stride, padding, dilation, ceil_mode, with_indices):
    x, unbatched = _pool_input(input, n, name)
    if x.dtype == jnp.bool_:
        raise TypeError(
            f"{name}: input dtype {x.dtype} is not supported (torch: not implemented for "
            f"'Bool'); pass a numeric array, e.g. input.astype(jnp.float32)."
        )
    window, out, _ = _geometry(x, n, name, kernel_size, stride, padding, dilation, ceil_mode)
    how = _pooling_cpu.choose(x.dtype, window[0][2:])
    return _max_pool_kernel(input, window, out, bool(with_indices), unbatched, how)


# Kernels are jitted per configuration so that an eager call compiles once, not op by op.
@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _max_pool_kernel(x, window, out, with_indices, unbatched, how):
    if unbatched:
        x = x[None]
    n = len(out)
    if how == "views":
        geom, size = _pooling_cpu.geometry(window, out), x.shape[2:]
        y = _pooling_cpu.max_pool(x, geom, size)
        if with_indices:
            idx = _pooling_cpu.max_pool_indices(x, geom, size).astype(index_dtype())
            return (y[0], idx[0]) if unbatched else (y, idx)
        return y[0] if unbatched else y
    if with_indices:
        idx = _crop(_argmax(x, window), out)
        y = jnp.where(idx == SENTINEL, lowest(x.dtype), take_plane(x, idx, n))
        idx = idx.astype(index_dtype())
        return (y[0], idx[0]) if unbatched else (y, idx)
    y = _crop(_max_values(x, window), out)
    return y[0] if unbatched else y


def _avg_pool(
    n, name, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    x, unbatched = _pool_input(input, n, name)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or x.dtype == jnp.int64):
        raise TypeError(
            f"{name}: input dtype {x.dtype} is not supported: average pooling takes floating "
            f"point (or, as torch, int64) input; cast it, e.g. input.astype(jnp.float32)."
        )
    window, out, geometry = _geometry(x, n, name, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(
            f"{name}: divisor must be not zero, got divisor_override={divisor_override}."
        )
    if divisor_override is None:
        # torch's divisor per dim: the window clipped to [-p, L + p) counts padding
        # (count_include_pad) but never the ceil_mode overhang beyond L + p; without
        # count_include_pad only the part inside [0, L) counts. 2D/3D multiply per dim.
        divisor = []
        for size, ki, si, pi, o in zip(x.shape[2:], *geometry, out, strict=True):
            start = np.arange(o) * si - pi
            end = np.minimum(start + ki, size + pi)
            if not count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            divisor.append(tuple((end - start).tolist()))
        divisor = tuple(divisor)
    else:
        divisor = divisor_override
    how = _pooling_cpu.choose(x.dtype, window[0][2:])
    return _avg_pool_kernel(input, window, out, divisor, unbatched, how)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _avg_pool_kernel(x, window, out, divisor, unbatched, how):
    if unbatched:
        x = x[None]
    dims, strides, pads, _ = window
    acc = accumulator(x.dtype)
    if how == "views":
        total = _pooling_cpu.avg_pool_sum(x.astype(acc), _pooling_cpu.geometry(window, out))
    else:
        total = lax.reduce_window(x.astype(acc), np.array(0, acc), lax.add, dims, strides, pads)
        total = _crop(total, out)
    if isinstance(divisor, tuple):
        divisor = outer_product(divisor, acc)
    y = (total / jnp.asarray(divisor, acc)).astype(x.dtype)
    return y[0] if unbatched else y


def _lp_pool(n, name, input, norm_type, kernel_size, stride, ceil_mode):
    if norm_type == 0:
        raise ZeroDivisionError(f"{name}: norm_type must be non-zero, got norm_type={norm_type!r}.")
    k = ntuple(kernel_size, n, "kernel_size")
    s = None if stride is None else ntuple(stride, n, "stride")
    return _lp_pool_kernel(input, n, name, norm_type, k, s, bool(ceil_mode))


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _lp_pool_kernel(x, n, name, norm_type, k, stride, ceil_mode):
    if norm_type == math.inf:
        return _max_pool(n, name, jnp.abs(x), k, stride, 0, 1, ceil_mode, False)
    if norm_type == -math.inf:
        return -_max_pool(n, name, -jnp.abs(x), k, stride, 0, 1, ceil_mode, False)
    out = _avg_pool(n, name, x**norm_type, k, stride, 0, ceil_mode, True, None)
    # torch's formula verbatim: sign*relu(|.|) is the identity in value, but relu'(0) = 0
    # makes an all-zero window's gradient 0 instead of 0 * inf = nan (and torch's relu
    # passes a NaN window's NaN gradient on to every element of the window).
    return (jnp.sign(out) * torch_relu(jnp.abs(out)) * math.prod(k)) ** (1.0 / norm_type)


_MAX_DOC = """Apply a {n}D max pooling over an input of {n} spatial dims.

    :math:`\\text{{out}} = \\max_{{\\text{{window}}}} \\text{{input}}`, windows of size
    ``kernel_size`` every ``stride``, elements ``dilation`` apart, over ``-inf`` padding.
    The gradient goes to the first maximum of each window (torch's index).{dispatch}

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        kernel_size: window size, int or tuple of {n}.
        stride: window step, int or tuple. Default: ``kernel_size``.
        padding: implicit ``-inf`` padding on both sides, at most half the kernel size.
        dilation: spacing between window elements. Default 1.
        ceil_mode: round the output size up; a last window must start inside the input
            or the left padding. Default False.
        return_indices: {ri}

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})` with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - d(k-1) - 1)/s \\rfloor + 1` per dim
          (``ceil`` with ``ceil_mode``). Indices (flat within each input plane; int64
          under x64, else int32) have the output's shape.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> x = jnp.arange(5.0).reshape((1,) * {n} + (5,))
        >>> F.max_pool{n}d{suffix}(x, {k}, ceil_mode=True{ex_ri})
        {out}
    """

_AVG_DOC = """Apply a {n}D average pooling over an input of {n} spatial dims.

    :math:`\\text{{out}} = \\frac{{1}}{{\\text{{divisor}}}} \\sum_{{\\text{{window}}}}
    \\text{{input}}` over zero padding. The divisor is torch's: ``divisor_override`` if
    given; else the window size clipped to ``[-padding, L + padding)`` (a ``ceil_mode``
    window hanging beyond that counts only its part inside), or, with
    ``count_include_pad=False``, the number of input elements in the window.

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        kernel_size: window size, int or tuple of {n}.
        stride: window step, int or tuple. Default: ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel size.
        ceil_mode: round the output size up. Default False.
        count_include_pad: count the zero padding in the divisor. Default True.{div}

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})` with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - k)/s \\rfloor + 1` per dim.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.avg_pool{n}d(jnp.arange(5.0).reshape((1,) * {n} + (5,)), {k}, ceil_mode=True)
        {avg}
    """

_LP_DOC = """Apply a {n}D power-average pooling over an input of {n} spatial dims.

    :math:`\\text{{out}} = \\left(\\sum_{{\\text{{window}}}} x^{{p}}\\right)^{{1/p}}`,
    computed with torch's formula ``(sign(a) * relu(|a|) * prod(kernel_size)) ** (1/p)``
    where ``a = avg_pool(x ** p)``: a window summing to zero has gradient zero. ``p = inf``
    is a max-pool of ``|x|``. No padding; ``ceil_mode`` windows divide by the clipped size
    before the multiplication, as torch.

    Args:
        input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``.
        norm_type: the exponent ``p`` (non-zero; ``inf`` / ``-inf`` allowed).
        kernel_size: window size, int or tuple of {n}.
        stride: window step. Default: ``kernel_size``.
        ceil_mode: round the output size up. Default False.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.lp_pool{n}d(jnp.arange(5.0).reshape((1,) * {n} + (5,)), 1, {k})
        {lp}
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
    out = arr("1., 3., 4.")
    if with_indices:
        out = f"({out}, {arr('1, 3, 4', 'int32')})"
    return template.format(
        n=n,
        sp=sp,
        osp=", ".join(s + "_{out}" for s in sp.split(", ")),
        k="2" if n == 1 else "(" + "1, " * (n - 1) + "2)",
        dispatch=dispatch,
        ri=ri,
        suffix="_with_indices" if with_indices else "",
        ex_ri="",
        out=out,
        avg=arr("0.5, 2.5, 4. "),
        lp=arr("1., 5."),
        div=""
        if n == 1
        else "\n        divisor_override: if given, divide every window sum by this instead.",
    )


def max_pool1d_with_indices(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    return _max_pool(
        1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, True
    )


def max_pool2d_with_indices(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    return _max_pool(
        2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, True
    )


def max_pool3d_with_indices(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    return _max_pool(
        3, "max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode, True
    )


# torch's max_poolNd return (output, indices) only when return_indices=True (its
# boolean_dispatch); the *_with_indices names always return the pair.
def max_pool1d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    return _max_pool(
        1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


def max_pool2d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    return _max_pool(
        2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


def max_pool3d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    return _max_pool(
        3, "max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


def avg_pool1d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> jax.Array:
    return _avg_pool(
        1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, None
    )


def avg_pool2d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> jax.Array:
    return _avg_pool(
        2,
        "avg_pool2d",
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )


def avg_pool3d(
    input: jax.Array,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> jax.Array:
    return _avg_pool(
        3,
        "avg_pool3d",
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )


def lp_pool1d(
    input: jax.Array,
    norm_type: float,
    kernel_size: _Size,
    stride: _Size | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    return _lp_pool(1, "lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(
    input: jax.Array,
    norm_type: float,
    kernel_size: _Size,
    stride: _Size | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    return _lp_pool(2, "lp_pool2d", input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(
    input: jax.Array,
    norm_type: float,
    kernel_size: _Size,
    stride: _Size | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    return _lp_pool(3, "lp_pool3d", input, norm_type, kernel_size, stride, ceil_mode)


for _n, (_mp, _mpi, _ap, _lp) in enumerate(
    (
        (max_pool1d, max_pool1d_with_indices, avg_pool1d, lp_pool1d),
        (max_pool2d, max_pool2d_with_indices, avg_pool2d, lp_pool2d),
        (max_pool3d, max_pool3d_with_indices, avg_pool3d, lp_pool3d),
    ),
    start=1,
):
    _mp.__doc__ = _fill(_MAX_DOC, _n)
    _mpi.__doc__ = _fill(_MAX_DOC, _n, with_indices=True)
    _ap.__doc__ = _fill(_AVG_DOC, _n)
    _lp.__doc__ = _fill(_LP_DOC, _n)
