"""Convolutions, transposed convolutions, Unfold and Fold, as torch.nn.

One ``_ConvNd`` base validates and canonicalises every argument once, in ``__init__``
(int-or-tuple to tuple, padding strings, ``padding_mode``), stores torch's attributes
under torch's names, and draws torch's default initialisation. The concrete classes only
say how many spatial dimensions they have; their forward is one call into
``jaxnn.functional`` (plus ``F.pad`` first for the non-zero padding modes, exactly as
torch's ``_conv_forward``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .. import init
from .._module import Module
from ..functional._utils import ntuple
from ._utils import factory_dtype, place, split_key

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Unfold",
    "Fold",
]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _channels(value: Any, name: str) -> int:
    """A channel count: an int >= 0. torch raises a TypeError for floats such as ``c / 4``."""
    if isinstance(value, float):
        raise TypeError(
            f"{name} must be an int, got float {value!r}: channel counts are whole numbers. "
            f"If it was computed as `in_channel / 4`, use integer division `in_channel // 4`."
        )
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}.")
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}.")
    return value


def sizes(value: Any, n: int, name: str, low: int) -> tuple[int, ...]:
    """int-or-sequence -> ``n``-tuple of ints, each >= ``low`` (torch's ``_ntuple`` + a check)."""
    out = ntuple(value, n, name)
    if any(v < low for v in out):
        bound = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{name} must be {bound}, got {name}={value!r}.")
    return out


def static(value: Any) -> Any:
    """A user's int-or-sequence as a hashable static value (lists become tuples)."""
    return tuple(value) if isinstance(value, list) else value


class _ConvNd(Module):
    """Shared fields, validation, initialisation and printout of every convolution."""

    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | tuple[int, ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    output_padding: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)
    padding_mode: str = eqx.field(static=True)
    # F.pad's (last dim first, before/after) form of the padding, used by the non-zero
    # padding modes; torch's attribute of the same name.
    _reversed_padding_repeated_twice: tuple[int, ...] = eqx.field(static=True)

    _n = 0  # number of spatial dimensions, set by each concrete class

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        transposed: bool,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        n, name = self._n, type(self).__name__
        in_channels = _channels(in_channels, "in_channels")
        out_channels = _channels(out_channels, "out_channels")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"groups must be a positive integer, got groups={groups!r}.")
        if in_channels % groups != 0:
            raise ValueError(
                f"in_channels must be divisible by groups, got in_channels={in_channels} and "
                f"groups={groups}; pick groups among the common divisors of both channel counts."
            )
        if out_channels % groups != 0:
            raise ValueError(
                f"out_channels must be divisible by groups, got out_channels={out_channels} and "
                f"groups={groups}; pick groups among the common divisors of both channel counts."
            )
        kernel_size = sizes(kernel_size, n, "kernel_size", 1)
        stride = sizes(stride, n, "stride", 1)
        dilation = sizes(dilation, n, "dilation", 1)
        output_padding = sizes(output_padding, n, "output_padding", 0)
        if isinstance(padding, str):
            if transposed:
                raise ValueError(
                    f"{name} does not take a padding string ({padding!r}); pass an int or a "
                    f"tuple of {n} ints, and output_padding or forward(x, output_size=...) to "
                    f"choose the output size."
                )
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}} "
                    f"(or an int / a tuple of {n} ints)."
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' is not supported for strided convolutions (stride={stride}); "
                    f"use stride=1, or explicit integer padding with the stride."
                )
        else:
            padding = sizes(padding, n, "padding", 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {set(_PADDING_MODES)}, but got padding_mode={padding_mode!r}."
            )
        if transposed and padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {name}, got {padding_mode!r}.'
            )

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = _reversed_padding(padding, kernel_size, dilation)

        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        dtype = factory_dtype(dtype)
        wkey, bkey = split_key(key, 2)
        # torch's reset_parameters: kaiming_uniform(a=√5), i.e. U(±1/√fan_in), and the bias
        # U(±1/√fan_in) with fan_in = weight.shape[1] * prod(kernel_size).
        self.weight = place(
            init.kaiming_uniform_(shape, a=math.sqrt(5), key=wkey, dtype=dtype), device
        )
        if bias:
            fan_in, _ = init._calculate_fan_in_and_fan_out(shape)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias = place(
                init.uniform_((out_channels,), -bound, bound, key=bkey, dtype=dtype), device
            )
        else:
            self.bias = None

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _reversed_padding(
    padding: str | tuple[int, ...], kernel_size: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...]:
    """Padding in F.pad's order: last spatial dim first, (before, after) for each."""
    if padding == "valid":
        pairs = [(0, 0)] * len(kernel_size)
    elif padding == "same":
        # Total d*(k-1); when it is odd the extra element goes after, as torch.
        pairs = [
            (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
            for k, d in zip(kernel_size, dilation, strict=True)
        ]
    else:
        pairs = [(p, p) for p in padding]
    return tuple(v for pair in reversed(pairs) for v in pair)


class _Conv(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: str | int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups,
            bias, padding_mode, device, dtype, key=key,
        )  # fmt: skip

    def _conv_forward(
        self, input: jax.Array, weight: jax.Array, bias: jax.Array | None
    ) -> jax.Array:
        conv = _CONV[self._n]
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: jax.Array) -> jax.Array:
        return self._conv_forward(input, self.weight, self.bias)


