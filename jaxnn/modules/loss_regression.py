"""Regression losses (torch.nn's L1, MSE, smooth L1, Huber, Poisson and Gaussian NLL), each
calling its ``jaxnn.functional`` twin; constructors and ``reduction`` as in :mod:`.loss`.
"""

from __future__ import annotations

import equinox as eqx
import jax

from .. import functional as F
from .loss import _Loss

__all__ = [
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
    "HuberLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
]


class L1Loss(_Loss):
    """Mean absolute error :math:`|x - y|`, reduced by ``reduction``.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`, same shape; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.L1Loss()(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array(1.5, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error :math:`(x - y)^2`, reduced by ``reduction``.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`, same shape; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.MSELoss()(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array(2.5, dtype=float32)
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.mse_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Squared error below ``beta`` (divided by ``2 beta``), absolute error (minus ``beta/2``) above.

    Args:
        size_average, reduce: deprecated; use ``reduction``.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        beta: the threshold; 0 gives the L1 loss. Default 1.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.SmoothL1Loss()(jnp.array([0.5, 3.0]), jnp.zeros(2))
    Array(1.3125, dtype=float32)
    """

    beta: float = eqx.field(static=True)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared error below ``delta`` (halved), ``delta`` times (absolute error - ``delta/2``) above.

    Args:
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.
        delta: the threshold. Default 1.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.HuberLoss()(jnp.array([0.5, 3.0]), jnp.zeros(2))
    Array(1.3125, dtype=float32)
    """

    delta: float = eqx.field(static=True)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, float | int):
            raise TypeError(
                f"delta must be a float or int, got: {type(delta)}; e.g. HuberLoss(delta=1.0)."
            )
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class PoissonNLLLoss(_Loss):
    """Negative log likelihood of a Poisson target: :math:`e^x - y x` (``log_input``) or :math:`x - y \\log(x + \\epsilon)`.

    Args:
        log_input: the input is the log of the rate. Default True.
        full: add Stirling's approximation of :math:`\\log y!`. Default False.
        size_average, reduce: deprecated; use ``reduction``.
        eps: keeps the log finite when ``log_input=False``. Default 1e-8.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``'none'``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.PoissonNLLLoss()(jnp.zeros(3), jnp.ones(3))
    Array(1., dtype=float32)
    """

    log_input: bool = eqx.field(static=True)
    full: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: bool | None = None,
        eps: float = 1e-08,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: jax.Array, target: jax.Array) -> jax.Array:
        return F.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """Negative log likelihood of a Gaussian target: :math:`\\frac12(\\log \\sigma^2 + (x - y)^2 / \\sigma^2)`.

    Args:
        full: add the constant :math:`\\frac12 \\log 2\\pi`. Default False.
        eps: lower clamp of the variance. Default 1e-6.
        reduction: ``'none'`` | ``'mean'`` (default) | ``'sum'``.

    Shape:
        - Input, Target: :math:`(N, *)` or :math:`(*)`; Var: the input's shape, one dimension
          fewer, a last dimension of 1, or a float; Output: scalar, or :math:`(N, *)`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.GaussianNLLLoss()(jnp.zeros(2), jnp.ones(2), jnp.ones(2))
    Array(0.5, dtype=float32)
    """

    full: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, *, full: bool = False, eps: float = 1e-06, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: jax.Array, target: jax.Array, var: jax.Array | float) -> jax.Array:
        return F.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )
