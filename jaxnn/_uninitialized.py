"""Placeholders for the parameters and buffers of a lazy module (``nn.LazyLinear``, ...).

torch's lazy modules hold ``UninitializedParameter`` / ``UninitializedBuffer`` until the
first call tells them their input size. jaxnn keeps the same two names. A placeholder is
a pytree node with no leaves (its dtype and device travel in the treedef), so a model that
holds one still flattens, prints and lists its ``state_dict`` as torch's does; any attempt
to read its shape says how to materialise it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


class UninitializedTensorMixin:
    """What both placeholders share: a dtype, a device, and no shape yet."""

    __slots__ = ("device", "dtype")

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        self.device = device
        self.dtype = jnp.dtype(jnp.float32 if dtype is None else dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    @property
    def shape(self) -> tuple[int, ...]:
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens when trying to use a lazy module before its first call. Call the model once "
            "on an example input outside jax.jit (model(x)) to initialize the parameters, or load "
            "a state_dict into it, before accessing their attributes."
        )

    def astype(self, dtype: Any) -> UninitializedTensorMixin:
        """``model.to(dtype)`` on a lazy module: the placeholder remembers the new dtype."""
        return type(self)(self.device, dtype)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.dtype == self.dtype  # type: ignore[attr-defined]
            and other.device == self.device  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self.dtype), self.device))


class UninitializedParameter(UninitializedTensorMixin):
    """A parameter whose shape is not known yet (torch's ``nn.UninitializedParameter``)."""

    __slots__ = ()


class UninitializedBuffer(UninitializedTensorMixin):
    """A buffer whose shape is not known yet (torch's ``nn.UninitializedBuffer``)."""

    __slots__ = ()


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is a placeholder of a lazy module (torch's ``is_lazy``)."""
    return isinstance(value, UninitializedTensorMixin)


for _cls in (UninitializedParameter, UninitializedBuffer):
    jax.tree_util.register_pytree_node(
        _cls,
        lambda p: ((), (p.device, p.dtype)),
        lambda aux, _, cls=_cls: cls(*aux),
    )
