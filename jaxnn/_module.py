"""``jaxnn.Module``: an Equinox Module with torch.nn.Module's API.

One object, two worlds (DESIGN rule 2). Outside JAX transformations torch's mutating
verbs (``train``, ``load_state_dict``, ``to``, attribute assignment, the container verbs)
edit the module in place and return what torch returns. Inside ``jit``/``grad``/``vmap``
the module is an immutable pytree and those verbs raise, naming the pure alternative.
This file is the one place where in-place edits are implemented and guarded.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _edit, _fields, _inplace, _random, _sharing, _state
from ._fields import _KIND, is_array
from ._uninitialized import is_lazy

_EqxMeta = type(eqx.Module)


class _ModuleMeta(_EqxMeta):
    """Declares the fields ``__init__`` assigns (see ``_fields``) before Equinox sees them."""

    def __new__(mcs, name, bases, namespace, **kwargs):
        auto = _fields.prepare_namespace(bases, namespace) if bases else []
        with _sharing.registering(_ModuleMeta):  # jaxnn's flatten/unflatten (sharing)
            cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        _fields.install_auto_fields(cls, auto)
        return cls


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _under_transformation() -> bool:
    try:
        from jax._src import core

        return not core.trace_state_clean()
    except Exception:  # pragma: no cover - private API moved; fall back to tracer checks
        return False


def _has_tracer(tree: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


try:  # Equinox's set of modules whose __init__ is running (identity-based).
    from equinox._module._module import _currently_initialising as _EQX_INITIALISING
except ImportError:  # pragma: no cover - private name moved
    _EQX_INITIALISING = None


def _initialising(module: Any) -> bool:
    return _EQX_INITIALISING is not None and module in _EQX_INITIALISING


# How many in-place edits have passed ``check_mutable`` in this process. Code that keeps a
# view of a model between calls (``jaxnn.Optimizer``'s step: where each array lives, which
# ones train) compares it with one integer instead of walking the model on every call.
EDITS = [0]


def check_mutable(module: Module, verb: str, *values: Any, changes: bool = True) -> None:
    """Raise if ``verb`` would edit ``module`` in place inside a JAX transformation.

    A module still inside its own ``__init__`` is being built, not edited: building a model
    inside ``jit`` is fine, and so is editing the private copy that ``jaxnn.edit`` hands to
    its function. Every edit that passes and ``changes`` something counts in ``EDITS`` and
    starts a new sharing epoch (it may change which objects are shared, see ``_sharing``).
    """
    if _initialising(module):
        return
    if not _edit.is_private(module) and (
        _under_transformation() or _has_tracer(module) or _has_tracer(values)
    ):
        name = type(module).__name__
        raise RuntimeError(
            f"{name}.{verb} edits the module in place, but it was called inside a JAX "
            f"transformation (jax.jit, jax.grad, jax.vmap, ...), where a module is an "
            f"immutable value. Do the edit outside the transformation, or use the pure form: "
            f"`model = jaxnn.edit(model, fn)` runs torch's in-place verbs in `fn(m)` on a copy "
            f"and returns it (e.g. `def fn(m): m[0] = new_layer`; `eqx.tree_at` also replaces "
            f"a part, but every use of a shared one), "
            f"`jaxnn.functional_call(model, params_and_buffers, args)` runs with other "
            f"arrays, and `out, model = jaxnn.forward(model, x)` gives updated buffers back."
        )
    if changes:
        EDITS[0] += 1
        _sharing.new_epoch()
        _inplace.edited(module)  # jax caches holding it are cleared; its arrays re-noted


def _is_torch(value: Any, kind: str = "Tensor") -> bool:
    """Whether ``value`` is a torch ``Tensor``/``device``/``dtype``, by duck typing: jaxnn
    never imports torch (DESIGN rule 11)."""
    t = type(value)
    if not t.__module__.startswith("torch"):
        return False
    if kind == "Tensor":
        return hasattr(value, "detach")
    return t.__name__ == kind


def _torch_to_numpy(value: Any) -> np.ndarray:
    """A torch tensor's values as numpy, dtype kept (bfloat16 through ml_dtypes)."""
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":
        return value.float().numpy().astype(jnp.bfloat16)
    return value.numpy()


def _host_cast(a: np.ndarray, name: str, dtype: Any = None) -> np.ndarray:
    """``a`` cast on the host to ``dtype`` (default: the dtype JAX gives ``a``), never wrapped.

    JAX without x64 turns int64 into int32 by wrapping (2**33 + 5 -> 5, 2**40 -> 0). Here an
    integer becomes a float in one rounding step, as torch's ``copy_`` does; float64 beyond
    float32's range becomes inf, as in torch; an integer that does not fit the integer
    dtype JAX can hold raises, with the fix.
    """
    target = np.dtype(jax.dtypes.canonicalize_dtype(a.dtype if dtype is None else dtype))
    if a.dtype == target:
        return a
    if target.kind in "iu" and a.dtype.kind in "iuf" and a.size:
        info = np.iinfo(target)
        lo, hi = np.min(a), np.max(a)
        if not (info.min <= lo and hi <= info.max):  # (NaN fails this too)
            raise OverflowError(
                f"{name!r} holds {a.dtype} values from {lo} to {hi}, outside the range of "
                f"{target} ({info.min} to {info.max}) that it is loaded as; JAX would wrap "
                "them. Enable 64-bit types before building the model: "
                "jax.config.update('jax_enable_x64', True)."
            )
    with np.errstate(over="ignore"):  # float64 -> float32 overflow is inf, as in torch
        return a.astype(target)


