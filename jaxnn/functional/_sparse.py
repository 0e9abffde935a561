"""Lookups: ``embedding``, ``embedding_bag`` and ``one_hot``.

Index checks (range, offsets) run eagerly when the indices are concrete, with torch's
messages. Under ``jax.jit`` the values are unknown at trace time: an out-of-range index then
gives a row of NaN (embedding) or is dropped (one_hot gives a zero row) instead of an error.

``max_norm`` differs from torch in one visible way: torch renormalises the looked-up rows of
``weight`` *in place*; a JAX array cannot be mutated, so we return the same output (rows
renormalised as torch would) and leave ``weight`` unchanged. The gradient is torch's: the
renormalisation is invisible to autodiff, as torch does it under ``no_grad``. To keep the
weights themselves bounded, renormalise them in the update step.

``sparse`` is accepted and has no effect: JAX gradients are dense arrays.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._distance import _norm

__all__ = ["embedding", "embedding_bag", "one_hot"]


def _concrete(x: jax.Array) -> np.ndarray | None:
    """The values of ``x`` when known at trace time, else None."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _check_indices(name: str, input: jax.Array) -> None:
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise TypeError(
            f"{name}(): indices must have an integer dtype, but got {input.dtype}; "
            "cast them with .astype(jnp.int32)."
        )


@partial(jax.jit, static_argnames=("padding_idx", "max_norm", "norm_type", "scale_grad_by_freq"))
def _embedding(
    input: jax.Array,
    weight: jax.Array,
    padding_idx: int | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
) -> jax.Array:
    mask = None if padding_idx is None else input != padding_idx
    return _lookup(input, weight, mask, max_norm, norm_type, scale_grad_by_freq)


def _lookup(
    idx: jax.Array,
    weight: jax.Array,
    grad_mask: jax.Array | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
) -> jax.Array:
    """``weight[idx]`` with torch's max_norm values and gradient scaling.

    The forward value is the (renormalised) rows; the gradient reaching ``weight`` is the
    cotangent times ``grad_mask`` (padding rows: 0) divided by the index's count when
    ``scale_grad_by_freq``; the max_norm scale never enters it (torch applies it in place
    under no_grad).
    """
    # Negative indices are out of range in torch: no wrap-around, NaN rows under jit.
    rows = weight.at[idx].get(mode="fill", fill_value=jnp.nan, wrap_negative_indices=False)
    scale = None if grad_mask is None else grad_mask.astype(weight.dtype)
    if scale_grad_by_freq:
        counts = jnp.zeros(weight.shape[0], weight.dtype).at[idx.reshape(-1)].add(1.0)
        inv = 1.0 / counts.at[idx].get(mode="fill", fill_value=1.0, wrap_negative_indices=False)
        scale = inv if scale is None else scale * inv
    value = rows
    if max_norm is not None:
        norm = _norm(lax.stop_gradient(rows), norm_type, rows.ndim - 1, True)
        value = rows * jnp.where(norm > max_norm, max_norm / (norm + 1e-7), 1.0)
    if scale is None and max_norm is None:
        return rows
    grad_scale = 1.0 if scale is None else scale[..., None]
    return lax.stop_gradient(value) + (rows - lax.stop_gradient(rows)) * grad_scale


