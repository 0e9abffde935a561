"""Pooling layers: max, average, power-average, adaptive and max-unpooling, as torch.nn.

Each class keeps torch's attributes exactly as torch stores them (``MaxPool2d`` keeps the
``kernel_size`` it was given, ``AvgPool1d`` and ``MaxUnpool`` normalise to tuples), so the
printout is torch's; the arguments are validated once, at construction, and the forward is
one call into ``jaxnn.functional``.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module
from .conv import sizes, static

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]

_SP = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_window(n: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1) -> None:
    """torch's pooling-window rules, checked at construction rather than at the first call."""
    k = sizes(kernel_size, n, "kernel_size", 1)
    if stride is not None:
        sizes(stride, n, "stride", 1)
    sizes(dilation, n, "dilation", 1)
    p = sizes(padding, n, "padding", 0)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise ValueError(
            f"pad should be at most half of effective kernel size, but got padding={padding!r} "
            f"and kernel_size={kernel_size!r}; use padding <= kernel_size // 2 in every dim."
        )


class _MaxPoolNd(Module):
    kernel_size: Any = eqx.field(static=True)
    stride: Any = eqx.field(static=True)
    padding: Any = eqx.field(static=True)
    dilation: Any = eqx.field(static=True)
    return_indices: bool = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)

    _n = 0

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _check_window(self._n, kernel_size, stride, padding, dilation)
        self.kernel_size = static(kernel_size)
        self.stride = static(stride if stride is not None else kernel_size)
        self.padding = static(padding)
        self.dilation = static(dilation)
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return _MAX[self._n](
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


_MAX_DOC = """Applies a {n}D max pooling over an input of {n} spatial dims.

    Args:
        kernel_size: size of the window, int or tuple of {n} ints.
        stride: step of the window. Default: ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel. Default 0.
        dilation: spacing between window elements. Default 1.
        return_indices: also return the flat argmax indices (for ``MaxUnpool{n}d``).
        ceil_mode: use ceil instead of floor for the output size. Default False.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`, with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - d(k-1) - 1)/s \\rfloor + 1` per dim.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MaxPool{n}d(2)
    MaxPool{n}d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> nn.MaxPool{n}d(2)(jnp.ones((1, 3, {fours}))).shape
    {half}
    """


class MaxPool1d(_MaxPoolNd):
    _n = 1


class MaxPool2d(_MaxPoolNd):
    _n = 2


class MaxPool3d(_MaxPoolNd):
    _n = 3


_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


class AvgPool1d(Module):
    """Applies a 1D average pooling over an input of 1 spatial dim.

    torch stores this class's sizes as 1-tuples (and prints them so).

    Args:
        kernel_size: size of the window.
        stride: step of the window. Default: ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel. Default 0.
        ceil_mode: use ceil instead of floor for the output size. Default False.
        count_include_pad: count the zero padding in the divisor. Default True.

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`; Output: :math:`(N, C, L_{out})` or
          :math:`(C, L_{out})`, :math:`L_{out} = \\lfloor (L + 2p - k)/s \\rfloor + 1`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.AvgPool1d(3, stride=2)
    AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))
    >>> nn.AvgPool1d(2)(jnp.arange(4.0).reshape(1, 1, 4))
    Array([[[0.5, 2.5]]], dtype=float32)
    """

    kernel_size: tuple[int] = eqx.field(static=True)
    stride: tuple[int] = eqx.field(static=True)
    padding: tuple[int] = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)
    count_include_pad: bool = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        _check_window(1, kernel_size, stride, padding)
        self.kernel_size = sizes(kernel_size, 1, "kernel_size", 1)
        self.stride = sizes(stride if stride is not None else kernel_size, 1, "stride", 1)
        self.padding = sizes(padding, 1, "padding", 0)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: jax.Array) -> jax.Array:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    kernel_size: Any = eqx.field(static=True)
    stride: Any = eqx.field(static=True)
    padding: Any = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)
    count_include_pad: bool = eqx.field(static=True)
    divisor_override: int | None = eqx.field(static=True)

    _n = 0

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        _check_window(self._n, kernel_size, stride, padding)
        if divisor_override is not None and (
            isinstance(divisor_override, bool)
            or not isinstance(divisor_override, int)
            or divisor_override == 0
        ):
            raise ValueError(
                f"divisor_override must be a non-zero int or None, got {divisor_override!r} "
                f"(torch: divisor must be not zero)."
            )
        self.kernel_size = static(kernel_size)
        self.stride = static(stride if stride is not None else kernel_size)
        self.padding = static(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: jax.Array) -> jax.Array:
        return _AVG[self._n](
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


_AVG_DOC = """Applies a {n}D average pooling over an input of {n} spatial dims.

    Args:
        kernel_size: size of the window, int or tuple of {n} ints.
        stride: step of the window. Default: ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel. Default 0.
        ceil_mode: use ceil instead of floor for the output size. Default False.
        count_include_pad: count the zero padding in the divisor. Default True.
        divisor_override: if given, divide every window sum by this instead. Default None.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`, with
          :math:`L_{{out}} = \\lfloor (L_{{in}} + 2p - k)/s \\rfloor + 1` per dim.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.AvgPool{n}d(2)
    AvgPool{n}d(kernel_size=2, stride=2, padding=0)
    >>> nn.AvgPool{n}d(2)(jnp.ones((1, 3, {fours}))).shape
    {half}
    """


class AvgPool2d(_AvgPoolNd):
    _n = 2


class AvgPool3d(_AvgPoolNd):
    _n = 3


_AVG = {2: F.avg_pool2d, 3: F.avg_pool3d}


class _LPPoolNd(Module):
    norm_type: float = eqx.field(static=True)
    kernel_size: Any = eqx.field(static=True)
    stride: Any = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)

    _n = 0

    def __init__(
        self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
    ) -> None:
        super().__init__()
        if isinstance(norm_type, bool) or not isinstance(norm_type, int | float):
            raise TypeError(
                f"norm_type must be a number (the power p), got {type(norm_type).__name__} {norm_type!r}."
            )
        _check_window(self._n, kernel_size, stride, 0)
        self.norm_type = norm_type
        self.kernel_size = static(kernel_size)
        self.stride = static(stride)
        self.ceil_mode = ceil_mode

    def forward(self, input: jax.Array) -> jax.Array:
        return _LP[self._n](
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


_LP_DOC = """Applies a {n}D power-average pooling: :math:`(\\sum_{{x \\in X}} x^p)^{{1/p}}` per window.

    p = ∞ gives max pooling, p = 1 sum pooling (average pooling times the window size).

    Args:
        norm_type: the power p.
        kernel_size: size of the window, int or tuple of {n} ints.
        stride: step of the window. Default (None): ``kernel_size``.
        ceil_mode: use ceil instead of floor for the output size. Default False.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`, with
          :math:`L_{{out}} = \\lfloor (L_{{in}} - k)/s \\rfloor + 1` per dim.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.LPPool{n}d(2, 2)
    LPPool{n}d(norm_type=2, kernel_size=2, stride=None, ceil_mode=False)
    >>> nn.LPPool{n}d(2, 2)(jnp.ones((1, 3, {fours}))).shape
    {half}
    """


class LPPool1d(_LPPoolNd):
    _n = 1


class LPPool2d(_LPPoolNd):
    _n = 2


class LPPool3d(_LPPoolNd):
    _n = 3


_LP = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}


