"""fractional_max_pool2d/3d and FractionalMaxPool2d/3d against torch: with torch's
``_random_samples`` the values, indices and gradients are torch's exactly; drawn from a
key, the windows obey torch's rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import check_function, check_module, randn

LONG = pytest.mark.long


def samples(batch: int, channels: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, channels, n)).astype(np.float32)


# id, n, input shape, kernel_size, kwargs (output_size / output_ratio)
# fmt: off
CASES = [
    ("2d-size", 2, (2, 3, 9, 7), (2, 3), dict(output_size=(4, 3))),
    ("2d-ratio-unbatched", 2, (3, 10, 10), 3, dict(output_ratio=(0.5, 0.7)), LONG),
    ("2d-overlapping-k1", 2, (1, 2, 5, 6), 1, dict(output_size=(5, 4)), LONG),
    ("3d-size", 3, (2, 2, 6, 7, 5), (2, 2, 3), dict(output_size=(3, 4, 2))),
    # An empty batch: reshapes with -1 raised ZeroDivisionError (op_db's sample).
    ("3d-empty-batch", 3, (0, 1, 4, 5, 4), (2, 2, 1), dict(output_size=(2, 3, 2))),
]
# fmt: on


@pytest.mark.parametrize(
    ("n", "shape", "k", "kwargs"), [pytest.param(*c[1:5], id=c[0], marks=c[5:]) for c in CASES]
)
def test_parity_with_torch_samples(n, shape, k, kwargs):
    batch = shape[0] if len(shape) == n + 2 else 1
    kw = dict(kwargs, _random_samples=samples(batch, shape[-n - 1], n), return_indices=True)
    x = randn(*shape)
    if k == 1:
        x = np.round(x)  # ties: torch's first-maximum rule
    check_function(
        getattr(F, f"fractional_max_pool{n}d"), getattr(TF, f"fractional_max_pool{n}d"), [x, k], kw
    )


def test_nan_and_ties_follow_torch():
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 2, 2] = np.nan
    x[0, 0, 4, 4] = np.inf
    s = samples(1, 1, 2)
    kw = dict(output_size=3, return_indices=True, _random_samples=s)
    check_function(F.fractional_max_pool2d, TF.fractional_max_pool2d, [x, 3], kw)


def test_key_draws_valid_windows_and_jits():
    x = jnp.asarray(randn(4, 8, 11, 9))
    f = jax.jit(
        lambda x, key: F.fractional_max_pool2d_with_indices(x, 2, output_ratio=0.5, key=key)
    )
    out, idx = f(x, jax.random.key(0))
    assert out.shape == (4, 8, 5, 4)
    flat = np.asarray(x).reshape(4, 8, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, np.asarray(idx).reshape(4, 8, -1), 2).reshape(out.shape), out
    )
    # every output row/column comes from a window of the input at torch's step bounds
    rows, cols = np.asarray(idx) // 9, np.asarray(idx) % 9
    assert rows.min() >= 0 and rows.max() <= 10 and cols.max() <= 8
    assert np.all(np.diff(rows.min(axis=3), axis=2) >= 0)
    out2, _ = f(x, jax.random.key(1))
    assert not np.array_equal(out, out2)
    np.testing.assert_array_equal(f(x, jax.random.key(0))[0], out)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: F.fractional_max_pool2d(jnp.ones((1, 2, 5, 5)), 2, output_size=3),
            r"pass key=sub.*key, sub = jax\.random\.split\(key\)",
        ),
        (
            lambda: F.fractional_max_pool2d(
                jnp.ones((1, 2, 5, 5)), 4, output_size=3, key=jax.random.key(0)
            ),
            "pool height 4 too large relative to input height 5",
        ),
        (
            lambda: F.fractional_max_pool2d(jnp.ones((1, 2, 5, 5)), 2, key=jax.random.key(0)),
            "requires specifying either an output_size or an output_ratio",
        ),
        (
            lambda: F.fractional_max_pool2d(
                jnp.ones((1, 2, 5, 5)), 2, output_size=3, _random_samples=jnp.ones((1, 3, 2))
            ),
            r"Expect _random_samples.size\(1\) equals to input channel size",
        ),
        (
            lambda: F.fractional_max_pool3d(
                jnp.ones((5, 5)), 2, output_size=3, key=jax.random.key(0)
            ),
            r"Expected 4D or 5D tensor",
        ),
        (
            lambda: nn.FractionalMaxPool2d(2, output_ratio=1.5),
            r"output_ratio must be between 0 and 1 \(got 1.5\)",
        ),
        (
            lambda: nn.FractionalMaxPool3d(2),
            "requires specifying either an output size, or a pooling ratio",
        ),
        (
            lambda: nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5),
            "only one of output_size and output_ratio",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("n", [2, pytest.param(3, marks=LONG)])
def test_module(n):
    s = torch.from_numpy(samples(2, 3, n))
    cls = f"FractionalMaxPool{n}d"
    tmod = getattr(tnn, cls)(2, output_ratio=0.5, _random_samples=s)
    jmod = getattr(nn, cls)(2, output_ratio=0.5, _random_samples=s)
    check_module(tmod, jmod, [randn(2, 3, *(6,) * n)])
    plain = getattr(nn, cls)((2,) * n, output_size=3, return_indices=True)
    assert (
        repr(plain) == repr(getattr(tnn, cls)((2,) * n, output_size=3)) and not plain.state_dict()
    )
    out, idx = plain(jnp.ones((3,) + (7,) * n), key=jax.random.key(0))
    assert out.shape == idx.shape == (3,) + (3,) * n
    with pytest.raises(ValueError, match="pass key="):
        plain(jnp.ones((3,) + (7,) * n))