def _to_array(value: Any, name: str, dtype: Any = None) -> Any:
    """numpy / jax / torch tensor -> jax array (torch only by duck typing: never imported).

    ``dtype``: the array's destination (a parameter's dtype), so that host values are cast
    once, exactly as torch's ``copy_`` would, instead of going through JAX's default dtype.
    """
    if isinstance(value, jax.Array):
        return value
    if _is_torch(value):
        return jnp.asarray(_host_cast(_torch_to_numpy(value), name, dtype))
    if isinstance(value, np.ndarray | np.generic) or (
        dtype is not None and isinstance(value, int | float | bool)
    ):
        return jnp.asarray(_host_cast(np.asarray(value), name, dtype))
    if isinstance(value, int | float | bool):  # (JAX raises for an int beyond int32 itself)
        return jnp.asarray(value)
    raise TypeError(
        f"state_dict[{name!r}] must be an array (numpy, jax or torch), got {type(value).__name__}."
    )


def _shape_str(shape: tuple[int, ...]) -> str:
    return f"torch.Size([{', '.join(str(int(s)) for s in shape)}])"


def _holds_torch(values: Any) -> bool:
    for v in values:
        if isinstance(v, jax.Array):  # the common case, checked first: a call costs ~1 us
            continue
        if isinstance(v, tuple | list | dict):
            if any(_is_torch(leaf) for leaf in jax.tree_util.tree_leaves(v)):
                return True
        elif _is_torch(v):
            return True
    return False


