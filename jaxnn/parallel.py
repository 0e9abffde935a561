"""Multi-device training with JAX's own engine: ``jax.sharding`` meshes (DESIGN rule 12).

jaxnn adds no scheme of its own. A model is a pytree of arrays, so placing it on a mesh is
placing its arrays: replicated on every device (data parallelism), or split along a mesh
axis (FSDP-style, for models too large to replicate). ``jax.jit`` then compiles the step
for the placement it is given: the batch split over devices, gradients all-reduced by XLA.

On several hosts call ``jax.distributed.initialize()`` first in every process; the mesh
then spans every host's devices (``jax.devices()``) and the same code runs unchanged.

>>> import jax, jaxnn as nn
>>> mesh = nn.parallel.data_mesh()
>>> model = nn.parallel.shard_model(nn.Linear(4, 2), mesh)
>>> model.weight.sharding.is_fully_replicated
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._module import Module, rebuild

__all__ = ["data_mesh", "shard_batch", "shard_model"]


def data_mesh(devices: Sequence[jax.Device] | None = None, axis: str = "data") -> Mesh:
    """A one-axis mesh over ``devices`` (default: every device of every host)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("data_mesh: no devices given.")
    return Mesh(np.array(devices), (axis,))


def shard_batch(x: Any, mesh: Mesh, axis: str = "data") -> Any:
    """Split every array in ``x`` along its first (batch) dimension over ``axis``."""
    n = mesh.shape[axis]

    def put(a: Any) -> Any:
        if a.shape[0] % n:
            raise ValueError(
                f"shard_batch: batch size {a.shape[0]} is not divisible by the {n} devices of mesh "
                f"axis {axis!r}; use a batch size that is a multiple of {n}."
            )
        return jax.device_put(a, NamedSharding(mesh, P(axis)))

    return jax.tree_util.tree_map(put, x)


def shard_model(
    model: Module,
    mesh: Mesh,
    strategy: str = "replicate",
    axis: str = "data",
    min_size: int = 2**14,
) -> Module:
    """Place a model's parameters and buffers on ``mesh``; returns a new model.

    Args:
        strategy: ``"replicate"``: every device holds every array (data parallelism).
            ``"fsdp"``: each array of at least ``min_size`` elements is split along its
            largest dimension divisible by the axis size; smaller ones are replicated. XLA
            gathers the pieces where the step needs them.
        axis: the mesh axis to split over (fsdp) - the same axis the batch is split on.
    """
    if strategy not in ("replicate", "fsdp"):
        raise ValueError(
            f"strategy={strategy!r} is not valid; choose one of ('replicate', 'fsdp')."
        )
    if axis not in mesh.shape:
        raise ValueError(f"axis={axis!r} is not an axis of the mesh {dict(mesh.shape)}.")
    n = mesh.shape[axis]

    def spec(value: jax.Array) -> P:
        if strategy == "replicate" or value.size < min_size:
            return P()
        dims = sorted(range(value.ndim), key=lambda d: -value.shape[d])
        for d in dims:
            if value.shape[d] % n == 0:
                return P(*([None] * d + [axis]))
        return P()

    def leaf(module: Module, name: str, kind: str, value: Any) -> Any:
        return jax.device_put(value, NamedSharding(mesh, spec(value)))

    return rebuild(model, leaf)
