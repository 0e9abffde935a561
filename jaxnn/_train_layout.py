"""Where a model's arrays live, so that a training step can read and write them in place.

The pytree says it: unflattening the model's structure over markers (one per array leaf)
builds a twin whose fields hold markers where the model's fields hold arrays. Walking the
twin beside the model gives, for every leaf, each ``(module.__dict__, field)`` entry that
holds it: one, or several when the pytree puts one leaf in several places (a tied weight).
A step then reads and writes the arrays there, a dict lookup each, instead of flattening
and unflattening the model on every call (a Python call per module).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _random
from ._module import Module, trainable

_tree = jax.tree_util


class _Leaf:
    """Marks array leaf ``i`` in the twin."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


class Place:
    """A module field holding array leaves: the leaf itself (``plain``) or a tuple, list or
    dict of them (an RNN's ``_flat_weights``, a ParameterList's entries)."""

    __slots__ = ("dict", "field", "leaves", "module", "plain", "structure")

    def __init__(self, module: Any, field: str, marked: Any) -> None:
        self.module, self.dict, self.field = module, module.__dict__, field
        self.plain = isinstance(marked, _Leaf)
        marks, self.structure = _tree.tree_flatten(marked)
        self.leaves = tuple(m.i for m in marks)


def _is_part(x: Any) -> bool:
    return isinstance(x, _Leaf | eqx.Module)


class Layout:
    """Where the arrays of ``model`` live, bound to its current module objects.

    ``signature`` is what a compiled step depends on (the pytree structure with its static
    fields and modes, which leaves train, which are buffers, the parameter names);
    ``reads``/``writes`` are the places a step takes its arrays from and puts them back.
    """

    def __init__(self, model: Module) -> None:
        path_leaves, treedef = _tree.tree_flatten_with_path(model)
        values = [v for _, v in path_leaves]
        arrays = [i for i, v in enumerate(values) if eqx.is_array(v)]
        marked = [_Leaf(i) if eqx.is_array(v) else v for i, v in enumerate(values)]
        places: list[Place] = []
        _walk(_tree.tree_unflatten(treedef, marked), model, places, set())
        where: dict[int, list[Place]] = {i: [] for i in arrays}
        for p in places:
            for i in p.leaves:
                where[i].append(p)
        lost = [i for i in arrays if not where[i]]
        if lost:
            raise TypeError(
                f"jaxnn.Optimizer cannot find where {model._get_name()} holds the array at "
                f"{_tree.keystr(path_leaves[lost[0]][0])} (a custom pytree node?). Keep arrays "
                f"in module attributes, nn.ParameterList/Dict, or tuples/lists/dicts of them."
            )
        mask = _tree.tree_leaves(trainable(model))
        if len(mask) != len(values):
            raise TypeError(
                f"jaxnn.trainable({model._get_name()}) has {len(mask)} leaves, the model "
                f"{len(values)}: the mask must have the model's structure."
            )
        prefix = {id(m): (p, m) for p, m in model.named_modules()}
        names, kinds = _names_and_kinds(prefix, path_leaves, where)
        self.train_idx = tuple(i for i in arrays if mask[i])
        self.names = tuple(names[i] for i in self.train_idx)
        self.buf_idx = tuple(i for i in arrays if kinds[i] in ("buffer", "buffer_np"))
        changing = set(self.train_idx) | set(self.buf_idx)

        # Reads: each leaf from one place. Writes: every place holding a changed leaf.
        covered: set[int] = set()
        self.reads: list[Place] = []
        for p in places:
            new = [i for i in p.leaves if i not in covered]
            if new and len(new) < len(p.leaves):
                raise TypeError(
                    f"{type(p.module).__name__}.{p.field} shares only some of its arrays with "
                    f"another field ({names[new[0]]!r}); jaxnn.Optimizer reads a field whole."
                )
            if new:
                covered.update(new)
                self.reads.append(p)
        self.donated = [p for p in self.reads if changing.intersection(p.leaves)]
        self.const = [p for p in self.reads if not changing.intersection(p.leaves)]
        self.writes = [p for p in places if changing.intersection(p.leaves)]
        # What a step returns: one array per changed plain leaf (however many places hold
        # it: a tied weight stays one array), one value per other written place; and for
        # each written place, which of those it gets.
        self.outputs: list[tuple[bool, Any, tuple[int, ...]]] = []
        self.route: list[int] = []
        index: dict[Any, int] = {}
        for k, p in enumerate(self.writes):
            key = ("leaf", p.leaves[0]) if p.plain else ("place", k)
            if key not in index:
                index[key] = len(self.outputs)
                self.outputs.append((p.plain, p.structure, p.leaves))
            self.route.append(index[key])
        # Which output each donated place gets back (the next step's input, in a scan).
        written = {id(p): k for k, p in enumerate(self.writes)}
        self.read_route = [self.route[written[id(p)]] for p in self.donated]
        self.treedef = treedef
        self.names_by_leaf = names
        self.specs = {
            n: (values[i].shape, jnp.dtype(values[i].dtype))
            for n, i in zip(self.names, self.train_idx, strict=True)
        }
        statics = tuple((i, v) for i, v in enumerate(values) if not eqx.is_array(v))
        self.statics = statics
        # Only a model with a layer that may draw from the forward key scope gets a key (a
        # key is one more array in and out of every call): jaxnn's random layers, and any
        # forward you wrote (it may take key= or call F.dropout).
        self.uses_key = any(_random.may_draw_key(m) for _, m in prefix.values())
        self.signature = (
            self.uses_key,
            treedef,
            tuple(_place_key(p) for p in self.donated),
            tuple(_place_key(p) for p in self.const),
            tuple(self.outputs),
            self.train_idx,
            self.buf_idx,
            self.names,
            tuple((i, _static_id(v)) for i, v in statics),
        )


