"""Seed 002's CNN trained data-parallel over every device with ``jax.sharding``.

The model is replicated, each batch is split over the devices of a one-axis mesh, and
``jax.jit`` compiles the step for that placement (XLA inserts the gradient all-reduce).
On one machine with a CPU only, simulate 8 devices:
``XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/data_parallel.py``.
On several hosts, call ``jax.distributed.initialize()`` first (``--distributed``).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as data_lib
from mnist_cnn import CNN

import jaxnn as nn
import jaxnn.functional as F


def train(
    steps: int,
    batch_size: int,
    lr: float,
    devices: list,
    strategy: str = "replicate",
    seed: int = 0,
) -> tuple[nn.Module, list[float]]:
    """Train ``steps`` steps on a mesh over ``devices``; returns the model and the losses."""
    data = data_lib.load("data")
    mesh = nn.parallel.data_mesh(devices)
    nn.manual_seed(seed)
    # Place the model before creating the optimizer: it trains the model object it is given.
    model = nn.parallel.shard_model(CNN(), mesh, strategy=strategy, min_size=1024)
    opt = nn.Optimizer(model, optax.adam(lr))
    step = opt.make_step(lambda model, x, y: F.cross_entropy(model(x), y))

    losses = []
    batches = data_lib.batches(data.train_x, data.train_y, batch_size, jax.random.key(seed))
    for _, (x, y) in zip(range(steps), batches, strict=False):
        x, y = nn.parallel.shard_batch((jnp.asarray(x), jnp.asarray(y)), mesh)
        losses.append(float(step(x, y)))
    return model, losses


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=50, help="training steps")
    p.add_argument("--batch-size", type=int, default=64, help="global batch, split over devices")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    p.add_argument(
        "--strategy",
        choices=("replicate", "fsdp"),
        default="replicate",
        help="replicate the model, or split its large arrays over the devices",
    )
    p.add_argument(
        "--distributed", action="store_true", help="call jax.distributed.initialize() first"
    )
    args = p.parse_args(argv)
    if args.distributed:
        jax.distributed.initialize()
    devices = jax.devices()
    print(f"{len(devices)} devices: {devices[0].device_kind}; strategy {args.strategy}")
    _, losses = train(args.steps, args.batch_size, args.lr, devices, args.strategy)
    print(f"loss: {losses[0]:.4f} -> {losses[-1]:.4f} after {len(losses)} steps")


if __name__ == "__main__":
    main()
