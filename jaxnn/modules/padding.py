"""Padding layers: zero, constant, reflection, replication and circular, as torch.nn.

``padding`` is an int (the same on every side) or a tuple in ``F.pad``'s order: the last
dimension first, ``(before, after)`` for each, e.g. ``(left, right, top, bottom)`` for
2d. The forward is one ``F.pad`` call.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._module import Module

__all__ = [
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
]


def _padding(padding: Any, n: int) -> tuple[int, ...]:
    """torch's ``_ntuple(2n)``: an int becomes 2n copies; a sequence is kept as given."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * (2 * n)
    if isinstance(padding, tuple | list) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in padding
    ):
        if len(padding) % 2 == 0 and 0 < len(padding) <= 2 * n:
            return tuple(padding)
    raise ValueError(
        f"padding must be an int or a tuple of {2 * n} ints (last dim first, before/after for "
        f"each), got {padding!r}; e.g. padding={(1,) * (2 * n)!r}."
    )


class _PadNd(Module):
    """One padding layer: ``mode`` is a class constant, ``padding`` the 2n-tuple."""

    padding: tuple[int, ...] = eqx.field(static=True)

    _n = 0
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _padding(padding, self._n)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(Module):
    padding: tuple[int, ...] = eqx.field(static=True)
    value: float = eqx.field(static=True)

    _n = 0

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__()
        self.padding = _padding(padding, self._n)
        self.value = value

    def forward(self, input: jax.Array) -> jax.Array:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input: jax.Array) -> jax.Array:
        n = self._n
        if input.ndim not in (n + 1, n + 2):
            raise ValueError(
                f"expected {n + 1}D or {n + 2}D input (got {input.ndim}D input); pass "
                f"(C, *spatial) or (N, C, *spatial) with {n} spatial dims."
            )
        return F.pad(input, self.padding, "circular")


_DOC = """Pads the input's last {n} dim(s) {how}.

    Args:
        padding: an int (every side) or a tuple of {two_n} ints in F.pad's order
            ``({order})``.{value_arg}

    Shape:
        - Input: :math:`({ins})`; Output: the same with each padded dim grown by its
          before + after padding.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.{name}({args})
    >>> m
    {name}({repr})
    >>> m(jnp.ones(({shape}))).shape
    {out}
    """

_ORDER = {
    1: "left, right",
    2: "left, right, top, bottom",
    3: "left, right, top, bottom, front, back",
}
_INS = {1: "N, C, W) or (C, W", 2: "N, C, H, W) or (C, H, W", 3: "N, C, D, H, W) or (C, D, H, W"}
_HOW = {
    "Zero": "with zeros",
    "Constant": "with a constant ``value``",
    "Reflection": "with the reflection of the input boundary (the edge is not repeated)",
    "Replication": "by repeating the input's edge values",
    "Circular": "circularly: the far end of each dim wraps around",
}


def _doc(name: str) -> str:
    kind, n = name[: name.index("Pad")], int(name[-2])
    if kind == "Constant":
        args, shown = "1, 3.5", f"padding={(1,) * (2 * n)}, value=3.5"
    else:
        args, shown = "1", f"{(1,) * (2 * n)}"
    return _DOC.format(
        n=n,
        how=_HOW[kind],
        two_n=2 * n,
        order=_ORDER[n],
        value_arg="\n        value: the fill value." if kind == "Constant" else "",
        ins=_INS[n],
        name=name,
        args=args,
        repr=shown,
        shape=", ".join(["2"] + ["3"] * (n + 1)),
        out=(2, 3) + (5,) * n,
    )


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class ZeroPad1d(_ZeroPadNd):
    _n = 1


class ZeroPad2d(_ZeroPadNd):
    _n = 2


class ZeroPad3d(_ZeroPadNd):
    _n = 3


class ConstantPad1d(_ConstantPadNd):
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    _n = 2


class ConstantPad3d(_ConstantPadNd):
    _n = 3


class ReflectionPad1d(_ReflectionPadNd):
    _n = 1


class ReflectionPad2d(_ReflectionPadNd):
    _n = 2


class ReflectionPad3d(_ReflectionPadNd):
    _n = 3


class ReplicationPad1d(_ReplicationPadNd):
    _n = 1


class ReplicationPad2d(_ReplicationPadNd):
    _n = 2


class ReplicationPad3d(_ReplicationPadNd):
    _n = 3


class CircularPad1d(_CircularPadNd):
    _n = 1


class CircularPad2d(_CircularPadNd):
    _n = 2


class CircularPad3d(_CircularPadNd):
    _n = 3


for _cls in (
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
):
    _cls.__doc__ = _doc(_cls.__name__)
