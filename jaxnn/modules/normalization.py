"""Normalisation layers: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm.

BatchNorm (and InstanceNorm with ``track_running_stats=True``) update their running
statistics in training mode. torch does it in place; here the layer reports the new values
with ``update_buffers`` and ``out, model = jaxnn.forward(model, x)`` returns the model that
holds them (DESIGN rule 7). A plain ``model(x)`` gives the same output and warns once that
the update was dropped.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import functional as F
from .. import init
from .._fields import buffer
from .._module import Module
from ._utils import check_positive_int, factory_dtype, place

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "GroupNorm",
    "LocalResponseNorm",
    "RMSNorm",
]


def _count_dtype() -> Any:
    # torch's num_batches_tracked is int64; JAX without x64 has int32 as its widest int.
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def _shape_tuple(normalized_shape: Any, name: str) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except TypeError:
        raise TypeError(
            f"{name}: normalized_shape must be an int or a sequence of ints, got "
            f"{type(normalized_shape).__name__} {normalized_shape!r}; e.g. normalized_shape=(10,)."
        ) from None
    return shape


class _NormBase(Module):
    """torch's ``_NormBase``: affine parameters and running statistics, shared by Batch/InstanceNorm."""

    weight: jax.Array | None
    bias: jax.Array | None
    running_mean: jax.Array | None = buffer()
    running_var: jax.Array | None = buffer()
    num_batches_tracked: jax.Array | None = buffer()
    num_features: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    momentum: float | None = eqx.field(static=True)
    affine: bool = eqx.field(static=True)
    track_running_stats: bool = eqx.field(static=True)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-05,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = eps
        if momentum is not None and not isinstance(momentum, numbers.Real):
            raise TypeError(
                f"{type(self).__name__}: momentum must be a float or None, got "
                f"{type(momentum).__name__} {momentum!r}; pass e.g. momentum=0.1."
            )
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = factory_dtype(dtype)
        n = num_features
        self.weight = place(init.ones_((n,), dtype=dt), device) if affine else None
        self.bias = place(init.zeros_((n,), dtype=dt), device) if affine and bias else None
        if track_running_stats:
            self.running_mean = place(jnp.zeros((n,), dt), device)
            self.running_var = place(jnp.ones((n,), dt), device)
            self.num_batches_tracked = place(jnp.zeros((), _count_dtype()), device)
        else:
            self.running_mean = None
            self.running_var = None
            self.num_batches_tracked = None

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """torch's ``_BatchNorm.forward``; subclasses only fix the accepted input ranks."""

    _ranks = ()
    _ranks_text = ""
    _shape_text = ""

    def forward(self, input: jax.Array) -> jax.Array:
        if input.ndim not in self._ranks:
            raise ValueError(
                f"expected {self._ranks_text} input (got {input.ndim}D input); "
                f"{type(self).__name__} takes {self._shape_text}."
            )
        update = self.training and self.track_running_stats
        factor = 0.0 if self.momentum is None else self.momentum
        count = None
        if update:
            count = self.buffer_value("num_batches_tracked") + 1
            if self.momentum is None:
                # torch's cumulative moving average: factor 1/num_batches_tracked after the
                # increment. The count is an array here (traced under jit), so is the factor.
                factor = (1.0 / count).astype(self.running_mean.dtype)
        use_buffers = not self.training or self.track_running_stats
        mean = self.buffer_value("running_mean") if use_buffers else None
        var = self.buffer_value("running_var") if use_buffers else None
        # Batch statistics in training mode, and in eval mode when nothing was tracked.
        batch_stats = self.training or (mean is None and var is None)
        out, new_mean, new_var = F.batch_norm_with_stats(
            input, mean, var, self.weight, self.bias, batch_stats, factor, self.eps
        )
        if update:
            self.update_buffers(
                running_mean=new_mean, running_var=new_var, num_batches_tracked=count
            )
        return out


_BN_DOC = """Batch normalisation over a {what} input (torch's ``{name}``).

    .. math:: y = \\frac{{x - \\mathrm{{E}}[x]}}{{\\sqrt{{\\mathrm{{Var}}[x] + \\epsilon}}}} \\gamma + \\beta

    Statistics are per channel (dim 1) over every other axis. In training mode the batch's
    (biased) statistics normalise, and the running statistics move towards the batch's mean
    and unbiased variance with ``momentum`` (``None``: a cumulative average); use
    ``out, model = jaxnn.forward(model, x)`` to get them back. In eval mode the running
    statistics normalise (the batch's when ``track_running_stats=False``).

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance. Default 1e-5.
        momentum: running-statistics factor (torch's convention); ``None`` for a cumulative
            moving average. Default 0.1.
        affine: learn ``weight`` (ones) and ``bias`` (zeros). Default True.
        track_running_stats: keep ``running_mean``, ``running_var`` and
            ``num_batches_tracked`` buffers. Default True.
        device, dtype: where and in which floating type the arrays are made.
        bias: with ``affine``, also learn ``bias``. Default True.

    Shape:
        - Input: {shape}; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.{name}(3)
    >>> out, m = nn.forward(m, jnp.ones({example}))
    >>> out.shape, int(m.num_batches_tracked)
    ({example}, 1)
    """


