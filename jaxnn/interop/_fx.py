"""Tracing one torch module's ``forward`` with ``torch.fx`` into a ``Program``.

Every child module is a leaf of the trace (a ``call_module`` node): its own forward is
converted separately, so the program holds this module's code only. The trace runs on
the arguments recorded from a real call: tensors become placeholders, everything else
(None, flags, ints) keeps its recorded value, which is why ``if mask is not None``
branches trace correctly; the training flag is set before tracing and the program is
kept for that mode only. fx sees no shapes, so ``x.view(x.size(0), -1)`` replays with
the actual input's sizes: batch and sequence sizes are not fixed by the trace.
"""

from __future__ import annotations

import inspect
import re
from collections import OrderedDict
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import fx

from . import _torch_ops as T
from ._lower import Lowering, Problem, output_template
from ._program import Program


class FxFailure(Exception):
    """fx could not trace the forward (data-dependent control flow, unpacking a shape...)."""


def _name(path: tuple) -> str:
    text = "_".join(str(p) for p in path)
    text = re.sub(r"\W", "_", text) or "arg"
    return text if text[0].isalpha() or text[0] == "_" else f"a_{text}"


class _ModuleTracer(fx.Tracer):
    """Traces the root's forward only: every submodule call is a ``call_module`` leaf."""

    def __init__(self, signature: inspect.Signature, arguments: OrderedDict) -> None:
        super().__init__(param_shapes_constant=False)
        self.record_stack_traces = True
        self._signature = signature
        self._arguments = arguments
        self.input_paths: list[tuple[Any, tuple]] = []
        self.out_spec: Any = None

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return True

    def create_args_for_root(self, root_fn: Any, is_module: bool, concrete_args: Any = None) -> Any:
        used: set[str] = set()

        def make(value: Any, path: tuple) -> Any:
            if isinstance(value, torch.Tensor):
                name = _name(path)
                while name in used:
                    name += "_"
                used.add(name)
                proxy = self.create_proxy("placeholder", name, (), {})
                self.input_paths.append((proxy.node, path))
                return proxy
            if isinstance(value, tuple) and hasattr(value, "_fields"):
                return type(value)(*(make(v, (*path, i)) for i, v in enumerate(value)))
            if isinstance(value, tuple | list):
                return type(value)(make(v, (*path, i)) for i, v in enumerate(value))
            if isinstance(value, dict):
                return type(value)((k, make(v, (*path, k))) for k, v in value.items())
            return value

        # Call the forward as it was called (defaults left out: a decorated forward may
        # add keyword arguments of its own); placeholders are named by parameter.
        params = list(self._signature.parameters)
        arguments = OrderedDict([(params[0], self.root)])
        for name, value in self._arguments.items():
            arguments[name] = make(value, (name,))
        bound = inspect.BoundArguments(self._signature, arguments)
        args, kwargs = bound.args, bound.kwargs

        def traced(_root: Any) -> Any:
            out = root_fn(*args, **kwargs)
            leaves, self.out_spec = pytree.tree_flatten(out)
            return leaves

        return traced, [self.root]


def trace(
    tm: torch.nn.Module,
    path: str,
    signature: inspect.Signature,
    arguments: OrderedDict,
    problems: list[Problem],
    passed: frozenset[str],
) -> Program | None:
    """fx-trace ``tm.forward`` called with ``arguments`` (of which ``passed`` were given
    explicitly); None when a problem was recorded.

    Raises ``FxFailure`` when fx itself cannot trace the code.
    """
    explicit = OrderedDict((k, v) for k, v in arguments.items() if k in passed)
    tracer = _ModuleTracer(signature, explicit)
    try:
        graph = tracer.trace(tm)
    except Exception as e:  # any failure of symbolic tracing: fall back to torch.export
        raise FxFailure(f"{type(e).__name__}: {e}") from e
    return lower(graph, tracer, tm, path, problems)


