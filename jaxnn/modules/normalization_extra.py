"""SyncBatchNorm and CrossMapLRN2d (torch.nn's).

``SyncBatchNorm`` is ``BatchNorm`` over any ``(N, C, *)`` input. Under ``jax.jit`` with a
batch sharded over devices (``jaxnn.parallel``, ``jax.sharding``) the batch statistics of
every BatchNorm are already global - XLA inserts the all-reduce - which is what torch's
SyncBatchNorm adds to DistributedDataParallel. torch's ``process_group`` has no
counterpart: which devices share statistics is decided by the sharding.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .._module import Module
from ..functional._normalization_legacy import cross_map_lrn2d
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm

__all__ = ["SyncBatchNorm", "CrossMapLRN2d"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation with statistics over the whole (sharded) batch.

    torch's ``nn.SyncBatchNorm``: the arguments, buffers and numbers of ``BatchNorm*d``
    for an input of any rank >= 2. Synchronisation across devices is the sharding's: a
    batch sharded over a mesh under ``jax.jit`` is normalised with its global statistics.

    Args:
        num_features: the number of channels ``C``.
        eps, momentum, affine, track_running_stats, device, dtype, bias: as ``BatchNorm1d``.
        process_group: must be ``None`` (the sharding decides which devices share
            statistics).

    Shape:
        - Input: ``(N, C, *)``; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.SyncBatchNorm(3)
    >>> out, m = nn.forward(m, jnp.ones((2, 3, 4, 4, 4)))
    >>> out.shape, int(m.num_batches_tracked)
    ((2, 3, 4, 4, 4), 1)
    """

    _ranks = tuple(range(2, 64))
    _ranks_text = "at least 2D"
    _shape_text = "(N, C, *)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        if process_group is not None:
            raise ValueError(
                f"SyncBatchNorm(process_group={process_group!r}): jaxnn synchronises batch "
                f"statistics through the sharding, not process groups. Pass "
                f"process_group=None and shard the batch over the devices that should share "
                f"statistics (jaxnn.parallel.shard_batch, or a jax.sharding.Mesh axis)."
            )
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, input: jax.Array) -> jax.Array:
        if input.ndim >= 2 and input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        return super().forward(input)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Replace every ``BatchNorm*d`` in ``module`` by a ``SyncBatchNorm`` with its arrays.

        As torch: in place for the children, and a new module when ``module`` itself is a
        BatchNorm; the mode and frozen parameters carry over.
        """
        if isinstance(module, BatchNorm1d | BatchNorm2d | BatchNorm3d):
            new = cls(
                module.num_features, module.eps, module.momentum, module.affine,
                module.track_running_stats, process_group, bias=module.bias is not None,
            )  # fmt: skip
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                object.__setattr__(new, name, getattr(module, name))
            object.__setattr__(new, "training", module.training)
            object.__setattr__(new, "_frozen", module._frozen)
            return new
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:
                setattr(module, name, converted)
        return module


class CrossMapLRN2d(Module):
    """torch's legacy cross-channel local response normalisation of a 4-D input.

    ``x / (k + alpha / size * s) ** beta`` with ``s`` a running sum of squares over
    ``size`` neighbouring channels, computed - forward and gradient - as torch's
    ``CrossMapLRN2d`` (a Lua Torch port whose window differs slightly from
    ``LocalResponseNorm``'s).

    Args:
        size: the channel window.
        alpha, beta, k: the formula's constants. Default 1e-4, 0.75, 1.

    Shape:
        - Input: ``(N, C, H, W)``; Output: same shape.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> m = nn.CrossMapLRN2d(3)
    >>> m
    CrossMapLRN2d(3, alpha=0.0001, beta=0.75, k=1)
    >>> m(jnp.ones((1, 4, 2, 2))).shape
    (1, 4, 2, 2)
    """

    size: int = eqx.field(static=True)
    alpha: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    k: float = eqx.field(static=True)

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: jax.Array) -> jax.Array:
        if input.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
        return cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