class BatchNorm1d(_BatchNorm):
    _ranks = (2, 3)
    _ranks_text = "2D or 3D"
    _shape_text = "(N, C) or (N, C, L)"
    __doc__ = _BN_DOC.format(
        what="2-d or 3-d",
        name="BatchNorm1d",
        shape=":math:`(N, C)` or :math:`(N, C, L)`",
        example="(2, 3, 4)",
    )


class BatchNorm2d(_BatchNorm):
    _ranks = (4,)
    _ranks_text = "4D"
    _shape_text = "(N, C, H, W)"
    __doc__ = _BN_DOC.format(
        what="4-d", name="BatchNorm2d", shape=":math:`(N, C, H, W)`", example="(2, 3, 4, 4)"
    )


class BatchNorm3d(_BatchNorm):
    _ranks = (5,)
    _ranks_text = "5D"
    _shape_text = "(N, C, D, H, W)"
    __doc__ = _BN_DOC.format(
        what="5-d", name="BatchNorm3d", shape=":math:`(N, C, D, H, W)`", example="(2, 3, 2, 2, 2)"
    )


class _InstanceNorm(_NormBase):
    """torch's ``_InstanceNorm.forward``, including the unbatched input."""

    _ranks = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-05,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, input: jax.Array) -> jax.Array:
        unbatched = self._ranks[0]
        if input.ndim not in self._ranks:
            raise ValueError(
                f"expected {self._ranks[0]}D or {self._ranks[1]}D input (got {input.ndim}D input); "
                f"{type(self).__name__} takes a batched or an unbatched channels-first input."
            )
        feature_dim = input.ndim - unbatched
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"expected input's size at dim={feature_dim} to match num_features"
                    f" ({self.num_features}), but got: {input.shape[feature_dim]}."
                )
            warnings.warn(
                f"input's size at dim={feature_dim} does not match num_features. "
                "You can silence this warning by not passing in num_features, "
                "which is not used because affine=False",
                stacklevel=3,
            )
        x = input[None] if input.ndim == unbatched else input
        update = self.training and self.track_running_stats
        out, new_mean, new_var = F.instance_norm_with_stats(
            x,
            self.buffer_value("running_mean") if self.track_running_stats else None,
            self.buffer_value("running_var") if self.track_running_stats else None,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            0.0 if self.momentum is None else self.momentum,
            self.eps,
        )
        if update:
            self.update_buffers(running_mean=new_mean, running_var=new_var)
        return out[0] if input.ndim == unbatched else out


_IN_DOC = """Instance normalisation of each sample's channels (torch's ``{name}``).

    .. math:: y = \\frac{{x - \\mathrm{{E}}[x]}}{{\\sqrt{{\\mathrm{{Var}}[x] + \\epsilon}}}} \\gamma + \\beta

    Statistics are per sample and channel over the spatial axes. With
    ``track_running_stats=True`` the running statistics move in training mode (returned by
    ``jaxnn.forward``) and normalise in eval mode; ``num_batches_tracked`` is kept but, as in
    torch, never incremented.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance. Default 1e-5.
        momentum: running-statistics factor; ``None`` behaves as 0 (torch). Default 0.1.
        affine: learn per-channel ``weight`` and ``bias``. Default False.
        track_running_stats: keep running statistics. Default False.
        device, dtype: where and in which floating type the arrays are made.
        bias: with ``affine``, also learn ``bias``. Default True.

    Shape:
        - Input: {shape}; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.{name}(3)(jnp.arange(24.0).reshape({example})).shape
    {example}
    """


class InstanceNorm1d(_InstanceNorm):
    _ranks = (2, 3)
    __doc__ = _IN_DOC.format(
        name="InstanceNorm1d", shape=":math:`(N, C, L)` or :math:`(C, L)`", example="(2, 3, 4)"
    )


class InstanceNorm2d(_InstanceNorm):
    _ranks = (3, 4)
    __doc__ = _IN_DOC.format(
        name="InstanceNorm2d",
        shape=":math:`(N, C, H, W)` or :math:`(C, H, W)`",
        example="(3, 2, 4)",
    )


