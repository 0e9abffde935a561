"""The replayable form of a traced torch ``forward``, and the modules that run it.

``from_torch`` traces each torch class that has its own ``forward`` (with ``torch.fx``, or
``torch.export`` when fx cannot) and turns the graph into a ``Program``: a list of
instructions over numbered slots, each a call into ``jaxnn.ops`` / ``jaxnn.functional``,
a call of a child module, or a read of a parameter or buffer. A generated module class
with the torch class's name (``BasicBlock``, ``BertSelfAttention``) holds the same
parameters, buffers and children as the torch module and replays its programs in
``forward``.

Nothing here imports torch: a converted model runs on JAX alone. Everything Python in
the traced code (``self.training`` branches, constant attributes, argument values that
are not tensors) was fixed at trace time, so a module keeps one program per training
mode and per call signature, and a call that matches none raises.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._container import ModuleDict, ModuleList, Sequential
from .._module import Module
from .._random import check_key, draw_forward_key, forward_key
from .._state import current as _current_buffer

__all__ = ["Program", "ProgramTable", "TracedModule", "traced_class"]


class Ref:
    """A reference to slot ``slot`` of a program's environment."""

    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot

    def __repr__(self) -> str:
        return f"%{self.slot}"


class Build:
    """A structured value rebuilt at replay: ``build(*items)`` (namedtuple, output class)."""

    __slots__ = ("build", "items")

    def __init__(self, build: Callable[..., Any], items: tuple) -> None:
        self.build = build
        self.items = items


def resolve(template: Any, env: list[Any]) -> Any:
    """Replace the ``Ref``s in a nested argument template by their values."""
    t = type(template)
    if t is Ref:
        return env[template.slot]
    if t is tuple:
        return tuple(resolve(v, env) for v in template)
    if t is list:
        return [resolve(v, env) for v in template]
    if t is dict:
        return {k: resolve(v, env) for k, v in template.items()}
    if t is slice:
        return slice(
            resolve(template.start, env), resolve(template.stop, env), resolve(template.step, env)
        )
    if t is Build:
        return template.build(*(resolve(v, env) for v in template.items))
    return template


def has_refs(template: Any) -> bool:
    t = type(template)
    if t is Ref:
        return True
    if t in (tuple, list):
        return any(has_refs(v) for v in template)
    if t is dict:
        return any(has_refs(v) for v in template.values())
    if t is slice:
        return has_refs(template.start) or has_refs(template.stop) or has_refs(template.step)
    if t is Build:
        return any(has_refs(v) for v in template.items)
    return False


def is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def structure(value: Any, is_tensor: Callable[[Any], bool] = is_array) -> Any:
    """The static part of an argument: its nesting and every non-tensor value.

    Two calls with equal structures run the same program; tensors enter as placeholders.
    The same function describes torch's recorded calls (``is_tensor`` = torch's check).
    """
    if is_tensor(value):
        return "T"
    if isinstance(value, tuple | list):
        kind = (
            type(value).__name__
            if hasattr(value, "_fields")
            else ("list" if isinstance(value, list) else "tuple")
        )
        return (kind, tuple(structure(v, is_tensor) for v in value))
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return ("c", "dtype", np.dtype(value).name)
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, structure(v, is_tensor)) for k, v in value.items())))
    if value is None or isinstance(value, bool | int | float | str | complex):
        return ("c", type(value).__name__, value)
    try:
        hash(value)
    except TypeError:
        return ("o", type(value).__qualname__, id(value))
    return ("o", type(value).__qualname__, value)


def signature_key(arguments: dict[str, Any], is_tensor: Callable[[Any], bool] = is_array) -> tuple:
    return tuple((name, structure(v, is_tensor)) for name, v in arguments.items())


def describe_key(key: tuple) -> str:
    """A readable form of a signature key for error messages."""

    def show(s: Any) -> str:
        if s == "T":
            return "Tensor"
        kind = s[0]
        if kind == "c":
            return repr(s[2])
        if kind == "dict":
            return "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in s[1]) + "}"
        if kind in ("tuple", "list"):
            inner = ", ".join(show(v) for v in s[1])
            return f"({inner})" if kind == "tuple" else f"[{inner}]"
        return f"<{s[1]}>"

    return ", ".join(f"{name}={show(s)}" for name, s in key)


