"""``from_torch`` for models with their own ``forward``: record, trace, rebuild.

1. Classify every torch module: a *stock* subtree (torch.nn layers all the way down)
   becomes the existing jaxnn layers through the layer-by-layer converter; a plain
   container holding custom code becomes the jaxnn container; everything else is
   *traced*: a generated class of the same name replays its ``forward``.
2. Run the torch model on the example inputs in training and in eval mode, recording
   every module call (arguments as given). The model's buffers, modes and RNG state are
   restored afterwards.
3. Trace each traced module with ``torch.fx`` on its recorded calls, per mode; where fx
   cannot trace the code, ``torch.export`` traces that module's whole subtree instead.
   Every op that cannot be translated, anywhere in the model, is collected and reported
   in one error.
4. Build the jaxnn tree with torch's names, weights, flags and printout, and check it.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from typing import Any

import torch

from .._module import Module, _to_array
from . import _torch_ops as T
from ._lower import ConversionError, Problem
from ._program import (
    ProgramTable,
    TracedModule,
    TracedModuleDict,
    TracedModuleList,
    TracedSequential,
    signature_key,
    traced_class,
)

_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)


def is_stock_class(m: torch.nn.Module) -> bool:
    """A torch.nn layer that jaxnn has under the same name."""
    import jaxnn

    cls = type(m)
    if not cls.__module__.startswith("torch.nn"):
        return False
    name = "Linear" if cls.__name__ == "NonDynamicallyQuantizableLinear" else cls.__name__
    jcls = getattr(jaxnn, name, None)
    return isinstance(jcls, type) and issubclass(jcls, Module)


def classify(root: torch.nn.Module) -> dict[int, str]:
    """id(module) -> 'stock' | 'container' | 'container_sub' | 'traced'."""
    kinds: dict[int, str] = {}

    def visit(m: torch.nn.Module) -> bool:
        if id(m) in kinds:
            return kinds[id(m)] == "stock"
        below = [visit(c) for c in m.children()]
        all_stock = all(below)
        if type(m) in _CONTAINERS or (is_stock_class(m) and not isinstance(m, _CONTAINERS)):
            if all_stock and is_stock_class(m):
                kind = "stock"
            else:
                kind = "container" if type(m) in _CONTAINERS else "traced"
        elif isinstance(m, _CONTAINERS) and _inherits_forward(m):
            kind = "container_sub"
        else:
            kind = "traced"
        kinds[id(m)] = kind
        return kind == "stock"

    visit(root)
    return kinds


def _inherits_forward(m: torch.nn.Module) -> bool:
    for base in _CONTAINERS:
        if isinstance(m, base):
            return type(m).forward is base.forward
    return False


# ------------------------------------------------------------------ recording


class Recording:
    """The calls of every module in one run per mode: id(module) -> mode -> [(args, kwargs)]."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[bool, list[tuple[tuple, dict]]]] = {}
        self.failed: dict[bool, str] = {}


def record(root: torch.nn.Module, args: tuple, kwargs: dict) -> Recording:
    rec = Recording()
    modes = {m: m.training for m in root.modules()}
    buffers = [(b, b.detach().clone()) for b in root.buffers()]
    rng = torch.random.get_rng_state()
    current: list[bool] = [True]

    def hook(module: torch.nn.Module, a: tuple, kw: dict) -> None:
        # Containers are copied: a caller may append to a list after passing it
        # (DenseNet's growing feature list), and the call saw it as it was then.
        rec.calls.setdefault(id(module), {}).setdefault(current[0], []).append(
            (_snapshot(a), _snapshot(kw))
        )

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in root.modules()]
    try:
        for mode in (True, False):
            current[0] = mode
            root.train(mode)
            try:
                with torch.no_grad():
                    root(*args, **kwargs)
            except Exception as e:
                rec.failed[mode] = f"{type(e).__name__}: {e}"
                for calls in rec.calls.values():
                    calls.pop(mode, None)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.random.set_rng_state(rng)
    return rec


