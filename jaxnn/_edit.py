"""``jaxnn.edit``: torch's in-place verbs as a pure function (usable inside ``jax.jit``).

In-place edits are torch's vocabulary (DESIGN rule 2); inside a transformation a module is an
immutable value and ``_module.check_mutable`` refuses them. ``edit`` gives the same verbs
their torch meaning there: it copies the model (every module once, sharing kept, arrays not
copied), lets ``fn`` edit the copy in place and returns it. ``eqx.tree_at`` replaces a node
of the pytree, which for a module placed twice (``Sequential(a, act, a)``) is every use of
it; ``edit(model, fn)`` with ``m[0] = new`` replaces position 0 only, as torch does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_local = threading.local()


def _private() -> list[set[int]]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def is_private(module: Any) -> bool:
    """Whether ``module`` belongs to a copy that ``edit`` is editing (edits are allowed)."""
    stack = getattr(_local, "stack", None)
    return bool(stack) and id(module) in stack[-1]


def innermost() -> Any:
    """The copy that the innermost running ``edit`` is editing, or None."""
    roots = getattr(_local, "roots", None)
    return roots[-1] if roots else None


def created(module: Any) -> None:
    """A module built while ``edit`` runs ``fn`` belongs to the copy too."""
    stack = getattr(_local, "stack", None)
    if stack:
        stack[-1].add(id(module))


def edit(model: Any, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(m)`` on a copy ``m`` of ``model`` and return the edited copy; ``model`` is unchanged.

    ``fn`` uses torch's in-place verbs (``m[0] = layer``, ``del m[1]``, ``m.append(...)``,
    ``m.fc = ...``, ``m.out.weight = m.emb.weight``, ``m.load_state_dict(...)``, ...) with
    their torch meaning, also inside ``jax.jit``/``jax.grad``, where editing ``model`` itself
    raises. Every module of ``model`` is copied once (a module used twice is still one
    module in the copy; arrays are not copied); modules ``fn`` builds may be edited too.
    ``fn``'s return value is ignored.

    Args:
        model: a jaxnn Module.
        fn: a function that edits its argument in place.

    >>> import jax, jax.numpy as jnp, jaxnn as nn
    >>> shared = nn.Linear(2, 2)
    >>> seq = nn.Sequential(shared, nn.ReLU(), shared)
    >>> def swap_first(m):
    ...     m[0] = nn.Tanh()
    >>> nn.edit(seq, swap_first)  # position 0 only, as `seq[0] = nn.Tanh()` in torch
    Sequential(
      (0): Tanh()
      (1): ReLU()
      (2): Linear(in_features=2, out_features=2, bias=True)
    )
    >>> jax.jit(lambda m: nn.edit(m, swap_first)(jnp.ones(2)))(seq).shape
    (2,)
    """
    from ._module import Module, rebuild

    if not isinstance(model, Module):
        raise TypeError(f"edit(model, fn) takes a jaxnn Module, got {type(model).__name__}.")
    if not callable(fn):
        raise TypeError(
            f"edit(model, fn): fn must be a function that edits its argument in place, got "
            f"{type(fn).__name__}; e.g. `def fn(m): m[0] = new_layer`."
        )
    copy = rebuild(model, lambda module, name, kind, value: value)
    stack = _private()
    roots = _local.__dict__.setdefault("roots", [])
    stack.append({id(m) for m in copy.modules()})
    roots.append(copy)
    try:
        fn(copy)
    finally:
        stack.pop()
        roots.pop()
    return copy
