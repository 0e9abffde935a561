"""Max and average pooling as elementwise maths over strided views (the CPU formulation).

``lax.reduce_window`` is slow on XLA CPU, and the gradient JAX derives for a max over a
window (``select_and_scatter``) is slower still: 45 ms for the backward of a 2x2 max-pool
over ``(128, 16, 28, 28)`` where torch takes a few. Here a window reduction is an
elementwise reduction over its ``prod(kernel)`` strided views of the padded input (one
``lax.slice`` per window offset), which XLA fuses into one vectorised loop:

* average pooling sums the views (zero padding) and divides by torch's divisor; its
  gradient (JAX's transpose of slices: pads) is elementwise too;
* max pooling takes the elementwise maximum of the views (``-inf`` padding) under a
  ``custom_jvp``. The tangent is the input tangent at torch's argmax: the FIRST maximum of
  each window in row-major order, or the last NaN (torch's ``val > max || isnan(val)``
  scan). The argmax is computed once as a window-offset code. When the windows tile the
  input (``stride == kernel``, no dilation; padding and ``ceil_mode`` allowed) the tangent
  reads the input through a reshape, so the gradient is one broadcast-select of the
  cotangent, no scatter. Otherwise (overlapping windows, e.g. 3x3 stride 2) the tangent
  is gathered at the flat argmax and the gradient is one scatter-add.

Measured on a 2-core CPU (``benchmarks/conv_pool.py``): 2x2 max-pool forward+backward 4-5x
faster than the lax formulation, 3x3 stride 2 about 3x, average pooling 2-5x.

``max_pool`` / ``avg_pool`` take a batched ``(N, C, *spatial)`` input and the geometry
that ``_pooling._geometry`` validated. ``choose`` dispatches: ``"views"`` on CPU (unless
``JAXNN_CPU_FAST_PATHS=0``), ``"lax"`` elsewhere; ``force_formulation`` is the private switch
the parity tests use to pin either one.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._conv_cpu import FormulationSwitch, fast_paths_enabled
from ._pooling_adaptive import take_plane

FORMULATIONS = ("lax", "views")

# Window offsets are coded as float32 p*p (exact up to p = 4095); larger windows, e.g. a
# global max over 100x100, keep the lax formulation.
MAX_WINDOW = 4096

_switch = FormulationSwitch("pooling", FORMULATIONS)
force_formulation = _switch.force


def choose(dtype, kernel: tuple[int, ...]) -> str:
    """The formulation for a pooling window of this size (trace time)."""
    if math.prod(kernel) > MAX_WINDOW or not jnp.issubdtype(dtype, jnp.floating):
        return "lax"
    if _switch.forced():
        return _switch.forced()
    if jax.default_backend() != "cpu" or not fast_paths_enabled():
        return "lax"
    return "views"


# geometry: (kernel, stride, dilation, pads, out) per spatial dim, all static tuples;
# pads are (lo, hi) with hi exact: the last window ends at the padded array's end.
def geometry(window, out) -> tuple:
    dims, strides, pads, dil = window
    k, s, d = dims[2:], strides[2:], dil[2:]
    exact = []
    for (lo, _), kk, ss, dd, o in zip(pads[2:], k, s, d, out, strict=True):
        exact.append((lo, (o - 1) * ss + dd * (kk - 1) + 1))
    return (tuple(k), tuple(s), tuple(d), tuple(exact), tuple(out))


def _padded(x, geom, value):
    _, _, _, pads, _ = geom
    config = [(0, 0, 0), (0, 0, 0)]
    for size, (lo, span) in zip(x.shape[2:], pads, strict=True):
        config.append((lo, span - size - lo, 0))  # a negative high pad crops
    return lax.pad(x, jnp.asarray(value, x.dtype), config)


def _offsets(geom):
    return list(itertools.product(*(range(kk) for kk in geom[0])))


def _views(xp, geom):
    _, s, d, _, out = geom
    views = []
    for off in _offsets(geom):
        start = (0, 0, *(i * dd for i, dd in zip(off, d, strict=True)))
        limit = (
            *xp.shape[:2],
            *(b + (o - 1) * ss + 1 for b, o, ss in zip(start[2:], out, s, strict=True)),
        )
        views.append(lax.slice(xp, start, limit, (1, 1, *s)))
    return views


def _valid(geom, size):
    """Per window offset, a static mask of the output positions whose element at that offset
    is real input (not padding), or None when it always is."""
    _, s, d, pads, out = geom
    masks = []
    for off in _offsets(geom):
        per_dim = []
        for i, (o, ss, dd, (lo, _), L) in enumerate(zip(out, s, d, pads, size, strict=True)):
            pos = np.arange(o) * ss - lo + off[i] * dd
            per_dim.append((pos >= 0) & (pos < L))
        if all(m.all() for m in per_dim):
            masks.append(None)
            continue
        m = np.ones((), bool)
        for v in per_dim:
            m = np.multiply.outer(m, v)
        masks.append(m.reshape((1, 1, *out)))
    return masks


def _tiles(geom) -> bool:
    """Windows tile the padded input exactly: each element is in one window."""
    k, s, d, _, _ = geom
    return all(kk == ss and dd == 1 for kk, ss, dd in zip(k, s, d, strict=True))


def _maximum(views):
    y = views[0]
    for v in views[1:]:
        y = lax.max(y, v)  # NaN-propagating, like torch's max_pool
    return y


def _argmax_code(views, y, valid):
    """The window offset p of torch's argmax, as float32 sqrt(p*p).

    Scanning offsets from the back keeps the first one equal to the maximum; a window
    whose maximum is NaN takes its last NaN. The final sqrt is exact (p*p are perfect
    squares below 2**24) and is there for XLA: it is an "expensive" op, so XLA computes
    the code once instead of fusing the whole comparison chain into every element of the
    gradient that reads it (4x the work for a 2x2 window, measured 1.7x slower overall).
    """
    code = jnp.zeros(y.shape, jnp.float32)
    for p in range(len(views) - 1, -1, -1):
        hit = views[p] == y
        if valid[p] is not None:
            hit = hit & valid[p]  # an all -inf window still points at a real element
        code = jnp.where(hit, np.float32(p * p), code)
    nan = jnp.zeros(y.shape, jnp.float32)
    for p, v in enumerate(views):
        nan = jnp.where(v != v, np.float32(p * p), nan)
    return jnp.sqrt(jnp.where(y != y, nan, code))


def max_pool(x, geom, size):
    """``(N, C, *S) -> (N, C, *out)``: the values of torch's max_pool (gradient included)."""
    return _max_pool(x, geom, size)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _max_pool(x, geom, size):
    return _maximum(_views(_padded(x, geom, -jnp.inf), geom))


