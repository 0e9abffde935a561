"""Vision functions: ``pad`` and the pixel/channel shuffles here; ``interpolate`` and its
deprecated ``upsample*`` aliases (``_vision_interp``) and ``grid_sample``/``affine_grid``
(``_vision_grid``) are re-exported from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._vision_grid import affine_grid, grid_sample
from ._vision_interp import interpolate, upsample, upsample_bilinear, upsample_nearest

__all__ = [
    "pad",
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "native_channel_shuffle",
    "grid_sample",
    "affine_grid",
]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


# Each function validates its arguments in Python, then runs one jitted core (as jax.nn's
# functions are jitted): called eagerly it dispatches one compiled program instead of a
# dozen small ones, and under an outer jit the core is simply inlined.


# --------------------------------------------------------------------------------------
# pad
# --------------------------------------------------------------------------------------


def _check_pad(input: jax.Array, pad: Sequence[int], mode: str) -> list[tuple[int, int, int]]:
    """Validate ``pad`` and return ``(axis, before, after)`` for each padded axis."""
    if not all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad must be a sequence of ints, got {tuple(pad)!r}.")
    if len(pad) % 2:
        raise RuntimeError(
            f"Padding length must be divisible by 2, got pad={tuple(pad)}: give a "
            "(before, after) pair per dimension, last dimension first."
        )
    if len(pad) > 2 * input.ndim:
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension "
            f"but got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}; choose one of {_PAD_MODES}.")
    return [
        (input.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)
    ]


def _check_non_constant(input: jax.Array, axes: list, mode: str, value: float | None) -> None:
    if value is not None and value != 0:
        raise RuntimeError(
            f'Padding mode "{mode}" doesn\'t take in value argument; drop value={value!r} '
            "or use mode='constant'."
        )
    k, nd = len(axes), input.ndim
    if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {2 * k} is not supported for {nd}D input tensor. Mode {mode!r} pads "
            f"the last 1, 2 or 3 dimensions of a (C, *) or (N, C, *) input: a {2 * k}-entry "
            f"pad needs a {k + 1}D or {k + 2}D input."
        )
    if mode == "circular":
        for axis, lo, hi in axes:
            _check_circular(input.shape[axis], axis, lo, hi)
        return
    first = 1 if nd == k + 2 else 0  # the batch axis may be empty, the others not
    if any(s == 0 for s in input.shape[first:]):
        raise RuntimeError(
            f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {list(input.shape)}"
        )
    if mode == "reflect":
        for axis, lo, hi in axes:
            if lo >= input.shape[axis] or hi >= input.shape[axis]:
                raise RuntimeError(
                    f"Padding size should be less than the corresponding input dimension, but "
                    f"got: padding ({lo}, {hi}) at dimension {axis} of input "
                    f"{list(input.shape)}"
                )


def _check_circular(size: int, axis: int, lo: int, hi: int) -> None:
    if lo > size or hi > size:
        raise RuntimeError(
            f"Padding value causes wrapping around more than once: padding ({lo}, {hi}) at "
            f"dimension {axis} of size {size}; circular padding may be at most the size."
        )
    if size + lo + hi < 0:
        raise RuntimeError(
            f"Negative padding value is resulting in an empty dimension: padding ({lo}, {hi}) "
            f"at dimension {axis} of size {size}."
        )
    n = size - max(-lo, 0) - max(-hi, 0)
    if max(lo, 0) > n or max(hi, 0) > n:
        raise RuntimeError(
            f"Padding value causes wrapping around more than once: padding ({lo}, {hi}) at "
            f"dimension {axis} leaves {n} elements after cropping."
        )


def _circular(x: jax.Array, axis: int, lo: int, hi: int) -> jax.Array:
    """torch's circular padding of one axis: crop the negative sides, then wrap."""
    size = x.shape[axis]
    core = lax.slice_in_dim(x, max(-lo, 0), size - max(-hi, 0), axis=axis)
    n = core.shape[axis]
    parts = [core]
    if lo > 0:
        parts.insert(0, lax.slice_in_dim(core, n - lo, n, axis=axis))
    if hi > 0:
        parts.append(lax.slice_in_dim(core, 0, hi, axis=axis))
    return jnp.concatenate(parts, axis=axis)


