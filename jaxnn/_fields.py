"""How a jaxnn Module's attributes become dataclass fields, without annotations.

A PyTorch user writes ``self.fc = nn.Linear(...)`` in ``__init__`` and never declares
``fc``. Equinox needs every field declared in the class body. The metaclass bridges the
two: it reads ``__init__``'s source once, at class creation, finds every ``self.NAME = ...``
(and ``self.register_buffer("NAME", ...)``), and declares the missing fields in
assignment order, which is also torch's registration order (so ``print`` and
``state_dict`` order match torch's).

A field that the class body did not declare with ``eqx.field``/``jaxnn.buffer`` gets an
``_AutoField`` descriptor that decides by value, at assignment: arrays and modules are
pytree children (parameters, buffers, submodules), anything else (``self.hidden_size =
20``) is boxed as static configuration, so ``jax.jit(f)(model)`` never turns an int
hyper-parameter into a tracer (DESIGN rule 3).
"""

from __future__ import annotations

import ast
import dataclasses
import dis
import inspect
import textwrap
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ._uninitialized import UninitializedTensorMixin

_KIND = "jaxnn_kind"


def buffer(*, persistent: bool = True, **kwargs: Any) -> Any:
    """Declare a buffer field: an array that is state, not a trained parameter.

    ``running_mean: Array | None = jaxnn.buffer()``. Buffers are in ``state_dict`` (unless
    ``persistent=False``), never in ``jaxnn.trainable``'s mask.
    """
    return eqx.field(metadata={_KIND: "buffer", "persistent": persistent}, **kwargs)


def parameter(**kwargs: Any) -> Any:
    """Declare a parameter field explicitly (array fields are parameters by default)."""
    return eqx.field(metadata={_KIND: "param"}, **kwargs)


def is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


class _Static:
    """A pytree node with no children: its value travels in the treedef, i.e. is static."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and _static_key(self.value) == _static_key(other.value)

    def __hash__(self) -> int:
        return hash(_static_key(self.value))

    def __repr__(self) -> str:
        return f"_Static({self.value!r})"


def _static_key(value: Any) -> Any:
    # jit's cache compares treedefs by hash and ==; an unhashable value (a list, a dict)
    # falls back to identity, so it recompiles when replaced rather than failing.
    try:
        hash(value)
    except TypeError:
        return ("__id__", id(value))
    return value


jax.tree_util.register_pytree_node(_Static, lambda s: ((), s.value), lambda v, _: _Static(v))


def _is_dynamic_value(value: Any) -> bool:
    """Arrays, modules, and containers holding them are pytree children; the rest is static.

    A lazy module's placeholder (``UninitializedParameter``) stands where an array will be.
    """
    if is_array(value) or isinstance(value, eqx.Module | UninitializedTensorMixin):
        return True
    if isinstance(value, tuple | list | dict):
        leaves = jax.tree_util.tree_leaves(value, is_leaf=lambda x: isinstance(x, eqx.Module))
        return any(is_array(v) or isinstance(v, eqx.Module) for v in leaves)
    return False


_NO_DEFAULT = object()


class _AutoField:
    """Data descriptor: stores dynamic values raw and static values boxed in ``__dict__``."""

    def __init__(self, name: str, default: Any = _NO_DEFAULT) -> None:
        self.name = name
        self.default = default

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            # Class access gives what a plain class attribute would: the default
            # (``BasicBlock.expansion`` in torchvision's ``planes * block.expansion``).
            if self.default is _NO_DEFAULT:
                raise AttributeError(
                    f"type object {objtype.__name__!r} has no attribute {self.name!r} (it is "
                    f"an attribute that instances set in __init__)"
                )
            return self.default
        try:
            value = obj.__dict__[self.name]
        except KeyError:
            if self.default is _NO_DEFAULT:
                raise AttributeError(self.name) from None
            return self.default
        return value.value if type(value) is _Static else value

    def __set__(self, obj: Any, value: Any) -> None:
        # Stored as given: JAX's unflatten (tree_map results, masks of bools) must round-trip
        # unchanged. Boxing of user assignments happens in ``Module.__setattr__`` (``box``).
        obj.__dict__[self.name] = value

    def __delete__(self, obj: Any) -> None:
        raise AttributeError(f"cannot delete field {self.name!r}")


def _auto_field(cls: type, name: str) -> _AutoField | None:
    """The ``_AutoField`` for ``name`` on ``cls`` or a base (class access gives the default)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            return found if isinstance(found, _AutoField) else None
    return None


