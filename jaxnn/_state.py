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
        raise TypeError(f"jaxnn.forward(model, ...) takes a jaxnn Module, got {type(model).__name__}.")
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
