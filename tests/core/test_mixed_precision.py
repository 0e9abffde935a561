"""Mixed precision: ``model.to(jnp.bfloat16)`` / ``.half()`` cast and train (issue #7).

A small CNN with BatchNorm and Dropout is cast like torch casts it (floating parameters and
buffers, never ``num_batches_tracked``), its first training step is compared with torch's
twin in the same dtype, and it trains: bfloat16 plainly, float16 with the loss scaling the
README describes.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import TOL, assert_close, copy_from_torch, randn

TORCH_DTYPE = {jnp.bfloat16: torch.bfloat16, jnp.float16: torch.float16}


def _cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 4, 3, padding=1, bias=False),
        lib.BatchNorm2d(4),
        lib.ReLU(),
        lib.MaxPool2d(2),
        lib.Flatten(),
        lib.Linear(4 * 4 * 4, 3),
    )


def _data(n=32, seed=0):
    x = randn(n, 1, 8, 8, seed=seed)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int32) + (x[:, 0, 4:].mean(axis=(1, 2)) > 0)
    return x, y.astype(np.int32)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("how", ["to", "method"])
def test_cast_follows_torch(dtype, how):
    tmodel = _cnn(tnn)
    model = copy_from_torch(_cnn(nn), tmodel)
    if how == "to":
        model = model.to(dtype)
        tmodel = tmodel.to(TORCH_DTYPE[dtype])
    else:
        name = "bfloat16" if dtype == jnp.bfloat16 else "half"
        assert getattr(model, name)() is model  # torch's in-place verb returns self
        getattr(tmodel, name)()
    for (name, value), (tname, tvalue) in zip(
        model.state_dict().items(), tmodel.state_dict().items(), strict=True
    ):
        assert name == tname
        expected = str(tvalue.dtype).removeprefix("torch.")
        expected = {"int64": "int32"}.get(expected, expected)  # rule 7: int32 without x64
        assert jnp.dtype(value.dtype).name == expected, name


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
def test_first_training_step_matches_torch(dtype):
    x, y = _data()
    tmodel = _cnn(tnn)
    model = copy_from_torch(_cnn(nn), tmodel).to(dtype)
    tmodel = tmodel.to(TORCH_DTYPE[dtype]).train()
    tx = torch.from_numpy(x).to(TORCH_DTYPE[dtype])
    tloss = torch.nn.functional.cross_entropy(tmodel(tx).float(), torch.from_numpy(y).long())
    tloss.backward()

    params, rest = eqx.partition(model, nn.trainable(model))

    @jax.jit
    def loss_and_grad(params, x, y):
        def loss_fn(p):
            out, new = nn.forward(eqx.combine(p, rest), x)
            return F.cross_entropy(out.astype(jnp.float32), y), new

        return jax.value_and_grad(loss_fn, has_aux=True)(params)

    (loss, new_model), grads = loss_and_grad(params, jnp.asarray(x, dtype), jnp.asarray(y))
    tol = TOL[jnp.dtype(dtype)]
    assert_close(loss, tloss, what="loss", **tol)
    # bf16/f16 gradients of a whole network: round-off compounds through the layers, so
    # the comparison is relative to each gradient's scale.
    tgrads = {k: p.grad.float().numpy() for k, p in tmodel.named_parameters()}
    jgrads = dict(eqx.combine(grads, rest).named_parameters())
    for name, tg in tgrads.items():
        g = np.asarray(jgrads[name]).astype(np.float32)
        scale = np.abs(tg).max() + 1e-3
        np.testing.assert_allclose(g / scale, tg / scale, atol=5e-2, err_msg=name)
    assert jgrads["0.weight"].dtype == dtype
    stats = dict(new_model.named_buffers())
    tstats = dict(tmodel.named_buffers())
    assert stats["1.running_mean"].dtype == dtype
    assert_close(stats["1.running_mean"], tstats["1.running_mean"], **tol)
    assert_close(stats["1.running_var"], tstats["1.running_var"], **tol)
    assert int(stats["1.num_batches_tracked"]) == 1


def _cast(tree, dtype):
    """Floating leaves of ``tree`` in ``dtype`` (a pure ``.to(dtype)``, usable under jit)."""
    return jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, tree)


def _train(model, x, y, steps, compute_dtype=None, loss_scale=None):
    """Adam on ``model``; with ``compute_dtype`` the README's float16 recipe.

    float16: float32 master weights, the forward and backward in float16, the loss scaled
    before ``grad`` and the gradients unscaled after, steps with non-finite gradients
    skipped. (A pure-float16 Adam fails: its eps=1e-8 is 0 in float16.)
    """
    opt = optax.adam(1e-2)
    params, rest = eqx.partition(model, nn.trainable(model))
    opt_state = opt.init(params)
    scale = 1.0 if loss_scale is None else loss_scale

    @jax.jit
    def step(params, rest, opt_state, x, y):
        def loss_fn(p):
            m = eqx.combine(p, rest)
            xin = x
            if compute_dtype is not None:
                m, xin = _cast(m, compute_dtype), x.astype(compute_dtype)
            out, new = nn.forward(m, xin)
            loss = F.cross_entropy(out.astype(jnp.float32), y)
            return loss * scale, (loss, new)

        grads, (loss, new) = jax.grad(loss_fn, has_aux=True)(params)
        grads = jax.tree.map(lambda g: g / scale, grads)
        finite = jnp.all(jnp.array([jnp.isfinite(g).all() for g in jax.tree.leaves(grads)]))
        updates, new_opt = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)

        def keep(a, b):
            return jax.tree.map(lambda u, v: jnp.where(finite, u, v), a, b)

        _, new_rest = eqx.partition(new, nn.trainable(new))
        new_rest = _cast(new_rest, jax.tree.leaves(params)[0].dtype)  # buffers stay master dtype
        return keep(new_params, params), keep(new_rest, rest), keep(new_opt, opt_state), loss

    losses = []
    for _ in range(steps):
        params, rest, opt_state, loss = step(params, rest, opt_state, x, y)
        losses.append(float(loss))
    return eqx.combine(params, rest), losses


def test_trains_in_bfloat16():
    x, y = _data(64)
    model = _cnn(nn).to(jnp.bfloat16)
    trained, losses = _train(model, jnp.asarray(x, jnp.bfloat16), jnp.asarray(y), 40)
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses
    leaves = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    assert {leaf.dtype for leaf in leaves} == {jnp.dtype(jnp.bfloat16)}
    trained.eval()
    acc = float((trained(jnp.asarray(x, jnp.bfloat16)).argmax(-1) == jnp.asarray(y)).mean())
    assert acc > 0.8, acc


def test_trains_in_float16_with_master_weights_and_loss_scaling():
    x, y = _data(64)
    trained, losses = _train(_cnn(nn), jnp.asarray(x), jnp.asarray(y), 40, jnp.float16, 2.0**12)
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses
    trained.eval()
    acc = float((trained.half()(jnp.asarray(x, jnp.float16)).argmax(-1) == jnp.asarray(y)).mean())
    assert acc > 0.8, acc
