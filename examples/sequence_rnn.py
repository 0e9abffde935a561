"""An LSTM (or GRU) classifier that reads each 28x28 digit row by row, top to bottom.

Run: ``python examples/sequence_rnn.py`` (``--cell gru`` for a GRU). The time loop is a
``jax.lax.scan`` inside ``nn.LSTM``, compiled once for all 28 steps.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

import jaxnn as nn


class RowReader(nn.Module):
    def __init__(self, cell: str = "lstm", hidden_size: int = 64):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(input_size=28, hidden_size=hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, 10)

    def forward(self, x):
        rows = x.reshape(x.shape[0], 28, 28)  # (N, 1, 28, 28) -> N sequences of 28 rows
        out, _ = self.rnn(rows)
        return self.fc(out[:, -1, :])


def main(argv: list[str] | None = None) -> dict:
    p = _common.parser(
        __doc__.splitlines()[0], epochs=12, batch_size=64, lr=3e-3, out="runs/sequence_rnn"
    )
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="recurrent layer")
    p.add_argument("--hidden-size", type=int, default=64, help="its hidden size")
    args = _common.parse(p, argv)
    data = _common.load_data(args)
    nn.manual_seed(args.seed)
    model = RowReader(args.cell, args.hidden_size)
    print(model)
    optimizer = _common.optimizer(args, len(data.train_y))
    return _common.train(
        args, data, model, optimizer, f"{args.cell.upper()} {args.hidden_size} reading rows"
    )


if __name__ == "__main__":
    main()