def lower(
    graph: fx.Graph, tracer: _ModuleTracer, tm: torch.nn.Module, path: str, problems: list[Problem]
) -> Program | None:
    cls = type(tm).__name__
    low = Lowering(path, cls, problems, "fx")
    paths = dict(tracer.input_paths)
    output = None
    for node in graph.nodes:
        op = node.op
        if op == "placeholder":
            low.input(node, paths[node])
        elif op == "get_attr":
            _get_attr(low, node, tracer.root)
        elif op == "call_module":
            child = tracer.root.get_submodule(node.target)
            inplace = getattr(child, "inplace", False) is True
            low.module_call(
                node,
                tuple(node.target.split(".")),
                node.args,
                node.kwargs,
                inplace=inplace,
                what=f"self.{node.target}(...)",
            )
        elif op == "call_function":
            _call_function(low, node)
        elif op == "call_method":
            fn, inplace = T.tensor_method(node.target)
            if fn is None:
                low.problem(
                    f"calls the tensor method .{node.target}()", node, _fix_method(node.target)
                )
                low.new_slot(node)
                continue
            low.call(node, fn, node.args, node.kwargs, f".{node.target}()", inplace=inplace)
        elif op == "output":
            output = _output(low, tracer, node)
    if low.failed:
        return None
    return low.finish(output, source="fx")


def _output(low: Lowering, tracer: _ModuleTracer, node: fx.Node) -> Any:
    return output_template(
        tracer.out_spec,
        list(node.args[0]),
        lambda v: low.arg(v, node),
        lambda what: low.problem(what, node),
    )


def _public_name(target: Any) -> str:
    """``torch.fft.rfft`` rather than its implementation's ``torch._C._fft.fft_rfft``."""
    for prefix, space in (
        ("torch", torch),
        ("torch.nn.functional", torch.nn.functional),
        ("torch.fft", torch.fft),
        ("torch.special", torch.special),
        ("torch.linalg", torch.linalg),
    ):
        for attr in dir(space):
            if not attr.startswith("_") and getattr(space, attr, None) is target:
                return f"{prefix}.{attr}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", str(target))
    return f"{module}.{name}" if module else name


def _fix_method(name: str) -> str:
    if name in ("item", "tolist", "numpy", "cpu", "cuda", "__bool__"):
        return (
            f".{name}() turns a tensor into a Python value, which a JAX program cannot do inside "
            f"jit; keep the value a tensor (or compute it outside the model)."
        )
    return (
        f"jaxnn.ops has no {name!r} yet. Rewrite that line with ops jaxnn knows (jaxnn.ops), or "
        f"write this module's jaxnn twin by hand and load its weights with load_state_dict."
    )


def _get_attr(low: Lowering, node: fx.Node, root: torch.nn.Module) -> None:
    owner_path, _, name = node.target.rpartition(".")
    owner = root.get_submodule(owner_path) if owner_path else root
    if name in owner._parameters or name in owner._buffers:
        low.attr(node, tuple(owner_path.split(".")) if owner_path else (), name)
        return
    value = getattr(owner, name, None)
    if isinstance(value, torch.Tensor):
        low.slots[node] = low.const(value, node)
        return
    low.problem(f"reads attribute {node.target!r} ({type(value).__name__}) as a graph value", node)
    low.new_slot(node)


def _call_function(low: Lowering, node: fx.Node) -> None:
    target = node.target
    name = getattr(target, "__name__", str(target))
    if target is getattr:
        obj, attr = node.args[0], node.args[1]
        if not isinstance(attr, str):
            low.problem(f"reads an attribute named by a traced value ({attr!r})", node)
            low.new_slot(node)
            return
        low.call(node, T.AttributeRead(attr), (obj,), {}, f".{attr}", check=False)
        return
    fn = T.torch_function(target)
    if fn is None:
        low.problem(f"calls {_public_name(target)}()", node)
        low.new_slot(node)
        return
    low.call(node, fn, node.args, node.kwargs, f"{name}()")
