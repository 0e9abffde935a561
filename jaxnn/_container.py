"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict.

All five keep their entries as ``(name -> slot)`` static tables over one tuple of stored
objects, so a module placed twice is stored once (DESIGN rule 8): its gradient sums both
uses and an optimizer step keeps it one module. The tuple, not a dict, keeps the user's
order through JAX's flatten/unflatten (JAX sorts dict keys).

Where torch is weak we do better and the README lists it (DESIGN rule 10): deleting from
a Sequential keeps the user's names (only positional names are renumbered), ``insert``
works on a named Sequential, and ``*=`` works on one.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import equinox as eqx
import jax

from ._module import (
    Module,
    _addindent,
    _check_module,
    _DynamicChildren,
    _to_array,
    check_mutable,
    check_no_hidden_sharing,
)
from ._random import check_key


def _check_module_name(name: Any) -> None:
    """torch's ``add_module`` rule: a name is a non-empty str without '.' (a state_dict key
    part), raised with torch's exception types."""
    if not isinstance(name, str):
        raise TypeError(
            f"module name should be a string. Got {type(name).__name__} {name!r}; "
            f"use e.g. {str(name)!r}."
        )
    if "." in name or name == "":
        raise KeyError(
            f'module name can\'t contain ".", or be empty, got: {name!r}; use e.g. '
            f"{name.replace('.', '_') or 'layer'!r}."
        )


class _Container(Module, _DynamicChildren):
    """Ordered ``name -> object`` entries stored once per object."""

    _items: tuple
    _keys: tuple = eqx.field(static=True)
    _slots: tuple = eqx.field(static=True)

    _holds = "module"  # or "param"

    def __init__(self) -> None:
        self._items = ()
        self._keys = ()
        self._slots = ()

    # -- storage
    def _entries(self) -> list[tuple[str, Any]]:
        items = self._items
        return [(k, items[s]) for k, s in zip(self._keys, self._slots, strict=True)]

    def _check_item(self, value: Any) -> Any:
        if self._holds == "module":
            _check_module(value)
            return value
        return _to_array(value, "parameter")

    def _set_entries(self, entries: list[tuple[str, Any]], verb: str) -> None:
        """Replace all entries in place (guarded); shared objects are stored once."""
        values = [v for _, v in entries]
        check_mutable(self, verb, [v for v in values if isinstance(v, jax.Array)])
        keys = tuple(k for k, _ in entries)
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise KeyError(
                f"{self._get_name()} would hold two entries named {dup!r}; names must be unique."
            )
        items: list[Any] = []
        index: dict[int, int] = {}
        slots = []
        for v in values:
            slot = index.get(id(v)) if self._holds == "module" else None
            if slot is None:
                slot = len(items)
                index[id(v)] = slot
                items.append(v)
            slots.append(slot)
        d = self.__dict__
        old = (d.get("_items"), d.get("_keys"), d.get("_slots"))
        object.__setattr__(self, "_items", tuple(items))
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_slots", tuple(slots))
        if self._holds == "module":
            try:
                check_no_hidden_sharing(self)
            except ValueError:
                object.__setattr__(self, "_items", old[0])
                object.__setattr__(self, "_keys", old[1])
                object.__setattr__(self, "_slots", old[2])
                raise

    # -- Module hooks
    def _named_members_own(self) -> Iterator[tuple[str, Any, str]]:
        kind = "module" if self._holds == "module" else "param"
        for k, v in self._entries():
            if v is not None:
                yield k, v, kind

    def _stored_members(self) -> Iterator[tuple[str, Any, str]]:
        kind = "module" if self._holds == "module" else "param"
        first: dict[int, str] = {}
        for k, s in zip(self._keys, self._slots, strict=True):
            first.setdefault(s, k)
        for s, k in sorted(first.items()):
            if self._items[s] is not None:
                yield k, self._items[s], kind

    def _stored_children(self) -> Iterator[tuple[str, Module]]:
        if self._holds == "module":
            for k, v, _ in self._stored_members():
                yield k, v

    def _set_member(self, name: str, value: Any) -> None:
        slot = self._slots[self._keys.index(name)]
        items = list(self._items)
        items[slot] = value
        object.__setattr__(self, "_items", tuple(items))

    def add_module(self, name: str, module: Module | None) -> None:
        _check_module_name(name)
        _check_module(module, allow_none=True)
        entries = self._entries()
        for i, (k, _) in enumerate(entries):
            if k == name:
                entries[i] = (name, module)
                break
        else:
            entries.append((name, module))
        self._set_entries(entries, f"add_module({name!r}, ...)")

    register_module = add_module

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: named children as attributes (model.h1).
        if name.startswith("_"):
            raise AttributeError(name)
        d = object.__getattribute__(self, "__dict__")
        keys = d.get("_keys", ())
        if name in keys:
            return d["_items"][d["_slots"][keys.index(name)]]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        entries = self._entries()
        if name not in dict(entries):
            raise AttributeError(name)
        self._set_entries([(k, v) for k, v in entries if k != name], f"del .{name}")

    def __len__(self) -> int:
        return len(self._keys)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._keys if k.isidentifier()})

    def _index(self, idx: Any) -> int:
        size = len(self)
        try:
            idx = operator.index(idx)
        except TypeError:
            raise TypeError(
                f"{self._get_name()} indices must be integers or slices, not {type(idx).__name__}"
            ) from None
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range for {self._get_name()} of length {size}")
        return idx % size