def _place_key(p: Place) -> tuple:
    return (p.plain, p.structure, p.leaves)


def _static_id(value: Any) -> Any:
    # A non-array leaf (a function in an Equinox layer) is a constant of the compiled step.
    try:
        hash(value)
    except TypeError:
        return ("__id__", id(value))
    return value


def _walk(marked: Any, real: Any, places: list[Place], seen: set[int]) -> None:
    """Record the places of ``real`` (an Equinox module) that ``marked`` fills with leaves."""
    if id(marked) in seen:  # a module placed twice is walked once
        return
    seen.add(id(marked))
    for f in dataclasses.fields(marked):
        if f.metadata.get("static", False) or f.name not in marked.__dict__:
            continue
        value = marked.__dict__[f.name]
        if isinstance(value, _Leaf):
            places.append(Place(real, f.name, value))
            continue
        if isinstance(value, eqx.Module):
            _walk(value, real.__dict__[f.name], places, seen)
            continue
        parts = _tree.tree_leaves(value, is_leaf=_is_part)
        modules = [x for x in parts if isinstance(x, eqx.Module)]
        leaves = [x for x in parts if isinstance(x, _Leaf)]
        if leaves and modules:
            raise TypeError(
                f"{type(real).__name__}.{f.name} holds arrays and modules in one "
                f"{type(value).__name__}; jaxnn.Optimizer writes such a field whole. Keep the "
                f"modules in a container (nn.ModuleList) and the arrays in their own field."
            )
        if leaves:
            if len(leaves) != len(_tree.tree_leaves(value)):
                raise TypeError(
                    f"{type(real).__name__}.{f.name} mixes arrays with other values; "
                    f"jaxnn.Optimizer writes such a field whole. Mark the other values static "
                    f"(eqx.field(static=True)) or keep them in their own field."
                )
            places.append(Place(real, f.name, value))
        real_modules = _tree.tree_leaves(
            real.__dict__[f.name], is_leaf=lambda x: isinstance(x, eqx.Module)
        )
        real_modules = [x for x in real_modules if isinstance(x, eqx.Module)]
        for m, r in zip(modules, real_modules, strict=True):
            _walk(m, r, places, seen)


def _names_and_kinds(
    prefix: dict[int, tuple[str, Module]], path_leaves: list, where: dict[int, list[Place]]
) -> tuple[dict[int, str], dict[int, str | None]]:
    """torch's name and kind ('param', 'buffer', ...) of each array leaf, from its first
    place; a leaf of a non-jaxnn module is named by its pytree path, kind None."""
    members: dict[int, dict[int, tuple[str, str]]] = {}
    names: dict[int, str] = {}
    kinds: dict[int, str | None] = {}
    for i, places in where.items():
        module = places[0].module
        found = None
        if id(module) in prefix:
            own = members.get(id(module))
            if own is None:
                own = members[id(module)] = {
                    id(v): (n, k) for n, v, k in module._named_members_own() if k != "module"
                }
            found = own.get(id(path_leaves[i][1]))
        if found is None:
            names[i], kinds[i] = _tree.keystr(path_leaves[i][0]), None
        else:
            pre = prefix[id(module)][0]
            names[i], kinds[i] = (f"{pre}.{found[0]}" if pre else found[0]), found[1]
    return names, kinds


def check_shared_arrays(layout: Layout) -> None:
    """Raise if one array object is two leaves of which one changes: the step would update
    them apart (and XLA takes a donated buffer once). Frozen ones may repeat."""
    held: dict[int, str] = {}
    donated: set[int] = set()
    for places, is_donated in ((layout.donated, True), (layout.const, False)):
        for p in places:
            value = p.dict[p.field]
            for i, a in zip(
                p.leaves, [value] if p.plain else _tree.tree_leaves(value), strict=True
            ):
                if id(a) in held and (is_donated or id(a) in donated):
                    raise ValueError(
                        f"the same array is held at {held[id(a)]!r} and at "
                        f"{layout.names_by_leaf[i]!r}, two leaves of the model's pytree: a "
                        f"training step would update them apart. Tie them as one parameter, "
                        f"or give each its own copy (`jnp.copy`)."
                    )
                held.setdefault(id(a), layout.names_by_leaf[i])
                if is_donated:
                    donated.add(id(a))
