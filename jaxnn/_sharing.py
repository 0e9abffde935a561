"""Sharing: an object placed at several places in a model is one pytree leaf (DESIGN rule 8).

torch lets one module or one parameter sit at several places: ``nn.Sequential(shared, act,
shared)``, weight tying ``self.out.weight = self.emb.weight``, ``net.fc2 = net.fc1`` after
construction, one module under two parents, an edit of a container that is already nested.
However it got there, torch sees one object: one parameter in ``named_parameters()``, one
gradient that sums every use, one value after an optimizer step.

A pytree has no identity: JAX would flatten such a model into two leaves that then train
apart. So every jaxnn module keeps, beside its fields, a share table: the repeated
occurrences (by identity, of modules and arrays) in its subtree whose first occurrence lies
under a different child, i.e. the pairs for which this module is the lowest common ancestor.
Its flatten emits each later occurrence as a leafless placeholder (``_TIED``, in a shallow copy
of the path down to it) and records the pairs in the treedef; its unflatten puts the first
occurrence's new value back at each placeholder. ``jax.jit``, ``jax.grad``, optax and
``jax.tree.map`` therefore see one leaf, and the gradient of that leaf sums every use.

The tables follow identity, so eager edits invalidate them: every in-place edit (the guarded
verbs, see ``_module.check_mutable``) starts a new epoch, and a module whose table is from an
older epoch recomputes it (and its stale descendants') the next time it is flattened. A tree
made by unflatten matches its treedef and starts fresh. A pair whose two places no longer
hold the same object (the user untied them) is found when flattening and the table is
recomputed. A model without sharing pays one identity test per module flatten.

In-place writes to a shared array (``w = init.normal_(w)`` through one use, ``load_state_dict``
or ``.to()`` on a submodule) reach its other uses through ``_sharing_writes``.

Equinox generates a flatten and an unflatten per class and registers them when the class is
created; jaxnn classes register the ones generated here instead (``registering``), which add
the share table to the same per-field code. ``benchmarks`` and ``nn.pack`` rely on flatten
being cheap: the generated functions are as lean as Equinox's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
from collections.abc import Iterator
from typing import Any

import jax
import jax.tree_util as jtu

from . import _sharing_writes as _writes
from ._fields import is_array


class _Tied:
    """The placeholder a flatten emits for a later use of a shared object (no leaves)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<shared: stored at its first use>"

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"This is the placeholder jaxnn puts in a flattened copy of a module at the second "
            f"use of a shared module or parameter (it is stored once, at its first use, and put "
            f"back when the tree is rebuilt); it has no attribute {name!r}. You reached it "
            f"through `jax.tree.*(..., is_leaf=...)` on a module that holds such a use: walk "
            f"the model with model.modules() / model.named_parameters() instead, and edit it "
            f"with jaxnn.edit."
        )


_TIED = _Tied()
jtu.register_pytree_node(_Tied, lambda _: ((), None), lambda _, __: _TIED)


class _Missing:
    """A field not yet assigned (a module flattened inside its own ``__init__``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing field>"


_MISSING = _Missing()
MISSING = _MISSING  # what ``lookup`` gives for a place that is not there
jtu.register_pytree_node(_Missing, lambda _: ((), None), lambda _, __: _MISSING)


class _Fresh:
    """The epoch token. The current one marks a module whose (empty) table is up to date."""

    __slots__ = ()


class _Table:
    """A module's share pairs ``((later_path, first_path), ...)`` and their epoch."""

    __slots__ = ("epoch", "pairs")

    def __init__(self, pairs: tuple, epoch: _Fresh) -> None:
        self.pairs = pairs
        self.epoch = epoch


class _Copy:
    """The share state of a shallow copy a flatten made on its way to a placeholder: the
    copied module's own state, and the module it copies (still the same object for the
    tables of the modules below, which may hold the original at another place)."""

    __slots__ = ("origin", "share")

    def __init__(self, origin: Any, share: Any) -> None:
        self.origin = origin
        self.share = share


@dataclasses.dataclass(frozen=True)
class _Partial:
    """Treedef marker of a module flattened with fields missing or extra ``__dict__`` keys."""

    pairs: tuple
    extras: tuple


_NOSHARE: tuple = ()
_STALE = object()  # the table of a module that was never flattened

