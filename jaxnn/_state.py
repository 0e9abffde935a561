"""Buffer updates made during a forward pass, and ``jaxnn.forward`` that returns them.

JAX cannot mutate a buffer inside ``jit``. A layer that torch would mutate (BatchNorm's
running statistics) reports its new values with ``Module.update_buffers``; inside
``jaxnn.forward`` they are collected in a *scope* and written into a rebuilt copy of the
model, which is returned beside the output (DESIGN rule 7). A module called twice in one
pass sees its own first update, as in torch.

A scope belongs to one JAX trace and to the modules of one model. An update recorded from
another trace (the layer ran inside ``jax.checkpoint``, ``lax.scan``, ``lax.cond``,
``jax.vmap`` entered inside the forward) is a tracer that cannot leave that trace, and an
update of a module that is not part of the model (a copy rebuilt by a transformation or
by ``eqx.tree_at``) has nowhere to go: both raise at the moment they are recorded, naming
``jaxnn.checkpoint`` / ``jaxnn.scan`` / ``jaxnn.cond`` / ``jaxnn.vmap``
(``jaxnn/_transforms.py``), which run a layer under those transformations and hand its
updates back to the scope. Never a leaked tracer, never a silent drop (DESIGN rule 12).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

_local = threading.local()


class BufferUpdateDroppedWarning(UserWarning):
    """A training-mode forward updated buffers, but nothing was there to receive them."""


try:  # public since jax 0.4.36 (the "stackless" tracing core)
    from jax.extend.core import get_opaque_trace_state as _opaque_trace_state
except ImportError:  # pragma: no cover - older jax
    try:
        from jax._src.core import get_opaque_trace_state as _opaque_trace_state
    except ImportError:
        _opaque_trace_state = None


def trace_token() -> Any:
    """An object equal to another token exactly when both were taken in the same JAX trace."""
    if _opaque_trace_state is None:  # pragma: no cover - older jax: the check is off
        return None
    return _opaque_trace_state()


class Scope:
    """Collects buffer updates for the modules of one model, in one JAX trace.

    ``members``: ids of the modules whose updates can be returned (None: any module).
    ``seed``: id(module) -> {name: value}, the values a module starts from in this scope
    (set by ``jaxnn.scan`` for modules whose buffers travel in the carry).
    ``foreign``: builds the error for a module that is not a member.
    """

    __slots__ = ("foreign", "members", "seed", "trace", "updates")

    def __init__(
        self,
        members: set[int] | None,
        foreign: Callable[[Any], Exception] | None = None,
        seed: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.updates: dict[int, tuple[Any, dict[str, jax.Array]]] = {}
        self.trace = trace_token()
        self.members = members
        self.foreign = foreign or _not_in_model
        self.seed = seed or {}


def _stack() -> list[Scope]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def top() -> Scope | None:
    """The innermost scope, or None in a plain call."""
    stack = _stack()
    return stack[-1] if stack else None


class scope:
    """``with scope(s): ...`` makes ``s`` the innermost scope."""

    def __init__(self, s: Scope) -> None:
        self.s = s

    def __enter__(self) -> Scope:
        _stack().append(self.s)
        return self.s

    def __exit__(self, *exc: Any) -> None:
        _stack().pop()


_FIXES = (
    "Run the layer with jaxnn's form of the transformation, which hands the update back: "
    "`jaxnn.checkpoint(layer, x)` (torch.utils.checkpoint.checkpoint), "
    "`jaxnn.scan(f, init, xs)` over stacked layers, `jaxnn.cond(pred, f, g, x)`, "
    "`jaxnn.vmap(f)(stacked_layers, x)`; or call the layer outside the transformation; "
    "or put it in eval mode (model.eval()) or build it with track_running_stats=False."
)


def _not_in_model(module: Any) -> Exception:
    return RuntimeError(
        f"{type(module).__name__} updated its buffers inside jaxnn.forward, but this "
        f"{type(module).__name__} object is not part of the model passed to jaxnn.forward: it "
        f"is a copy (made by a JAX transformation such as jax.checkpoint, lax.scan or "
        f"eqx.filter_vmap, or by eqx.tree_at / jax.tree.map / jaxnn.functional_call), so its "
        f"update would be lost. To keep a copy's update, run it as `out, copy = "
        f"jaxnn.forward(copy, x)` and use what it returns. " + _FIXES
    )


def _other_trace(module: Any) -> Exception:
    return RuntimeError(
        f"{type(module).__name__} updated its buffers inside a JAX transformation "
        f"(jax.checkpoint, lax.scan, lax.cond, lax.while_loop, jax.vmap, ...) entered inside "
        f"the forward pass that jaxnn.forward runs: the new values are tracers of that "
        f"transformation and cannot be returned, so the update would be lost or leak. " + _FIXES
    )


def record(module: Any, values: dict[str, jax.Array]) -> None:
    """Report ``module``'s new buffer values to the innermost scope (``update_buffers``)."""
    s = top()
    if s is None:
        _warn_dropped(module, values)
        return
    if s.trace is not None and trace_token() != s.trace:
        raise _other_trace(module)
    if s.members is not None and id(module) not in s.members:
        raise s.foreign(module)
    s.updates.setdefault(id(module), (module, {}))[1].update(values)