def _inputs_from_torch(module: Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``model(torch_tensor)``: torch tensors among the inputs become jax arrays.

    A torch user's data pipeline (a ``DataLoader``) yields torch tensors; converting them
    is what they would write by hand (``jnp.asarray(x.numpy())``), and the output is a jax
    array. A tensor that requires grad is refused: its gradient cannot flow back from JAX
    into torch's autograd, and dropping it silently would be the worst kind of bug.
    """
    if not (_holds_torch(args) or (kwargs and _holds_torch(kwargs.values()))):
        return args, kwargs
    # One tensor passed twice is one array: attention's ``query is key`` stays true.
    converted: dict[int, Any] = {}

    def convert(path: Any, value: Any) -> Any:
        if not _is_torch(value):
            return value
        if id(value) in converted:
            return converted[id(value)]
        where = ("args" if path[0].idx == 0 else "kwargs") + jax.tree_util.keystr(path[1:])
        if getattr(value, "requires_grad", False):
            raise TypeError(
                f"{module._get_name()}(...) got a torch.Tensor that requires grad as input "
                f"{where} (shape {tuple(value.shape)}): JAX cannot send gradients back into "
                f"torch's autograd. Pass x.detach() to use its values (the output is a jax "
                f"array), and take gradients on the JAX side with jax.grad."
            )
        converted[id(value)] = _to_array(value, where)
        return converted[id(value)]

    # torch's own containers (PackedSequence is a namedtuple) stay whole: rebuilt around jax
    # arrays they would fail inside torch; the layer that receives one says what it takes.
    return jax.tree_util.tree_map_with_path(
        convert, (args, kwargs), is_leaf=lambda v: type(v).__module__.startswith("torch")
    )


class Module(eqx.Module, metaclass=_ModuleMeta):
    """Base class for all jaxnn modules: ``torch.nn.Module`` as an Equinox pytree.

    Subclass it as in torch: assign layers in ``__init__`` (no annotations needed) and write
    ``forward``. Calling the module calls ``forward``; a layer that needs randomness takes
    ``key=``. The module is a pytree: ``jax.jit(f)(model)``, ``jax.grad``, ``eqx.tree_at``
    and ``optax`` take it directly.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> class MyModel(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(100, 10)
    ...         self.relu = nn.ReLU()
    ...     def forward(self, x):
    ...         return self.relu(self.fc(x))
    >>> model = MyModel()
    >>> model
    MyModel(
      (fc): Linear(in_features=100, out_features=10, bias=True)
      (relu): ReLU()
    )
    >>> model(jnp.ones((2, 100))).shape
    (2, 10)
    """

    training: bool = eqx.field(static=True, default=True, init=False, repr=False)
    _frozen: frozenset = eqx.field(static=True, default=frozenset(), init=False, repr=False)
    _registered_buffers: tuple = eqx.field(static=True, default=(), init=False, repr=False)

    # Plain attribute lookup: Equinox wraps bound methods in pytrees, which torch code
    # never needs and which would change ``print(model.parameters)``.
    __getattribute__ = object.__getattribute__

    # Identity semantics, as torch.nn.Module: modules are hashable (dict keys, callables in
    # jax.lax.cond) and ``==`` means "the same module"; Equinox's structural comparison
    # stays available as ``eqx.tree_equal``. jax's caches find a static argument by ``==``,
    # which cannot tell a module from itself after an in-place edit: hashing records the
    # module so that such an edit clears jax's caches (``_inplace.edited``) and
    # ``jax.jit(f, static_argnums=0)(model)`` recompiles instead of running old arrays.
    __eq__ = object.__eq__

    def __hash__(self) -> int:
        _inplace.hashed(self)
        return object.__hash__(self)

    def __new__(cls, *args: Any, **kwargs: Any) -> Module:
        self = super().__new__(cls, *args, **kwargs)
        d = self.__dict__
        d["training"] = True
        d["_frozen"] = frozenset()
        d["_registered_buffers"] = ()
        _sharing.mark_new(self)
        _edit.created(self)
        return self

    def __setstate__(self, state: Any) -> None:
        # ``copy.copy``, ``copy.deepcopy`` and unpickling fill a new module here: note it, so
        # that ``nn.init.zeros_(clone.weight)`` and ``requires_grad`` reach the copy (a
        # shallow copy shares its arrays with the original, and both change, as in torch).
        dict_state, slots = state if isinstance(state, tuple) else (state, None)
        self.__dict__.update(dict_state or {})
        for name, value in (slots or {}).items():
            object.__setattr__(self, name, value)
        _inplace.mark(self)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # ``super().__init__()`` in a torch-style subclass lands here and does nothing.
        if args or kwargs:
            raise TypeError(f"Module.__init__() takes no arguments, got {args!r} {kwargs!r}.")

    def __check_init__(self) -> None:
        _inplace.mark(self)  # its arrays can be found by nn.init.*_ / requires_grad
        # A field left at its class default is stored, so that every field is in __dict__
        # and flatten takes its fast path (the value read is the same).
        d = self.__dict__
        cls = type(self)
        for f in dataclasses.fields(cls):
            if f.name not in d and f.default is not dataclasses.MISSING:
                d[f.name] = _fields.box(cls, f.name, f.default)
        if not isinstance(self, _DynamicChildren):
            _check_no_plain_collections(self)
        # What is shared is known from here on (a write through one use reaches the others).
        _sharing.ensure_fresh(self)

    # ------------------------------------------------------------------ attributes
    def __setattr__(self, name: str, value: Any) -> None:
        names = _field_names(type(self))
        if name not in names:
            if isinstance(self, _DynamicChildren) and not name.startswith("_"):
                self.add_module(name, value)
                return
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}, and fields cannot be added to a "
                f"jaxnn module after its class is defined. jaxnn declares the attributes that "
                f"__init__ assigns as `self.{name} = ...`; for names made at run time "
                f"(setattr, loops) use a container: `self.layers = nn.ModuleList([...])` or "
                f"`nn.ModuleDict({{...}})`, or declare `{name}: Any` in the class body."
            )
        value = _fields.box(type(self), name, value)
        try:
            eqx.Module.__setattr__(self, name, value)
        except dataclasses.FrozenInstanceError:
            self._set_field(name, value, verb=f"{name} = ...")

    def _set_field(self, name: str, value: Any, *, verb: str) -> None:
        check_mutable(self, verb, value)
        old = self.__dict__.get(name)
        object.__setattr__(self, name, value)
        if (is_array(old) or is_array(value)) and not _sharing.replaced(self, name, old, value):
            # Another array, not `w = init.normal_(w)`: it brings its own requires_grad.
            _adopt_grad_flag(self, name, value)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args: Any, key: jax.Array | None = None, **kwargs: Any) -> Any:
        """Run ``forward``; ``key`` goes to ``forward`` if it takes one, else to a key scope.

        torch tensors among the inputs are converted to jax arrays (the output is a jax array).
        """
        _sharing.ensure_fresh(self)  # settles in-place writes made through a submodule
        forward = self.forward
        if key is None and _wants_scope_key(type(self)) and _random.has_forward_key():
            # A forward you wrote with key=None, called without one inside a model call
            # that has a key (jaxnn.Optimizer's step, a parent given key=): it gets a subkey
            # of that key, as jaxnn's own random layers do, instead of silently none.
            key = _random.draw_forward_key()
        if key is None:
            return observed_call(self, forward, args, kwargs)
        if _accepts_key(type(self)):
            return observed_call(self, functools.partial(forward, key=key), args, kwargs)
        with _random.forward_key(key):
            return observed_call(self, forward, args, kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function: '
            f"define `def forward(self, x): ...` (or `__call__`)."
        )

    # ------------------------------------------------------------------ members
    def _named_members_own(self) -> Iterator[tuple[str, Any, str]]:
        """(name, value, kind) for own parameters, buffers, then children, in torch's order.

        kind is 'param', 'buffer', 'buffer_np' (non-persistent) or 'module'. None-valued
        registered parameters/buffers (``bias=False``) are skipped, as torch's state_dict does.
        """
        params, buffers, children = [], [], []
        registered = self._registered_buffers
        for f in _dynamic_fields(type(self)):
            value = self.__dict__.get(f.name)
            if isinstance(value, Module):
                children.append((f.name, value, "module"))
            elif is_array(value) or is_lazy(value):
                kind = f.metadata.get(_KIND)
                reg = dict(registered).get(f.name)
                if kind == "buffer" or reg is not None:
                    persistent = f.metadata.get("persistent", True) if reg is None else reg
                    buffers.append((f.name, value, "buffer" if persistent else "buffer_np"))
                else:
                    params.append((f.name, value, "param"))
        yield from params
        yield from buffers
        yield from children

    def _stored_members(self) -> Iterator[tuple[str, Any, str]]:
        """Members as the pytree stores them, each place once (sharing: see ``_sharing``)."""
        yield from self._named_members_own()

    def _get_member(self, name: str) -> Any:
        """The value stored for one own member, as stored (``_sharing`` walks paths with it)."""
        d = self.__dict__
        if name in d:
            return d[name]
        for n, value, _ in self._stored_members():
            if n == name:
                return value
        raise KeyError(name)

    def _set_member(self, name: str, value: Any) -> None:
        """Replace one own parameter, buffer or child (no guard: callers guard)."""
        object.__setattr__(self, name, value)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, value, kind in self._named_members_own():
            if kind == "module" and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _all_children(self) -> Iterator[tuple[str, Module]]:
        for name, value, kind in self._named_members_own():
            if kind == "module":
                yield name, value

    def _repr_children(self) -> Iterator[tuple[str, Module | None]]:
        """Children as torch prints them (a container also prints a ``None`` entry)."""
        yield from self._all_children()

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if id(self) in memo and remove_duplicate:
            return
        if remove_duplicate:
            memo.add(id(self))
        _inplace.mark(self)  # torch code reaches parameters to initialise through here
        yield prefix, self
        children = self.named_children() if remove_duplicate else self._all_children()
        for name, module in children:
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _named_arrays(
        self, kinds: tuple[str, ...], prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, jax.Array]]:
        _sharing.ensure_fresh(self)
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        seen: set[int] = set()
        for mod_prefix, module in mods:
            for name, value, kind in module._named_members_own():
                if kind not in kinds:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, jax.Array]]:
        return _ParameterIterator(
            self._named_arrays(("param",), prefix, recurse, remove_duplicate),
            "named_parameters()",
        )

    def parameters(self, recurse: bool = True) -> Iterator[jax.Array]:
        """An iterator over the parameter arrays, as torch's generator (read-only use).

        Handing it to an optimizer (``opt.init(model.parameters())``,
        ``optax.adam(model.parameters())``) raises an error that shows the JAX way.
        """
        return _ParameterIterator(
            (p for _, p in self.named_parameters(recurse=recurse)), "parameters()"
        )

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, jax.Array]]:
        yield from self._named_arrays(("buffer", "buffer_np"), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[jax.Array]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        if target == "":
            return self
        module: Module = self
        for item in target.split("."):
            children = dict(module._all_children())
            if item not in children:
                raise AttributeError(
                    f"{module._get_name()} has no attribute `{item}` (looking up submodule "
                    f"{target!r}); its children are {list(children)}."
                )
            module = children[item]
        return module

    def _get_array(self, target: str, kinds: tuple[str, ...], what: str) -> jax.Array:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        for n, value, kind in module._named_members_own():
            if n == name and kind in kinds:
                return value
        raise AttributeError(f"{module._get_name()} has no {what} `{name}` ({target!r}).")

    def get_parameter(self, target: str) -> jax.Array:
        return self._get_array(target, ("param",), "parameter")

    def get_buffer(self, target: str) -> jax.Array:
        return self._get_array(target, ("buffer", "buffer_np"), "buffer")

    # ------------------------------------------------------------------ registration
    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Declare ``name`` a buffer (call in ``__init__``, as in torch)."""
        if name not in _field_names(type(self)):
            raise KeyError(
                f"register_buffer({name!r}, ...): {type(self).__name__} has no field {name!r}; "
                f"call it with a literal name in __init__ so jaxnn can declare the field."
            )
        value = None if tensor is None else _to_array(tensor, name)
        regs = tuple((n, p) for n, p in self._registered_buffers if n != name) + (
            (name, persistent),
        )
        object.__setattr__(self, "_registered_buffers", regs)
        setattr(self, name, value)

    def register_parameter(self, name: str, param: Any) -> None:
        setattr(self, name, None if param is None else _to_array(param, name))

    def add_module(self, name: str, module: Module | None) -> None:
        _check_module(module, allow_none=True)
        setattr(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------ state dict
    def _state_items(
        self, prefix: str = "", keep_np: bool = False
    ) -> Iterator[tuple[str, Any, Module, str]]:
        """(full key, value, owner, own name) for every state entry, duplicates included."""
        for name, value, kind in self._named_members_own():
            key = prefix + name
            if kind == "module":
                yield from value._state_items(key + ".", keep_np)
            elif kind != "buffer_np" or keep_np:
                yield key, value, self, name

    def state_dict(
        self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict:
        """Parameters and persistent buffers under torch's keys, in torch's order."""
        if args:
            raise TypeError(
                "state_dict() takes keyword arguments only: destination=, prefix=, keep_vars=."
            )
        _sharing.ensure_fresh(self)
        out = _StateDict() if destination is None else destination
        for key, value, _, _ in self._state_items(prefix):
            out[key] = value
        return out

    def load_state_dict(
        self, state_dict: Any, strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module, in place, as torch does.

        Accepts numpy arrays, jax arrays and torch tensors. Values are cast to each
        parameter's dtype (``assign=True`` keeps the checkpoint's dtype). Returns torch's
        ``(missing_keys, unexpected_keys)``; with ``strict=True`` any of those, and always
        a shape mismatch, raise torch's error before anything is changed.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        check_mutable(
            self, "load_state_dict", [v for v in state_dict.values() if isinstance(v, jax.Array)]
        )
        _sharing.ensure_fresh(self)
        expected: dict[str, tuple[Module, str, Any]] = OrderedDict()
        places: dict[int, list[tuple[Module, str]]] = {}
        for key, current, owner, name in self._state_items():
            expected[key] = (owner, name, current)
            group = places.setdefault(id(current), [])
            if (owner, name) not in group:
                group.append((owner, name))
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        errors = []
        # A lazy module's placeholders take the checkpoint's shapes (torch's _lazy_load_hook);
        # the module says which shapes its other entries must then have.
        lazy: dict[int, tuple[Module, dict[str, tuple[int, ...]]]] = {}
        for key, (owner, name, current) in expected.items():
            if is_lazy(current) and key in state_dict:
                loaded = tuple(np.shape(state_dict[key]))
                lazy.setdefault(id(owner), (owner, {}))[1][name] = loaded
        lazy_shapes = {i: owner._lazy_shapes_for(loaded) for i, (owner, loaded) in lazy.items()}
        # One new value per object: a module or parameter at several places (sharing, weight
        # tying) has several keys; as in torch, which copies each key into the one tensor in
        # state_dict order, the last key given wins and the places stay one object.
        chosen: dict[int, Any] = {}
        for key, (owner, name, current) in expected.items():
            if key not in state_dict:
                continue
            value = _to_array(state_dict[key], key, None if assign else current.dtype)
            if is_lazy(current):
                want = lazy_shapes[id(owner)].get(name, tuple(value.shape))
            else:
                want = tuple(current.shape)
            if tuple(value.shape) != tuple(want):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_shape_str(value.shape)} "
                    f"from checkpoint, the shape in current model is {_shape_str(want)}."
                )
                continue
            chosen[id(current)] = (current, value if assign else value.astype(current.dtype))
        updates = []
        used = {i for i in places if i not in chosen}  # arrays that stay where they are
        writes = []
        for group_id, (current, new) in chosen.items():
            if id(new) in used:  # copying values never ties two places that were apart
                new = jnp.array(new, copy=True)
            used.add(id(new))
            updates += [(owner, name, new) for owner, name in places[group_id]]
            writes.append((*places[group_id][0], current, new))
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected)
                    ),
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing)
                    ),
                )
        if errors:
            hint = (
                "\n\tFix: the keys and shapes must be those of this model's state_dict() "
                "(print(list(model.state_dict()))); pass strict=False to load a subset."
            )
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    self._get_name(), "\n\t".join(errors)
                )
                + hint
            )
        for owner, name, new in updates:
            owner._set_member(name, new)
        for owner, _ in lazy.values():
            owner._lazy_loaded()
        for owner, name, current, new in writes:  # torch copies into the tensor in place:
            _sharing.written(current, new)  # places outside this module that hold it see it
            _sharing.replaced(owner, name, current, new)
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and dtypes
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}.")
        modules = list(self.modules())
        # model.train() at every step (a torch habit) changes nothing after the first.
        check_mutable(self, "train", changes=any(m.training is not mode for m in modules))
        for m in modules:
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Mark every parameter trainable or frozen (see ``jaxnn.trainable``)."""
        check_mutable(self, "requires_grad_")
        _grad_calls[0] += 1
        seq = _grad_calls[0]
        inside = list(self.modules())
        for m in inside:
            params = [n for n, _, k in m._named_members_own() if k == "param"]
            params += [n for n, _ in _foreign_modules(m)]  # an Equinox module's weights
            names = () if requires_grad else params
            object.__setattr__(m, "_frozen", _Frozen(names, dict.fromkeys(params, seq)))
        # torch's flag is on the tensor: a parameter tied to a module outside this one is
        # frozen (or not) there too.
        ids = {id(m) for m in inside}
        for m in inside:
            for name, _, kind in m._named_members_own():
                if kind != "param":
                    continue
                for holder, key in _sharing.places_of(m, name):
                    if id(holder) not in ids:
                        _set_grad_flag(holder, key, not requires_grad, seq)
        return self

    def parameter_requires_grad(self, name: str) -> bool:
        """Whether the parameter ``name`` (dotted) is trained: torch's ``p.requires_grad``."""
        return id(self.get_parameter(name)) not in _frozen_arrays(self)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        for child in self.children():
            child.apply(fn)
        _inplace.mark(self)  # `model.apply(init_weights)`: nn.init.*_ finds the arrays
        fn(self)
        _sharing.ensure_fresh(self)  # ``fn`` may have written a shared array through one use
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Cast floating parameters and buffers to a dtype and/or move them to a device, in place.

        ``model.to(jnp.bfloat16)``, ``model.to("cpu")``, ``model.to(jax.devices()[0])``; torch's
        spellings work too: ``model.to("cuda:1")``, ``model.to(torch.device("cuda"))``,
        ``model.to(torch.float16)``. A device JAX does not see raises, listing
        ``jax.devices()``. Arrays already live on JAX's default device, so a move is only
        needed to choose another one.
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}.")
        for a in args:
            if isinstance(a, str | jax.Device) or _is_torch(a, "device"):
                device = a
            else:
                dtype = a
        check_mutable(self, "to")
        _sharing.ensure_fresh(self)
        if dtype is not None:
            dtype = _check_float_dtype(dtype)
        if device is not None and not isinstance(device, jax.Device):
            device = _device_from_string(device)
        done: dict[int, tuple[Any, ...]] = {}  # an array at several places is cast once
        for m in self.modules():
            for name, value, kind in list(m._named_members_own()):
                if kind == "module":
                    continue
                if id(value) in done:
                    new = done[id(value)][3]
                else:
                    new = value
                    if dtype is not None and jnp.issubdtype(value.dtype, jnp.floating):
                        new = new.astype(dtype)
                    if device is not None:
                        new = jax.device_put(new, device)
                    done[id(value)] = (m, name, value, new)
                    _sharing.written(value, new)
                if new is not value:
                    m._set_member(name, new)
        for m, name, value, new in done.values():  # places outside that share an array
            _sharing.replaced(m, name, value, new)
        return self

    def float(self) -> Module:
        return self.to(jnp.float32)

    def double(self) -> Module:
        return self.to(jnp.float64)

    def half(self) -> Module:
        return self.to(jnp.float16)

    def bfloat16(self) -> Module:
        return self.to(jnp.bfloat16)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        """``model.cuda()`` / ``model.cuda(1)``: ``to("cuda")``; raises when JAX sees no GPU."""
        if device is None:
            return self.to("cuda")
        if isinstance(device, int):
            return self.to(f"cuda:{device}")
        return self.to(device)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Does nothing, and that is torch's result: there are no stored gradients to clear.

        torch accumulates gradients into ``p.grad`` until they are zeroed; JAX returns them
        as values from ``jax.grad``, fresh on every call, so a training step behaves like a
        torch step that called ``zero_grad()`` first. Accumulating over micro-batches is
        written out: sum the gradient pytrees.
        """

    # ------------------------------------------------------------------ buffers in forward
    def update_buffers(self, **values: jax.Array) -> None:
        """Report new buffer values from ``forward`` (torch: ``self.running_mean.copy_(...)``).

        Inside ``jaxnn.forward`` the values come back in the returned model; in a plain
        call they are dropped with a one-time warning (DESIGN rule 7).
        """
        _state.record(self, values)

    def buffer_value(self, name: str) -> jax.Array:
        """The buffer's current value in this forward pass (after earlier updates to it)."""
        return _state.current(self, name, self.__dict__[name])

    # ------------------------------------------------------------------ printing
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): {_addindent(repr(m), 2)}" for key, m in self._repr_children()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()))


