"""``jaxnn.init``: torch.nn.init's initialisers, in place on modules as in torch.

``nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")`` fills the weight
of ``m`` in place and returns it, as torch does: JAX arrays are immutable, so the new array
is written into every module field that holds the argument (``m.weight``, and a tied
weight's other holder too). That covers torch's init loops: ``for m in self.modules():``
in ``__init__``, ``model.apply(init_weights)``, ``for p in model.parameters():`` and direct
``nn.init.zeros_(model.fc.bias)``. Inside a JAX transformation a module cannot be edited
and the call raises, naming ``eqx.tree_at``.

The first argument may also be a shape tuple (or an array no module holds): the result is
simply returned. Calling an initialiser for its effect on such an array (the result
discarded) raises, since nothing would change. Randomness comes from ``key=``, or from the
global stream that ``jaxnn.manual_seed`` resets when no key is given (DESIGN rule 6). The
distributions and their parameters are torch's.

>>> import jaxnn as nn
>>> from jaxnn import init
>>> w = init.kaiming_uniform_((4, 3), a=5 ** 0.5)
>>> w.shape, bool((abs(w) <= 1 / 3 ** 0.5).all())
((4, 3), True)
>>> m = nn.Linear(3, 2)
>>> init.zeros_(m.bias) is m.bias     # written into m, and returned
True
"""

from __future__ import annotations

import dis
import functools
import math
import sys
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _inplace, _random

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _shape_dtype(tensor: Any, dtype: Any) -> tuple[tuple[int, ...], Any]:
    if isinstance(tensor, jax.Array | jax.ShapeDtypeStruct) or (
        hasattr(tensor, "shape") and hasattr(tensor, "dtype")
    ):
        return tuple(tensor.shape), dtype if dtype is not None else tensor.dtype
    if isinstance(tensor, int):
        tensor = (tensor,)
    if isinstance(tensor, Sequence) and all(isinstance(s, int) and s >= 0 for s in tensor):
        return tuple(tensor), dtype if dtype is not None else jnp.float32
    raise TypeError(
        f"tensor must be an array or a shape tuple of non-negative ints, got {tensor!r}."
    )


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table).

    >>> calculate_gain("relu") == 2 ** 0.5
    True
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, int | float) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"Unsupported nonlinearity {nonlinearity!r}; choose one of "
        f"{(*_LINEAR_FNS, 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu')}."
    )


