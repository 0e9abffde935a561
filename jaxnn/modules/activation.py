"""Activation modules: each holds its hyper-parameters and calls ``jaxnn.functional``.

``inplace`` is accepted for torch compatibility and printed like torch, but has no effect:
JAX arrays are immutable.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .. import init
from .._module import Module
from ._utils import check_positive_int, factory_dtype, place


def _inplace(flag: bool, first: bool = False) -> str:
    if not flag:
        return ""
    return "inplace=True" if first else ", inplace=True"


class _Inplace(Module):
    """An activation whose only option is torch's ``inplace``."""

    inplace: bool = eqx.field(static=True)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return _inplace(self.inplace, first=True)


class ReLU(_Inplace):
    """ReLU(x) = max(0, x).

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.ReLU()(jnp.array([-1.0, 2.0]))
    Array([0., 2.], dtype=float32)
    """

    def forward(self, input: jax.Array) -> jax.Array:
        return F.relu(input)


class ReLU6(_Inplace):
    """ReLU6(x) = min(max(0, x), 6)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.relu6(input)


class SELU(_Inplace):
    """SELU(x) = scale·(max(0,x) + min(0, α(eˣ-1))), with torch's constants."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.selu(input)


class SiLU(_Inplace):
    """SiLU(x) = x·σ(x)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.silu(input)


class Mish(_Inplace):
    """Mish(x) = x·tanh(softplus(x))."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.mish(input)


class Hardsigmoid(Module):
    """Hardsigmoid(x) = clip(x/6 + 1/2, 0, 1)."""

    inplace: bool = eqx.field(static=True)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: jax.Array) -> jax.Array:
        return F.hardsigmoid(input)


class Hardswish(Hardsigmoid):
    """Hardswish(x) = x·Hardsigmoid(x)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.hardswish(input)


class _NoArgs(Module):
    def __init__(self) -> None:
        super().__init__()


class Sigmoid(_NoArgs):
    """σ(x) = 1 / (1 + e⁻ˣ)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.sigmoid(input)


class Tanh(_NoArgs):
    """tanh(x)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.tanh(input)


class Softsign(_NoArgs):
    """x / (1 + |x|)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.softsign(input)


class Tanhshrink(_NoArgs):
    """x - tanh(x)."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.tanhshrink(input)


class LogSigmoid(_NoArgs):
    """log σ(x), computed stably."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.logsigmoid(input)


class Hardtanh(Module):
    """clip(x, min_val, max_val)."""

    min_val: float = eqx.field(static=True)
    max_val: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if max_val <= min_val:
            raise ValueError(
                f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})."
            )
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: jax.Array) -> jax.Array:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class LeakyReLU(Module):
    """max(0, x) + negative_slope·min(0, x)."""

    negative_slope: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: jax.Array) -> jax.Array:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class ELU(Module):
    """x if x > 0 else α(eˣ - 1)."""

    alpha: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: jax.Array) -> jax.Array:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class CELU(ELU):
    """max(0, x) + min(0, α(e^{x/α} - 1))."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.celu(input, self.alpha)


class GELU(Module):
    """x·Φ(x); ``approximate='tanh'`` uses the tanh approximation."""

    approximate: str = eqx.field(static=True)

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"approximate={approximate!r} is not valid; choose one of ('none', 'tanh')."
            )
        self.approximate = approximate

    def forward(self, input: jax.Array) -> jax.Array:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """(1/β)·log(1 + e^{βx}), linear above ``threshold``."""

    beta: float = eqx.field(static=True)
    threshold: float = eqx.field(static=True)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: jax.Array) -> jax.Array:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Threshold(Module):
    """x if x > threshold else value."""

    threshold: float = eqx.field(static=True)
    value: float = eqx.field(static=True)
    inplace: bool = eqx.field(static=True)

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: jax.Array) -> jax.Array:
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace(self.inplace)}"


class Softshrink(Module):
    """x - λ if x > λ, x + λ if x < -λ, else 0."""

    lambd: float = eqx.field(static=True)

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: jax.Array) -> jax.Array:
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    """x if |x| > λ else 0."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.hardshrink(input, self.lambd)


class GLU(Module):
    """a ⊗ σ(b) where the input is split in halves a, b along ``dim``."""

    dim: int = eqx.field(static=True)

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: jax.Array) -> jax.Array:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(Module):
    """exp(xᵢ) / Σⱼ exp(xⱼ) along ``dim``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Softmax(dim=1)(jnp.zeros((1, 4)))
    Array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """

    dim: int | None = eqx.field(static=True)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: jax.Array) -> jax.Array:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.log_softmax(input, self.dim, _stacklevel=5)


class Softmin(Softmax):
    """softmax(-x) along ``dim``."""

    def forward(self, input: jax.Array) -> jax.Array:
        return F.softmin(input, self.dim, _stacklevel=5)


class PReLU(Module):
    """max(0, x) + a·min(0, x) with a learned ``a`` (one, or one per channel on dim 1).

    >>> import jaxnn as nn
    >>> nn.PReLU(3).weight
    Array([0.25, 0.25, 0.25], dtype=float32)
    """

    weight: jax.Array
    num_parameters: int = eqx.field(static=True)
    init: float = eqx.field(static=True)

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.num_parameters = check_positive_int(num_parameters, "num_parameters")
        self.init = init
        self.weight = place(_constant((num_parameters,), init, factory_dtype(dtype)), device)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


def _constant(shape: tuple[int, ...], value: float, dtype: Any) -> jax.Array:
    return init.constant_(shape, value, dtype=dtype)