def embedding(
    input: jax.Array,
    weight: jax.Array,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> jax.Array:
    r"""Look up rows of ``weight``: ``out[..., :] = weight[input[...], :]``.

    Args:
        input: integer indices of any shape, each in ``[0, num_embeddings)``.
        weight: ``(num_embeddings, embedding_dim)``.
        padding_idx: rows at this index get zero gradient (their value is still returned;
            ``nn.Embedding`` initialises that row to zeros). Negative counts from the end.
        max_norm: looked-up rows whose ``norm_type``-norm exceeds it are scaled to norm
            ``max_norm``. torch also writes them back into ``weight``; we cannot (see the
            module note): ``weight`` is left unchanged.
        norm_type: the p of the norm for ``max_norm``. Default 2.
        scale_grad_by_freq: divide each row's gradient by the number of times its index
            occurs in ``input``.
        sparse: accepted, no effect (JAX gradients are dense).

    Shape:
        - Input: :math:`(*)` integers. Weight: :math:`(V, D)`. Output: :math:`(*, D)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.embedding(jnp.array([[0, 2]]), jnp.arange(6.0).reshape(3, 2)).tolist()
    [[[0.0, 1.0], [4.0, 5.0]]]
    """
    _check_indices("embedding", input)
    if weight.ndim != 2:
        raise ValueError(
            f"'weight' must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}."
        )
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(
                f"Padding_idx must be within num_embeddings: got padding_idx={padding_idx} for "
                f"{num} embeddings; pass a value in [{-num}, {num - 1}]."
            )
        padding_idx %= num
    values = _concrete(input)
    if values is not None and values.size and (values.min() < 0 or values.max() >= num):
        bad = values[(values < 0) | (values >= num)].flat[0]
        raise IndexError(
            f"index out of range in self: embedding got index {bad} for a weight with "
            f"{num} rows; indices must be in [0, {num - 1}]."
        )
    return _embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq)


def one_hot(tensor: jax.Array, num_classes: int = -1) -> jax.Array:
    r"""One-hot encode integer class values: ``out[..., k] = (tensor[...] == k)``.

    Returns torch's integer dtype: int64 with ``jax_enable_x64``, else int32 (JAX's default
    integer type).

    Args:
        tensor: integer class values of any shape, each in ``[0, num_classes)``.
        num_classes: the number of classes; -1 infers ``max(tensor) + 1``, which needs
            concrete values: inside ``jax.jit`` pass it explicitly.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*, \text{num\_classes})`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> F.one_hot(jnp.array([0, 2])).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    _check_indices("one_hot", tensor)
    if num_classes < -1:
        raise ValueError(
            f"one_hot(): num_classes must be -1 (infer) or >= 0, got {num_classes}; "
            "Class values must be smaller than num_classes."
        )
    values = _concrete(tensor)
    if num_classes == -1:
        if values is None:
            raise ValueError(
                "one_hot(): num_classes=-1 infers the number of classes from the values of "
                "tensor, which are unknown inside jax.jit/vmap/grad; pass num_classes "
                "explicitly, e.g. F.one_hot(labels, num_classes=10)."
            )
        if values.size == 0:
            raise ValueError(
                "Can not infer total number of classes from empty tensor; pass num_classes."
            )
        num_classes = int(values.max()) + 1
    if values is not None and values.size:
        if values.min() < 0:
            raise ValueError(f"Class values must be non-negative, got {values.min()}.")
        if values.max() >= num_classes:
            raise ValueError(
                f"Class values must be smaller than num_classes, got {values.max()} with "
                f"num_classes={num_classes}."
            )
    return _one_hot(tensor, num_classes)


@partial(jax.jit, static_argnames=("num_classes",))
def _one_hot(tensor: jax.Array, num_classes: int) -> jax.Array:
    out_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)
    classes = jnp.arange(num_classes, dtype=tensor.dtype)
    return (tensor[..., None] == jnp.reshape(classes, (1,) * tensor.ndim + (-1,))).astype(out_dtype)


def _check_bags(input: jax.Array, offsets: jax.Array | None, num: int) -> None:
    """torch's checks of a bag layout; value checks only where the values are concrete."""
    if input.ndim == 2 and offsets is not None:
        raise ValueError(
            "if input is 2D, then offsets has to be None, as input is treated is a "
            f"mini-batch of fixed length sequences. However, found offsets of type "
            f"{type(offsets)}; drop offsets or flatten input to 1-D."
        )
    if input.ndim not in (1, 2):
        raise ValueError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim} "
            f"(shape {input.shape}); pass (B, N) bags or 1-D indices with offsets."
        )
    if input.ndim == 1:
        if offsets is None:
            raise ValueError(
                "offsets has to be a 1D Tensor but got None; pass the start of each bag, "
                "e.g. offsets=jnp.array([0, 4])."
            )
        if offsets.ndim != 1:
            raise ValueError(f"offsets has to be a 1D Tensor, got shape {offsets.shape}.")
        _check_indices("embedding_bag offsets", offsets)
        known = _concrete(offsets)
        if known is not None and known.size:
            if known[0] != 0:
                raise ValueError(
                    "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                    f"start from position 0. However, got {known[0]}"
                )
            if (np.diff(known) < 0).any():
                raise ValueError(f"offsets must be non-decreasing, got {known.tolist()}.")
            if known[-1] > input.shape[0]:
                raise ValueError(
                    f"offsets[-1] can not be greater than input's length {input.shape[0]} but "
                    f"got offsets[-1] of {known[-1]}"
                )
    values = _concrete(input)
    if values is not None and values.size and (values.min() < 0 or values.max() >= num):
        at = int(np.flatnonzero((values.reshape(-1) < 0) | (values.reshape(-1) >= num))[0])
        raise IndexError(
            f"Index {at} of input takes value {values.reshape(-1)[at]} which is not in the "
            f"valid range [0, {num})"
        )


