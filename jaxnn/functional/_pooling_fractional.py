"""Fractional max pooling (Graham, 2014), as torch.nn.functional's.

Each (sample, channel) plane draws one number ``u`` in [0, 1) per spatial dimension; the
windows of that dimension start at ``int((i + u) * a) - int(u * a)`` with
``a = (in - k) / (out - 1)`` (the last at ``in - k``), computed in the input's dtype as
torch's kernel does, so that given the same ``_random_samples`` the windows, the values,
the indices and the gradients are torch's exactly. Without ``_random_samples`` the
numbers are drawn from ``key=``. The maximum follows torch's rule (the first largest
value; a NaN wins, the last NaN of the window), and the output is a gather at the chosen
indices, so its gradient goes to them as torch's backward sends it.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .._random import check_key, draw_forward_key, key_hint
from ._pooling_adaptive import index_dtype
from ._utils import ntuple

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
]

_Size = int | tuple[int, ...]


def _fractional(
    n: int,
    input: jax.Array,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    return_indices: bool,
    _random_samples: Any,
    key: Any,
) -> Any:
    name = f"fractional_max_pool{n}d"
    input = jnp.asarray(input)
    if input.ndim not in (n + 1, n + 2):
        raise ValueError(
            f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got: {list(input.shape)}; "
            f"pass (N, C, {'D, ' if n == 3 else ''}H, W) or its unbatched form."
        )
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    spatial = input.shape[-n:]
    k = ntuple(kernel_size, n, "kernel_size")
    if output_size is None:
        ratio = _ratio(output_ratio, n, name)
        out = tuple(int(s * r) for s, r in zip(spatial, ratio, strict=True))
    else:
        out = ntuple(output_size, n, "output_size")
    unbatched = input.ndim == n + 1
    batch, channels = (1 if unbatched else input.shape[0]), input.shape[-n - 1]
    if any(s == 0 for s in input.shape[-n - 1 :]):
        raise ValueError(
            f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
            f"got{list(input.shape)}."
        )
    for dim, (o, kk, s) in zip(
        ("time", "height", "width")[3 - n :], zip(out, k, spatial, strict=True), strict=True
    ):
        if kk <= 0 or o < 0:
            raise ValueError(
                f"{name}(): kernel_size and output_size must be positive, got kernel_size={k}, "
                f"output_size={out}."
            )
        if o + kk - 1 > s:
            raise ValueError(
                f"{name}(): pool {dim} {kk} too large relative to input {dim} {s}; the output "
                f"{dim} {o} needs at least {o + kk - 1} input elements."
            )
    if _random_samples is None:
        if key is None:
            key = draw_forward_key()  # inside a model call given key=
        if key is None:
            raise ValueError(
                f"{name}() draws its window offsets at random and got no PRNG key: pass "
                f"key=sub or call the model with key=sub; "
                + key_hint()
                + f"; or pass the offsets themselves as _random_samples of shape ({batch}, "
                f"{channels}, {n}) in [0, 1)."
            )
        samples = jax.random.uniform(check_key(key), (batch, channels, n), input.dtype)
    else:
        samples = jnp.asarray(_random_samples)
        if samples.ndim != 3 or samples.shape[2] != n:
            raise ValueError(
                f"{name}(): _random_samples must have shape (N, C, {n}), got "
                f"{tuple(samples.shape)}."
            )
        if samples.shape[0] < batch:
            raise ValueError(
                f"{name}(): _random_samples holds {samples.shape[0]} samples for a batch of "
                f"{batch}; pass one row per sample."
            )
        if samples.shape[1] != channels:
            raise ValueError(
                "Expect _random_samples.size(1) equals to input channel size "
                f"({samples.shape[1]} vs {channels})."
            )
        samples = samples[:batch].astype(input.dtype)
    x = input[None] if unbatched else input
    values, indices = _fractional_kernel(x, samples, k, out)
    if unbatched:
        values, indices = values[0], indices[0]
    return (values, indices) if return_indices else values


def _ratio(value: Any, n: int, name: str) -> tuple[float, ...]:
    """torch's ``_pair``/``_triple`` of a ratio (a number, or a sequence of 1 or n numbers)."""
    values = tuple(value) if isinstance(value, tuple | list) else (value,)
    if len(values) == 1:
        values = values * n
    if len(values) != n or not all(isinstance(v, int | float) for v in values):
        raise ValueError(
            f"{name} requires output_ratio to be a number or a tuple of {n} numbers in (0, 1), "
            f"got {value!r}."
        )
    return tuple(float(v) for v in values)


def _intervals(u: jax.Array, size: int, out: int, k: int) -> jax.Array:
    """Window starts ``(..., out)`` for offsets ``u`` (torch's generate_intervals)."""
    if out == 0:
        return jnp.zeros((*u.shape, 0), jnp.int32)
    i = jnp.arange(out, dtype=u.dtype).reshape((1,) * u.ndim + (out,))
    if out > 1:
        # In the input's dtype, as torch's scalar_t arithmetic.
        alpha = jnp.asarray(size - k, u.dtype) / jnp.asarray(out - 1, u.dtype)
        starts = ((i + u[..., None]) * alpha).astype(jnp.int32) - (u * alpha).astype(jnp.int32)[
            ..., None
        ]
    else:
        starts = jnp.zeros((*u.shape, 1), jnp.int32)
    return starts.at[..., -1].set(size - k)


