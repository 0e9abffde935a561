"""Training-step timings: PyTorch eager vs hand-written JAX vs jaxnn, side by side, one process.

For each model, every implementation trains on the same shapes with Adam in float32 (rows
marked "inference" time the jitted forward pass against torch under ``no_grad``; rows
marked "lax.scan" run ``SCAN_STEPS`` training steps inside one ``lax.scan``, as the
examples' ``--scan-epoch`` does, and report the time per step). The
implementations are timed interleaved (round-robin over repeats) so that machine noise hits
all of them alike; the table reports the median microseconds per step, the ratio to torch
eager (torch time / other time: > 1 means faster than torch), jaxnn's time relative to the
hand-written JAX step, compile times, and the spread of the samples ((max - min) / median,
the noise of the row).

The jaxnn columns: "nn.Optimizer step" is the README's quick start (``opt =
nn.Optimizer(model, adam)``, ``step = opt.make_step(loss_fn)``, ``loss = step(x, y)``: the
model trained in place), which "jaxnn / hand-written" compares with the hand-written step
(target <= 1.1 at batch 1); "nn.pack" is the README's explicit pure step for JAX users.
The hand-written, nn.pack and unpacked steps donate their state (``donate_argnums``), as
the best hand-written JAX does and as nn.Optimizer's step does; ``eqx.filter_jit`` is shown
as users call it, undonated.

torch runs twice per round: with its default thread count and with one thread; ratios are
against the faster of the two. Unless ``OMP_WAIT_POLICY`` is already set, it is set to
``PASSIVE`` before torch is imported (``--torch-spin`` keeps OpenMP's default): torch's
OpenMP threads otherwise spin after each call, and in one process on a busy 2-core machine
they both slow torch itself (7x measured with 2 threads) and steal the cores from the JAX
call timed next.

Run: ``python benchmarks/run.py`` (``--quick`` for a smoke run, ``--out FILE`` to write
the markdown table). Runs unchanged on a GPU (torch stays on the CPU there unless CUDA
torch is installed, in which case it uses the GPU too).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Benchmark the checkout this file lives in, not whatever `pip install -e` points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnn as nn
import jaxnn.functional as F


@dataclass
class Case:
    name: str
    batch: int
    x_shape: tuple[int, ...]
    classes: int
    jaxnn_model: Callable[[], nn.Module]
    torch_model: Callable[[], object]
    handwritten: Callable[[jax.Array], tuple[dict, Callable]] | None
    mode: str = "train"  # "train", "inference" or "scan"


SCAN_STEPS = 4


# ---------------------------------------------------------------- hand-written JAX
def _dense(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    bound = 1 / np.sqrt(n_in)
    return {
        "w": jax.random.uniform(k1, (n_in, n_out), minval=-bound, maxval=bound),
        "b": jax.random.uniform(k2, (n_out,), minval=-bound, maxval=bound),
    }


def hand_mlp(sizes):
    def init(key):
        keys = jax.random.split(key, len(sizes) - 1)
        return {
            f"l{i}": _dense(k, a, b)
            for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True))
        }

    def apply(params, x):
        x = x.reshape(x.shape[0], -1)
        n = len(sizes) - 1
        for i in range(n):
            x = x @ params[f"l{i}"]["w"] + params[f"l{i}"]["b"][None, :]
            if i < n - 1:
                x = jax.nn.relu(x)
        return x

    return init, apply


def hand_cnn():
    def init(key):
        k1, k2, k3 = jax.random.split(key, 3)
        return {
            "c1": jax.random.normal(k1, (16, 1, 3, 3)) * 0.1,
            "b1": jnp.zeros(16),
            "c2": jax.random.normal(k2, (32, 16, 3, 3)) * 0.1,
            "b2": jnp.zeros(32),
            "fc": _dense(k3, 32 * 7 * 7, 10),
        }

    def conv(x, w, b):
        y = jax.lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return y + b[None, :, None, None]

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def apply(p, x):
        x = pool(jax.nn.relu(conv(x, p["c1"], p["b1"])))
        x = pool(jax.nn.relu(conv(x, p["c2"], p["b2"])))
        x = x.reshape(x.shape[0], -1)
        return x @ p["fc"]["w"] + p["fc"]["b"][None, :]

    return init, apply


def hand_lstm(n_in, hidden, classes):
    def init(key):
        k1, k2, k3 = jax.random.split(key, 3)
        bound = 1 / np.sqrt(hidden)
        u = lambda k, s: jax.random.uniform(k, s, minval=-bound, maxval=bound)  # noqa: E731
        return {
            "wi": u(k1, (n_in, 4 * hidden)),
            "wh": u(k2, (hidden, 4 * hidden)),
            "b": jnp.zeros(4 * hidden),
            "fc": _dense(k3, hidden, classes),
        }

    def apply(p, x):
        xs = jnp.einsum("nti,ig->tng", x, p["wi"]) + p["b"][None, None, :]

        def step(carry, xg):
            h, c = carry
            g = xg + h @ p["wh"]
            i, f, gg, o = jnp.split(g, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        z = jnp.zeros((x.shape[0], hidden))
        (h, _), _ = jax.lax.scan(step, (z, z), xs)
        return h @ p["fc"]["w"] + p["fc"]["b"][None, :]

    return init, apply


# ---------------------------------------------------------------- jaxnn models
class LSTMClassifier(nn.Module):
    def __init__(self, n_in, hidden, classes):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


class EncoderClassifier(nn.Module):
    def __init__(self, d, classes):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(d, classes)

    def forward(self, x):
        return self.fc(self.encoder(x).mean(1))


def seed_cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 16, 3, 1, 1), lib.ReLU(), lib.MaxPool2d(2, 2),
        lib.Conv2d(16, 32, 3, 1, 1), lib.ReLU(), lib.MaxPool2d(2, 2),
        lib.Flatten(), lib.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def mlp(lib, sizes):
    layers = [lib.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(lib.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(lib.ReLU())
    return lib.Sequential(*layers)


def torch_lstm(n_in, hidden, classes):
    import torch.nn as tnn

    class M(tnn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = tnn.LSTM(n_in, hidden, batch_first=True)
            self.fc = tnn.Linear(hidden, classes)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1, :])

    return M()


def torch_encoder(d, classes):
    import torch.nn as tnn

    class M(tnn.Module):
        def __init__(self):
            super().__init__()
            layer = tnn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
            self.encoder = tnn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = tnn.Linear(d, classes)

        def forward(self, x):
            return self.fc(self.encoder(x).mean(1))

    return M()


def cases(quick: bool) -> list[Case]:
    import torch.nn as tnn

    b = 32 if quick else 128
    return [
        Case(
            "MLP 784-32-10",
            b,
            (1, 28, 28),
            10,
            lambda: mlp(nn, [784, 32, 10]),
            lambda: mlp(tnn, [784, 32, 10]),
            hand_mlp([784, 32, 10]),
        ),
        Case(
            "MLP 784-512-512-10",
            b,
            (1, 28, 28),
            10,
            lambda: mlp(nn, [784, 512, 512, 10]),
            lambda: mlp(tnn, [784, 512, 512, 10]),
            hand_mlp([784, 512, 512, 10]),
        ),
        Case(
            "CNN seed 002",
            b,
            (1, 28, 28),
            10,
            lambda: seed_cnn(nn),
            lambda: seed_cnn(tnn),
            hand_cnn(),
        ),
        Case(
            "CNN seed 002, inference",
            b,
            (1, 28, 28),
            10,
            lambda: seed_cnn(nn),
            lambda: seed_cnn(tnn),
            hand_cnn(),
            "inference",
        ),
        Case(
            f"CNN seed 002, {SCAN_STEPS} steps in lax.scan",
            b,
            (1, 28, 28),
            10,
            lambda: seed_cnn(nn),
            lambda: seed_cnn(tnn),
            hand_cnn(),
            "scan",
        ),
        Case(
            "MLP 784-32-10, batch 1",
            1,
            (1, 28, 28),
            10,
            lambda: mlp(nn, [784, 32, 10]),
            lambda: mlp(tnn, [784, 32, 10]),
            hand_mlp([784, 32, 10]),
        ),
        Case(
            "LSTM 28x28 rows, hidden 128",
            b,
            (28, 28),
            10,
            lambda: LSTMClassifier(28, 128, 10),
            lambda: torch_lstm(28, 128, 10),
            hand_lstm(28, 128, 10),
        ),
        Case(
            "Transformer encoder d=64, 2 layers, seq 32",
            b,
            (32, 64),
            10,
            lambda: EncoderClassifier(64, 10),
            lambda: torch_encoder(64, 10),
            None,
        ),
    ]


# ---------------------------------------------------------------- steps
def jax_step(apply: Callable, opt: optax.GradientTransformation) -> Callable:
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = apply(p, x)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def jaxnn_step(model: nn.Module, opt: optax.GradientTransformation) -> tuple[Callable, tuple]:
    """The README's explicit step for JAX users: partition once, ``nn.pack`` the state."""
    params, rest = eqx.partition(model, nn.trainable(model))

    def step(state, x, y):
        params, opt_state = state

        def loss_fn(p):
            return F.cross_entropy(eqx.combine(p, rest)(x), y)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return nn.pack(optax.apply_updates(params, updates), opt_state), loss

    return step, (nn.pack(params, opt.init(params)),)