def pad(
    input: jax.Array,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> jax.Array:
    r"""Pad a tensor, torch's way: ``pad`` lists ``(before, after)`` pairs, last dim first.

    ``pad=(1, 2)`` pads the last dimension by 1 before and 2 after; ``(1, 1, 2, 0)`` also
    pads the second-to-last by 2 before. Negative entries crop.

    Modes:
        - ``'constant'``: fill with ``value`` (default 0); any number of dimensions.
        - ``'reflect'``: mirror without repeating the edge; each pad must be smaller than
          the dimension.
        - ``'replicate'``: repeat the edge value.
        - ``'circular'``: wrap around (at most once).

    The non-constant modes pad the last 1, 2 or 3 dimensions of a ``(C, *)`` or
    ``(N, C, *)`` input, as torch's ``ReflectionPad1d/2d/3d`` etc. do.

    Cropping to an empty dimension is allowed in every mode (torch allows it in some modes
    and ranks and not others); a circular pad larger than what is left after cropping
    raises (torch may copy overlapping memory there).

    Args:
        input: the array.
        pad: ``(before_last, after_last, before_2nd_last, after_2nd_last, ...)``.
        mode: ``'constant'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        value: fill value for ``'constant'`` (``None`` means 0).

    Shape:
        - Input: :math:`(*, S_1, ..., S_k)`
        - Output: :math:`(*, S_1 + p_1, ..., S_k + p_k)` with :math:`p_i` the pair's sum.

    Example:
        >>> pad(jnp.arange(3.0)[None], (2, 1), mode="reflect")
        Array([[2., 1., 0., 1., 2., 1.]], dtype=float32)
    """
    axes = _check_pad(input, pad, mode)
    if mode != "constant":
        _check_non_constant(input, axes, mode, value)
    for axis, lo, hi in axes:
        if input.shape[axis] + lo + hi < 0:
            raise RuntimeError(
                f"pad={tuple(pad)} crops dimension {axis} of size {input.shape[axis]} to a "
                f"negative size {input.shape[axis] + lo + hi}; reduce the negative padding."
            )
    return _pad_core(input, 0 if value is None else value, tuple(axes), mode)


@partial(jax.jit, static_argnames=("axes", "mode"))
def _pad_core(input, value, axes, mode):
    if mode == "constant":
        config = [(0, 0, 0)] * input.ndim
        for axis, lo, hi in axes:
            config[axis] = (lo, hi, 0)
        return lax.pad(input, jnp.asarray(value).astype(input.dtype), config)
    if mode == "circular":
        out = input
        for axis, lo, hi in axes:
            out = _circular(out, axis, lo, hi)
        return out
    # reflect / replicate: pad the positive sides of the original, then crop the negative.
    widths = [(0, 0)] * input.ndim
    for axis, lo, hi in axes:
        widths[axis] = (max(lo, 0), max(hi, 0))
    out = jnp.pad(input, widths, mode="reflect" if mode == "reflect" else "edge")
    for axis, lo, hi in axes:
        n = out.shape[axis]
        out = lax.slice_in_dim(out, max(-lo, 0), n - max(-hi, 0), axis=axis)
    return out


# --------------------------------------------------------------------------------------
# pixel_shuffle, pixel_unshuffle, channel_shuffle
# --------------------------------------------------------------------------------------


def _check_factor(name: str, arg: str, r: int) -> None:
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise RuntimeError(f"{name} expects a positive {arg}, but got {r}")


def pixel_shuffle(input: jax.Array, upscale_factor: int) -> jax.Array:
    r"""Rearrange ``(*, C r^2, H, W)`` into ``(*, C, H r, W r)``.

    Args:
        input: at least 3-d, channels third from last.
        upscale_factor: ``r``, the factor by which height and width grow.

    Shape:
        - Input: :math:`(*, C \times r^2, H, W)`
        - Output: :math:`(*, C, H \times r, W \times r)`

    Example:
        >>> pixel_shuffle(jnp.zeros((1, 9, 4, 4)), 3).shape
        (1, 1, 12, 12)
    """
    name = "pixel_shuffle"
    if input.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    _check_factor(name, "upscale_factor", upscale_factor)
    r = upscale_factor
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            f"{name} expects its input's 'channel' dimension to be divisible by the square of "
            f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    return _pixel_shuffle_core(input, r)


@partial(jax.jit, static_argnames="r")
def _pixel_shuffle_core(input, r):
    *batch, c, h, w = input.shape
    b = len(batch)
    x = jnp.reshape(input, (*batch, c // (r * r), r, r, h, w))
    x = jnp.transpose(x, (*range(b), b, b + 3, b + 1, b + 4, b + 2))
    return jnp.reshape(x, (*batch, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: jax.Array, downscale_factor: int) -> jax.Array:
    r"""Rearrange ``(*, C, H r, W r)`` into ``(*, C r^2, H, W)``; inverse of pixel_shuffle.

    Args:
        input: at least 3-d, channels third from last.
        downscale_factor: ``r``, the factor by which height and width shrink.

    Shape:
        - Input: :math:`(*, C, H \times r, W \times r)`
        - Output: :math:`(*, C \times r^2, H, W)`

    Example:
        >>> pixel_unshuffle(jnp.zeros((1, 1, 12, 12)), 3).shape
        (1, 9, 4, 4)
    """
    name = "pixel_unshuffle"
    if input.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    _check_factor(name, "downscale_factor", downscale_factor)
    r = downscale_factor
    *batch, c, h, w = input.shape
    for what, size, pos in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(
                f"{name} expects {what} to be divisible by downscale_factor, but "
                f"input.size({pos})={size} is not divisible by {r}"
            )
    return _pixel_unshuffle_core(input, r)


@partial(jax.jit, static_argnames="r")
def _pixel_unshuffle_core(input, r):
    *batch, c, h, w = input.shape
    b = len(batch)
    x = jnp.reshape(input, (*batch, c, h // r, r, w // r, r))
    x = jnp.transpose(x, (*range(b), b, b + 2, b + 4, b + 1, b + 3))
    return jnp.reshape(x, (*batch, c * r * r, h // r, w // r))


def channel_shuffle(input: jax.Array, groups: int) -> jax.Array:
    r"""Split the channels into ``groups`` groups and interleave them.

    Channel ``g * (C / groups) + k`` moves to position ``k * groups + g``.

    Args:
        input: ``(N, C, *)`` with at least one spatial dimension.
        groups: number of groups; must divide ``C``.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    Example:
        >>> channel_shuffle(jnp.arange(6.0).reshape(1, 6, 1), 2).ravel()
        Array([0., 3., 1., 4., 2., 5.], dtype=float32)
    """
    if input.ndim <= 2:
        raise RuntimeError(
            f"channel_shuffle expects input with > 2 dims, but got input with sizes "
            f"{list(input.shape)}"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    return _channel_shuffle_core(input, groups)


def native_channel_shuffle(input: jax.Array, groups: int) -> jax.Array:
    """``channel_shuffle`` under torch's name for its native kernel (the same numbers).

    >>> native_channel_shuffle(jnp.arange(4.0).reshape(1, 4, 1), 2).ravel()
    Array([0., 2., 1., 3.], dtype=float32)
    """
    return channel_shuffle(input, groups)


@partial(jax.jit, static_argnames="groups")
def _channel_shuffle_core(input, groups):
    n, c, *rest = input.shape
    x = jnp.reshape(input, (n, groups, c // groups, *rest))
    return jnp.reshape(jnp.swapaxes(x, 1, 2), input.shape)