def _is_position(name: str) -> bool:
    return name.isdigit()


def _renumber(entries: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Positional (digit) names take their new index; user names are kept."""
    out = []
    taken = {k for k, _ in entries if not _is_position(k)}
    for i, (k, v) in enumerate(entries):
        if _is_position(k):
            new = str(i)
            while new in taken:
                new = new + "_"
            k = new
        out.append((k, v))
    return out


class Sequential(_Container):
    """A sequential container: modules run in the order they were added.

    Takes modules positionally (named ``"0"``, ``"1"``, ...) or one ``OrderedDict`` of
    named modules. ``forward`` feeds each module's output to the next. ``key=`` is split
    by position: child ``i`` is called with ``jax.random.split(key, len(self))[i]`` (its
    forward gets it as ``key=`` if it takes one; otherwise the random layers and
    ``F.dropout`` calls inside it draw from it).

    >>> import jaxnn as nn
    >>> from collections import OrderedDict
    >>> model = nn.Sequential(OrderedDict([("h1", nn.Linear(784, 32)), ("relu1", nn.ReLU())]))
    >>> model[1] = nn.Sigmoid()
    >>> model
    Sequential(
      (h1): Linear(in_features=784, out_features=32, bias=True)
      (relu1): Sigmoid()
    )
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            entries = list(args[0].items())
        else:
            if len(args) == 1 and isinstance(args[0], Mapping):
                raise TypeError(
                    "Sequential takes modules or one OrderedDict; a plain dict is accepted by "
                    "torch only as OrderedDict: nn.Sequential(OrderedDict(d))."
                )
            entries = [(str(i), m) for i, m in enumerate(args)]
        for k, m in entries:
            _check_module_name(k)
            _check_module(m)
        self._set_entries(entries, "__init__")

    def forward(self, input: Any, *, key: jax.Array | None = None) -> Any:
        children = [m for _, m in self._entries()]
        keys = _split_for(children, key)
        for module, k in zip(children, keys, strict=True):
            input = module(input) if k is None else module(input, key=k)
        return input

    def __getitem__(self, idx: int | slice) -> Any:
        entries = self._entries()
        if isinstance(idx, slice):
            return type(self)(OrderedDict(entries[idx]))
        return entries[self._index(idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        i = self._index(idx)
        _check_module(module)
        entries = self._entries()
        entries[i] = (entries[i][0], module)
        self._set_entries(entries, f"[{idx}] = ...")

    def __delitem__(self, idx: int | slice) -> None:
        entries = self._entries()
        if isinstance(idx, slice):
            drop = set(range(len(entries))[idx])
        else:
            drop = {self._index(idx)}
        kept = [e for i, e in enumerate(entries) if i not in drop]
        self._set_entries(_renumber(kept), f"del [{idx}]")

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in self._entries()])

    def append(self, module: Module) -> Sequential:
        _check_module(module)
        self._set_entries(self._entries() + [(self._free_name(len(self)), module)], "append")
        return self

    def _free_name(self, i: int) -> str:
        name = str(i)
        while name in self._keys:
            name += "_"
        return name

    def insert(self, index: int, module: Module) -> Sequential:
        _check_module(module)
        n = len(self)
        if not isinstance(index, int) or not -n <= index <= n:
            raise IndexError(
                f"Index out of range: {index} (Sequential of length {n}; valid: {-n}..{n})"
            )
        if index < 0:
            index += n
        entries = self._entries()
        entries.insert(index, (str(index), module))
        # The inserted module is positional; renumber the positional names after it.
        self._set_entries(_renumber_with_new(entries, index), "insert")
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        modules = list(sequential)
        for m in modules:
            _check_module(m)
        entries = self._entries()
        for m in modules:
            entries.append((str(len(entries)), m))
        self._set_entries(_renumber(entries), "extend")
        return self

    def pop(self, key: int | slice) -> Any:
        v = self[key]
        del self[key]
        return v

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        return Sequential(*list(self), *list(other))

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        return self.extend(list(other))

    def __mul__(self, other: int) -> Sequential:
        n = _check_repeat(other)
        return Sequential(*(list(self) * n))

    __rmul__ = __mul__

    def __imul__(self, other: int) -> Sequential:
        n = _check_repeat(other)
        entries = self._entries()
        extra = [
            (str(len(entries) * (r + 1) + i), m)
            for r in range(n - 1)
            for i, (_, m) in enumerate(entries)
        ]
        self._set_entries(_renumber(entries + extra), "*=")
        return self


def _renumber_with_new(entries: list[tuple[str, Any]], new_index: int) -> list[tuple[str, Any]]:
    out = []
    taken = {k for i, (k, _) in enumerate(entries) if not _is_position(k) and i != new_index}
    for i, (k, v) in enumerate(entries):
        if i == new_index or _is_position(k):
            k = str(i)
            while k in taken:
                k += "_"
        out.append((k, v))
    return out


def _check_repeat(other: Any) -> int:
    if not isinstance(other, int) or isinstance(other, bool):
        raise TypeError(f"unsupported operand type(s) for *: {type(other)} is not an int")
    if other <= 0:
        raise ValueError(f"Non-positive multiplication factor {other} for Sequential")
    return other


def _split_for(children: list[Module], key: jax.Array | None) -> list[jax.Array | None]:
    """Child ``i`` gets ``jax.random.split(key, len(children))[i]``; no key, no keys.

    Every child gets its subkey, not only the ones known to be random: a user's layer may
    take ``key`` in its forward (noise, stochastic depth) or call ``F.dropout`` inside it,
    and a split by position keeps each child's key independent of what the others are.
    """
    if key is None or not children:
        return [None] * len(children)
    return list(jax.random.split(check_key(key), len(children)))


class ModuleList(_Container):
    """Holds submodules in a list, indexed like a list and registered like torch's.

    >>> import jaxnn as nn
    >>> layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
    >>> layers.append(nn.ReLU())
    ModuleList(
      (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)
      (3): ReLU()
    )
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        entries = self._entries()
        if isinstance(idx, slice):
            return type(self)([m for _, m in entries[idx]])
        return entries[self._index(idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        i = self._index(idx)
        _check_module(module)
        entries = self._entries()
        entries[i] = (entries[i][0], module)
        self._set_entries(entries, f"[{idx}] = ...")

    def __delitem__(self, idx: int | slice) -> None:
        entries = self._entries()
        drop = set(range(len(entries))[idx]) if isinstance(idx, slice) else {self._index(idx)}
        kept = [m for i, (_, m) in enumerate(entries) if i not in drop]
        self._set_entries([(str(i), m) for i, m in enumerate(kept)], f"del [{idx}]")

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in self._entries()])

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*list(self), *list(other)])

    def insert(self, index: int, module: Module) -> None:
        _check_module(module)
        mods = list(self)
        mods.insert(index, module)
        self._set_entries([(str(i), m) for i, m in enumerate(mods)], "insert")

    def append(self, module: Module) -> ModuleList:
        _check_module(module)
        self._set_entries(self._entries() + [(str(len(self)), module)], "append")
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable) or (
            isinstance(modules, Module) and not isinstance(modules, _Container)
        ):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got "
                + type(modules).__name__
            )
        mods = list(modules)
        for m in mods:
            _check_module(m)
        n = len(self)
        self._set_entries(self._entries() + [(str(n + i), m) for i, m in enumerate(mods)], "extend")
        return self

    def pop(self, key: int | slice) -> Any:
        v = self[key]
        del self[key]
        return v

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "ModuleList is not callable: it has no forward. Iterate over it in your module's "
            "forward (for layer in self.layers: x = layer(x)), or use nn.Sequential."
        )

    def __repr__(self) -> str:
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        blocks: list[list[Any]] = []
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            local = (
                f"({start}): {r}" if start == end else f"({start}-{end}): {end - start + 1} x {r}"
            )
            lines.append(_addindent(local, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(_Container):
    """Holds submodules in an ordered dict, with torch's dict API.

    >>> import jaxnn as nn
    >>> d = nn.ModuleDict({"conv": nn.Identity(), "act": nn.ReLU()})
    >>> list(d.keys())
    ['conv', 'act']
    """

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        entries = dict(self._entries())
        if key not in entries:
            raise KeyError(key)
        return entries[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        entries = self._entries()
        if key not in dict(entries):
            raise KeyError(key)
        self._set_entries([(k, v) for k, v in entries if k != key], f"del [{key!r}]")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def clear(self) -> None:
        self._set_entries([], "clear")

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    def keys(self) -> list[str]:
        return list(self._keys)

    def items(self) -> list[tuple[str, Module]]:
        return self._entries()

    def values(self) -> list[Module]:
        return [v for _, v in self._entries()]

    def update(self, modules: Any) -> None:
        entries = _mapping_entries(modules, "ModuleDict")
        current = self._entries()
        index = {k: i for i, (k, _) in enumerate(current)}
        for k, m in entries:
            _check_module_name(k)
            _check_module(m)
            if k in index:
                current[index[k]] = (k, m)
            else:
                index[k] = len(current)
                current.append((k, m))
        self._set_entries(current, "update")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict is not callable: index it (self.blocks['name'](x)).")


def _mapping_entries(items: Any, owner: str) -> list[tuple[str, Any]]:
    if isinstance(items, Mapping | _Container) and hasattr(items, "items"):
        return list(items.items())
    if not isinstance(items, Iterable):
        raise TypeError(
            f"{owner}.update should be called with an iterable of key/value pairs, but got {type(items).__name__}"
        )
    out = []
    for j, pair in enumerate(items):
        if not isinstance(pair, Iterable) or isinstance(pair, str):
            raise TypeError(
                f"{owner} update sequence element #{j} should be Iterable; is {type(pair).__name__}"
            )
        pair = tuple(pair)
        if len(pair) != 2:
            raise ValueError(
                f"{owner} update sequence element #{j} has length {len(pair)}; 2 is required"
            )
        out.append(pair)
    return out


_TORCH_DTYPES = {
    "float32": ("torch.float32", "torch.FloatTensor"),
    "float64": ("torch.float64", "torch.DoubleTensor"),
    "float16": ("torch.float16", "torch.HalfTensor"),
    "bfloat16": ("torch.bfloat16", "torch.BFloat16Tensor"),
    "int32": ("torch.int32", "torch.IntTensor"),
    "int64": ("torch.int64", "torch.LongTensor"),
    "bool": ("torch.bool", "torch.BoolTensor"),
}


def _param_lines(entries: list[tuple[str, Any]], typename: bool) -> str:
    # torch: ParameterList prints the dtype, ParameterDict torch.typename (FloatTensor).
    lines = []
    for k, p in entries:
        names = _TORCH_DTYPES.get(str(p.dtype), (str(p.dtype), str(p.dtype)))
        size = "x".join(str(s) for s in p.shape)
        lines.append(f"  ({k}): Parameter containing: [{names[typename]} of size {size}]")
    return "\n".join(lines)


class ParameterList(_Container):
    """A list of parameters (arrays), registered as ``"0"``, ``"1"``, ...

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.ParameterList([jnp.zeros(3), jnp.ones((2, 2))])
    ParameterList(
        (0): Parameter containing: [torch.float32 of size 3]
        (1): Parameter containing: [torch.float32 of size 2x2]
    )
    """

    _holds = "param"

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx: int | slice) -> Any:
        entries = self._entries()
        if isinstance(idx, slice):
            return type(self)([v for _, v in entries[idx]])
        return entries[self._index(idx)][1]

    def __setitem__(self, idx: int, param: Any) -> None:
        i = self._index(idx)
        entries = self._entries()
        entries[i] = (entries[i][0], self._check_item(param))
        self._set_entries(entries, f"[{idx}] = ...")

    def __iter__(self) -> Iterator[Any]:
        return iter([v for _, v in self._entries()])

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def append(self, value: Any) -> ParameterList:
        self._set_entries(self._entries() + [(str(len(self)), self._check_item(value))], "append")
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, jax.Array):
            raise TypeError(
                "ParameterList.extend should be called with an iterable, but got "
                + type(values).__name__
            )
        n = len(self)
        new = [(str(n + i), self._check_item(v)) for i, v in enumerate(values)]
        self._set_entries(self._entries() + new, "extend")
        return self

    def extra_repr(self) -> str:
        return _param_lines(self._entries(), typename=False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterList is not callable.")


class ParameterDict(_Container):
    """An ordered dict of parameters (arrays) with torch's dict API.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> p = nn.ParameterDict({"scale": jnp.ones(2)})
    >>> list(p.keys()), p["scale"].shape
    (['scale'], (2,))
    """

    _holds = "param"

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        entries = dict(self._entries())
        if key not in entries:
            raise KeyError(key)
        return entries[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update([(key, value)])

    def __delitem__(self, key: str) -> None:
        entries = self._entries()
        if key not in dict(entries):
            raise KeyError(key)
        self._set_entries([(k, v) for k, v in entries if k != key], f"del [{key!r}]")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> list[str]:
        return list(self._keys)

    def items(self) -> list[tuple[str, Any]]:
        return self._entries()

    def values(self) -> list[Any]:
        return [v for _, v in self._entries()]

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        self._set_entries([], "clear")

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self._entries()).get(key, default)

    def update(self, parameters: Any) -> None:
        entries = _mapping_entries(parameters, "ParameterDict")
        current = self._entries()
        index = {k: i for i, (k, _) in enumerate(current)}
        for k, v in entries:
            v = self._check_item(v)
            if k in index:
                current[index[k]] = (k, v)
            else:
                index[k] = len(current)
                current.append((k, v))
        self._set_entries(current, "update")

    def extra_repr(self) -> str:
        return _param_lines(self._entries(), typename=True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterDict is not callable.")