class CallObserver(typing.Protocol):
    """Sees every module call (``jaxnn.summary``'s forward hooks): ``before(module, args)``
    when it starts, ``after(module, out)`` when it returns."""

    def before(self, module: Module, args: tuple) -> None: ...

    def after(self, module: Module, out: Any) -> None: ...


# Empty in normal use, so a call costs two empty loops at trace time.
_call_observers: list[CallObserver] = []


def observed_call(module: Module, forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``forward(*args, **kwargs)`` as ``Module.__call__`` runs it (torch inputs converted,
    observers told), for a module that defines its own ``__call__``."""
    args, kwargs = _inputs_from_torch(module, args, kwargs)
    for observer in _call_observers:
        observer.before(module, args)
    out = forward(*args, **kwargs)
    for observer in _call_observers:
        observer.after(module, out)
    return out


class _StateDict(OrderedDict):
    """What ``state_dict()`` returns: an OrderedDict of jax arrays that ``torch.save`` writes
    as torch tensors.

    ``torch.save(model.state_dict(), path)`` is the torch habit, and ``torch.load`` (with its
    ``weights_only=True`` default) refuses to unpickle jax arrays. So when torch's pickler is
    the one writing, the dict reduces to a plain ``OrderedDict`` of CPU tensors: what
    ``torch_model.state_dict()`` would have saved, ready for ``torch_model.load_state_dict``.
    Any other pickling (``pickle``, ``copy.deepcopy``, multiprocessing) keeps jax arrays.
    """

    def __reduce_ex__(self, protocol: Any) -> Any:
        if _pickled_by_torch_save():
            from .interop._torch import _tensor  # torch is imported: torch.save is running

            return (OrderedDict, (), None, None, iter([(k, _tensor(v)) for k, v in self.items()]))
        return super().__reduce_ex__(protocol)

    def __repr__(self) -> str:
        text = super().__repr__()
        return "OrderedDict" + text[len(type(self).__name__) :]


def _pickled_by_torch_save() -> bool:
    # The pickler calls __reduce_ex__ without saying who it is; torch.save's is the one
    # running inside torch.serialization's _save (or _legacy_save for the old format).
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("_save", "_legacy_save") and (
            frame.f_globals.get("__name__") == "torch.serialization"
        ):
            return True
        frame = frame.f_back
    return False


# A subclass of OrderedDict is not a pytree node unless registered: keep
# ``jax.tree.map(f, model.state_dict())`` working as it does on a plain OrderedDict.
jax.tree_util.register_pytree_with_keys(
    _StateDict,
    lambda d: ([(jax.tree_util.DictKey(k), v) for k, v in d.items()], tuple(d)),
    lambda keys, values: _StateDict(zip(keys, values, strict=True)),
)


_OPTIMIZER_HINT = (
    "model.{what} is an iterator over the parameter arrays, for reading them "
    "(sum(p.size for p in model.parameters())). jaxnn's optimizer takes the model itself: "
    "`opt = nn.Optimizer(model, optax.adam(1e-3))`, then `step = opt.make_step(loss_fn)` "
    "and `loss = step(x, y)` (the README's quick start). optax's own functions take a pytree "
    "of parameters and return new values: `params, rest = eqx.partition(model, "
    "nn.trainable(model))`, `opt_state = optax.adam(1e-3).init(params)`."
)


class _ParameterIterator:
    """What ``parameters()`` / ``named_parameters()`` return: an iterator, as torch's
    generator, that refuses to be an optimizer's argument with an error showing the JAX way.

    A bare generator would be a pytree leaf, and optax would fail on it with ``zeros_like
    requires ndarray`` or ``unsupported operand type(s) for *: 'int' and 'generator'``,
    which names neither the mistake nor the fix.
    """

    __slots__ = ("_it", "_what")

    def __init__(self, it: Iterator[Any], what: str) -> None:
        self._it = it
        self._what = what

    def __iter__(self) -> _ParameterIterator:
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_OPTIMIZER_HINT.format(what=self._what))

    # optax.adam(model.parameters()) computes -1 * learning_rate; jnp/np conversions and
    # jax.tree flattening (opt.init) are the other ways an optimizer touches it.
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__ = __radd__ = _refuse
    __sub__ = __rsub__ = __neg__ = __float__ = __jax_array__ = __array__ = _refuse


jax.tree_util.register_pytree_node(
    _ParameterIterator,
    lambda it: it._refuse(),
    lambda aux, children: None,
)


_sharing._module_type = Module


class _DynamicChildren:
    """Marker: containers accept ``module.name = child`` for new names (torch's add_module)."""


def _check_no_plain_collections(self: Module) -> None:
    for f in _dynamic_fields(type(self)):
        value = self.__dict__.get(f.name)
        if isinstance(value, list | tuple | dict) and any(
            isinstance(v, eqx.Module)
            for v in jax.tree_util.tree_leaves(value, is_leaf=lambda x: isinstance(x, eqx.Module))
        ):
            kind = "ModuleDict" if isinstance(value, dict) else "ModuleList"
            raise TypeError(
                f"{type(self).__name__}.{f.name} is a plain {type(value).__name__} of modules; "
                f"torch would not register them and jaxnn cannot list their parameters. "
                f"Wrap it: self.{f.name} = nn.{kind}(...)."
            )


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    rest = [(num_spaces * " ") + line if line.strip() else "" for line in lines]
    return first + "\n" + "\n".join(rest)


def _check_module(module: Any, allow_none: bool = False) -> None:
    if module is None and allow_none:
        return
    if not isinstance(module, Module):
        hint = ""
        if type(module).__module__.startswith("torch"):
            hint = " Convert torch modules with jaxnn.from_torch(module)."
        elif isinstance(module, eqx.Module):
            hint = " Wrap Equinox modules: jaxnn.Lambda(eqx_module)."
        elif callable(module):
            hint = " Wrap a function as a layer: jaxnn.Lambda(fn)."
        raise TypeError(
            f"{type(module).__module__}.{type(module).__qualname__} is not a jaxnn Module subclass.{hint}"
        )


def _check_float_dtype(dtype: Any) -> Any:
    if _is_torch(dtype, "dtype"):  # torch.float16 -> its JAX name, "float16"
        dtype = str(dtype).removeprefix("torch.")
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"to(): {dtype!r} is neither a dtype nor a device.") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}."
        )
    if dt == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "to(float64): JAX has 64-bit types disabled, so the arrays would silently stay "
            "float32. Enable them first: jax.config.update('jax_enable_x64', True)."
        )
    return dt