_CONV_DOC = """Applies a {n}D convolution (cross-correlation) over an input of {n} spatial dims.

    ``weight`` is ``(out_channels, in_channels/groups, {k})`` and ``bias`` ``(out_channels,)``,
    both initialised as torch: U(-1/√fan_in, 1/√fan_in) with
    fan_in = in_channels/groups · prod(kernel_size).

    Args:
        in_channels: channels of the input (an int).
        out_channels: channels produced by the convolution (an int).
        kernel_size: size of the kernel, int or tuple of {n} ints.
        stride: stride of the convolution. Default 1.
        padding: int, tuple of {n} ints, ``'valid'`` (none) or ``'same'`` (output size equals
            input size; stride must be 1). Default 0.
        dilation: spacing between kernel elements. Default 1.
        groups: blocked connections from input to output channels; divides both. Default 1.
        bias: learn an additive bias. Default True.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape:
        - Input: :math:`(N, C_{{in}}, {sp})` or :math:`(C_{{in}}, {sp})`
        - Output: :math:`(N, C_{{out}}, {osp})` or :math:`(C_{{out}}, {osp})`, with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - d(k-1) - 1)/s \\rfloor + 1` per dim.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Conv{n}d(2, 4, 3, padding=1)
    >>> m
    Conv{n}d(2, 4, kernel_size={kt}, stride={ones}, padding={ones})
    >>> m(jnp.ones((1, 2, {fives}))).shape
    {shape}
    """


class Conv1d(_Conv):
    _n = 1


class Conv2d(_Conv):
    _n = 2


class Conv3d(_Conv):
    _n = 3


