"""Micro-benchmark: one convolution or pooling, forward and forward+backward, per formulation.

Each formulation of ``jaxnn.functional``'s convolution (``lax``, ``channels_last``,
``im2col``) and pooling (``lax``, ``views``) is pinned with the private
``force_formulation`` switch and timed interleaved with the others (round-robin over
repeats, one process), next to torch's CPU kernel. Rows marked "scan" run the
forward+backward ``SCAN`` times inside ``lax.scan``. Shapes default to seed 002's CNN at
batch 128.

Run: ``python benchmarks/conv_pool.py`` (``--repeats``, ``--only conv|pool``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# Benchmark the checkout this file lives in, not whatever `pip install -e` points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn.functional as F
from jaxnn.functional import _conv_cpu, _pooling_cpu

SCAN = 4

# name, input shape, weight shape, kwargs, wrt ("w": first layer, input needs no gradient)
CONVS = [
    ("conv 1->16 3x3 pad 1, 28x28", (128, 1, 28, 28), (16, 1, 3, 3), dict(padding=1), "w"),
    ("conv 16->32 3x3 pad 1, 14x14", (128, 16, 14, 14), (32, 16, 3, 3), dict(padding=1), "xw"),
    ("conv 3->32 3x3 stride 2, 32x32", (128, 3, 32, 32), (32, 3, 3, 3), dict(stride=2), "w"),
]
# name, function, input shape, kwargs
POOLS = [
    ("max_pool 2x2, 16x28x28", F.max_pool2d, (128, 16, 28, 28), dict(kernel_size=2)),
    ("max_pool 2x2, 32x14x14", F.max_pool2d, (128, 32, 14, 14), dict(kernel_size=2)),
    ("max_pool 3x3 s2 p1, 64x56x56", F.max_pool2d, (16, 64, 56, 56), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool 3x3 s2 p1, 64x56x56", F.avg_pool2d, (16, 64, 56, 56), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool 2x2, 16x28x28", F.avg_pool2d, (128, 16, 28, 28), dict(kernel_size=2)),
]  # fmt: skip


def _time(runners: dict[str, Callable[[], object]], n: int, repeats: int) -> dict[str, tuple]:
    for run in runners.values():
        jax.block_until_ready(run())
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            for _ in range(n):
                out = run()
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - t0) / n * 1e6)
    return {
        k: (statistics.median(v), (max(v) - min(v)) / statistics.median(v))
        for k, v in samples.items()
    }


def _torch_runner(
    fn: Callable, args: list[np.ndarray], grad: list[bool], ct: np.ndarray | None = None
) -> Callable:
    import torch

    targs = [torch.from_numpy(a).requires_grad_(g) for a, g in zip(args, grad, strict=True)]
    tct = None if ct is None else torch.from_numpy(ct.copy())

    def run():
        if not any(grad):
            with torch.no_grad():
                return fn(*targs)
        fn(*targs).backward(tct)
        return None

    return run


def _conv_runners(x: np.ndarray, w: np.ndarray, kwargs: dict, wrt: str) -> dict[str, Callable]:
    import torch.nn.functional as TF

    jx, jw = jnp.asarray(x), jnp.asarray(w)
    argnums = (1,) if wrt == "w" else (0, 1)

    def conv(x, w):
        return F.conv2d(x, w, **kwargs)

    # A random cotangent (an argument, not a constant XLA could fold): the gradient of a
    # plain sum would let XLA simplify the backward convolutions.
    ct = jnp.asarray(np.random.default_rng(1).standard_normal(conv(jx, jw).shape), jnp.float32)
    xs = jnp.stack([jx * (1 + i * 1e-3) for i in range(SCAN)])
    runners: dict[str, Callable] = {}
    for form in _conv_cpu.FORMULATIONS:
        with _conv_cpu.force_formulation(form):
            fwd = jax.jit(conv)
            bwd = jax.jit(jax.grad(lambda x, w, ct: jnp.vdot(conv(x, w), ct), argnums))

            # One batch per iteration (scanned over, not closed over), so that XLA cannot
            # hoist the weight gradient, which does not depend on the weight, out of the loop.
            def body(carry, x, bwd=bwd):
                w, acc = carry
                grads = bwd(x, w, ct)
                return (w + grads[-1] * 1e-9, acc + sum(jnp.sum(g) for g in grads)), None

            scan = jax.jit(lambda w, xs, body=body: jax.lax.scan(body, (w, 0.0), xs)[0])
            jax.block_until_ready((fwd(jx, jw), bwd(jx, jw, ct), scan(jw, xs)))
        runners[f"{form} fwd"] = partial(fwd, jx, jw)
        runners[f"{form} fwd+bwd"] = partial(bwd, jx, jw, ct)
        runners[f"{form} fwd+bwd, scan (per step)"] = partial(scan, jw, xs)

    def tconv(x, w):
        return TF.conv2d(x, w, **kwargs)

    runners["torch fwd"] = _torch_runner(tconv, [x, w], [False, False])
    runners["torch fwd+bwd"] = _torch_runner(tconv, [x, w], [wrt != "w", True], np.asarray(ct))
    return runners


def _pool_runners(x: np.ndarray, fn: Callable, kwargs: dict) -> dict[str, Callable]:
    import torch.nn.functional as TF

    jx = jnp.asarray(x)
    tfn = getattr(TF, fn.__name__)
    ct = jnp.asarray(np.random.default_rng(1).standard_normal(fn(jx, **kwargs).shape), jnp.float32)
    runners: dict[str, Callable] = {}
    for form in _pooling_cpu.FORMULATIONS:
        with _pooling_cpu.force_formulation(form):
            fwd = jax.jit(lambda x: fn(x, **kwargs))
            bwd = jax.jit(jax.grad(lambda x, ct: jnp.vdot(fn(x, **kwargs), ct)))
            jax.block_until_ready((fwd(jx), bwd(jx, ct)))
        runners[f"{form} fwd"] = partial(fwd, jx)
        runners[f"{form} fwd+bwd"] = partial(bwd, jx, ct)

    def tpool(x):
        return tfn(x, **kwargs)

    runners["torch fwd"] = _torch_runner(tpool, [x], [False])
    runners["torch fwd+bwd"] = _torch_runner(tpool, [x], [True], np.asarray(ct))
    return runners


def bench_convs(n: int, repeats: int) -> list[str]:
    rows = []
    rng = np.random.default_rng(0)
    for name, xs, ws, kwargs, wrt in CONVS:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
        rows += _rows(name, _time(_conv_runners(x, w, kwargs, wrt), n, repeats))
    return rows


def bench_pools(n: int, repeats: int) -> list[str]:
    rows = []
    rng = np.random.default_rng(0)
    for name, fn, xs, kwargs in POOLS:
        # Integer-valued input: ties in every window, the case the gradient rule is about.
        x = rng.integers(-3, 4, xs).astype(np.float32)
        rows += _rows(name, _time(_pool_runners(x, fn, kwargs), n, repeats))
    return rows


def _rows(name: str, res: dict[str, tuple]) -> list[str]:
    out = []
    for kind in ("fwd", "fwd+bwd", "fwd+bwd, scan (per step)"):
        keys = [k for k in res if k.endswith(" " + kind) and not k.startswith("torch")]
        if not keys:
            continue
        base = res.get(f"torch {kind}", res.get("torch fwd+bwd"))
        cells = []
        for k in keys:
            us, spread = res[k]
            if kind.startswith("fwd+bwd, scan"):
                us /= SCAN
            cells.append(f"{k.split(' ')[0]} {us:.0f} ({base[0] / us:.2f}×, ±{spread:.0%})")
        out.append(f"| {name} | {kind} | {base[0]:.0f} | " + " · ".join(cells) + " |")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5, help="calls per timed sample")
    p.add_argument("--repeats", type=int, default=7, help="interleaved samples")
    p.add_argument("--only", choices=("conv", "pool"), default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/run.py
    import torch

    print(
        f"µs per call, median of {args.repeats} interleaved samples (±: (max-min)/median); "
        f"ratio = torch / formulation. jax {jax.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}.\n"
    )
    print("| op | pass | torch | formulations |\n|---|---|---|---|")
    if args.only in (None, "conv"):
        print("\n".join(bench_convs(args.n, args.repeats)), flush=True)
    if args.only in (None, "pool"):
        print("\n".join(bench_pools(args.n, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
