"""In-place writes to a shared array reach every use of it in the model, as in torch.

torch writes a new value into a tensor in place (``nn.init.normal_(w)``, ``load_state_dict``,
``.to()``); every place that holds the tensor sees it, also places outside the module the
write went through (``m.out.load_state_dict(...)`` when ``out.weight`` is tied to
``emb.weight``). jaxnn writes by replacing the array at the places it can reach, and:

- logs the replacement (``written``): an array and all the arrays that replaced it in place
  form one lineage; ``settle`` gives every place below a module the newest array of its
  lineage present there (run when a model is next used after an edit);
- knows where each tied array lives (``register``, from the share tables of ``_sharing``), so
  that a write through one place reaches the model's other places of it at once
  (``replaced``) - but only in that model: value copies (``nn.forward``'s result,
  ``eqx.combine``, ``jaxnn.edit``) hold the same arrays in other modules and must not change.

Entries hold weak references and vanish with their arrays and models.
"""

from __future__ import annotations

import weakref
from typing import Any

from . import _sharing as _s
from ._fields import is_array

LINEAGE: dict[int, tuple[Any, int, int]] = {}  # id(array) -> (ref(array), token, seq)
_counter = [0]


def _forget(key: int) -> None:
    entry = LINEAGE.get(key)
    if entry is not None and entry[0]() is None:
        del LINEAGE[key]


def _entry(value: Any) -> tuple[int, int] | None:
    entry = LINEAGE.get(id(value))
    if entry is None or entry[0]() is not value:
        return None
    return entry[1], entry[2]


def _log(value: Any, token: int, seq: int) -> None:
    key = id(value)
    try:
        LINEAGE[key] = (weakref.ref(value, lambda _, k=key: _forget(k)), token, seq)
    except TypeError:  # pragma: no cover - an array type without weak references
        pass


def written(old: Any, new: Any) -> None:
    """``new`` is ``old`` overwritten in place: places holding ``old`` take ``new`` when settled."""
    if new is old or not (is_array(old) and is_array(new)):
        return
    _counter[0] += 1
    known = _entry(old)
    if known is None:
        known = (_counter[0], 0)
        _log(old, *known)
    _log(new, known[0], _counter[0])


# Where each array that a share table ties lives: the table's module and the two paths
# below it. A write through one place must reach the other at once (not only when the model
# is next used), but only in that model: value copies (nn.forward's result, eqx.combine,
# jaxnn.edit) hold the same arrays in other modules and must not change. Filled when a table
# is made or unflattened, so only models with ties pay for it.
_PLACES: dict[int, tuple[Any, list[tuple[Any, tuple, tuple]]]] = {}


def _unplace(key: int) -> None:
    entry = _PLACES.get(key)
    if entry is not None and entry[0]() is None:
        del _PLACES[key]


def register(module: Any, pairs: tuple) -> None:
    for later, first in pairs:
        value = _s.lookup(module, first)
        if _s.tieable(value) and not _s.is_module(value):
            _add_place(value, module, later, first)


def _add_place(value: Any, module: Any, later: tuple, first: tuple) -> None:
    entry = _PLACES.get(id(value))
    if entry is None or entry[0]() is not value:
        key = id(value)
        try:
            ref = weakref.ref(value, lambda _, k=key: _unplace(k))
        except TypeError:  # pragma: no cover - an array type without weak references
            return
        entry = _PLACES[key] = (ref, [])
    tables = entry[1]
    tables[:] = [t for t in tables if t[0]() is not None]  # models that are gone
    if not any(t[0]() is module and t[1] == later and t[2] == first for t in tables):
        tables.append((weakref.ref(module), later, first))


def _tied_places(holder: Any, key: str, value: Any) -> list[tuple[Any, str]]:
    """Every place ``(module, key)`` that holds ``value`` tied to ``holder.key`` (``value``
    being the array that place holds, or held until the edit now being made), in each model
    whose share table says so."""
    entry = _PLACES.get(id(value))
    if entry is None or entry[0]() is not value:
        return []
    out: list[tuple[Any, str]] = []
    for top in {id(t[0]()): t[0]() for t in entry[1] if t[0]() is not None}.values():
        paths = {p for t in entry[1] if t[0]() is top for p in t[1:]}
        if not any(_s.lookup(top, p[:-1]) is holder and p[-1] == key for p in paths):
            continue  # the edited place is not in this model
        for p in paths:
            other = _s.lookup(top, p[:-1])
            if _s.is_module(other) and not (other is holder and p[-1] == key):
                if _s.lookup(other, p[-1:]) is value and (other, p[-1]) not in out:
                    out.append((other, p[-1]))
    return out


def replaced(holder: Any, key: str, old: Any, new: Any) -> bool:
    """``old`` was replaced by ``new`` at ``holder.key`` by an in-place verb. If ``new`` is
    a newer write of ``old``'s lineage (an in-place init, load, cast), the other places of
    the model that hold ``old`` tied to this one take ``new`` now, as torch's one tensor
    would, and the answer is True; an unrelated ``new`` unties (False)."""
    if old is new or not is_array(old):
        return old is new
    a, b = _entry(old), _entry(new)
    if a is None or b is None or a[0] != b[0] or b[1] < a[1]:
        return False
    for module, name in _tied_places(holder, key, old):
        module._set_member(name, new)
    entry = _PLACES.get(id(old))
    if entry is not None and entry[0]() is old:  # the new array is tied where the old was
        for ref, later, first in list(entry[1]):
            top = ref()
            if top is not None and _s.lookup(top, later) is new and _s.lookup(top, first) is new:
                _add_place(new, top, later, first)
    return True


def places_of(holder: Any, key: str) -> list[tuple[Any, str]]:
    """The other places of the model that hold the array at ``holder.key`` tied to it."""
    return _tied_places(holder, key, _s.lookup(holder, (key,)))


def settle(root: Any) -> None:
    """Give every place below ``root`` that holds an array later written in place (logged by
    ``written``) the newest array of its lineage present below ``root``."""
    places: dict[int, list[tuple[Any, str]]] = {}
    newest: dict[int, tuple[int, Any]] = {}  # token -> (seq, array)
    stack, seen = [root], {id(root)}
    while stack:
        module = stack.pop()
        for key, value in _s.members(module):
            if _s.is_module(value):
                if id(value) not in seen:
                    seen.add(id(value))
                    stack.append(value)
                continue
            entry = _entry(value)
            if entry is None:
                continue
            places.setdefault(id(value), []).append((module, key))
            best = newest.get(entry[0])
            if best is None or entry[1] > best[0]:
                newest[entry[0]] = (entry[1], value)
    for group_places in places.values():
        module, key = group_places[0]
        value = module._get_member(key)
        winner = newest[_entry(value)[0]][1]
        if winner is not value:
            for module, key in group_places:
                module._set_member(key, winner)
