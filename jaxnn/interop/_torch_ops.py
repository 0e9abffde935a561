"""What each node of a traced torch graph becomes: a call into ``jaxnn.ops`` or
``jaxnn.functional``.

Three kinds of targets reach here: torch functions and ``operator``/``math`` functions
(``torch.fx`` call_function), tensor method names (fx call_method), and ATen overloads
(``torch.export``). Every table is explicit: a target that is not listed is reported by
the converter, never guessed. ``torch.nn.functional.X`` maps to ``jaxnn.functional.X``
and ``torch.X`` to ``jaxnn.ops.X`` because those mirror torch's signatures; each call's
arguments are also bound against the jaxnn signature at conversion, so a mismatch is a
conversion error, not a failure at the first call.
"""

from __future__ import annotations

import builtins
import inspect
import math
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import functional as F
from .. import ops
from ._program import is_array

# ------------------------------------------------------------------ python operators


def _either(jfn: Callable, pyfn: Callable) -> Callable:
    """``pyfn`` on Python numbers (sizes), ``jfn`` (torch's broadcasting) on arrays."""

    def op(*args: Any) -> Any:
        if any(is_array(a) for a in args):
            return jfn(*args)
        return pyfn(*args)

    op.__name__ = op.__qualname__ = getattr(pyfn, "__name__", "op")
    return op


def _getitem(obj: Any, idx: Any) -> Any:
    if is_array(obj):
        return obj[idx]
    return obj[idx]


def _check(cond: Any, msg: Any = "") -> None:
    """``torch._assert``: raise when a condition on shapes (a Python value) is false.

    A condition on array values cannot be checked under ``jit``; it is not evaluated.
    """
    if isinstance(cond, jax.core.Tracer):
        return
    if not bool(cond):
        raise AssertionError(msg)


OPERATORS: dict[Any, Callable] = {
    operator.add: _either(ops.add, operator.add),
    operator.sub: _either(ops.sub, operator.sub),
    operator.mul: _either(ops.mul, operator.mul),
    operator.truediv: _either(ops.true_divide, operator.truediv),
    operator.floordiv: _either(ops.floor_divide, operator.floordiv),
    operator.mod: _either(ops.remainder, operator.mod),
    operator.pow: _either(ops.pow, operator.pow),
    operator.matmul: ops.matmul,
    operator.neg: _either(ops.neg, operator.neg),
    operator.pos: operator.pos,
    operator.abs: _either(ops.abs, operator.abs),
    operator.invert: _either(ops.bitwise_not, operator.invert),
    operator.not_: operator.not_,
    operator.and_: _either(ops.bitwise_and, operator.and_),
    operator.or_: _either(ops.bitwise_or, operator.or_),
    operator.xor: _either(ops.bitwise_xor, operator.xor),
    operator.eq: _either(ops.eq, operator.eq),
    operator.ne: _either(ops.ne, operator.ne),
    operator.lt: _either(ops.lt, operator.lt),
    operator.le: _either(ops.le, operator.le),
    operator.gt: _either(ops.gt, operator.gt),
    operator.ge: _either(ops.ge, operator.ge),
    operator.getitem: _getitem,
    builtins.len: builtins.len,
    builtins.int: builtins.int,
    builtins.float: builtins.float,
    builtins.max: builtins.max,
    builtins.min: builtins.min,
    math.sqrt: math.sqrt,
    math.ceil: math.ceil,
    math.floor: math.floor,
    math.log: math.log,
    math.prod: math.prod,
}


def _attr_shape(x: Any) -> tuple[int, ...]:
    return tuple(jnp.shape(x))


def _attr_dtype(x: Any) -> Any:
    return jnp.result_type(x)


def _attr_T(x: Any) -> Any:
    return jnp.transpose(x)


def _attr_mT(x: Any) -> Any:
    return jnp.swapaxes(x, -1, -2)


def _attr_data(x: Any) -> Any:
    return x


def _attr_device(x: Any) -> None:
    return None  # placement is JAX's; ops take device= and ignore it


def _attr_false(x: Any) -> bool:
    return False


