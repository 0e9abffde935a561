"""Seed 003's MLP, ``nn.Sequential(OrderedDict(h1, relu1, out))``, trained on MNIST-style digits.

Run: ``python examples/mnist_mlp.py`` (embedded digits, no download) or with
``--data-dir DIR`` holding MNIST's IDX files.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

import jaxnn as nn


def build_model() -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            [
                ("flatten", nn.Flatten()),  # seed 003 flattens with x.view(N, -1) outside
                ("h1", nn.Linear(28 * 28, 32)),
                ("relu1", nn.ReLU()),
                ("out", nn.Linear(32, 10)),
                # seed 003 ends with nn.Softmax(dim=1); cross_entropy takes logits instead.
            ]
        )
    )


def main(argv: list[str] | None = None) -> dict:
    p = _common.parser(
        __doc__.splitlines()[0], epochs=30, batch_size=64, lr=3e-3, out="runs/mnist_mlp"
    )
    args = _common.parse(p, argv)
    data = _common.load_data(args)
    nn.manual_seed(args.seed)
    model = build_model()
    print(model)
    optimizer = _common.optimizer(args, len(data.train_y))
    return _common.train(args, data, model, optimizer, "seed 003's MLP 784-32-10")


if __name__ == "__main__":
    main()