def _device_from_string(device: Any) -> jax.Device:
    """``"cuda:1"``, ``"cpu"``, ``torch.device("cuda")`` -> that JAX device, or a clear error."""
    spec = str(device)  # torch.device prints as "cuda:0"
    platform = {"cuda": "gpu", "gpu": "gpu", "cpu": "cpu", "tpu": "tpu"}.get(spec.split(":")[0])
    available = ", ".join(str(d) for d in jax.devices())
    if platform is None:
        raise ValueError(
            f"to({spec!r}): unknown device; use 'cpu', 'cuda'/'gpu' (optionally ':index'), "
            f"'tpu', torch.device(...) or a jax.Device. jax.devices() lists [{available}]."
        )
    index = spec.split(":")[1] if ":" in spec else "0"
    try:
        devices = jax.devices(platform)
    except RuntimeError:
        raise RuntimeError(
            f"to({spec!r}): JAX sees no {platform} device; jax.devices() lists [{available}]. "
            f"Install the JAX build for it (e.g. pip install -U 'jax[cuda12]'), or leave the "
            f"model where it is: arrays already live on JAX's default device, jax.devices()[0]."
        ) from None
    if not index.isdigit() or int(index) >= len(devices):
        raise ValueError(
            f"to({spec!r}): there is no {platform} device {index}; "
            f"jax.devices({platform!r}) lists [{', '.join(str(d) for d in devices)}]."
        )
    return devices[int(index)]


