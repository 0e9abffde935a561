"""Affine maps: ``linear`` and ``bilinear`` with torch's weight layouts.

``linear`` takes ``weight`` as ``(out_features, in_features)`` like torch (the transpose of
the ``x @ W`` convention common in JAX code). A weight in the other orientation is the most
common porting mistake, so the error repeats torch's message and says to transpose.
Matrix-multiply precision follows JAX's global ``jax_default_matmul_precision``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._utils import expand_last

__all__ = ["linear", "bilinear"]  # (and linear_shape_error, for nn.Linear)


def _check_same_dtype(name: str, *arrays: jax.Array | None) -> None:
    dtypes = [a.dtype for a in arrays if a is not None]
    if any(d != dtypes[0] for d in dtypes):
        raise TypeError(
            f"{name}(): expected all arrays to have the same dtype, but got "
            f"{' and '.join(str(d) for d in dtypes)}; cast them with .astype(...) first."
        )


def linear_shape_error(
    input_shape: tuple[int, ...], weight_shape: tuple[int, ...], layer: str | None = None
) -> str:
    """torch's message for ``input @ weight.T`` with mismatched sizes, and the fix.

    ``layer`` (``nn.Linear`` passes its repr) says the weight is right by construction, so
    the input is what to change; in ``F.linear`` either may be wrong, and a weight written
    the other way round, ``(in, out)``, is the common porting mistake.
    """
    n_in = input_shape[-1]
    out, w_in = weight_shape
    # torch flattens the leading dims of input into rows and multiplies by weight.T.
    head = (
        f"mat1 and mat2 shapes cannot be multiplied ({math.prod(input_shape[:-1])}x{n_in} "
        f"and {w_in}x{out})"
    )
    if layer is not None:
        return (
            f"{head}: {layer} takes input of shape (*, {w_in}), got {tuple(input_shape)}. The "
            f"input's last dimension must be in_features = {w_in}: reshape or flatten the "
            f"input, or build the layer with in_features={n_in}."
        )
    if out == n_in:
        hint = (
            f"if w is (in_features, out_features) (the x @ W convention), transpose it: pass "
            f"w.T of shape {weight_shape[::-1]}; otherwise the input's last dimension must be "
            f"{w_in}"
        )
    else:
        hint = f"the input's last dimension must equal weight.shape[1] = {w_in}, got {n_in}"
    return (
        f"{head}; F.linear takes weight of shape (out_features, in_features), got "
        f"{tuple(weight_shape)}: {hint}."
    )


def _add_bias(name: str, out: jax.Array, bias: jax.Array | None, hint: str) -> jax.Array:
    if bias is None:
        return out
    try:
        shape = jnp.broadcast_shapes(bias.shape, out.shape)
    except ValueError:
        shape = None
    if shape != out.shape:
        raise ValueError(
            f"{name}(): bias of shape {bias.shape} does not broadcast to the output shape "
            f"{out.shape}; {hint}."
        )
    return out + jnp.broadcast_to(bias, out.shape)


@jax.jit
def linear(input: jax.Array, weight: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    r"""Affine map :math:`y = x W^T + b`.

    Args:
        input: ``(*, in_features)``; leading dimensions are batch.
        weight: ``(out_features, in_features)`` (torch's layout), or ``(in_features,)``
            for a single output that drops the last dimension.
        bias: ``(out_features,)`` or anything that broadcasts to the output shape.

    Shape:
        - Input: :math:`(*, H_{in})`. Weight: :math:`(H_{out}, H_{in})` or :math:`(H_{in})`.
          Bias: :math:`(H_{out})` or :math:`()`. Output: :math:`(*, H_{out})`, or
          :math:`(*)` for a 1-d weight.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.linear(jnp.ones((10, 100)), jnp.ones((3, 100)), jnp.zeros(3)).shape
    (10, 3)
    """
    if input.ndim == 0 or weight.ndim == 0:
        raise ValueError(
            f"both arguments to linear need to be at least 1D, but they are {input.ndim}D "
            f"and {weight.ndim}D; reshape the input to (batch, in_features)."
        )
    if weight.ndim > 2:
        raise ValueError(
            f"linear(): weight must be 1-d or 2-d (out_features, in_features), got shape "
            f"{weight.shape} ({weight.ndim}D)."
        )
    _check_same_dtype("linear", input, weight, bias)
    n_in = input.shape[-1]
    if weight.ndim == 1:
        if bias is not None:
            raise ValueError(
                f"linear(): a 1-d weight {weight.shape} takes no bias in torch (mat2 must be a "
                f"matrix, got 1-D tensor); pass weight[None, :] of shape (1, {weight.shape[0]}) "
                "with a bias of shape (1,)."
            )
        if weight.shape[0] != n_in:
            raise ValueError(
                f"size mismatch, got input ({math.prod(input.shape[:-1])}), mat "
                f"({math.prod(input.shape[:-1])}x{n_in}), vec ({weight.shape[0]}); the 1-d weight "
                f"must have input.shape[-1] = {n_in} elements."
            )
        return jnp.matmul(input, weight)
    if weight.shape[1] != n_in:
        raise ValueError(linear_shape_error(input.shape, weight.shape))
    out = jnp.matmul(input, weight.T)
    return _add_bias(
        "linear", out, bias, f"bias should have shape (out_features,) = ({weight.shape[0]},)"
    )


@jax.jit
def bilinear(
    input1: jax.Array, input2: jax.Array, weight: jax.Array, bias: jax.Array | None = None
) -> jax.Array:
    r"""Bilinear map :math:`y_k = x_1^T A_k x_2 + b_k`.

    Args:
        input1: ``(*, in1_features)``.
        input2: ``(*, in2_features)`` with the same leading dimensions as ``input1``.
        weight: ``(out_features, in1_features, in2_features)``.
        bias: ``(out_features,)``.

    Shape:
        - Input1: :math:`(*, H_{in1})`. Input2: :math:`(*, H_{in2})`.
          Weight: :math:`(H_{out}, H_{in1}, H_{in2})`. Output: :math:`(*, H_{out})`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.bilinear(jnp.ones((8, 4)), jnp.ones((8, 5)), jnp.ones((6, 4, 5))).shape
    (8, 6)
    """
    if input1.ndim == 0 or input2.ndim == 0:
        raise ValueError(
            f"bilinear(): inputs must be at least 1-d, got {input1.ndim}D and {input2.ndim}D; "
            "reshape them to (batch, features)."
        )
    if input1.ndim != input2.ndim:
        raise ValueError(
            f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim} "
            f"(shapes {input1.shape} and {input2.shape}); give both the same batch dimensions."
        )
    for d in range(input1.ndim - 1):
        if input1.shape[d] != input2.shape[d]:
            raise ValueError(
                f"bilinear(): input batch dimensions do not match at dim {d}: got "
                f"{input1.shape[d]} and {input2.shape[d]} (shapes {input1.shape} and {input2.shape})."
            )
    if weight.ndim != 3:
        raise ValueError(
            f"bilinear(): weight must be 3-d (out_features, in1_features, in2_features), got "
            f"shape {weight.shape}."
        )
    if input1.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but "
            f"expected {weight.shape[1]} (weight shape {weight.shape} is (out, in1, in2))."
        )
    if input2.shape[-1] != weight.shape[2]:
        raise ValueError(
            f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
            f"expected {weight.shape[2]} (weight shape {weight.shape} is (out, in1, in2))."
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(
            f"bilinear(): bias size does not match weight size: got bias of shape {bias.shape} "
            f"but expected ({weight.shape[0]},)."
        )
    _check_same_dtype("bilinear", input1, input2, weight, bias)
    out = jnp.einsum("...i,oij,...j->...o", input1, weight, input2)
    if bias is not None:
        out = out + expand_last(bias, out.ndim)
    return out