class Instr:
    """One step of a program. ``op`` is 'call', 'module', 'attr' or 'const'."""

    __slots__ = ("alias", "args", "fn", "key_arg", "kwargs", "op", "out", "where")

    def __init__(
        self,
        op: str,
        fn: Any,
        args: tuple = (),
        kwargs: dict | None = None,
        out: int = -1,
        *,
        key_arg: str | None = None,
        alias: tuple[int, ...] = (),
        where: str = "",
    ) -> None:
        self.op = op
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.out = out
        self.key_arg = key_arg
        self.alias = alias
        self.where = where

    def __repr__(self) -> str:
        fn = getattr(self.fn, "__name__", self.fn)
        return f"%{self.out} = {self.op} {fn}{self.args!r} {self.kwargs!r}"


def get_path(module: Module, path: tuple[str, ...]) -> Any:
    for name in path:
        module = (
            dict(module._all_children())[name] if _is_container(module) else getattr(module, name)
        )
    return module


def _is_container(module: Any) -> bool:
    return isinstance(module, Sequential | ModuleList | ModuleDict)


def member(module: Module, name: str) -> Any:
    """A parameter or buffer of ``module`` as this forward pass sees it."""
    for n, value, kind in module._named_members_own():
        if n == name and kind != "module":
            return _current_buffer(module, name, value) if kind.startswith("buffer") else value
    raise AttributeError(f"{module._get_name()} has no parameter or buffer {name!r}")


class ShapeCheck:
    """What torch.export proved about the inputs: fixed sizes, ranges of the dynamic ones.

    ``dims[i]`` is ``(path, [int | symbol name, ...])`` per tensor input; ``ranges`` maps a
    symbol to ``(lo, hi)``. A call outside them would run a graph that torch specialised
    for other sizes, so it raises instead.
    """

    __slots__ = ("dims", "ranges")

    def __init__(
        self, dims: list[tuple[int, list[Any]]], ranges: dict[str, tuple[int, Any]]
    ) -> None:
        self.dims = dims
        self.ranges = ranges

    def check(self, env: list[Any], where: str) -> dict[str, int]:
        values: dict[str, int] = {}
        for slot, dims in self.dims:
            shape = tuple(jnp.shape(env[slot]))
            if len(shape) != len(dims):
                raise ValueError(
                    f"{where}: input {slot} has shape {shape}, but the model was traced with "
                    f"{len(dims)}-d inputs here; convert again with example inputs of this rank."
                )
            for d, (size, want) in enumerate(zip(shape, dims, strict=True)):
                if isinstance(want, int):
                    if size != want:
                        raise ValueError(
                            f"{where}: dimension {d} of an input is {size}, but torch.export "
                            f"specialised it to {want} (the traced code requires that size). "
                            f"Input shape {shape}."
                        )
                    continue
                seen = values.setdefault(want, size)
                if seen != size:
                    raise ValueError(
                        f"{where}: dimension {d} of an input is {size}, but the traced code "
                        f"requires it to equal another input dimension that is {seen}."
                    )
                lo, hi = self.ranges.get(want, (0, None))
                if size < lo or (hi is not None and size > hi):
                    raise ValueError(
                        f"{where}: dimension {d} of an input is {size}, outside the range "
                        f"[{lo}, {hi if hi is not None else 'inf'}] torch.export found valid for "
                        f"it (the traced code branches on this size). Input shape {shape}."
                    )
        return values


