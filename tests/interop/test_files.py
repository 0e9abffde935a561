"""Files and conversions at the edges: int64 values without x64, file modes, symlinks,
stale temporary files, unwritable folders, malformed safetensors files, JSON extras.

Each behaviour is checked against what torch does with the same input (``torch.save`` /
``open(path, "wb")`` for files, ``load_state_dict``'s ``copy_`` for values) where torch
defines it.
"""

import os
import stat
import subprocess
from collections import OrderedDict

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file

import jaxnn as nn
from jaxnn.interop import checkpoint

BIG = 2**33 + 5  # wraps to 5 in int32
HUGE = 2**40  # wraps to 0 in int32


# ------------------------------------------------------------ int64 / float64 without x64
def test_int64_into_float_parameter_is_exact_as_torch_copy():
    # torch's param.copy_(int64) rounds once to float32; JAX's default int32 would wrap first.
    w = np.array([[HUGE, BIG]], np.int64)
    b = np.array([1e300], np.float64)
    tm = torch.nn.Linear(2, 1)
    tm.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
    for sd in ({"weight": w, "bias": b}, {"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)}):
        m = nn.Linear(2, 1)
        m.load_state_dict(sd)
        np.testing.assert_array_equal(np.asarray(m.weight), tm.weight.detach().numpy())
        np.testing.assert_array_equal(np.asarray(m.bias), tm.bias.detach().numpy())  # inf


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_counter_beyond_int32_raises_with_the_fix(dtype):
    m = nn.BatchNorm1d(2)
    assert m.num_batches_tracked.dtype == jnp.int32  # (no x64 in the suite)
    sd = dict(m.state_dict(), num_batches_tracked=np.array(BIG, dtype))
    with pytest.raises(OverflowError, match=r"'num_batches_tracked'.*8589934597.*jax_enable_x64"):
        m.load_state_dict(sd)
    assert int(m.num_batches_tracked) == 0  # unchanged
    sd["num_batches_tracked"] = np.array(7, dtype)  # fits: loads exactly
    m.load_state_dict(sd)
    assert int(m.num_batches_tracked) == 7


def test_load_torch_and_load_never_wrap(tmp_path):
    sd = {"w": torch.tensor([HUGE, BIG]), "n": torch.tensor(3)}
    torch.save(sd, tmp_path / "t.pt")
    with pytest.raises(OverflowError, match=r"'w'.*jax_enable_x64"):
        nn.load_torch(tmp_path / "t.pt")
    save_file({k: v.numpy() for k, v in sd.items()}, tmp_path / "t.safetensors")
    with pytest.raises(nn.CheckpointError, match=r"t.safetensors.*'w'.*jax_enable_x64"):
        nn.load(tmp_path / "t.safetensors")
    torch.save({"n": torch.tensor(3)}, tmp_path / "small.pt")
    assert int(nn.load_torch(tmp_path / "small.pt")["n"]) == 3
    # into a model: the counter does not fit jaxnn's int32 buffer
    bn = torch.nn.BatchNorm1d(2)
    bn.num_batches_tracked.fill_(BIG)
    save_file({k: v.numpy() for k, v in bn.state_dict().items()}, tmp_path / "bn.safetensors")
    with pytest.raises(nn.CheckpointError, match=r"bn.safetensors does not fit.*8589934597"):
        nn.load(tmp_path / "bn.safetensors", nn.BatchNorm1d(2))


# ------------------------------------------------------------------------------- modes
def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_modes_follow_the_umask_and_overwrite_keeps_them_as_torch_save(tmp_path):
    old = os.umask(0o022)
    try:
        torch.save({}, tmp_path / "t.pt")
        nn.save(nn.Linear(2, 2), tmp_path / "a.safetensors")
        nn.save_checkpoint(tmp_path / "c.safetensors", nn.Linear(2, 2))
        assert _mode(tmp_path / "a.safetensors") == _mode(tmp_path / "t.pt") == 0o644
        assert _mode(tmp_path / "c.safetensors") == 0o644
        for p in (tmp_path / "t.pt", tmp_path / "a.safetensors"):
            os.chmod(p, 0o640)
        torch.save({}, tmp_path / "t.pt")
        nn.save(nn.Linear(2, 2), tmp_path / "a.safetensors")
        assert _mode(tmp_path / "a.safetensors") == _mode(tmp_path / "t.pt") == 0o640
    finally:
        os.umask(old)


def test_symlink_is_written_through(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.safetensors"
    nn.save(nn.Linear(2, 2), target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    m = nn.Linear(2, 2)
    nn.save(m, link)
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays
    np.testing.assert_array_equal(np.asarray(nn.load(target)["weight"]), np.asarray(m.weight))
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["m.safetensors"]


def test_unwritable_folder_names_the_path_and_the_fix(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError, match=r"cannot save '.*ro/m.safetensors'.*folder must be writable"):
            nn.save(nn.Linear(2, 2), folder / "m.safetensors")
    finally:
        os.chmod(folder, 0o755)


def test_unwritable_folder_message(tmp_path, monkeypatch):
    # The same message when the folder refuses the temporary file (runs as root too).
    real_open = os.open

    def refuse(path, flags, *a):
        if str(path).endswith(".tmp") and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match=r"cannot save '.*m.safetensors'.*folder must be writable") as exc:
        nn.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert ".tmp" not in str(exc.value)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- stale temporaries
def test_killed_saves_leave_temporaries_that_the_next_save_removes(tmp_path):
    # A save killed mid-write (tests/interop/test_checkpoint.py kills a real one) leaves its
    # temporary file, named after its process; here the writer is a process that has exited.
    path = tmp_path / "m.safetensors"
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = checkpoint._HOST
    stale = tmp_path / f".m.safetensors.jaxnn-{host}-{dead.pid}-0123456789abcdef.tmp"
    stale.write_bytes(b"x" * 1024)
    # Files that only look alike are never touched: another target's temporary, ours from
    # a live process (this one), another host's, and a user's file.
    me = os.getpid()
    keep = [
        f".other.safetensors.jaxnn-{host}-999999-0123456789abcdef.tmp",
        f".m.safetensors.jaxnn-{host}-{me}-0123456789abcdef.tmp",
        ".m.safetensors.jaxnn-otherhost-999999-0123456789abcdef.tmp",
        ".m.safetensors.jaxnn-notes.txt",
        "m.safetensors.bak",
    ]
    for name in keep:
        (tmp_path / name).write_bytes(b"keep")
    nn.save(nn.Linear(2, 2), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "m.safetensors"])


# ------------------------------------------------------------ malformed files, library
def _good():
    return checkpoint.safetensors.numpy.save({"w": np.arange(6, dtype=np.float32)})


MALFORMED = {
    # what the hand-written reader used to accept or report with a raw numpy/TypeError
    "trailing-garbage": lambda: _good() + b"garbage!",
    "overlapping": lambda: _header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}, "b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, 12),
    "negative-dim": lambda: _header({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, 0),
    "non-string-metadata": lambda: _header({"__metadata__": {"a": 1}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 4),
    "header-not-object": lambda: _header([1, 2], 0),
    "offsets-not-list": lambda: _header({"w": {"dtype": "F32", "shape": [1], "data_offsets": 7}}, 4),
    "unknown-dtype": lambda: _header({"w": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, 4),
    "empty": lambda: b"",
}


def _header(h, n):
    import json
    import struct

    t = json.dumps(h).encode()
    t += b" " * (-len(t) % 8)
    return struct.pack("<Q", len(t)) + t + b"\0" * n


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_file_is_a_checkpoint_error_naming_it(tmp_path, name):
    bad = tmp_path / f"{name}.safetensors"
    bad.write_bytes(MALFORMED[name]())
    m = nn.Linear(3, 2)
    with pytest.raises(nn.CheckpointError, match=r"not a valid safetensors file") as exc:
        nn.load(bad, m)
    assert str(bad) in str(exc.value)
    with pytest.raises(nn.CheckpointError, match=str(bad)):
        nn.load_checkpoint(bad, m)


def test_bfloat16_round_trips_through_the_library(tmp_path):
    m = nn.Linear(3, 2).to(jnp.bfloat16)
    nn.save(m, tmp_path / "m.safetensors")
    sd = load_file(tmp_path / "m.safetensors")
    assert sd["weight"].dtype == torch.bfloat16
    back = nn.load(tmp_path / "m.safetensors")
    assert back["weight"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(back["weight"]), np.asarray(m.weight))
    # and a file torch wrote in bfloat16
    save_file({"w": np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16)}, tmp_path / "t.safetensors")
    assert nn.load(tmp_path / "t.safetensors")["w"].dtype == jnp.bfloat16


def test_state_dict_order_survives_the_format(tmp_path):
    sd = OrderedDict([("z", np.zeros(2, np.float32)), ("a", np.zeros(1, np.float16)), ("m", np.zeros(3, np.int32))])
    nn.save(sd, tmp_path / "o.safetensors")
    assert list(nn.load(tmp_path / "o.safetensors")) == ["z", "a", "m"]


# --------------------------------------------------------------------------- JSON extras
def test_extra_takes_numpy_scalars_and_names_what_it_cannot_hold(tmp_path):
    m = nn.Linear(2, 2)
    extra = {"lr": np.float32(0.1), "epoch": np.int64(3), "hist": [np.float64(1.5), 2], "best": jnp.float32(0.25), "ok": True}
    nn.save_checkpoint(tmp_path / "c.safetensors", m, extra=extra)
    back = nn.load_checkpoint(tmp_path / "c.safetensors", m)["extra"]
    assert back == {"lr": float(np.float32(0.1)), "epoch": 3, "hist": [1.5, 2], "best": 0.25, "ok": True}
    with pytest.raises(TypeError, match=r"extra\['sched'\]\['w'\] is a numpy.ndarray.*tolist"):
        nn.save_checkpoint(tmp_path / "c.safetensors", m, extra={"sched": {"w": np.ones(3)}})
    with pytest.raises(TypeError, match=r"extra has the key 1 \(int\)"):
        nn.save_checkpoint(tmp_path / "c.safetensors", m, extra={1: "a"})
    assert nn.load_checkpoint(tmp_path / "c.safetensors", m)["extra"]["epoch"] == 3  # unchanged
