"""Conversion between torch.nn modules and jaxnn modules, and reading ``.pt`` files.

The only package code that imports torch, always lazily (DESIGN rule 11).

A layer converts by name: ``torch.nn.Conv2d`` becomes ``jaxnn.Conv2d`` built with the
constructor arguments read off the torch module (torch keeps them as attributes of the
same name), then the state_dict, training flag and requires_grad flags are copied. Each
conversion checks itself: the two modules must print the same, or the conversion stops
with an error naming the class, so it is never silently different.
"""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._module import Module
from .._uninitialized import is_lazy

__all__ = ["from_torch", "load_torch", "to_torch"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "This needs PyTorch, which jaxnn does not require. Install the CPU build with "
            "`pip install torch==2.13.0` (or `pip install 'jaxnn-torchlike[test]'`)."
        ) from None
    return torch


def _jaxnn() -> Any:
    import jaxnn

    return jaxnn


_SKIP = {"self", "device", "dtype", "key", "args", "kwargs"}


def _bool_of(value: Any) -> Any:
    return value is not None if not isinstance(value, bool) else value


# Constructor arguments that torch does not keep under their own name.
def _mha_args(m: Any) -> dict[str, Any]:
    return {
        "bias": m.in_proj_bias is not None
        if m._qkv_same_embed_dim
        else m.out_proj.bias is not None,
        "add_bias_kv": m.bias_k is not None,
    }


def _activation_arg(m: Any) -> Any:
    # Both libraries mark relu/gelu with activation_relu_or_gelu (1/2) on encoder layers.
    kind = getattr(m, "activation_relu_or_gelu", 0)
    if kind in (1, 2):
        return "relu" if kind == 1 else "gelu"
    act = m.activation
    name = getattr(act, "__name__", None) or type(act).__name__.lower()
    return name if name in ("relu", "gelu") else act


def _encoder_layer_args(m: Any) -> dict[str, Any]:
    return {
        "d_model": m.self_attn.embed_dim,
        "nhead": m.self_attn.num_heads,
        "dim_feedforward": m.linear1.out_features,
        "dropout": m.dropout.p,
        "activation": _activation_arg(m),
        "layer_norm_eps": m.norm1.eps,
        "batch_first": m.self_attn.batch_first,
        "norm_first": m.norm_first,
        "bias": m.linear1.bias is not None,
    }


def _stack_args(m: Any) -> dict[str, Any]:
    return {"num_layers": len(m.layers), "norm": m.norm}


def _transformer_args(m: Any) -> dict[str, Any]:
    enc = m.encoder.layers[0]
    args = _encoder_layer_args(enc)
    args.pop("bias", None)
    return {
        **args,
        "num_encoder_layers": len(m.encoder.layers),
        "num_decoder_layers": len(m.decoder.layers),
        "bias": enc.linear1.bias is not None,
    }


def _linear_ce_args(m: Any) -> dict[str, Any]:
    return {"in_features": m.linear.in_features, "bias": m.linear.bias is not None}


def _adaptive_args(m: Any) -> dict[str, Any]:
    return {"cutoffs": m.cutoffs[:-1]}  # torch appends n_classes to its attribute


_SPECIAL: dict[str, Callable[[Any], dict[str, Any]]] = {
    "LinearCrossEntropyLoss": _linear_ce_args,
    "AdaptiveLogSoftmaxWithLoss": _adaptive_args,
    "MultiheadAttention": _mha_args,
    "TransformerEncoderLayer": _encoder_layer_args,
    "TransformerDecoderLayer": _encoder_layer_args,
    "Transformer": _transformer_args,
}


def _constructor_args(
    source: Any, target_cls: type, convert_child: Callable[[Any], Any]
) -> dict[str, Any]:
    """Read ``target_cls.__init__``'s arguments off ``source``'s attributes."""
    name = type(source).__name__
    if name in ("RNN", "LSTM", "GRU"):  # both libraries forward *args to RNNBase(mode, ...)
        keys = [
            "input_size",
            "hidden_size",
            "num_layers",
            "bias",
            "batch_first",
            "dropout",
            "bidirectional",
        ]
        keys += {"RNN": ["nonlinearity"], "LSTM": ["proj_size"], "GRU": []}[name]
        return {k: getattr(source, k) for k in keys}
    special = _SPECIAL.get(name)
    args = special(source) if special else {}
    params = inspect.signature(target_cls.__init__).parameters
    out: dict[str, Any] = {}
    for name, p in params.items():
        if name in _SKIP or name.startswith("_") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in args:
            value = args[name]
        elif name in ("encoder_layer", "decoder_layer") and hasattr(source, "layers"):
            value = source.layers[0]
        elif hasattr(source, name):
            value = getattr(source, name)
            if name == "bias" and (value is None or _is_array_like(value)):
                value = value is not None
        else:
            continue
        out[name] = _convert_value(value, convert_child)
    return out