class Program:
    """A traced forward: inputs bound by path, instructions, an output template."""

    def __init__(
        self,
        inputs: list[tuple[int, tuple]],
        instrs: list[Instr],
        output: Any,
        nslots: int,
        *,
        source: str,
        shape_check: ShapeCheck | None = None,
    ) -> None:
        self.inputs = inputs
        self.instrs = instrs
        self.output = output
        self.nslots = nslots
        self.source = source
        self.shape_check = shape_check
        self.random = any(i.key_arg for i in instrs)
        # Inputs this program changes in place (torch's caller would see the change).
        self.mutated_inputs: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        lines = [f"Program({self.source}, inputs={self.inputs})"]
        lines += [f"  {i!r}" for i in self.instrs]
        lines.append(f"  return {self.output!r}")
        return "\n".join(lines)

    def execute(self, module: Module, arguments: dict[str, Any], key: Any, where: str) -> Any:
        env: list[Any] = [None] * self.nslots
        for slot, path in self.inputs:
            value = arguments[path[0]]
            for p in path[1:]:
                value = value[p]
            env[slot] = value
        if self.shape_check is not None:
            self.shape_check.check(env, where)
        keys = self._keys(key)
        for n, ins in enumerate(self.instrs):
            try:
                self._step(module, ins, env, keys.get(n) if keys else None, where)
            except Exception as e:
                if hasattr(e, "add_note") and not getattr(e, "_jaxnn_noted", False):
                    e.add_note(f"(jaxnn: while replaying {ins.where or ins!r} in {where})")
                    e._jaxnn_noted = True  # type: ignore[attr-defined]
                raise
        return resolve(self.output, env)

    def _keys(self, key: Any) -> dict[int, Any] | None:
        if key is None:
            return None
        # As jaxnn's containers do: every child call and every random draw gets its own
        # subkey, split by position, so a child's key does not depend on what the others
        # are (and a child whose forward takes key= or calls F.dropout gets one).
        consumers = [n for n, ins in enumerate(self.instrs) if ins.key_arg or ins.op == "module"]
        if not consumers:
            return None
        return dict(zip(consumers, jax.random.split(key, len(consumers)), strict=True))

    @staticmethod
    def _step(module: Module, ins: Instr, env: list[Any], key: Any, where: str) -> None:
        op = ins.op
        if op == "call":
            args = resolve(ins.args, env)
            kwargs = resolve(ins.kwargs, env)
            if ins.key_arg is not None:
                if key is None:
                    raise ValueError(
                        f"{where}: {ins.where} draws random numbers in training mode and needs "
                        f"a PRNG key: call the model as model(x, key=jax.random.key(0)) (a fresh "
                        f"key every step), or model.eval() for inference."
                    )
                kwargs[ins.key_arg] = key
            out = ins.fn(*args, **kwargs)
        elif op == "module":
            child = get_path(module, ins.fn)
            args = resolve(ins.args, env)
            kwargs = resolve(ins.kwargs, env)
            # Every child call gets its own key scope: a child that needs randomness draws
            # from its share of the key, one that was given none cannot see the parent's.
            with forward_key(key):
                out = child(*args, **kwargs)
        elif op == "attr":
            path, name = ins.fn
            out = member(get_path(module, path), name)
        elif op == "const":
            out = jnp.asarray(ins.fn)
        else:  # pragma: no cover - programs are built by this package only
            raise AssertionError(op)
        env[ins.out] = out
        for slot in ins.alias:  # torch changed these tensors in place: they now hold `out`
            env[slot] = out


