"""Bring a torch model to jaxnn: train it a little in torch, convert, keep training in JAX.

The three lines that matter::

    model = jaxnn.from_torch(torch_model)            # same structure, names, weights, flags
    model.load_state_dict(torch.load("model.pt"))    # or a checkpoint file, unchanged
    torch_again = jaxnn.to_torch(model)              # and back, to serve with torch

Run: ``python examples/port_from_torch.py`` (needs torch: ``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as data_lib

import jaxnn as nn
import jaxnn.functional as F


def torch_cnn():
    import torch.nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def accuracy_torch(model, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def accuracy_jax(model, x, y) -> float:
    return float(
        (jnp.argmax(jax.jit(lambda m, x: m(x))(model, jnp.asarray(x)), -1) == jnp.asarray(y)).mean()
    )


def main(argv: list[str] | None = None) -> dict:
    import torch

    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--torch-steps", type=int, default=30, help="Adam steps in torch first")
    p.add_argument("--jax-steps", type=int, default=200, help="then Adam steps in jaxnn")
    p.add_argument("--batch-size", type=int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (both)")
    p.add_argument("--seed", type=int, default=0, help="seeds torch and the batches")
    p.add_argument(
        "--data-dir", default="data", help="folder with MNIST IDX files (else: embedded digits)"
    )
    args = p.parse_args(argv)
    data = data_lib.load(args.data_dir)
    print(data.describe())
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    tmodel = torch_cnn()
    topt = torch.optim.Adam(tmodel.parameters(), lr=args.lr)
    for _ in range(args.torch_steps):
        idx = rng.integers(0, len(data.train_y), args.batch_size)
        loss = torch.nn.functional.cross_entropy(
            tmodel(torch.from_numpy(data.train_x[idx])), torch.from_numpy(data.train_y[idx]).long()
        )
        topt.zero_grad()
        loss.backward()
        topt.step()
    torch_acc = accuracy_torch(tmodel, data.test_x, data.test_y)
    print(f"torch, after {args.torch_steps} steps: test accuracy {100 * torch_acc:.2f}%")

    model = nn.from_torch(tmodel)
    converted_acc = accuracy_jax(model, data.test_x, data.test_y)
    print(f"jaxnn, right after from_torch:  test accuracy {100 * converted_acc:.2f}% (same model)")
    print(model)

    opt = nn.Optimizer(model, optax.adam(args.lr))  # torch: optim.Adam(model.parameters())
    step = opt.make_step(lambda model, x, y: F.cross_entropy(model(x), y))
    for _ in range(args.jax_steps):
        idx = rng.integers(0, len(data.train_y), args.batch_size)
        step(jnp.asarray(data.train_x[idx]), jnp.asarray(data.train_y[idx]))
    jax_acc = accuracy_jax(model, data.test_x, data.test_y)
    print(f"jaxnn, after {args.jax_steps} more steps: test accuracy {100 * jax_acc:.2f}%")

    back = nn.to_torch(model)
    back_acc = accuracy_torch(back, data.test_x, data.test_y)
    print(f"torch, after to_torch:          test accuracy {100 * back_acc:.2f}% (served by torch)")
    return {"torch": torch_acc, "converted": converted_acc, "jax": jax_acc, "back": back_acc}


if __name__ == "__main__":
    main()
