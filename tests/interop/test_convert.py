"""from_torch / to_torch round trips for every convertible layer, and functional_call."""

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import assert_close, randn, to_numpy

torch.backends.mha.set_fastpath_enabled(False)


def _seq():
    return tnn.Sequential(OrderedDict(h1=tnn.Linear(6, 5), relu1=tnn.ReLU(), out=tnn.Linear(5, 3)))


def _nested():
    shared = tnn.Linear(4, 4)
    return tnn.Sequential(
        tnn.Sequential(tnn.Linear(6, 4), tnn.Tanh()),
        shared,
        tnn.GELU(approximate="tanh"),
        shared,
        tnn.ModuleDict({"a": tnn.Identity()}) if False else tnn.Identity(),
    )


# (id, torch module factory, input shapes); float inputs from randn.
CASES = [
    ("linear", lambda: tnn.Linear(6, 3), [(2, 6)]),
    ("linear-nobias", lambda: tnn.Linear(6, 3, bias=False), [(2, 6)]),
    ("bilinear", lambda: tnn.Bilinear(3, 4, 2), [(2, 3), (2, 4)]),
    ("sequential-named", _seq, [(2, 6)]),
    ("nested-shared", _nested, [(2, 6)]),
    (
        "activations",
        lambda: tnn.Sequential(
            tnn.LeakyReLU(0.2),
            tnn.ELU(0.5),
            tnn.Softplus(2.0, 10.0),
            tnn.Hardtanh(-2.0, 2.0),
            tnn.PReLU(6, 0.1),
            tnn.Softmax(dim=1),
        ),
        [(2, 6)],
    ),
    (
        "flatten",
        lambda: tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 2), tnn.Unflatten(1, (2, 1))),
        [(2, 3, 4)],
    ),
    (
        "conv2d",
        lambda: tnn.Conv2d(
            2, 4, 3, stride=2, padding=1, dilation=1, groups=2, padding_mode="reflect"
        ),
        [(1, 2, 7, 7)],
    ),
    ("conv1d-same", lambda: tnn.Conv1d(2, 3, 3, padding="same", bias=False), [(1, 2, 9)]),
    (
        "convtranspose2d",
        lambda: tnn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1),
        [(1, 2, 4, 4)],
    ),
    (
        "cnn",
        lambda: tnn.Sequential(
            tnn.Conv2d(1, 4, 3, padding=1),
            tnn.ReLU(),
            tnn.MaxPool2d(2),
            tnn.AvgPool2d(2, ceil_mode=True),
            tnn.AdaptiveAvgPool2d((1, 2)),
            tnn.Flatten(),
            tnn.Linear(8, 2),
        ),
        [(2, 1, 8, 8)],
    ),
    (
        "batchnorm-eval",
        lambda: tnn.Sequential(tnn.BatchNorm2d(3, momentum=None)).eval(),
        [(2, 3, 4, 4)],
    ),
    (
        "norms",
        lambda: tnn.Sequential(tnn.LayerNorm(6), tnn.GroupNorm(2, 6) if False else tnn.Identity()),
        [(2, 6)],
    ),
    ("groupnorm", lambda: tnn.GroupNorm(2, 4, eps=1e-3), [(2, 4, 3)]),
    ("embedding", lambda: tnn.Embedding(10, 3, padding_idx=0), None),
    (
        "lstm",
        lambda: tnn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
        [(2, 5, 3)],
    ),
    ("gru", lambda: tnn.GRU(3, 4), [(5, 2, 3)]),
    ("rnn-relu", lambda: tnn.RNN(3, 4, nonlinearity="relu", bias=False), [(5, 2, 3)]),
    (
        "mha",
        lambda: tnn.MultiheadAttention(8, 2, batch_first=True),
        [(2, 3, 8), (2, 3, 8), (2, 3, 8)],
    ),
    (
        "encoder",
        lambda: tnn.TransformerEncoder(
            tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 2
        ).eval(),
        [(2, 3, 8)],
    ),
    ("dropout-eval", lambda: tnn.Sequential(tnn.Dropout(0.3), tnn.Linear(6, 2)).eval(), [(2, 6)]),
    ("losses", lambda: tnn.CrossEntropyLoss(label_smoothing=0.1), None),
]


def _inputs(shapes, seed=0):
    return [randn(*s, seed=seed + i) for i, s in enumerate(shapes)]