# Globals of the generated functions. "EMPTY" is the current epoch token: replacing it makes
# every existing table stale at once.
_NS: dict[str, Any] = {"EMPTY": _Fresh(), "NOSHARE": _NOSHARE, "MISSING": _MISSING}
_module_type: type = type("_NotYetBound", (), {})  # jaxnn.Module, bound by _module


def new_epoch() -> None:
    """An in-place edit happened: every table is recomputed when next needed."""
    _NS["EMPTY"] = _Fresh()


def is_fresh(share: Any) -> bool:
    empty = _NS["EMPTY"]
    return share is empty or (type(share) is _Table and share.epoch is empty)


def mark_new(module: Any) -> None:
    """A module being constructed: its table is computed when it is first flattened."""
    module.__dict__["_share"] = _STALE


# ---------------------------------------------------------------------------- tables
# isinstance against jaxnn.Module and jax.Array goes through ABCMeta (~0.5 us): flatten of
# a model with ties asks it per step on the tie paths, so the answer is cached per type.
_IS_MODULE: dict[type, bool] = {}
_TIEABLE: dict[type, bool] = {}


def is_module(value: Any) -> bool:
    kind = _IS_MODULE.get(type(value))
    if kind is None:
        kind = _IS_MODULE[type(value)] = isinstance(value, _module_type)
    return kind


def tieable(value: Any) -> bool:
    kind = _TIEABLE.get(type(value))
    if kind is None:
        kind = _TIEABLE[type(value)] = isinstance(value, _module_type) or is_array(value)
    return kind


def members(module: Any) -> Iterator[tuple[str, Any]]:
    for key, value, _ in module._stored_members():
        if tieable(value):
            yield key, value


def lookup(module: Any, path: tuple) -> Any:
    """The object at ``path`` (member keys) below ``module``; ``_TIED`` under a placeholder."""
    for key in path:
        if module is _TIED:
            return _TIED
        if not is_module(module):
            return _MISSING
        try:
            module = module._get_member(key)
        except (KeyError, ValueError):  # a place of an older table that is gone
            return _MISSING
    return module


def _compute(module: Any, old: Any) -> Any:
    """The share table of ``module`` (its subtree is up to date)."""
    first: dict[int, tuple] = {}
    pairs: list[tuple] = []

    def walk(m: Any, prefix: tuple) -> None:
        for key, value in members(m):
            path = (*prefix, key)
            seen = first.get(id(_origin(value)))
            if seen is None:
                first[id(_origin(value))] = path
                if is_module(value):
                    walk(value, path)
            elif len(path) == 1 or len(seen) == 1 or path[0] != seen[0]:
                pairs.append((path, seen))  # else the child holding both records it

    walk(module, ())
    if type(old) is _Table:
        # A tree that is not a model (nn.trainable's mask of bools, eqx.partition's halves
        # with None) cannot show a tie by identity: keep the pairs it was made with while
        # both places still hold one object.
        found = set(pairs)
        for pair in old.pairs:
            if pair not in found:
                a, b = lookup(module, pair[0]), lookup(module, pair[1])
                if a is b and a is not _MISSING and a is not _TIED and not tieable(a):
                    pairs.append(pair)
    if not pairs:
        return _NS["EMPTY"]
    table = tuple(sorted(pairs))
    _writes.register(module, table)
    return _Table(table, _NS["EMPTY"])


def ensure_fresh(module: Any) -> None:
    """Bring the share tables of ``module`` and of everything below it up to date (after
    settling in-place writes, see ``written``)."""
    if is_fresh(module.__dict__.get("_share")):
        return
    if _writes.LINEAGE:
        _writes.settle(module)
    _refresh(module, False)


def _refresh(module: Any, force: bool) -> None:
    share = module.__dict__.get("_share")
    if not force and is_fresh(share):
        return
    for _, value in members(module):
        if is_module(value):
            _refresh(value, False)
    module.__dict__["_share"] = _compute(module, share)


# ---------------------------------------------------------------------------- flatten
class _Stale(Exception):
    pass


def _copy(module: Any) -> Any:
    new = object.__new__(type(module))
    d = new.__dict__
    d.update(module.__dict__)
    if type(d.get("_share")) is not _Copy:
        d["_share"] = _Copy(module, d.get("_share"))
    return new


