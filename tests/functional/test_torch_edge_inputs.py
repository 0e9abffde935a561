"""Valid torch inputs that jaxnn used to reject or get wrong (issue #16): empty 1-D
batch_norm, 0-d margin losses, LPPool with a fractional power of negative inputs (NaN
gradients, as torch), and complex forwards torch computes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from tests.parity import check_function, randn


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_empty_1d(training):
    empty = np.zeros((0,), np.float32)
    out = F.batch_norm(
        jnp.asarray(empty), jnp.asarray(empty), jnp.asarray(empty), training=training
    )
    ref = TF.batch_norm(torch.zeros(0), torch.zeros(0), torch.zeros(0), training=training)
    assert out.shape == tuple(ref.shape) == (0,)


def _long(tfn):
    return lambda x, t, **kw: tfn(x, t.long(), **kw)


# fmt: off
ZERO_D = [
    ("multi-margin-p1", F.multi_margin_loss, _long(TF.multi_margin_loss), dict(reduction="none")),
    ("multi-margin-p2-weight", F.multi_margin_loss, _long(TF.multi_margin_loss), dict(p=2, margin=0.5, weight=np.array([2.0], np.float32))),
    ("multilabel-margin-sum", F.multilabel_margin_loss, _long(TF.multilabel_margin_loss), dict(reduction="sum")),
]
# fmt: on


@pytest.mark.parametrize(
    ("jfn", "tfn", "kwargs"), [c[1:] for c in ZERO_D], ids=[c[0] for c in ZERO_D]
)
def test_margin_losses_on_0d_input(jfn, tfn, kwargs):
    check_function(jfn, tfn, [np.array(0.3, np.float32), np.array(0)], kwargs)


X1 = np.array([[[-1.0, 2.0, 0.5, -3.0, 0.0, 1.0, 0.0, 0.0]]], np.float32)


@pytest.mark.parametrize("p", [1.5, 0.5, -1.5, 3])
def test_lp_pool_fractional_power_of_negative_inputs(p):
    # A window whose x**p is NaN sends NaN to every input of it, as torch's backward does.
    check_function(F.lp_pool1d, TF.lp_pool1d, [X1, p, 2])


def test_lp_pool2d_nan_window():
    x = randn(1, 2, 4, 4)
    check_function(F.lp_pool2d, TF.lp_pool2d, [x, 1.5, 2])


Z = (randn(3, 4) + 1j * randn(3, 4, seed=1)).astype(np.complex64)
Z[0, 0] = 0


@pytest.mark.parametrize("name", ["silu", "softsign", "tanhshrink"])
def test_complex_forward(name):
    # torch has no complex backward for these: the forward is what it computes.
    check_function(getattr(F, name), getattr(TF, name), [Z])


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_l1_loss_complex(reduction):
    check_function(F.l1_loss, TF.l1_loss, [Z, Z[::-1].copy()], dict(reduction=reduction))
    # the real loss's gradient at d = 0 is 0, as torch's sgn
    g = jax.grad(lambda z: F.l1_loss(z, jnp.zeros_like(z), reduction="sum"))(jnp.asarray(Z))
    assert g[0, 0] == 0
