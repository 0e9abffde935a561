"""Buffer updates made during a forward pass, and ``jaxnn.forward`` that returns them.

JAX cannot mutate a buffer inside ``jit``. A layer that torch would mutate (BatchNorm's
running statistics) reports its new values with ``Module.update_buffers``; inside
``jaxnn.forward`` they are collected here and written into a rebuilt copy of the model,
which is returned beside the output (DESIGN rule 7). A module called twice in one pass
sees its own first update, as in torch.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import jax
import numpy as np

_local = threading.local()


class BufferUpdateDroppedWarning(UserWarning):
    """A training-mode forward updated buffers, but nothing was there to receive them."""


_warned = {"dropped": False}


def _stack() -> list[dict[int, tuple[Any, dict[str, jax.Array]]]]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def record(module: Any, values: dict[str, jax.Array]) -> None:
    stack = _stack()
    if not stack:
        if not _warned["dropped"]:
            _warned["dropped"] = True
            warnings.warn(
                f"{type(module).__name__} computed new buffer values ({', '.join(values)}) in "
                f"training mode, but a plain call cannot store them: the model is an immutable "
                f"value. Use `out, model = jaxnn.forward(model, x)` to get the updated model, or "
                f"call model.eval() to use the running statistics. (Warned once per process.)",
                BufferUpdateDroppedWarning,
                stacklevel=3,
            )
        return
    entry = stack[-1].setdefault(id(module), (module, {}))
    entry[1].update(values)


def current(module: Any, name: str, default: jax.Array) -> jax.Array:
    stack = _stack()
    if stack:
        entry = stack[-1].get(id(module))
        if entry is not None and name in entry[1]:
            return entry[1][name]
    return default


def forward(model: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run ``model(*args, **kwargs)`` and return ``(out, model_with_updated_buffers)``.

    The pure way to train a model with BatchNorm: the returned model holds the running
    statistics torch would have written in place; ``model`` itself is unchanged. Works
    eagerly and under ``jax.jit``.

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
    updates: dict[int, tuple[Any, dict[str, jax.Array]]] = {}
    stack = _stack()
    stack.append(updates)
    try:
        out = model(*args, **kwargs)
    finally:
        stack.pop()

    def leaf(module: Any, name: str, kind: str, value: Any) -> Any:
        entry = updates.get(id(module))
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

    ``torch.func.functional_call``'s signature and meaning: ``parameter_and_buffer_dicts``
    maps state_dict names to arrays (a dict, or a tuple of dicts); names not given keep the
    module's arrays (``strict=True`` requires all). An array at several places (a module
    shared under two names, weight tying) is tied: with ``tie_weights=True`` giving one of
    its names sets all of them, and giving two of them different arrays is an error; with
    ``tie_weights=False`` each place takes the array given for its name, and where one place
    has two names (a shared module) the last one given wins, as in torch. Works under
    ``jit`` and ``grad``.

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
    place: dict[str, tuple[int, str]] = {}  # name -> (id(owner), own name)
    tied: dict[int, list[str]] = {}  # id(array) -> every name it has
    shapes: dict[str, tuple[int, ...]] = {}
    for full, value, owner, own in module._state_items(keep_np=True):
        place[full] = (id(owner), own)
        tied.setdefault(id(value), []).append(full)
        shapes[full] = tuple(np.shape(value))
    unknown = sorted(set(dicts) - set(place))
    if unknown:
        raise ValueError(
            f"functional_call: {unknown} are not parameters or buffers of {module._get_name()}; "
            f"its names are {sorted(place)}."
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
    values = dict(dicts)
    if tie_weights:
        for names in tied.values():
            given = [n for n in names if n in dicts]
            if len(given) > 1 and len({id(dicts[n]) for n in given}) > 1:
                raise ValueError(
                    f"functional_call got multiple values for keys {sorted(names)}, which are "
                    f"tied. Consider using tie_weights=False"
                )
            if given:
                values.update((n, dicts[given[0]]) for n in names)
    if strict:
        missing = sorted(n for n in place if n not in values)
        if missing:
            raise ValueError(
                f"functional_call(strict=True): missing {', '.join(map(repr, missing))}; give "
                f"every name of {module._get_name()}'s state_dict() (and non-persistent "
                f"buffers) or pass strict=False."
            )
    by_place = {place[n]: v for n, v in values.items()}  # in order: a later name wins

    def leaf(owner: Any, name: str, kind: str, value: Any) -> Any:
        return by_place.get((id(owner), name), value)

    new = rebuild(module, leaf, tie=False)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    return new(*args, **(kwargs or {}))