def _origin(value: Any) -> Any:
    """The module a strip copy stands for (its identity for the tables below it)."""
    if is_module(value):
        share = value.__dict__.get("_share")
        if type(share) is _Copy:
            return share.origin
    return value


def _strip(module: Any, pairs: tuple) -> Any:
    """A shallow copy of ``module`` with ``_TIED`` at the later place of every pair."""
    root = _copy(module)
    made: dict[tuple, Any] = {(): root}
    for later, first in pairs:
        a, b = lookup(module, later), lookup(module, first)
        if a is _TIED and b is _TIED:
            continue  # an ancestor sharing the object with its own first use stripped both
        if _origin(a) is not _origin(b) or a is _TIED or b is _TIED or a is _MISSING:
            raise _Stale
        parent = root
        for i in range(len(later) - 1):
            prefix = later[: i + 1]
            child = made.get(prefix)
            if child is None:
                child = _copy(parent._get_member(later[i]))
                parent._set_member(later[i], child)
                made[prefix] = child
            parent = child
        parent._set_member(later[-1], _TIED)
    return root


class _ClassInfo:
    __slots__ = ("cls", "dynamic", "keys", "names", "plain", "static")


def _flatten_slow(obj: Any, info: _ClassInfo, with_keys: bool) -> tuple[Any, tuple]:
    d = obj.__dict__
    share = d.get("_share")
    if type(share) is _Copy:  # made by an ancestor's flatten: its tables are up to date
        share = share.share
    elif not is_fresh(share):
        ensure_fresh(obj)
        share = d["_share"]
    src, pairs = obj, _NOSHARE
    if share is not _NS["EMPTY"]:
        try:
            src = _strip(obj, share.pairs)
        except _Stale:  # two places that were one object were given different ones
            _refresh(obj, True)
            share = d["_share"]
            if share is not _NS["EMPTY"]:
                src = _strip(obj, share.pairs)
        if src is not obj:
            pairs = share.pairs
    sd = src.__dict__
    if len(sd) == len(info.names) + 1 and "_share" in sd:  # every field is there
        children, statics = info.plain(src, with_keys)
        return children, (*statics, pairs)
    # Inside __init__ (fields not yet assigned) or with foreign __dict__ entries.
    values = [sd.get(n, _MISSING) for n in info.dynamic]
    children = tuple(zip(info.keys, values, strict=True)) if with_keys else tuple(values)
    extras = tuple(sorted((k, v) for k, v in sd.items() if k not in info.names and k != "_share"))
    statics = tuple(sd.get(n, _MISSING) for n in info.static)
    return children, (*statics, _Partial(pairs, extras))


def _refill(obj: Any, pairs: tuple) -> bool:
    """Put each first use back at its later places; False if some later place holds
    something else (``jax.tree.map(..., is_leaf=...)`` replaced a module on the way)."""
    complete = True
    for later, first in pairs:
        parent = lookup(obj, later[:-1])
        if not is_module(parent):
            continue  # under a placeholder: the ancestor that stripped it refills it
        if parent._get_member(later[-1]) is _TIED:
            parent._set_member(later[-1], lookup(obj, first))
        else:
            complete = False
    return complete


def _unflatten_slow(info: _ClassInfo, aux: tuple, children: Any) -> Any:
    marker = aux[-1]
    obj = object.__new__(info.cls)
    d = obj.__dict__
    if type(marker) is _Partial:
        pairs = marker.pairs
        d.update(marker.extras)
    else:
        pairs = marker
    for name, value in zip(info.dynamic, children, strict=True):
        if value is not _MISSING:
            d[name] = value
    for name, value in zip(info.static, aux, strict=False):
        if value is not _MISSING:
            d[name] = value
    d["_share"] = _NS["EMPTY"]
    if pairs:
        if _refill(obj, pairs):
            d["_share"] = _Table(pairs, _NS["EMPTY"])
            _writes.register(obj, pairs)
        else:  # what is shared now is found again when next needed
            d["_share"] = _STALE
    return obj


_NS["flatten_slow"] = _flatten_slow
_NS["unflatten_slow"] = _unflatten_slow
_NS["new"] = object.__new__

