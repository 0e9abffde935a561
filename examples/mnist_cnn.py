"""Seed 002's CNN (conv-relu-pool x2, fc) trained on MNIST-style digits.

``--batchnorm`` adds BatchNorm2d after each conv (the training step updates its running
statistics in the model); ``--dropout P`` sets the Dropout before the classifier (default
0.3, a fresh mask every step; 0 gives the seed's exact CNN). The loop is
``_common.train``: ``nn.Optimizer(model, adam)``, ``step = opt.make_step(loss_fn)``,
``loss = step(x, y)``. Run: ``python examples/mnist_cnn.py``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

import jaxnn as nn


class CNN(nn.Module):
    def __init__(self, batchnorm: bool = False, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=16, kernel_size=3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(16) if batchnorm else nn.Identity()
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(in_channels=16, out_channels=32, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(32) if batchnorm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))
        x = x.reshape(-1, 32 * 7 * 7)  # torch: x.view(-1, 32 * 7 * 7)
        return self.fc(self.dropout(x))


def main(argv: list[str] | None = None) -> dict:
    p = _common.parser(
        __doc__.splitlines()[0], epochs=12, batch_size=64, lr=3e-3, out="runs/mnist_cnn"
    )
    p.add_argument("--batchnorm", action="store_true", help="BatchNorm2d after each conv")
    p.add_argument(
        "--dropout",
        type=float,
        default=0.3,
        help="dropout before the classifier (0 for the seed's exact CNN)",
    )
    args = _common.parse(p, argv)
    data = _common.load_data(args)
    nn.manual_seed(args.seed)
    model = CNN(args.batchnorm, args.dropout)
    print(model)
    extras = (("BatchNorm", args.batchnorm), (f"Dropout {args.dropout}", args.dropout > 0))
    title = " + ".join(["seed 002's CNN"] + [name for name, on in extras if on])
    optimizer = _common.optimizer(args, len(data.train_y))
    return _common.train(args, data, model, optimizer, title)


if __name__ == "__main__":
    main()