def _check_output_size(output_size: Any, n: int) -> Any:
    """An int, or a tuple of ``n`` ints (None keeps that input size, for 2d/3d), each >= 0."""
    allow_none = n > 1
    values = output_size if isinstance(output_size, tuple | list) else (output_size,) * n
    ok = len(values) == n and all(
        (v is None and allow_none) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        for v in values
    )
    if not ok:
        what = "int" if n == 1 else f"int or a tuple of {n} ints (None keeps that input size)"
        raise ValueError(
            f"output_size must be a non-negative {what}, got output_size={output_size!r}."
        )
    return static(output_size)


class _AdaptiveAvgPoolNd(Module):
    output_size: Any = eqx.field(static=True)

    _n = 0

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = _check_output_size(output_size, self._n)

    def forward(self, input: jax.Array) -> jax.Array:
        return _ADAPTIVE_AVG[self._n](input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(Module):
    output_size: Any = eqx.field(static=True)
    return_indices: bool = eqx.field(static=True)

    _n = 0

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = _check_output_size(output_size, self._n)
        self.return_indices = return_indices

    def forward(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return _ADAPTIVE_MAX[self._n](input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


_ADAPTIVE_DOC = """Applies a {n}D adaptive {kind} pooling: the output has ``output_size`` for any input size.

    Output cell ``i`` of a dim of length ``L`` pooled to ``out`` covers input
    ``[floor(i·L/out), ceil((i+1)·L/out))``, as torch.

    Args:
        output_size: the target size, int or tuple of {n} ints{none}.{ri}

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`, :math:`S_{{out}}` = ``output_size``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Adaptive{Kind}Pool{n}d(2)(jnp.ones((1, 3, {fives}))).shape
    {two}
    """


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    _n = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    _n = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    _n = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    _n = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    _n = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    _n = 3


_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


class _MaxUnpoolNd(Module):
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)

    _n = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        n = self._n
        self.kernel_size = sizes(kernel_size, n, "kernel_size", 1)
        self.stride = sizes(stride if stride is not None else kernel_size, n, "stride", 1)
        self.padding = sizes(padding, n, "padding", 0)

    def forward(self, input: jax.Array, indices: jax.Array, output_size: Any = None) -> jax.Array:
        return _UNPOOL[self._n](
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


_UNPOOL_DOC = """Computes a partial inverse of MaxPool{n}d: each value goes back to its argmax, zeros elsewhere.

    Args:
        kernel_size: size of the max-pooling window, int or tuple of {n} ints.
        stride: step of the window. Default: ``kernel_size``.
        padding: padding that was added to the input. Default 0.

    ``forward(input, indices, output_size=None)``: ``indices`` are those returned by
    ``MaxPool{n}d(..., return_indices=True)``; ``output_size`` resolves the ambiguity when
    several input sizes pool to the same size.

    Shape:
        - Input: :math:`(N, C, {sp})` or :math:`(C, {sp})`
        - Output: :math:`(N, C, {osp})` or :math:`(C, {osp})`, with
          :math:`L_{{out}} = (L_{{in}} - 1)s - 2p + k` per dim, or ``output_size``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> pool, unpool = nn.MaxPool{n}d(2, return_indices=True), nn.MaxUnpool{n}d(2)
    >>> unpool
    MaxUnpool{n}d(kernel_size={kt}, stride={kt}, padding={zt})
    >>> y, i = pool(jnp.ones((1, 3, {fours})))
    >>> unpool(y, i).shape
    {full}
    """


class MaxUnpool1d(_MaxUnpoolNd):
    _n = 1


class MaxUnpool2d(_MaxUnpoolNd):
    _n = 2


class MaxUnpool3d(_MaxUnpoolNd):
    _n = 3


_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}


def _fill(template: str, n: int, **extra: str) -> str:
    sp = _SP[n]
    return template.format(
        n=n,
        sp=sp,
        osp=", ".join(s + "_{out}" for s in sp.split(", ")),
        fours=", ".join(["4"] * n),
        fives=", ".join(["5"] * n),
        half=(1, 3) + (2,) * n,
        two=(1, 3) + (2,) * n,
        full=(1, 3) + (4,) * n,
        kt=(2,) * n,
        zt=(0,) * n,
        **extra,
    )


for _n, _cls in ((1, MaxPool1d), (2, MaxPool2d), (3, MaxPool3d)):
    _cls.__doc__ = _fill(_MAX_DOC, _n)
for _n, _cls in ((2, AvgPool2d), (3, AvgPool3d)):
    _cls.__doc__ = _fill(_AVG_DOC, _n)
for _n, _cls in ((1, LPPool1d), (2, LPPool2d), (3, LPPool3d)):
    _cls.__doc__ = _fill(_LP_DOC, _n)
for _n, _cls in ((1, MaxUnpool1d), (2, MaxUnpool2d), (3, MaxUnpool3d)):
    _cls.__doc__ = _fill(_UNPOOL_DOC, _n)
for _n, _avg, _max in (
    (1, AdaptiveAvgPool1d, AdaptiveMaxPool1d),
    (2, AdaptiveAvgPool2d, AdaptiveMaxPool2d),
    (3, AdaptiveAvgPool3d, AdaptiveMaxPool3d),
):
    _none = "" if _n == 1 else "; None keeps that input size"
    _avg.__doc__ = _fill(_ADAPTIVE_DOC, _n, kind="average", Kind="Avg", none=_none, ri="")
    _max.__doc__ = _fill(
        _ADAPTIVE_DOC,
        _n,
        kind="max",
        Kind="Max",
        none=_none,
        ri="\n        return_indices: also return the flat argmax indices. Default False.",
    )
