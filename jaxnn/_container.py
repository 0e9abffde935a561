"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict.

All five keep their entries as a static tuple of names beside one tuple of stored objects
(the tuple, not a dict, keeps the user's order through JAX's flatten/unflatten: JAX sorts
dict keys). An object placed twice, here or anywhere else in the model, is one object:
``_sharing`` stores it once in the pytree (DESIGN rule 8).

Where torch is weak we do better and the README lists it (DESIGN rule 10): deleting from
a Sequential keeps the user's names (only positional names are renumbered), ``insert``
works on a named Sequential, and ``*=`` works on one.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax

from . import _sharing
from ._module import (
    Module,
    _addindent,
    _adopt_grad_flag,
    _check_module,
    _DynamicChildren,
    _forget_grad_flag,
    _to_array,
    check_mutable,
)
from ._random import check_key

# Attributes of torch's containers that jaxnn's lack (hooks, torch internals, a few dict
# methods): torch refuses them as entry names ("attribute 'cuda' already exists"), and so
# does jaxnn, besides its own attribute names. tests/core/test_containers.py checks the
# lists against the installed torch.
_TORCH_MODULE_ATTRS = frozenset(
    """T_destination __setstate__ _apply _backward_hooks _backward_pre_hooks _buffers _call_impl
    _compiled_call_impl _forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs
    _forward_pre_hooks _forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks
    _is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
    _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
    _register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward
    _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl call_super_init compile
    cuda dump_patches get_extra_state ipu mtia register_backward_hook register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_state_dict_post_hook register_state_dict_pre_hook set_extra_state set_submodule
    share_memory to_empty type xpu""".split()
)


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
    """Ordered ``name -> object`` entries."""

    _items: tuple
    _keys: tuple = eqx.field(static=True)

    _holds = "module"  # or "param"
    _torch_attrs: ClassVar[frozenset] = _TORCH_MODULE_ATTRS

    def __init__(self) -> None:
        self._items = ()
        self._keys = ()

    # -- storage
    def _entries(self) -> list[tuple[str, Any]]:
        return list(zip(self._keys, self._items, strict=True))

    def _check_item(self, value: Any) -> Any:
        if self._holds == "module":
            _check_module(value)
            return value
        return _to_array(value, "parameter")

    def _check_new_name(self, name: str) -> None:
        """torch's ``add_module``/``register_parameter`` check: a new entry may not take the
        name of an attribute (``md["train"] = ...`` would hide ``md.train()``)."""
        if name in self._keys:
            return
        if name in self._torch_attrs or hasattr(type(self), name) or name in self.__dict__:
            raise KeyError(
                f"attribute '{name}' already exists; {self._get_name()} entries are also "
                f"attributes, so an entry cannot be named like a method or attribute of it. "
                f"Use another name, e.g. {name + '_'!r}."
            )

    def _set_entries(self, entries: list[tuple[str, Any]], verb: str) -> None:
        """Replace all entries in place (guarded)."""
        values = [v for _, v in entries]
        check_mutable(self, verb, [v for v in values if isinstance(v, jax.Array)])
        keys = tuple(k for k, _ in entries)
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise KeyError(
                f"{self._get_name()} would hold two entries named {dup!r}; names must be unique."
            )
        old = dict(zip(getattr(self, "_keys", ()), getattr(self, "_items", ()), strict=True))
        object.__setattr__(self, "_items", tuple(values))
        object.__setattr__(self, "_keys", keys)
        if self._holds == "param":
            for k, v in entries:
                # `pd["w"] = init.normal_(pd["w"])` writes a tied w everywhere; another
                # array is a parameter with its own requires_grad (a tied one's).
                was = old.get(k)
                if v is not was and not _sharing.replaced(self, k, was, v):
                    _adopt_grad_flag(self, k, v)
            for k in old.keys() - {k for k, _ in entries}:
                _forget_grad_flag(self, k)  # gone: a later entry of that name starts afresh

    # -- Module hooks
    def _named_members_own(self) -> Iterator[tuple[str, Any, str]]:
        kind = "module" if self._holds == "module" else "param"
        for k, v in zip(self._keys, self._items, strict=True):
            if v is not None:
                yield k, v, kind

    def _repr_children(self) -> Iterator[tuple[str, Module | None]]:
        # torch prints a None entry as "(name): None".
        if self._holds == "module":
            yield from zip(self._keys, self._items, strict=True)

    def _get_member(self, name: str) -> Any:
        return self._items[self._keys.index(name)]

    def _set_member(self, name: str, value: Any) -> None:
        items = list(self._items)
        items[self._keys.index(name)] = value
        object.__setattr__(self, "_items", tuple(items))

    def add_module(self, name: str, module: Module | None) -> None:
        _check_module(module, allow_none=True)
        _check_module_name(name)
        self._check_new_name(name)
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
            return d["_items"][keys.index(name)]
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

    _torch_attrs = _TORCH_MODULE_ATTRS | {"_get_item_by_idx"}

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
            self._check_new_name(k)
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
        entries = self._entries()
        self._set_entries(entries + [(_free_name(entries, len(entries)), module)], "append")
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        _check_module(module)
        n = len(self)
        try:
            index = operator.index(index)  # any integer, as torch (numpy's too)
        except TypeError:
            raise TypeError(
                f"Sequential.insert: index must be an integer, got {type(index).__name__} {index!r}."
            ) from None
        if not -n <= index <= n:
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
        # torch appends one by one: each new module is named str(position), names already
        # there are kept.
        modules = list(sequential)
        for m in modules:
            _check_module(m)
        entries = self._entries()
        for m in modules:
            entries.append((_free_name(entries, len(entries)), m))
        self._set_entries(entries, "extend")
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
        modules = [m for _, m in entries] * (n - 1)
        for m in modules:
            entries.append((_free_name(entries, len(entries)), m))
        self._set_entries(entries, "*=")
        return self


