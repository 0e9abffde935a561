"""``jaxnn.summary``: the layer table Keras and torchinfo users expect, from shapes alone.

Output shapes come from ``jax.eval_shape`` (no real forward pass, no FLOP spent), with
every module call observed on the way; FLOPs come from XLA's cost analysis of the
compiled forward.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from . import _module, _state
from ._module import Module


@dataclasses.dataclass
class LayerRow:
    name: str
    type: str
    output_shape: Any
    params: int
    trainable: int
    buffers: int


@dataclasses.dataclass
class Summary:
    """The result of ``jaxnn.summary``: rows plus totals; ``print`` it for the table."""

    model_name: str
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    buffer_elements: int
    flops: float | None

    def __str__(self) -> str:
        headers = ("Layer (type)", "Output Shape", "Param #", "Trainable", "Buffers")
        body = [
            (
                f"{'  ' * r.name.count('.')}{r.name.rsplit('.', 1)[-1] or self.model_name} ({r.type})",
                _fmt_shape(r.output_shape),
                f"{r.params:,}",
                f"{r.trainable:,}",
                f"{r.buffers:,}",
            )
            for r in self.rows
        ]
        widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]
        line = "=" * (sum(widths) + 3 * (len(widths) - 1))
        fmt = "   ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        out = [line, fmt.format(*headers), line]
        out += [fmt.format(*row) for row in body]
        out += [
            line,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Buffer elements: {self.buffer_elements:,}",
            f"FLOPs (XLA cost analysis, one forward): {_fmt_flops(self.flops)}",
            line,
        ]
        return "\n".join(out)

    __repr__ = __str__


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "--"
    if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape):
        return str(list(shape))
    return str(
        jax.tree.map(
            lambda s: list(s),
            shape,
            is_leaf=lambda x: isinstance(x, tuple) and all(isinstance(i, int) for i in x),
        )
    )


def _fmt_flops(flops: float | None) -> str:
    if flops is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.2f} {unit}"
    return f"{flops:.0f}"


def summary(
    model: Module,
    input_shape_or_array: Any,
    *args: Any,
    dtype: Any = jnp.float32,
    flops: bool = True,
    **kwargs: Any,
) -> Summary:
    """Summarise ``model`` for an input: each submodule's output shape, parameters, buffers.

    Args:
        model: a jaxnn Module.
        input_shape_or_array: an input array, a ``jax.ShapeDtypeStruct``, or a shape tuple
            (then ``dtype`` is used). Further positional/keyword arguments go to the model.
        flops: also compile the forward and report XLA's FLOP estimate.

    >>> import jaxnn as nn
    >>> s = nn.summary(nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)), (1, 784))
    >>> s.total_params, s.rows[1].output_shape
    (25450, (1, 32))
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary(model, ...) takes a jaxnn Module, got {type(model).__name__}.")
    x = input_shape_or_array
    if isinstance(x, Sequence) and all(isinstance(s, int) for s in x):
        x = jax.ShapeDtypeStruct(tuple(x), dtype)
    elif not hasattr(x, "shape"):
        raise TypeError(f"input_shape_or_array must be an array or a shape tuple, got {x!r}.")
    shapes: dict[int, Any] = {}

    def record(module: Module, out: Any) -> None:
        shapes.setdefault(id(module), jax.tree.map(lambda a: tuple(a.shape), out))

    def run(m: Module, x: Any) -> Any:
        # Through jaxnn.forward: a training-mode BatchNorm's buffer update is not "dropped".
        return _state.forward(m, x, *args, **kwargs)[0]

    _module._recorders.append(record)
    try:
        # The model is closed over, not passed: the recorded ids must be the user's modules.
        jax.eval_shape(lambda x: run(model, x), x)
    finally:
        _module._recorders.remove(record)

    rows = []
    for name, m in model.named_modules():
        own = [(n, v, k) for n, v, k in m._named_members_own() if k != "module"]
        params = sum(math.prod(v.shape) for _, v, k in own if k == "param")
        trainable = sum(
            math.prod(v.shape) for n, v, k in own if k == "param" and n not in m._frozen
        )
        buffers = sum(math.prod(v.shape) for _, v, k in own if k.startswith("buffer"))
        rows.append(LayerRow(name, m._get_name(), shapes.get(id(m)), params, trainable, buffers))
    total = sum(r.params for r in rows)
    trainable_total = sum(r.trainable for r in rows)
    flop_count = None
    if flops:
        try:
            cost = jax.jit(run).lower(model, x).compile().cost_analysis()
            if isinstance(cost, list):
                cost = cost[0] if cost else {}
            flop_count = (
                float(cost.get("flops")) if cost and cost.get("flops") is not None else None
            )
        except Exception:  # cost analysis is best-effort: some backends do not provide it
            flop_count = None
    return Summary(
        model_name=model._get_name(),
        rows=rows,
        total_params=total,
        trainable_params=trainable_total,
        non_trainable_params=total - trainable_total,
        buffer_elements=sum(r.buffers for r in rows),
        flops=flop_count,
    )
