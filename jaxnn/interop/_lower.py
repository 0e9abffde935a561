"""Lowering a traced torch graph (fx or export) to a ``Program``.

``Lowering`` turns node arguments into slot references and jax-side constants, checks
each call against the jaxnn function's signature, marks calls that need a PRNG key,
rebinds values that torch would have mutated in place, and collects everything it
cannot translate (with the module, the node and the source line) instead of stopping at
the first, so the user sees the whole list at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _torch_ops as T
from ._program import Build, Instr, Program, Ref, ShapeCheck


@dataclass
class Problem:
    """One thing the converter cannot translate, and where it is."""

    module: str
    cls: str
    what: str
    source: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.module or '<root>'} ({self.cls})"
        src = f"\n      at {self.source}" if self.source else ""
        return f"  - {where}: {self.what}{src}\n      fix: {self.fix}"


class ConversionError(TypeError):
    """``from_torch`` could not translate the model; the message lists every problem."""


def source_of(node: Any) -> str:
    """``file.py:line `code``` of the node's innermost frame, if fx/export recorded one."""
    trace = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    trace = trace or getattr(node, "stack_trace", None)
    if not trace:
        return ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \S+\n\s*(.*)', trace)
    user = [f for f in frames if not _TORCH_DIR or not f[0].startswith(_TORCH_DIR)]
    if not user:
        return ""
    file, line, code = user[-1]
    return f"{file}:{line}  `{code.strip()}`"


def _torch_dir() -> str:
    import os

    import torch

    return os.path.dirname(torch.__file__) + os.sep


try:
    _TORCH_DIR = _torch_dir()
except ImportError:  # pragma: no cover - this module is only used with torch
    _TORCH_DIR = ""


_FIX_OP = (
    "jaxnn has no translation for it yet. Rewrite that line with ops jaxnn knows (see "
    "jaxnn.ops and jaxnn.functional), or write this module's jaxnn twin by hand with the "
    "same attribute names and load its weights with twin.load_state_dict(torch_module.state_dict())."
)

# Ops whose result shares memory with their first argument in torch.
VIEW_OPS = frozenset(
    {
        "view",
        "reshape",
        "view_as",
        "reshape_as",
        "flatten",
        "unflatten",
        "permute",
        "transpose",
        "t",
        "movedim",
        "unsqueeze",
        "squeeze",
        "expand",
        "expand_as",
        "chunk",
        "split",
        "unbind",
        "narrow",
        "select",
        "slice",
        "contiguous",
        "detach",
        "index",
        "_getitem",
        "_attr_T",
        "_attr_mT",
        "_attr_data",
    }
)


