"""The safetensors file format, read and written here (no framework needed).

Layout: 8 bytes little-endian header length N, N bytes of JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``,
then the raw little-endian tensor bytes. Files written here open with
``safetensors.torch.load_file``; files written by safetensors open here. Every way a file
can be broken (short, bad header, offsets out of range, unknown dtype) is reported with the
file name and what is wrong, before any array is returned.
"""

from __future__ import annotations

import json
import math
import struct
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
    "BOOL": np.dtype("bool"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint file cannot be read: truncated, corrupted, or not what was expected."""


def encode(
    arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> Iterator[bytes]:
    """Yield the file's bytes in pieces: the header, then each tensor (no full copy in memory)."""
    header: dict[str, Any] = {}
    if metadata:
        bad = {
            k: v for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)
        }
        if bad:
            raise TypeError(f"safetensors metadata must map str to str, got {bad!r}.")
        header["__metadata__"] = dict(metadata)
    offset = 0
    blobs = []
    for name, value in arrays.items():
        a = np.asarray(value, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        key = _NAMES.get(np.dtype(dt))
        if key is None:
            raise TypeError(f"cannot save {name!r}: dtype {a.dtype} has no safetensors equivalent.")
        a = a.astype(dt, copy=False)
        header[name] = {
            "dtype": key,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
        blobs.append(a)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # align the data section to 8 bytes, as safetensors does
    yield struct.pack("<Q", len(text))
    yield text
    for a in blobs:
        yield a.tobytes()


def decode(data: bytes, source: str) -> tuple[OrderedDict, dict[str, str]]:
    """Parse a whole file's bytes into ``(name -> numpy array, metadata)``, validating all."""
    if len(data) < 8:
        raise CheckpointError(
            f"{source}: file is {len(data)} bytes, too short to be a safetensors checkpoint (truncated?)."
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointError(
            f"{source}: header claims {n} bytes but the file has {len(data) - 8} after the length "
            f"field: the file is truncated or not a safetensors checkpoint."
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{source}: the header is not valid JSON ({e}): corrupted file."
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: the header is not a JSON object: corrupted file.")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n :]
    out: OrderedDict = OrderedDict()
    entries = sorted(
        header.items(),
        key=lambda kv: kv[1].get("data_offsets", [0])[0] if isinstance(kv[1], dict) else 0,
    )
    for name, info in entries:
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(
                f"{source}: entry {name!r} has a malformed header {info!r}."
            ) from None
        expected = math.prod(shape) * dtype.itemsize
        if end - begin != expected or begin < 0:
            raise CheckpointError(
                f"{source}: entry {name!r} ({info['dtype']} {list(shape)}) should span {expected} bytes "
                f"but its offsets are [{begin}, {end}]: corrupted file."
            )
        if end > len(body):
            raise CheckpointError(
                f"{source}: entry {name!r} ends at byte {end} of the data section, which has only "
                f"{len(body)} bytes: the file is truncated (an interrupted copy or save?)."
            )
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    # Keep the writer's order (header order), which is the state_dict order.
    order = list(header)
    return OrderedDict((k, out[k]) for k in order), dict(metadata)