def _bag_segments(
    input: jax.Array, offsets: jax.Array | None, include_last_offset: bool
) -> tuple[jax.Array, jax.Array, int]:
    """Flatten the bags: (indices (N,), bag id of each index (N,), number of bags)."""
    if input.ndim == 2:
        bags, length = input.shape
        seg = np.repeat(np.arange(bags), length)
        return input.reshape(-1), jnp.asarray(seg, jnp.int32), bags
    bags = offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]
    # Position i belongs to the last bag starting at or before it; with include_last_offset
    # positions past offsets[-1] get bag id == bags and the segment ops drop them.
    pos = jnp.arange(input.shape[0], dtype=offsets.dtype)
    seg = jnp.searchsorted(offsets, pos, side="right") - 1
    return input, seg, bags


def embedding_bag(
    input: jax.Array,
    weight: jax.Array,
    offsets: jax.Array | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: jax.Array | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> jax.Array:
    r"""Sums, means or maxima of bags of embeddings, without materialising them per bag.

    Bags are the rows of a 2-D ``input``, or the slices ``input[offsets[b]:offsets[b+1]]``
    of a 1-D one. Entries equal to ``padding_idx`` are left out of the reduction (and of the
    mean's count); an empty bag gives zeros. ``mode='max'`` sends the gradient to the first
    maximal entry, like torch.

    Args:
        input: ``(B, N)`` integer bags, or 1-D ``(N,)`` indices with ``offsets``.
        weight: ``(num_embeddings, embedding_dim)``.
        offsets: 1-D start of each bag in a 1-D ``input`` (``offsets[0] == 0``); ``None``
            for a 2-D input.
        max_norm: as in :func:`embedding`: looked-up rows are renormalised in the output,
            ``weight`` itself is left unchanged (torch edits it in place).
        norm_type: the p of the norm for ``max_norm``. Default 2.
        scale_grad_by_freq: divide each row's gradient by its index's count in ``input``
            (not with ``mode='max'``). This is the documented rule, which torch's CUDA
            kernel follows; torch 2.13's CPU kernel divides some rows by another index's
            count (pytorch/pytorch#190063).
        mode: ``'sum'``, ``'mean'`` (default) or ``'max'``.
        sparse: accepted, no effect (JAX gradients are dense); not with ``mode='max'``.
        per_sample_weights: same shape as ``input``, multiplies each embedding
            (``mode='sum'`` only).
        include_last_offset: ``offsets`` has ``B + 1`` entries, the last being the end of
            the last bag (CSR layout). Entries past it belong to no bag (torch 2.13's CPU
            ``mode='mean'`` still counts them in the last bag's divisor).
        padding_idx: index excluded from the bags. Negative counts from the end.

    Shape:
        - Input: :math:`(B, N)`, or :math:`(N)` with offsets :math:`(B)` (:math:`(B + 1)`
          with ``include_last_offset``). Weight: :math:`(V, D)`. Output: :math:`(B, D)`.

    >>> import jax.numpy as jnp, jaxnn.functional as F
    >>> w = jnp.arange(10.0).reshape(5, 2)
    >>> F.embedding_bag(jnp.array([0, 1, 4]), w, jnp.array([0, 2]), mode="sum").tolist()
    [[2.0, 4.0], [8.0, 9.0]]
    """
    _check_indices("embedding_bag", input)
    if per_sample_weights is not None and per_sample_weights.shape != input.shape:
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, "
            f"then it must have the same shape as the input ({input.shape})"
        )
    if weight.ndim != 2:
        raise ValueError(
            f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}; "
            "pass (num_embeddings, embedding_dim)."
        )
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got mode={mode!r}.")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}')."
        )
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise TypeError(
            f"embedding_bag: per_sample_weights has dtype {per_sample_weights.dtype} but weight "
            f"has {weight.dtype}; cast one to the other."
        )
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(
                f"padding_idx must be within the number of embeddings, {-num} through "
                f"{num - 1}, but got {padding_idx}"
            )
        padding_idx %= num
    offsets = None if offsets is None else jnp.asarray(offsets)
    _check_bags(input, offsets, num)
    return _embedding_bag(
        input,
        weight,
        offsets,
        per_sample_weights,
        max_norm,
        norm_type,
        scale_grad_by_freq,
        mode,
        include_last_offset,
        padding_idx,
    )


