"""``interpolate`` and its deprecated aliases ``upsample``, ``upsample_nearest``,
``upsample_bilinear`` (re-exported by ``_vision``).

Every mode is separable, so each spatial axis is resampled in turn: for an axis the
source taps (indices) and their weights depend only on the static sizes, so they are
computed once in NumPy, in the precision torch's CPU kernels use (float32 for float32 and
half inputs, float64 for float64), with torch's exact index rules. The array work is then
one gather and one weighted sum per axis, which differentiates like torch's kernels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._utils import opmath

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

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
_MODE_NDIM = {"linear": 3, "bilinear": 4, "trilinear": 5, "bicubic": 4, "lanczos": 4}
_AXIS_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}

Taps = tuple[np.ndarray, np.ndarray | None]  # (out, K) indices, (out, K) weights or None


def _scale(
    in_size: int, out_size: int, align_corners: bool, scale: float | None, ft
) -> np.floating:
    """torch's ``area_pixel_compute_scale``: source step per output pixel."""
    if align_corners:
        return ft(in_size - 1) / ft(out_size - 1) if out_size > 1 else ft(0)
    if scale is not None and scale > 0:
        return ft(1.0 / scale)  # torch uses the user's factor, not in/out
    return ft(in_size) / ft(out_size)


def _nearest_taps(in_size: int, out_size: int, scale: float | None, exact: bool) -> Taps:
    # torch computes nearest indices in float32 whatever the dtype (floor of the float32
    # product; for nearest-exact the double product rounded to float32); bit for bit.
    i = np.arange(out_size)
    s = _scale(in_size, out_size, False, scale, np.float32)
    if exact:
        src = np.floor(((i + 0.5) * np.float64(s)).astype(np.float32))
    else:
        src = np.floor(i.astype(np.float32) * s)
    return np.minimum(src.astype(np.int64), in_size - 1)[:, None], None


def _linear_taps(in_size, out_size, align_corners, scale, ft) -> Taps:
    if out_size == in_size:  # torch copies, whatever the scale factor says
        return np.arange(out_size)[:, None], None
    s = _scale(in_size, out_size, align_corners, scale, ft)
    i = np.arange(out_size).astype(ft)
    real = s * i if align_corners else np.maximum(s * (i + ft(0.5)) - ft(0.5), ft(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam1 = np.clip(real - i0.astype(ft), 0, 1).astype(ft)
    i1 = i0 + (i0 < in_size - 1)
    return np.stack([i0, i1], -1), np.stack([ft(1) - lam1, lam1], -1)


def _cubic_weights(t: np.ndarray, a: float) -> np.ndarray:
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], -1)


def _cubic_taps(in_size, out_size, align_corners, scale, ft) -> Taps:
    s = _scale(in_size, out_size, align_corners, scale, ft)
    i = np.arange(out_size).astype(ft)
    real = s * i if align_corners else s * (i + ft(0.5)) - ft(0.5)  # no clamp for cubic
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    t = np.clip(real - i0.astype(ft), 0, 1).astype(ft)
    idx = np.clip(i0[:, None] + np.arange(-1, 3), 0, in_size - 1)  # border taps repeat
    return idx, _cubic_weights(t, -0.75).astype(ft)


def _area_taps(in_size: int, out_size: int, ft) -> Taps:
    """Adaptive average pooling's bins: [floor(i*in/out), ceil((i+1)*in/out))."""
    if out_size == 0:
        return np.zeros((0, 1), np.int64), None
    i = np.arange(out_size)
    start = (i * in_size) // out_size
    end = ((i + 1) * in_size + out_size - 1) // out_size
    k = int(np.max(end - start))
    j = np.arange(k)
    idx = np.minimum(start[:, None] + j, end[:, None] - 1)
    w = (j < (end - start)[:, None]) / (end - start)[:, None]
    return idx, w.astype(ft)


def _aa_filter(mode: str):
    if mode == "bilinear":
        return 1.0, lambda x: np.maximum(1.0 - np.abs(x), 0.0)
    if mode == "bicubic":  # Keys with a = -0.5 (PIL's), as torch's antialias kernel uses

        def cubic(x):
            x = np.abs(x)
            w = _cubic_weights(np.clip(x, 0, 1), -0.5)[..., 1]
            far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
            return np.where(x < 1, w, np.where(x < 2, far, 0.0))

        return 2.0, cubic

    def lanczos(x):  # a = 3
        return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)

    return 3.0, lanczos


