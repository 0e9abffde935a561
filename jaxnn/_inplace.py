"""torch's in-place habits on arrays, and what an in-place edit changes.

Three things a torch user does to a parameter they got from a module, which a JAX array
cannot do by itself:

* ``nn.init.kaiming_normal_(m.weight)`` fills it in place;
* ``p.requires_grad = False`` freezes it;
* ``m.weight.data = w`` replaces its values.

JAX arrays are immutable, but the *modules* holding them are editable outside
transformations (DESIGN rule 2). So each habit is carried out on the holders: every module
field that holds that array object (tied weights hold one object twice). ``holders`` finds
them through weak back-references that the array keeps in its ``__dict__`` (``ArrayImpl``
has one; pickling and copying drop it): a module notes its arrays when it is built, edited
in place (``check_mutable`` marks it), or walked by ``modules()``/``parameters()``/
``apply()``, which are how torch code reaches the parameters it initialises, or made by
``copy.copy``/``copy.deepcopy``/unpickling (``Module.__setstate__``). A forward pass never
registers anything. A module made by a JAX transformation or ``eqx.combine`` that was never
walked is not found: ``init`` then raises where torch would have filled in place
(``jaxnn/init.py``), and ``requires_grad`` raises, never a silent no-op; but where it holds
the same array objects as a known module (``jax.tree.map(lambda x: x, model)``), the write
reaches the known module only (README, "in place").

The second part keeps jax's compiled programs from outliving an in-place edit of a module
that jax holds in a cache (a ``static_argnums`` argument, ``jax.jit(model)``).
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import Any

import jax

from . import _edit, _sharing
from ._state import walk

_ArrayImpl = type(jax.numpy.zeros(()))
_KEY = "_jaxnn_holders"

# ---------------------------------------------------------------------------- holders
# Modules built or edited since the last lookup; their arrays are noted lazily, at the next
# lookup, so that building and editing cost one dict insertion.
_pending: dict[int, weakref.ref] = {}


def _forget(key: int, table: dict) -> Any:
    return lambda _ref: table.pop(key, None)


def mark(module: Any) -> None:
    """``module`` was built or edited: note its arrays before the next lookup."""
    key = id(module)
    if key not in _pending:
        _pending[key] = weakref.ref(module, _forget(key, _pending))


def note(module: Any) -> None:
    """Give each concrete array of ``module`` (own fields only) a back-reference to it."""
    for name, value, kind in module._named_members_own():
        if kind == "module" or type(value) is not _ArrayImpl:
            continue  # tracers and numpy arrays are never looked up
        refs = value.__dict__.get(_KEY)
        if refs is None:
            value.__dict__[_KEY] = [(weakref.ref(module), name)]
            continue
        if any(n == name and r() is module for r, n in refs):
            continue
        refs[:] = [(r, n) for r, n in refs if r() is not None]
        refs.append((weakref.ref(module), name))


def _flush() -> None:
    while _pending:
        _, ref = _pending.popitem()
        module = ref()
        if module is not None:
            for m in walk(module):
                note(m)


def _initialising_roots() -> list[Any]:
    """Modules whose ``__init__`` is running now, outermost first.

    Equinox's table of modules being initialised keeps a module whose ``__init__`` raised
    (it never reaches the line that removes it), so the table alone would also return
    half-built modules from failed constructions; only those with an ``__init__`` frame on
    the current stack count.
    """
    from ._module import _EQX_INITIALISING

    table = getattr(_EQX_INITIALISING, "_dict", None)
    if not table:
        return []
    running: set[int] = set()
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            running.add(id(frame.f_locals.get("self")))
        frame = frame.f_back
    return [m for key, m in list(table.items()) if key in running]


def holders(array: Any) -> list[tuple[Any, str, str]]:
    """``(module, field name, kind)`` for every known module field holding ``array``.

    kind is 'param', 'buffer' or 'buffer_np'. Modules still in their ``__init__`` are
    searched too (their arrays may be tracers: a model built inside ``jit``).
    """
    _flush()
    found: list[tuple[Any, str, str]] = []
    seen: set[tuple[int, str]] = set()

    def add(m: Any, name: str) -> None:
        for n, v, kind in m._named_members_own():
            if n == name and v is array and kind != "module" and (id(m), n) not in seen:
                seen.add((id(m), n))
                found.append((m, n, kind))

    refs = getattr(array, "__dict__", {}).get(_KEY, ())
    for r, name in refs:
        m = r()
        if m is not None:
            add(m, name)
    # Inside ``jaxnn.edit(model, fn)`` the copy is searched directly (under jit its arrays
    # are tracers, which carry no notes).
    copy = _edit.innermost()
    for root in _initialising_roots() + ([copy] if copy is not None else []):
        try:
            modules = list(walk(root))
        except AttributeError:  # its children are not all set yet
            modules = [root]
        for m in modules:
            try:
                members = list(m._named_members_own())
            except AttributeError:  # still in its own __init__, before its storage exists
                continue
            for n, v, _kind in members:
                if v is array:
                    add(m, n)
    if copy is not None and any(_edit.is_private(m) for m, _n, _kind in found):
        # The copy holds the model's arrays, but an edit made in ``fn`` is the copy's alone
        # (as on a deep copy in torch): the model and its other value copies keep theirs.
        found = [h for h in found if _edit.is_private(h[0])]
    # A weight tied to a found place, in a module that was never noted (a model rebuilt by
    # an optimizer step and reached through one submodule only): the share tables know it.
    for m, n, _kind in list(found):
        for other, key in _sharing.places_of(m, n):
            add(other, key)
    return found


# ---------------------------------------------------------------------------- jax's caches
# jax.jit keeps a static argument (``static_argnums``) in its caches and finds it again by
# ``==`` alone (a treedef's hash leaves node data out), so a module edited in place would
# match its own old entry whatever its hash says, and jit would run the program compiled
# from its old arrays and flags. The same holds for ``jax.jit(model)`` and for modules
# given to ``lax.cond`` as branches. No key can tell an object from itself, so an in-place
# edit of a module that jax may have cached clears jax's caches instead (the next call of
# every jitted function recompiles once). "May have cached" is "was hashed by jax's own
# code": static arguments, jitted callables and cond branches are, on their first call;
# a dict or set holding the module is not, so modules used as keys and edited in place
# cost nothing. The hash stays the identity, as in torch: keys keep working across edits.
#
# ``_hashed[id(m)] = (epoch, ids of m's subtree, weakref)``, refreshed at most once per
# edit epoch, so hashing costs a frame check and a dict lookup; an edit walks the edited
# subtree.
_epoch = [0]
_hashed: dict[int, tuple[int, frozenset[int], weakref.ref]] = {}


_JAX_DIR = os.path.dirname(os.path.abspath(jax.__file__)) + os.sep


def hashed(module: Any) -> None:
    """``module.__hash__`` was called: if by jax's code, jax may now hold it in a cache."""
    try:
        caller = sys._getframe(2)  # hashed <- Module.__hash__ <- the code hashing the module
    except ValueError:  # hashed from C with no Python frame above: not jax's Python code
        return
    if not caller.f_code.co_filename.startswith(_JAX_DIR):
        return
    key = id(module)
    entry = _hashed.get(key)
    if entry is not None and entry[0] == _epoch[0] and entry[2]() is module:
        return
    ids = frozenset(id(m) for m in walk(module))
    ref = entry[2] if entry is not None and entry[2]() is module else None
    _hashed[key] = (_epoch[0], ids, ref or weakref.ref(module, _forget(key, _hashed)))


