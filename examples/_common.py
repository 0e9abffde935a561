"""The training loop the example scripts share: epochs, progress, evaluation, checkpoints.

Each script defines its model and ONE jitted ``make_step(state, x, y, key) -> (state,
loss)`` on the packed training state ``jaxnn.pack(params, rest, opt_state)`` (packed so
that jit does not walk the model on every call); ``train`` runs it over the data with a tqdm bar
showing the live loss, prints train/test loss and accuracy each epoch, saves a checkpoint
every epoch (``--resume`` continues from it, bit for bit), and plots the curves to a PNG
beside the checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnn as nn
import jaxnn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as data_lib


def parser(
    description: str, *, epochs: int, batch_size: int, lr: float, out: str
) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help="folder for the checkpoint and the plot")
    p.add_argument(
        "--data-dir", default="data", help="folder with MNIST IDX files (else: embedded digits)"
    )
    p.add_argument("--dataset", default="mnist", choices=sorted(data_lib.MIRRORS))
    p.add_argument("--download", action="store_true", help="download the IDX files first")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument(
        "--scan-epoch", action="store_true", help="compile a whole epoch as one lax.scan"
    )
    p.add_argument(
        "--limit-batches", type=int, default=0, help="at most this many batches an epoch (0: all)"
    )
    p.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="stop after this many epochs of this run (as if interrupted)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def load_data(args: argparse.Namespace) -> data_lib.Dataset:
    data = data_lib.load(args.data_dir, args.dataset, args.download)
    print(data.describe(), flush=True)
    return data


def optimizer(args: argparse.Namespace, n_train: int) -> optax.GradientTransformation:
    """Adam with a cosine-decayed learning rate over the whole run (settles the last epochs)."""
    steps = max(1, args.epochs * data_lib.num_batches(n_train, args.batch_size))
    return optax.adam(optax.cosine_decay_schedule(args.lr, steps))


def classification_step(model: nn.Module, optimizer: optax.GradientTransformation) -> Callable:
    """The standard jitted step: cross-entropy, buffers updated through jaxnn.forward."""

    @jax.jit
    def make_step(state, x, y, key):
        params, rest, opt_state = state

        def loss_fn(params):
            out, new_model = nn.forward(eqx.combine(params, rest), x, key=key)
            return F.cross_entropy(out, y), new_model

        (loss, new_model), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        rest = eqx.filter(new_model, nn.trainable(new_model), inverse=True)
        return nn.pack(params, rest, opt_state), loss

    return make_step


def _evaluate(
    params: Any, rest: Any, x: np.ndarray, y: np.ndarray, batch: int = 512
) -> tuple[float, float]:
    model = eqx.combine(params, rest)
    model.eval()  # a fresh object from combine: the training model is untouched
    p, r = eqx.partition(model, nn.trainable(model))
    total_loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = _predict(p, r, jnp.asarray(x[i : i + batch]))
        yy = jnp.asarray(y[i : i + batch])
        total_loss += float(F.cross_entropy(logits, yy, reduction="sum"))
        correct += int((jnp.argmax(logits, -1) == yy).sum())
    return total_loss / len(y), correct / len(y)


@jax.jit
def _predict(p, r, x):
    return eqx.combine(p, r)(x)


def plot(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, len(history["train_loss"]) + 1)
    ax1.plot(epochs, history["train_loss"], "o-", label="train")
    ax1.plot(epochs, history["test_loss"], "o-", label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax2.plot(epochs, [100 * a for a in history["train_acc"]], "o-", label="train")
    ax2.plot(epochs, [100 * a for a in history["test_acc"]], "o-", label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train(
    args: argparse.Namespace,
    data: data_lib.Dataset,
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    make_step: Callable,
) -> dict[str, Any]:
    """Run the epochs; returns the history (losses per step and per-epoch metrics)."""
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    params, rest = eqx.partition(model, nn.trainable(model))
    opt_state = optimizer.init(params)
    history: dict[str, Any] = {
        "train_loss": [],
        "test_loss": [],
        "train_acc": [],
        "test_acc": [],
        "step_losses": [],
    }
    start_epoch, step = 0, 0
    if args.resume:
        if not os.path.exists(ckpt):
            raise FileNotFoundError(
                f"--resume: no checkpoint at {ckpt}; run without --resume first."
            )
        restored = nn.load_checkpoint(ckpt, model, opt_state)
        params, rest = eqx.partition(restored["model"], nn.trainable(restored["model"]))
        opt_state, step = restored["opt_state"], restored["step"]
        history = restored["extra"]["history"]
        start_epoch = restored["extra"]["epoch"] + 1
        print(f"resumed from {ckpt} at epoch {start_epoch + 1}, step {step}")
    data_key, drop_key = jax.random.split(jax.random.key(args.seed))
    n_batches = data_lib.num_batches(len(data.train_y), args.batch_size)
    if args.limit_batches:
        n_batches = min(n_batches, args.limit_batches)
    scan_epoch = _scan_epoch(make_step) if args.scan_epoch else None

    for epoch in range(start_epoch, args.epochs):
        t0 = time.perf_counter()
        epoch_batches = list(
            data_lib.batches(
                data.train_x, data.train_y, args.batch_size, jax.random.fold_in(data_key, epoch)
            )
        )[:n_batches]
        keys = [jax.random.fold_in(drop_key, step + i) for i in range(len(epoch_batches))]
        if scan_epoch is not None:
            xs = jnp.stack([jnp.asarray(b[0]) for b in epoch_batches])
            ys = jnp.stack([jnp.asarray(b[1]) for b in epoch_batches])
            state, losses = scan_epoch(nn.pack(params, rest, opt_state), xs, ys, jnp.stack(keys))
            params, rest, opt_state = state
            losses = [float(v) for v in losses]
        else:
            losses = []
            state = nn.pack(params, rest, opt_state)
            bar = _progress(
                len(epoch_batches), f"epoch {epoch + 1}/{args.epochs}", args.no_progress
            )
            for (x, y), key in zip(epoch_batches, keys, strict=True):
                state, loss = make_step(state, jnp.asarray(x), jnp.asarray(y), key)
                losses.append(loss)
                if bar is not None:
                    bar.update(1)
                    if len(losses) % 10 == 1:
                        bar.set_postfix(loss=f"{float(loss):.4f}")
            if bar is not None:
                bar.close()
            params, rest, opt_state = state
            losses = [float(v) for v in losses]
        step += len(losses)
        history["step_losses"].extend(losses)
        train_loss, train_acc = _evaluate(params, rest, data.train_x, data.train_y)
        test_loss, test_acc = _evaluate(params, rest, data.test_x, data.test_y)
        for k, v in (
            ("train_loss", train_loss),
            ("test_loss", test_loss),
            ("train_acc", train_acc),
            ("test_acc", test_acc),
        ):
            history[k].append(v)
        print(
            f"epoch {epoch + 1}: train loss {train_loss:.4f} acc {100 * train_acc:.2f}% | "
            f"test loss {test_loss:.4f} acc {100 * test_acc:.2f}% | {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        model = eqx.combine(params, rest)
        nn.save_checkpoint(
            ckpt,
            model,
            opt_state,
            step=step,
            key=drop_key,
            extra={"epoch": epoch, "history": history},
        )
        plot(history, os.path.join(args.out, "curves.png"))
        if args.stop_after and epoch + 1 - start_epoch >= args.stop_after:
            print(f"stopping after {args.stop_after} epoch(s); continue with --resume")
            break
    history["model"] = eqx.combine(params, rest)
    return history


def _scan_epoch(make_step: Callable) -> Callable:
    """One compiled call for a whole epoch: lax.scan over the stacked batches."""

    @jax.jit
    def run(state, xs, ys, keys):
        def body(state, batch):
            return make_step(state, *batch)

        return jax.lax.scan(body, state, (xs, ys, keys))

    return run


def _progress(total: int, desc: str, disabled: bool) -> Any:
    if disabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