@partial(
    jax.jit,
    static_argnames=(
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "mode",
        "include_last_offset",
        "padding_idx",
    ),
)
def _embedding_bag(
    input: jax.Array,
    weight: jax.Array,
    offsets: jax.Array | None,
    per_sample_weights: jax.Array | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
    mode: str,
    include_last_offset: bool,
    padding_idx: int | None,
) -> jax.Array:
    idx, seg, bags = _bag_segments(input, offsets, include_last_offset)
    valid = seg < bags
    if padding_idx is not None:
        valid = valid & (idx != padding_idx)
    rows = _lookup(idx, weight, valid, max_norm, norm_type, scale_grad_by_freq)
    count = jax.ops.segment_sum(valid.astype(weight.dtype), seg, bags)[:, None]
    if mode == "max":
        return _bag_max(rows, valid, seg, bags, count)
    keep = valid.astype(weight.dtype)
    if per_sample_weights is not None:
        keep = keep * per_sample_weights.reshape(-1)
    total = jax.ops.segment_sum(rows * keep[:, None], seg, bags)
    if mode == "mean":
        return total / jnp.maximum(count, 1.0)
    return total


def _bag_max(
    rows: jax.Array, valid: jax.Array, seg: jax.Array, bags: int, count: jax.Array
) -> jax.Array:
    """Per-bag, per-feature maximum whose gradient goes to the first maximal entry (torch)."""
    n, dim = rows.shape
    if n == 0 or bags == 0:
        return jnp.zeros((bags, dim), rows.dtype)
    masked = jnp.where(valid[:, None], rows, -jnp.inf)
    best = lax.stop_gradient(jax.ops.segment_max(masked, seg, bags))
    seg_c = jnp.clip(seg, 0, max(bags - 1, 0))
    hit = valid[:, None] & (masked == best.at[seg_c].get(mode="clip"))
    pos = jnp.broadcast_to(jnp.arange(n)[:, None], (n, dim))
    first = jax.ops.segment_min(jnp.where(hit, pos, n), seg, bags)
    first = jnp.minimum(first, n - 1)
    picked = rows[first, jnp.arange(dim)[None, :]]
    return jnp.where(count > 0, picked, jnp.zeros_like(picked))