def _aa_taps(in_size, out_size, align_corners, scale, mode, ft) -> Taps:
    """torch's (PIL's) antialiased resampling weights: the filter widens by the
    downscaling factor and each output's weights are normalised to sum to 1."""
    if out_size == in_size:  # torch skips the pass for an axis that keeps its size
        return np.arange(out_size)[:, None], None
    half, filt = _aa_filter(mode)
    s = _scale(in_size, out_size, align_corners, scale, ft)
    support = ft(half * s) if s >= 1.0 else ft(half)
    k = int(math.ceil(support)) * 2 + 1
    invscale = 1.0 / float(s) if s >= 1.0 else 1.0
    idx = np.zeros((out_size, k), np.int64)
    wts = np.zeros((out_size, k), np.float64)
    for i in range(out_size):
        center = float(ft(float(s) * (i + 0.5)))
        xmin = max(int(float(ft(center - support)) + 0.5), 0)
        xsize = min(int(float(ft(center + support)) + 0.5), in_size) - xmin
        xsize = min(max(xsize, 0), k)
        j = np.arange(xsize)
        w = filt((j + xmin - center + 0.5) * invscale).astype(ft).astype(np.float64)
        total = w.sum()
        if total != 0:
            w = w / total
        idx[i, :xsize] = xmin + j
        idx[i, xsize:] = xmin
        wts[i, :xsize] = w
    return idx, wts.astype(ft)


def _resample(x: jax.Array, axis: int, taps: Taps) -> jax.Array:
    idx, w = taps
    out, k = idx.shape
    g = jnp.take(x, jnp.reshape(idx, (-1,)).astype(jnp.int32), axis=axis, mode="clip")
    if w is None:
        return g
    g = jnp.reshape(g, (*x.shape[:axis], out, k, *x.shape[axis + 1 :]))
    wb = jnp.reshape(jnp.asarray(w, x.dtype), (1,) * axis + (out, k) + (1,) * (x.ndim - axis - 1))
    return jnp.sum(g * wb, axis=axis + 1)


def _check_sizes(input_shape, output_size, mode: str) -> None:
    names = _AXIS_NAMES[len(output_size)]
    # 'area' is adaptive average pooling, which accepts an empty output as torch does
    if min(input_shape) <= 0 or min(output_size) < (0 if mode == "area" else 1):
        ins = ", ".join(f"{n}: {s}" for n, s in zip(names, input_shape, strict=True))
        outs = ", ".join(f"{n}: {s}" for n, s in zip(names, output_size, strict=True))
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input ({ins}) output "
            f"({outs})"
        )