_FIELD_CACHE: dict[type, tuple[dataclasses.Field, ...]] = {}
_NAMES_CACHE: dict[type, frozenset[str]] = {}
_KEY_CACHE: dict[type, bool] = {}


def _dynamic_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    fields = _FIELD_CACHE.get(cls)
    if fields is None:
        fields = tuple(f for f in dataclasses.fields(cls) if not f.metadata.get("static", False))
        _FIELD_CACHE[cls] = fields
    return fields


def _field_names(cls: type) -> frozenset[str]:
    names = _NAMES_CACHE.get(cls)
    if names is None:
        names = frozenset(f.name for f in dataclasses.fields(cls))
        _NAMES_CACHE[cls] = names
    return names


_SCOPE_KEY_CACHE: dict[type, bool] = {}


def _wants_scope_key(cls: type) -> bool:
    """A forward jaxnn did not write, with a ``key`` parameter that defaults to None.

    (jaxnn's own layers draw from the forward key scope themselves when they need to;
    MultiheadAttention's ``key`` is torch's key tensor, a required argument.)
    """
    wants = _SCOPE_KEY_CACHE.get(cls)
    if wants is None:
        wants = _random.may_draw_key_cls(cls) and not getattr(cls, "_uses_key", False)
        if wants:
            try:
                param = inspect.signature(cls.forward).parameters.get("key")
            except (TypeError, ValueError):
                param = None
            wants = param is not None and param.default is None
        _SCOPE_KEY_CACHE[cls] = wants
    return wants