class _ConvTranspose(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, ...] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, True,
            output_padding, groups, bias, padding_mode, device, dtype, key=key,
        )  # fmt: skip

    def _output_padding(
        self,
        input: jax.Array,
        output_size: Sequence[int] | None,
        stride: Sequence[int],
        padding: Sequence[int],
        kernel_size: Sequence[int],
        num_spatial_dims: int,
        dilation: Sequence[int] | None = None,
    ) -> tuple[int, ...]:
        """The output_padding that gives ``output_size`` (torch's rule; sizes are static)."""
        if output_size is None:
            return self.output_padding
        n = num_spatial_dims
        non_spatial = 2 if input.ndim == n + 2 else 1
        size = [int(s) for s in output_size]
        if len(size) == non_spatial + n:
            size = size[non_spatial:]
        if len(size) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or "
                f"{non_spatial + n} elements (got {len(size)}); pass the spatial sizes, e.g. "
                f"output_size={tuple(input.shape[-n:])}."
            )
        dilation = dilation if dilation is not None else (1,) * n
        spatial = input.shape[non_spatial:]
        min_sizes = [
            (spatial[d] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (kernel_size[d] - 1) + 1
            for d in range(n)
        ]
        max_sizes = [lo + stride[d] - 1 for d, lo in enumerate(min_sizes)]
        if any(not lo <= s <= hi for s, lo, hi in zip(size, min_sizes, max_sizes, strict=True)):
            raise ValueError(
                f"requested an output size of {size}, but valid sizes range from {min_sizes} to "
                f"{max_sizes} (for an input of spatial size {list(spatial)})."
            )
        return tuple(s - lo for s, lo in zip(size, min_sizes, strict=True))

    def forward(self, input: jax.Array, output_size: Sequence[int] | None = None) -> jax.Array:
        n = self._n
        output_padding = self._output_padding(
            input, output_size, self.stride, self.padding, self.kernel_size, n, self.dilation
        )
        return _CONV_T[n](
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


_CONV_T_DOC = """Applies a {n}D transposed convolution ("deconvolution"): the gradient of Conv{n}d.

    ``weight`` is ``(in_channels, out_channels/groups, {k})`` (torch's transposed layout)
    and ``bias`` ``(out_channels,)``, both initialised as torch: U(-1/√fan_in, 1/√fan_in)
    with fan_in = out_channels/groups · prod(kernel_size).

    Args:
        in_channels, out_channels: channel counts (ints divisible by ``groups``).
        kernel_size: size of the kernel, int or tuple of {n} ints.
        stride: stride of the convolution. Default 1.
        padding: ``dilation*(kernel_size-1) - padding`` zeros are added to both sides of the
            input. Default 0.
        output_padding: extra size added to one side of the output. Default 0.
        groups: blocked connections from input to output channels. Default 1.
        bias: learn an additive bias. Default True.
        dilation: spacing between kernel elements. Default 1.
        padding_mode: only ``'zeros'``, as torch.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    ``forward(input, output_size=None)``: an ``output_size`` (spatial, or with the batch and
    channel dims) picks the output_padding that produces it, as torch.

    Shape:
        - Input: :math:`(N, C_{{in}}, {sp})` or :math:`(C_{{in}}, {sp})`
        - Output: :math:`(N, C_{{out}}, {osp})` or :math:`(C_{{out}}, {osp})`, with
          :math:`L_{{out}} = (L_{{in}} - 1)s - 2p + d(k - 1) + \\text{{output\\_padding}} + 1`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.ConvTranspose{n}d(2, 4, 3, stride=2)
    >>> m(jnp.ones((1, 2, {fives}))).shape
    {tshape}
    >>> m(jnp.ones((1, 2, {fives})), output_size={tsize}).shape
    {tshape2}
    """


class ConvTranspose1d(_ConvTranspose):
    _n = 1


class ConvTranspose2d(_ConvTranspose):
    _n = 2


class ConvTranspose3d(_ConvTranspose):
    _n = 3


def _fill(template: str, n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    return template.format(
        n=n,
        sp=sp,
        osp=", ".join(s + "_{out}" for s in sp.split(", ")),
        k=", ".join("k" + s for s in sp.split(", ")),
        kt=(3,) * n,
        ones=(1,) * n,
        fives=", ".join(["5"] * n),
        shape=(1, 4) + (5,) * n,
        tshape=(1, 4) + (11,) * n,
        tsize=[12] * n,
        tshape2=(1, 4) + (12,) * n,
    )


for _n, _cls in ((1, Conv1d), (2, Conv2d), (3, Conv3d)):
    _cls.__doc__ = _fill(_CONV_DOC, _n)
for _n, _cls in ((1, ConvTranspose1d), (2, ConvTranspose2d), (3, ConvTranspose3d)):
    _cls.__doc__ = _fill(_CONV_T_DOC, _n)


class Unfold(Module):
    """Extracts sliding local blocks from a batched image-like input (im2col).

    Args:
        kernel_size: size of the blocks, int or pair.
        dilation: spacing between block elements. Default 1.
        padding: implicit zero padding on both sides. Default 0.
        stride: step between blocks. Default 1.

    The arguments are kept as given (torch's attributes and printout).

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`
        - Output: :math:`(N, C \\cdot kH \\cdot kW, L)` or :math:`(C \\cdot kH \\cdot kW, L)`,
          :math:`L` the number of blocks.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Unfold(kernel_size=(2, 3))(jnp.ones((2, 5, 3, 4))).shape
    (2, 30, 4)
    """

    kernel_size: int | tuple[int, ...] = eqx.field(static=True)
    dilation: int | tuple[int, ...] = eqx.field(static=True)
    padding: int | tuple[int, ...] = eqx.field(static=True)
    stride: int | tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        _check_blocks(kernel_size, dilation, padding, stride)
        self.kernel_size = static(kernel_size)
        self.dilation = static(dilation)
        self.padding = static(padding)
        self.stride = static(stride)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(Module):
    """Combines an array of sliding local blocks into an image, summing overlaps (col2im).

    Args:
        output_size: spatial size ``(H, W)`` of the output, int or pair.
        kernel_size: size of the blocks, int or pair.
        dilation: spacing between block elements. Default 1.
        padding: implicit zero padding that was added on both sides. Default 0.
        stride: step between blocks. Default 1.

    Shape:
        - Input: :math:`(N, C \\cdot kH \\cdot kW, L)` or :math:`(C \\cdot kH \\cdot kW, L)`
        - Output: :math:`(N, C, H, W)` or :math:`(C, H, W)`

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(jnp.ones((1, 12, 12))).shape
    (1, 3, 4, 5)
    """

    output_size: int | tuple[int, ...] = eqx.field(static=True)
    kernel_size: int | tuple[int, ...] = eqx.field(static=True)
    dilation: int | tuple[int, ...] = eqx.field(static=True)
    padding: int | tuple[int, ...] = eqx.field(static=True)
    stride: int | tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        output_size: Any,
        kernel_size: Any,
        dilation: Any = 1,
        padding: Any = 0,
        stride: Any = 1,
    ) -> None:
        super().__init__()
        sizes(output_size, 2, "output_size", 1)
        _check_blocks(kernel_size, dilation, padding, stride)
        self.output_size = static(output_size)
        self.kernel_size = static(kernel_size)
        self.dilation = static(dilation)
        self.padding = static(padding)
        self.stride = static(stride)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


def _check_blocks(kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
    sizes(kernel_size, 2, "kernel_size", 1)
    sizes(dilation, 2, "dilation", 1)
    sizes(padding, 2, "padding", 0)
    sizes(stride, 2, "stride", 1)
