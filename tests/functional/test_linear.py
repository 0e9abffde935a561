"""Parity of jaxnn.functional.linear / bilinear with torch, and torch's shape errors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.functional.test_activation import check_jitted_together
from tests.parity import check_function, randn

# id, input shape, weight shape, bias shape (None: no bias)
LINEAR = [
    ("2d", (4, 5), (3, 5), (3,)),
    ("no-bias", (4, 5), (3, 5), None),
    ("3d-input", (2, 4, 5), (3, 5), (3,)),
    ("1d-input", (5,), (3, 5), (3,)),
    ("1d-weight", (4, 5), (5,), None),
    ("1d-input-1d-weight", (5,), (5,), None),
    ("empty-batch", (0, 5), (3, 5), (3,)),
    ("bias-full-shape", (4, 5), (3, 5), (4, 3)),
    ("bias-scalar", (2, 4, 5), (3, 5), ()),
    ("bias-size-1", (4, 5), (3, 5), (1,)),
]


def _linear_args(x_shape, w_shape, b_shape, dtype=np.float32):
    args = [randn(*x_shape, dtype=dtype, seed=1), randn(*w_shape, dtype=dtype, seed=2)]
    if b_shape is not None:
        args.append(np.asarray(randn(*b_shape, dtype=dtype, seed=3)))
    return args


@pytest.mark.parametrize(
    "x_shape,w_shape,b_shape", [c[1:] for c in LINEAR], ids=[c[0] for c in LINEAR]
)
def test_linear(x_shape, w_shape, b_shape):
    check_function(F.linear, TF.linear, _linear_args(x_shape, w_shape, b_shape), jit=False)


def test_linear_float64(x64):
    check_function(F.linear, TF.linear, _linear_args((2, 4, 5), (3, 5), (3,), np.float64))


def test_linear_bfloat16():
    args = [jnp.asarray(a, jnp.bfloat16) for a in _linear_args((4, 5), (3, 5), (3,))]
    out = check_function(F.linear, TF.linear, args, grad=False, jit=False)
    assert out.dtype == jnp.bfloat16


def test_seed_001_section_5_2():
    """The seed's F.linear(x, w, b) with w of shape (100, 10): torch raises, so do we."""
    x, b = randn(10, 100, seed=1), randn(10, seed=3)
    with pytest.raises(
        RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(10x100 and 10x100\)"
    ):
        TF.linear(
            torch.from_numpy(x), torch.from_numpy(randn(100, 10, seed=2)), torch.from_numpy(b)
        )
    msg = (
        r"mat1 and mat2 shapes cannot be multiplied \(10x100 and 10x100\).*transpose it: pass w\.T"
    )
    with pytest.raises(ValueError, match=msg):
        F.linear(jnp.asarray(x), jnp.asarray(randn(100, 10, seed=2)), jnp.asarray(b))
    # With torch's (out_features, in_features) layout it runs and matches, then F.relu.
    w = randn(10, 100, seed=2)
    check_function(
        lambda x, w, b: F.relu(F.linear(x, w, b)),
        lambda x, w, b: TF.relu(TF.linear(x, w, b)),
        [x, w, b],
    )


# The shapes torch reports: leading dims of input flattened to rows, then weight.T's shape.
MISMATCH = [
    ("2d", (10, 100), (100, 10), "10x100 and 10x100"),
    ("3d", (2, 5, 100), (100, 10), "10x100 and 10x100"),
    ("1d", (100,), (100, 10), "1x100 and 10x100"),
    ("empty", (0, 99), (10, 100), "0x99 and 100x10"),
]


@pytest.mark.parametrize(
    "x_shape,w_shape,shapes", [c[1:] for c in MISMATCH], ids=[c[0] for c in MISMATCH]
)
def test_linear_mismatch_message_is_torchs(x_shape, w_shape, shapes):
    x, w = np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32)
    with pytest.raises(RuntimeError) as torch_err:
        TF.linear(torch.from_numpy(x), torch.from_numpy(w))
    assert f"({shapes})" in str(torch_err.value)
    with pytest.raises(ValueError) as ours:
        F.linear(jnp.asarray(x), jnp.asarray(w))
    assert str(ours.value).startswith(str(torch_err.value))


LINEAR_ERRORS = [
    (
        "bias-size",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones((4, 5)), jnp.ones(6)),
        ValueError,
        r"bias of shape \(6,\) does not broadcast to the output shape \(3, 4\); bias should have shape \(out_features,\) = \(4,\)",
    ),
    (
        "bias-rank",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones((4, 5)), jnp.ones((2, 3, 4))),
        ValueError,
        r"bias of shape \(2, 3, 4\) does not broadcast",
    ),
    (
        "dtype",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones((4, 5), jnp.bfloat16)),
        TypeError,
        r"same dtype, but got float32 and bfloat16",
    ),
    (
        "0d-input",
        lambda: F.linear(jnp.ones(()), jnp.ones((4, 5))),
        ValueError,
        r"both arguments to linear need to be at least 1D, but they are 0D and 2D",
    ),
    (
        "3d-weight",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones((2, 4, 5))),
        ValueError,
        r"weight must be 1-d or 2-d",
    ),
    (
        "1d-weight-size",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones(4)),
        ValueError,
        r"size mismatch, got input \(3\), mat \(3x5\), vec \(4\)",
    ),
    (
        "1d-weight-bias",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones(5), jnp.ones(1)),
        ValueError,
        r"pass weight\[None, :\]",
    ),
    (
        "no-transpose-hint",
        lambda: F.linear(jnp.ones((3, 5)), jnp.ones((4, 6))),
        ValueError,
        r"\(3x5 and 6x4\).*input.s last dimension must equal weight.shape\[1\] = 6, got 5",
    ),
]


