"""``jaxnn.summary`` against torchinfo 1.8: the same table, character for character, and the
same numbers (rows, output shapes, parameter counts, mult-adds, memory estimates)."""

import os
import re
import sys
from collections import OrderedDict

import jax
import jax.numpy as jnp
import pytest
import torch
import torch.nn as tnn
import torchinfo

import jaxnn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import seed_models

ALL_COLUMNS = (
    "input_size",
    "output_size",
    "num_params",
    "params_percent",
    "kernel_size",
    "mult_adds",
    "trainable",
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # torchinfo runs torch's forward: a 112-step LSTM takes 2 ms on one intra-op thread and
    # seconds on two when the two CI cores are already busy (threads waiting on each other).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- torch twins of the seeds
class CNN(tnn.Module):  # seed 002: self.pool is called twice
    def __init__(self):
        super().__init__()
        self.conv1 = tnn.Conv2d(1, 16, 3, 1, 1)
        self.relu = tnn.ReLU()
        self.pool = tnn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = tnn.Conv2d(16, 32, 3, 1, 1)
        self.fc = tnn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.fc(x.view(-1, 32 * 7 * 7))


class RNN(tnn.Module):  # seed 002
    def __init__(self):
        super().__init__()
        self.rnn = tnn.RNN(10, 20, batch_first=True)
        self.fc = tnn.Linear(20, 5)

    def forward(self, x):
        out, _ = self.rnn(x, torch.zeros(1, x.size(0), 20))
        return self.fc(out[:, -1, :])


class Net(tnn.Module):  # seed 003: nested Sequentials with BatchNorm
    def __init__(self, c, o):
        super().__init__()
        m = c // 4
        block = lambda i, j, k: tnn.Sequential(  # noqa: E731
            tnn.Conv2d(i, j, k, padding=k // 2), tnn.BatchNorm2d(j), tnn.ReLU()
        )
        self.layer1, self.layer2, self.layer3 = block(c, m, 1), block(m, m, 3), block(m, o, 1)

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(x)))


def seed003_mlp(lib):
    return lib.Sequential(
        OrderedDict(
            [
                ("h1", lib.Linear(784, 32)),
                ("relu1", lib.ReLU()),
                ("out", lib.Linear(32, 10)),
                ("softmax", lib.Softmax(dim=1)),
            ]
        )
    )


def seed002_shared(lib):
    shared = lib.Linear(100, 50)
    return lib.Sequential(shared, lib.ReLU(), lib.Linear(50, 100), shared, lib.Sigmoid())


def make_stack(lib):
    # A ModuleList is never called: torchinfo inserts its row above the layers it holds.
    class Stack(lib.Module):
        def __init__(self):
            super().__init__()
            self.layers = lib.ModuleList(
                [lib.Linear(4, 4), lib.BatchNorm1d(4), lib.Sequential(lib.Linear(4, 3), lib.ReLU())]
            )
            self.head = lib.Linear(3, 2)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x)

    model = Stack()
    model.layers[0].requires_grad_(False)  # non-trainable params, "Partial" rows
    return model


def encoder(lib):
    layer = lib.TransformerEncoderLayer(16, 2, 32)
    return lib.TransformerEncoder(layer, 2, norm=lib.LayerNorm(16), enable_nested_tensor=False)