def _free_name(entries: list[tuple[str, Any]], i: int) -> str:
    """torch names an appended module str(position); jaxnn adds "_" where a user's name
    already takes it (torch would silently replace that module)."""
    taken = {k for k, _ in entries}
    name = str(i)
    while name in taken:
        name += "_"
    return name


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

    _torch_attrs = _TORCH_MODULE_ATTRS | {"_get_abs_string_index"}

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
            if k not in index:
                self._check_new_name(k)
            if k in index:
                current[index[k]] = (k, m)
            else:
                index[k] = len(current)
                current.append((k, m))
        self._set_entries(current, "update")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict is not callable: index it (self.blocks['name'](x)).")


def _check_parameter_name(name: Any) -> None:
    """torch's ``ParameterDict`` key rule (``_key_to_attr`` and ``register_parameter``)."""
    if not isinstance(name, str):
        raise TypeError(
            f"Index given to ParameterDict cannot be used as a key as it is not a string "
            f"(type is '{type(name).__name__}'): use str({name!r})."
        )
    if "." in name:
        raise KeyError(
            f'parameter name can\'t contain ".", got {name!r}; use e.g. {name.replace(".", "_")!r}.'
        )
    if name == "":
        raise KeyError('parameter name can\'t be empty string ""; use e.g. "p".')


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
    _torch_attrs = _TORCH_MODULE_ATTRS | {"_get_abs_string_index", "_size"}

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
    _torch_attrs = _TORCH_MODULE_ATTRS | {
        "__ior__", "__or__", "__reversed__", "__ror__", "_key_to_attr",
        "copy", "fromkeys", "popitem", "setdefault",
    }  # fmt: skip

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
        if isinstance(parameters, Mapping) and not isinstance(parameters, OrderedDict):
            entries = sorted(entries)  # torch sorts a plain dict's keys (not OrderedDict's)
        current = self._entries()
        index = {k: i for i, (k, _) in enumerate(current)}
        for k, v in entries:
            _check_parameter_name(k)
            v = self._check_item(v)
            if k not in index:
                self._check_new_name(k)
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
