"""``grid_sample`` and ``affine_grid`` (re-exported by ``_vision``).

Sampling is written once for 4-d and 5-d inputs: every mode reads a fixed set of taps
around each sampling position (1 for nearest, 2**d corners for (bi/tri)linear, 4 x 4 for
bicubic) with one gather, weighted by differentiable functions of the grid, so gradients
w.r.t. both the input and the grid follow from autodiff and match torch's kernels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._utils import opmath

__all__ = ["grid_sample", "affine_grid"]


def _unnormalize(coord: jax.Array, size: int, align_corners: bool) -> jax.Array:
    """[-1, 1] -> pixel index: the corner pixels' centres, or their outer edges."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _clip(coord: jax.Array, size: int) -> jax.Array:
    """Clamp to ``[0, size - 1]`` as torch's ``clip_coordinates`` does.

    A NaN coordinate clamps to 0 (torch's kernels read the border pixel there). The
    gradient is the coordinate's times 1 strictly inside ``(0, size - 1)`` and times 0
    elsewhere: a multiplication as in torch, so an infinite upstream gradient on the
    border gives NaN, and jnp.clip's 0.5 at a tie is avoided.
    """
    hi = size - 1
    value = jnp.where(coord > 0, jnp.where(coord >= hi, float(hi), coord), 0.0).astype(coord.dtype)
    inside = ((coord > 0) & (coord < hi)).astype(coord.dtype)
    finite = jnp.where(jnp.isfinite(coord), coord, jnp.zeros_like(coord))
    return jax.lax.stop_gradient(value) + (finite - jax.lax.stop_gradient(finite)) * inside


def _reflect(coord: jax.Array, twice_low: int, twice_high: int) -> jax.Array:
    """Reflect into [twice_low / 2, twice_high / 2] as often as needed (torch's rule)."""
    if twice_low == twice_high:
        return jnp.zeros_like(coord)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    c = jnp.abs(coord - low)
    extra = jnp.fmod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _pad_coord(coord: jax.Array, size: int, padding_mode: str, align_corners: bool) -> jax.Array:
    if padding_mode == "border":
        return _clip(coord, size)
    if padding_mode == "reflection":
        if align_corners:
            coord = _reflect(coord, 0, 2 * (size - 1))
        else:
            coord = _reflect(coord, -1, 2 * size - 1)
        return _clip(coord, size)
    return coord


def _index(coord: jax.Array) -> jax.Array:
    """Integer tap index of a float coordinate; NaN, +-inf and huge values become an index
    far out of bounds (a float -> int cast would turn NaN into 0, a real pixel: torch reads
    nothing there)."""
    far = -(2.0**30)
    return jnp.where(jnp.abs(coord) < -far, coord, far).astype(jnp.int32)


def _sample_taps(
    x: jax.Array, idx: list[jax.Array], w: jax.Array, sizes: tuple[int, ...]
) -> jax.Array:
    """``sum_t w[t] * x[n, :, idx[t]]`` over ``T`` taps, zero where a tap is out of bounds.

    ``idx`` holds one integer array ``(T, N, *out)`` per spatial axis and ``w`` is
    ``(T, N, *out)``. All taps are read by one gather (one scatter-add in the backward
    pass), which keeps the compiled program small.
    """
    n, c = x.shape[:2]
    t, out = idx[0].shape[0], idx[0].shape[2:]
    valid = jnp.ones(idx[0].shape, bool)
    lin = jnp.zeros(idx[0].shape, jnp.int32)
    for k, (i, s) in enumerate(zip(idx, sizes, strict=True)):
        valid = valid & (i >= 0) & (i < s)
        lin = lin + jnp.clip(i, 0, s - 1) * math.prod(sizes[k + 1 :])
    # explicit sizes (no -1): an empty batch, channel axis or output is allowed
    lin = jnp.reshape(jnp.moveaxis(lin, 0, 1), (n, t * math.prod(out)))
    flat = jnp.reshape(x, (n, c, math.prod(sizes)))
    vals = jax.vmap(lambda f, j: jnp.take(f, j, axis=1, mode="clip"))(flat, lin)
    vals = jnp.reshape(vals, (n, c, t, *out))
    # The value of an out-of-bounds tap is 0, not its weight (torch's kernels): a NaN weight
    # (a NaN or infinite grid) still makes the output NaN, and an infinite pixel read by a
    # clipped out-of-bounds index is not multiplied by a zero weight into NaN.
    valid = jnp.expand_dims(jnp.moveaxis(valid, 0, 1), 1)  # (N, 1, T, *out)
    vals = jnp.where(valid, vals, jnp.zeros_like(vals))
    w = jnp.expand_dims(jnp.moveaxis(w, 0, 1), 1)
    return jnp.sum(vals * w, axis=2)