def edited(module: Any) -> None:
    """``module`` is about to be edited in place (``check_mutable`` passed)."""
    _epoch[0] += 1
    mark(module)
    if not _hashed:
        return
    below = {id(m) for m in walk(module)}
    for key, (_, ids, ref) in list(_hashed.items()):
        if ref() is not None and (key in below or id(module) in ids):
            jax.clear_caches()
            _hashed.clear()
            return


# ---------------------------------------------------------------------------- array attributes
def _unheld(array: Any, what: str) -> AttributeError:
    return AttributeError(
        f"`{what}` on a JAX array that no jaxnn module is known to hold: JAX arrays carry no "
        f"flags and cannot change in place. Do it on the module: "
        f"`module.requires_grad_(False)` (all its parameters), or reach the parameter through "
        f"`for name, p in model.named_parameters(): p.requires_grad = False`; replace values "
        f"with `module.weight = new_array`. (A module made by eqx.combine / jax.tree.map is "
        f"found once walked: call model.parameters() or model.modules() on it first.)"
    )


class _RequiresGrad:
    """``p.requires_grad`` for an array held by jaxnn modules: their per-parameter flag.

    ``ArrayImpl`` has an instance ``__dict__``, so without this descriptor
    ``p.requires_grad = False`` is stored on the array and read by nothing. With it, the
    assignment freezes (or unfreezes) that parameter in every module holding it, as torch
    does, and reading gives the flag back. Arrays no module holds behave as before on read
    (AttributeError unless set) and raise on assignment.
    """

    def __get__(self, array: Any, cls: Any = None) -> Any:
        if array is None:
            return self
        found = holders(array)
        if found:
            if any(kind != "param" for _m, _n, kind in found):
                return False  # a buffer
            # One flag per array as in torch: the place whose flag was set last says it
            # (the rule of ``_module._frozen_arrays``; the same call: frozen wins).
            return not max((_stamp(m, n), n in m._frozen) for m, n, _kind in found)[1]
        try:
            return array.__dict__["requires_grad"]
        except KeyError:
            raise AttributeError(
                f"'{type(array).__name__}' object has no attribute 'requires_grad'"
            ) from None

    def __set__(self, array: Any, value: Any) -> None:
        from ._module import _grad_calls, _set_grad_flag, check_mutable

        found = holders(array)
        if not found:
            raise _unheld(array, f"p.requires_grad = {value!r}")
        if not isinstance(value, bool):
            raise TypeError(f"requires_grad must be a bool, got {type(value).__name__} {value!r}.")
        buffers = [n for m, n, kind in found if kind != "param"]
        if buffers and value:
            raise RuntimeError(
                f"{buffers[0]!r} is a buffer: buffers are state, never trained (DESIGN rule 4). "
                f"To train it, register it as a parameter: `module.{buffers[0]} = array` "
                f"declared without jaxnn.buffer()."
            )
        for m, _n, _kind in found:
            check_mutable(m, "requires_grad = ...")
        _grad_calls[0] += 1  # the latest setting of a flag wins (see _module._Frozen)
        for m, n, kind in found:
            if kind == "param":
                _set_grad_flag(m, n, not value, _grad_calls[0])


