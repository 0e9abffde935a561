"""Every model in the seed documents, as jaxnn twins: built, printed, run, trained a few steps.

The seeds are what our users read about torch.nn (``nn.Module`` vs ``nn.Sequential``,
``torch.nn`` vs ``functional``, CNN/RNN examples, parameter sharing, container
operations). Each torch snippet is mirrored with ``import jaxnn as nn``; the only edits
are the ones JAX needs (``x.view`` -> ``x.reshape``, explicit keys) and fixes for code
that is wrong in torch too, each marked ``# seed bug:``.

Run: ``python examples/seed_models.py`` (``--steps N`` training steps each).
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import jaxnn as nn
import jaxnn.functional as F

# ---------------------------------------------------------------- seed 000


def seed000_sequential() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())


class ComplexModel(nn.Module):
    def __init__(self):
        super(ComplexModel, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 64, 5)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(1024, 500)  # 1024 = 64 * 4 * 4: the seed assumes 12x12 inputs
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = x.reshape(x.shape[0], -1)  # torch: x.view(x.size(0), -1)
        x = self.relu(self.fc1(x))
        x = self.fc2(x)
        return x


# ---------------------------------------------------------------- seed 001


class MyModel(nn.Module):
    def __init__(self):
        super(MyModel, self).__init__()
        self.fc = nn.Linear(100, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.fc(x)
        x = self.relu(x)
        return x


def seed001_functional(x: jax.Array, key: jax.Array) -> jax.Array:
    """Section 5.2 with the weight fixed: F.linear takes (out_features, in_features)."""
    kw, kb = jax.random.split(key)
    # seed bug: the seed draws w = randn(100, 10); F.linear needs (10, 100) in torch too
    # ("mat1 and mat2 shapes cannot be multiplied (10x100 and 10x100)").
    w = jax.random.normal(kw, (10, 100))
    b = jax.random.normal(kb, (10,))
    y = F.linear(x, w, b)
    y = F.relu(y)
    return y


# ---------------------------------------------------------------- seed 002


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.fc = nn.Linear(10, 5)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.fc(x)
        x = self.relu(x)
        return x


class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=16, kernel_size=3, stride=1, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(in_channels=16, out_channels=32, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = self.relu(x)
        x = self.pool(x)
        x = self.conv2(x)
        x = self.relu(x)
        x = self.pool(x)
        x = x.reshape(-1, 32 * 7 * 7)  # torch: x.view(-1, 32 * 7 * 7)
        x = self.fc(x)
        return x


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size  # a Python int: static configuration, never traced
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        h0 = jnp.zeros((1, x.shape[0], self.hidden_size))  # torch.zeros(1, x.size(0), hidden)
        out, _ = self.rnn(x, h0)
        out = self.fc(out[:, -1, :])
        return out


class CustomLayer(nn.Module):
    def __init__(self, input_features, output_features):
        super(CustomLayer, self).__init__()
        self.linear = nn.Linear(input_features, output_features)

    def forward(self, x):
        return jax.nn.relu(self.linear(x))  # torch.relu


def dynamic_forward(x: jax.Array) -> jax.Array:
    """Seed 002's dynamic branch, eagerly, as written (a Python ``if`` on a value).

    It builds new branches on every call, as the seed does. It cannot be jitted: under
    ``jax.jit`` the input is a tracer with no value for Python's ``if`` to read.
    """
    # seed bug: `sum(x).item()` sums over the batch only and fails in torch for any
    # input with more than one element per example; the intent is the total sum.
    if float(x.sum()) >= 0:
        branch_a = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=7), nn.ReLU(), nn.MaxPool2d(kernel_size=2)
        )
        out = branch_a(x)
    else:
        branch_b = nn.Sequential(
            nn.Conv2d(3, 128, kernel_size=5), nn.ReLU(), nn.AvgPool2d(kernel_size=2)
        )
        out = branch_b(x)
    return out


class DynamicBranch(nn.Module):
    """The jittable form: both branches are built once and ``jax.lax.cond`` picks at run time.

    XLA compiles one program containing both branches, so they must return the same shape
    and dtype. The seed's two branches do not (64 vs 128 channels, different sizes); here
    each ends with a 1x1 conv to 32 channels and adaptive pooling to 4x4 so ``cond`` can
    choose between them. (The alternative keeps the Python ``if`` outside ``jit`` and
    compiles each branch separately.)
    """

    def __init__(self):
        super().__init__()
        self.branch_a = nn.Sequential(
            nn.Conv2d(3, 64, 7),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 32, 1),
            nn.AdaptiveAvgPool2d(4),
        )
        self.branch_b = nn.Sequential(
            nn.Conv2d(3, 128, 5),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(128, 32, 1),
            nn.AdaptiveAvgPool2d(4),
        )

    def forward(self, x):
        return jax.lax.cond(x.sum() >= 0, self.branch_a, self.branch_b, x)


def seed002_shared() -> nn.Module:
    shared_linear = nn.Linear(in_features=100, out_features=50)
    return nn.Sequential(
        shared_linear,
        nn.ReLU(),
        # seed bug: reusing the (100 -> 50) layer right after a 50-wide ReLU cannot run in
        # torch either; a Linear(50, 100) between the two uses makes the shapes meet.
        nn.Linear(50, 100),
        shared_linear,  # Reuse the same layer instance here: stored once, trained once.
        nn.Sigmoid(),
    )


# ---------------------------------------------------------------- seed 003


class Net(nn.Module):
    def __init__(self, in_channel, out_channel):
        super(Net, self).__init__()
        mid = in_channel // 4  # seed bug: `in_channel / 4` is a float; torch rejects it too
        self.layer1 = nn.Sequential(
            nn.Conv2d(in_channel, mid, kernel_size=1), nn.BatchNorm2d(mid), nn.ReLU()
        )
        # seed bug: the seed's second Conv2d has no kernel_size (a TypeError in torch).
        self.layer2 = nn.Sequential(
            nn.Conv2d(mid, mid, kernel_size=3, padding=1), nn.BatchNorm2d(mid), nn.ReLU()
        )
        self.layer3 = nn.Sequential(
            nn.Conv2d(mid, out_channel, kernel_size=1), nn.BatchNorm2d(out_channel), nn.ReLU()
        )

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return x


def seed003_mlp(named: bool = True) -> nn.Module:
    if not named:
        return nn.Sequential(
            nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1)
        )
    return nn.Sequential(
        OrderedDict(
            [
                ("h1", nn.Linear(28 * 28, 32)),
                ("relu1", nn.ReLU()),
                ("out", nn.Linear(32, 10)),
                ("softmax", nn.Softmax(dim=1)),
            ]
        )
    )


def seed003_operations() -> list[str]:
    """Sections 3.1-3.5: index, modify, append, delete, nest; returns what each prints."""
    out = []
    model = seed003_mlp()
    out.append(f"index0: {model[0]}\nindex1: {model[1]}\nindex2: {model[2]}")
    model[1] = nn.Sigmoid()
    out.append(str(model))
    model = seed003_mlp()
    model.append(nn.Linear(10, 2))
    out.append(str(model))
    model = seed003_mlp()
    del model[2]  # jaxnn keeps the names h1, relu1, softmax (as the seed shows); torch renumbers
    out.append(str(model))
    seq_1 = nn.Sequential(nn.Linear(15, 10), nn.ReLU(), nn.Linear(10, 5))
    seq_2 = nn.Sequential(nn.Linear(25, 15), nn.Sigmoid(), nn.Linear(15, 10))
    seq_3 = nn.Sequential(seq_1, seq_2)
    out.append(str(seq_3))
    return out


# ---------------------------------------------------------------- seed 004


def seed004_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())


# ---------------------------------------------------------------- running them


def models() -> list[tuple[str, nn.Module, tuple[int, ...], int | None]]:
    """(name, model, input shape, number of classes for a classification loss or None)."""
    return [
        ("seed000 Sequential CNN", seed000_sequential(), (2, 1, 28, 28), None),
        ("seed000 ComplexModel", ComplexModel(), (2, 1, 12, 12), 10),
        ("seed001 MyModel", MyModel(), (10, 100), 10),
        ("seed002 SimpleModel", SimpleModel(), (4, 10), 5),
        ("seed002 CNN", CNN(), (2, 1, 28, 28), 10),
        ("seed002 RNN", RNN(input_size=10, hidden_size=20, output_size=5), (2, 7, 10), 5),
        ("seed002 CustomLayer", CustomLayer(8, 4), (3, 8), 4),
        ("seed002 DynamicBranch (jittable)", DynamicBranch(), (2, 3, 16, 16), None),
        ("seed002 shared Sequential", seed002_shared(), (4, 100), None),
        ("seed003 Net (conv/BN block)", Net(16, 8), (2, 16, 8, 8), None),
        ("seed003 MLP", seed003_mlp(), (2, 28 * 28), None),
        ("seed004 Sequential", seed004_model(), (3, 64), None),
    ]


def train_a_few_steps(
    model: nn.Module, shape: tuple[int, ...], classes: int | None, steps: int, key: jax.Array
) -> list[float]:
    """A few Adam steps on random data: cross-entropy when ``classes``, else MSE to zero."""

    def loss_fn(model, x, y):
        out = model(x)
        return F.cross_entropy(out, y) if classes else jnp.mean(out**2)

    step = nn.Optimizer(model, optax.adam(1e-3)).make_step(loss_fn)
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, shape)
    y = jax.random.randint(ky, (shape[0],), 0, classes or 1)
    return [float(step(x, y)) for _ in range(steps)]


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=3, help="training steps per model")
    parser.add_argument("--seed", type=int, default=0, help="seeds the models and the data")
    args = parser.parse_args(argv)
    nn.manual_seed(args.seed)
    key = jax.random.key(args.seed)
    results: dict[str, list[float]] = {}
    for name, model, shape, classes in models():
        key, sub = jax.random.split(key)
        print(f"== {name}\n{model}")
        out = (
            model(jax.random.normal(sub, shape))
            if not isinstance(model, Net)
            else nn.forward(model, jax.random.normal(sub, shape))[0]
        )
        print(f"output shape: {out.shape}")
        losses = train_a_few_steps(model, shape, classes, args.steps, sub)
        print(f"losses: {[round(v, 4) for v in losses]}")
        results[name] = losses
    print("== seed001 functional twin:", seed001_functional(jnp.ones((10, 100)), key).shape)
    print(
        "== seed002 dynamic_forward (eager, as written):",
        dynamic_forward(jnp.ones((1, 3, 16, 16))).shape,
    )
    for text in seed003_operations():
        print(text)
    return results


_ = Callable  # re-exported type for readers of the signatures above


if __name__ == "__main__":
    main()
