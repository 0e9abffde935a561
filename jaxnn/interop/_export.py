"""Tracing a module subtree with ``torch.export`` when ``torch.fx`` cannot.

Export runs the real code on fake tensors with symbolic sizes, so it follows Python
control flow that fx cannot (unpacking ``x.shape``, branches on sizes, Hugging Face's
mask builders), and produces one flat graph of ATen ops. Every submodule call is kept as
a boundary (``preserve_module_call_signature``): the flat graph is cut back into one
program per traced module, whose children are called, not inlined.

Sizes: every input dimension is marked ``Dim.AUTO`` and size-oblivious reasoning is on,
so batch and sequence sizes stay symbolic. Sizes that the code needs inside a module are
recomputed there from that module's own inputs (export computes every size once, at the
top). A size that the traced code fixed or bounded (``seq_len <= max_position_embeddings``,
a hidden size) is checked on every call, with an error rather than a wrong result.
"""

from __future__ import annotations

import inspect
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sympy
import torch
import torch.fx.experimental._config as fx_config
import torch.utils._pytree as pytree
from torch.export import Dim
from torch.export.graph_signature import (
    ConstantArgument,
    InputKind,
    OutputKind,
    SymIntArgument,
    TensorArgument,
)

from .. import ops
from . import _torch_ops as T
from ._lower import Lowering, Problem, output_template
from ._program import Instr, Ref, ShapeCheck

_CALL_INDEX = re.compile(r"@(\d+)$")


class _Call:
    """One call of a submodule in the exported graph."""

    def __init__(self, call_id: str, fqn: str) -> None:
        self.call_id = call_id
        self.fqn = fqn
        self.parent: _Call | None = None
        self.nodes: list[Any] = []


def _identity(value: Any) -> Any:
    return value


class _SymEval:
    """Evaluate a size expression (sympy, in export's symbols) on the actual sizes."""

    def __init__(self, expr: Any, symbols: tuple) -> None:
        self.expr = expr
        self.symbols = symbols
        self.__name__ = f"size {expr}"

    def __call__(self, *sizes: int) -> int:
        value = self.expr.xreplace(
            {s: sympy.Integer(v) for s, v in zip(self.symbols, sizes, strict=True)}
        )
        return int(value)


