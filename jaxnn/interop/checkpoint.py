"""Checkpoints: safetensors files with torch's key names, written atomically.

``save``/``load`` handle a model's state_dict; ``save_checkpoint``/``load_checkpoint`` a
whole training state (model, optax state, step, PRNG key) that resumes bit-for-bit.

The format is read and written by the ``safetensors`` package itself (its numpy API, with
bfloat16 through ml_dtypes), so a file is valid exactly when the reference implementation
says so: truncated, padded, overlapping or otherwise malformed files are rejected with a
``CheckpointError`` naming the file, before anything is loaded.

Every write goes to a temporary file in the target's folder, is fsynced, then renamed over
the target: a process killed mid-save, a full disk or a failed rename leave the previous
checkpoint intact. As with ``torch.save`` (``open(path, "wb")``): a new file gets the
umask's mode (0644 under the usual umask), an overwritten one keeps its mode, and a
symlink is written through (its target is replaced, the link stays). The temporary file is
named ``.<name>.jaxnn-<host>-<pid>-<random>.tmp``; one left behind by a killed save is
removed by the next save to the same path once its writer process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import stat
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from .._module import Module, _to_array, _torch_to_numpy

__all__ = ["CheckpointError", "load", "load_checkpoint", "save", "save_checkpoint"]

_FORMAT = "jaxnn.training_checkpoint.v1"
# The format stores entries sorted by dtype and name; this metadata entry keeps the
# state_dict's order (a JSON list of the keys) so that load() gives it back.
_ORDER = "jaxnn.order"


class CheckpointError(ValueError):
    """A checkpoint file cannot be read: truncated, corrupted, or not what was expected."""


# ---------------------------------------------------------------------------- atomic writes
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
# what follows _temp_prefix(base) in a temporary file's name: <host>-<pid>-<random>.tmp
_TEMP = re.compile(r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)-[0-9a-f]{16}\.tmp")


def _temp_prefix(base: str) -> str:
    return f".{base}.jaxnn-"


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # (os.kill(pid, 0) terminates on Windows)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def _remove_stale_temps(folder: str, base: str) -> None:
    """Delete the temporary files of earlier saves to ``base`` that were killed mid-write.

    Only regular files named exactly as ``_atomic_write`` names them, written on this host
    by a process that no longer exists: a save still running (here or in another process)
    keeps its file, and nothing else in the folder is touched.
    """
    prefix = _temp_prefix(base)
    with contextlib.suppress(OSError):
        names = os.listdir(folder)
        for name in names:
            m = _TEMP.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
            if m is None or m["host"] != _HOST or _writer_alive(int(m["pid"])):
                continue
            full = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(full).st_mode):
                    os.unlink(full)


def _create_temp(folder: str, base: str, user_path: str) -> tuple[str, int]:
    """Create the temporary file and return its name and mode: 0666 less the umask, the
    mode ``open(path, "w")`` gives a new file (the kernel applies the umask)."""
    while True:
        tmp = os.path.join(
            folder, f"{_temp_prefix(base)}{_HOST}-{os.getpid()}-{secrets.token_hex(8)}.tmp"
        )
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except PermissionError as e:
            raise PermissionError(
                e.errno,
                f"cannot save {user_path!r}: no permission to create a file in the folder "
                f"{folder!r} ({e.strerror}). A save writes a temporary file next to the "
                f"target and renames it over the target, so the folder must be writable; "
                f"save to a writable folder or change its permissions",
            ) from None
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)


def _atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Run ``write(temp_path)``, then swap the result in: readers see the old file or the new."""
    user_path = os.fspath(path)
    target = os.path.realpath(user_path)  # through a symlink, as open() and torch.save do
    folder, base = os.path.split(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"cannot save to {user_path!r}: the folder {folder!r} does not exist."
        )
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot save to {user_path!r}: it is a directory.")
    _remove_stale_temps(folder, base)
    tmp, mode = _create_temp(folder, base, user_path)
    with contextlib.suppress(OSError):  # overwriting keeps the file's mode, as
        mode = stat.S_IMODE(os.stat(target).st_mode)  # open(path, "wb") does
    try:
        write(tmp)
        fd = os.open(tmp, os.O_WRONLY)
        try:
            # (the writer may have made the file anew, with its own mode: set ours again)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(
                e.errno,
                f"saving {user_path!r} failed ({e.strerror or e}); the previous file at that "
                f"path, if any, is unchanged",
            ) from e
        raise
    # Make the rename itself durable.
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# ----------------------------------------------------------------------- the file format
def _write(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None
) -> None:
    meta: dict[str, str] = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(
                f"safetensors metadata must map str to str; metadata[{k!r}] is "
                f"{type(k).__name__} -> {type(v).__name__}: convert it with str() or json.dumps()."
            )
        meta[k] = v
    if _ORDER in meta:
        raise ValueError(f"metadata key {_ORDER!r} is reserved by jaxnn; use another name.")
    meta[_ORDER] = json.dumps(list(arrays))
    # The library reads each array's buffer as it is: it must be C-contiguous.
    flat = {k: a if a.flags.c_contiguous else a.copy(order="C") for k, a in arrays.items()}
    bad = [
        f"{k} ({a.dtype})"
        for k, a in flat.items()
        if a.dtype.kind in "OUSMmc" and a.dtype != np.complex64
    ]
    if bad:
        raise TypeError(
            f"cannot save {', '.join(bad)} to {os.fspath(path)!r}: safetensors holds bool, "
            "integer, float16/bfloat16/float32/float64 and complex64 arrays; convert them first."
        )
    _atomic_write(path, lambda tmp: safetensors.numpy.save_file(flat, tmp, metadata=meta))