class InstanceNorm3d(_InstanceNorm):
    _ranks = (4, 5)
    __doc__ = _IN_DOC.format(
        name="InstanceNorm3d",
        shape=":math:`(N, C, D, H, W)` or :math:`(C, D, H, W)`",
        example="(3, 2, 2, 2)",
    )


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions.

    .. math:: y = \\frac{x - \\mathrm{E}[x]}{\\sqrt{\\mathrm{Var}[x] + \\epsilon}} \\gamma + \\beta

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last axis).
        eps: added to the (biased) variance. Default 1e-5.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of shape
            ``normalized_shape``. Default True.
        bias: with ``elementwise_affine``, also learn ``bias``. Default True.
        device, dtype: where and in which floating type the parameters are made.

    Shape:
        - Input: :math:`(*, \\text{normalized\\_shape})`; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.LayerNorm(2, eps=0.0)(jnp.array([[1.0, 3.0], [5.0, 1.0]]))
    Array([[-1.,  1.],
           [ 1., -1.]], dtype=float32)
    """

    weight: jax.Array | None
    bias: jax.Array | None
    normalized_shape: tuple[int, ...] = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    elementwise_affine: bool = eqx.field(static=True)

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-05,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape, "LayerNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = factory_dtype(dtype)
        shape = self.normalized_shape
        self.weight = place(init.ones_(shape, dtype=dt), device) if elementwise_affine else None
        self.bias = (
            place(init.zeros_(shape, dtype=dt), device) if elementwise_affine and bias else None
        )

    def forward(self, input: jax.Array) -> jax.Array:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalisation: the channels split into ``num_groups`` groups, each normalised.

    .. math:: y = \\frac{x - \\mathrm{E}[x]}{\\sqrt{\\mathrm{Var}[x] + \\epsilon}} \\gamma + \\beta

    Statistics are per sample and group; ``weight`` and ``bias`` are per channel.

    Args:
        num_groups: the number of groups; must divide ``num_channels``.
        num_channels: the number of channels ``C``.
        eps: added to the variance. Default 1e-5.
        affine: learn per-channel ``weight`` (ones) and ``bias`` (zeros). Default True.
        device, dtype: where and in which floating type the parameters are made.
        bias: with ``affine``, also learn ``bias``. Default True.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.GroupNorm(2, 4)(jnp.ones((3, 4, 5))).shape
    (3, 4, 5)
    """

    weight: jax.Array | None
    bias: jax.Array | None
    num_groups: int = eqx.field(static=True)
    num_channels: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    affine: bool = eqx.field(static=True)

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-05,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(num_groups, "num_groups")
        check_positive_int(num_channels, "num_channels")
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups}); "
                f"choose num_groups among the divisors of {num_channels}."
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dt = factory_dtype(dtype)
        self.weight = place(init.ones_((num_channels,), dtype=dt), device) if affine else None
        self.bias = (
            place(init.zeros_((num_channels,), dtype=dt), device) if affine and bias else None
        )

    def forward(self, input: jax.Array) -> jax.Array:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LocalResponseNorm(Module):
    """Local response normalisation across neighbouring channels.

    .. math:: b_c = a_c \\left(k + \\frac{\\alpha}{n} \\sum_{c'} a_{c'}^2\\right)^{-\\beta}

    Args:
        size: the number of neighbouring channels ``n`` in the window.
        alpha: multiplicative factor. Default 0.0001.
        beta: exponent. Default 0.75.
        k: additive factor. Default 1.

    Shape:
        - Input: :math:`(N, C, *)`; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.LocalResponseNorm(2)(jnp.ones((1, 4, 3, 3))).shape
    (1, 4, 3, 3)
    """

    size: int = eqx.field(static=True)
    alpha: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    k: float = eqx.field(static=True)

    def __init__(
        self, size: int, alpha: float = 0.0001, beta: float = 0.75, k: float = 1.0
    ) -> None:
        super().__init__()
        self.size = check_positive_int(size, "size")
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: jax.Array) -> jax.Array:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions.

    .. math:: y = \\frac{x}{\\sqrt{\\mathrm{E}[x^2] + \\epsilon}} \\gamma

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last axis).
        eps: added to the mean square; ``None`` (default) for the machine epsilon of the
            input's compute type, as torch.
        elementwise_affine: learn ``weight`` (ones) of shape ``normalized_shape``. Default True.
        device, dtype: where and in which floating type the parameter is made.

    Shape:
        - Input: :math:`(*, \\text{normalized\\_shape})`; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.RMSNorm(2, eps=0.0)(jnp.array([[2.0, -2.0]]))
    Array([[ 1., -1.]], dtype=float32)
    """

    weight: jax.Array | None
    normalized_shape: tuple[int, ...] = eqx.field(static=True)
    eps: float | None = eqx.field(static=True)
    elementwise_affine: bool = eqx.field(static=True)

    def __init__(
        self,
        normalized_shape: Any,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = factory_dtype(dtype)
        self.weight = (
            place(init.ones_(self.normalized_shape, dtype=dt), device)
            if elementwise_affine
            else None
        )

    def forward(self, x: jax.Array) -> jax.Array:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
