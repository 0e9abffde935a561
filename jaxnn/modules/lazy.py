"""Lazy modules: ``LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``, ``LazyBatchNorm*``,
``LazyInstanceNorm*``, whose input size is read from the first input, as torch's.

Until then the module holds ``UninitializedParameter`` / ``UninitializedBuffer``
placeholders and prints torch's ``LazyLinear(in_features=0, ...)``. The first call is an
in-place edit (DESIGN rule 2), so it must happen outside JAX transformations: it draws the
parameters with torch's initialisation (from the key the constructor took, or drew from
jaxnn's stream) and turns the module into its ``cls_to_become`` - ``type(m)`` becomes
``Linear`` and it prints ``Linear(in_features=3, ...)``, exactly as torch's does. Called
uninitialised inside ``jax.jit``/``grad``/``vmap`` it raises with the two fixes: call it
once eagerly on an example input, or build the non-lazy class with the size.

``load_state_dict`` into an uninitialised lazy module takes the checkpoint's shapes (torch's
load hook) and completes the module at once. torch keeps the lazy class until the next call
and then prints ``Conv1d(0, 4, ...)`` / ``BatchNorm1d(0, ...)`` (its size stays 0, and a
loaded ``LazyInstanceNorm`` raises); jaxnn reads the size from the loaded shapes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import numpy as np

from .._fields import is_array
from .._module import Module, _accepts_key, _has_tracer, _under_transformation, check_mutable
from .._random import as_key, forward_key
from .._uninitialized import UninitializedBuffer, UninitializedParameter, is_lazy
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)

__all__ = [
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]


class _KeyBox:
    """The initialisation key as static configuration: hashable, compared by its bits."""

    __slots__ = ("bits", "key")

    def __init__(self, key: jax.Array) -> None:
        self.key = key
        with jax.ensure_compile_time_eval():
            self.bits = tuple(np.asarray(jax.random.key_data(key)).ravel().tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KeyBox) and other.bits == self.bits

    def __hash__(self) -> int:
        return hash(self.bits)


class LazyModuleMixin(Module):
    """torch's ``LazyModuleMixin``: infer the size at the first call, then become ``cls_to_become``.

    A Module itself (with no fields), so that an instance keeps its layout when its class
    becomes ``cls_to_become``. A subclass says how to read the size from an input (``_size_from_input``) and from a
    loaded array (``_size_from_state``), which shapes its members then have
    (``_member_shapes``), and how to build the complete module (``_build``).
    """

    cls_to_become: ClassVar[type | None] = None

    # ------------------------------------------------------------------ torch's API
    def has_uninitialized_params(self) -> bool:
        """Whether any parameter or buffer is still a placeholder."""
        return any(is_lazy(v) for _, v, k in self._named_members_own() if k != "module")

    def initialize_parameters(self, input: jax.Array, *args: Any, **kwargs: Any) -> None:
        """Read the size from ``input``, draw the parameters and become ``cls_to_become``.

        torch runs this at the first call; it is public there too. Eager only.
        """
        if _under_transformation() or _has_tracer(input):
            raise RuntimeError(self._traced_message())
        self._complete(self._size_from_input(input))

    # ------------------------------------------------------------------ the first call
    def forward(self, input: jax.Array, *args: Any, **kwargs: Any) -> Any:
        # **kwargs makes Module.__call__ hand ``key=`` here; the complete class's forward
        # gets it the way Module.__call__ would have given it.
        key = kwargs.pop("key", None)
        cls = self.cls_to_become
        if self.has_uninitialized_params():
            self.initialize_parameters(input)
        elif not (_under_transformation() or _has_tracer(input)):
            # Nothing to draw (a norm without affine or statistics): the class changes at
            # the first eager call; under a transformation it computes as the lazy class.
            self._complete(self._size_from_input(input))
        if key is None:
            return cls.forward(self, input, *args, **kwargs)
        if _accepts_key(cls):
            return cls.forward(self, input, *args, key=key, **kwargs)
        with forward_key(key):
            return cls.forward(self, input, *args, **kwargs)

    def _traced_message(self) -> str:
        name = type(self).__name__
        return (
            f"{name} has not been initialised: it reads its input size from the first call, "
            f"which edits the module in place, but it was first called inside a JAX "
            f"transformation (jax.jit, jax.grad, jax.vmap, ...), where a module is an immutable "
            f"value. Call the model once outside the transformation on an example input "
            f"(`model(x)`, as torch's dry run), or build the module with its size: "
            f"nn.{self.cls_to_become.__name__}({self._size_name}=..., ...)."
        )

    def _complete(self, size: int) -> None:
        """Build the complete module for ``size``, keep what was loaded, switch the class."""
        check_mutable(self, f"first call of {type(self).__name__}")
        real = self._build(size)
        own = {n: v for n, v, k in self._named_members_own() if k != "module"}
        for name, value in own.items():
            if is_lazy(value):
                continue
            want = tuple(getattr(real, name).shape)
            if tuple(value.shape) != want:
                raise RuntimeError(
                    f"{type(self).__name__}: the {self._size_name} inferred from the input "
                    f"({size}) does not fit the loaded {name} of shape {tuple(value.shape)}, "
                    f"which needs {want}. Pass an input with the size of the loaded state_dict."
                )
            object.__setattr__(real, name, value)
        state = dict(real.__dict__)
        for keep in ("training", "_frozen", "_registered_buffers"):
            state[keep] = self.__dict__[keep]
        self.__dict__.clear()
        self.__dict__.update(state)
        object.__setattr__(self, "__class__", self.cls_to_become)

    # ------------------------------------------------------------------ load_state_dict
    def _lazy_shapes_for(self, loaded: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """The shape each placeholder must have, given the loaded entries (for the check)."""
        size = self._size_in(loaded)
        return self._member_shapes(size)

    def _size_in(self, loaded: dict[str, tuple[int, ...]]) -> int | None:
        for name, shape in loaded.items():
            size = self._size_from_state(name, shape)
            if size is not None:
                return size
        return None

    def _lazy_loaded(self) -> None:
        """After ``load_state_dict``: complete the module if the loaded shapes give its size."""
        loaded = {n: tuple(v.shape) for n, v, k in self._named_members_own() if is_array(v)}
        size = self._size_in({n: s for n, s in loaded.items() if n in self._sized_members})
        if size is not None:
            self._complete(size)

    # ------------------------------------------------------------------ per family
    _size_name: ClassVar[str] = ""
    _sized_members: ClassVar[tuple[str, ...]] = ()

    def _size_from_input(self, input: jax.Array) -> int:
        raise NotImplementedError

    def _size_from_state(self, name: str, shape: tuple[int, ...]) -> int | None:
        raise NotImplementedError

    def _member_shapes(self, size: int | None) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _build(self, size: int) -> Module:
        raise NotImplementedError


def _placeholder(kind: type, device: Any, dtype: Any) -> Any:
    from ._utils import factory_dtype

    return kind(device, factory_dtype(dtype))


# ---------------------------------------------------------------------------------- Linear


class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is read from the first input's last dimension.

    Before the first call it prints ``LazyLinear(in_features=0, ...)`` and its ``state_dict``
    holds ``<UninitializedParameter>``; the first (eager) call draws torch's initialisation
    and turns it into a ``Linear``.

    Args:
        out_features: size of each output sample.
        bias: learn an additive bias. Default True.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation at the first call (default: drawn now from the
            global stream).

    Shape:
        - Input: ``(*, H_in)``; Output: ``(*, out_features)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.LazyLinear(4)
    >>> m
    LazyLinear(in_features=0, out_features=4, bias=True)
    >>> m(jnp.ones((2, 3))).shape
    (2, 4)
    >>> m
    Linear(in_features=3, out_features=4, bias=True)
    """

    cls_to_become = Linear
    _size_name = "in_features"
    _sized_members = ("weight",)
    _lazy_key: _KeyBox = eqx.field(static=True)

    def __init__(
        self,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        self._lazy_key = _KeyBox(as_key(key))
        Linear.__init__(self, 0, out_features, False, None, dtype, key=self._lazy_key.key)
        self.weight = _placeholder(UninitializedParameter, device, dtype)
        self.bias = _placeholder(UninitializedParameter, device, dtype) if bias else None

    def _size_from_input(self, input: jax.Array) -> int:
        if input.ndim < 1:
            raise ValueError(
                f"LazyLinear reads in_features from the input's last dimension, but the input is "
                f"0-d (shape {tuple(input.shape)}); pass an input of shape (*, in_features)."
            )
        return int(input.shape[-1])

    def _size_from_state(self, name: str, shape: tuple[int, ...]) -> int | None:
        return shape[1] if name == "weight" and len(shape) == 2 else None

    def _member_shapes(self, size: int | None) -> dict[str, tuple[int, ...]]:
        shapes = {"bias": (self.out_features,)}
        if size is not None:
            shapes["weight"] = (self.out_features, size)
        return shapes

    def _build(self, size: int) -> Module:
        w = self.weight
        return Linear(
            size, self.out_features, self.bias is not None, w.device if is_lazy(w) else None,
            w.dtype, key=self._lazy_key.key,
        )  # fmt: skip


# ---------------------------------------------------------------------------------- conv


class _LazyConvMixin(LazyModuleMixin):
    _size_name = "in_channels"
    _sized_members = ("weight",)

    def _init_lazy(self, device: Any, dtype: Any, bias: bool) -> None:
        self.weight = _placeholder(UninitializedParameter, device, dtype)
        self.bias = _placeholder(UninitializedParameter, device, dtype) if bias else None

    def _size_from_input(self, input: jax.Array) -> int:
        # torch's _LazyConvXdMixin._get_in_channels, with its message.
        n = len(self.kernel_size)
        if input.ndim not in (n + 1, n + 2):
            raise RuntimeError(
                f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                f"{type(self).__name__}, but got input of size: {list(input.shape)}"
            )
        return int(input.shape[1] if input.ndim == n + 2 else input.shape[0])

    def _size_from_state(self, name: str, shape: tuple[int, ...]) -> int | None:
        if name != "weight" or len(shape) != len(self.kernel_size) + 2:
            return None
        return shape[0] if self.transposed else shape[1] * self.groups

    def _member_shapes(self, size: int | None) -> dict[str, tuple[int, ...]]:
        shapes = {"bias": (self.out_channels,)}
        if size is not None:
            g = self.groups
            if self.transposed:
                shapes["weight"] = (size, self.out_channels // g, *self.kernel_size)
            else:
                shapes["weight"] = (self.out_channels, size // g, *self.kernel_size)
        return shapes

    def _build(self, size: int) -> Module:
        w = self.weight
        device = w.device if is_lazy(w) else None
        common = dict(
            stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
            bias=self.bias is not None, padding_mode=self.padding_mode, device=device,
            dtype=w.dtype, key=self._lazy_key.key,
        )  # fmt: skip
        if self.transposed:
            common["output_padding"] = self.output_padding
        return self.cls_to_become(size, self.out_channels, self.kernel_size, **common)


def _lazy_conv(n: int, base: type) -> type:
    name = f"LazyConv{n}d"

    class LazyConv(_LazyConvMixin, base):
        cls_to_become = base
        _lazy_key: _KeyBox = eqx.field(static=True)

        def __init__(
            self,
            out_channels: int,
            kernel_size: int | tuple[int, ...],
            stride: int | tuple[int, ...] = 1,
            padding: str | int | tuple[int, ...] = 0,
            dilation: int | tuple[int, ...] = 1,
            groups: int = 1,
            bias: bool = True,
            padding_mode: str = "zeros",
            device: Any = None,
            dtype: Any = None,
            *,
            key: jax.Array | None = None,
        ) -> None:
            self._lazy_key = _KeyBox(as_key(key))
            base.__init__(
                self, 0, out_channels, kernel_size, stride, padding, dilation, groups, False,
                padding_mode, None, dtype, key=self._lazy_key.key,
            )  # fmt: skip
            self._init_lazy(device, dtype, bias)

    LazyConv.__name__ = LazyConv.__qualname__ = name
    LazyConv.__doc__ = _LAZY_CONV_DOC.format(n=n, base=base.__name__, ones=(1,) * n)
    return LazyConv


def _lazy_conv_transpose(n: int, base: type) -> type:
    name = f"LazyConvTranspose{n}d"

    class LazyConvTranspose(_LazyConvMixin, base):
        cls_to_become = base
        _lazy_key: _KeyBox = eqx.field(static=True)

        def __init__(
            self,
            out_channels: int,
            kernel_size: int | tuple[int, ...],
            stride: int | tuple[int, ...] = 1,
            padding: int | tuple[int, ...] = 0,
            output_padding: int | tuple[int, ...] = 0,
            groups: int = 1,
            bias: bool = True,
            dilation: int | tuple[int, ...] = 1,
            padding_mode: str = "zeros",
            device: Any = None,
            dtype: Any = None,
            *,
            key: jax.Array | None = None,
        ) -> None:
            self._lazy_key = _KeyBox(as_key(key))
            base.__init__(
                self, 0, out_channels, kernel_size, stride, padding, output_padding, groups,
                False, dilation, padding_mode, None, dtype, key=self._lazy_key.key,
            )  # fmt: skip
            self._init_lazy(device, dtype, bias)

    LazyConvTranspose.__name__ = LazyConvTranspose.__qualname__ = name
    LazyConvTranspose.__doc__ = _LAZY_CONV_DOC.format(n=n, base=base.__name__, ones=(1,) * n)
    return LazyConvTranspose


_LAZY_CONV_DOC = """A ``{base}`` whose ``in_channels`` is read from the first input (``input.shape[1]``,
    or ``shape[0]`` unbatched).

    Takes ``{base}``'s arguments without ``in_channels``, plus ``key=`` (the initialisation
    key used at the first call; default: drawn now from the global stream). Before the
    first call it prints with ``in_channels`` 0 and holds ``<UninitializedParameter>``s;
    the first eager call draws torch's initialisation and turns it into a ``{base}``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Lazy{base}(4, 1)
    >>> m
    Lazy{base}(0, 4, kernel_size={ones}, stride={ones})
    >>> _ = m(jnp.ones((2, 3) + (5,) * {n}))
    >>> m
    {base}(3, 4, kernel_size={ones}, stride={ones})
    """

LazyConv1d = _lazy_conv(1, Conv1d)
LazyConv2d = _lazy_conv(2, Conv2d)
LazyConv3d = _lazy_conv(3, Conv3d)
LazyConvTranspose1d = _lazy_conv_transpose(1, ConvTranspose1d)
LazyConvTranspose2d = _lazy_conv_transpose(2, ConvTranspose2d)
LazyConvTranspose3d = _lazy_conv_transpose(3, ConvTranspose3d)


# ---------------------------------------------------------------------------------- norms


class _LazyNormMixin(LazyModuleMixin):
    """torch's ``_LazyNormBase``: note its defaults, ``affine=True, track_running_stats=True``,
    for the instance norms too."""

    _size_name = "num_features"
    _sized_members = ("weight", "bias", "running_mean", "running_var")

    def _init_lazy(
        self,
        eps: float,
        momentum: float | None,
        affine: bool,
        track_running_stats: bool,
        device: Any,
        dtype: Any,
        bias: bool,
    ) -> None:
        type(self).cls_to_become.__init__(
            self, 1, eps, momentum, False, False, None, dtype, bias=False
        )
        self.num_features = 0
        self.affine = affine
        self.track_running_stats = track_running_stats
        param = _placeholder(UninitializedParameter, device, dtype) if affine else None
        self.weight = param
        self.bias = _placeholder(UninitializedParameter, device, dtype) if affine and bias else None
        if track_running_stats:
            from .normalization import _count_dtype

            self.running_mean = _placeholder(UninitializedBuffer, device, dtype)
            self.running_var = _placeholder(UninitializedBuffer, device, dtype)
            self.num_batches_tracked = jax.numpy.zeros((), _count_dtype())

    def _size_from_input(self, input: jax.Array) -> int:
        ranks = self.cls_to_become._ranks
        if input.ndim not in ranks:
            raise ValueError(
                f"{type(self).__name__} reads num_features from the input's channel dimension, "
                f"so it takes an input of {' or '.join(f'{r}D' for r in ranks)}, got "
                f"{input.ndim}D input of shape {tuple(input.shape)}."
            )
        # The channel dim: 1 when batched. (torch's instance norms read shape[1] of an
        # unbatched (C, L) input too, get L, then raise; jaxnn reads C.)
        unbatched = issubclass(self.cls_to_become, _INSTANCE) and input.ndim == ranks[0]
        return int(input.shape[0 if unbatched else 1])

    def _size_from_state(self, name: str, shape: tuple[int, ...]) -> int | None:
        return shape[0] if name in self._sized_members and len(shape) == 1 else None

    def _member_shapes(self, size: int | None) -> dict[str, tuple[int, ...]]:
        return {} if size is None else {n: (size,) for n in self._sized_members}

    def _build(self, size: int) -> Module:
        probe = next(
            (v for n, v, k in self._named_members_own() if is_lazy(v)),
            None,
        )
        device = None if probe is None else probe.device
        dtype = None if probe is None else probe.dtype
        return self.cls_to_become(
            size, self.eps, self.momentum, self.affine, self.track_running_stats, device, dtype,
            bias=self.bias is not None or not self.affine,
        )  # fmt: skip


_INSTANCE = (InstanceNorm1d, InstanceNorm2d, InstanceNorm3d)


def _lazy_norm(prefix: str, n: int, base: type) -> type:
    class LazyNorm(_LazyNormMixin, base):
        cls_to_become = base

        def __init__(
            self,
            eps: float = 1e-05,
            momentum: float | None = 0.1,
            affine: bool = True,
            track_running_stats: bool = True,
            device: Any = None,
            dtype: Any = None,
            *,
            bias: bool = True,
        ) -> None:
            self._init_lazy(eps, momentum, affine, track_running_stats, device, dtype, bias)

    name = f"Lazy{prefix}{n}d"
    LazyNorm.__name__ = LazyNorm.__qualname__ = name
    shape = {1: (2, 3, 4), 2: (2, 3, 4, 4), 3: (2, 3, 2, 2, 2)}[n]
    LazyNorm.__doc__ = _LAZY_NORM_DOC.format(base=base.__name__, shape=shape)
    return LazyNorm


_LAZY_NORM_DOC = """A ``{base}`` whose ``num_features`` is read from the first input's channels.

    Takes ``{base}``'s arguments without ``num_features``; as torch's lazy norms, it
    defaults to ``affine=True, track_running_stats=True``. Before the first call its
    parameters and running statistics are placeholders; the first eager call makes them
    (ones, zeros, zeros, ones) and turns it into a ``{base}``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.Lazy{base}().eval()
    >>> m
    Lazy{base}(0, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> m(jnp.ones({shape})).shape
    {shape}
    >>> m
    {base}(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

LazyBatchNorm1d = _lazy_norm("BatchNorm", 1, BatchNorm1d)
LazyBatchNorm2d = _lazy_norm("BatchNorm", 2, BatchNorm2d)
LazyBatchNorm3d = _lazy_norm("BatchNorm", 3, BatchNorm3d)
LazyInstanceNorm1d = _lazy_norm("InstanceNorm", 1, InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm("InstanceNorm", 2, InstanceNorm2d)
LazyInstanceNorm3d = _lazy_norm("InstanceNorm", 3, InstanceNorm3d)