def _read(path: str | os.PathLike) -> tuple[OrderedDict, dict[str, str]]:
    """``(name -> numpy array, metadata)``, in the order the writer had; validated whole."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a checkpoint file.")
    try:
        with safetensors.safe_open(path, framework="np") as f:
            meta = dict(f.metadata() or {})
            names = list(f.offset_keys())
            arrays = {k: f.get_tensor(k) for k in names}
    except safetensors.SafetensorError as e:
        raise CheckpointError(
            f"{path}: not a valid safetensors file ({e}): it is truncated, corrupted or not "
            f"a safetensors checkpoint (an interrupted copy or download?)."
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # a dtype numpy lacks
        raise CheckpointError(
            f"{path}: the safetensors library could not give its arrays to numpy "
            f"({type(e).__name__}: {e})."
        ) from None
    order = meta.pop(_ORDER, None)
    with contextlib.suppress(ValueError, TypeError):
        listed = json.loads(order) if order is not None else None
        if isinstance(listed, list) and sorted(listed) == sorted(names):
            names = listed
    return OrderedDict((k, arrays[k]) for k in names), meta


def _host(value: Any, name: str) -> np.ndarray:
    """A value to save as numpy, its dtype kept (a torch int64 stays int64 in the file)."""
    if isinstance(value, jax.Array):
        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise TypeError(f"{name!r} is a PRNG key; save it with save_checkpoint(key=...).")
        return np.asarray(jax.device_get(value))
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return _torch_to_numpy(value)
    return np.asarray(value)


def _same_dtype(stored: np.dtype, current: Any) -> bool:
    if np.issubdtype(stored, np.integer):
        # torch's int64 counters (num_batches_tracked) load into jaxnn's int32 ones (int32 is
        # JAX's widest integer without x64); a value beyond int32 raises in load_state_dict.
        return jax.dtypes.canonicalize_dtype(stored) == current
    return stored == current


def _check_dtypes(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], model: Module) -> None:
    """The file's dtypes, as stored, against the model's: no silent float64 -> float32."""
    current = model.state_dict()
    wrong = [
        f"{k}: file has {arrays[k].dtype}, model has {current[k].dtype}"
        for k in current
        if k in arrays and not _same_dtype(arrays[k].dtype, current[k].dtype)
    ]
    if wrong:
        raise CheckpointError(
            f"{os.fspath(path)}: dtype mismatch for {len(wrong)} entr{'y' if len(wrong) == 1 else 'ies'} "
            f"({'; '.join(wrong)}). Convert the model first (model.to(dtype)) or load the state "
            f"dict and cast it: model.load_state_dict(jaxnn.load(path))."
        )


def save(
    obj: Module | Mapping[str, Any],
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save a model's ``state_dict()`` (or a state dict) as a safetensors file, atomically.

    The keys are torch's, so ``safetensors.torch.load_file(path)`` gives a dict that loads
    into the torch twin with ``strict=True``.

    >>> import jaxnn as nn, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> nn.save(nn.Linear(2, 3), path)
    >>> list(nn.load(path))
    ['weight', 'bias']
    """
    sd = obj.state_dict() if isinstance(obj, Module) else obj
    if not isinstance(sd, Mapping):
        raise TypeError(f"save() takes a jaxnn Module or a state dict, got {type(obj).__name__}.")
    arrays = OrderedDict((k, _host(v, k)) for k, v in sd.items())
    _write(path, arrays, metadata)