def jaxnn_unpacked_step(
    model: nn.Module, opt: optax.GradientTransformation
) -> tuple[Callable, tuple]:
    """The same step on the unpacked pytrees: jit walks the modules on every call."""
    params, rest = eqx.partition(model, nn.trainable(model))

    def step(params, opt_state, x, y):
        def loss_fn(p):
            return F.cross_entropy(eqx.combine(p, rest)(x), y)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step, (params, opt.init(params))


def eqx_filter_step(model: nn.Module, opt: optax.GradientTransformation) -> tuple[Callable, tuple]:
    """The same model through eqx.filter_jit (model passed whole every step)."""

    @eqx.filter_jit
    def step(model, opt_state, x, y):
        def loss_fn(m):
            return F.cross_entropy(m(x), y)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    return step, (model, opt.init(eqx.filter(model, eqx.is_array)))


def scanned(step: Callable, donate: tuple[int, ...] = ()) -> Callable:
    """``SCAN_STEPS`` steps of ``step`` (``(*state, x, y) -> (*state, loss)``) in one
    ``lax.scan`` over stacked batches."""

    @functools.partial(jax.jit, donate_argnums=donate)
    def run(*args):
        *state, xs, ys = args

        def body(carry, xy):
            *carry, loss = step(*carry, *xy)
            return tuple(carry), loss

        carry, losses = jax.lax.scan(body, tuple(state), (xs, ys))
        return (*carry, losses[-1])

    return run