def _calculate_fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(
            f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(shape {shape})."
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape: tuple[int, ...], mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


# Draws are made for a flat length rounded up to a power of two, then cut to shape: an
# eager jax.random call compiles once per shape (seconds on CPU for threefry), so building
# a model with many distinct layer shapes would compile a program per layer. Buckets bound
# that to a handful of programs; the cutting and scaling run on the host. The values follow
# the same distributions.
@functools.partial(jax.jit, static_argnames=("kind", "n", "dtype", "lower", "upper"))
def _flat_draw(
    key: jax.Array, kind: str, n: int, dtype: Any, lower: float = -2.0, upper: float = 2.0
) -> jax.Array:
    if kind == "uniform":
        return jax.random.uniform(key, (n,), dtype)
    if kind == "normal":
        return jax.random.normal(key, (n,), dtype)
    return jax.random.truncated_normal(key, lower, upper, (n,), dtype)


def _draw(
    key: jax.Array | None,
    kind: str,
    shape: tuple[int, ...],
    dtype: Any,
    scale: float = 1.0,
    shift: float = 0.0,
    **kw: float,
) -> jax.Array:
    """``shift + scale * draw`` of ``shape``, cut from a bucketed flat draw."""
    n = math.prod(shape)
    bucket = max(1024, 1 << max(n - 1, 1).bit_length())
    dtype = jnp.dtype(dtype)
    flat = _flat_draw(_random.as_key(key), kind, bucket, dtype, **kw)
    if isinstance(flat, jax.core.Tracer):  # building a model inside jit: stay traced
        return (shift + scale * flat[:n].reshape(shape)).astype(dtype)
    host = np.asarray(flat)[:n].reshape(shape).astype(np.float64)
    return jnp.asarray((shift + scale * host).astype(dtype))


_DISCARDS: dict[tuple[Any, int], bool] = {}


def _result_discarded(frame: Any) -> bool:
    """Whether the call being made at ``frame`` is a statement whose value is dropped.

    torch code calls ``nn.init.zeros_(w)`` for its effect. When no module holds ``w`` the
    effect cannot happen, and only a call whose result is used still means something; the
    bytecode after the call (``POP_TOP``) says which one this is.
    """
    where = (frame.f_code, frame.f_lasti)
    found = _DISCARDS.get(where)
    if found is None:
        # f_lasti is the call instruction or, from Python 3.11, its last inline cache
        # entry: the next instruction is the first one after it either way.
        ins = dis.get_instructions(frame.f_code)
        nxt = next((x for x in ins if x.offset > frame.f_lasti), None)
        found = nxt is not None and nxt.opname == "POP_TOP"
        _DISCARDS[where] = found
    return found


def _is_tensor(tensor: Any) -> bool:
    return isinstance(tensor, jax.Array | np.ndarray)


def _in_place(fn: Any) -> Any:
    """Make ``fn(tensor, ...) -> new`` write ``new`` into the modules holding ``tensor``."""

    @functools.wraps(fn)
    def init_(tensor: Any, *args: Any, **kwargs: Any) -> jax.Array:
        new = fn(tensor, *args, **kwargs)
        if not _is_tensor(tensor):
            return new  # a shape: nothing to fill
        stored = _inplace.write(tensor, new, f"nn.init.{fn.__name__}(...)")
        if stored is not None:
            return stored
        if _result_discarded(sys._getframe(1)):
            where = (
                "inside a JAX transformation, where modules cannot change"
                if isinstance(tensor, jax.core.Tracer)
                else "and no jaxnn module is known to hold this array"
            )
            raise RuntimeError(
                f"nn.init.{fn.__name__}(tensor) was called for its effect, but a JAX array "
                f"cannot be filled in place {where}, so nothing would change. Use the "
                f"returned array: `w = nn.init.{fn.__name__}(w, ...)`, or "
                f"`model = eqx.tree_at(lambda m: m.weight, model, nn.init.{fn.__name__}"
                f"(model.weight))` inside a transformation. A module made by eqx.combine or "
                f"jax.tree.map is found once walked: initialise through model.modules(), "
                f"model.parameters() or model.apply(fn)."
            )
        return new

    return init_


@_in_place
def uniform_(
    tensor: Any, a: float = 0.0, b: float = 1.0, *, key: jax.Array | None = None, dtype: Any = None
) -> jax.Array:
    """Values drawn from U(a, b)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    return _draw(key, "uniform", shape, dtype, scale=b - a, shift=a)


@_in_place
def normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    key: jax.Array | None = None,
    dtype: Any = None,
) -> jax.Array:
    """Values drawn from N(mean, std²)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    return _draw(key, "normal", shape, dtype, scale=std, shift=mean)


@_in_place
def trunc_normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    key: jax.Array | None = None,
    dtype: Any = None,
) -> jax.Array:
    """N(mean, std²) truncated to [a, b] (absolute bounds, as torch)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    lo, hi = (a - mean) / std, (b - mean) / std
    z = _draw(
        key, "truncated", shape, dtype, scale=std, shift=mean, lower=float(lo), upper=float(hi)
    )
    return jnp.clip(z, a, b).astype(dtype)


@_in_place
def constant_(tensor: Any, val: float, *, dtype: Any = None) -> jax.Array:
    """Every value ``val``."""
    shape, dtype = _shape_dtype(tensor, dtype)
    return jnp.full(shape, val, dtype)


@_in_place
def ones_(tensor: Any, *, dtype: Any = None) -> jax.Array:
    """Every value 1."""
    shape, dtype = _shape_dtype(tensor, dtype)
    return constant_(shape, 1.0, dtype=dtype)


@_in_place
def zeros_(tensor: Any, *, dtype: Any = None) -> jax.Array:
    """Every value 0."""
    shape, dtype = _shape_dtype(tensor, dtype)
    return constant_(shape, 0.0, dtype=dtype)


@_in_place
def eye_(tensor: Any, *, dtype: Any = None) -> jax.Array:
    """The identity matrix (2-D only, as torch)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if len(shape) != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported, got shape {shape}.")
    return jnp.eye(shape[0], shape[1], dtype=dtype)