def current(module: Any, name: str, default: jax.Array) -> jax.Array:
    """``module``'s buffer ``name`` as updated so far in this pass (innermost scope first)."""
    for s in reversed(_stack()):
        entry = s.updates.get(id(module))
        if entry is not None and name in entry[1]:
            return entry[1][name]
        seeded = s.seed.get(id(module))
        if seeded is not None and name in seeded:
            return seeded[name]
    return default


def has_updates(module: Any) -> bool:
    """Whether this pass has changed any buffer of ``module`` so far."""
    return any(id(module) in s.updates or id(module) in s.seed for s in _stack())


# Frames inside these packages are skipped when the warning picks the line it names, so
# that it points at the user's code (the call of the model, or their forward).
_INTERNAL = tuple(
    os.path.dirname(m.__file__) + os.sep
    for m in (sys.modules["jax"], sys.modules.get("jaxlib"), sys.modules.get("equinox"))
    if m is not None and getattr(m, "__file__", None)
) + (os.path.dirname(os.path.abspath(__file__)) + os.sep,)


def _warn_dropped(module: Any, values: dict[str, jax.Array]) -> None:
    # Attributed to the first frame outside jaxnn/jax/equinox, so Python's warning registry
    # shows it once per call site: once for a loop of eager calls, once per traced call
    # site under jit, again for another model or another notebook cell.
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"{type(module).__name__} computed new buffer values ({', '.join(values)}) in "
        f"training mode, but a plain call cannot store them: the model is an immutable "
        f"value. Use `out, model = jaxnn.forward(model, x)` to get the updated model, or "
        f"call model.eval() to use the running statistics. (Shown once per call site.)",
        BufferUpdateDroppedWarning,
        stacklevel=level,
    )


def walk(module: Any) -> Iterator[Any]:
    """``module`` and every module below it, each shared object once, in a fixed order.

    The order depends only on the structure, so a copy made by flattening and
    unflattening walks in step with the original.
    """
    seen = {id(module)}
    todo = [module]
    while todo:
        m = todo.pop()
        yield m
        for _, child in m._stored_children():
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)


def module_ids(model: Any) -> set[int]:
    """ids of every module reachable from ``model``."""
    return {id(m) for m in walk(model)}


