"""The training loop the example scripts share: epochs, progress, evaluation, checkpoints.

Each script builds its model and hands it to ``train``, which trains it the way a torch
user writes it: ``opt = nn.Optimizer(model, tx)``, ``step = opt.make_step(loss_fn)``,
``loss = step(x, y)`` per batch, ``model.eval()`` to evaluate. It shows a tqdm bar with the
live loss, prints train/test loss and accuracy each epoch, saves a checkpoint every epoch
(``--resume`` continues from it, bit for bit), and plots the curves to a PNG beside it.
Ctrl-C finishes the current step, saves a checkpoint and prints the command that resumes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
from typing import Any

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
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=batch_size, help="images per step")
    p.add_argument("--lr", type=float, default=lr, help="Adam's peak learning rate (cosine decay)")
    p.add_argument("--seed", type=int, default=0, help="seeds the model, data order and dropout")
    p.add_argument("--out", default=out, help="folder for the checkpoint and the plot")
    p.add_argument(
        "--data-dir", default="data", help="folder with MNIST IDX files (else: embedded digits)"
    )
    p.add_argument(
        "--dataset", default="mnist", choices=sorted(data_lib.MIRRORS), help="which IDX files"
    )
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
        help="stop after this many epochs of this run (as if interrupted; 0: never)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; remembers the command line, for the resume hint after a Ctrl-C."""
    args = p.parse_args(argv)
    args.command = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    return args


def load_data(args: argparse.Namespace) -> data_lib.Dataset:
    data = data_lib.load(args.data_dir, args.dataset, args.download)
    print(data.describe(), flush=True)
    return data


def optimizer(args: argparse.Namespace, n_train: int) -> optax.GradientTransformation:
    """Adam with a cosine-decayed learning rate over the whole run (settles the last epochs)."""
    steps = max(1, args.epochs * data_lib.num_batches(n_train, args.batch_size))
    return optax.adam(optax.cosine_decay_schedule(args.lr, steps))


def classification_loss(model: nn.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    return F.cross_entropy(model(x), y)


def evaluate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in eval mode (its mode is restored)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = _predict(model, jnp.asarray(x[i : i + batch]))
        yy = jnp.asarray(y[i : i + batch])
        total_loss += float(F.cross_entropy(logits, yy, reduction="sum"))
        correct += int((jnp.argmax(logits, -1) == yy).sum())
    model.train(was_training)
    return total_loss / len(y), correct / len(y)


@jax.jit
def _predict(model, x):
    return model(x)


def plot(history: dict[str, list[float]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
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
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


class _StopOnCtrlC:
    """While active, the first Ctrl-C only asks the loop to stop at the next step boundary
    (a second one interrupts at once, as usual)."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> _StopOnCtrlC:
        # Only the main thread may set signal handlers; elsewhere Ctrl-C stays as it is.
        self._active = threading.current_thread() is threading.main_thread()
        if self._active:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        print(
            "\nCtrl-C: saving a checkpoint after this step (Ctrl-C again to quit now)", flush=True
        )

    def __exit__(self, *exc: Any) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)


def train(
    args: argparse.Namespace,
    data: data_lib.Dataset,
    model: nn.Module,
    tx: optax.GradientTransformation,
    title: str,
) -> dict[str, Any]:
    """Train ``model`` in place; returns the history (losses per step and per-epoch metrics)
    with the model under ``"model"``. ``title`` names the model on the plot."""
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    data_key, dropout_key = jax.random.split(jax.random.key(args.seed))
    opt = nn.Optimizer(model, tx, key=dropout_key)
    step = opt.make_step(classification_loss)
    history: dict[str, Any] = {
        "train_loss": [],
        "test_loss": [],
        "train_acc": [],
        "test_acc": [],
        "step_losses": [],
    }
    start_epoch, done = 0, 0  # done: batches of start_epoch already trained
    if args.resume:
        if not os.path.exists(ckpt):
            raise FileNotFoundError(
                f"--resume: no checkpoint at {ckpt}; run without --resume first."
            )
        extra = opt.load_checkpoint(ckpt)
        history, start_epoch, done = extra["history"], extra["epoch"], extra["batch"]
        print(
            f"resumed from {ckpt} at epoch {start_epoch + 1}, batch {done}, step {opt.step_count}"
        )
    n_batches = data_lib.num_batches(len(data.train_y), args.batch_size)
    if args.limit_batches:
        n_batches = min(n_batches, args.limit_batches)
    plot_title = f"{title} on {data.name}"

    with _StopOnCtrlC() as ctrl_c:
        for epoch in range(start_epoch, args.epochs):
            t0 = time.perf_counter()
            epoch_batches = list(
                data_lib.batches(
                    data.train_x, data.train_y, args.batch_size, jax.random.fold_in(data_key, epoch)
                )
            )[done:n_batches]
            losses = []
            if args.scan_epoch and epoch_batches:
                xs = jnp.stack([jnp.asarray(b[0]) for b in epoch_batches])
                ys = jnp.stack([jnp.asarray(b[1]) for b in epoch_batches])
                losses = list(step.scan(xs, ys))
            else:
                bar = _progress(
                    len(epoch_batches), f"epoch {epoch + 1}/{args.epochs}", args.no_progress
                )
                for x, y in epoch_batches:
                    losses.append(step(jnp.asarray(x), jnp.asarray(y)))
                    if bar is not None:
                        bar.update(1)
                        if len(losses) % 10 == 1:
                            bar.set_postfix(loss=f"{float(losses[-1]):.4f}")
                    if ctrl_c.requested:
                        break
                if bar is not None:
                    bar.close()
            history["step_losses"].extend(float(v) for v in losses)
            done += len(losses)
            if done < n_batches:  # stopped inside the epoch
                _save(opt, ckpt, epoch, done, history)
                print(_resume_hint(args, ckpt, epoch, done, opt.step_count), flush=True)
                history["interrupted"] = True
                break
            done = 0
            train_loss, train_acc = evaluate(model, data.train_x, data.train_y)
            test_loss, test_acc = evaluate(model, data.test_x, data.test_y)
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
            _save(opt, ckpt, epoch + 1, 0, history)
            plot(history, os.path.join(args.out, "curves.png"), plot_title)
            if ctrl_c.requested:
                print(_resume_hint(args, ckpt, epoch + 1, 0, opt.step_count), flush=True)
                history["interrupted"] = True
                break
            if args.stop_after and epoch + 1 - start_epoch >= args.stop_after:
                print(f"stopping after {args.stop_after} epoch(s); continue with --resume")
                break
    history["model"] = model
    return history


def _save(opt: nn.Optimizer, path: str, epoch: int, batch: int, history: dict) -> None:
    """A checkpoint that resumes at ``batch`` of ``epoch`` (0-based)."""
    opt.save_checkpoint(path, extra={"epoch": epoch, "batch": batch, "history": history})


def _resume_hint(args: argparse.Namespace, ckpt: str, epoch: int, batch: int, steps: int) -> str:
    command = [a for a in args.command if a != "--resume"] + ["--resume"]
    return (
        f"interrupted at epoch {epoch + 1}, batch {batch} (step {steps}); saved {ckpt}.\n"
        f"Continue with: python {shlex.join(command)}"
    )


def _progress(total: int, desc: str, disabled: bool) -> Any:
    if disabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
