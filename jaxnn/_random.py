"""The global key stream behind ``key=None`` (DESIGN rule 6) and the forward key scope.

Constructors that get no key draw one from a process-wide stream; ``manual_seed`` resets
it. The stream starts from a fixed seed, so two fresh processes build identical models.
A forward pass never draws from this stream: randomness there comes from the ``key=`` the
caller passes, which ``Module.__call__`` may hand down through a scope (``forward_key``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

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
        f"{name} must be a single JAX PRNG key, e.g. {name}=jax.random.key(0), got "
        f"{type(key).__name__} with shape {getattr(key, 'shape', None)} and dtype "
        f"{getattr(key, 'dtype', None)}."
    )


@contextlib.contextmanager
def forward_key(key: jax.Array | None) -> Iterator[list[jax.Array | None]]:
    """Make ``key`` available to layers deeper in this forward pass (see ``draw_forward_key``).

    Yields the scope's one-item list: after the pass it holds the key that the next draw
    would split, which is ``key`` itself when nothing drew (``jaxnn.Optimizer`` carries it
    to the next step, and splits nothing for a model without dropout).
    """
    stack = _scope.__dict__.setdefault("stack", [])
    cell = [None if key is None else check_key(key)]
    stack.append(cell)
    try:
        yield cell
    finally:
        stack.pop()


def draw_forward_key() -> jax.Array | None:
    """Split a fresh key off the innermost forward scope, or None when there is none."""
    stack = getattr(_scope, "stack", None)
    if not stack or stack[-1][0] is None:
        return None
    cell = stack[-1]
    cell[0], sub = jax.random.split(cell[0])
    return sub