@pytest.mark.parametrize(("factory", "shapes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(factory, shapes):
    tm = factory()
    jm = nn.from_torch(tm)
    assert repr(jm) == repr(tm)
    assert list(jm.state_dict()) == list(tm.state_dict())
    assert jm.training == tm.training
    back = nn.to_torch(jm)
    assert repr(back) == repr(tm)
    for (k, v), (k2, v2) in zip(back.state_dict().items(), tm.state_dict().items(), strict=True):
        assert k == k2
        assert torch.equal(v, v2)
    if shapes is None:
        return
    xs = _inputs(shapes)
    with torch.no_grad():
        tout = tm(*[torch.from_numpy(x) for x in xs])
    jout = jm(*[jnp.asarray(x) for x in xs])
    if isinstance(tout, tuple):
        tout = tout[0]
        jout = jout[0]
    assert_close(jout, tout, rtol=1e-5, atol=1e-5, what="converted output")


def test_flags_carry_over():
    tm = _seq()
    tm.h1.weight.requires_grad_(False)
    tm.eval()
    jm = nn.from_torch(tm)
    assert not jm.training and not jm.h1.training
    assert not jm.parameter_requires_grad("h1.weight")
    assert jm.parameter_requires_grad("h1.bias")
    back = nn.to_torch(jm)
    assert not back.h1.weight.requires_grad and back.h1.bias.requires_grad
    assert not back.training


def test_shared_module_stays_shared():
    jm = nn.from_torch(_nested())
    assert jm[1] is jm[3]


def test_custom_torch_module_is_refused_with_the_recipe():
    class Custom(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tnn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(TypeError, match=r"Custom.*load_state_dict\(torch_model.state_dict\(\)\)"):
        nn.from_torch(tnn.Sequential(Custom()))

    # ... and the recipe works.
    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    t = Custom()
    twin = Twin()
    twin.load_state_dict(t.state_dict())
    x = randn(3, 2)
    assert_close(twin(jnp.asarray(x)), t(torch.from_numpy(x)), rtol=1e-6, atol=1e-6)


def test_functional_call_matches_and_leaves_model_unchanged():
    m = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    before = {k: np.asarray(v) for k, v in m.state_dict().items()}
    params = {k: v * 0 + 1 for k, v in m.state_dict().items()}
    x = jnp.ones((2, 3))
    out = nn.functional_call(m, params, (x,))
    assert_close(out, np.full((2, 1), 13.0, np.float32), rtol=0, atol=0)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), before[k])

    def loss(p):
        return nn.functional_call(m, p, x).sum()

    g = jax.jit(jax.grad(loss))(dict(m.state_dict()))
    assert set(g) == set(before)
    with pytest.raises(ValueError, match="not parameters or buffers"):
        nn.functional_call(m, {"nope": jnp.ones(1)}, (x,))
    with pytest.raises(ValueError, match="missing"):
        nn.functional_call(m, {"0.weight": jnp.ones((3, 3))}, (x,), strict=True)


def test_functional_call_ties_shared_weights():
    shared = nn.Linear(2, 2, bias=False)
    m = nn.Sequential(shared, shared)
    out = nn.functional_call(m, {"0.weight": jnp.eye(2) * 2}, (jnp.ones(2),))
    assert_close(out, np.full(2, 4.0, np.float32), rtol=0, atol=0)


def test_torch_checkpoint_file_loads(tmp_path):
    tm = _seq()
    path = tmp_path / "model.pt"
    torch.save(tm.state_dict(), path)
    jm = nn.Sequential(OrderedDict(h1=nn.Linear(6, 5), relu1=nn.ReLU(), out=nn.Linear(5, 3)))
    jm.load_state_dict(torch.load(path))
    x = randn(2, 6)
    assert_close(jm(jnp.asarray(x)), tm(torch.from_numpy(x)), rtol=1e-6, atol=1e-6)
    sd = nn.load_torch(path)
    assert list(sd) == list(tm.state_dict()) and all(isinstance(v, jax.Array) for v in sd.values())
    torch.save({"model": tm.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(TypeError, match=r"\['model', 'epoch'\]"):
        nn.load_torch(tmp_path / "ckpt.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(nn.CheckpointError, match="junk.pt"):
        nn.load_torch(tmp_path / "junk.pt")


def test_to_numpy_helper_roundtrip():
    assert to_numpy(torch.ones(2)).dtype == np.float32