@_max_pool.defjvp
def _max_pool_jvp(geom, size, primals, tangents):
    (x,), (t,) = primals, tangents
    views = _views(_padded(x, geom, -jnp.inf), geom)
    y = _maximum(views)
    code = _argmax_code(views, y, _valid(geom, size))
    k, n = geom[0], len(geom[0])
    if _tiles(geom):
        # Windows tile the input: view the tangent as (N, C, o1, k1, o2, k2, ...) and pick
        # the argmax slot of each window. The transpose is a broadcast-select.
        tp = _padded(t, geom, 0)
        out = geom[4]
        split = [a for o, kk in zip(out, k, strict=True) for a in (o, kk)]
        tw = jnp.reshape(tp, (*tp.shape[:2], *split))
        slot = np.arange(math.prod(k), dtype=np.float32).reshape(k)
        slot_shape = [1, 1] + [a for kk in k for a in (1, kk)]
        code_shape = [*code.shape[:2]] + [a for o in out for a in (o, 1)]
        hit = code.reshape(code_shape) == slot.reshape(slot_shape)
        ty = jnp.where(hit, tw, 0).sum(axis=tuple(range(3, 3 + 2 * n, 2)))
    else:
        # Overlapping (or gapped) windows: gather the tangent at the flat argmax; the
        # gradient is one scatter-add. Summing per-offset selections instead, XLA fuses the
        # argmax comparisons into every term (2.3x slower than lax for 3x3 stride 2).
        valid = _valid(geom, size)
        ty = take_plane(t, _flat_index(code, geom, size), n)
        if all(m is not None for m in valid):
            # Windows of padding only (dilation can step over the input): the output is
            # -inf, as torch's, and no input element gets gradient. torch's index for these
            # points outside the plane (its gradient lands in a neighbouring plane).
            ty = jnp.where(np.logical_or.reduce(valid), ty, 0)
    return y, ty.astype(y.dtype)


def max_pool_indices(x, geom, size):
    """torch's flat per-plane argmax indices (int32) for the same windows."""
    views = _views(_padded(lax.stop_gradient(x), geom, -jnp.inf), geom)
    return _flat_index(_argmax_code(views, _maximum(views), _valid(geom, size)), geom, size)


def _flat_index(code, geom, size):
    """Window-offset codes -> flat positions within each (N, C) plane, as torch's indices."""
    p = code.astype(jnp.int32)
    k, s, d, pads, out = geom
    n = len(k)
    flat = jnp.zeros((1, 1) + (1,) * n, jnp.int32)
    for i in range(n):
        plane = math.prod(size[i + 1 :])
        shape = [1, 1] + [1] * n
        shape[2 + i] = out[i]
        base = (np.arange(out[i]) * s[i] - pads[i][0]).reshape(shape) * plane
        off = (p // math.prod(k[i + 1 :])) % k[i]
        flat = flat + jnp.asarray(base, jnp.int32) + off * (d[i] * plane)
    return flat


def avg_pool_sum(x, geom):
    """The window sums over zero padding (divide by torch's divisor afterwards)."""
    views = _views(_padded(x, geom, 0), geom)
    total = views[0]
    for v in views[1:]:
        total = total + v
    return total