class ProgramTable:
    """The programs of one converted module, by training mode and call signature.

    A static field of the generated module; compared by identity, so ``jax.jit`` caches
    on it like on any other configuration.
    """

    def __init__(self, name: str, signature: inspect.Signature, prng_name: str) -> None:
        self.name = name
        self.signature = signature
        self.prng_name = prng_name
        self.programs: dict[tuple[bool, tuple], Program] = {}
        self.failed_modes: dict[bool, str] = {}  # mode -> why the example call failed in it

    def add(self, training: bool, key: tuple, program: Program) -> None:
        self.programs.setdefault((training, key), program)

    @property
    def random(self) -> bool:
        return any(p.random for p in self.programs.values())

    def bind(self, args: tuple, kwargs: dict[str, Any]) -> OrderedDict:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}.forward{self.signature}: {e}") from None
        bound.apply_defaults()
        return bound.arguments

    def run(self, module: Module, args: tuple, kwargs: dict[str, Any]) -> Any:
        prng = kwargs.pop(self.prng_name, None)
        if prng is not None:
            prng = check_key(prng, self.prng_name)
        arguments = self.bind(args, kwargs)
        key = signature_key(arguments)
        program = self.programs.get((module.training, key))
        if program is None:
            raise self._missing(module.training, key)
        if prng is None:
            prng = draw_forward_key()
        return program.execute(module, arguments, prng, self.name)

    def _missing(self, training: bool, key: tuple) -> Exception:
        mode = "training" if training else "eval"
        if training in self.failed_modes:
            return TypeError(
                f"{self.name} has no {mode}-mode program: the example call failed in torch in "
                f"{mode} mode while from_torch traced it ({self.failed_modes[training]}). "
                f"Convert again with example inputs that torch accepts in both modes (a batch "
                f">= 2 for BatchNorm)."
            )
        known = [f"  {'training' if t else 'eval'}: ({describe_key(k)})" for t, k in self.programs]
        return TypeError(
            f"{self.name} was called in {mode} mode with ({describe_key(key)}), but from_torch "
            f"traced its forward only for:\n" + ("\n".join(known) or "  (no call)") + "\n"
            "Python values in a forward (flags, None, ints) are fixed when it is traced. "
            "Convert again with example inputs that make this call "
            "(nn.from_torch(model, example_inputs=..., example_kwargs=...))."
        )


class _Traced:
    """Shared behaviour of generated modules: ``forward`` replays the traced programs."""

    _jaxnn_table: Any
    _jaxnn_extra: str

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        table = self._jaxnn_table
        if table is None or not table.programs:
            raise TypeError(
                f"{self._get_name()}.forward was never called while from_torch traced the "
                f"model, so there is no program to run. Convert the module itself with an "
                f"example: nn.from_torch(torch_module, example_inputs=(...))."
            )
        return table.run(self, args, kwargs)

    def extra_repr(self) -> str:
        extra = self._jaxnn_extra
        return extra if isinstance(extra, str) else ""

    def __repr__(self) -> str:
        # A torch class that overrides __repr__ itself (torchvision's StochasticDepth)
        # prints that text: it is kept whole, as ("repr", text).
        extra = self._jaxnn_extra
        if isinstance(extra, tuple):
            return extra[1]
        return Module.__repr__(self)


class TracedModule(_Traced, Module):
    """Base of the classes ``from_torch`` generates for torch classes with their own forward.

    Fields are the torch module's parameters, buffers and children under the same names;
    ``forward`` replays the traced torch forward (see ``Program``).
    """

    _jaxnn_table: Any = eqx.field(static=True, default=None)
    _jaxnn_extra: str = eqx.field(static=True, default="")

    def __init__(self, members: list[tuple[str, Any]], table: Any = None, extra: str = "") -> None:
        for name, value in members:
            setattr(self, name, value)
        self._jaxnn_table = table
        self._jaxnn_extra = extra


def _traced_container(base: type) -> type:
    namespace = {
        "__module__": __name__,
        "__annotations__": {"_jaxnn_table": Any, "_jaxnn_extra": str},
        "_jaxnn_table": eqx.field(static=True, default=None),
        "_jaxnn_extra": eqx.field(static=True, default=""),
        "__doc__": f"A generated subclass of jaxnn.{base.__name__} with a traced forward.",
    }
    return type(base)(f"Traced{base.__name__}", (_Traced, base), namespace)


TracedSequential = _traced_container(Sequential)
TracedModuleList = _traced_container(ModuleList)
TracedModuleDict = _traced_container(ModuleDict)

_CLASSES: dict[tuple, type] = {}


def traced_class(name: str, qualname: str, base: type, fields: tuple[str, ...]) -> type:
    """The generated class named like the torch class, with these fields (cached)."""
    cache_key = (name, qualname, base, fields)
    cls = _CLASSES.get(cache_key)
    if cls is None:
        namespace: dict[str, Any] = {"__module__": "jaxnn.interop.traced", "__qualname__": qualname}
        if base is TracedModule:
            namespace["__annotations__"] = dict.fromkeys(fields, Any)
            namespace["__init__"] = TracedModule.__init__
        cls = type(base)(name, (base,), namespace)
        _CLASSES[cache_key] = cls
    return cls
