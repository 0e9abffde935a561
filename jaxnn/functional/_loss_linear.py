"""``linear_cross_entropy``: cross entropy of ``linear(input, W)`` without the full logits.

torch 2.13's reference path is ``cross_entropy(linear(input, W, b), target, ...)``. Its
chunked path (``options=LinearCrossEntropyOptions(...)``) walks the batch in chunks so
that only a ``(chunk, C)`` block of logits exists at a time: for an LLM head (C = 100k
classes) that is the difference between fitting in memory or not. Here the chunked path
is a ``custom_vjp`` over a ``lax.map`` (forward) and a ``lax.scan`` (backward) that
recomputes each chunk's logits, so neither pass materialises ``(N, C)``; its residuals
are only the inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from typing import Any, Literal

import jax
import jax.numpy as jnp

from ._linear import linear
from ._loss import _check_bounds, cross_entropy
from ._loss_common import as_array, resolve_reduction

__all__ = ["linear_cross_entropy", "LinearCrossEntropyOptions"]

_POLICIES = ("auto", "accurate", "balanced", "compact")

# torch's per-(device, dtype) picks for the "auto" sentinels; a JAX "gpu" is torch's "cuda".
_AUTO_DEFAULTS = {
    ("gpu", "bfloat16"): ("compact", "aspect_ratio:2"),
    ("gpu", "float16"): ("compact", "aspect_ratio:2"),
    ("cpu", "bfloat16"): ("accurate", "aspect_ratio"),
    ("cpu", "float16"): ("accurate", "aspect_ratio"),
}
_AUTO_FALLBACK = ("compact", "aspect_ratio:2")


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    """Options of the chunked ``linear_cross_entropy`` (torch's ``nn.LinearCrossEntropyOptions``).

    The fields, defaults, validation and chunk-size rules are torch's. ``batch_chunk_size``
    rows are processed at a time (``None``: one chunk, unless ``chunking_method`` picks the
    size); ``chunking_method='aspect_ratio[:N]'`` sizes a chunk's ``(chunk, C)`` logits
    like the ``(N, in_features)`` input (divided by N). ``acc_dtype`` is the dtype of the
    logits and of every accumulation (``None``: float32 for float16/bfloat16 inputs under
    ``acc_policy='auto'``, else the input's). jaxnn computes every policy the way torch's
    ``'accurate'`` does (all intermediates in ``acc_dtype``), and ``allow_retain_graph`` has
    nothing to allow: JAX gradients can always be taken again.

    >>> import jaxnn.functional as F
    >>> F.LinearCrossEntropyOptions(batch_chunk_size=256)
    LinearCrossEntropyOptions(allow_retain_graph=False, batch_chunk_size=256, chunking_method='auto', acc_policy='auto', acc_dtype=None)
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: Literal["accurate", "balanced", "compact", "auto"] = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        if self.acc_policy not in _POLICIES:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}; choose one of {_POLICIES}.")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            factor = factor if sep else "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(
                    f"invalid chunking_method: {self.chunking_method!r}; use 'auto', "
                    f"'aspect_ratio', 'aspect_ratio:N' with N >= 1, or None."
                )
        size = self.batch_chunk_size
        if not (
            size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)
        ):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {size!r}")
        if self.acc_dtype is not None:
            dt = jnp.dtype(self.acc_dtype)
            if dt not in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64):
                raise ValueError(
                    f"acc_dtype must be one of {{None, float16, bfloat16, float32, float64}}, got "
                    f"{self.acc_dtype!r}. Pass acc_dtype=None to let the op pick automatically."
                )

    def _resolve(
        self, num_batches: int, in_features: int, num_classes: int, dtype: Any, platform: str
    ) -> tuple[int, Any]:
        """(chunk size, accumulation dtype) for one call: torch's ``_adjust``."""
        method = self.chunking_method
        if method == "auto" and self.batch_chunk_size is not None:
            method = None  # an explicit size wins over the automatic pick
        if method == "auto":
            method = _AUTO_DEFAULTS.get((platform, jnp.dtype(dtype).name), _AUTO_FALLBACK)[1]
        size = (
            num_batches
            if self.batch_chunk_size is None
            else min(self.batch_chunk_size, num_batches)
        )
        if method is not None:
            factor = int(method.split(":", 1)[1]) if ":" in method else 1
            target = -(-num_batches // -(-num_classes // max(in_features, 1)))
            picked = min((1 << (target - 1).bit_length()) // factor, num_batches)
            if self.batch_chunk_size is not None and self.batch_chunk_size != picked:
                raise ValueError(
                    f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method "
                    f"('{method}') give different chunk sizes ({self.batch_chunk_size} vs "
                    f"{picked}); pass only one."
                )
            size = picked
        acc = self.acc_dtype
        if acc is None:
            low = jnp.dtype(dtype) in (jnp.float16, jnp.bfloat16)
            acc = jnp.float32 if self.acc_policy == "auto" and low else dtype
        return max(1, size), jnp.dtype(acc)


def linear_cross_entropy(
    input: jax.Array,
    linear_weight: jax.Array,
    target: jax.Array,
    *,
    linear_bias: jax.Array | None = None,
    weight: jax.Array | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
) -> jax.Array:
    r"""Cross entropy of the logits ``linear(input, linear_weight, linear_bias)`` and ``target``.

    Equal to ``cross_entropy(linear(input, W, b).reshape(N, C, *out_features), target, ...)``
    (``ignore_index=None`` means -100 for class indices). With ``options`` (a
    :class:`LinearCrossEntropyOptions`) and class indices, no out_features, no label
    smoothing, the batch is processed in chunks and the ``(N, C)`` logits never exist;
    other configurations warn, as torch, and take the reference path.

    Args:
        input: the features.
        linear_weight: ``(C, in_features)``, or ``(C, d1, ..., dK, in_features)`` for a
            K-dimensional loss (then ``input`` must be batched).
        target: class indices ``()``, ``(N,)``, ``(N, d1, ..., dK)``, or class
            probabilities with the logits' shape.
        linear_bias: optional ``(C,)`` (or ``(C, d1, ..., dK)``) bias of the projection.
        weight: optional ``(C,)`` class weights.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        ignore_index: class index to skip; ``None`` (default) is -100 for indices and is
            the only value allowed with probabilities.
        label_smoothing: in ``[0, 1]``.
        options: chunking options, or ``None`` for the reference computation.

    Shape:
        - input: ``(in_features,)`` or ``(N, in_features)``
        - output: scalar, or the target's shape (without ``C``) with ``reduction='none'``.

    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> x, w = jnp.array([[1.0, 2.0], [0.5, -1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> t = jnp.array([2, 0])
    >>> print(round(float(F.linear_cross_entropy(x, w, t)), 4))
    0.436
    >>> opts = F.LinearCrossEntropyOptions(batch_chunk_size=1)
    >>> print(round(float(F.linear_cross_entropy(x, w, t, options=opts)), 4))
    0.436
    """
    input, linear_weight, target = as_array(input), as_array(linear_weight), as_array(target)
    linear_bias = None if linear_bias is None else as_array(linear_bias)
    weight = None if weight is None else as_array(weight)
    reduction = resolve_reduction(None, None, reduction)
    if input.ndim < 1 or input.ndim > 2:
        raise ValueError(
            f"expected input with dimensionality 1 or 2, got {input.ndim} (shape "
            f"{tuple(input.shape)}); pass (in_features,) or (N, in_features)."
        )
    if linear_weight.ndim < 2:
        raise ValueError(
            f"expected linear_weight with dimensionality at least 2, got {linear_weight.ndim}; "
            f"its shape is (C, in_features) or (C, d1, ..., dK, in_features)."
        )
    batch, in_features = input.shape[:-1], input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise ValueError(
            "expected equal input and linear_weight last dimensions (in_features), "
            f"got {input.shape[-1]} and {linear_weight.shape[-1]}, respectively"
        )
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise ValueError(
            f"expected linear_bias shape {(num_classes, *out_features)}, got "
            f"{tuple(linear_bias.shape)}"
        )
    if out_features and not batch:
        raise ValueError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} "
            f"requires batched input, (N, {in_features}), got unbatched input with shape "
            f"{tuple(input.shape)}"
        )
    logits_shape = (*batch, num_classes, *out_features)
    probabilities = tuple(target.shape) == logits_shape
    if probabilities and ignore_index is not None:
        raise ValueError(
            "ignore_index cannot be specified when target contains probabilities; leave "
            "ignore_index=None."
        )
    ignore = -100 if ignore_index is None else int(ignore_index)
    options = _as_options(options)
    if options is not None:
        integer = jnp.issubdtype(target.dtype, jnp.integer)
        if out_features or label_smoothing != 0.0 or not integer:
            warnings.warn(
                "linear_cross_entropy: ``options`` ignored; chunked path needs reduction in "
                "{'mean','sum','none'}, label_smoothing == 0, integer class indices as target, "
                f"out_features == (). Got reduction={reduction!r}, "
                f"label_smoothing={label_smoothing}, target.dtype={target.dtype}, "
                f"out_features={out_features}.",
                UserWarning,
                stacklevel=2,
            )
        else:
            return _chunked(
                input, linear_weight, target, linear_bias, weight, reduction, ignore, options
            )
    flat = math.prod(out_features) * num_classes
    logits = linear(
        input,
        linear_weight.reshape(flat, in_features),
        None if linear_bias is None else linear_bias.reshape(flat),
    ).reshape(logits_shape)
    return cross_entropy(
        logits,
        target,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore,
        label_smoothing=label_smoothing,
    )