def _dynamic_spec(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {i: Dim.AUTO for i in range(value.dim())}
    if isinstance(value, tuple | list):
        return (
            type(value)(_dynamic_spec(v) for v in value) if not hasattr(value, "_fields") else None
        )
    if isinstance(value, dict):
        return {k: _dynamic_spec(v) for k, v in value.items()}
    return None


def dynamic_shapes(m: torch.nn.Module, args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = inspect.signature(type(m).forward).bind(m, *args, **kwargs)
    items = list(bound.arguments.items())[1:]
    return {name: _dynamic_spec(v) for name, v in items}


def _same_structure(calls: list[tuple[tuple, dict]]) -> bool:
    specs = {str(pytree.tree_flatten((a, kw))[1]) for a, kw in calls}
    return len(specs) == 1


def run_export(
    m: torch.nn.Module, args: tuple, kwargs: dict, preserve: tuple[str, ...]
) -> torch.export.ExportedProgram:
    ds = dynamic_shapes(m, args, kwargs)
    last: Exception | None = None
    for oblivious in (True, False):
        try:
            with fx_config.patch(backed_size_oblivious=oblivious):
                return torch.export.export(
                    m,
                    args,
                    kwargs,
                    dynamic_shapes=ds,
                    strict=False,
                    preserve_module_call_signature=preserve,
                )
        except Exception as e:  # retry once with torch's default size reasoning
            last = e
    assert last is not None
    raise last


def export_subtree(
    root: torch.nn.Module,
    m: torch.nn.Module,
    path: str,
    kinds: dict[int, str],
    rec: Any,
    table_for: Callable[[torch.nn.Module], Any],
    problems: list[Problem],
) -> set[int]:
    """Fill the program tables of ``m`` and every traced module below it; return their ids."""
    from ._convert import _mode, call_key, canonical, forward_signature

    sub = dict(m.named_modules())
    covered = {id(x) for x in sub.values() if kinds[id(x)] == "traced"}
    for mode, calls in rec.calls.get(id(m), {}).items():
        seen: set[tuple] = set()
        for a, kw in calls:
            key = call_key(canonical(m, forward_signature(m), a, kw))
            if key in seen:
                continue
            seen.add(key)
            preserve = tuple(
                rel
                for rel, x in sub.items()
                if rel
                and rec.calls.get(id(x), {}).get(mode)
                and _same_structure(rec.calls[id(x)][mode])
            )
            with _mode(root, mode):
                try:
                    ep = run_export(m, a, kw, preserve)
                except Exception as e:
                    problems.append(
                        Problem(
                            path,
                            type(m).__name__,
                            f"torch.export cannot trace it ({type(e).__name__}: {_first_line(e)})",
                            "",
                            _export_fix(e),
                        )
                    )
                    return covered
            _Splitter(ep, m, path, kinds, table_for, problems, mode).run()
    return covered


def _export_fix(e: Exception) -> str:
    text = str(e)
    if "Cache" in text or "pytree flattened inputs" in text:
        return (
            "an argument or result is a Python object that is not a tensor (a key-value cache?). "
            "Call the model without it (Hugging Face: use_cache=False in the config or in "
            "example_kwargs), so that only tensors cross the module boundaries."
        )
    return (
        "make the forward traceable by torch.export (torch.export.export(module, args) must "
        "succeed), or write this module's jaxnn twin by hand and load its weights."
    )


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


class _Splitter:
    """Cuts one exported graph into a program per traced module of the subtree."""

    def __init__(
        self,
        ep: torch.export.ExportedProgram,
        m: torch.nn.Module,
        path: str,
        kinds: dict[int, str],
        table_for: Callable,
        problems: list[Problem],
        mode: bool,
    ) -> None:
        self.ep = ep
        self.m = m
        self.path = path
        self.kinds = kinds
        self.table_for = table_for
        self.problems = problems
        self.mode = mode
        self.graph = ep.graph
        self.nodes = list(self.graph.nodes)
        self.by_name = {n.name: n for n in self.nodes}
        self.signatures = {e.fqn: e.signature for e in ep.module_call_graph}
        sig = ep.graph_signature
        self.params = {
            s.arg.name: s.target
            for s in sig.input_specs
            if s.kind in (InputKind.PARAMETER, InputKind.BUFFER)
        }
        self.constants = {
            s.arg.name: s.target for s in sig.input_specs if s.kind == InputKind.CONSTANT_TENSOR
        }
        self.user_inputs = [s.arg for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
        self.user_outputs = [s.arg for s in sig.output_specs if s.kind == OutputKind.USER_OUTPUT]
        self.mutations = [s for s in sig.output_specs if s.kind != OutputKind.USER_OUTPUT]
        self.calls: dict[str, _Call] = {}
        self.owner: dict[Any, _Call | None] = {}
        self._assign()

    # -- the call tree
    def _assign(self) -> None:
        for node in self.nodes:
            stack = node.meta.get("nn_module_stack") or {}
            owner: _Call | None = None
            for key, (fqn, _) in stack.items():
                if not fqn or fqn == "_empty_nn_module_stack_from_metadata_hook":
                    continue
                index = _CALL_INDEX.search(key)
                call_id = fqn + (f"@{index.group(1)}" if index else "")
                if self.signatures.get(call_id) is None:
                    continue  # not a preserved boundary: its ops belong to the caller
                call = self.calls.get(call_id)
                if call is None:
                    call = self.calls[call_id] = _Call(call_id, fqn)
                    call.parent = owner
                call.nodes.append(node)
                owner = call
            self.owner[node] = owner

    def module(self, fqn: str) -> torch.nn.Module:
        return self.m.get_submodule(fqn) if fqn else self.m

    # -- driving
    def run(self) -> None:
        from ._convert import call_key_from_template

        regions: list[_Call | None] = [None] + [
            c for c in self.calls.values() if self.kinds[id(self.module(c.fqn))] == "traced"
        ]
        for call in regions:
            fqn = call.fqn if call is not None else ""
            mod = self.module(fqn)
            full = ".".join(p for p in (self.path, fqn) if p)
            low = Lowering(full, type(mod).__name__, self.problems, "export")
            region = _Region(self, call, mod, low)
            program, arguments = region.lower()
            if program is None:
                continue
            table = self.table_for(mod)
            table.add(self.mode, call_key_from_template(arguments), program)


class _Region:
    """Lowers the nodes one module call owns into that module's program."""

    def __init__(
        self, sp: _Splitter, call: _Call | None, mod: torch.nn.Module, low: Lowering
    ) -> None:
        self.sp = sp
        self.call = call
        self.mod = mod
        self.low = low
        self.prefix = (call.fqn + ".") if call is not None else ""
        self.symbols: dict[Any, tuple[int, int]] = {}
        self.size_slots: dict[Any, int] = {}

    # -- ownership
    def owned(self, node: Any) -> bool:
        return self.sp.owner.get(node) is self.call

    def child_call(self, node: Any) -> _Call | None:
        """The direct child boundary of this region that ``node`` belongs to, if any."""
        c = self.sp.owner.get(node)
        while c is not None and c.parent is not self.call:
            c = c.parent
        return c if c is not None and c is not self.call else None

    # -- inputs and outputs
    def _signature(self) -> tuple[list[Any], Any, list[Any], Any]:
        sp = self.sp
        if self.call is None:
            sig = sp.signatures[""]
            return sp.user_inputs, sig.in_spec, sp.user_outputs, sig.out_spec
        sig = sp.signatures[self.call.call_id]
        return sig.inputs, sig.in_spec, sig.outputs, sig.out_spec

    def lower(self) -> tuple[Any, Any]:
        low = self.low
        inputs, in_spec, outputs, out_spec = self._signature()
        args, kwargs = pytree.tree_unflatten(list(inputs), in_spec)
        from ._convert import forward_signature

        sig = forward_signature(self.mod)
        bound = sig.bind(self.mod, *args, **kwargs)
        bound.apply_defaults()
        arguments = OrderedDict(list(bound.arguments.items())[1:])
        for name, value in arguments.items():
            self._bind_inputs(value, (name,))
        check = self._shape_check()
        emitted: set[str] = set()
        for node in self.sp.nodes:
            if node.op in ("placeholder", "output"):
                continue
            if self.owned(node):
                self._lower_node(node)
                continue
            child = self.child_call(node)
            if child is not None and child.call_id not in emitted and node is child.nodes[-1]:
                emitted.add(child.call_id)
                self._emit_child(child)
        output = output_template(
            out_spec,
            [self._out_leaf(a) for a in outputs],
            lambda v: v,
            lambda what: low.problem(what),
        )
        self._check_mutations()
        if low.failed:
            return None, None
        return low.finish(output, source="export", shape_check=check), arguments

    def _bind_inputs(self, value: Any, path: tuple) -> None:
        if isinstance(value, TensorArgument | SymIntArgument):
            node = self.sp.by_name[value.name]
            self.low.input(node, path)
            if isinstance(value, TensorArgument):
                fake = node.meta.get("val")
                for d, size in enumerate(getattr(fake, "shape", ())):
                    expr = _expr(size)
                    if isinstance(expr, sympy.Symbol) and expr not in self.symbols:
                        self.symbols[expr] = (self.low.slots[node], d)
            return
        if isinstance(value, tuple | list):
            for i, v in enumerate(value):
                self._bind_inputs(v, (*path, i))
        elif isinstance(value, dict):
            for k, v in value.items():
                self._bind_inputs(v, (*path, k))

    def _shape_check(self) -> ShapeCheck | None:
        dims = []
        for node, slot in list(self.low.slots.items()):
            fake = node.meta.get("val")
            if not isinstance(fake, torch.Tensor):
                continue
            entry = []
            for size in fake.shape:
                expr = _expr(size)
                entry.append(int(expr) if expr.is_number else str(expr))
            dims.append((slot, entry))
        ranges = {}
        for sym, vr in self.sp.ep.range_constraints.items():
            ranges[str(sym)] = (_bound(vr.lower) or 0, _bound(vr.upper))
        return ShapeCheck(dims, ranges) if dims else None

    def _out_leaf(self, arg: Any) -> Any:
        if isinstance(arg, ConstantArgument):
            return arg.value
        node = self.sp.by_name.get(arg.name)
        slot = self.ensure(node)
        return Ref(slot) if slot is not None else None

    def _check_mutations(self) -> None:
        for spec in self.sp.mutations:
            node = self.sp.by_name.get(spec.arg.name)
            if node is not None and self.owned(node):
                self.low.problem(
                    f"updates {spec.target or spec.arg.name!r} in place ({spec.kind.name})",
                    node,
                    "jaxnn modules return new buffer values through nn.forward; a custom "
                    "forward that writes to a buffer or parameter cannot be replayed. Keep such "
                    "state in a torch.nn layer (BatchNorm) or write the jaxnn twin by hand.",
                )

    # -- values
    def ensure(self, node: Any) -> int | None:
        """The slot holding ``node``'s value in this region, creating a read if needed."""
        low = self.low
        slot = low.slots.get(node)
        if slot is not None:
            return slot
        if node.op == "placeholder":
            name = node.name
            if name in self.sp.params:
                target = self.sp.params[name]
                if not target.startswith(self.prefix):
                    low.problem(
                        f"reads {target!r}, which belongs to a module outside it",
                        node,
                        "tied or shared weights across modules are not supported by the export "
                        "path; convert a model where the module owns the weights it reads.",
                    )
                    return None
                owner, _, attr = target[len(self.prefix) :].rpartition(".")
                low.attr(node, tuple(owner.split(".")) if owner else (), attr)
                return low.slots[node]
            if name in self.sp.constants:
                value = self.sp.ep.constants[self.sp.constants[name]]
                low.slots[node] = low.const(value, node)
                return low.slots[node]
        val = node.meta.get("val")
        if isinstance(val, torch.SymInt | int) and not isinstance(val, bool):
            return self._size(node, val)
        low.problem(
            f"uses {node.name!r} computed outside its own code",
            node,
            "report this model: the export graph could not be split",
        )
        return None

    def _size(self, node: Any, val: Any) -> int | None:
        low = self.low
        expr = _expr(val)
        if expr.is_number:
            slot = low.new_slot(node)
            low.instrs.append(Instr("call", _identity, (int(expr),), {}, slot))
            return slot
        symbols = tuple(sorted(expr.free_symbols, key=str))
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            low.problem(
                f"needs the size {expr}, which none of its inputs carries",
                node,
                "pass a tensor with that size to the module, or report this model.",
            )
            return None
        refs = []
        for s in symbols:
            if s not in self.size_slots:
                slot, d = self.symbols[s]
                out = low.new_slot()
                low.instrs.append(
                    Instr("call", ops.size, (Ref(slot), d), {}, out, where=f"size {s}")
                )
                self.size_slots[s] = out
            refs.append(Ref(self.size_slots[s]))
        slot = low.new_slot(node)
        low.instrs.append(
            Instr("call", _SymEval(expr, symbols), tuple(refs), {}, slot, where=f"size {expr}")
        )
        return slot

    # -- nodes
    def _prepare(self, node: Any) -> bool:
        ok = True
        for v in _nodes_in((node.args, node.kwargs)):
            if self.ensure(v) is None:
                ok = False
        return ok

    def _lower_node(self, node: Any) -> None:
        low = self.low
        if not self._prepare(node):
            low.new_slot(node)
            return
        if node.op == "get_attr":
            value = getattr(self.sp.ep.graph_module, node.target, None)
            if isinstance(value, torch.Tensor):
                low.slots[node] = low.const(value, node)
            else:
                low.problem(f"reads {node.target!r} ({type(value).__name__})", node)
                low.new_slot(node)
            return
        target = node.target
        fn = T.aten_function(target)
        if fn is None:
            name = getattr(target, "__name__", str(target))
            low.problem(f"uses {name} (torch.export's ATen op {target})", node)
            low.new_slot(node)
            return
        name = str(target)
        low.call(node, fn, node.args, node.kwargs, name)

    def _emit_child(self, child: _Call) -> None:
        sp = self.sp
        low = self.low
        sig = sp.signatures[child.call_id]
        leaves = []
        for a in sig.inputs:
            if isinstance(a, ConstantArgument):
                leaves.append(a.value)
            else:
                node = sp.by_name[a.name]
                if self.ensure(node) is None:
                    return
                leaves.append(node)
        args, kwargs = pytree.tree_unflatten(leaves, sig.in_spec)
        rel = child.fqn[len(self.prefix) :] if self.prefix else child.fqn
        anchor = child.nodes[-1]
        out_slot = low.new_slot()
        low.instrs.append(
            Instr(
                "module",
                tuple(rel.split(".")),
                low.arg(tuple(args), anchor),
                low.arg(dict(kwargs), anchor),
                out_slot,
                where=low.where(anchor, f"self.{rel}(...)"),
            )
        )
        # The child's outputs, flattened in export's order, become the graph's values.
        flat = low.new_slot()
        low.instrs.append(Instr("call", _Flatten(sig.out_spec), (Ref(out_slot),), {}, flat))
        for i, a in enumerate(sig.outputs):
            if isinstance(a, ConstantArgument):
                continue
            node = sp.by_name.get(a.name)
            if node is None:
                continue
            slot = low.new_slot(node)
            low.instrs.append(Instr("call", _item, (Ref(flat), i), {}, slot))


def _item(values: Any, i: int) -> Any:
    return values[i]


class _Flatten:
    """A child's output as the flat list export recorded (its pytree leaves, in the order
    of torch's spec, which keeps dict keys in insertion order where JAX sorts them)."""

    def __init__(self, spec: Any) -> None:
        self.spec = _plain_spec(spec)  # no torch object is kept for the replay
        self.__name__ = "flatten_output"

    def __call__(self, out: Any) -> list[Any]:
        leaves: list[Any] = []
        _walk(self.spec, out, leaves)
        return leaves


def _plain_spec(spec: Any) -> Any:
    """torch's TreeSpec as nested tuples: None for a leaf, (keys | None, children)."""
    if spec.is_leaf():
        return None
    children = tuple(_plain_spec(c) for c in spec.children())
    context = spec.context
    keyed = (
        isinstance(context, list | tuple)
        and len(context) == len(children)
        and all(isinstance(k, str) for k in context)
    )
    return (tuple(context) if keyed else None, children)


def _walk(spec: Any, value: Any, leaves: list[Any]) -> None:
    if spec is None:
        leaves.append(value)
        return
    keys, children = spec
    for i, c in enumerate(children):
        _walk(c, value[keys[i]] if keys is not None else value[i], leaves)


def _bound(x: Any) -> int | None:
    """A finite integer bound of a value range, or None for an infinite one."""
    from torch.utils._sympy.numbers import IntInfinity, NegativeIntInfinity

    if isinstance(x, IntInfinity | NegativeIntInfinity) or x in (sympy.oo, -sympy.oo):
        return None
    return int(x)


def _expr(size: Any) -> Any:
    if isinstance(size, torch.SymInt):
        return size.node.expr
    return sympy.Integer(int(size))


def _nodes_in(tree: Any) -> list[Any]:
    out: list[Any] = []
    torch.fx.node.map_arg(tree, lambda n: out.append(n) or n)
    return out