def _accepts_key(cls: type) -> bool:
    accepts = _KEY_CACHE.get(cls)
    if accepts is None:
        try:
            params = inspect.signature(cls.forward).parameters
        except (TypeError, ValueError):
            params = {}
        accepts = "key" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        _KEY_CACHE[cls] = accepts
    return accepts


def Parameter(data: Any, requires_grad: bool = True) -> jax.Array:
    """``nn.Parameter(x)``: in jaxnn any array assigned to a module is a parameter.

    Returns ``x`` as a jax array; ``requires_grad=False`` is expressed on the module with
    ``requires_grad_(False)`` instead, since arrays carry no flags.
    """
    if not requires_grad:
        raise ValueError(
            "Parameter(x, requires_grad=False): jax arrays carry no flags. Assign the array and "
            "call module.requires_grad_(False), or register it as a buffer."
        )
    return _to_array(data, "Parameter")


_ = typing  # typing is imported for users' annotations resolved by dataclasses


def rebuild(
    root: Module, leaf: Callable[[Module, str, str, Any], Any], *, tie: bool = True
) -> Module:
    """A copy of ``root`` (every module cloned once, sharing kept) with arrays mapped.

    ``leaf(module, name, kind, value)`` gives the new value of each own parameter and
    buffer of each original module. With ``tie`` (the default), an array placed at several
    places (weight tying) is mapped once, at its first place, and the result placed at all
    of them, so that the copy shares it too. Nothing in ``root`` changes.
    """
    _sharing.ensure_fresh(root)
    memo: dict[int, Module] = {}
    arrays: dict[int, Any] = {}

    def clone(module: Module) -> Module:
        done = memo.get(id(module))
        if done is not None:
            return done
        new = object.__new__(type(module))
        new.__dict__.update(module.__dict__)
        memo[id(module)] = new
        for name, value, kind in module._stored_members():
            if kind == "module":
                value = clone(value)
            elif not tie:
                value = leaf(module, name, kind, value)
            elif id(value) in arrays:
                value = arrays[id(value)]
            else:
                key = id(value)
                value = arrays[key] = leaf(module, name, kind, value)
            new._set_member(name, value)
        return new

    return clone(root)