def _as_options(options: Any) -> LinearCrossEntropyOptions | None:
    """jaxnn's options; torch's ``nn.LinearCrossEntropyOptions`` (ported code) is read field
    by field, its ``acc_dtype`` (a torch dtype) by name."""
    if options is None or isinstance(options, LinearCrossEntropyOptions):
        return options
    names = [f.name for f in dataclasses.fields(LinearCrossEntropyOptions)]
    if not all(hasattr(options, n) for n in names):
        raise TypeError(
            f"options must be a LinearCrossEntropyOptions or None, got "
            f"{type(options).__name__}; build it with F.LinearCrossEntropyOptions(...)."
        )
    values = {n: getattr(options, n) for n in names}
    if values["acc_dtype"] is not None:
        values["acc_dtype"] = jnp.dtype(str(values["acc_dtype"]).removeprefix("torch."))
    return LinearCrossEntropyOptions(**values)


def _chunked(input, linear_weight, target, bias, weight, reduction, ignore, options):
    unbatched = input.ndim == 1
    x = input[None] if unbatched else input
    t = jnp.reshape(target, (-1,)) if unbatched else target
    n, h = x.shape
    c = linear_weight.shape[0]
    if tuple(t.shape) != (n,):
        raise ValueError(
            f"Expected target of shape ({n},) for input of shape {tuple(input.shape)} (class "
            f"indices), got {tuple(target.shape)}."
        )
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(
            f"weight tensor should be defined either for all {c} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}."
        )
    _check_bounds(t, c, ignore)
    # The "auto" picks depend on the device; a traced input has none, so the default backend.
    chunk, acc = options._resolve(n, h, c, x.dtype, jax.default_backend())
    return _chunked_impl(
        x, linear_weight, t, bias, weight,
        reduction=reduction, ignore=ignore, chunk=chunk, acc=acc.name, unbatched=unbatched,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnames=("reduction", "ignore", "chunk", "acc", "unbatched"))