def _snapshot(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_snapshot(v) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, _snapshot(v)) for k, v in value.items())
    return value


# ------------------------------------------------------------------ signatures


def jaxify(value: Any) -> Any:
    """A recorded non-tensor argument as the converted model will see it."""
    if isinstance(value, torch.dtype):
        return T.convert_dtype(value)
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, torch.device):
        return None
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(jaxify(v) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(jaxify(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, jaxify(v)) for k, v in value.items())
    return value


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def forward_signature(m: torch.nn.Module) -> inspect.Signature:
    return inspect.signature(type(m).forward)


def jax_signature(sig: inspect.Signature) -> inspect.Signature:
    """``forward``'s signature without ``self`` and annotations, defaults made jax-side."""
    params = list(sig.parameters.values())[1:]
    out = []
    for p in params:
        default = p.default if p.default is inspect.Parameter.empty else jaxify(p.default)
        out.append(p.replace(default=default, annotation=inspect.Parameter.empty))
    return inspect.Signature(out)


def canonical(m: torch.nn.Module, sig: inspect.Signature, args: tuple, kwargs: dict) -> OrderedDict:
    """The recorded call bound to ``forward``'s parameters, defaults filled in."""
    bound = sig.bind(m, *args, **kwargs)
    bound.apply_defaults()
    items = list(bound.arguments.items())[1:]
    return OrderedDict(items)


_TENSOR = object()


def call_key_from_template(arguments: OrderedDict) -> tuple:
    """The signature key of an export signature's arguments (Tensor/Constant arguments)."""
    from torch.export.graph_signature import ConstantArgument, TensorArgument

    def conv(v: Any) -> Any:
        if isinstance(v, TensorArgument):
            return _TENSOR
        if isinstance(v, ConstantArgument):
            return jaxify(v.value)
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return type(v)(*(conv(x) for x in v))
        if isinstance(v, tuple | list):
            return type(v)(conv(x) for x in v)
        if isinstance(v, dict):
            return type(v)((k, conv(x)) for k, x in v.items())
        return jaxify(v)

    converted = OrderedDict((k, conv(v)) for k, v in arguments.items())
    return signature_key(converted, lambda x: x is _TENSOR)


def call_key(arguments: OrderedDict) -> tuple:
    return signature_key(OrderedDict((k, jaxify(v)) for k, v in arguments.items()), _is_tensor)


# ------------------------------------------------------------------ the conversion


def convert(root: torch.nn.Module, args: tuple | None, kwargs: dict | None) -> Module:
    from ._torch import _from_torch_stock

    kinds = classify(root)
    traced = [(n, m) for n, m in root.named_modules() if kinds[id(m)] == "traced"]
    if args is None and kwargs is None:
        if traced:
            names = sorted({type(m).__qualname__ for _, m in traced})
            raise TypeError(
                f"from_torch: {type(root).__name__} runs its own forward code ({', '.join(names)}), "
                f"which jaxnn converts by tracing a real call: pass example inputs, "
                f"nn.from_torch(model, example_inputs=(x,)) (example_kwargs={{...}} for keyword "
                f"arguments), with the shapes and dtypes the model takes (batch >= 2). Or write the "
                f"jaxnn twin with the same attribute names and load the weights: "
                f"twin.load_state_dict(torch_model.state_dict())."
            )
    args = tuple(args or ())
    kwargs = dict(kwargs or {})
    rec = record(root, args, kwargs) if traced else Recording()
    if len(rec.failed) == 2:
        raise TypeError(
            f"from_torch: the torch model fails on the example inputs, in eval mode with "
            f"{rec.failed[False]} (and in training mode with {rec.failed[True]}). Pass "
            f"example_inputs/example_kwargs that the torch model accepts."
        )
    problems: list[Problem] = []
    tables = build_programs(root, kinds, rec, problems)
    if problems:
        raise ConversionError(
            f"from_torch cannot convert {type(root).__name__}: {len(problems)} unsupported "
            f"operation(s); nothing was converted, so no model silently differs from torch.\n"
            + "\n".join(str(p) for p in problems)
        )
    model = Builder(kinds, tables, _from_torch_stock).build(root)
    tie(root, model)
    check_same(root, model)
    return model


def build_programs(
    root: torch.nn.Module, kinds: dict[int, str], rec: Recording, problems: list[Problem]
) -> dict[int, ProgramTable]:
    """Programs for every traced module: torch.fx first; torch.export for the subtrees of
    the modules fx could not trace or translate. Problems of both are collected."""
    from . import _export, _fx

    tables: dict[int, ProgramTable] = {}
    pending: list[tuple[str, torch.nn.Module, str | None, list[Problem]]] = []
    for path, m in root.named_modules():
        if kinds[id(m)] != "traced":
            continue
        table = _table_for(m, tables)
        fx_problems: list[Problem] = []
        failure = None
        for mode, mode_calls in rec.calls.get(id(m), {}).items():
            for arguments, key, passed in _distinct_calls(m, mode_calls):
                with _mode(root, mode):
                    try:
                        program = _fx.trace(
                            m, path, forward_signature(m), arguments, fx_problems, passed
                        )
                    except _fx.FxFailure as e:
                        failure = str(e)
                        break
                if program is not None:
                    table.add(mode, key, program)
            if failure:
                break
        if failure is not None or fx_problems:
            pending.append((path, m, failure, fx_problems))
    covered: set[int] = set()
    export_problems: list[Problem] = []
    for path, m, _, _ in pending:
        if id(m) in covered:
            continue
        # fx could not trace this module, or met ops it cannot translate at torch's level:
        # torch.export traces its whole subtree down to ATen ops instead. Programs fx made
        # for modules below it are kept (the first program of a signature wins).
        covered |= _export.export_subtree(
            root, m, path, kinds, rec, lambda mm: _table_for(mm, tables), export_problems
        )
    if export_problems:
        for path, m, failure, fx_problems in pending:
            if failure is not None:
                problems.append(
                    Problem(
                        path,
                        type(m).__name__,
                        f"torch.fx cannot trace it: {failure[:300]}",
                        "",
                        "torch.export was tried for it; see its problems in this list.",
                    )
                )
            problems.extend(fx_problems)
        problems.extend(export_problems)
    _check_input_mutations(root, tables, problems)
    unique = list({str(p): p for p in problems}.values())
    problems[:] = unique
    for table in tables.values():
        table.failed_modes = dict(rec.failed)
    return tables


def _check_input_mutations(
    root: torch.nn.Module, tables: dict[int, ProgramTable], problems: list[Problem]
) -> None:
    """A module that changes its input in place, called by one that reads it afterwards:
    torch's caller sees the change, a replayed caller would not."""
    from ._program import Ref

    mutating = {
        m_id for m_id, t in tables.items() if any(p.mutated_inputs for p in t.programs.values())
    }
    if not mutating:
        return
    for path, m in root.named_modules():
        table = tables.get(id(m))
        if table is None:
            continue
        for program in table.programs.values():
            for i, ins in enumerate(program.instrs):
                if ins.op != "module":
                    continue
                child = m.get_submodule(".".join(ins.fn))
                if id(child) not in mutating:
                    continue
                passed = {r.slot for r in _refs((ins.args, ins.kwargs), Ref)}
                later = _refs(
                    ([(j.args, j.kwargs) for j in program.instrs[i + 1 :]], program.output), Ref
                )
                if passed & {r.slot for r in later}:
                    problems.append(
                        Problem(
                            path,
                            type(m).__name__,
                            f"passes a tensor to self.{'.'.join(ins.fn)}, which changes it in "
                            f"place, and reads it afterwards",
                            ins.where,
                            "use the out-of-place op in the child (inplace=False), so the "
                            "caller's tensor is not changed.",
                        )
                    )


def _refs(template: Any, ref_type: type) -> list[Any]:
    from ._program import Build

    out: list[Any] = []

    def walk(t: Any) -> None:
        if isinstance(t, ref_type):
            out.append(t)
        elif isinstance(t, tuple | list):
            for v in t:
                walk(v)
        elif isinstance(t, dict):
            for v in t.values():
                walk(v)
        elif isinstance(t, slice):
            walk((t.start, t.stop, t.step))
        elif isinstance(t, Build):
            walk(t.items)

    walk(template)
    return out


def _distinct_calls(
    m: torch.nn.Module, calls: list[tuple[tuple, dict]]
) -> list[tuple[OrderedDict, tuple, frozenset[str]]]:
    """The calls with different signature keys: (canonical arguments, key, names passed)."""
    out, seen = [], set()
    sig = forward_signature(m)
    for a, kw in calls:
        arguments = canonical(m, sig, a, kw)
        key = call_key(arguments)
        if key not in seen:
            seen.add(key)
            passed = frozenset(list(sig.bind(m, *a, **kw).arguments)[1:])
            out.append((arguments, key, passed))
    return out


def _table_for(m: torch.nn.Module, tables: dict[int, ProgramTable]) -> ProgramTable:
    table = tables.get(id(m))
    if table is None:
        sig = forward_signature(m)
        names = set(list(sig.parameters)[1:])
        prng = (
            "key"
            if "key" not in names
            else ("dropout_key" if "dropout_key" not in names else "prng_key")
        )
        table = ProgramTable(type(m).__name__, jax_signature(sig), prng)
        tables[id(m)] = table
    return table


class _mode:
    """Set the whole model's training flag for a trace, then restore every module's."""

    def __init__(self, root: torch.nn.Module, mode: bool) -> None:
        self.root = root
        self.mode = mode

    def __enter__(self) -> None:
        self.saved = {m: m.training for m in self.root.modules()}
        self.root.train(self.mode)

    def __exit__(self, *exc: Any) -> None:
        for m, mode in self.saved.items():
            m.training = mode


# ------------------------------------------------------------------ the jaxnn tree


class Builder:
    def __init__(self, kinds: dict[int, str], tables: dict[int, ProgramTable], stock: Any) -> None:
        self.kinds = kinds
        self.tables = tables
        self.stock = stock
        self.modules: dict[int, Module] = {}
        self.arrays: dict[int, Any] = {}

    def array(self, t: torch.Tensor, name: str) -> Any:
        got = self.arrays.get(id(t))
        if got is None:
            got = _to_array(t, name)
            self.arrays[id(t)] = got
        return got

    def build(self, tm: torch.nn.Module) -> Module:
        got = self.modules.get(id(tm))
        if got is not None:
            return got
        kind = self.kinds[id(tm)]
        if kind == "stock":
            from ..init import _skip_draws

            with _skip_draws():  # every value is overwritten by torch's state right away
                jm = self.stock(tm)
        elif kind in ("container", "container_sub"):
            jm = self._container(tm, kind)
        else:
            jm = self._traced(tm)
        object.__setattr__(jm, "training", tm.training)
        table = self.tables.get(id(tm))
        if table is not None and table.random:
            # A model holding it needs a key (nn.Optimizer's step passes one only when
            # some class may draw: _random.may_draw_key); containers split theirs by position.
            type(jm)._uses_key = True
        frozen = frozenset(
            n for n, p in tm._parameters.items() if p is not None and not p.requires_grad
        )
        if frozen:
            object.__setattr__(jm, "_frozen", frozen)
        self.modules[id(tm)] = jm
        return jm

    def _children(self, tm: torch.nn.Module) -> OrderedDict:
        return OrderedDict((k, self.build(c)) for k, c in tm._modules.items() if c is not None)

    def _container(self, tm: torch.nn.Module, kind: str, base: type | None = None) -> Module:
        import jaxnn

        _no_own_state(tm)
        plain = {
            torch.nn.Sequential: jaxnn.Sequential,
            torch.nn.ModuleList: jaxnn.ModuleList,
            torch.nn.ModuleDict: jaxnn.ModuleDict,
        }
        torch_base = next(b for b in _CONTAINERS if isinstance(tm, b))
        cls = base or plain[torch_base]
        if kind != "container":
            cls = traced_class(type(tm).__name__, type(tm).__qualname__, cls, ())
        children = self._children(tm)
        if torch_base is torch.nn.ModuleList:
            return cls(list(children.values()))
        return cls(children)

    def _traced(self, tm: torch.nn.Module) -> Module:
        table = self.tables.get(id(tm))
        extra: Any = tm.extra_repr()
        if type(tm).__repr__ is not torch.nn.Module.__repr__:
            extra = ("repr", repr(tm))
        if isinstance(tm, _CONTAINERS):
            base = {
                torch.nn.Sequential: TracedSequential,
                torch.nn.ModuleList: TracedModuleList,
                torch.nn.ModuleDict: TracedModuleDict,
            }[next(b for b in _CONTAINERS if isinstance(tm, b))]
            jm = self._container(tm, "traced", base)
            object.__setattr__(jm, "_jaxnn_table", table)
            object.__setattr__(jm, "_jaxnn_extra", extra)
            return jm
        members: list[tuple[str, Any]] = []
        registered = []
        for name, p in tm._parameters.items():
            if p is not None:
                members.append((name, self.array(p, name)))
        for name, b in tm._buffers.items():
            if b is not None:
                members.append((name, self.array(b, name)))
                registered.append((name, name not in tm._non_persistent_buffers_set))
        for name, child in tm._modules.items():
            if child is not None:
                members.append((name, self.build(child)))
        _check_names(tm, [n for n, _ in members])
        cls = traced_class(
            type(tm).__name__, type(tm).__qualname__, TracedModule, tuple(n for n, _ in members)
        )
        jm = cls(members, table, extra)
        if registered:
            object.__setattr__(jm, "_registered_buffers", tuple(registered))
        return jm


def _no_own_state(tm: torch.nn.Module) -> None:
    own = [n for n, p in tm._parameters.items() if p is not None]
    own += [n for n, b in tm._buffers.items() if b is not None]
    if own:
        raise ConversionError(
            f"from_torch: {type(tm).__qualname__} is a container subclass with its own "
            f"parameters or buffers ({own}); jaxnn containers hold modules only. Move them "
            f"into a child module."
        )


def _check_names(tm: torch.nn.Module, names: list[str]) -> None:
    clash = [n for n in names if n != "self" and hasattr(TracedModule, n)]
    if clash:
        raise ConversionError(
            f"from_torch: {type(tm).__qualname__} has members named {clash}, which are methods or "
            f"attributes of every jaxnn Module; rename them in torch (and in the state_dict keys)."
        )


def tie(tm: torch.nn.Module, jm: Module) -> None:
    """One torch tensor placed twice (weight tying) is one jax array object placed twice:
    the contract with jaxnn's sharing, which keeps such an array one leaf."""
    from .. import _sharing
    from ._program import member

    first: dict[int, Any] = {}
    tied = False
    named = list(tm.named_parameters(remove_duplicate=False))
    named += list(tm.named_buffers(remove_duplicate=False))
    for name, t in named:
        owner_path, _, attr = name.rpartition(".")
        owner = jm.get_submodule(owner_path)
        if id(t) in first:
            if member(owner, attr) is not first[id(t)]:
                owner._set_member(attr, first[id(t)])
                tied = True
        else:
            first[id(t)] = member(owner, attr)
    if tied:  # share tables computed before the edit are stale (see _sharing)
        _sharing.new_epoch()


def check_same(tm: torch.nn.Module, jm: Module) -> None:
    if repr(jm) != repr(tm):
        raise ConversionError(
            f"from_torch: the converted model prints differently from torch's:\n{jm!r}\n"
            f"--- torch ---\n{tm!r}"
        )
    tkeys, jkeys = list(tm.state_dict()), list(jm.state_dict())
    if tkeys != jkeys:
        raise ConversionError(
            f"from_torch: state_dict keys differ from torch's: jaxnn has "
            f"{sorted(set(jkeys) - set(tkeys))} extra and lacks {sorted(set(tkeys) - set(jkeys))}."
        )