def _stamp(module: Any, name: str) -> int:
    frozen = module._frozen
    return frozen.stamp(name) if hasattr(frozen, "stamp") else 0


class _Data:
    """``m.weight.data = w`` replaces the values in every module holding the array."""

    def __get__(self, array: Any, cls: Any = None) -> Any:
        if array is None:
            return self
        try:
            return array.__dict__["data"]
        except KeyError:
            raise AttributeError(
                f"'{type(array).__name__}' object has no attribute 'data': a JAX array is its "
                f"own data (use it directly); to change a parameter assign "
                f"`module.weight = new_array`, or use nn.init.*_ (which writes into the "
                f"module)."
            ) from None

    def __set__(self, array: Any, value: Any) -> None:
        from ._module import _to_array, check_mutable

        found = holders(array)
        if not found:
            raise _unheld(array, "x.data = ...")
        new = _to_array(value, "data")
        for m, _n, _kind in found:
            check_mutable(m, "weight.data = ...", new)
        for m, n, _kind in found:
            m._set_member(n, new)


def write(array: Any, new: jax.Array, verb: str) -> jax.Array | None:
    """Put ``new`` wherever ``array`` is held and return what was stored; None if unheld."""
    from ._module import check_mutable

    found = holders(array)
    if not found:
        return None
    if type(array) is _ArrayImpl:
        for m, _n, _kind in found:
            check_mutable(m, verb, new)
    # else a tracer: only found in a model still in its __init__ under a transformation
    # (built there, as check_mutable allows), never in a module from outside the trace.
    if type(array) is _ArrayImpl and type(new) is _ArrayImpl:
        new = jax.device_put(new, array.sharding)  # torch fills in place: same device(s)
    for m, n, _kind in found:
        m._set_member(n, new)
    return new


def _install() -> None:
    # Two names on jax's concrete array class, chosen because ``ArrayImpl`` has an instance
    # ``__dict__`` that makes both assignments succeed and do nothing; arrays no jaxnn
    # module holds keep their old behaviour. Should jax ever define either name itself,
    # jax's wins (tests/core/test_inplace_habits.py then reports the habit as unsupported).
    for name, descriptor in (("requires_grad", _RequiresGrad()), ("data", _Data())):
        if name not in _ArrayImpl.__dict__:
            setattr(_ArrayImpl, name, descriptor)


_install()
