"""FractionalMaxPool2d and FractionalMaxPool3d (torch.nn's), thin over ``F.fractional_max_pool*d``."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .._fields import buffer
from .._module import Module, _to_array
from ..functional._utils import ntuple

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d"]


class _FractionalMaxPoolNd(Module):
    """torch's constructor checks; ``_random_samples`` is a buffer when given, as torch's."""

    _random_samples: jax.Array | None = buffer()
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    return_indices: bool = eqx.field(static=True)
    output_size: tuple[int, ...] | None = eqx.field(static=True)
    output_ratio: tuple[float, ...] | None = eqx.field(static=True)

    _n = 0
    _uses_key = True  # containers hand it a key (random window steps)

    def __init__(
        self,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Any = None,
    ) -> None:
        super().__init__()
        n, name = self._n, type(self).__name__
        self.kernel_size = ntuple(kernel_size, n, "kernel_size")
        self.return_indices = return_indices
        self._random_samples = (
            None if _random_samples is None else _to_array(_random_samples, "_random_samples")
        )
        self.output_size = None if output_size is None else ntuple(output_size, n, "output_size")
        ratio = output_ratio
        if ratio is not None:
            ratio = tuple(ratio) if isinstance(ratio, tuple | list) else (ratio,)
            ratio = ratio * n if len(ratio) == 1 else ratio
        self.output_ratio = ratio
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"{name} requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if ratio is not None and not all(0 < r < 1 for r in ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> Any:
        fn = F.fractional_max_pool2d if self._n == 2 else F.fractional_max_pool3d
        return fn(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
            key=key,
        )


_DOC = """Applies {n}D fractional max pooling (torch's ``{name}``).

    ``kernel_size`` windows at pseudo-random steps chosen so that the output has
    ``output_size`` (or ``output_ratio`` times the input size). Each call draws the steps
    from ``key=`` (torch draws them from its global generator at every call, in training
    and evaluation alike); a fixed ``_random_samples`` of shape ``(N, C, {n})`` makes them
    deterministic, and is then a buffer as in torch.

    Args:
        kernel_size: the window, an int or a tuple of {n} ints.
        output_size: the output's spatial size.
        output_ratio: the output size as a fraction in (0, 1) of the input's.
        return_indices: also return the indices (for ``MaxUnpool{n}d``). Default False.
        _random_samples: fixed window offsets in [0, 1), torch's argument.

    Shape:
        - Input: ``(N, C, {sp})`` or ``(C, {sp})``; Output: ``(N, C, {osp})`` or
          ``(C, {osp})``.

    >>> import jax, jax.numpy as jnp, jaxnn as nn
    >>> m = nn.{name}(2, output_ratio=0.5)
    >>> m
    {name}()
    >>> m(jnp.ones((1, 3) + (8,) * {n}), key=jax.random.key(0)).shape
    {shape}
    """


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    _n = 2
    __doc__ = _DOC.format(
        n=2, name="FractionalMaxPool2d", sp="H, W", osp="H_out, W_out", shape="(1, 3, 4, 4)"
    )


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    _n = 3
    __doc__ = _DOC.format(
        n=3,
        name="FractionalMaxPool3d",
        sp="D, H, W",
        osp="D_out, H_out, W_out",
        shape="(1, 3, 4, 4, 4)",
    )