class Lowering:
    """Builds one ``Program`` from the nodes of one module's graph."""

    def __init__(self, module: str, cls: str, problems: list[Problem], source: str) -> None:
        self.module = module
        self.cls = cls
        self.problems = problems
        self.source = source
        self.slots: dict[Any, int] = {}
        self.nslots = 0
        self.instrs: list[Instr] = []
        self.inputs: list[tuple[int, tuple]] = []
        self.views: dict[int, int] = {}  # slot -> slot of the value it is a view of
        self.groups: dict[int, list[int]] = {}  # slots holding one tensor (in-place results)
        self.slot_nodes: dict[int, Any] = {}
        self.mutated_inputs: set[int] = set()
        self.failed = False

    # -- problems
    def problem(self, what: str, node: Any = None, fix: str = _FIX_OP) -> None:
        self.failed = True
        self.problems.append(
            Problem(self.module, self.cls, what, source_of(node) if node is not None else "", fix)
        )

    def where(self, node: Any, what: str) -> str:
        src = source_of(node)
        return f"{what} ({src})" if src else what

    # -- slots
    def new_slot(self, node: Any = None) -> int:
        slot = self.nslots
        self.nslots += 1
        if node is not None:
            self.slots[node] = slot
            self.slot_nodes[slot] = node
        return slot

    def input(self, node: Any, path: tuple) -> None:
        self.inputs.append((self.new_slot(node), path))

    # -- arguments
    def arg(self, value: Any, node: Any) -> Any:
        """A node argument as a template: nodes become ``Ref``s, torch constants jax's."""
        import torch

        if isinstance(value, torch.fx.Node):
            slot = self.slots.get(value)
            if slot is None:
                self.problem(f"uses value {value.name!r}, which is not available here", node)
                return None
            return Ref(slot)
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return Build(type(value), tuple(self.arg(v, node) for v in value))
        if isinstance(value, torch.Size):
            return tuple(int(v) for v in value)
        if isinstance(value, tuple):
            return tuple(self.arg(v, node) for v in value)
        if isinstance(value, list):
            return [self.arg(v, node) for v in value]
        if isinstance(value, dict):
            return {k: self.arg(v, node) for k, v in value.items()}
        if isinstance(value, slice):
            return slice(
                self.arg(value.start, node), self.arg(value.stop, node), self.arg(value.step, node)
            )
        if (
            value is None
            or value is Ellipsis
            or isinstance(value, bool | int | float | str | complex)
        ):
            return value
        if isinstance(value, torch.dtype):
            try:
                return T.convert_dtype(value)
            except TypeError as e:
                self.problem(str(e), node)
                return None
        if isinstance(value, torch.device | torch.memory_format | torch.layout):
            return None  # placement and layout have no meaning for JAX arrays
        if isinstance(value, torch.Tensor):
            return Ref(self.const(value, node))
        self.problem(
            f"passes a constant of type {type(value).__qualname__} ({value!r:.60})",
            node,
            "only tensors, numbers, strings, dtypes, None and tuples/lists/dicts of them can "
            "cross into a JAX program; compute that value outside the model.",
        )
        return None

    def const(self, tensor: Any, node: Any) -> int:
        from .._module import _to_array

        slot = self.new_slot()
        value = np.asarray(_to_array(tensor, "constant"))
        self.instrs.append(Instr("const", value, out=slot, where=self.where(node, "constant")))
        return slot

    # -- instructions
    def call(
        self,
        node: Any,
        fn: Callable,
        args: tuple,
        kwargs: dict,
        what: str,
        *,
        inplace: bool = False,
        check: bool = True,
    ) -> None:
        targs = self.arg(tuple(args), node)
        tkwargs = self.arg(dict(kwargs), node)
        key_arg = None
        if check:
            bound = T.bind(fn, _placeholder_values(targs), _placeholder_values(tkwargs))
            if isinstance(bound, str):
                self.problem(f"{what}: its arguments do not match jaxnn's: {bound}", node)
                return
            key_arg = T.random_key_arg(fn, bound)
            if bound.get("inplace") is True:
                inplace = True
        slot = self.new_slot(node)
        alias = self.inplace_alias(node, args, what) if inplace else ()
        self.instrs.append(
            Instr(
                "call",
                fn,
                targs,
                tkwargs,
                slot,
                key_arg=key_arg,
                alias=alias,
                where=self.where(node, what),
            )
        )
        name = getattr(fn, "__name__", "")
        if name in VIEW_OPS and args and _is_node(args[0]) and args[0] in self.slots:
            self.views[slot] = self.views.get(self.slots[args[0]], self.slots[args[0]])

    def module_call(
        self,
        node: Any,
        path: tuple[str, ...],
        args: tuple,
        kwargs: dict,
        *,
        inplace: bool = False,
        what: str = "",
    ) -> None:
        targs = self.arg(tuple(args), node)
        tkwargs = self.arg(dict(kwargs), node)
        slot = self.new_slot(node)
        alias = self.inplace_alias(node, args, what) if inplace else ()
        self.instrs.append(
            Instr("module", path, targs, tkwargs, slot, alias=alias, where=self.where(node, what))
        )

    def attr(self, node: Any, path: tuple[str, ...], name: str) -> None:
        slot = self.new_slot(node)
        self.instrs.append(
            Instr("attr", (path, name), out=slot, where=self.where(node, ".".join((*path, name))))
        )

    def inplace_alias(self, node: Any, args: tuple, what: str) -> tuple[int, ...]:
        """The slots torch changes in place with this op (all views-free aliases of its
        first argument); they are rebound to the result at replay.

        Refused where torch would also change a tensor sharing memory with it that later
        code reads (a view, or the tensor a view was taken of).
        """
        if not args or not _is_node(args[0]) or args[0] not in self.slots:
            return ()
        target = args[0]
        slot = self.slots[target]
        group = self.groups.setdefault(slot, [slot])
        base = self.views.get(slot)
        read_later = any(
            any(u is not node and _after(u, node) for u in self.slot_nodes[s].users)
            for s in group
            if s in self.slot_nodes
        )
        if base is not None:
            base_read = any(
                _after(u, node) for u in getattr(self.slot_nodes.get(base), "users", ())
            )
            if read_later or base_read:
                self.problem(
                    f"{what} changes in place a view of another tensor that later code reads",
                    node,
                    "jaxnn replays in-place ops by rebinding values, which cannot reach the "
                    "memory a view shares. Use the out-of-place op (x = x.add(y), inplace=False) "
                    "on that line.",
                )
                return ()
        if target.op == "get_attr" and read_later:
            self.problem(
                f"{what} changes a parameter or buffer in place",
                node,
                "a jaxnn module's arrays change only through nn.forward's returned model; use "
                "the out-of-place op, or keep the state in a torch.nn layer (BatchNorm).",
            )
            return ()
        if target.op == "placeholder":
            self.mutated_inputs.add(slot)
        out = self.slots.get(node)
        if out is not None:
            group.append(out)
            self.groups[out] = group
        return tuple(s for s in group if s != out)

    def finish(self, output: Any, *, source: str, shape_check: ShapeCheck | None = None) -> Program:
        program = Program(
            self.inputs, self.instrs, output, self.nslots, source=source, shape_check=shape_check
        )
        program.mutated_inputs = frozenset(self.mutated_inputs)
        return program


