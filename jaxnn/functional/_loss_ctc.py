"""Connectionist Temporal Classification loss (re-exported by ``_loss``).

The forward (alpha) recursion runs in log space with ``jax.lax.scan`` over time, batched
over the samples and the ``2S + 1`` states of the blank-extended target; the gradient is
JAX's reverse pass through that scan, adjusted to torch's convention (see ``ctc_loss``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._loss_common import as_array, concrete
from ._utils import check_choice

__all__ = ["ctc_loss"]


def _logsumexp(*xs: jax.Array) -> jax.Array:
    """Elementwise log-sum-exp that is ``-inf`` with a zero (not NaN) gradient when every
    term is ``-inf`` (states no alignment can reach yet, infeasible targets)."""
    m = functools.reduce(jnp.maximum, xs)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0))
    s = sum(jnp.exp(x - m) for x in xs)
    pos = s > 0
    return jnp.where(pos, m + jnp.log(jnp.where(pos, s, 1)), -jnp.inf)


@jax.custom_jvp
def _nan_grad_if_inf(x: jax.Array) -> jax.Array:
    return x


@_nan_grad_if_inf.defjvp
def _nan_grad_if_inf_jvp(primals, tangents):
    # torch's backward yields NaN for a sample with an infinite loss (no valid alignment)
    # unless zero_infinity=True; reproduce it rather than return a silently finite gradient.
    (x,), (dx,) = primals, tangents
    return x, dx * jnp.where(jnp.isinf(x), jnp.nan, 1).astype(dx.dtype)


def _lengths(
    value: jax.Array | Sequence[int] | int, n: int, name: str
) -> tuple[jax.Array, np.ndarray | None]:
    arr = as_array(value)
    if arr.size != n or arr.ndim > 1:
        raise ValueError(
            f"{name} must be of size batch_size: expected {n} lengths, got shape {arr.shape}."
        )
    return jnp.reshape(arr, (n,)).astype(jnp.int32), concrete(jnp.reshape(arr, (n,)))


def _pad_targets(
    targets: jax.Array, tl: jax.Array, tl_values: np.ndarray | None, n: int
) -> jax.Array:
    """Concatenated 1-d targets -> padded ``(N, S)``."""
    if tl_values is not None:
        total = int(tl_values.sum())
        if targets.shape[0] < total:
            raise ValueError(
                f"Expected tensor to have size at least {total} at dimension 0, but got size "
                f"{targets.shape[0]} for argument #2 'targets': concatenated targets must hold "
                "sum(target_lengths) labels."
            )
        S = int(tl_values.max()) if n else 0
        offsets = jnp.asarray(np.cumsum(tl_values) - tl_values, jnp.int32)
    else:
        S = targets.shape[0]
        offsets = jnp.cumsum(tl) - tl
    idx = offsets[:, None] + jnp.arange(S, dtype=jnp.int32)[None, :]
    return (
        jnp.take(targets, idx, mode="clip")
        if targets.shape[0]
        else jnp.zeros((n, S), targets.dtype)
    )


def ctc_loss(
    log_probs: jax.Array,
    targets: jax.Array,
    input_lengths: jax.Array | Sequence[int],
    target_lengths: jax.Array | Sequence[int],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> jax.Array:
    r"""Connectionist Temporal Classification loss :math:`-\log p(y \mid x)`.

    :math:`p(y \mid x)` sums over every alignment of the target to the ``input_length``
    frames (labels may repeat, separated by blanks where a label repeats). ``'mean'``
    divides each sample's loss by its target length (at least 1), then averages over the
    batch; ``'sum'`` adds the losses. A target that no alignment fits (too long for its
    input) has an infinite loss; ``zero_infinity=True`` makes it 0 with a zero gradient.

    The gradient with respect to ``log_probs`` is torch's: :math:`e^{\text{log\_probs}}
    - \gamma` (:math:`\gamma` the alignment posterior) for frames within the input length,
    0 beyond it, and NaN for an infinite loss when ``zero_infinity=False``. torch's formula
    assumes ``log_probs`` come from ``log_softmax``: through ``log_softmax`` it equals the
    exact gradient, which is what a model sees. float16/bfloat16 inputs are computed in
    float32 (torch's CPU kernel does not take them) and the result is cast back.

    Args:
        log_probs: log-probabilities over ``C`` classes (blank included), e.g.
            ``log_softmax(logits, -1)``.
        targets: padded ``(N, S)`` labels, or all targets concatenated into one 1-d array
            (``sum(target_lengths)`` labels). Labels must not be ``blank``.
        input_lengths: frames used per sample, ``(N,)`` array or sequence of ints, each at
            most ``T``.
        target_lengths: labels per sample, ``(N,)`` array or sequence of ints.
        blank: index of the blank class.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        zero_infinity: replace infinite losses (and their gradients) by zero.

    Shape:
        - log_probs: ``(T, N, C)`` or ``(T, C)``
        - targets: ``(N, S)``, ``(sum(target_lengths),)``, or ``(S,)`` when unbatched
        - input_lengths, target_lengths: ``(N,)`` or ``()``
        - output: scalar, or ``(N,)`` with ``reduction='none'`` (``()`` when unbatched).

    >>> import jax
    >>> import jax.numpy as jnp
    >>> import jaxnn.functional as F
    >>> log_probs = jax.nn.log_softmax(jnp.zeros((4, 1, 3)), axis=-1)  # uniform over 3 classes
    >>> loss = F.ctc_loss(log_probs, jnp.array([[1, 2]]), [4], [2], reduction="sum")
    >>> print(round(float(loss), 4))  # -log(15 alignments / 3**4)
    1.6864
    """
    reduction = check_choice(reduction, ("none", "mean", "sum"), "reduction")
    log_probs, targets = as_array(log_probs), as_array(targets)
    if log_probs.ndim not in (2, 3):
        raise ValueError(
            f"Expected 3-dimensional tensor, but got {log_probs.ndim}-dimensional tensor for "
            "argument #1 'log_probs': pass (T, N, C), or (T, C) for one unbatched sequence."
        )
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs[:, None]
        if targets.ndim != 1:
            raise ValueError(
                f"unbatched log_probs of shape (T, C) need targets of shape (S,), got {targets.shape}."
            )
        targets = targets[None]
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank must be in label range: got blank={blank} for {C} classes.")
    il, il_values = _lengths(input_lengths, N, "input_lengths")
    tl, tl_values = _lengths(target_lengths, N, "target_lengths")
    for name, values, hi in (("input_lengths", il_values, T), ("target_lengths", tl_values, None)):
        if values is not None and values.size:
            if values.min() < 0:
                raise ValueError(
                    f"Expected {name} to have value at least 0, but got value {values.min()}."
                )
            if hi is not None and values.max() > hi:
                raise ValueError(
                    f"Expected {name} to have value at most {hi}, but got value {values.max()}: "
                    "input lengths cannot exceed log_probs' time dimension."
                )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        targets = targets.astype(jnp.int32)
    if targets.ndim == 1:
        padded = _pad_targets(targets, tl, tl_values, N)
    elif targets.ndim == 2:
        if targets.shape[0] != N:
            raise ValueError(
                f"targets of shape {targets.shape} must have batch size {N} (dimension 0)."
            )
        if tl_values is not None and tl_values.size and tl_values.max() > targets.shape[1]:
            raise ValueError(
                f"Expected tensor to have size at least {tl_values.max()} at dimension 1, but got "
                f"size {targets.shape[1]} for argument #2 'targets'."
            )
        padded = targets
    else:
        raise ValueError(
            f"targets must be (N, S) padded or 1-d concatenated, got shape {targets.shape}."
        )
    padded = padded.astype(jnp.int32)
    S = padded.shape[1]
    tg_values = concrete(padded)
    if tg_values is not None and tl_values is not None and S:
        used = np.arange(S)[None, :] < tl_values[:, None]
        bad = used & ((tg_values < 0) | (tg_values >= C))
        if bad.any():
            raise ValueError(
                f"target label {tg_values[bad].flat[0]} is out of range for {C} classes; labels "
                f"must lie in [0, {C})."
            )

    return _ctc_impl(
        log_probs,
        padded,
        il,
        tl,
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
        unbatched=unbatched,
    )


@functools.partial(jax.jit, static_argnames=("blank", "reduction", "zero_infinity", "unbatched"))
def _ctc_impl(log_probs, padded, il, tl, *, blank, reduction, zero_infinity, unbatched):
    T, N, _ = log_probs.shape
    S = padded.shape[1]
    out_dtype = log_probs.dtype
    lp = log_probs.astype(jnp.promote_types(out_dtype, jnp.float32))
    L = 2 * S + 1
    ext = jnp.full((N, L), blank, jnp.int32).at[:, 1::2].set(padded)
    lp_ext = jnp.take_along_axis(lp, jnp.broadcast_to(ext[None], (T, N, L)), axis=2, mode="clip")
    neg_inf = jnp.asarray(-jnp.inf, lp.dtype)
    skip = jnp.concatenate([jnp.zeros((N, min(2, L)), bool), ext[:, 2:] != ext[:, :-2]], axis=1)

    def step(alpha, xs):
        lp_t, t = xs
        a1 = jnp.concatenate([jnp.full((N, 1), neg_inf), alpha[:, :-1]], axis=1)
        a2 = jnp.concatenate([jnp.full((N, 2), neg_inf), alpha[:, :-2]], axis=1)[:, :L]
        new = lp_t + _logsumexp(alpha, a1, jnp.where(skip, a2, neg_inf))
        return jnp.where((t < il)[:, None], new, alpha), None

    # A virtual state before frame 0 (all mass on the leading blank) starts the recursion,
    # so that input_length 0 needs no special case.
    alpha0 = jnp.where(jnp.arange(L)[None, :] == 0, 0.0, neg_inf).astype(lp.dtype)
    alpha0 = jnp.broadcast_to(alpha0, (N, L))
    alpha, _ = jax.lax.scan(step, alpha0, (lp_ext, jnp.arange(T)))
    end = 2 * tl
    last = jnp.take_along_axis(alpha, end[:, None], axis=1, mode="clip")[:, 0]
    prev = jnp.take_along_axis(alpha, jnp.maximum(end - 1, 0)[:, None], axis=1, mode="clip")[:, 0]
    nll = -_logsumexp(last, jnp.where(tl > 0, prev, neg_inf))

    # torch's gradient adds exp(log_probs) on frames t < input_length (its formula assumes
    # normalised log_probs); `e - stop_gradient(e)` is 0 forward and carries that gradient.
    # (a select, not a product with a 0/1 mask: frames past input_length must get an exact
    # zero gradient even where the NaN of an infinite loss flows back)
    frames = jnp.arange(T)[:, None, None] < il[None, :, None]
    e = jnp.sum(jnp.where(frames, jnp.exp(lp), 0), axis=(0, 2))
    loss = nll + (e - jax.lax.stop_gradient(e))
    if zero_infinity:
        loss = jnp.where(jnp.isinf(nll), jnp.zeros_like(loss), loss)
    else:
        loss = _nan_grad_if_inf(loss)

    if reduction == "mean":
        loss = jnp.mean(loss / jnp.maximum(tl, 1).astype(loss.dtype))
    elif reduction == "sum":
        loss = jnp.sum(loss)
    elif unbatched:
        loss = loss[0]
    return loss.astype(out_dtype)