# (id, jaxnn model, torch model, summary kwargs)
CASES = [
    ("seed002-cnn", seed_models.CNN, CNN, dict(input_size=(1, 1, 28, 28))),
    ("seed002-cnn-batch_dim", seed_models.CNN, CNN, dict(input_size=(1, 28, 28), batch_dim=0)),
    ("seed002-rnn", lambda: seed_models.RNN(10, 20, 5), RNN, dict(input_size=(2, 7, 10))),
    ("seed002-shared", lambda: seed002_shared(nn), lambda: seed002_shared(tnn), dict(input_size=(4, 100))),
    ("seed003-mlp", lambda: seed003_mlp(nn), lambda: seed003_mlp(tnn), dict(input_size=(2, 784))),
    ("seed003-net-depth1", lambda: seed_models.Net(16, 8), lambda: Net(16, 8), dict(input_size=(2, 16, 8, 8), depth=1)),
    ("lstm-T112", lambda: nn.LSTM(10, 20, num_layers=2, batch_first=True), lambda: tnn.LSTM(10, 20, num_layers=2, batch_first=True), dict(input_size=(2, 112, 10))),
    ("encoder-layer", lambda: nn.TransformerEncoderLayer(16, 2, 32), lambda: tnn.TransformerEncoderLayer(16, 2, 32), dict(input_size=(5, 3, 16))),
    ("encoder-layer-batch_first-train", lambda: nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), lambda: tnn.TransformerEncoderLayer(16, 2, 32, batch_first=True), dict(input_size=(3, 5, 16), mode="train")),
    ("encoder-stack", lambda: encoder(nn), lambda: encoder(tnn), dict(input_size=(5, 3, 16), depth=4, mode="train")),
    ("mha-input_data", lambda: nn.MultiheadAttention(16, 2), lambda: tnn.MultiheadAttention(16, 2), dict(input_data=[torch.ones(5, 3, 16)] * 3)),
    ("modulelist-frozen", lambda: make_stack(nn), lambda: make_stack(tnn), dict(input_size=(5, 4))),
    ("modulelist-depth1", lambda: make_stack(nn), lambda: make_stack(tnn), dict(input_size=(5, 4), depth=1)),
    ("no-input", lambda: seed002_shared(nn), lambda: seed002_shared(tnn), dict()),
]  # fmt: skip


def _table(stats):
    # torchinfo 1.8 formats its unit enum with f"{}", which Python >= 3.11 prints as
    # "Units.MEGABYTES" instead of the "M" it prints on 3.10 (and means everywhere).
    return re.sub(r"\(Units\.(\w)\w*\)", r"(\1)", str(stats))


def _summaries(make_jax, make_torch, kwargs, columns=ALL_COLUMNS, **extra):
    model, twin = make_jax(), make_torch()
    assert model._get_name() == type(twin).__name__  # the table names the class
    cols = columns if kwargs.get("input_size") or kwargs.get("input_data") else ("num_params",)
    kw = {"col_names": cols, "verbose": 0, **kwargs, **extra}
    return nn.summary(model, **kw), torchinfo.summary(twin, **kw)