@partial(jax.jit, static_argnames=("k", "out"))
def _fractional_kernel(x, samples, k, out):
    n = len(k)
    spatial = x.shape[2:]
    # torch's samples are ordered (W, H) in 2D and (T, H, W) in 3D.
    order = (1, 0) if n == 2 else (0, 1, 2)
    starts = [
        _intervals(samples[..., order[d]], spatial[d], out[d], k[d]) for d in range(n)
    ]  # each (N, C, out_d)
    # Flat plane index of every window element, (N, C, *out, prod(k)) in torch's scan
    # order (the last dimension fastest).
    flat = jnp.zeros((), jnp.int32)
    stride = 1
    for d in reversed(range(n)):
        pos = starts[d][..., :, None] + jnp.arange(k[d], dtype=jnp.int32).reshape(1, 1, 1, -1)
        shape = [x.shape[0], x.shape[1]] + [1] * (2 * n)
        shape[2 + d], shape[2 + n + d] = out[d], k[d]
        flat = flat + (pos * stride).reshape(shape)
        stride *= spatial[d]
    # Sizes spelled out, not -1: an empty batch (N=0) leaves -1 undetermined.
    nc, kk = x.shape[:2], math.prod(k)
    flat = jnp.broadcast_to(flat, (*nc, *out, *k)).reshape(*nc, *out, kk)
    plane = x.reshape(*nc, math.prod(spatial))
    window = jnp.take_along_axis(plane, flat.reshape(*nc, math.prod(out) * kk), axis=2)
    window = window.reshape(flat.shape)
    # torch's scan: replace when ``v > best or isnan(v)``: the first maximum, or the last NaN.
    nan = jnp.isnan(window)
    count = window.shape[-1]
    last_nan = count - 1 - jnp.argmax(nan[..., ::-1], axis=-1)
    first_max = jnp.argmax(jnp.where(nan, -jnp.inf, window), axis=-1)
    pick = jnp.where(jnp.any(nan, axis=-1), last_nan, first_max)
    idx = jnp.take_along_axis(flat, pick[..., None], axis=-1)[..., 0]
    values = jnp.take_along_axis(plane, idx.reshape(*nc, math.prod(out)), axis=2)
    return values.reshape(idx.shape), idx.astype(index_dtype())


_DOC = """Applies {n}D fractional max pooling: ``kernel_size`` windows at pseudo-random steps.

    The output size is ``output_size``, or ``int(input_size * output_ratio)``. Window
    positions come from ``_random_samples`` (shape ``(N, C, {n})``, values in [0, 1)) when
    given - then the result equals torch's exactly, indices and gradients included - and
    otherwise from ``key``.{dispatch}

    Args:
        input: ``(N, C, {sp})`` or ``(C, {sp})``.
        kernel_size: the window, an int or a tuple of {n} ints.
        output_size: the output's spatial size (int or tuple).
        output_ratio: the output size as a fraction of the input's (float or tuple in (0, 1)).
        return_indices: {ri}
        _random_samples: the window offsets, torch's argument.
        key: PRNG key for the offsets when ``_random_samples`` is not given.

    Shape:
        - Output: ``(N, C, {osp})`` or ``(C, {osp})``; indices index each flattened plane.

    >>> import jax, jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> x = jnp.arange({numel}.0).reshape(1, 1, {shape})
    >>> F.fractional_max_pool{n}d{suffix}(x, 2, output_size={o}, key=jax.random.key(0)){ex}
    """


def _doc(n: int, with_indices: bool) -> str:
    sp = {2: "H, W", 3: "D, H, W"}[n]
    shape = ", ".join(["5"] * n)
    out = {2: "(1, 1, 3, 3)", 3: "(1, 1, 3, 3, 3)"}[n]
    if with_indices:
        dispatch, ri, ex = (
            "\n\n    Always returns ``(output, indices)``.",
            "ignored (always returned).",
            "[1].shape\n    " + out,
        )
    else:
        dispatch = "\n\n    Returns ``(output, indices)`` when ``return_indices=True`` (torch's return type)."
        ri, ex = (
            "also return the indices (for ``max_unpool``). Default False.",
            ".shape\n    " + out,
        )
    return _DOC.format(
        n=n, sp=sp, osp=", ".join(s + "_out" for s in sp.split(", ")), dispatch=dispatch, ri=ri,
        suffix="_with_indices" if with_indices else "", numel=5**n, shape=shape, o=3, ex=ex,
    )  # fmt: skip


def fractional_max_pool2d(
    input: jax.Array,
    kernel_size: _Size,
    output_size: _Size | None = None,
    output_ratio: float | tuple[float, ...] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    return _fractional(
        2, input, kernel_size, output_size, output_ratio, return_indices, _random_samples, key
    )


def fractional_max_pool3d(
    input: jax.Array,
    kernel_size: _Size,
    output_size: _Size | None = None,
    output_ratio: float | tuple[float, ...] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    return _fractional(
        3, input, kernel_size, output_size, output_ratio, return_indices, _random_samples, key
    )


def fractional_max_pool2d_with_indices(
    input: jax.Array,
    kernel_size: _Size,
    output_size: _Size | None = None,
    output_ratio: float | tuple[float, ...] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    return _fractional(2, input, kernel_size, output_size, output_ratio, True, _random_samples, key)


def fractional_max_pool3d_with_indices(
    input: jax.Array,
    kernel_size: _Size,
    output_size: _Size | None = None,
    output_ratio: float | tuple[float, ...] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    return _fractional(3, input, kernel_size, output_size, output_ratio, True, _random_samples, key)


fractional_max_pool2d.__doc__ = _doc(2, False)
fractional_max_pool3d.__doc__ = _doc(3, False)
fractional_max_pool2d_with_indices.__doc__ = _doc(2, True)
fractional_max_pool3d_with_indices.__doc__ = _doc(3, True)