def _load_into(path: str | os.PathLike, model: Module, sd: Mapping[str, Any], strict: bool) -> None:
    try:
        model.load_state_dict(sd, strict=strict)
    except (RuntimeError, OverflowError) as e:
        raise CheckpointError(f"{os.fspath(path)} does not fit {model._get_name()}: {e}") from None


def load(path: str | os.PathLike, model: Module | None = None, *, strict: bool = True) -> Any:
    """Read a safetensors checkpoint.

    Without ``model``: returns the state dict (name -> jax array). With ``model``: loads it
    into the model in place (torch's key and shape checks, plus a dtype check: a float64
    file does not silently load into a float32 model) and returns the model. The file is
    validated completely first; on any error the model is unchanged. Without 64-bit types
    in JAX, int64 entries load as int32 when their values fit and raise when they do not
    (JAX would wrap them), naming the fix: ``jax.config.update('jax_enable_x64', True)``.
    """
    if model is not None and not isinstance(model, Module):
        raise TypeError(
            f"load(path, model): model must be a jaxnn Module, got {type(model).__name__}."
        )
    arrays, _ = _read(path)
    if model is None:
        try:
            return OrderedDict((k, _to_array(v, k)) for k, v in arrays.items())
        except OverflowError as e:
            raise CheckpointError(f"{os.fspath(path)}: {e}") from None
    # On the numpy arrays: JAX without x64 would turn a float64 file into float32 silently.
    _check_dtypes(path, arrays, model)
    _load_into(path, model, arrays, strict)
    return model