def interpolate(
    input: jax.Array,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> jax.Array:
    r"""Resize the spatial dimensions of ``(N, C, *spatial)`` to ``size`` or by ``scale_factor``.

    Modes: ``'nearest'`` (torch's legacy floor rule), ``'nearest-exact'`` (pixel centres),
    ``'linear'`` (3-d), ``'bilinear'`` (4-d), ``'bicubic'`` (4-d, :math:`A = -0.75`, taps
    clamped at the border), ``'trilinear'`` (5-d), ``'area'`` (adaptive average pooling)
    and ``'lanczos'`` (4-d, antialias only). With ``align_corners=True`` the corner pixel
    centres of input and output coincide; otherwise their outer edges do and the source
    position of output pixel ``i`` is ``(i + 0.5) * scale - 0.5``, where ``scale`` is
    ``1 / scale_factor`` when a factor is given (and ``recompute_scale_factor`` is not
    True), else ``in / out`` — exactly as torch, so results match torch's even when
    ``floor(in * scale_factor)`` is not ``in * scale_factor``. ``antialias=True`` (bilinear,
    bicubic, lanczos; 4-d) widens the kernel by the downscaling factor as PIL does.

    Differences from torch: torch's CPU antialias kernel returns wrong values when the
    output width is 1 and the height changes (it repeats the first output row); jaxnn
    returns the correct separable result there. An integer input is accepted by the
    nearest modes only (torch also interpolates ``uint8`` with rounding).

    Args:
        input: ``(N, C, W)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        size: the output spatial size (an int for all axes, or one per axis).
        scale_factor: multiplier for the spatial size (a float or one per axis);
            the output size is ``floor(in * scale_factor)``.
        mode: the algorithm, see above.
        align_corners: for the linear and cubic modes; ``None`` means False.
        recompute_scale_factor: with ``scale_factor``, compute the output size and then
            interpolate as if that size had been given.
        antialias: antialiasing when downsampling.

    Shape:
        - Input: :math:`(N, C, *S_{in})`; Output: :math:`(N, C, *S_{out})`.

    Example:
        >>> interpolate(jnp.array([[[0.0, 1.0]]]), scale_factor=2, mode="linear")
        Array([[[0.  , 0.25, 0.75, 1.  ]]], dtype=float32)
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                f"linear | bilinear | bicubic | trilinear (got mode={mode!r}); drop it."
            )
    align = bool(align_corners)
    if mode not in _MODES or input.ndim not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})"
        )
    if mode not in ("nearest", "nearest-exact") and not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(
            f"interpolate(mode={mode!r}) needs a floating-point input, got {input.dtype}; cast "
            "it first (input.astype(jnp.float32)) or use mode='nearest'."
        )
    dim = input.ndim - 2
    in_sizes = tuple(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales: list[float | None] = [None] * dim
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = list(size) if isinstance(size, Sequence) else [size] * dim
        if len(sizes) != dim:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(in_sizes)} and output size of {size}. "
                f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size "
                f"in (o1, o2, ...,oK) format."
            )
        if not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in sizes):
            raise TypeError(
                f"expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                f"Tuple[int, int, int], but got size with types {[type(s) for s in sizes]}"
            )
        out_sizes = [int(s) for s in sizes]
    else:
        factors = list(scale_factor) if isinstance(scale_factor, Sequence) else [scale_factor] * dim
        if len(factors) != dim:
            raise ValueError(
                f"Input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(in_sizes)} and scale_factor of "
                f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                f"format and scale_factor in (s1, s2, ...,sK) format."
            )
        out_sizes = [math.floor(n * float(f)) for n, f in zip(in_sizes, factors, strict=True)]
        if not (recompute_scale_factor or mode == "area"):
            scales = [float(f) for f in factors]
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    want = _MODE_NDIM.get(mode)
    if want is not None and want != input.ndim:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {want}D input")
    if mode == "lanczos" and align:
        raise ValueError("Lanczos mode does not support align_corners=True")
    if mode == "lanczos" and not antialias:
        raise ValueError("Lanczos mode requires antialias=True")
    _check_sizes(in_sizes, out_sizes, mode)

    upcast = mode not in ("nearest", "nearest-exact")  # nearest only copies values
    ft = np.float64 if input.dtype == jnp.float64 else np.float32
    taps = []
    for k in reversed(range(dim)):  # last axis first, as torch's kernels combine them
        n_in, n_out, s = in_sizes[k], out_sizes[k], scales[k]
        if mode in ("nearest", "nearest-exact"):
            taps.append(_nearest_taps(n_in, n_out, s, mode == "nearest-exact"))
        elif mode == "area":
            taps.append(_area_taps(n_in, n_out, ft))
        elif antialias:
            taps.append(_aa_taps(n_in, n_out, align, s, mode, ft))
        elif mode == "bicubic":
            taps.append(_cubic_taps(n_in, n_out, align, s, ft))
        else:
            taps.append(_linear_taps(n_in, n_out, align, s, ft))
    taps = tuple((idx.astype(np.int32), w) for idx, w in taps)
    return _resample_core(input, taps, upcast)


@partial(jax.jit, static_argnames="upcast")
def _resample_core(input, taps, upcast):
    """Resample the spatial axes last to first (the order torch's kernels combine them)."""
    x = opmath(input) if upcast else input
    for j, t in enumerate(taps):
        x = _resample(x, input.ndim - 1 - j, t)
    return x.astype(input.dtype)


def _deprecated(name: str) -> None:
    warnings.warn(
        f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.",
        UserWarning,
        stacklevel=3,
    )


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    r"""Deprecated alias of :func:`interpolate` (warns, like torch).

    Args:
        input, size, scale_factor, mode, align_corners: as for :func:`interpolate`.

    Shape:
        - Input: :math:`(N, C, *S_{in})`; Output: :math:`(N, C, *S_{out})`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     upsample(jnp.zeros((1, 1, 2)), scale_factor=2).shape
        (1, 1, 4)
    """
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    r"""Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')`` (warns).

    Args:
        input, size, scale_factor: as for :func:`interpolate`.

    Shape:
        - Input: :math:`(N, C, *S_{in})`; Output: :math:`(N, C, *S_{out})`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     upsample_nearest(jnp.zeros((1, 1, 2, 2)), size=3).shape
        (1, 1, 3, 3)
    """
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    r"""Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)`` (warns).

    Args:
        input, size, scale_factor: as for :func:`interpolate`.

    Shape:
        - Input: :math:`(N, C, H, W)`; Output: :math:`(N, C, H_{out}, W_{out})`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     upsample_bilinear(jnp.zeros((1, 1, 2, 2)), scale_factor=2).shape
        (1, 1, 4, 4)
    """
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