@_in_place
def dirac_(tensor: Any, groups: int = 1, *, dtype: Any = None) -> jax.Array:
    """The Dirac delta for 3-5-D conv weights: convolution with it preserves channels."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"Only tensors with 3, 4, or 5 dimensions are supported, got shape {shape}."
        )
    if shape[0] % groups != 0:
        raise ValueError(f"dim 0 ({shape[0]}) must be divisible by groups ({groups}).")
    out_per_group = shape[0] // groups
    min_dim = min(out_per_group, shape[1])
    w = jnp.zeros(shape, dtype)
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min_dim):
            w = w.at[(g * out_per_group + d, d, *centre)].set(1)
    return w


@_in_place
def xavier_uniform_(
    tensor: Any, gain: float = 1.0, *, key: jax.Array | None = None, dtype: Any = None
) -> jax.Array:
    """U(-b, b) with b = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(shape, -bound, bound, key=key, dtype=dtype)


@_in_place
def xavier_normal_(
    tensor: Any, gain: float = 1.0, *, key: jax.Array | None = None, dtype: Any = None
) -> jax.Array:
    """N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    shape, dtype = _shape_dtype(tensor, dtype)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(shape, 0.0, std, key=key, dtype=dtype)


@_in_place
def kaiming_uniform_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    key: jax.Array | None = None,
    dtype: Any = None,
) -> jax.Array:
    """U(-b, b) with b = gain·sqrt(3 / fan) (He et al.); torch's Linear/Conv default with a=√5."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if 0 in shape:
        return jnp.zeros(shape, dtype)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(shape, -bound, bound, key=key, dtype=dtype)


@_in_place
def kaiming_normal_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    key: jax.Array | None = None,
    dtype: Any = None,
) -> jax.Array:
    """N(0, std²) with std = gain / sqrt(fan)."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if 0 in shape:
        return jnp.zeros(shape, dtype)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return normal_(shape, 0.0, std, key=key, dtype=dtype)


@_in_place
def orthogonal_(
    tensor: Any, gain: float = 1, *, key: jax.Array | None = None, dtype: Any = None
) -> jax.Array:
    """A (semi-)orthogonal matrix from the QR of a Gaussian, signs fixed as torch does."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if len(shape) < 2:
        raise ValueError(
            f"Only tensors with 2 or more dimensions are supported, got shape {shape}."
        )
    if 0 in shape:
        return jnp.zeros(shape, dtype)
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = jax.random.normal(_random.as_key(key), (rows, cols), jnp.float32)
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diag(r))[None, :]
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


@_in_place
def sparse_(
    tensor: Any,
    sparsity: float,
    std: float = 0.01,
    *,
    key: jax.Array | None = None,
    dtype: Any = None,
) -> jax.Array:
    """2-D: N(0, std²) with ``ceil(sparsity·rows)`` zeros in each column."""
    shape, dtype = _shape_dtype(tensor, dtype)
    if len(shape) != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported, got shape {shape}.")
    rows, cols = shape
    num_zeros = int(math.ceil(sparsity * rows))
    k_val, k_perm = jax.random.split(_random.as_key(key))
    values = std * jax.random.normal(k_val, shape, dtype)
    perms = jax.vmap(lambda k: jax.random.permutation(k, rows))(jax.random.split(k_perm, cols))
    zero = (perms < num_zeros).T  # (rows, cols): num_zeros True per column
    return jnp.where(zero, jnp.zeros((), dtype), values)
