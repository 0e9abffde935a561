"""The example scripts run end to end (a few steps, embedded data), resume exactly, plot."""

import gzip
import os
import signal
import struct
import sys

import jax
import numpy as np
import pytest
import torch.nn as tnn

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, os.path.abspath(EXAMPLES))

import data as data_lib  # noqa: E402
import mnist_cnn  # noqa: E402
import mnist_mlp  # noqa: E402
import port_from_torch  # noqa: E402
import seed_models  # noqa: E402
import sequence_rnn  # noqa: E402

FAST = ["--epochs", "1", "--limit-batches", "3", "--no-progress"]


def _n_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


# ---------------------------------------------------------------- IDX data
def write_idx(path, array, code=0x08):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.astype(">u1" if code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_files_load(tmp_path, suffix):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(
            str(tmp_path / f"{split}-images-idx3-ubyte{suffix}"), rng.integers(0, 256, (n, 28, 28))
        )
        write_idx(str(tmp_path / f"{split}-labels-idx1-ubyte{suffix}"), rng.integers(0, 10, (n,)))
    d = data_lib.load(str(tmp_path))
    assert d.train_x.shape == (12, 1, 28, 28) and d.test_y.shape == (5,)
    assert d.name.startswith("mnist (IDX files")
    assert d.train_x.dtype == np.float32 and d.train_y.dtype == np.int32


def test_corrupt_idx_files_name_the_file(tmp_path):
    good = tmp_path / "good-idx3-ubyte"
    write_idx(str(good), np.zeros((2, 3, 3)))
    data = good.read_bytes()
    cases = {
        "truncated": (data[:-4], "truncated or corrupted"),
        "short": (data[:2], "too short"),
        "magic": (b"\x01\x02" + data[2:], "bad magic number"),
        "header": (data[:9], "truncated header"),
    }
    for name, (content, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(data_lib.IDXError, match=match) as exc:
            data_lib.read_idx(str(path))
        assert str(path) in str(exc.value)
    gz = tmp_path / "broken.gz"
    gz.write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(data_lib.IDXError, match="broken.gz"):
        data_lib.read_idx(str(gz))


def test_partial_idx_folder_is_an_error(tmp_path):
    write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.zeros((2, 28, 28)))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data_lib.load(str(tmp_path))


def test_embedded_digits_fallback_and_batches(tmp_path):
    d = data_lib.load(str(tmp_path / "nothing-here"))
    assert d.name.startswith("sklearn digits")
    assert d.train_x.shape == (1438, 1, 28, 28) and d.test_x.shape == (359, 1, 28, 28)
    b1 = list(data_lib.batches(d.train_x, d.train_y, 100, jax.random.key(0)))
    b2 = list(data_lib.batches(d.train_x, d.train_y, 100, jax.random.key(0)))
    assert len(b1) == 14 and all(np.array_equal(a[1], b[1]) for a, b in zip(b1, b2, strict=True))


# ---------------------------------------------------------------- scripts
def test_mnist_mlp_runs_plots_and_resumes_exactly_after_ctrl_c(tmp_path, capsys, monkeypatch):
    full = mnist_mlp.main([*FAST, "--epochs", "2", "--out", str(tmp_path / "full")])
    # Ctrl-C while epoch 2 starts: the step in flight finishes, a checkpoint is saved and
    # the command that resumes is printed; the resumed run ends where the full run did.
    batches, calls = data_lib.batches, []

    def ctrl_c_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)
        return batches(*args, **kwargs)

    monkeypatch.setattr(data_lib, "batches", ctrl_c_in_epoch_2)
    first = mnist_mlp.main([*FAST, "--epochs", "2", "--out", str(tmp_path / "resumed")])
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert first["interrupted"] and len(first["step_losses"]) == 4
    assert "interrupted at epoch 2, batch 1 (step 4)" in out
    command = out.split("Continue with: python ")[1].splitlines()[0]
    assert command.endswith("--resume") and "--epochs 2" in command
    resumed = mnist_mlp.main(
        [*FAST, "--epochs", "2", "--resume", "--out", str(tmp_path / "resumed")]
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("dataset: sklearn digits")
    assert "resumed from" in out and "epoch 2:" in out
    assert resumed["step_losses"] == full["step_losses"] and len(full["step_losses"]) == 6
    for k, v in full["model"].state_dict().items():
        np.testing.assert_array_equal(np.asarray(resumed["model"].state_dict()[k]), np.asarray(v))
    png = tmp_path / "full" / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).ndim == 3
    assert _n_params(full["model"]) == 784 * 32 + 32 + 32 * 10 + 10


def test_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per option
    with pytest.raises(SystemExit):
        mnist_cnn.main(["--help"])
    out = capsys.readouterr().out
    assert "(default: 12)" in out and "(default: 0.3)" in out and "(default: runs/mnist_cnn)" in out


def test_mnist_cnn_batchnorm_dropout_and_scan_epoch(tmp_path):
    h = mnist_cnn.main([*FAST, "--batchnorm", "--dropout", "0.2", "--out", str(tmp_path / "a")])
    model = h["model"]
    assert int(model.bn1.num_batches_tracked) == 3  # the step updated the model's buffers
    assert _n_params(model) == 160 + 32 + 4640 + 64 + 15690
    s = mnist_cnn.main([*FAST, "--scan-epoch", "--out", str(tmp_path / "b")])
    p = mnist_cnn.main([*FAST, "--out", str(tmp_path / "c")])
    np.testing.assert_allclose(s["step_losses"], p["step_losses"], rtol=1e-5)


