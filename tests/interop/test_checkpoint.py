"""safetensors checkpoints: compatibility with torch, atomic writes, validation, resume."""

import os
import signal
import subprocess
import sys
import textwrap
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn
from safetensors.torch import load_file, save_file

import jaxnn as nn
from jaxnn.interop import checkpoint


def model():
    return nn.Sequential(OrderedDict(h1=nn.Linear(6, 5), relu1=nn.ReLU(), out=nn.Linear(5, 3)))


def torch_model():
    return tnn.Sequential(OrderedDict(h1=tnn.Linear(6, 5), relu1=tnn.ReLU(), out=tnn.Linear(5, 3)))


def test_jaxnn_file_loads_into_torch_strict(tmp_path):
    m = model()
    nn.save(m, tmp_path / "m.safetensors")
    sd = load_file(tmp_path / "m.safetensors")
    t = torch_model()
    t.load_state_dict(sd, strict=True)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), sd[k].numpy())


def test_torch_safetensors_file_loads_into_jaxnn(tmp_path):
    t = torch_model()
    save_file(t.state_dict(), tmp_path / "t.safetensors")
    m = nn.load(tmp_path / "t.safetensors", model())
    x = np.ones((1, 6), np.float32)
    np.testing.assert_allclose(
        np.asarray(m(jnp.asarray(x))), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_dtypes_round_trip(tmp_path, dtype):
    m = model().to(dtype)
    nn.save(m, tmp_path / "m.safetensors")
    back = nn.load(tmp_path / "m.safetensors")
    for k, v in m.state_dict().items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(
            np.asarray(back[k].astype(jnp.float32)), np.asarray(v.astype(jnp.float32))
        )
    sd = load_file(tmp_path / "m.safetensors")
    assert (
        str(sd["h1.weight"].dtype)
        == {
            jnp.bfloat16: "torch.bfloat16",
            jnp.float16: "torch.float16",
            jnp.float32: "torch.float32",
        }[dtype]
    )


def test_truncated_and_garbage_files(tmp_path):
    m = model()
    path = tmp_path / "m.safetensors"
    nn.save(m, path)
    data = path.read_bytes()
    before = {k: np.asarray(v) for k, v in m.state_dict().items()}
    cases = {
        # (the safetensors library's own diagnosis, wrapped with the file name)
        "short": (data[:5], "not a valid safetensors file.*header too small"),
        "cut-header": (data[:20], "not a valid safetensors file.*header length"),
        "cut-data": (data[:-7], "not a valid safetensors file.*not fully covered.*truncated"),
        "garbage": (b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"{not json!!}    ", "invalid JSON"),
    }
    for name, (content, match) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        with pytest.raises(nn.CheckpointError, match=match) as exc:
            nn.load(bad, m)
        assert str(bad) in str(exc.value)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), before[k])


def test_wrong_architecture_and_dtype(tmp_path):
    nn.save(nn.Linear(3, 3), tmp_path / "other.safetensors")
    with pytest.raises(nn.CheckpointError, match=r"(?s)does not fit Sequential.*Missing key"):
        nn.load(tmp_path / "other.safetensors", model())
    nn.save(model().to(jnp.bfloat16), tmp_path / "bf16.safetensors")
    with pytest.raises(
        nn.CheckpointError, match=r"dtype mismatch.*h1.weight: file has bfloat16, model has float32"
    ):
        nn.load(tmp_path / "bf16.safetensors", model())
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        nn.load(tmp_path / "missing.safetensors")


def test_failed_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old = model()
    nn.save(old, path)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="previous file at that path, if any, is unchanged"):
        nn.save(model(), path)
    monkeypatch.undo()
    loaded = nn.load(path)
    for k, v in old.state_dict().items():
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(v))
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_disk_full_during_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "m.safetensors"
    nn.save(model(), path)
    good = path.read_bytes()

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        checkpoint._atomic_write(path, write)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_killed_mid_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "big.safetensors"
    nn.save(model(), path)
    good = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import time
        from jaxnn.interop import checkpoint
        def slow(tmp):
            with open(tmp, "wb") as f:
                f.write(b"\\0" * (4 * 1024 * 1024))
                f.flush()
                print("MID", flush=True)
                time.sleep(60)
        checkpoint._atomic_write({str(path)!r}, slow)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "MID"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert path.read_bytes() == good
    assert list(nn.load(path)) == list(model().state_dict())
    # its temporary file is still there; the next save to the same path removes it
    assert len(list(tmp_path.iterdir())) == 2
    nn.save(model(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["big.safetensors"]


def _train(m, steps, key, opt, state, start=0, data_seed=0):
    params, static = eqx.partition(m, nn.trainable(m))
    rng = np.random.default_rng(data_seed)
    xs = rng.standard_normal((20, 4, 6)).astype(np.float32)
    ys = rng.standard_normal((20, 4, 3)).astype(np.float32)

    @jax.jit
    def step(params, state, x, y, key):
        key, sub = jax.random.split(key)

        def loss_fn(p):
            out = eqx.combine(p, static)(x) + 0.01 * jax.random.normal(sub, y.shape)
            return jnp.mean((out - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, key, loss

    losses = []
    for i in range(start, start + steps):
        params, state, key, loss = step(params, state, xs[i], ys[i], key)
        losses.append(float(loss))
    return eqx.combine(params, static), state, key, losses


def test_resume_reproduces_uninterrupted_run(tmp_path):
    opt = optax.adam(1e-2)
    nn.manual_seed(1)
    m = model()
    state0 = opt.init(eqx.filter(m, nn.trainable(m)))
    full, _, _, full_losses = _train(m, 10, jax.random.key(5), opt, state0)

    nn.manual_seed(1)
    m = model()
    state = opt.init(eqx.filter(m, nn.trainable(m)))
    m, state, key, first = _train(m, 4, jax.random.key(5), opt, state)
    nn.save_checkpoint(
        tmp_path / "ckpt.safetensors", m, state, step=4, key=key, extra={"note": "half"}
    )

    nn.manual_seed(99)  # a fresh process would build different initial weights
    fresh = model()
    template = opt.init(eqx.filter(fresh, nn.trainable(fresh)))
    ck = nn.load_checkpoint(tmp_path / "ckpt.safetensors", fresh, template)
    assert ck["step"] == 4 and ck["extra"] == {"note": "half"}
    resumed, _, _, rest = _train(ck["model"], 6, ck["key"], opt, ck["opt_state"], start=4)
    assert first + rest == full_losses
    for k, v in full.state_dict().items():
        np.testing.assert_array_equal(np.asarray(resumed.state_dict()[k]), np.asarray(v))


def test_training_checkpoint_errors(tmp_path):
    nn.save(model(), tmp_path / "plain.safetensors")
    with pytest.raises(nn.CheckpointError, match="not a jaxnn training checkpoint"):
        nn.load_checkpoint(tmp_path / "plain.safetensors", model(), None)
    m = model()
    state = optax.adam(1e-3).init(eqx.filter(m, nn.trainable(m)))
    nn.save_checkpoint(tmp_path / "c.safetensors", m, state, step=1)
    other = optax.sgd(1e-3, momentum=0.9).init(eqx.filter(m, nn.trainable(m)))
    with pytest.raises(nn.CheckpointError, match="different optimizer"):
        nn.load_checkpoint(tmp_path / "c.safetensors", m, other)