def box(cls: type, name: str, value: Any) -> Any:
    """What a user assignment stores: static values of auto fields go in a ``_Static`` box."""
    if _auto_field(cls, name) is not None:
        if type(value) is not _Static and not _is_dynamic_value(value):
            return _Static(value)
    return value


_REGISTER_CALLS = ("register_buffer", "register_parameter", "add_module", "register_module")


def _assigned_names(init: Any) -> list[str]:
    """Names assigned as ``self.NAME = ...`` (or registered) in ``init``, in order.

    Read from the bytecode, which exists wherever the function does (a REPL, ``exec``, a
    notebook), and completed from the source when there is one (``self.x += ...``).
    """
    code = getattr(init, "__code__", None)
    if code is None or code.co_argcount == 0:
        return []
    names = _names_from_bytecode(code)
    for name in _names_from_source(init):
        if name not in names:
            names.append(name)
    return [n for n in names if not n.startswith("__")]


def _names_from_bytecode(code: Any) -> list[str]:
    self_name = code.co_varnames[0]
    names: list[str] = []
    prev: list[dis.Instruction] = []

    def loads_self(ins: dis.Instruction) -> bool:
        if ins.opname in ("LOAD_FAST", "LOAD_DEREF", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW"):
            return ins.argval == self_name
        if ins.opname.startswith("LOAD_FAST_") and isinstance(ins.argval, tuple):
            return ins.argval[-1] == self_name  # LOAD_FAST_LOAD_FAST (value, self)
        return False

    for ins in dis.get_instructions(code):
        if ins.opname == "STORE_ATTR" and prev and loads_self(prev[-1]):
            if ins.argval not in names:
                names.append(ins.argval)
        elif ins.opname == "LOAD_CONST" and isinstance(ins.argval, str) and len(prev) >= 2:
            method, obj = prev[-1], prev[-2]
            if (
                method.opname in ("LOAD_ATTR", "LOAD_METHOD")
                and method.argval in _REGISTER_CALLS
                and loads_self(obj)
            ):
                if ins.argval not in names:
                    names.append(ins.argval)
        prev = (prev + [ins])[-2:]
    return names


def _names_from_source(init: Any) -> list[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return []
    fn = tree.body[0] if tree.body else None
    if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or not fn.args.args:
        return []
    self_name = fn.args.args[0].arg
    found: list[tuple[tuple[int, int], str]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id == self_name:
                found.append(((node.lineno, node.col_offset), node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if (
                isinstance(f.value, ast.Name)
                and f.value.id == self_name
                and f.attr in _REGISTER_CALLS
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append(((node.lineno, node.col_offset), arg.value))
    names: list[str] = []
    for _, name in sorted(found):
        if name not in names:
            names.append(name)
    return names


def prepare_namespace(bases: tuple[type, ...], namespace: dict[str, Any]) -> list[str]:
    """Declare the fields ``__init__`` assigns; return the names needing an ``_AutoField``."""
    annotations = dict(namespace.get("__annotations__", {}))
    inherited: set[str] = set()
    for base in bases:
        for klass in base.__mro__:
            if dataclasses.is_dataclass(klass):
                inherited.update(f.name for f in dataclasses.fields(klass))
            inherited.update(klass.__dict__.keys())
    assigned = [
        n
        for n in _assigned_names(namespace.get("__init__"))
        if n not in inherited and not _is_class_member(namespace.get(n))
    ]
    order = [n for n in assigned] + [n for n in annotations if n not in assigned]
    new_annotations = {}
    for name in order:
        new_annotations[name] = annotations.get(name, Any)
    namespace["__annotations__"] = new_annotations
    auto = []
    for name, ann in new_annotations.items():
        if _is_classvar(ann):
            continue
        value = namespace.get(name, _NO_DEFAULT)
        if isinstance(value, dataclasses.Field):
            continue
        auto.append(name)
    return auto


def _is_class_member(value: Any) -> bool:
    return isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value)


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return "ClassVar" in text


def install_auto_fields(cls: type, names: list[str]) -> None:
    """Replace the class attributes of ``names`` with ``_AutoField`` descriptors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        f = fields.get(name)
        if f is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else _NO_DEFAULT
        setattr(cls, name, _AutoField(name, default))
