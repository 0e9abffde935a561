"""``conv_tbc``: a 1-D convolution over time-batch-channel input (torch's fairseq kernel)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._conv import conv1d

__all__ = ["conv_tbc"]


def conv_tbc(input: jax.Array, weight: jax.Array, bias: jax.Array, pad: int = 0) -> jax.Array:
    r"""1-D convolution of a ``(time, batch, in_channels)`` input.

    ``weight`` is ``(kernel_width, in_channels, out_channels)``; ``pad`` zeros are added at
    both ends of the time axis. The same numbers as ``conv1d`` on the ``(batch,
    channels, time)`` layout.

    Args:
        input: ``(T, B, C_in)``.
        weight: ``(K, C_in, C_out)``.
        bias: ``(C_out,)`` (required, as in torch).
        pad: zero padding of the time axis. Default 0.

    Shape:
        - Output: ``(T + 2 pad - K + 1, B, C_out)``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> F.conv_tbc(jnp.ones((5, 2, 3)), jnp.ones((3, 3, 4)), jnp.zeros(4), 1).shape
    (5, 2, 4)
    """
    input, weight, bias = jnp.asarray(input), jnp.asarray(weight), jnp.asarray(bias)
    if input.ndim != 3:
        raise ValueError(
            f"Input must have 3 dims: time, batch, in_channel (got shape {input.shape})."
        )
    if weight.ndim != 3:
        raise ValueError(
            f"Weight tensor must have 3 dims: kernel_width, in_channels, out_channels (got "
            f"shape {weight.shape})."
        )
    if bias.ndim != 1:
        raise ValueError(f"Bias must be 1-D (got shape {bias.shape}).")
    if input.shape[2] != weight.shape[1]:
        raise ValueError(
            f"Input dim 2 (input channels, {input.shape[2]}) is not == dim 1 in the weight "
            f"tensor ({weight.shape[1]})."
        )
    if weight.shape[2] != bias.shape[0]:
        raise ValueError(
            f"Bias size ({bias.shape[0]}) must equal dim 2 in the weight tensor (output "
            f"channels, {weight.shape[2]})."
        )
    out = conv1d(
        jnp.transpose(input, (1, 2, 0)), jnp.transpose(weight, (2, 1, 0)), bias, padding=pad
    )
    return jnp.transpose(out, (2, 0, 1))