def time_case(case: Case, steps: int, repeats: int) -> dict[str, dict[str, float]]:
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.batch, *case.x_shape)).astype(np.float32)
    y = rng.integers(0, case.classes, case.batch).astype(np.int32)
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).long()
    opt = optax.adam(1e-3)
    # A scan row runs SCAN_STEPS steps per call: fewer calls, same number of steps.
    per_call = SCAN_STEPS if case.mode == "scan" else 1
    calls = max(1, steps // per_call)
    if case.mode == "scan":
        jx, jy = jnp.stack([jx] * SCAN_STEPS), jnp.stack([jy] * SCAN_STEPS)

    runners: dict[str, Callable[[], None]] = {}
    compile_s: dict[str, float] = {}

    tmodel = case.torch_model()
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)

    def torch_run():
        for _ in range(calls * per_call):
            topt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()

    def torch_infer():
        with torch.no_grad():
            for _ in range(calls):
                tmodel(tx)

    torch_fn = torch_infer if case.mode == "inference" else torch_run
    runners["torch eager"] = torch_fn
    threads = torch.get_num_threads()
    if threads > 1:

        def torch_one_thread():
            torch.set_num_threads(1)
            try:
                torch_fn()
            finally:
                torch.set_num_threads(threads)

        runners["torch eager, 1 thread"] = torch_one_thread

    def add_jax(name: str, step: Callable, state: tuple) -> None:
        t0 = time.perf_counter()
        out = step(*state, jx, jy)
        jax.block_until_ready(out)
        compile_s[name] = time.perf_counter() - t0
        holder = {"state": out[:-1]}

        def run():
            s = holder["state"]
            for _ in range(calls):
                *s, loss = step(*s, jx, jy)
            jax.block_until_ready(loss)
            holder["state"] = tuple(s)

        runners[name] = run

    def add_forward(name: str, forward: Callable, state: tuple) -> None:
        t0 = time.perf_counter()
        jax.block_until_ready(forward(*state, jx))
        compile_s[name] = time.perf_counter() - t0

        def run():
            for _ in range(calls):
                out = forward(*state, jx)
            jax.block_until_ready(out)

        runners[name] = run

    def add(name: str, step: Callable, state: tuple, donate: bool = True) -> None:
        # Donated: XLA updates the state's buffers in place, as the best hand-written
        # step does (and nn.Optimizer's step).
        argnums = tuple(range(len(state))) if donate else ()
        if case.mode == "scan":
            add_jax(name, scanned(step, argnums), state)
        else:
            add_jax(name, jax.jit(step, donate_argnums=argnums), state)

    def add_optimizer(name: str, model: nn.Module) -> None:
        """The README's loop: ``nn.Optimizer``, ``opt.make_step``, ``loss = step(x, y)``."""
        step = nn.Optimizer(model, opt).make_step(lambda m, x, y: F.cross_entropy(m(x), y))
        call = step.scan if case.mode == "scan" else step
        t0 = time.perf_counter()
        jax.block_until_ready(call(jx, jy))
        compile_s[name] = time.perf_counter() - t0

        def run():
            for _ in range(calls):
                loss = call(jx, jy)
            jax.block_until_ready(loss)

        runners[name] = run

    if case.mode == "inference":
        tmodel.eval()
        if case.handwritten is not None:
            init, apply = case.handwritten
            add_forward("hand-written jax.jit", jax.jit(apply), (init(jax.random.key(0)),))
        nn.manual_seed(0)
        model = case.jaxnn_model().eval()
        params, rest = eqx.partition(model, nn.trainable(model))
        add_forward(
            "jaxnn (nn.pack + jax.jit)",
            jax.jit(lambda state, x: eqx.combine(state.unpack(), rest)(x)),
            (nn.pack(params),),
        )
        add_forward("jaxnn via eqx.filter_jit", eqx.filter_jit(lambda m, x: m(x)), (model,))
    else:
        if case.handwritten is not None:
            init, apply = case.handwritten
            params = init(jax.random.key(0))
            add("hand-written jax.jit", jax_step(apply, opt), (params, opt.init(params)))
        nn.manual_seed(0)
        add_optimizer(OPTIMIZER, case.jaxnn_model())
        nn.manual_seed(0)
        step, state = jaxnn_step(case.jaxnn_model(), opt)
        add("jaxnn (nn.pack + jax.jit)", step, state)
        nn.manual_seed(0)
        step, state = jaxnn_unpacked_step(case.jaxnn_model(), opt)
        add("jaxnn, unpacked pytrees + jax.jit", step, state)
        if case.mode == "train":
            nn.manual_seed(0)
            step, state = eqx_filter_step(case.jaxnn_model(), opt)
            add_jax("jaxnn via eqx.filter_jit", step, state)

    for run in runners.values():  # warm-up
        run()
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - t0) / (calls * per_call) * 1e6)
    return {
        name: {
            "us": statistics.median(v),
            "spread": (max(v) - min(v)) / statistics.median(v),
            "compile_s": compile_s.get(name, 0.0),
        }
        for name, v in samples.items()
    }