def _is_node(x: Any) -> bool:
    import torch

    return isinstance(x, torch.fx.Node)


def _after(a: Any, b: Any) -> bool:
    """Whether node ``a`` comes after node ``b`` in their graph."""
    return b < a


class _Placeholder:
    """Stands for a runtime value while a call is bound at conversion."""

    def __repr__(self) -> str:
        return "<tensor>"


_PH = _Placeholder()


def _placeholder_values(template: Any) -> Any:
    t = type(template)
    if t is Ref:
        return _PH
    if t is tuple:
        return tuple(_placeholder_values(v) for v in template)
    if t is list:
        return [_placeholder_values(v) for v in template]
    if t is dict:
        return {k: _placeholder_values(v) for k, v in template.items()}
    if t is Build:
        return _PH
    return template


def output_template(
    spec: Any, leaves: list[Any], leaf: Callable[[Any], Any], problems: Callable[[str], None]
) -> Any:
    """Rebuild torch's output structure (a pytree spec) around converted leaves."""
    it = iter(leaves)

    def walk(s: Any) -> Any:
        if s.is_leaf():
            return leaf(next(it))
        children = [walk(c) for c in s.children()]
        t = s.type
        import collections

        import torch

        if t is tuple or t is torch.Size:
            return tuple(children)
        if t is list:
            return children
        if t is dict:
            return dict(zip(s.context, children, strict=True))
        if t is collections.OrderedDict:
            return Build(_ordered_dict(tuple(s.context)), tuple(children))
        if t is collections.namedtuple or (
            isinstance(s.context, type) and issubclass(s.context, tuple)
        ):
            return Build(s.context, tuple(children))
        if isinstance(s.context, list | tuple) and all(isinstance(k, str) for k in s.context):
            return Build(output_class(t, tuple(s.context)), tuple(children))
        problems(f"returns a {getattr(t, '__qualname__', t)}, a structure jaxnn cannot rebuild")
        return None

    return walk(spec)


def _ordered_dict(keys: tuple[str, ...]) -> Callable:
    from collections import OrderedDict

    def build(*values: Any) -> Any:
        return OrderedDict(zip(keys, values, strict=True))

    return build


_OUTPUT_CLASSES: dict[tuple, type] = {}


def output_class(torch_type: type, keys: tuple[str, ...]) -> Callable:
    """A JAX pytree class named like torch's output dataclass (``BaseModelOutput``...):
    an ordered mapping with attribute access, like Hugging Face's ``ModelOutput``."""
    from ._outputs import make_output_class

    cls = _OUTPUT_CLASSES.get((torch_type, keys))
    if cls is None:
        cls = make_output_class(torch_type.__name__, torch_type.__qualname__)
        _OUTPUT_CLASSES[(torch_type, keys)] = cls

    def build(*values: Any) -> Any:
        return cls(zip(keys, values, strict=True))

    build.__name__ = torch_type.__name__
    return build