def _is_array_like(value: Any) -> bool:
    # Lazy modules' placeholders (torch's or jaxnn's) have no shape yet: reading it raises.
    if is_lazy(value) or isinstance(value, _torch().nn.parameter.UninitializedTensorMixin):
        return True
    return hasattr(value, "shape")


def _convert_value(value: Any, convert_child: Callable[[Any], Any]) -> Any:
    torch = _torch()
    if isinstance(value, torch.nn.Module) or isinstance(value, Module):
        return convert_child(value)
    if isinstance(value, torch.Size):
        return tuple(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def from_torch(module: Any) -> Module:
    """Convert a torch.nn module tree into the equivalent jaxnn model.

    Structure, names, weights, buffers, the training flag and requires_grad flags carry
    over, and the result prints exactly as the torch module does.

    A torch subclass with its own ``forward`` cannot be converted automatically: write the
    jaxnn twin class with the same attribute names and call
    ``twin.load_state_dict(torch_model.state_dict())``.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch() takes a torch.nn.Module, got {type(module).__name__}.")
    nn = _jaxnn()
    memo: dict[int, Module] = {}

    def convert(tm: Any) -> Module:
        if id(tm) in memo:
            return memo[id(tm)]
        cls_name = type(tm).__name__
        jcls = getattr(nn, cls_name, None)
        if (
            type(tm).__module__.startswith("torch.nn")
            and cls_name == "NonDynamicallyQuantizableLinear"
        ):
            jcls = nn.Linear
        if (
            jcls is None
            or not (isinstance(jcls, type) and issubclass(jcls, Module))
            or not type(tm).__module__.startswith("torch.nn")
        ):
            raise TypeError(
                f"from_torch: cannot convert {type(tm).__module__}.{type(tm).__qualname__}: it is "
                f"{'a custom torch Module (its forward is Python code jaxnn cannot translate)' if not type(tm).__module__.startswith('torch.nn') else 'a torch layer jaxnn does not have'}. "
                f"Write the jaxnn twin class with the same attribute names (import jaxnn as nn; "
                f"class {cls_name}(nn.Module): ...) and load the weights: "
                f"twin.load_state_dict(torch_model.state_dict())."
            )
        if cls_name == "Sequential":
            jm = nn.Sequential(OrderedDict((k, convert(c)) for k, c in tm._modules.items()))
        elif cls_name == "ModuleList":
            jm = nn.ModuleList([convert(c) for c in tm])
        elif cls_name == "ModuleDict":
            jm = nn.ModuleDict(OrderedDict((k, convert(c)) for k, c in tm.items()))
        elif cls_name in ("ParameterList", "ParameterDict"):
            jm = jcls(_from_tensors(tm))
        else:
            kwargs = _constructor_args(tm, jcls, convert)
            try:
                jm = jcls(**kwargs)
            except Exception as e:
                raise TypeError(
                    f"from_torch: building jaxnn.{cls_name}(**{kwargs!r}) failed: {e}"
                ) from e
        memo[id(tm)] = jm
        return jm

    model = convert(module)
    _copy_state(module, model)
    return model


def _from_tensors(tm: Any) -> Any:
    if hasattr(tm, "items"):
        return OrderedDict((k, jnp.asarray(v.detach().cpu().numpy())) for k, v in tm.items())
    return [jnp.asarray(v.detach().cpu().numpy()) for v in tm]


def _copy_state(tm: Any, jm: Module) -> None:
    # An uninitialised torch lazy module's placeholders stay jaxnn placeholders.
    uninit = _torch().nn.parameter.UninitializedTensorMixin
    state = {k: v for k, v in tm.state_dict().items() if not isinstance(v, uninit)}
    result = jm.load_state_dict(state, strict=False)
    lazy = set(tm.state_dict()) - set(state)
    assert set(result.missing_keys) == lazy and not result.unexpected_keys
    jm.train(tm.training)
    tmods = dict(tm.named_modules(remove_duplicate=False))
    for name, sub in jm.named_modules():
        t = tmods[name]
        if not t.training == sub.training:
            object.__setattr__(sub, "training", t.training)
        frozen = frozenset(n for n, p in t.named_parameters(recurse=False) if not p.requires_grad)
        object.__setattr__(sub, "_frozen", frozen)
    if repr(jm) != repr(tm):
        raise TypeError(
            f"from_torch: the converted {type(tm).__name__} prints differently from the torch "
            f"module, so some constructor argument did not carry over:\n{jm!r}\nvs torch:\n{tm!r}\n"
            f"Build the jaxnn model by hand and load the weights with load_state_dict."
        )


def to_torch(model: Module) -> Any:
    """Convert a jaxnn model into the equivalent torch.nn module (weights, flags, names).

    The inverse of ``from_torch`` for torch's own layers and containers, so a model
    trained in jaxnn can be served by torch.
    """
    torch = _torch()
    if not isinstance(model, Module):
        raise TypeError(f"to_torch() takes a jaxnn Module, got {type(model).__name__}.")
    memo: dict[int, Any] = {}

    def convert(jm: Module) -> Any:
        if id(jm) in memo:
            return memo[id(jm)]
        cls_name = type(jm).__name__
        tcls = getattr(torch.nn, cls_name, None)
        if tcls is None or not type(jm).__module__.startswith("jaxnn"):
            raise TypeError(
                f"to_torch: cannot convert {type(jm).__module__}.{type(jm).__qualname__}: torch.nn has "
                f"no such layer (a custom class). Write the torch twin with the same attribute "
                f"names and load the weights: twin.load_state_dict(jaxnn.to_torch_state_dict(model))."
            )
        if cls_name == "Sequential":
            tm = tcls(OrderedDict((k, convert(c)) for k, c in jm._all_children()))
        elif cls_name == "ModuleList":
            tm = tcls([convert(c) for c in jm])
        elif cls_name == "ModuleDict":
            tm = tcls(OrderedDict((k, convert(c)) for k, c in jm.items()))
        elif cls_name in ("ParameterList", "ParameterDict"):
            if cls_name == "ParameterDict":
                tm = tcls(OrderedDict((k, torch.nn.Parameter(_tensor(v))) for k, v in jm.items()))
            else:
                tm = tcls([torch.nn.Parameter(_tensor(v)) for v in jm])
        else:
            tm = tcls(**_constructor_args(jm, tcls, convert))
        memo[id(jm)] = tm
        return tm

    tmodel = convert(model)
    tmodel.load_state_dict(to_torch_state_dict(model), strict=True)
    tmodel.train(model.training)
    jmods = dict(model.named_modules(remove_duplicate=False))
    for name, t in tmodel.named_modules(remove_duplicate=False):
        j = jmods[name]
        t.training = j.training
        for pname, p in t.named_parameters(recurse=False):
            p.requires_grad_(pname not in j._frozen)
    if repr(tmodel) != repr(model):
        raise TypeError(
            f"to_torch: the converted model prints differently:\n{tmodel!r}\nvs jaxnn:\n{model!r}"
        )
    return tmodel


def _tensor(v: Any) -> Any:
    torch = _torch()
    a = np.asarray(v)
    if a.dtype == jnp.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(a.copy())


def to_torch_state_dict(model: Module) -> OrderedDict:
    """``model.state_dict()`` as torch tensors (for ``torch_model.load_state_dict``)."""
    return OrderedDict((k, _tensor(v)) for k, v in model.state_dict().items())


def load_torch(path: str | os.PathLike) -> OrderedDict:
    """Read a ``.pt``/``.pth`` file saved by ``torch.save(model.state_dict(), path)``.

    Returns an ordered dict of jax arrays under torch's keys, ready for
    ``model.load_state_dict``. Uses ``torch.load(weights_only=True)``: no code in the file
    is run. A checkpoint dict that nests the state dict (``{"model": sd, ...}``) is
    reported with the keys it has.
    """
    torch = _torch()
    path = os.fspath(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path!r}.") from None
    except Exception as e:
        from .checkpoint import CheckpointError

        raise CheckpointError(
            f"{path}: torch.load could not read it ({type(e).__name__}: {e})."
        ) from None
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise TypeError(
            f"{path} does not hold a flat state dict of tensors (found {keys}). If it is a "
            f"training checkpoint, pick the model's entry: model.load_state_dict(torch.load(path)['model'])."
        )
    from .._module import _to_array

    return OrderedDict((k, _to_array(v, k)) for k, v in obj.items())
