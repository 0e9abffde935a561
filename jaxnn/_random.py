"""The global key stream behind ``key=None`` (DESIGN rule 6) and the forward key scope.

Constructors that get no key draw one from a process-wide stream; ``manual_seed`` resets
it. The stream starts from a fixed seed, so two fresh processes build identical models.
A forward pass never draws from this stream: randomness there comes from the ``key=`` the
caller passes, which ``Module.__call__`` may hand down through a scope (``forward_key``).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import jax

DEFAULT_SEED = 0

_lock = threading.Lock()
_state: dict[str, jax.Array] = {}
_scope = threading.local()


def _validate_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"manual_seed(seed) takes an int, got {type(seed).__name__} {seed!r}.")
    return seed


def manual_seed(seed: int) -> None:
    """Reset the global key stream that constructors called with ``key=None`` draw from.

    Like ``torch.manual_seed``: after ``jaxnn.manual_seed(s)`` the same sequence of
    constructor calls builds the same parameters, in any process.

    >>> import jaxnn
    >>> jaxnn.manual_seed(0); a = jaxnn.Linear(2, 2).weight
    >>> jaxnn.manual_seed(0); b = jaxnn.Linear(2, 2).weight
    >>> bool((a == b).all())
    True
    """
    seed = _validate_seed(seed)
    with _lock, jax.ensure_compile_time_eval():
        _state["key"] = jax.random.key(seed)


def next_key() -> jax.Array:
    """Split one fresh key off the global stream (never a tracer, even inside ``jit``)."""
    with _lock, jax.ensure_compile_time_eval():
        key = _state.get("key")
        if key is None:
            key = jax.random.key(DEFAULT_SEED)
        key, sub = jax.random.split(key)
        _state["key"] = key
    return sub


def as_key(key: jax.Array | None) -> jax.Array:
    """``key`` if given (a typed key or a raw uint32[2] key), else a draw from the stream."""
    if key is None:
        return next_key()
    return check_key(key, "key")


def check_key(key: object, name: str = "key") -> jax.Array:
    """Accept a typed key (``jax.random.key``) or a raw ``uint32[2]`` (``PRNGKey``)."""
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == jax.numpy.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise TypeError(
        f"{name} must be a single JAX PRNG key (one element of jax.random.split(key, n), or "
        f"jax.random.key(seed) once at the start), got {type(key).__name__} with shape "
        f"{getattr(key, 'shape', None)} and dtype {getattr(key, 'dtype', None)}."
    )


def key_hint(call: str = "model(x, key=sub)") -> str:
    """How to pass a fresh key every step: the text every missing-key error ends with.

    A literal ``key=jax.random.key(0)`` would draw the same mask at every step; the split
    is what makes the randomness new each time.
    """
    return (
        f"create one key before the loop (key = jax.random.key(0)) and split a new subkey "
        f"every step: `key, sub = jax.random.split(key)`, then `{call}`"
    )


def takes_key(fn: object) -> bool:
    """Whether calling ``fn`` accepts ``key=`` (a ``key`` parameter or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return "key" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def may_draw_key_cls(cls: type) -> bool:
    """Whether a module of class ``cls`` may use the key of the model call it runs in.

    jaxnn's random layers say so (``_uses_key``); a ``forward`` that jaxnn did not write
    may take ``key=`` or call ``F.dropout``, so it may too.
    """
    if getattr(cls, "_uses_key", False):
        return True
    # (a function made by exec, a notebook cell's, may have __module__ None: user code)
    where = getattr(getattr(cls, "forward", None), "__module__", None) or ""
    return not where.startswith("jaxnn.")


def may_draw_key(module: object) -> bool:
    """``may_draw_key_cls`` of ``type(module)``: the model needs a key when any module may."""
    return may_draw_key_cls(type(module))


@contextlib.contextmanager
def forward_key(key: jax.Array | None) -> Iterator[list[Any]]:
    """Make ``key`` available to layers deeper in this forward pass (see ``draw_forward_key``).

    Yields the scope's cell ``[key, trace]``: after the pass ``cell[0]`` holds the key that
    the next draw would split, which is ``key`` itself when nothing drew
    (``jaxnn.Optimizer`` carries it to the next step, and splits nothing for a model
    without dropout); ``cell[1]`` is the JAX trace the scope was opened in.
    """
    from ._state import trace_token

    stack = _scope.__dict__.setdefault("stack", [])
    cell = [None if key is None else check_key(key), trace_token()]
    stack.append(cell)
    try:
        yield cell
    finally:
        stack.pop()


def has_forward_key() -> bool:
    """Whether a forward scope with a key is active (layers may draw from it)."""
    stack = getattr(_scope, "stack", None)
    return bool(stack) and stack[-1][0] is not None


def draw_forward_key() -> jax.Array | None:
    """Split a fresh key off the innermost forward scope, or None when there is none.

    The scope's key is replaced by a split of itself, so the draw must happen in the JAX
    trace the scope was opened in: a draw from inside ``jax.checkpoint``/``lax.scan``/...
    entered in the forward would leave a tracer of that transformation in the scope.
    """
    from ._state import trace_token

    stack = getattr(_scope, "stack", None)
    if not stack or stack[-1][0] is None:
        return None
    cell = stack[-1]
    if cell[1] is not None and trace_token() != cell[1]:
        raise RuntimeError(
            "A random layer (dropout) drew its key from the key given to the model call, "
            "but it runs inside a JAX transformation (jax.checkpoint, lax.scan, lax.cond, "
            "jax.vmap, ...) entered inside the forward pass; the key cannot be split there "
            "without leaking a tracer. Pass a key into the transformed function explicitly "
            "(layer(x, key=k)), or use jaxnn.checkpoint / jaxnn.scan / jaxnn.cond / "
            "jaxnn.vmap, which hand the layer its own key."
        )
    cell[0], sub = jax.random.split(cell[0])
    return sub