def save_checkpoint(
    path: str | os.PathLike,
    model: Module,
    opt_state: Any = None,
    *,
    step: int = 0,
    key: jax.Array | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Save a training state: model state dict, optax state, step, PRNG key, JSON extras.

    One safetensors file: model entries under ``model.<torch key>``, optimizer leaves under
    ``optimizer.<i>``, the key's raw data under ``rng``. Restore with ``load_checkpoint``
    and training continues exactly as if it had not stopped.
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"save_checkpoint(path, model, ...): model must be a jaxnn Module, got {type(model).__name__}."
        )
    arrays: OrderedDict = OrderedDict(
        (f"model.{k}", _host(v, k)) for k, v in model.state_dict().items()
    )
    opt_leaves = jax.tree_util.tree_leaves(opt_state)
    for i, leaf in enumerate(opt_leaves):
        arrays[f"optimizer.{i}"] = _host(leaf, f"optimizer leaf {i}")
    meta = {"format": _FORMAT, "step": str(int(step)), "optimizer_leaves": str(len(opt_leaves))}
    if key is not None:
        arrays["rng"] = np.asarray(jax.random.key_data(key))
        meta["rng_impl"] = str(jax.random.key_impl(key))
    if extra:
        if not isinstance(extra, Mapping):
            raise TypeError(
                f"save_checkpoint(extra=...) takes a dict of JSON values, got {type(extra).__name__}."
            )
        meta["extra"] = json.dumps(_jsonable(dict(extra), "extra"))
    _write(path, arrays, meta)


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as JSON can hold it: numpy / 0-d array scalars become Python numbers."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.generic | np.ndarray | jax.Array) and np.ndim(value) == 0:
        return np.asarray(value).item()
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(
                f"save_checkpoint: {where} has the key {bad[0]!r} ({type(bad[0]).__name__}); "
                "extras are JSON, whose keys are strings: use str keys."
            )
        return {k: _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):  # (a tuple comes back as a list: JSON has one kind)
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"save_checkpoint: {where} is a {type(value).__module__}.{type(value).__qualname__}, "
        "which JSON cannot hold. extra takes str, int, float, bool, None, numpy scalars and "
        "lists/dicts of them; put arrays in the model or opt_state, or convert with .tolist()."
    )


def load_checkpoint(
    path: str | os.PathLike, model: Module, opt_state: Any = None
) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote.

    ``model`` is loaded in place; ``opt_state`` is a template with the right structure
    (``optimizer.init(params)``). Returns ``{"model", "opt_state", "step", "key", "extra"}``.
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"load_checkpoint(path, model, ...): model must be a jaxnn Module, got "
            f"{type(model).__name__}."
        )
    arrays, meta = _read(path)
    if meta.get("format") != _FORMAT:
        raise CheckpointError(
            f"{os.fspath(path)} is not a jaxnn training checkpoint (metadata format "
            f"{meta.get('format')!r}); for a plain state dict use jaxnn.load(path, model)."
        )
    model_sd = OrderedDict(
        (k[len("model.") :], v) for k, v in arrays.items() if k.startswith("model.")
    )
    _check_dtypes(path, model_sd, model)
    template_leaves, treedef = jax.tree_util.tree_flatten(opt_state)
    try:
        n, step = int(meta["optimizer_leaves"]), int(meta["step"])
        extra = json.loads(meta["extra"]) if "extra" in meta else {}
    except (KeyError, ValueError) as e:
        raise CheckpointError(
            f"{os.fspath(path)}: its training-checkpoint metadata is damaged ({type(e).__name__}: "
            f"{e}); it was not written by jaxnn.save_checkpoint, or was edited."
        ) from None
    if n != len(template_leaves):
        raise CheckpointError(
            f"{os.fspath(path)} holds {n} optimizer leaves but the template opt_state has "
            f"{len(template_leaves)}: it was saved with a different optimizer or model."
        )
    new_leaves = []
    for i, t in enumerate(template_leaves):
        v = arrays[f"optimizer.{i}"]
        if tuple(v.shape) != tuple(np.shape(t)):
            raise CheckpointError(
                f"{os.fspath(path)}: optimizer leaf {i} has shape {v.shape}, the template {np.shape(t)}."
            )
        try:
            new_leaves.append(_to_array(v, f"optimizer leaf {i}", getattr(t, "dtype", None)))
        except OverflowError as e:
            raise CheckpointError(f"{os.fspath(path)}: {e}") from None
    _load_into(path, model, model_sd, True)
    key = None
    if "rng" in arrays:
        key = jax.random.wrap_key_data(jnp.asarray(arrays["rng"]), impl=meta.get("rng_impl"))
    return {
        "model": model,
        "opt_state": jax.tree_util.tree_unflatten(treedef, new_leaves),
        "step": step,
        "key": key,
        "extra": extra,
    }
