"""Checkpoints: safetensors files with torch's key names, written atomically.

``save``/``load`` handle a model's state_dict; ``save_checkpoint``/``load_checkpoint`` a
whole training state (model, optax state, step, PRNG key) that resumes bit-for-bit.

Every write goes to a temporary file in the target's folder, is fsynced, then renamed over
the target: a process killed mid-save, a full disk or a failed rename leave the previous
checkpoint intact. Every read validates the whole file before anything is loaded, so a
truncated or foreign file gives an error that says which file and what is wrong, never a
half-loaded model.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._module import Module
from ._safetensors import CheckpointError, decode, encode

__all__ = ["CheckpointError", "load", "load_checkpoint", "save", "save_checkpoint"]

_FORMAT = "jaxnn.training_checkpoint.v1"


def _atomic_write(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` so that readers see the old file or the new one, whole."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: the folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(
                e.errno,
                f"saving {path!r} failed ({e.strerror or e}); the previous file at that path, if "
                f"any, is unchanged",
            ) from e
        raise
    # Make the rename itself durable.
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _read(path: str | os.PathLike) -> tuple[OrderedDict, dict[str, str]]:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path!r}.") from None
    return decode(data, path)


def _host(value: Any, name: str) -> np.ndarray:
    if isinstance(value, jax.Array):
        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise TypeError(f"{name!r} is a PRNG key; save it with save_checkpoint(key=...).")
        return np.asarray(jax.device_get(value))
    if type(value).__module__.startswith("torch"):
        from .._module import _to_array

        return np.asarray(_to_array(value, name))
    return np.asarray(value)


def _same_dtype(stored: np.dtype, current: Any) -> bool:
    if np.issubdtype(stored, np.integer):
        # torch's int64 counters (num_batches_tracked) fit jaxnn's int32 ones: int32 is
        # JAX's widest integer without x64, and a count loses nothing in it.
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
    _atomic_write(path, encode(arrays, metadata))


def load(path: str | os.PathLike, model: Module | None = None, *, strict: bool = True) -> Any:
    """Read a safetensors checkpoint.

    Without ``model``: returns the state dict (name -> jax array). With ``model``: loads it
    into the model in place (torch's key and shape checks, plus a dtype check: a float64
    file does not silently load into a float32 model) and returns the model. The file is
    validated completely first; on any error the model is unchanged.
    """
    if model is not None and not isinstance(model, Module):
        raise TypeError(
            f"load(path, model): model must be a jaxnn Module, got {type(model).__name__}."
        )
    arrays, _ = _read(path)
    if model is not None:
        # Before jnp.asarray: without x64 it turns a float64 file into float32 silently.
        _check_dtypes(path, arrays, model)
    sd = OrderedDict((k, jnp.asarray(v)) for k, v in arrays.items())
    if model is None:
        return sd
    try:
        model.load_state_dict(sd, strict=strict)
    except RuntimeError as e:
        raise CheckpointError(f"{os.fspath(path)} does not fit {model._get_name()}: {e}") from None
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
        meta["extra"] = json.dumps(dict(extra))
    _atomic_write(path, encode(arrays, meta))


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
    n = int(meta["optimizer_leaves"])
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
        new_leaves.append(jnp.asarray(v, dtype=getattr(t, "dtype", None)))
    try:
        model.load_state_dict(model_sd)
    except RuntimeError as e:
        raise CheckpointError(f"{os.fspath(path)} does not fit {model._get_name()}: {e}") from None
    key = None
    if "rng" in arrays:
        key = jax.random.wrap_key_data(jnp.asarray(arrays["rng"]), impl=meta.get("rng_impl"))
    extra = json.loads(meta["extra"]) if "extra" in meta else {}
    return {
        "model": model,
        "opt_state": jax.tree_util.tree_unflatten(treedef, new_leaves),
        "step": int(meta["step"]),
        "key": key,
        "extra": extra,
    }
