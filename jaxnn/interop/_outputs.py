"""Output structures of converted models: the JAX twin of Hugging Face's ``ModelOutput``.

A traced ``forward`` that returns a dataclass-like torch object (``BaseModelOutput``,
``BaseModelOutputWithPooling``...) returns an instance of a generated class of the same
name here: an ordered mapping of the fields that were not None, readable as attributes
(``out.last_hidden_state``), by key (``out["pooler_output"]``) or position (``out[0]``),
as in transformers, and a JAX pytree, so it passes through ``jax.jit`` and ``jax.grad``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import jax


class TracedOutput(OrderedDict):
    """Base of the generated output classes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; it holds {list(self.keys())} "
                f"(fields that were None in torch's output are left out, as in transformers)."
            ) from None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | slice):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> Any:
        return (OrderedDict, (list(self.items()),))


def make_output_class(name: str, qualname: str) -> type:
    cls = type(
        name, (TracedOutput,), {"__module__": "jaxnn.interop.traced", "__qualname__": qualname}
    )

    def flatten_with_keys(out: Any) -> Any:
        keys = tuple(out.keys())
        return [(jax.tree_util.GetAttrKey(k), out[k]) for k in keys], keys

    def flatten(out: Any) -> Any:
        keys = tuple(out.keys())
        return [out[k] for k in keys], keys

    def unflatten(keys: Any, values: Any) -> Any:
        return cls(zip(keys, values, strict=True))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