_CODE = """
def flatten(obj, _info=info, _slow=flatten_slow):
    d = obj.__dict__
    if d.get("_share") is EMPTY and len(d) == {n}:
        return ({dyn}), ({sta}NOSHARE,)
    return _slow(obj, _info, False)

def flatten_with_keys(obj, _info=info, _slow=flatten_slow, {keyargs}):
    d = obj.__dict__
    if d.get("_share") is EMPTY and len(d) == {n}:
        return ({keyed}), ({sta}NOSHARE,)
    return _slow(obj, _info, True)

def plain(obj, with_keys, {keyargs}):
    d = obj.__dict__
    if with_keys:
        return ({keyed}), ({sta})
    return ({dyn}), ({sta})

def unflatten(aux, ch, _cls=cls, _info=info, _slow=unflatten_slow):
    if aux[-1] is not NOSHARE:
        return _slow(_info, aux, ch)
    obj = new(_cls)
    d = obj.__dict__
{sets}
    d["_share"] = EMPTY
    return obj
"""


def _generate(cls: type) -> tuple[Any, Any, Any]:
    fields = dataclasses.fields(cls)
    dynamic = tuple(f.name for f in fields if not f.metadata.get("static", False))
    static = tuple(f.name for f in fields if f.metadata.get("static", False))
    info = _ClassInfo()
    info.cls, info.dynamic, info.static = cls, dynamic, static
    info.names = frozenset(dynamic + static)
    info.keys = tuple(jtu.GetAttrKey(n) for n in dynamic)
    src = _CODE.format(
        n=len(fields) + 1,
        dyn="".join(f"d[{n!r}], " for n in dynamic),
        sta="".join(f"d[{n!r}], " for n in static),
        keyed="".join(f"(k{i}, d[{n!r}]), " for i, n in enumerate(dynamic)),
        keyargs=", ".join([f"k{i}=keys[{i}]" for i in range(len(dynamic))] + ["_=None"]),
        sets="\n".join(
            [f"    d[{n!r}] = ch[{i}]" for i, n in enumerate(dynamic)]
            + [f"    d[{n!r}] = aux[{i}]" for i, n in enumerate(static)]
        ),
    )
    local: dict[str, Any] = {}
    code = compile(src, f"<jaxnn pytree functions of {cls.__qualname__}>", "exec")
    _NS["info"], _NS["cls"], _NS["keys"] = info, cls, info.keys
    try:
        exec(code, _NS, local)
    finally:
        del _NS["info"], _NS["cls"], _NS["keys"]
    info.plain = local["plain"]
    return local["flatten"], local["flatten_with_keys"], local["unflatten"]


# ---------------------------------------------------------------------------- registration
class _TreeUtilFor:
    """``jax.tree_util`` as Equinox's metaclass sees it while a jaxnn class is created: the
    one registration call it makes is answered with jaxnn's generated functions."""

    def __init__(self, owner: type) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(jtu, name)

    def register_pytree_with_keys(self, cls: type, *args: Any, **kwargs: Any) -> None:
        if not isinstance(cls, self._owner):  # another thread's Equinox class
            jtu.register_pytree_with_keys(cls, *args, **kwargs)
            return
        flatten, flatten_with_keys, unflatten = _generate(cls)
        jtu.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten_func=flatten)


_EQX_META_MODULE: Any = None
_lock = threading.RLock()


@contextlib.contextmanager
def registering(metaclass: type) -> Iterator[None]:
    """While a jaxnn class is created, Equinox registers jaxnn's pytree functions for it."""
    global _EQX_META_MODULE
    if _EQX_META_MODULE is None:
        import equinox as eqx

        mod = sys.modules[type(eqx.Module).__module__]
        if not hasattr(mod, "jtu"):  # pragma: no cover - Equinox moved its registration
            raise ImportError(
                f"jaxnn cannot register its pytree functions with this Equinox version "
                f"({getattr(eqx, '__version__', '?')}): {mod.__name__} has no `jtu`. Install "
                f"a supported Equinox (pip install 'equinox>=0.11.10,<0.14')."
            )
        _EQX_META_MODULE = mod
    with _lock:
        saved = _EQX_META_MODULE.jtu
        _EQX_META_MODULE.jtu = _TreeUtilFor(metaclass)
        try:
            yield
        finally:
            _EQX_META_MODULE.jtu = saved


_ = jax  # jax.Array is what `is_array` tests; imported for readers of this module


# The in-place verbs use these (they live in _sharing_writes, beside the log they keep).
written = _writes.written
replaced = _writes.replaced
places_of = _writes.places_of