@pytest.mark.parametrize(
    ("make_jax", "make_torch", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_summary_equals_torchinfo(make_jax, make_torch, kwargs):  # fmt: skip
    ours, ref = _summaries(make_jax, make_torch, kwargs)
    assert str(ours) == _table(ref)
    assert (ours.total_params, ours.trainable_params, ours.total_mult_adds) == (
        ref.total_params,
        ref.trainable_params,
        ref.total_mult_adds,
    )
    assert (ours.total_output_bytes, ours.total_param_bytes) == (
        ref.total_output_bytes,
        ref.total_param_bytes,
    )
    assert ours.total_input == (ref.total_input or 0)

    def row(r):
        return (
            r.class_name,
            r.var_name,
            r.depth,
            r.depth_index,
            r.is_recursive,
            r.is_leaf_layer,
            list(r.input_size),
            list(r.output_size),
            r.num_params,
            r.trainable_params,
            r.param_bytes,
            r.output_bytes,
            r.macs,
            r.kernel_size,
            r.trainable,
        )

    assert [row(r) for r in ours.summary_list] == [row(r) for r in ref.summary_list]


def test_integer_inputs_are_int32_and_the_rest_equals_torchinfo():
    def make(lib):
        return lib.Sequential(lib.Embedding(10, 4), lib.GRU(4, 6, batch_first=True))

    kwargs = dict(input_size=(2, 7), dtypes=[torch.long])
    ours, ref = _summaries(lambda: make(nn), lambda: make(tnn), kwargs)
    assert str(ours) == _table(ref)  # "Input size (MB): 0.00" in both
    assert ours.total_mult_adds == ref.total_mult_adds
    assert ours.total_input == ref.total_input - 2 * 7 * 4  # int32: 4 bytes less each


def test_detail_rows_and_row_settings_equal_torchinfo():
    # verbose=2 adds one row per weight/bias; the row settings change the tree drawing.
    for extra in (
        dict(verbose=2, row_settings=("var_names", "ascii_only", "depth")),
        dict(row_settings=("hide_recursive_layers",)),
    ):
        kwargs = dict(input_size=(2, 1, 28, 28))
        ours, ref = _summaries(seed_models.CNN, CNN, kwargs, **extra)
        assert str(ours) == _table(ref)


def test_seed002_cnn_lists_both_pool_calls_and_torchinfos_mult_adds():
    s = nn.summary(seed_models.CNN(), (1, 1, 28, 28), verbose=0)
    pools = [r for r in s.summary_list if r.class_name == "MaxPool2d"]
    assert [r.output_size for r in pools] == [[1, 16, 14, 14], [1, 32, 7, 7]]
    assert [r.is_recursive for r in pools] == [False, True]
    assert s.total_mult_adds == 1_050_570  # torchinfo's "1.05 M" (XLA's FLOPs were 1.95 M)
    assert "├─MaxPool2d: 1-6" in str(s)


def test_lstm_mult_adds_grow_with_sequence_length():
    lstm = nn.LSTM(10, 20, batch_first=True)
    counts = [nn.summary(lstm, (2, t, 10), verbose=0).total_mult_adds for t in (7, 14, 112)]
    assert counts == [2 * t * sum(p.size for p in lstm.parameters()) for t in (7, 14, 112)]


def test_train_and_eval_modes_agree_and_the_model_is_untouched():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten())
    model.append(nn.Linear(4 * 6 * 6, 3))
    before = jax.tree.leaves(model)
    # A training-mode Dropout needs no key, a training-mode BatchNorm warns nothing
    # (warnings are errors here), in either summary mode.
    train = nn.summary(model, (2, 1, 8, 8), mode="train", verbose=0)
    evals = nn.summary(model, (2, 1, 8, 8), verbose=0)
    assert str(train) == str(evals)
    assert train.total_mult_adds == evals.total_mult_adds > 0
    assert model.training and all(m.training for m in model.modules())
    assert all(a is b for a, b in zip(before, jax.tree.leaves(model), strict=True))
    assert evals.summary_list[1].module is model[0]  # rows name the user's modules


def test_inputs_in_every_form_give_the_same_table():
    model = seed003_mlp(nn)
    reference = str(nn.summary(model, input_size=(2, 784), verbose=0))
    for kwargs in (
        dict(input_size=[2, 784]),
        dict(input_size=[(2, 784)]),
        dict(input_size=(2, 784), dtypes=[torch.float32]),
        dict(input_data=jnp.ones((2, 784))),
        dict(input_data=torch.ones(2, 784)),
        dict(input_data={"input": jnp.ones((2, 784))}),
        dict(input_data=jax.ShapeDtypeStruct((2, 784), jnp.float32)),
        dict(input_size=jnp.ones((2, 784))),  # an example input as the second argument
    ):
        assert str(nn.summary(model, verbose=0, **kwargs)) == reference, kwargs


def test_verbose_prints_the_table(capsys):
    s = nn.summary(nn.Linear(3, 2), (1, 3), verbose=1)
    assert capsys.readouterr().out == str(s) + "\n"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(input_size=(1, 4), input_data=jnp.ones((1, 4))), "Only one of"),
        (dict(col_names=("output_size",)), "need an input"),
        (dict(input_size=(1, 4), col_names=("flops",)), "col_names entry='flops'"),
        (dict(input_size=(1, 4), row_settings=("tree",)), "row_settings entry='tree'"),
        (dict(input_size=(1, 4), mode="test"), "mode='test'"),
        (dict(input_size=(1, 4), depth=-1), "depth must be"),
        (dict(input_size=(1, 0)), "positive int"),
        (dict(input_size="1, 4"), "input_size must be"),
        (dict(input_size=(1, 4), dtypes=[jnp.float32, jnp.float32]), "one dtype per input"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=re.escape(match)):
        nn.summary(nn.Linear(4, 2), verbose=0, **kwargs)


def test_summary_of_a_torch_model_names_from_torch():
    with pytest.raises(TypeError, match="from_torch"):
        nn.summary(tnn.Linear(4, 2), (1, 4), verbose=0)


def test_readme_summary_example_prints_what_the_readme_shows(capsys):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
        text = f.read()
    section = text[text.index("## Model summary") :]
    code, shown = re.findall(r"```(?:python|text)\n(.*?)```", section, re.S)[:2]
    exec(compile(code, "README model summary", "exec"), {})
    assert capsys.readouterr().out == shown
