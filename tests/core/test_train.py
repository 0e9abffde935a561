"""``jaxnn.Optimizer``: torch's training loop, the model trained in place (issue #15).

The step is compared with torch's ``optimizer.step()`` on the same model and batches
(parameters AND buffers after several steps), then each promise is checked on its own:
frozen parameters untouched and not differentiated, buffers never decayed, dropout keys
fresh every step and reproducible, one compile per mode, shared modules kept shared, any
optax transformation, edits between steps seen, donation, Ctrl-C safety, exact resume.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import assert_close, copy_from_torch, randn


def _bn_net(lib):
    # No bias before BatchNorm: its gradient is zero up to rounding, which Adam would
    # turn into full-size steps of either sign.
    return lib.Sequential(
        lib.Linear(6, 8, bias=False), lib.BatchNorm1d(8), lib.ReLU(), lib.Linear(8, 3)
    )  # fmt: skip


def _shared_net(lib):
    shared = lib.Linear(6, 6)  # seed 002: the same layer used twice
    return lib.Sequential(shared, lib.ReLU(), shared, lib.Sigmoid(), lib.Linear(6, 3))


def _batches(n=3, size=8):
    return [(randn(size, 6, seed=s), np.arange(size, dtype=np.int32) % 3 + 0 * s) for s in range(n)]


def _ce(model, x, y):
    return F.cross_entropy(model(x), y)


# torch optimizer, optax twin (same update rule)
OPTIMIZERS = {
    "adam": (lambda p: torch.optim.Adam(p, lr=1e-2), lambda: optax.adam(1e-2)),
    "sgd momentum + weight decay": (
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda: optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.1, momentum=0.9)),
    ),
    "adamw": (
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.5),
        lambda: optax.adamw(1e-2, weight_decay=0.5),
    ),
}
MODELS = {"BatchNorm net": _bn_net, "shared Linear (seed 002)": _shared_net}
CASES = [("adam", "BatchNorm net"), ("sgd momentum + weight decay", "shared Linear (seed 002)"),
         ("adamw", "BatchNorm net")]  # fmt: skip


@pytest.mark.parametrize(("opt_name", "model_name"), CASES)
def test_steps_match_torch(opt_name, model_name):
    """Three steps: parameters and buffers as torch leaves them, in the model itself."""
    make_torch_opt, make_tx = OPTIMIZERS[opt_name]
    tmodel = MODELS[model_name](tnn)
    model = copy_from_torch(MODELS[model_name](nn), tmodel)
    topt = make_torch_opt(tmodel.parameters())
    opt = nn.Optimizer(model, make_tx())
    step = opt.make_step(_ce)
    first = model[0].weight
    for x, y in _batches():
        topt.zero_grad()
        tout = tmodel(torch.from_numpy(x))
        tloss = torch.nn.functional.cross_entropy(tout, torch.from_numpy(y).long())
        tloss.backward()
        topt.step()
        # The step takes torch tensors too (a DataLoader's batches), as model(x) does.
        loss = step(torch.from_numpy(x), torch.from_numpy(y).long())
        assert_close(loss, tloss, rtol=1e-5, atol=1e-6, what="loss")
    sd, tsd = model.state_dict(), tmodel.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert_close(sd[k], tsd[k], rtol=1e-5, atol=1e-6, what=k)
    assert opt.step_count == 3
    assert first.is_deleted()  # donated to the step, replaced in the model
    if model_name.startswith("shared"):
        assert model[0] is model[2]


class _Probe(nn.Module):
    """A frozen scale whose derivative must never be taken (its jvp rule raises)."""

    def __init__(self):
        super().__init__()
        self.scale = jnp.ones(6)

    def forward(self, x):
        return x * _no_derivative(self.scale)[None, :]


@jax.custom_jvp
def _no_derivative(w):
    return w


@_no_derivative.defjvp
def _no_derivative_jvp(primals, tangents):
    raise AssertionError("the gradient of a frozen parameter was computed")


def test_frozen_parameters_untouched_and_not_differentiated():
    model = nn.Sequential(_Probe(), nn.Linear(6, 3))
    frozen = model[0].scale
    model[0].requires_grad_(False)
    opt = nn.Optimizer(model, optax.adamw(1e-2, weight_decay=1.0))
    step = opt.make_step(_ce)
    w = np.asarray(model[1].weight)
    for x, y in _batches(2):
        step(jnp.asarray(x), jnp.asarray(y))
    assert model[0].scale is frozen  # not donated, not rewritten
    assert not np.array_equal(np.asarray(model[1].weight), w)
    assert sorted(opt.state[0].mu) == ["1.bias", "1.weight"]
    # The probe can fail: trainable, its derivative is taken and the jvp rule raises.
    model[0].requires_grad_(True)
    with pytest.raises(AssertionError, match="frozen parameter"):
        nn.Optimizer(model, optax.sgd(0.1)).make_step(_ce)(*map(jnp.asarray, _batches(1)[0]))


def _dropout_net():
    return nn.Sequential(nn.Linear(6, 32), nn.Dropout(0.5), nn.Linear(32, 3))


def test_dropout_gets_a_fresh_key_every_step_and_is_reproducible():
    x, y = map(jnp.asarray, _batches(1)[0])
    model = nn.Sequential(nn.Linear(6, 32), nn.Dropout(0.5), nn.Linear(32, 3))
    opt = nn.Optimizer(model, optax.sgd(0.0), key=jax.random.key(3))
    step = opt.make_step(_ce)
    runs = []
    for _ in range(2):
        opt.key = jax.random.key(3)
        runs.append([float(step(x, y)) for _ in range(3)])
    assert runs[0] == runs[1]  # same key, same masks
    assert len(set(runs[0])) == 3  # lr 0: only the masks differ between steps


def test_one_compile_per_mode_buffers_aux_and_extra_arguments():
    """Evaluating inside the loop (eval, then train) compiles each mode once; in eval
    mode even AdamW's weight decay leaves the buffers alone; aux outputs, extra
    positional and keyword arguments reach the loss."""
    traces = []

    def loss_fn(model, x, y, mask, *, scale):
        traces.append(model[1].training)
        out = model(x)
        loss = (F.cross_entropy(out, y, reduction="none") * mask).mean() * scale
        return loss, {"accuracy": (out.argmax(1) == y).mean()}

    model = _bn_net(nn)
    opt = nn.Optimizer(model, optax.adamw(1e-1, weight_decay=1.0), key=jax.random.key(3))
    step = opt.make_step(loss_fn, has_aux=True)
    x, y = map(jnp.asarray, _batches(1)[0])
    for _ in range(3):
        loss, aux = step(x, y, jnp.ones(8), scale=2.0)
        model.eval()  # evaluate inside the loop, as in torch
        model(x)
        model.train()
    assert loss.shape == () and 0 <= float(aux["accuracy"]) <= 1
    assert int(model[1].num_batches_tracked) == 3
    model.eval()
    buffers = {k: np.asarray(v) for k, v in model.named_buffers()}
    w = np.asarray(model[0].weight)
    step(x, y, jnp.ones(8), scale=2.0)  # training in eval mode: its own compile, once
    step(x, y, jnp.ones(8), scale=2.0)
    for k, v in model.named_buffers():
        np.testing.assert_array_equal(np.asarray(v), buffers[k], err_msg=k)
    assert not np.array_equal(np.asarray(model[0].weight), w)
    model.train()
    step(x, y, jnp.ones(8), scale=2.0)
    assert traces == [True, False]
    edits = nn._module.EDITS[0]
    model.train()  # torch's habit of calling it every step: changes nothing, re-checks nothing
    assert nn._module.EDITS[0] == edits
    # No dropout: the key is passed on unsplit.
    np.testing.assert_array_equal(
        jax.random.key_data(opt.key), jax.random.key_data(jax.random.key(3))
    )


def test_any_optax_transformation():
    x, y = map(jnp.asarray, _batches(1)[0])
    # MultiSteps: the update lands every 3rd call; the BatchNorm buffers every call.
    model = _bn_net(nn)
    step = nn.Optimizer(model, optax.MultiSteps(optax.adam(1e-2), 3)).make_step(_ce)
    w = np.asarray(model[0].weight)
    step(x, y), step(x, y)
    np.testing.assert_array_equal(np.asarray(model[0].weight), w)
    assert int(model[1].num_batches_tracked) == 2
    step(x, y)
    assert not np.array_equal(np.asarray(model[0].weight), w)
    # Labels by torch's names (biases are not trained), behind a clipping, on a schedule.
    model = _bn_net(nn)
    labels = lambda p: {k: "frozen" if k.endswith("bias") else "train" for k in p}  # noqa: E731
    adam = optax.adam(optax.linear_schedule(1e-2, 0.0, 10))
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.multi_transform({"train": adam, "frozen": optax.set_to_zero()}, labels),
    )
    step = nn.Optimizer(model, tx).make_step(_ce)
    b, w = np.asarray(model[3].bias), np.asarray(model[3].weight)
    step(x, y)
    np.testing.assert_array_equal(np.asarray(model[3].bias), b)
    assert not np.array_equal(np.asarray(model[3].weight), w)


def test_edits_between_steps_are_seen():
    x, y = map(jnp.asarray, _batches(1)[0])
    model = _bn_net(nn)
    opt = nn.Optimizer(model, optax.sgd(0.1))
    step = opt.make_step(_ce)
    step(x, y)
    old, new = model[3], nn.Linear(8, 3)
    model[3] = new  # same shapes: the new layer trains, the old one is left alone
    w_old, w_new = np.asarray(old.weight), np.asarray(new.weight)
    step(x, y)
    assert not np.array_equal(np.asarray(model[3].weight), w_new)
    np.testing.assert_array_equal(np.asarray(old.weight), w_old)
    model.load_state_dict({k: jnp.zeros_like(v) for k, v in model.state_dict().items()})
    step(x, y)  # trains from the loaded zeros
    assert float(jnp.abs(model[0].weight).max()) < 1.0
    model[0].requires_grad_(False)
    with pytest.raises(ValueError, match=r"no longer trained: \['0.weight'\]"):
        step(x, y)
    model[0].requires_grad_(True)
    model[3] = nn.Linear(8, 5)
    with pytest.raises(ValueError, match=r"other shape or dtype: \['3.bias', '3.weight'\]"):
        step(x, jnp.zeros(8, jnp.int32))


def test_in_place_edits_inside_transformations_raise():
    """DESIGN rule 2: the loss cannot edit the model, the step cannot run under jit."""
    x, y = map(jnp.asarray, _batches(1)[0])
    step = nn.Optimizer(_bn_net(nn), optax.sgd(0.1)).make_step(lambda m, x, y: _ce(m.eval(), x, y))
    with pytest.raises(RuntimeError, match="inside a JAX transformation"):
        step(x, y)
    step = nn.Optimizer(_bn_net(nn), optax.sgd(0.1)).make_step(_ce)
    with pytest.raises(RuntimeError, match="step.scan"):
        jax.jit(step)(x, y)


def test_donation_and_tied_arrays():
    x, y = map(jnp.asarray, _batches(1)[0])
    model = _bn_net(nn)
    w = model[0].weight
    nn.Optimizer(model, optax.sgd(0.1)).make_step(_ce, donate=False)(x, y)
    assert not w.is_deleted()
    # One array assigned to two layers: the step follows the pytree. Where it holds one
    # leaf, the step keeps the tie; where it holds two, donating both is refused.
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.Linear(6, 3))
    model[2].weight = model[0].weight
    step = nn.Optimizer(model, optax.sgd(0.1)).make_step(_ce)
    if len(jax.tree.leaves(model)) == 7:
        step(x, y)
        assert model[0].weight is model[2].weight
    else:
        with pytest.raises(ValueError, match="held at '0.weight' and at '2.weight'"):
            step(x, y)


def test_bad_arguments_say_what_to_do():
    model = _bn_net(nn)
    with pytest.raises(TypeError, match="tx must be an optax GradientTransformation"):
        nn.Optimizer(model, torch.optim.SGD)
    with pytest.raises(TypeError, match="model must be a jaxnn Module"):
        nn.Optimizer(tnn.Linear(2, 2), optax.sgd(0.1))
    with pytest.raises(ValueError, match="empty parameter list"):
        nn.Optimizer(nn.Sequential(nn.Linear(2, 2)).requires_grad_(False), optax.sgd(0.1))
    opt = nn.Optimizer(model, optax.sgd(0.1))
    with pytest.raises(AttributeError, match="zero_grad.*make_step"):
        opt.zero_grad()
    x, y = map(jnp.asarray, _batches(1)[0])
    with pytest.raises(TypeError, match="has_aux=True"):
        opt.make_step(lambda m, x, y: (_ce(m, x, y), 0.0))(x, y)
    with pytest.raises(TypeError, match="scalar floating-point loss"):
        opt.make_step(lambda m, x, y: m(x))(x, y)
    with pytest.raises(ValueError, match="structure"):
        opt.state = optax.adam(1e-3).init({"w": jnp.zeros(2)})


def test_ctrl_c_never_leaves_the_model_half_written():
    """A KeyboardInterrupt raised at any bytecode boundary of a step (Python checks for
    signals at a subset of them) leaves every array of the model and of the optimizer
    valid, and the weights matching the step count: the donation and the write-back
    happen inside one C-level call. (A write-back written as a Python loop fails this at
    about half of the boundaries.)"""
    model = nn.Linear(4, 1, bias=False)
    model.weight = jnp.zeros((1, 4))
    opt = nn.Optimizer(model, optax.sgd(1.0))
    step = opt.make_step(lambda m, x: m(x).sum())  # gradient 1: each step subtracts 1
    x = jnp.ones((1, 4))
    step(x)
    codes = {type(step).__call__.__code__, type(step)._run.__code__}
    boundary, interrupted = 0, True
    while interrupted:
        boundary += 1
        seen = [0]

        def local(frame, event, arg, n=boundary, seen=seen):
            if event == "opcode":
                seen[0] += 1
                if seen[0] == n:
                    raise KeyboardInterrupt
            return local

        def trace(frame, event, arg, local=local):
            if frame.f_code in codes:
                frame.f_trace_opcodes = True
                return local
            return None

        sys.settrace(trace)
        try:
            step(x)
            interrupted = False
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        assert not model.weight.is_deleted(), boundary
        assert all(not a.is_deleted() for a in jax.tree.leaves(opt.state)), boundary
        np.testing.assert_array_equal(np.asarray(model.weight), -opt.step_count)
    assert boundary > 20  # the sweep reached past the compiled call


def test_checkpoint_resumes_exactly_and_scan_runs_the_same_steps(tmp_path):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = nn.Optimizer(model, optax.adam(1e-2), key=jax.random.key(1))
    step = opt.make_step(_ce)
    batches = [tuple(map(jnp.asarray, b)) for b in _batches(4)]
    losses = [float(step(*b)) for b in batches[:2]]
    opt.save_checkpoint(tmp_path / "ckpt.safetensors", extra={"epoch": 0})
    losses += [float(step(*b)) for b in batches[2:]]
    full = {k: np.asarray(v) for k, v in model.state_dict().items()}
    # Back to the checkpoint (model in place, optimizer state, key, step count): the same
    # two steps again give the same losses and weights, bit for bit.
    assert opt.load_checkpoint(tmp_path / "ckpt.safetensors") == {"epoch": 0}
    assert opt.step_count == 2
    assert [float(step(*b)) for b in batches[2:]] == losses[2:]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), full[k], err_msg=k)
    # The same two steps as one lax.scan over the stacked batches.
    opt.load_checkpoint(tmp_path / "ckpt.safetensors")
    xs, ys = (jnp.stack(v) for v in zip(*batches[2:], strict=True))
    np.testing.assert_allclose(np.asarray(step.scan(xs, ys)), losses[2:], rtol=1e-5)
    assert opt.step_count == 4
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(np.asarray(v), full[k], rtol=1e-5, atol=1e-6, err_msg=k)
