"""Identity, Linear, Bilinear, Flatten, Unflatten."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._module import Module
from .._random import draw_forward_key, forward_key, has_forward_key, takes_key
from ..functional._linear import linear_shape_error
from ..functional._utils import normalize_dim
from ._utils import check_positive_int, factory_dtype, place, split_key


class Identity(Module):
    """A placeholder that returns its input; arguments are accepted and ignored, as torch.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Identity(54, unused="x")(jnp.ones(2))
    Array([1., 1.], dtype=float32)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: jax.Array) -> jax.Array:
        return input


class Linear(Module):
    """y = x Wᵀ + b, with torch's layout: ``weight`` is ``(out_features, in_features)``.

    Initialised as torch: W, b ~ U(-1/√in, 1/√in).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Linear(20, 30)
    >>> m(jnp.ones((128, 20))).shape
    (128, 30)
    """

    weight: jax.Array
    bias: jax.Array | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", allow_zero=True)
        self.out_features = check_positive_int(out_features, "out_features", allow_zero=True)
        dtype = factory_dtype(dtype)
        wkey, bkey = split_key(key, 2)
        self.weight = place(
            init.kaiming_uniform_(
                (out_features, in_features), a=math.sqrt(5), key=wkey, dtype=dtype
            ),
            device,
        )
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
            self.bias = place(
                init.uniform_((out_features,), -bound, bound, key=bkey, dtype=dtype), device
            )
        else:
            self.bias = None

    def forward(self, input: jax.Array) -> jax.Array:
        if jnp.ndim(input) >= 1 and jnp.shape(input)[-1] != self.in_features:
            # (here the weight is right by construction: the hint is about the input)
            raise ValueError(linear_shape_error(jnp.shape(input), self.weight.shape, repr(self)))
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x₁ᵀ A x₂ + b, ``weight`` ``(out, in1, in2)``; init U(-1/√in1, 1/√in1).

    Shape:
        - Input1: ``(*, in1_features)``, Input2: ``(*, in2_features)``; Output: ``(*, out_features)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Bilinear(20, 30, 40)(jnp.ones((128, 20)), jnp.ones((128, 30))).shape
    (128, 40)
    """

    weight: jax.Array
    bias: jax.Array | None
    in1_features: int = eqx.field(static=True)
    in2_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        self.in1_features = check_positive_int(in1_features, "in1_features")
        self.in2_features = check_positive_int(in2_features, "in2_features")
        self.out_features = check_positive_int(out_features, "out_features")
        dtype = factory_dtype(dtype)
        bound = 1 / math.sqrt(in1_features)
        wkey, bkey = split_key(key, 2)
        shape = (out_features, in1_features, in2_features)
        self.weight = place(init.uniform_(shape, -bound, bound, key=wkey, dtype=dtype), device)
        self.bias = (
            place(init.uniform_((out_features,), -bound, bound, key=bkey, dtype=dtype), device)
            if bias
            else None
        )

    def forward(self, input1: jax.Array, input2: jax.Array) -> jax.Array:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` into one (torch's default keeps the batch dim).

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Flatten()(jnp.ones((32, 1, 5, 5))).shape
    (32, 25)
    """

    start_dim: int = eqx.field(static=True)
    end_dim: int = eqx.field(static=True)

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: jax.Array) -> jax.Array:
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def flatten(input: jax.Array, start_dim: int = 0, end_dim: int = -1) -> jax.Array:
    """``torch.flatten``: merge dims ``start_dim..end_dim``; a 0-d input becomes 1-d."""
    nd = input.ndim
    if nd == 0:
        return jnp.reshape(input, (1,))
    start = normalize_dim(start_dim, nd, "start_dim")
    end = normalize_dim(end_dim, nd, "end_dim")
    if start > end:
        raise ValueError(
            f"flatten() has invalid args: start_dim ({start_dim}) cannot come after end_dim ({end_dim})."
        )
    shape = input.shape
    return jnp.reshape(
        input, (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    )


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (one entry may be -1).

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Unflatten(1, (2, 5, 5))(jnp.ones((2, 50))).shape
    (2, 2, 5, 5)
    """

    dim: int = eqx.field(static=True)
    unflattened_size: tuple = eqx.field(static=True)

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        if isinstance(dim, str):
            raise TypeError(
                "Unflatten with a named dim (str) is not supported: JAX arrays have no names; pass an int."
            )
        if not isinstance(unflattened_size, tuple | list) or not all(
            isinstance(s, int) for s in unflattened_size
        ):
            raise TypeError(f"unflattened_size must be a tuple of ints, got {unflattened_size!r}.")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: jax.Array) -> jax.Array:
        d = self.dim % input.ndim
        size = tuple(self.unflattened_size)
        known = math.prod(s for s in size if s != -1)
        if (-1 not in size and known != input.shape[d]) or (known and input.shape[d] % known):
            raise ValueError(
                f"unflatten: Provided sizes {list(size)} don't multiply up to the size of dim {self.dim} "
                f"({input.shape[d]}) in the input tensor"
            )
        return jnp.reshape(input, (*input.shape[:d], *size, *input.shape[d + 1 :]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size!r}"


class Lambda(Module):
    """Wrap a function (or an Equinox module) as a layer: ``nn.Lambda(lambda x: x.reshape(-1))``.

    Not in torch (whose users write a Module subclass for this); handy in Sequential. The
    function is static configuration unless it is an Equinox module, whose arrays then
    train like any parameter.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.Sequential(nn.Lambda(jnp.ravel))(jnp.ones((2, 2))).shape
    (4,)
    """

    fn: Any
    _uses_key = True  # fn may take key= or draw from the key scope (F.dropout)

    def __init__(self, fn: Any) -> None:
        super().__init__()
        if not callable(fn):
            raise TypeError(f"Lambda(fn) takes a callable, got {type(fn).__name__}.")
        self.fn = fn

    def forward(self, *args: Any, key: jax.Array | None = None, **kwargs: Any) -> Any:
        # A key from a container goes to fn if fn takes one (an Equinox dropout), else to
        # the forward key scope (F.dropout inside fn draws from it).
        if key is None and has_forward_key() and takes_key(self.fn):
            key = draw_forward_key()  # an Equinox layer inside a model call given a key
        if key is None:
            return self.fn(*args, **kwargs)
        if takes_key(self.fn):
            return self.fn(*args, key=key, **kwargs)
        with forward_key(key):
            return self.fn(*args, **kwargs)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)