OPTIMIZER = "jaxnn nn.Optimizer step"


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    impls = [
        "hand-written jax.jit",
        OPTIMIZER,
        "jaxnn (nn.pack + jax.jit)",
        "jaxnn, unpacked pytrees + jax.jit",
        "jaxnn via eqx.filter_jit",
    ]
    lines = [
        "| model | torch eager | torch eager, 1 thread | "
        + " | ".join(impls)
        + " | jaxnn / hand-written | compile (s): hand / jaxnn | spread: torch / jaxnn |",
        "|---|" + "---|" * (len(impls) + 5),
    ]
    for model, res in results.items():
        torch_runs = [res[k] for k in ("torch eager", "torch eager, 1 thread") if k in res]
        # Ratios are against the faster torch configuration: the stricter comparison.
        best = min(torch_runs, key=lambda r: r["us"])
        t = best["us"]
        one = res.get("torch eager, 1 thread")
        cells = [f"{res['torch eager']['us']:.0f}", f"{one['us']:.0f}" if one else "—"]
        for impl in impls:
            if impl not in res:
                cells.append("—")
            else:
                cells.append(f"{res[impl]['us']:.0f} ({t / res[impl]['us']:.2f}×)")
        hand = res.get("hand-written jax.jit")
        # The README's step: nn.Optimizer for training rows, nn.pack for inference.
        ours = res.get(OPTIMIZER) or res["jaxnn (nn.pack + jax.jit)"]
        rel = f"{ours['us'] / hand['us']:.2f}" if hand else "—"
        comp = (
            f"{hand['compile_s']:.2f} / {ours['compile_s']:.2f}"
            if hand
            else f"— / {ours['compile_s']:.2f}"
        )
        # (max - min) / median of the interleaved samples: the noise of this row.
        spread = f"{best['spread']:.0%} / {ours['spread']:.0%}"
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {rel} | {comp} | {spread} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small batches, few steps: a smoke run")
    p.add_argument("--steps", type=int, default=20, help="steps per timed sample")
    p.add_argument("--repeats", type=int, default=7, help="interleaved samples per implementation")
    p.add_argument("--only", default="", help="run only models whose name contains this")
    p.add_argument("--out", default="", help="write the markdown table to this file")
    p.add_argument(
        "--torch-spin", action="store_true", help="keep OpenMP's default (spinning) wait policy"
    )
    args = p.parse_args(argv)
    if not args.torch_spin:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP
    import torch

    steps, repeats = (2, 2) if args.quick else (args.steps, args.repeats)
    load_before = os.getloadavg()
    results = {}
    for case in cases(args.quick):
        if args.only and args.only not in case.name:
            continue
        results[case.name] = time_case(case, steps, repeats)
        print(f"done: {case.name}", flush=True)
    header = (
        f"Median µs per training step (Adam, float32, batch {128 if not args.quick else 32} unless stated), "
        f"ratio = time of the faster torch column / time (> 1: faster than torch). Device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"{platform.processor() or platform.machine()}; jax {jax.__version__}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, OMP_WAIT_POLICY "
        f"{os.environ.get('OMP_WAIT_POLICY', 'default')}, {os.cpu_count()} CPUs; load average "
        f"(1 min) {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after.\n\n"
    )
    text = header + table(results)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return text


if __name__ == "__main__":
    main()
