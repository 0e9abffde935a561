"""Convolutions, transposed convolutions and ``unfold`` / ``fold``, as torch.nn.functional.

Layouts are torch's: input ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``), conv
weight ``(out, in/groups, *kernel)``, transposed-conv weight ``(in, out/groups, *kernel)``.
Every convolution is one ``lax.conv_general_dilated`` (or, for im2col, one ``dot_general``)
with no ``precision`` argument, so it follows ``jax_default_matmul_precision`` like any other
JAX matmul. Which formulation computes it (torch's NCHW layout, XLA CPU's channels-last
layout, or im2col) is chosen per backend and shape in ``_conv_cpu``.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from . import _conv_cpu
from ._utils import ntuple

_Size = int | tuple[int, ...]

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "unfold",
    "fold",
]


def _shape(x: jax.Array | tuple[int, ...]) -> list[int]:
    return list(x.shape if hasattr(x, "shape") else x)


def _sizes(values: tuple[int, ...]) -> str:
    return " x ".join(str(v) for v in values)


def _batch(input: jax.Array, n: int, name: str) -> tuple[jax.ShapeDtypeStruct, bool]:
    """The batched view's shape (torch's for messages); say which ranks torch accepts."""
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, but got "
            f"input of size: {_shape(input)}; pass (C, *spatial) or (N, C, *spatial) with "
            f"{n} spatial dims."
        )
    unbatched = input.ndim == n + 1
    shape = (1, *input.shape) if unbatched else input.shape
    return jax.ShapeDtypeStruct(shape, input.dtype), unbatched


def _check_common(x, weight, bias, n, name, stride, dilation, groups, bias_len, transposed):
    if weight.ndim != n + 2:
        layout = "(in, out/groups" if transposed else "(out, in/groups"
        raise RuntimeError(
            f"{name}: weight must be {n + 2}-D {layout}, *kernel), got weight of size "
            f"{_shape(weight)}."
        )
    if any(v <= 0 for v in stride):
        raise RuntimeError(f"non-positive stride is not supported, got stride={stride}.")
    if any(v <= 0 for v in dilation):
        raise RuntimeError(f"non-positive dilation is not supported, got dilation={dilation}.")
    if not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups!r}.")
    if weight.shape[0] == 0 or weight.shape[0] % groups:
        what = "at least 1" if weight.shape[0] == 0 else f"divisible by {groups}"
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be {what} at dimension 0, but got "
            f"weight of size [{_shape(weight)}] instead"
        )
    for other, what in ((weight, "weight"), (bias, "bias")):
        if other is not None and other.dtype != x.dtype:
            raise RuntimeError(
                f"Input type ({x.dtype}) and {what} type ({other.dtype}) should be the same; "
                f"cast one, e.g. {what}.astype(input.dtype)."
            )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != bias_len):
        prefix = "Given transposed=1, " if transposed else "Given "
        raise RuntimeError(
            f"{prefix}weight of size {_shape(weight)}, expected bias to be 1-dimensional with "
            f"{bias_len} elements, but got bias of size {_shape(bias)} instead"
        )


def _conv(n, name, input, weight, bias, stride, padding, dilation, groups):
    x, unbatched = _batch(input, n, name)
    stride = ntuple(stride, n, "stride")
    dilation = ntuple(dilation, n, "dilation")
    _check_common(x, weight, bias, n, name, stride, dilation, groups, weight.shape[0], False)
    if weight.shape[1] * groups != x.shape[1]:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_shape(weight)}, expected "
            f"input{_shape(x)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    kernel = tuple(d * (k - 1) + 1 for k, d in zip(weight.shape[2:], dilation, strict=True))
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: {padding!r}; use 'same', 'valid' or ints.")
        if padding == "same" and any(s != 1 for s in stride):
            raise RuntimeError(
                f"padding='same' is not supported for strided convolutions (stride={stride}); "
                f"pad explicitly with ints instead."
            )
        # torch's 'same': total padding d*(k-1); when odd, the extra element goes right.
        pads = [
            ((k - 1) // 2, k - 1 - (k - 1) // 2) if padding == "same" else (0, 0) for k in kernel
        ]
    else:
        pad = ntuple(padding, n, "padding")
        if any(p < 0 for p in pad):
            raise RuntimeError(f"negative padding is not supported, got padding={pad}.")
        pads = [(p, p) for p in pad]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads, strict=True))
    if any(p < k for p, k in zip(padded, kernel, strict=True)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: "
            f"({_sizes(kernel)}). Kernel size can't be greater than actual input size; "
            f"use a larger input, more padding or a smaller kernel/dilation."
        )
    how = _conv_cpu.choose(
        x.dtype, weight.shape[1], weight.shape[2:], groups, (1,) * n, x.shape[2:]
    )
    return _conv_kernel(
        input, weight, bias, stride, tuple(pads), (1,) * n, dilation, groups, False, unbatched, how
    )


def _conv_transpose(
    n, name, input, weight, bias, stride, padding, output_padding, groups, dilation
):
    x, unbatched = _batch(input, n, name)
    if isinstance(padding, str):
        raise TypeError(
            f"{name}(): argument 'padding' must be tuple of ints, not str ({padding!r})."
        )
    stride = ntuple(stride, n, "stride")
    dilation = ntuple(dilation, n, "dilation")
    pad = ntuple(padding, n, "padding")
    out_pad = ntuple(output_padding, n, "output_padding")
    out_per_group = weight.shape[1] if weight.ndim == n + 2 else 0
    _check_common(x, weight, bias, n, name, stride, dilation, groups, out_per_group * groups, True)
    if weight.shape[0] != x.shape[1]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape(weight)}, expected input{_shape(x)} "
            f"to have {weight.shape[0]} channels, but got {x.shape[1]} channels instead"
        )
    if any(p < 0 for p in pad + out_pad):
        raise RuntimeError(
            f"negative padding is not supported, got padding={pad}, output_padding={out_pad}."
        )
    if any(o >= max(s, d) for o, s, d in zip(out_pad, stride, dilation, strict=True)):
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got "
            f"output_padding={out_pad}, stride={stride}, dilation={dilation}."
        )
    k = weight.shape[2:]
    out = tuple(
        (i - 1) * s - 2 * p + d * (kk - 1) + o + 1
        for i, s, p, d, kk, o in zip(x.shape[2:], stride, pad, dilation, k, out_pad, strict=True)
    )
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"Given input size per channel: ({_sizes(x.shape[2:])}). Calculated output size "
            f"per channel: ({_sizes(out)}). Output size is too small; reduce padding."
        )
    pads = tuple(
        (d * (kk - 1) - p, d * (kk - 1) - p + o)
        for d, kk, p, o in zip(dilation, k, pad, out_pad, strict=True)
    )
    how = _conv_cpu.choose(x.dtype, weight.shape[0] // groups, k, groups, stride)
    return _conv_kernel(
        input, weight, bias, (1,) * n, pads, stride, dilation, groups, True, unbatched, how
    )


# One jitted kernel per configuration (formulation included): eager calls compile once
# instead of op by op.
@partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8, 9, 10))
def _conv_kernel(
    x, weight, bias, stride, pads, lhs_dilation, dilation, groups, transposed, unbatched, how
):
    n = weight.ndim - 2
    if unbatched:
        x = x[None]
    if transposed:
        # The transposed conv is the input-gradient of a conv: dilate the input by the
        # stride (lhs_dilation), pad by d*(k-1) - p (negative pads crop) and correlate
        # with the spatially flipped kernel whose in/out axes are swapped per group.
        k = weight.shape[2:]
        cin_g, cout_g = weight.shape[0] // groups, weight.shape[1]
        w = jnp.reshape(weight, (groups, cin_g, cout_g, *k))
        w = jnp.swapaxes(w, 1, 2).reshape((groups * cout_g, cin_g, *k))
        weight = jnp.flip(w, axis=tuple(range(2, n + 2)))
    y = _conv_cpu.convolve(how, x, weight, stride, pads, lhs_dilation, dilation, groups)
    if bias is not None:
        y = y + jnp.reshape(bias, (1, -1) + (1,) * n)
    return y[0] if unbatched else y


_CONV_DOC = """Apply a {n}D convolution (cross-correlation, as torch) over an input of {n} spatial dims.

    .. math::
        \\text{{out}}(N_i, C_{{out_j}}) = \\text{{bias}}(C_{{out_j}}) +
        \\sum_{{k=0}}^{{C_{{in}}/\\text{{groups}} - 1}} \\text{{weight}}(C_{{out_j}}, k) \\star
        \\text{{input}}(N_i, g_j \\cdot C_{{in}}/\\text{{groups}} + k)

    Precision follows ``jax_default_matmul_precision`` (set it to ``'highest'`` for torch's
    full-float32 numbers on GPU/TPU).

    Args:
        input: ``(N, C_in, {sp})`` or unbatched ``(C_in, {sp})``.
        weight: ``(C_out, C_in/groups, {k})``.
        bias: optional ``(C_out,)``.
        stride: int or tuple of {n} ints. Default 1.
        padding: int, tuple of {n} ints, ``'valid'`` (no padding) or ``'same'`` (output
            size equals input size; stride must be 1; when the total padding
            ``dilation*(k-1)`` is odd the extra element goes on the right, as torch).
        dilation: spacing between kernel elements, int or tuple. Default 1.
        groups: split input and output channels into this many groups. Default 1.

    Shape:
        - Input: :math:`(N, C_{{in}}, {sp})` or :math:`(C_{{in}}, {sp})`
        - Output: :math:`(N, C_{{out}}, {osp})` or :math:`(C_{{out}}, {osp})` with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - d(k-1) - 1)/s \\rfloor + 1` per dim.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.conv{n}d(jnp.ones((1, 2, {ones})), jnp.ones((3, 2, {threes})), padding=1).shape
        {shape}
    """

_CONV_TRANSPOSE_DOC = """Apply a {n}D transposed convolution ("deconvolution"), the gradient of conv{n}d.

    Output size per spatial dim:
    :math:`L_{{out}} = (L_{{in}} - 1) s - 2p + d(k - 1) + \\text{{output\\_padding}} + 1`.
    Precision follows ``jax_default_matmul_precision``.

    Args:
        input: ``(N, C_in, {sp})`` or unbatched ``(C_in, {sp})``.
        weight: ``(C_in, C_out/groups, {k})`` (torch's transposed layout).
        bias: optional ``(C_out,)``.
        stride: int or tuple of {n} ints. Default 1.
        padding: ``dilation*(k-1) - padding`` zero-padding is added to both sides of the
            input; int or tuple. Default 0.
        output_padding: extra size added to one side of the output; must be smaller than
            stride or dilation. Default 0.
        groups: number of blocked connections from input to output channels. Default 1.
        dilation: spacing between kernel elements. Default 1.

    Shape:
        - Input: :math:`(N, C_{{in}}, {sp})` or :math:`(C_{{in}}, {sp})`
        - Output: :math:`(N, C_{{out}}, {osp})` or :math:`(C_{{out}}, {osp})`

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.conv_transpose{n}d(jnp.ones((1, 2, {ones})), jnp.ones((2, 3, {threes})), stride=2).shape
        {tshape}
    """


def _fill(template: str, n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    return template.format(
        n=n,
        sp=sp,
        osp=", ".join(s + "_{out}" for s in sp.split(", ")),
        k=", ".join("k" + s for s in sp.split(", ")),
        ones=", ".join(["4"] * n),
        threes=", ".join(["3"] * n),
        shape=str((1, 3) + (4,) * n),
        tshape=str((1, 3) + (9,) * n),
    )


def conv1d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
) -> jax.Array:
    return _conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
) -> jax.Array:
    return _conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
) -> jax.Array:
    return _conv(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    output_padding: _Size = 0,
    groups: int = 1,
    dilation: _Size = 1,
) -> jax.Array:
    return _conv_transpose(
        1,
        "conv_transpose1d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose2d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    output_padding: _Size = 0,
    groups: int = 1,
    dilation: _Size = 1,
) -> jax.Array:
    return _conv_transpose(
        2,
        "conv_transpose2d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose3d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: _Size = 1,
    padding: _Size | str = 0,
    output_padding: _Size = 0,
    groups: int = 1,
    dilation: _Size = 1,
) -> jax.Array:
    return _conv_transpose(
        3,
        "conv_transpose3d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


for _n, _f in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _f.__doc__ = _fill(_CONV_DOC, _n)
for _n, _f in ((1, conv_transpose1d), (2, conv_transpose2d), (3, conv_transpose3d)):
    _f.__doc__ = _fill(_CONV_TRANSPOSE_DOC, _n)


def _block_args(kernel_size, dilation, padding, stride):
    k = ntuple(kernel_size, 2, "kernel_size")
    d = ntuple(dilation, 2, "dilation")
    p = ntuple(padding, 2, "padding")
    s = ntuple(stride, 2, "stride")
    for name, vals, low in (
        ("kernel_size", k, 1),
        ("dilation", d, 1),
        ("stride", s, 1),
        ("padding", p, 0),
    ):
        if any(v < low for v in vals):
            raise RuntimeError(f"{name} should be at least {low}, but got {name}={vals}.")
    return k, d, p, s


def _num_blocks(size, k, d, p, s):
    return tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))


def unfold(
    input: jax.Array, kernel_size: _Size, dilation: _Size = 1, padding: _Size = 0, stride: _Size = 1
) -> jax.Array:
    """Extract sliding local blocks (im2col) from a batched image-like input.

    Each output column holds one ``kH x kW`` block of every channel, flattened in
    ``(C, kH, kW)`` order, columns in row-major block order as torch. Pure data movement
    (strided slices), so results are exact whatever the matmul precision.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
        kernel_size: size of the blocks, int or pair.
        dilation: spacing between block elements. Default 1.
        padding: implicit zero padding on both sides. Default 0.
        stride: step between blocks. Default 1.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`
        - Output: :math:`(N, C \\cdot kH \\cdot kW, L)` or :math:`(C \\cdot kH \\cdot kW, L)`
          with :math:`L = \\prod_i \\lfloor (S_i + 2p_i - d_i(k_i-1) - 1)/s_i \\rfloor + 1`.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.unfold(jnp.arange(9.0).reshape(1, 1, 3, 3), 2)[0, 0]
        Array([0., 1., 3., 4.], dtype=float32)
    """
    if input.ndim not in (3, 4) or 0 in input.shape[1:]:
        raise RuntimeError(
            f"Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {_shape(input)}"
        )
    unbatched = input.ndim == 3
    size = input.shape[-2:]
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride)
    blocks = _num_blocks(size, k, d, p, s)
    if any(b < 1 for b in blocks):
        raise RuntimeError(
            f"Given input with spatial size {tuple(size)}, kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"{blocks}, but its components must be at least one."
        )
    return _unfold_kernel(input, k, d, p, s, blocks, unbatched)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _unfold_kernel(x, k, d, p, s, blocks, unbatched):
    if unbatched:
        x = x[None]
    n, c = x.shape[:2]
    xp = jnp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = [
        lax.slice(
            xp,
            (0, 0, i * d[0], j * d[1]),
            (n, c, i * d[0] + (blocks[0] - 1) * s[0] + 1, j * d[1] + (blocks[1] - 1) * s[1] + 1),
            (1, 1, s[0], s[1]),
        )
        for i in range(k[0])
        for j in range(k[1])
    ]
    out = jnp.stack(cols, axis=2).reshape(n, c * k[0] * k[1], blocks[0] * blocks[1])
    return out[0] if unbatched else out


def fold(
    input: jax.Array,
    output_size: _Size,
    kernel_size: _Size,
    dilation: _Size = 1,
    padding: _Size = 0,
    stride: _Size = 1,
) -> jax.Array:
    """Combine sliding local blocks into an image (col2im), summing overlapping values.

    The adjoint of :func:`unfold`: ``fold(unfold(x))`` multiplies each pixel by the
    number of blocks that cover it.

    Args:
        input: ``(N, C * kH * kW, L)`` or unbatched ``(C * kH * kW, L)``.
        output_size: spatial size ``(H, W)`` of the output, int or pair.
        kernel_size: size of the blocks, int or pair.
        dilation: spacing between block elements. Default 1.
        padding: implicit zero padding that was added on both sides. Default 0.
        stride: step between blocks. Default 1.

    Shape:
        - Input: :math:`(N, C \\cdot kH \\cdot kW, L)` or :math:`(C \\cdot kH \\cdot kW, L)`
        - Output: :math:`(N, C, H, W)` or :math:`(C, H, W)`

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxnn.functional as F
        >>> F.fold(jnp.ones((1, 4, 4)), (3, 3), 2)[0, 0]
        Array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]], dtype=float32)
    """
    if input.ndim not in (2, 3) or 0 in input.shape[1:]:
        raise RuntimeError(
            f"Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {_shape(input)}"
        )
    unbatched = input.ndim == 2
    size = ntuple(output_size, 2, "output_size")
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride)
    kk = k[0] * k[1]
    if input.shape[-2] % kk:
        raise RuntimeError(
            f"Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={input.shape[-2]} and kernel_size={k}."
        )
    blocks = _num_blocks(size, k, d, p, s)
    if blocks[0] < 1 or blocks[1] < 1 or input.shape[-1] != math.prod(blocks):
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's dimension 2 to match the calculated number "
            f"of sliding blocks {blocks[0]} * {blocks[1]} = {math.prod(blocks)}, but got "
            f"input.size(2)={input.shape[-1]}."
        )
    return _fold_kernel(input, size, k, d, p, s, blocks, unbatched)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7))
def _fold_kernel(x, size, k, d, p, s, blocks, unbatched):
    if unbatched:
        x = x[None]
    kk = k[0] * k[1]
    n, c = x.shape[0], x.shape[1] // kk
    cols = jnp.reshape(x, (n, c, kk, *blocks))
    full = (size[0] + 2 * p[0], size[1] + 2 * p[1])
    zero = jnp.zeros((), x.dtype)
    out = None
    # Each kernel offset scatters its blocks onto a strided sub-grid: lax.pad with interior
    # padding places them, the sum adds overlaps (XLA fuses the k*k pads into one loop).
    for i in range(k[0]):
        for j in range(k[1]):
            lo = (i * d[0], j * d[1])
            config = [(0, 0, 0), (0, 0, 0)] + [
                (lo[a], full[a] - lo[a] - (blocks[a] - 1) * s[a] - 1, s[a] - 1) for a in range(2)
            ]
            placed = lax.pad(cols[:, :, i * k[1] + j], zero, config)
            out = placed if out is None else out + placed
    out = out[:, :, p[0] : p[0] + size[0], p[1] : p[1] + size[1]]
    return out[0] if unbatched else out
