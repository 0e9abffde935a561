"""Resampling, rearranging and comparing layers: Upsample, PixelShuffle, ChannelShuffle,
CosineSimilarity, PairwiseDistance, as torch.nn. Each forward is one ``jaxnn.functional`` call.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module
from ._utils import check_positive_int

__all__ = [
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "ChannelShuffle",
    "CosineSimilarity",
    "PairwiseDistance",
]

_MODES = (
    "nearest",
    "linear",
    "bilinear",
    "bicubic",
    "trilinear",
    "area",
    "nearest-exact",
    "lanczos",
)
_ALIGNABLE = ("linear", "bilinear", "bicubic", "trilinear")


class Upsample(Module):
    """Upsamples multi-channel 1d/2d/3d data to ``size`` or by ``scale_factor`` (F.interpolate).

    Args:
        size: output spatial size, int or tuple (give this or ``scale_factor``).
        scale_factor: multiplier for the spatial size, float or tuple of floats.
        mode: ``'nearest'``, ``'linear'``, ``'bilinear'``, ``'bicubic'``, ``'trilinear'``,
            ``'area'``, ``'nearest-exact'``. Default ``'nearest'``.
        align_corners: for the linear modes, align the corner pixels' centres. Default None.
        recompute_scale_factor: recompute the scale from the computed output size. Default None.

    Shape:
        - Input: :math:`(N, C, W_{in})`, :math:`(N, C, H_{in}, W_{in})` or
          :math:`(N, C, D_{in}, H_{in}, W_{in})`
        - Output: the same with each spatial size :math:`\\lfloor S_{in} \\times \\text{scale} \\rfloor`
          or ``size``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Upsample(scale_factor=2, mode="bilinear")
    Upsample(scale_factor=2.0, mode='bilinear')
    """

    size: Any = eqx.field(static=True)
    scale_factor: float | tuple[float, ...] | None = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    align_corners: bool | None = eqx.field(static=True)
    recompute_scale_factor: bool | None = eqx.field(static=True)

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        if isinstance(scale_factor, tuple | list):
            scale_factor = tuple(float(f) for f in scale_factor)
        else:
            # torch's conversion: a falsy factor (0) means "not given".
            scale_factor = float(scale_factor) if scale_factor else None
        if (size is None) == (scale_factor is None):
            which = "either" if size is None else "only one of"
            raise ValueError(
                f"{which} size or scale_factor should be defined (got size={size!r}, "
                f"scale_factor={scale_factor!r}); e.g. Upsample(scale_factor=2) or Upsample(size=(H, W))."
            )
        if mode not in _MODES:
            raise ValueError(f"mode={mode!r} is not valid; choose one of {_MODES}.")
        if align_corners is not None and mode not in _ALIGNABLE:
            raise ValueError(
                f"align_corners option can only be set with the interpolating modes: "
                f"linear | bilinear | bicubic | trilinear (got mode={mode!r}); leave it None."
            )
        self.size = tuple(size) if isinstance(size, list) else size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: jax.Array) -> jax.Array:
        return F.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """2D nearest-neighbour upsampling: ``Upsample(size, scale_factor, mode='nearest')``.

    torch marks it deprecated in favour of ``F.interpolate``.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})`; Output: :math:`(N, C, H_{out}, W_{out})`.

    >>> import jaxnn as nn
    >>> nn.UpsamplingNearest2d(scale_factor=2)
    UpsamplingNearest2d(scale_factor=2.0, mode='nearest')
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """2D bilinear upsampling with ``align_corners=True`` (torch's legacy behaviour).

    torch marks it deprecated in favour of ``F.interpolate(..., mode='bilinear',
    align_corners=True)``.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})`; Output: :math:`(N, C, H_{out}, W_{out})`.

    >>> import jaxnn as nn
    >>> nn.UpsamplingBilinear2d(size=4)
    UpsamplingBilinear2d(size=4, mode='bilinear')
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """Rearranges ``(*, C·r², H, W)`` into ``(*, C, H·r, W·r)`` (sub-pixel convolution).

    Args:
        upscale_factor: the factor r.

    Shape:
        - Input: :math:`(*, C \\times r^2, H, W)`; Output: :math:`(*, C, H \\times r, W \\times r)`.

    >>> import jaxnn as nn
    >>> nn.PixelShuffle(3)
    PixelShuffle(upscale_factor=3)
    """

    upscale_factor: int = eqx.field(static=True)

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = check_positive_int(upscale_factor, "upscale_factor")

    def forward(self, input: jax.Array) -> jax.Array:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Reverses PixelShuffle: ``(*, C, H·r, W·r)`` into ``(*, C·r², H, W)``.

    Args:
        downscale_factor: the factor r.

    Shape:
        - Input: :math:`(*, C, H \\times r, W \\times r)`; Output: :math:`(*, C \\times r^2, H, W)`.

    >>> import jaxnn as nn
    >>> nn.PixelUnshuffle(3)
    PixelUnshuffle(downscale_factor=3)
    """

    downscale_factor: int = eqx.field(static=True)

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = check_positive_int(downscale_factor, "downscale_factor")

    def forward(self, input: jax.Array) -> jax.Array:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Splits the channels into ``groups`` and interleaves them (ShuffleNet).

    ``(*, C, ...)`` with ``C = g·k`` is viewed as ``(g, k)`` channels and transposed to ``(k, g)``.

    Args:
        groups: number of groups; divides the channel count.

    Shape:
        - Input: :math:`(N, C, *)`; Output: the same shape.

    >>> import jaxnn as nn
    >>> nn.ChannelShuffle(2)
    ChannelShuffle(groups=2)
    """

    groups: int = eqx.field(static=True)

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = check_positive_int(groups, "groups")

    def forward(self, input: jax.Array) -> jax.Array:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class CosineSimilarity(Module):
    """Cosine similarity of ``x1`` and ``x2`` along ``dim``, each norm clamped below by ``eps``.

    Args:
        dim: the dimension of the vectors. Default 1.
        eps: lower bound of each norm, to avoid division by zero. Default 1e-8.

    Shape:
        - Input1: :math:`(*_1, D, *_2)`; Input2: broadcastable to Input1.
        - Output: :math:`(*_1, *_2)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.CosineSimilarity(dim=1)(jnp.array([[1.0, 0.0]]), jnp.array([[2.0, 0.0]]))
    Array([1.], dtype=float32)
    """

    dim: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance of ``x1 - x2 + eps`` along the last dimension.

    Args:
        p: the norm degree (may be negative, 0 or inf). Default 2. Stored as ``norm``, as torch.
        eps: added to the difference to avoid a zero vector. Default 1e-6.
        keepdim: keep the reduced dimension. Default False.

    Shape:
        - Input1: :math:`(N, D)` or :math:`(D)`; Input2: broadcastable to Input1.
        - Output: :math:`(N)` or :math:`()`; with ``keepdim``, :math:`(N, 1)` or :math:`(1)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.PairwiseDistance(eps=0.0)(jnp.array([[3.0, 4.0]]), jnp.zeros((1, 2)))
    Array([5.], dtype=float32)
    """

    norm: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    keepdim: bool = eqx.field(static=True)

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