class AttributeRead:
    """``obj.name`` in a traced forward: a tensor attribute (``x.shape``) on arrays, the
    attribute itself on other values (a model output's ``.last_hidden_state``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tensor = tensor_attribute(name)
        self.__name__ = f"_attr_{name}"

    def __call__(self, obj: Any) -> Any:
        if is_array(obj):
            if self.tensor is None:
                raise AttributeError(
                    f"the traced forward reads tensor attribute .{self.name}, which jaxnn does "
                    f"not translate (known: shape, dtype, ndim, T, mT, data, device)."
                )
            return self.tensor(obj)
        return getattr(obj, self.name)


def tensor_attribute(name: str) -> Callable | None:
    """``x.shape``, ``x.dtype``... read in a traced forward (fx's ``getattr`` nodes)."""
    table: dict[str, Callable] = {
        "shape": _attr_shape,
        "dtype": _attr_dtype,
        "ndim": jnp.ndim,
        "T": _attr_T,
        "mT": _attr_mT,
        "data": _attr_data,
        "device": _attr_device,
        "is_cuda": _attr_false,
        "is_sparse": _attr_false,
    }
    return table.get(name)


# ------------------------------------------------------------------ torch functions


def _softmax(kind: str) -> Callable:
    fn = getattr(F, kind)

    def op(input: Any, dim: Any = None, dtype: Any = None) -> Any:
        return fn(input, dim, dtype=dtype)

    op.__name__ = kind
    return op


def _torch_functions() -> dict[Any, Callable]:
    import torch
    import torch.nn.functional as TF

    table: dict[Any, Callable] = dict(OPERATORS)
    for name in ops.__all__:
        obj = getattr(torch, name, None)
        if callable(obj) and not isinstance(obj, torch.dtype):
            table[obj] = getattr(ops, name)
    for name in dir(F):
        obj = getattr(TF, name, None)
        if not name.startswith("_") and callable(obj) and callable(getattr(F, name)):
            table[obj] = getattr(F, name)
    table[torch.relu] = F.relu
    table[torch.softmax] = _softmax("softmax")
    table[torch.log_softmax] = _softmax("log_softmax")
    table[torch.dropout] = F.dropout
    table[torch._assert] = _check
    table[torch.Tensor.size] = ops.size
    try:
        from torchvision.ops import stochastic_depth as _sd

        table[_sd] = ops.stochastic_depth
    except Exception:  # torchvision is optional
        pass
    return table


_FUNCTIONS: dict[Any, Callable] | None = None


def torch_function(target: Any) -> Callable | None:
    global _FUNCTIONS
    if _FUNCTIONS is None:
        _FUNCTIONS = _torch_functions()
    try:
        return _FUNCTIONS.get(target)
    except TypeError:  # unhashable target
        return None


# ------------------------------------------------------------------ tensor methods


def _where_method(input: Any, condition: Any, other: Any) -> Any:
    return ops.where(condition, input, other)


_METHOD_EXTRA: dict[str, Callable] = {
    "where": _where_method,
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "relu": F.relu,
    "type": ops.to,
    "__getitem__": _getitem,
}


def tensor_method(name: str) -> tuple[Callable | None, bool]:
    """``(function, in_place)`` for ``x.name(...)``; in-place methods (``add_``) map to
    their out-of-place op and are marked so the converter rebinds the mutated value."""
    if name in _METHOD_EXTRA:
        return _METHOD_EXTRA[name], False
    if name in ops.__all__:
        return getattr(ops, name), False
    if name.endswith("_") and not name.endswith("__"):
        base = name[:-1]
        special = _INPLACE_SPECIAL.get(name)
        if special is not None:
            return special, True
        fn, _ = tensor_method(base)
        if fn is not None:
            return fn, True
    return None, False


def _fill(input: Any, value: Any) -> Any:
    return ops.full_like(input, value)


def _copy(input: Any, src: Any, non_blocking: bool = False) -> Any:
    return jnp.broadcast_to(jnp.asarray(src).astype(jnp.result_type(input)), jnp.shape(input))


def _zero(input: Any) -> Any:
    return ops.zeros_like(input)


def _bernoulli_(input: Any, p: Any = 0.5, *, key: Any = None) -> Any:
    return ops.bernoulli(input, p, key=key)


def _uniform_(input: Any, from_: float = 0.0, to: float = 1.0, *, key: Any = None) -> Any:
    u = ops.rand_like(input, key=key)
    return from_ + (to - from_) * u


def _normal_(input: Any, mean: float = 0.0, std: float = 1.0, *, key: Any = None) -> Any:
    return mean + std * ops.randn_like(input, key=key)


_INPLACE_SPECIAL: dict[str, Callable] = {
    "fill_": _fill,
    "copy_": _copy,
    "zero_": _zero,
    "bernoulli_": _bernoulli_,
    "uniform_": _uniform_,
    "normal_": _normal_,
}

# ------------------------------------------------------------------ randomness

# Functions that draw random numbers, with the keyword that takes the key and when they
# need one (given the call's bound arguments).
RANDOM: dict[Any, tuple[str, Callable[[dict[str, Any]], bool]]] = {}


for _fn, _default_training in (
    (F.dropout, True),
    (F.dropout1d, True),
    (F.dropout2d, True),
    (F.dropout3d, True),
    (F.alpha_dropout, False),
    (F.feature_alpha_dropout, False),
):
    RANDOM[_fn] = (
        "key",
        lambda a, t=_default_training: bool(a.get("training", t)) and 0.0 < a.get("p", 0.5) < 1.0,
    )
RANDOM[F.scaled_dot_product_attention] = ("dropout_key", lambda a: a.get("dropout_p", 0.0) > 0.0)
RANDOM[F.multi_head_attention_forward] = (
    "dropout_key",
    lambda a: bool(a.get("training", True)) and a.get("dropout_p", 0.0) > 0.0,
)
if hasattr(F, "rrelu"):
    RANDOM[F.rrelu] = ("key", lambda a: bool(a.get("training", False)))
if hasattr(F, "gumbel_softmax"):
    RANDOM[F.gumbel_softmax] = ("key", lambda a: True)
for _name in ("fractional_max_pool2d", "fractional_max_pool3d"):
    if hasattr(F, _name):
        RANDOM[getattr(F, _name)] = ("key", lambda a: a.get("_random_samples") is None)
RANDOM[ops.stochastic_depth] = (
    "key",
    lambda a: bool(a.get("training", True)) and a.get("p", 0.0) > 0.0,
)
for _fn in (ops.rand, ops.randn, ops.rand_like, ops.randn_like, ops.bernoulli):
    RANDOM[_fn] = ("key", lambda a: True)
for _fn in (_bernoulli_, _uniform_, _normal_):
    RANDOM[_fn] = ("key", lambda a: True)


def bind(fn: Callable, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | str:
    """Bind a call to ``fn``'s signature: the arguments by name, or the error text."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        return f"{e} (jaxnn signature {fn.__name__}{sig})"
    bound.apply_defaults()
    return dict(bound.arguments)


def random_key_arg(fn: Callable, bound: dict[str, Any]) -> str | None:
    """The keyword that takes a PRNG key if this call draws random numbers, else None.

    A jaxnn function with a keyword-only ``key`` that is not listed is taken to draw on
    every call (it then needs ``key=``): never a silently fixed mask.
    """
    spec = RANDOM.get(fn)
    if spec is None:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return None
        for name in ("key", "dropout_key"):
            p = params.get(name)
            if p is not None and p.kind is p.KEYWORD_ONLY:
                return name
        return None
    key_arg, needs = spec
    return key_arg if needs(bound) else None


# ------------------------------------------------------------------ ATen (torch.export)


def _aten_table() -> dict[Any, Callable]:
    import torch

    aten = torch.ops.aten

    def same(*names: str) -> dict[Any, Callable]:
        out = {}
        for full in names:
            name, _, overload = full.partition(".")
            packet = getattr(aten, name)
            fn = getattr(ops, name.strip("_"), None) or getattr(F, name, None)
            if fn is None:
                raise AssertionError(full)
            out[getattr(packet, overload or "default")] = fn
        return out

    table = same(
        "add.Tensor", "add.Scalar", "sub.Tensor", "sub.Scalar", "mul.Tensor", "mul.Scalar",
        "div.Tensor", "div.Scalar", "div.Tensor_mode", "floor_divide.default", "remainder.Tensor",
        "remainder.Scalar", "pow.Tensor_Scalar", "pow.Tensor_Tensor", "neg.default",
        "abs.default", "sqrt.default", "rsqrt.default", "exp.default", "log.default",
        "tanh.default", "sigmoid.default", "erf.default", "reciprocal.default",
        "clamp.default", "clamp_min.default", "clamp_max.default", "maximum.default",
        "minimum.default", "matmul.default", "mm.default", "bmm.default", "addmm.default",
        "baddbmm.default", "sum.dim_IntList", "mean.dim", "amax.default", "amin.default",
        "argmax.default", "cumsum.default", "any.dim", "all.dim", "diff.default",
        "eq.Tensor", "eq.Scalar", "ne.Tensor", "ne.Scalar", "lt.Tensor", "lt.Scalar",
        "le.Tensor", "le.Scalar", "gt.Tensor", "gt.Scalar", "ge.Tensor", "ge.Scalar",
        "logical_not.default", "logical_and.default", "logical_or.default",
        "bitwise_not.default", "view.default", "reshape.default", "permute.default",
        "transpose.int", "t.default", "unsqueeze.default", "squeeze.dim", "squeeze.dims",
        "squeeze.default", "expand_as.default", "cat.default", "stack.default",
        "split.Tensor", "chunk.default", "unbind.int",
        "slice.Tensor", "select.int", "narrow.default", "index.Tensor", "flip.default",
        "roll.default", "tril.default", "triu.default", "index_select.default",
        "masked_fill.Scalar", "masked_fill.Tensor", "where.self", "contiguous.default",
        "clone.default", "detach.default", "flatten.using_ints", "unflatten.int",
        "repeat.default", "arange.default", "arange.start", "arange.start_step",
        "zeros.default", "ones.default", "full.default", "zeros_like.default",
        "ones_like.default", "full_like.default", "new_zeros.default", "new_ones.default",
        "new_full.default", "new_empty.default", "linear.default", "conv1d.default",
        "conv2d.default", "relu.default", "gelu.default", "silu.default",
        "hardswish.default", "hardsigmoid.default",
        "scaled_dot_product_attention.default", "dropout.default",
        "adaptive_avg_pool2d.default", "avg_pool2d.default", "max_pool2d.default",
        "pad.default", "group_norm.default", "rms_norm.default",
    )  # fmt: skip
    table[aten.split_with_sizes.default] = ops.split
    table[aten.layer_norm.default] = _aten_layer_norm
    table[aten.__and__.Tensor] = ops.bitwise_and
    table[aten.__or__.Tensor] = ops.bitwise_or
    table[aten.bitwise_and.Tensor] = ops.bitwise_and
    table[aten.bitwise_or.Tensor] = ops.bitwise_or
    table[aten.where.ScalarOther] = ops.where
    table[aten.where.ScalarSelf] = ops.where
    table[aten.sym_size.int] = ops.size
    table[aten._unsafe_view.default] = ops.view
    table[aten.alias.default] = ops.clone
    table[aten.lift_fresh_copy.default] = ops.clone
    table[aten.expand.default] = _aten_expand
    table[aten.gather.default] = _aten_gather
    table[aten.embedding.default] = _aten_embedding
    table[aten.softmax.int] = _aten_softmax("softmax")
    table[aten.log_softmax.int] = _aten_softmax("log_softmax")
    table[aten._softmax.default] = _aten_private_softmax("softmax")
    table[aten._log_softmax.default] = _aten_private_softmax("log_softmax")
    table[aten.to.dtype] = _aten_to
    table[aten.to.dtype_layout] = _aten_to_layout
    table[aten.to.device] = _aten_to_device
    table[aten.to.other] = _aten_to_other
    table[aten._to_copy.default] = _aten_to_layout
    table[aten.type_as.default] = ops.type_as
    table[aten.scalar_tensor.default] = _aten_scalar_tensor
    table[aten.empty.memory_format] = _aten_empty
    table[aten.constant_pad_nd.default] = _aten_constant_pad
    table[aten._assert_tensor_metadata.default] = _aten_assert_metadata
    table[aten._assert_scalar.default] = _check
    table[aten.sym_constrain_range_for_size.default] = _noop
    table[aten.einsum.default] = _aten_einsum
    table[aten.max.dim] = ops.max
    table[aten.min.dim] = ops.min
    table[aten.var.correction] = _aten_var("var")
    table[aten.std.correction] = _aten_var("std")
    table[aten.bernoulli.p] = ops.bernoulli
    for fn in (torch.sym_float, torch.sym_int, torch.sym_max, torch.sym_min, torch.sym_not):
        table[fn] = _SYM.get(fn.__name__, fn)
    return table


_SYM = {
    "sym_float": builtins.float,
    "sym_int": builtins.int,
    "sym_max": builtins.max,
    "sym_min": builtins.min,
    "sym_not": operator.not_,
}


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _aten_layer_norm(
    input: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,
) -> Any:
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def _aten_expand(input: Any, size: Any, *, implicit: bool = False) -> Any:
    return ops.expand(input, size)


def _aten_gather(input: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Any:
    return ops.gather(input, dim, index)


def _aten_embedding(
    weight: Any,
    indices: Any,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Any:
    # aten.embedding's backward skips the padding_idx row, as F.embedding's does.
    return F.embedding(
        indices, weight, None if padding_idx == -1 else padding_idx, None, 2.0, scale_grad_by_freq
    )


def _aten_softmax(kind: str) -> Callable:
    fn = getattr(F, kind)

    def op(input: Any, dim: int, dtype: Any = None) -> Any:
        return fn(input, dim, dtype=dtype)

    return op


def _aten_private_softmax(kind: str) -> Callable:
    fn = getattr(F, kind)

    def op(input: Any, dim: int, half_to_float: bool = False) -> Any:
        return fn(input, dim)

    return op


def _aten_to(
    input: Any,
    dtype: Any,
    non_blocking: bool = False,
    copy: bool = False,
    memory_format: Any = None,
) -> Any:
    return ops.to(input, dtype)


def _aten_to_device(
    input: Any,
    device: Any,
    dtype: Any,
    non_blocking: bool = False,
    copy: bool = False,
    memory_format: Any = None,
) -> Any:
    return ops.to(input, dtype)


def _aten_to_other(
    input: Any,
    other: Any,
    non_blocking: bool = False,
    copy: bool = False,
    memory_format: Any = None,
) -> Any:
    return ops.type_as(input, other)


def _aten_to_layout(input: Any, **kwargs: Any) -> Any:
    return ops.to(
        input,
        **{
            k: v
            for k, v in kwargs.items()
            if k
            in ("dtype", "device", "layout", "pin_memory", "non_blocking", "copy", "memory_format")
        },
    )


def _aten_scalar_tensor(s: Any, **kwargs: Any) -> Any:
    return ops.tensor(s, dtype=kwargs.get("dtype") or jnp.float32)


def _aten_empty(size: Any, **kwargs: Any) -> Any:
    return ops.empty(size, dtype=kwargs.get("dtype"))


def _aten_constant_pad(input: Any, pad: Any, value: Any = 0) -> Any:
    return F.pad(input, pad, "constant", value)


def _aten_assert_metadata(
    a: Any, size: Any = None, stride: Any = None, dtype: Any = None, **kwargs: Any
) -> None:
    if dtype is not None and jnp.result_type(a) != jax.dtypes.canonicalize_dtype(dtype):
        raise AssertionError(f"expected dtype {dtype}, got {jnp.result_type(a)}")


def _aten_einsum(equation: str, tensors: Any, *, path: Any = None) -> Any:
    return ops.einsum(equation, *tensors)


def _aten_var(kind: str) -> Callable:
    fn = getattr(ops, kind)

    def op(input: Any, dim: Any = None, *, correction: Any = None, keepdim: bool = False) -> Any:
        return fn(input, dim, keepdim=keepdim, correction=1 if correction is None else correction)

    return op


_ATEN: dict[Any, Callable] | None = None


def aten_function(target: Any) -> Callable | None:
    global _ATEN
    if _ATEN is None:
        _ATEN = {**{k: v for k, v in OPERATORS.items() if v is not None}, **_aten_table()}
    try:
        return _ATEN.get(target)
    except TypeError:
        return None


def convert_dtype(dtype: Any) -> Any:
    """torch dtype -> jnp dtype (int64/float64 narrowed as JAX does without x64)."""
    import torch

    table = {
        torch.float32: jnp.float32,
        torch.float64: jnp.float64,
        torch.float16: jnp.float16,
        torch.bfloat16: jnp.bfloat16,
        torch.int64: jnp.int64,
        torch.int32: jnp.int32,
        torch.int16: jnp.int16,
        torch.int8: jnp.int8,
        torch.uint8: jnp.uint8,
        torch.bool: jnp.bool_,
        torch.complex64: jnp.complex64,
        torch.complex128: jnp.complex128,
    }
    if dtype not in table:
        raise TypeError(f"torch dtype {dtype} has no jax equivalent")
    return jax.dtypes.canonicalize_dtype(table[dtype])
