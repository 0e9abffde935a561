"""MNIST-style data for the examples: IDX files when present, bundled digits otherwise.

``load(data_dir, dataset)`` looks for the four standard IDX files (``.gz`` or raw) of
MNIST or Fashion-MNIST in ``data_dir``. With none there it falls back to scikit-learn's
bundled handwritten digits (1,797 real 8x8 scans, no network), resized to 28x28 like MNIST,
with a fixed 80/20 train/test split. Downloads happen only with ``download=True``.
"""

from __future__ import annotations

import gzip
import os
import struct
import urllib.request
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
# Normalisation constants: MNIST's, as in torchvision's examples.
MEAN, STD = 0.1307, 0.3081


class IDXError(ValueError):
    """An IDX file is malformed; the message names the file and the problem."""


@dataclass
class Dataset:
    name: str
    train_x: np.ndarray  # (N, 1, 28, 28) float32, normalised
    train_y: np.ndarray  # (N,) int32
    test_x: np.ndarray
    test_y: np.ndarray

    def describe(self) -> str:
        return f"dataset: {self.name} ({len(self.train_y)} train / {len(self.test_y)} test images, {self.train_x.shape[2]}x{self.train_x.shape[3]})"


_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (raw or gzip), validating the magic number and the size."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise IDXError(f"{path}: cannot be read ({e}); is it a complete IDX file?") from None
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header (truncated?).")
    zero, dtype_code, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0 or dtype_code not in _DTYPES or ndim == 0:
        raise IDXError(
            f"{path}: bad magic number {data[:4].hex()} (expected 0000 08 0N): not an IDX file."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated header ({len(data)} bytes, need {header}).")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[dtype_code])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != need:
        raise IDXError(
            f"{path}: header says {dims} ({need} bytes of data) but the file has {len(data) - header} "
            f"(truncated or corrupted)."
        )
    return np.frombuffer(data, dtype, offset=header).reshape(dims)


def _find(data_dir: str, stem: str) -> str | None:
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    return None


def download(data_dir: str, dataset: str) -> None:
    """Fetch the four IDX files (only when the user asks with --download)."""
    os.makedirs(data_dir, exist_ok=True)
    for stem in FILES.values():
        if _find(data_dir, stem) is None:
            url = MIRRORS[dataset] + stem + ".gz"
            print(f"downloading {url}")
            urllib.request.urlretrieve(url, os.path.join(data_dir, stem + ".gz"))


def _normalise(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float32) / 255.0
    return ((x - MEAN) / STD)[:, None, :, :]


def _embedded_digits() -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    # Upsample 8x8 -> 28x28 (bilinear) with a 2-pixel border like MNIST's 20x20-in-28x28.
    big = jax.image.resize(jnp.asarray(images), (images.shape[0], 24, 24), "bilinear")
    big = np.pad(np.asarray(big), ((0, 0), (2, 2), (2, 2)))
    x = ((np.clip(big, 0, 1) - MEAN) / STD)[:, None].astype(np.float32)
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(y))  # the fixed split
    n_test = len(y) // 5
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        "sklearn digits (embedded, no download; 8x8 scans resized to 28x28)",
        x[train],
        y[train],
        x[test],
        y[test],
    )


def load(data_dir: str = "data", dataset: str = "mnist", download_files: bool = False) -> Dataset:
    """The dataset the examples train on; prints nothing (scripts print ``describe()``)."""
    if dataset not in MIRRORS:
        raise ValueError(f"dataset={dataset!r}; choose one of {sorted(MIRRORS)}.")
    folder = (
        os.path.join(data_dir, dataset)
        if os.path.isdir(os.path.join(data_dir, dataset))
        else data_dir
    )
    if download_files:
        download(folder, dataset)
    paths = {k: _find(folder, stem) for k, stem in FILES.items()}
    if all(paths.values()):
        arrays = {k: read_idx(p) for k, p in paths.items()}
        for split in ("train", "test"):
            n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
            if n_img != n_lab:
                raise IDXError(
                    f"{paths[f'{split}_images']}: {n_img} images but {n_lab} labels in {paths[f'{split}_labels']}."
                )
        return Dataset(
            f"{dataset} (IDX files in {folder})",
            _normalise(arrays["train_images"]),
            arrays["train_labels"].astype(np.int32),
            _normalise(arrays["test_images"]),
            arrays["test_labels"].astype(np.int32),
        )
    if any(paths.values()):
        missing = [FILES[k] for k, p in paths.items() if p is None]
        raise FileNotFoundError(f"{folder}: some IDX files are missing: {missing} (.gz or raw).")
    return _embedded_digits()


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, key: jax.Array, drop_last: bool = True):
    """Shuffled batches, the order fixed by ``key`` (so a resumed epoch sees the same data)."""
    order = np.asarray(jax.random.permutation(key, len(y)))
    stop = len(y) - (len(y) % batch_size if drop_last else 0)
    for i in range(0, stop, batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


def num_batches(n: int, batch_size: int) -> int:
    return n // batch_size
