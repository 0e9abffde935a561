"""torch's legacy cross-channel LRN (``nn.CrossMapLRN2d``), forward and its own backward.

torch computes this layer with a hand-written autograd Function (a port of Lua Torch's
SpatialCrossMapLRN): its forward sums squares over a running channel window whose first
channel, once entered, is never subtracted again, and its backward uses the symmetric
window of the textbook formula. Neither is the other's derivative, so the backward is
written out here as a ``custom_vjp`` to give torch's gradients.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def cross_map_lrn2d(x: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    return _forward(x, size, alpha, beta, k)[0]


def _scale(x: jax.Array, size: int, alpha: float, k: float) -> jax.Array:
    c = x.shape[1]
    sq = x * x
    pre_pad = int((size - 1) / 2 + 1)
    csum = jnp.cumsum(sq, axis=1)
    idx = jnp.arange(c)
    # scale[c] = sum(sq[0 .. min(c + pre_pad - 1, C - 1)]) - sum(sq[1 .. c - pre_pad])
    added = jnp.take(csum, jnp.minimum(idx + pre_pad - 1, c - 1), axis=1)
    hi = idx - pre_pad
    removed = jnp.where(
        (hi >= 1).reshape(1, c, 1, 1),
        jnp.take(csum, jnp.maximum(hi, 0), axis=1) - sq[:, :1],
        jnp.zeros_like(added),
    )
    return (added - removed) * (alpha / size) + k


def _forward(x, size, alpha, beta, k):
    scale = _scale(x, size, alpha, k)
    out = x * scale ** (-beta)
    return out, (x, out, scale)


def _backward(size, alpha, beta, k, res, g):
    x, out, scale = res
    c = x.shape[1]
    inverse_pre_pad = int(size - (size - 1) / 2)
    ratio = g * out / scale
    padded = jnp.pad(ratio, ((0, 0), (inverse_pre_pad, size - 1 - inverse_pre_pad), (0, 0), (0, 0)))
    accum = sum(padded[:, t : t + c] for t in range(size))
    grad = scale ** (-beta) * g - (2 * alpha * beta / size) * x * accum
    return (grad,)


cross_map_lrn2d.defvjp(_forward, _backward)