def forward(model: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run ``model(*args, **kwargs)`` and return ``(out, model_with_updated_buffers)``.

    The pure way to train a model with BatchNorm: the returned model holds the running
    statistics torch would have written in place; ``model`` itself is unchanged. Works
    eagerly and under ``jax.jit``. A layer run inside a JAX transformation in the forward
    (``jax.checkpoint``, ``lax.scan``, ...) must go through ``jaxnn.checkpoint`` /
    ``jaxnn.scan`` / ``jaxnn.cond`` / ``jaxnn.vmap`` to keep its update: the raw
    transformations raise where the update is recorded.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> bn = nn.BatchNorm1d(2)
    >>> out, bn2 = nn.forward(bn, jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> bn2.running_mean
    Array([0.1, 0.2], dtype=float32)
    """
    from ._module import Module, rebuild

    if not isinstance(model, Module):
        raise TypeError(
            f"jaxnn.forward(model, ...) takes a jaxnn Module, got {type(model).__name__}."
        )
    s = Scope(module_ids(model))
    with scope(s):
        out = model(*args, **kwargs)

    def leaf(module: Any, name: str, kind: str, value: Any) -> Any:
        entry = s.updates.get(id(module))
        if entry is not None and name in entry[1]:
            return entry[1][name]
        return value

    return out, rebuild(model, leaf)


def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Run ``module`` with the given arrays in place of its own, without changing it.

    ``torch.func.functional_call``'s signature: ``parameter_and_buffer_dicts`` maps
    state_dict names to arrays (a dict, or a tuple of dicts); names not given keep the
    module's arrays (``strict=True`` requires all). A module shared under two names is one
    module: giving either name sets both (``tie_weights``). Works under ``jit`` and ``grad``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Linear(2, 1)
    >>> nn.functional_call(m, {"weight": jnp.ones((1, 2)), "bias": jnp.zeros(1)}, (jnp.ones(2),))
    Array([2.], dtype=float32)
    """
    from ._module import Module, rebuild

    if not isinstance(module, Module):
        raise TypeError(
            f"functional_call(module, ...) takes a jaxnn Module, got {type(module).__name__}."
        )
    dicts = parameter_and_buffer_dicts
    if isinstance(dicts, tuple | list):
        merged: dict[str, Any] = {}
        for d in dicts:
            overlap = set(merged) & set(d)
            if overlap:
                raise ValueError(
                    f"functional_call: {sorted(overlap)} appear in more than one dict."
                )
            merged.update(d)
        dicts = merged
    if not hasattr(dicts, "items"):
        raise TypeError(
            f"parameter_and_buffer_dicts must be a dict of name -> array, got {type(dicts).__name__}."
        )
    by_owner: dict[tuple[int, str], Any] = {}
    names: dict[tuple[int, str], list[str]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for full, value, owner, own in module._state_items(keep_np=True):
        names.setdefault((id(owner), own), []).append(full)
        shapes[full] = tuple(np.shape(value))
    known = {n for group in names.values() for n in group}
    unknown = sorted(set(dicts) - known)
    if unknown:
        raise ValueError(
            f"functional_call: {unknown} are not parameters or buffers of {module._get_name()}; "
            f"its names are {sorted(known)}."
        )
    # The shape is static (known under jit and vmap too): a wrong one would otherwise
    # broadcast silently or fail deep inside the forward.
    wrong = [
        f"size mismatch for {n}: got an array of shape {tuple(np.shape(v))}, the shape in "
        f"current model is {shapes[n]}"
        for n, v in dicts.items()
        if tuple(np.shape(v)) != shapes[n]
    ]
    if wrong:
        raise ValueError(
            f"functional_call: {'; '.join(wrong)}. Pass arrays of the module's shapes "
            f"(see {{k: v.shape for k, v in module.state_dict().items()}})."
        )
    for slot, group in names.items():
        given = [n for n in group if n in dicts]
        if len(given) > 1 and tie_weights and len({id(dicts[n]) for n in given}) > 1:
            raise ValueError(f"functional_call: tied names {given} were given different arrays.")
        if given:
            by_owner[slot] = dicts[given[0]]
        elif strict:
            raise ValueError(f"functional_call(strict=True): missing {group[0]!r}.")

    def leaf(owner: Any, name: str, kind: str, value: Any) -> Any:
        return by_owner.get((id(owner), name), value)

    new = rebuild(module, leaf)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    return new(*args, **(kwargs or {}))