def test_sequence_rnn_runs(tmp_path):
    h = sequence_rnn.main([*FAST, "--cell", "gru", "--hidden-size", "16", "--out", str(tmp_path)])
    assert len(h["step_losses"]) == 3 and np.isfinite(h["step_losses"]).all()
    assert _n_params(h["model"]) == 3 * (28 * 16 + 16 * 16 + 2 * 16) + 16 * 10 + 10


def test_port_from_torch_keeps_accuracy():
    r = port_from_torch.main(["--torch-steps", "3", "--jax-steps", "3"])
    # Same predictions on every test image (accuracies are float32 vs float64 means).
    assert r["converted"] == pytest.approx(r["torch"], abs=1e-6)
    assert r["back"] == pytest.approx(r["jax"], abs=1e-6)


# Long profile: 46 CPU-s, most of it compiling each model op by op. CI checks every seed
# model's twin against torch (tests/modules, tests/core), its printout (below) and the
# seed 003 container operations.
@pytest.mark.long
def test_seed_models_run_and_train():
    results = seed_models.main(["--steps", "2"])
    assert len(results) == 12
    assert all(np.isfinite(v).all() and len(v) == 2 for v in results.values())


# The seeds' printouts, compared with torch building the same models.
def _torch_twins():
    class ComplexModel(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 20, 5)
            self.conv2 = tnn.Conv2d(20, 64, 5)
            self.relu = tnn.ReLU()
            self.fc1 = tnn.Linear(1024, 500)
            self.fc2 = tnn.Linear(500, 10)

    class CNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(
                in_channels=1, out_channels=16, kernel_size=3, stride=1, padding=1
            )
            self.relu = tnn.ReLU()
            self.pool = tnn.MaxPool2d(kernel_size=2, stride=2)
            self.conv2 = tnn.Conv2d(
                in_channels=16, out_channels=32, kernel_size=3, stride=1, padding=1
            )
            self.fc = tnn.Linear(32 * 7 * 7, 10)

    class RNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.hidden_size = 20
            self.rnn = tnn.RNN(10, 20, batch_first=True)
            self.fc = tnn.Linear(20, 5)

    class Net(tnn.Module):
        def __init__(self, c, o):
            super().__init__()
            m = c // 4
            self.layer1 = tnn.Sequential(
                tnn.Conv2d(c, m, kernel_size=1), tnn.BatchNorm2d(m), tnn.ReLU()
            )
            self.layer2 = tnn.Sequential(
                tnn.Conv2d(m, m, kernel_size=3, padding=1), tnn.BatchNorm2d(m), tnn.ReLU()
            )
            self.layer3 = tnn.Sequential(
                tnn.Conv2d(m, o, kernel_size=1), tnn.BatchNorm2d(o), tnn.ReLU()
            )

    return {
        "seed000 Sequential CNN": tnn.Sequential(
            tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.Conv2d(20, 64, 5), tnn.ReLU()
        ),
        "seed000 ComplexModel": ComplexModel(),
        "seed002 CNN": CNN(),
        "seed002 RNN": RNN(),
        "seed003 Net (conv/BN block)": Net(16, 8),
        "seed004 Sequential": tnn.Sequential(
            tnn.Linear(64, 128), tnn.ReLU(), tnn.Linear(128, 64), tnn.ReLU()
        ),
    }


def test_seed_model_printouts_match_torch():
    twins = _torch_twins()
    ours = {name: model for name, model, _, _ in seed_models.models()}
    for name, twin in twins.items():
        assert repr(ours[name]).replace(type(ours[name]).__name__, type(twin).__name__, 1) == repr(
            twin
        ), name


SEED003_EXPECTED = [
    "index0: Linear(in_features=784, out_features=32, bias=True)\nindex1: ReLU()\nindex2: Linear(in_features=32, out_features=10, bias=True)",
    "Sequential(\n  (h1): Linear(in_features=784, out_features=32, bias=True)\n  (relu1): Sigmoid()\n  (out): Linear(in_features=32, out_features=10, bias=True)\n  (softmax): Softmax(dim=1)\n)",
    "Sequential(\n  (h1): Linear(in_features=784, out_features=32, bias=True)\n  (relu1): ReLU()\n  (out): Linear(in_features=32, out_features=10, bias=True)\n  (softmax): Softmax(dim=1)\n  (4): Linear(in_features=10, out_features=2, bias=True)\n)",
    "Sequential(\n  (h1): Linear(in_features=784, out_features=32, bias=True)\n  (relu1): ReLU()\n  (softmax): Softmax(dim=1)\n)",
    "Sequential(\n  (0): Sequential(\n    (0): Linear(in_features=15, out_features=10, bias=True)\n    (1): ReLU()\n    (2): Linear(in_features=10, out_features=5, bias=True)\n  )\n  (1): Sequential(\n    (0): Linear(in_features=25, out_features=15, bias=True)\n    (1): Sigmoid()\n    (2): Linear(in_features=15, out_features=10, bias=True)\n  )\n)",
]


def test_seed003_operations_print_what_the_seed_shows():
    # Text copied from seed 003's "运行代码显示" outputs.
    assert seed_models.seed003_operations() == SEED003_EXPECTED