def _cubic_coefficients(t: jax.Array, a: float = -0.75) -> list[jax.Array]:
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2."""

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def grid_sample(
    input: jax.Array,
    grid: jax.Array,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> jax.Array:
    r"""Sample ``input`` at the normalised positions in ``grid``.

    ``grid[n, ..., :]`` holds ``(x, y)`` (or ``(x, y, z)``) in :math:`[-1, 1]`, where -1
    is the left/top edge; ``x`` indexes the last (width) axis. With ``align_corners=True``
    -1 and 1 are the centres of the corner pixels, otherwise their outer edges. Positions
    outside are handled by ``padding_mode``: ``'zeros'`` reads 0, ``'border'`` clamps,
    ``'reflection'`` mirrors at the edges. ``'nearest'`` rounds half to even, so its
    gradient w.r.t. ``grid`` is zero; bicubic (4-d only) uses :math:`A = -0.75` and pads
    each of its 16 taps. ``align_corners=None`` means False (torch also warns about a
    2019 change of default; jaxnn does not).

    Args:
        input: ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        grid: ``(N, H_out, W_out, 2)`` or ``(N, D_out, H_out, W_out, 3)``.
        mode: ``'bilinear'``, ``'nearest'`` or ``'bicubic'``.
        padding_mode: ``'zeros'``, ``'border'`` or ``'reflection'``.
        align_corners: see above.

    Shape:
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(N, C, D_{out}, H_{out}, W_{out})`.

    Example:
        >>> x = jnp.arange(4.0).reshape(1, 1, 2, 2)
        >>> grid_sample(x, jnp.zeros((1, 1, 1, 2)), align_corners=False)
        Array([[[[1.5]]]], dtype=float32)
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    align = bool(align_corners)
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of "
            f"dimensions, but got input with sizes {list(input.shape)} and grid with sizes "
            f"{list(grid.shape)}"
        )
    d = input.ndim - 2
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError(
            f"grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if grid.shape[-1] != d:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {d} in last dimension, but got grid "
            f"with sizes {list(grid.shape)}"
        )
    for k, s in enumerate(input.shape[2:]):
        if s == 0:
            raise RuntimeError(
                f"grid_sampler(): expected input to have non-empty spatial dimensions, but "
                f"input has sizes {list(input.shape)} with dimension {k + 2} being empty"
            )
    if mode == "bicubic" and d != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if not jnp.issubdtype(grid.dtype, jnp.floating):
        raise TypeError(
            f"grid_sampler(): expected a floating-point grid, got {grid.dtype}; cast it "
            "(grid.astype(input.dtype))."
        )
    if input.dtype != grid.dtype:
        raise RuntimeError(
            f"grid_sampler(): expected input and grid to have the same dtype, got "
            f"{input.dtype} and {grid.dtype}; cast one of them."
        )

    return _grid_sample_core(input, grid, mode, padding_mode, align)


@partial(jax.jit, static_argnames=("mode", "padding_mode", "align"))
def _grid_sample_core(input, grid, mode, padding_mode, align):
    d = input.ndim - 2
    x, g = opmath(input), opmath(grid)
    sizes = tuple(input.shape[2:])
    # grid's last axis is (x, y[, z]): x indexes the last spatial axis.
    coords = [_unnormalize(g[..., d - 1 - k], sizes[k], align) for k in range(d)]

    if mode == "bicubic":
        # 4 x 4 taps around floor(coord); the padding mode applies to each tap's index.
        offsets = jnp.arange(-1, 3, dtype=x.dtype).reshape((4,) + (1,) * coords[0].ndim)
        taps, wts = [], []
        for k, c in enumerate(coords):
            base = jnp.floor(c)
            t = _pad_coord(base[None] + offsets, sizes[k], padding_mode, align)
            taps.append(_index(t))
            wts.append(jnp.stack(_cubic_coefficients(c - base)))
        idx = [jnp.repeat(taps[0], 4, axis=0), jnp.tile(taps[1], (4,) + (1,) * coords[0].ndim)]
        w = jnp.reshape(wts[0][:, None] * wts[1][None, :], (16, *coords[0].shape))
        return _sample_taps(x, idx, w, sizes).astype(input.dtype)

    coords = [_pad_coord(c, s, padding_mode, align) for c, s in zip(coords, sizes, strict=True)]
    if mode == "nearest":
        idx = [_index(jnp.round(c))[None] for c in coords]  # half to even: nearbyint
        return _sample_taps(x, idx, jnp.ones_like(idx[0], x.dtype), sizes).astype(input.dtype)

    # (bi/tri)linear: the 2**d corners of the cell, weighted by the opposite volumes.
    corners = np.array(list(itertools.product((0, 1), repeat=d)))  # (T, d)
    expand = (len(corners),) + (1,) * coords[0].ndim
    idx, w = [], None
    for k, c in enumerate(coords):
        base = jnp.floor(c)
        frac = (c - base)[None]
        bit = jnp.asarray(corners[:, k].reshape(expand))
        idx.append(_index(base)[None] + bit)
        wk = jnp.where(bit == 1, frac, 1 - frac)
        w = wk if w is None else w * wk
    return _sample_taps(x, idx, w, sizes).astype(input.dtype)


def _base_coords(steps: int, align_corners: bool, dtype) -> np.ndarray:
    """torch's ``linspace(-1, 1, steps)``, shrunk to pixel centres without align_corners."""
    if steps <= 1:
        return np.zeros((max(steps, 1),), dtype)
    r = np.linspace(-1.0, 1.0, steps)
    if not align_corners:
        r = r * (steps - 1) / steps
    return r.astype(dtype)


def affine_grid(
    theta: jax.Array,
    size: Sequence[int],
    align_corners: bool | None = None,
) -> jax.Array:
    r"""The sampling grid of a batch of affine transforms, for :func:`grid_sample`.

    .. math::
        \text{grid}[n, h, w] = \theta_n \, (x_w, y_h, 1)^\top

    with :math:`x, y` the normalised pixel coordinates in :math:`[-1, 1]` (pixel centres;
    with ``align_corners=True`` the corner centres are at :math:`\pm 1`). 5-d sizes use
    ``(x, y, z, 1)``. ``align_corners=None`` means False (torch also warns; jaxnn does not).

    Args:
        theta: ``(N, 2, 3)`` for a 4-d ``size``, ``(N, 3, 4)`` for a 5-d one.
        size: the target ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        align_corners: see above.

    Shape:
        - Output: :math:`(N, H, W, 2)` or :math:`(N, D, H, W, 3)`.

    Example:
        >>> theta = jnp.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> affine_grid(theta, (1, 1, 1, 2), align_corners=False)[0, 0]
        Array([[-0.5,  0. ],
               [ 0.5,  0. ]], dtype=float32)
    """
    align = bool(align_corners)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        want, kind = (2, 3), "2D"
    elif len(size) == 5:
        want, kind = (3, 4), "3D"
    else:
        raise NotImplementedError(
            f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    if theta.ndim != 3 or tuple(theta.shape[1:]) != want:
        raise ValueError(
            f"Expected a batch of {kind} affine matrices of shape Nx{want[0]}x{want[1]} for "
            f"size {size}. Got {tuple(theta.shape)}."
        )
    spatial = size[2:]
    if not (align and min(spatial) == 1) and min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise ValueError(
            f"theta holds {theta.shape[0]} matrices but size asks for a batch of {size[0]}; "
            "they must match."
        )
    return _affine_grid_core(theta, size, align)


@partial(jax.jit, static_argnames=("size", "align"))
def _affine_grid_core(theta, size, align):
    spatial = size[2:]
    d = len(spatial)
    t = opmath(theta)
    np_dtype = np.float64 if t.dtype == jnp.float64 else np.float32
    # base[j] varies along spatial axis d-1-j (x along the last axis), shaped (1, *spatial).
    base = []
    for j in range(d):
        axis = d - 1 - j
        shape = [1] * (d + 1)
        shape[axis + 1] = spatial[axis]
        base.append(jnp.asarray(_base_coords(spatial[axis], align, np_dtype).reshape(shape)))
    bshape = (t.shape[0],) + (1,) * d
    outs = []
    for i in range(d):
        acc = jnp.reshape(t[:, i, d], bshape)
        for j in range(d):
            acc = acc + base[j] * jnp.reshape(t[:, i, j], bshape)
        outs.append(jnp.broadcast_to(acc, (t.shape[0], *spatial)))
    return jnp.stack(outs, axis=-1).astype(theta.dtype)