@pytest.mark.parametrize(
    "call,exc,match", [c[1:] for c in LINEAR_ERRORS], ids=[c[0] for c in LINEAR_ERRORS]
)
def test_linear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# id, input1 shape, input2 shape, weight shape, bias?
BILINEAR = [
    ("2d", (3, 4), (3, 5), (6, 4, 5), True),
    ("no-bias", (3, 4), (3, 5), (6, 4, 5), False),
    ("1d", (4,), (5,), (6, 4, 5), True),
    ("3d", (2, 3, 4), (2, 3, 5), (6, 4, 5), True),
    ("empty-batch", (0, 4), (0, 5), (6, 4, 5), True),
]


def _bilinear_args(s1, s2, sw, bias, dtype=np.float32):
    args = [
        randn(*s1, dtype=dtype, seed=1),
        randn(*s2, dtype=dtype, seed=2),
        randn(*sw, dtype=dtype, seed=3),
    ]
    return args + ([randn(sw[0], dtype=dtype, seed=4)] if bias else [])


@pytest.mark.parametrize("s1,s2,sw,bias", [c[1:] for c in BILINEAR], ids=[c[0] for c in BILINEAR])
def test_bilinear(s1, s2, sw, bias):
    check_function(F.bilinear, TF.bilinear, _bilinear_args(s1, s2, sw, bias), jit=False)


def test_all_under_jit():
    cases = [(F.linear, TF.linear, _linear_args(*c[1:]), {}) for c in LINEAR]
    cases += [(F.bilinear, TF.bilinear, _bilinear_args(*c[1:]), {}) for c in BILINEAR]
    check_jitted_together(cases)


def test_bilinear_float64(x64):
    check_function(
        F.bilinear, TF.bilinear, _bilinear_args((3, 4), (3, 5), (6, 4, 5), True, np.float64)
    )


BILINEAR_ERRORS = [
    (
        "rank",
        lambda: F.bilinear(jnp.ones((2, 3, 4)), jnp.ones((3, 5)), jnp.ones((6, 4, 5))),
        r"input dimensions do not match: got 3 and 2",
    ),
    (
        "batch",
        lambda: F.bilinear(jnp.ones((3, 4)), jnp.ones((2, 5)), jnp.ones((6, 4, 5))),
        r"input batch dimensions do not match at dim 0: got 3 and 2",
    ),
    (
        "in1",
        lambda: F.bilinear(jnp.ones((3, 4)), jnp.ones((3, 5)), jnp.ones((6, 5, 5))),
        r"input1 size does not match weight size: got 4 but expected 5",
    ),
    (
        "in2",
        lambda: F.bilinear(jnp.ones((3, 4)), jnp.ones((3, 5)), jnp.ones((6, 4, 4))),
        r"input2 size does not match weight size: got 5 but expected 4",
    ),
    (
        "bias",
        lambda: F.bilinear(jnp.ones((3, 4)), jnp.ones((3, 5)), jnp.ones((6, 4, 5)), jnp.ones(7)),
        r"bias size does not match weight size: got bias of shape \(7,\) but expected \(6,\)",
    ),
    (
        "weight-rank",
        lambda: F.bilinear(jnp.ones((3, 4)), jnp.ones((3, 5)), jnp.ones((4, 5))),
        r"weight must be 3-d",
    ),
    ("0d", lambda: F.bilinear(jnp.ones(()), jnp.ones(()), jnp.ones((6, 1, 1))), r"at least 1-d"),
]


@pytest.mark.parametrize(
    "call,match", [c[1:] for c in BILINEAR_ERRORS], ids=[c[0] for c in BILINEAR_ERRORS]
)
def test_bilinear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_linear_module_blames_the_input_not_the_weight():
    # torch's message, then the fix: nn.Linear's weight is right by construction.
    import jax

    import jaxnn as nn

    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x50 and 100x50\)"):
        torch.nn.Linear(100, 50)(torch.ones(2, 50))
    msg = (
        r"mat1 and mat2 shapes cannot be multiplied \(2x50 and 100x50\): Linear\(in_features=100, "
        r"out_features=50, bias=True\) takes input of shape \(\*, 100\), got \(2, 50\)"
    )
    with pytest.raises(ValueError, match=msg) as exc:
        nn.Linear(100, 50)(jnp.ones((2, 50)))
    assert "w.T" not in str(exc.value)
    with pytest.raises(ValueError, match=msg):
        jax.jit(lambda m, x: m(x))(nn.Linear(100, 50), jnp.ones((2, 50)))