def _chunked_impl(x, w, t, bias, weight, *, reduction, ignore, chunk, acc, unbatched):
    dtype = x.dtype
    t = t.astype(jnp.int32)
    valid = t != ignore
    safe = jnp.where(valid, t, 0)
    b = jnp.zeros((w.shape[0],), w.dtype) if bias is None else bias
    rows = _row_nll(x, w, b, safe, chunk, jnp.dtype(acc))
    cw = jnp.ones(t.shape, dtype) if weight is None else jnp.take(weight.astype(dtype), safe)
    # Weighting and masking outside the custom_vjp: the class weights get their gradient
    # by the chain rule, and an ignored row's cotangent is cut to 0 by ``where`` (so an
    # all-ignored 'mean', NaN as in torch, still gives zero gradients).
    per = jnp.where(valid, rows.astype(dtype) * cw, 0)
    if reduction == "none":
        return per[0] if unbatched else per
    if reduction == "sum":
        return jnp.sum(per)
    total = jnp.sum(jnp.where(valid, cw, 0))
    return jnp.sum(per) / total


def _chunks(a: jax.Array, chunk: int) -> jax.Array:
    """``(N, ...)`` -> ``(ceil(N / chunk), chunk, ...)``, zero-padded."""
    n = a.shape[0]
    pad = -n % chunk
    a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
    return a.reshape((n + pad) // chunk, chunk, *a.shape[1:])


def _logits(xc, w, b, acc):
    out = jnp.matmul(xc.astype(acc), w.astype(acc).T)
    return out + b.astype(acc)[None, :]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _row_nll(x, w, b, t, chunk, acc):
    """Per-row ``logsumexp(z) - z[t]`` with ``z = x Wᵀ + b``, one chunk of rows at a time."""
    return _row_nll_fwd(x, w, b, t, chunk, acc)[0]


def _row_nll_fwd(x, w, b, t, chunk, acc):
    def one(args):
        xc, tc = args
        z = _logits(xc, w, b, acc)
        picked = jnp.take_along_axis(z, tc[:, None], axis=1)[:, 0]
        return jax.nn.logsumexp(z, axis=1) - picked

    rows = jax.lax.map(one, (_chunks(x, chunk), _chunks(t, chunk))).reshape(-1)[: x.shape[0]]
    return rows, (x, w, b, t)


def _row_nll_bwd(chunk, acc, res, g):
    x, w, b, t = res
    n = x.shape[0]

    def step(carry, args):
        dw, db = carry
        xc, tc, gc = args
        z = _logits(xc, w, b, acc)
        # d(lse - z_t)/dz = softmax(z) - onehot(t); padded rows have gc = 0.
        dz = jax.nn.softmax(z, axis=1) - jax.nn.one_hot(tc, z.shape[1], dtype=acc)
        dz = dz * gc.astype(acc)[:, None]
        dx = jnp.matmul(dz, w.astype(acc))
        dw = dw + jnp.matmul(dz.T, xc.astype(acc))
        db = db + jnp.sum(dz, axis=0)
        return (dw, db), dx

    init = (jnp.zeros(w.shape, acc), jnp.zeros(b.shape, acc))
    (dw, db), dx = jax.lax.scan(
        step, init, (_chunks(x, chunk), _chunks(t, chunk), _chunks(g, chunk))
    )
    dx = dx.reshape(-1, x.shape[1])[:n]
    return dx.astype(x.dtype), dw.astype(w.dtype), db.astype(b.dtype), None


_row_nll.defvjp(_row_nll_fwd, _row_nll_bwd)