class _Frozen(frozenset):
    """A module's frozen parameter names, with the ``requires_grad_`` call (a sequence
    number) that last set each name's flag. torch keeps one flag per tensor, set by whoever
    calls ``requires_grad_`` last; a parameter used by several modules (weight tying) takes
    the flag of its place set last. A place rebound to another array takes that array's
    flag and stamp (``_adopt_grad_flag``): a new one's is True with no say (0).
    Equality is the names' (it is static pytree data)."""

    __slots__ = ("stamps",)

    def __new__(cls, names: Any = (), stamps: Any = ()) -> _Frozen:
        self = super().__new__(cls, names)
        self.stamps = dict(stamps)
        return self

    def __reduce__(self) -> Any:
        return (_Frozen, (frozenset(self), self.stamps))

    def stamp(self, name: str) -> int:
        return self.stamps.get(name, 0)


_grad_calls = [0]


def _set_grad_flag(module: Module, name: str, frozen: bool, stamp: int) -> None:
    old = module._frozen
    names = old | {name} if frozen else old - {name}
    stamps = dict(getattr(old, "stamps", {}))
    stamps[name] = stamp
    object.__setattr__(module, "_frozen", _Frozen(names, stamps))


def _forget_grad_flag(module: Module, name: str) -> None:
    frozen = module._frozen
    if name in frozen or getattr(frozen, "stamps", {}).get(name):
        _set_grad_flag(module, name, False, 0)


def _adopt_grad_flag(module: Module, name: str, value: Any) -> None:
    """``module.name`` now holds ``value``: the place takes the array's requires_grad, as a
    torch Parameter carries its flag to the places it is assigned to. A tied array's flag
    is its other places' (the latest setting, see ``_Frozen``), copied here so that it
    outlives them (``b.weight = a.weight; del a``); a new array's is True."""
    best = (0, False)
    if _grad_calls[0] and is_array(value):  # no flag was ever set: every flag is True
        for m, n, kind in _inplace.holders(value):
            if kind == "param" and not (m is module and n == name):
                frozen = m._frozen
                stamp = frozen.stamp(n) if isinstance(frozen, _Frozen) else 0
                best = max(best, (stamp, n in frozen))
    if best == (0, False):
        _forget_grad_flag(module, name)
    else:
        _set_grad_flag(module, name, best[1], best[0])


def _frozen_arrays(root: Module) -> set[int]:
    """``id`` of every parameter of ``root`` that does not require grad (see ``_Frozen``)."""
    _sharing.ensure_fresh(root)
    latest: dict[int, tuple[int, bool]] = {}
    for module in root.modules():
        frozen = module._frozen
        stamp = getattr(frozen, "stamp", lambda _: 0)
        for name, value, kind in module._named_members_own():
            if kind != "param":
                continue
            now = (stamp(name), name in frozen)
            before = latest.get(id(value))
            if before is None or now > before:  # later call wins; same call: frozen wins
                latest[id(value)] = now
    return {k for k, (_, frozen) in latest.items() if frozen}


def trainable(model: Module) -> Module:
    """The mask of trainable leaves: True for parameters that require grad, else False.

    A pytree with ``model``'s structure, for ``eqx.partition(model, mask)``,
    ``eqx.filter_grad`` and ``optax.masked``: buffers (BatchNorm statistics) and frozen
    parameters (``requires_grad_(False)``) are False, so optimizers never touch them.

    >>> import jaxnn as nn, equinox as eqx
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    >>> params, rest = eqx.partition(model, nn.trainable(model))
    >>> import jax
    >>> jax.tree.leaves(nn.trainable(model))  # Linear w, b; BatchNorm w, b; 3 buffers
    [True, True, True, True, False, False, False]
    """
    if not isinstance(model, Module):
        raise TypeError(f"trainable(model) takes a jaxnn Module, got {type(model).__name__}.")
    frozen = _frozen_arrays(model)

    def leaf(module: Module, name: str, kind: str, value: Any) -> Any:
        ok = (
            kind == "param" and id(value) not in frozen and jnp.issubdtype(value.dtype, jnp.inexact)
        )
        return jax.tree_util.tree_map(lambda _: ok, value)

    mask = rebuild(model, leaf)
    # An Equinox module kept in a field (nn.Lambda(eqx.nn.Linear(...)), a user's attribute)
    # has no torch name, but its floating arrays are weights: they train unless the jaxnn
    # module holding it was frozen. (The clones in `mask` are new objects: set in place.)
    for m in _state.walk(mask):
        for name, inner in _foreign_modules(m):
            train = name not in m._frozen
            m.__dict__[name] = jax.tree_util.tree_map(
                lambda v, train=train: (
                    train and is_array(v) and jnp.issubdtype(v.dtype, jnp.inexact)
                ),
                inner,
            )
    return jax.tree_util.tree_map(lambda x: x if isinstance(x, bool) else False, mask)


def _foreign_modules(module: Module) -> list[tuple[str, eqx.Module]]:
    """``(field, value)`` for the fields of ``module`` holding a non-jaxnn Equinox module."""
    return [
        (f.name, v)
        for f in _dynamic_fields(type(module))
        if isinstance(v := module.__dict__.get(f.name), eqx.Module) and not isinstance(v, Module)
    ]
