"""What a traced conversion means, on small custom models (fast, CI).

Training-mode branches, PRNG keys for dropout, in-place ops, several call signatures,
structured outputs, weight tying, saving and loading back into torch, and the errors:
every unsupported op listed at conversion with its module and source line.
"""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import jaxnn as nn
from tests.interop.real_models import rel
from tests.parity import randn, to_numpy


def _x(*shape: int) -> torch.Tensor:
    return torch.from_numpy(randn(*shape))


class Branchy(tnn.Module):
    def __init__(self):
        super().__init__()
        self.lin = tnn.Linear(4, 4)
        self.bn = tnn.BatchNorm1d(4)

    def forward(self, x):
        y = self.bn(self.lin(x))
        if self.training:
            return y * 2
        return y - 1


def test_training_flag_selects_the_traced_branch():
    tm = Branchy()
    jm = nn.from_torch(tm, example_inputs=(_x(3, 4),))
    x = _x(5, 4)
    for train in (True, False):
        tm.train(train)
        jm.train(train)
        with torch.no_grad():
            ref = tm(x)
        out, jm = nn.forward(jm, jnp.asarray(x.numpy()))  # training moves BatchNorm's stats
        assert rel(out, to_numpy(ref)) < 1e-6
        assert rel(jm.bn.running_mean, to_numpy(tm.bn.running_mean)) < 1e-6


class Noisy(tnn.Module):
    def __init__(self):
        super().__init__()
        self.drop = tnn.Dropout(0.5)
        self.lin = tnn.Linear(8, 8)

    def forward(self, x):
        return TF.dropout(self.lin(self.drop(x)), 0.25, self.training)


@pytest.mark.long  # CI: the key checks of test_traced_modules_under_checkpoint
def test_dropout_takes_key_in_training_and_nothing_in_eval():
    tm = Noisy()
    jm = nn.from_torch(tm, example_inputs=(_x(2, 8),))
    x = jnp.ones((64, 8))
    jm.train()
    with pytest.raises(ValueError, match=r"key"):
        jm(x)
    a = jm(x, key=jax.random.key(0))
    b = jm(x, key=jax.random.key(0))
    c = jax.jit(lambda m, x, k: m(x, key=k))(jm, x, jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # The functional dropout (p=0.25) zeroes about a quarter of the outputs; the module's
    # (p=0.5, before the Linear) changes the others from one key to the next.
    zeros = float(jnp.mean(c == 0))
    assert 0.15 < zeros < 0.35, zeros
    both = (a != 0) & (c != 0)
    assert not np.allclose(np.asarray(a)[both], np.asarray(c)[both])
    jm.eval()
    tm.eval()
    with torch.no_grad():
        ref = tm(torch.ones(64, 8))
    assert rel(jm(x), to_numpy(ref)) < 1e-6


@pytest.mark.long  # CI: test_traced_modules_under_checkpoint (Noisy in a Sequential)
def test_a_traced_module_inside_a_container_gets_its_share_of_the_key():
    tm = tnn.Sequential(tnn.Linear(8, 8), Noisy())
    jm = nn.from_torch(tm, example_inputs=(_x(2, 8),)).train()
    x = jnp.ones((64, 8))
    with pytest.raises(ValueError, match=r"key"):
        jm(x)
    a, b = jm(x, key=jax.random.key(0)), jm(x, key=jax.random.key(1))
    assert not np.array_equal(a, b)


class Checkpointed(nn.Module):
    """A jaxnn model running converted blocks under ``nn.checkpoint`` (torch's
    ``torch.utils.checkpoint.checkpoint(block, x)``)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        h = self.net[1](nn.checkpoint(self.net[0], x))  # Branchy: BatchNorm inside
        return nn.checkpoint(self.net[2], h)  # Noisy: dropout inside


def _branchy_noisy():
    tm = tnn.Sequential(Branchy(), tnn.Linear(4, 8), Noisy())
    return tm, nn.from_torch(tm, example_inputs=(_x(3, 4),)).train()


def test_traced_modules_under_checkpoint():
    """Generated modules take part in the buffer and key scopes: under ``nn.checkpoint``
    BatchNorm's update still comes back to ``nn.forward``, and dropout draws from the model
    call's key (none given: the error)."""
    tm, jm = _branchy_noisy()
    model = Checkpointed(jm)
    x = jnp.asarray(randn(6, 4))
    with pytest.raises(ValueError, match=r"key"):
        nn.forward(model, x)
    run = jax.jit(lambda m, x, k: nn.forward(m, x, key=k))
    a, new = run(model, x, jax.random.key(0))
    b, _ = run(model, x, jax.random.key(0))
    c, _ = run(model, x, jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    tm.train()
    with torch.no_grad():
        tm(torch.from_numpy(np.array(x)))  # torch's statistics after the same batch
    assert int(new.net[0].bn.num_batches_tracked) == 1
    assert rel(new.net[0].bn.running_var, to_numpy(tm[0].bn.running_var)) < 1e-6


@pytest.mark.long
def test_an_optimizer_step_hands_its_key_to_traced_modules():
    """``nn.Optimizer`` splits a key for every step when some module may draw one (a
    generated class whose program draws declares ``_uses_key``)."""
    _, jm = _branchy_noisy()
    x = jnp.asarray(randn(6, 4))
    opt = nn.Optimizer(jm, optax.sgd(0.1))
    step = opt.make_step(lambda m, x: (m(x) ** 2).mean())
    before = np.asarray(jm[1].weight)
    step(x), step(x)
    assert opt.step_count == 2 and not np.allclose(jm[1].weight, before)
    assert int(jm[0].bn.num_batches_tracked) == 2


class InPlace(tnn.Module):
    def __init__(self):
        super().__init__()
        self.act = tnn.ReLU(inplace=True)

    def forward(self, x):
        y = x * 2
        z = self.act(y)  # torch overwrites y: the next line reads relu(y)
        y.add_(1)
        return y + z


def test_in_place_ops_mean_what_they_mean_in_torch():
    tm = InPlace()
    jm = nn.from_torch(tm, example_inputs=(_x(2, 3),))
    x = _x(4, 3)
    assert rel(jm(jnp.asarray(x.numpy())), to_numpy(tm(x))) < 1e-6


class InPlaceOnView(tnn.Module):
    def forward(self, x):
        y = x * 2
        row = y[0]
        row.add_(1)  # changes y too
        return y


def test_in_place_op_on_a_view_is_refused_at_conversion():
    with pytest.raises(TypeError, match=r"in place.*view"):
        nn.from_torch(InPlaceOnView(), example_inputs=(_x(2, 3),))


class Inner(tnn.Module):
    def __init__(self):
        super().__init__()
        self.lin = tnn.Linear(4, 4)

    def forward(self, x, scale=1.0, mask=None):
        y = self.lin(x) * scale
        if mask is not None:
            y = y.masked_fill(mask, 0.0)
        return y


class TwoCalls(tnn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()

    def forward(self, x):
        mask = x > 0
        h = self.inner(x, mask=mask)
        return {"a": self.inner(h, scale=2.0), "b": (h, x.size(0))}


def test_one_module_called_with_two_signatures_and_a_dict_output():
    tm = TwoCalls().eval()
    jm = nn.from_torch(tm, example_inputs=(_x(2, 4),)).eval()
    x = _x(3, 4)
    out = jax.jit(lambda m, x: m(x))(jm, jnp.asarray(x.numpy()))
    ref = tm(x)
    assert rel(out["a"], to_numpy(ref["a"])) < 1e-6
    assert rel(out["b"][0], to_numpy(ref["b"][0])) < 1e-6
    assert out["b"][1] == 3
    with pytest.raises(TypeError, match=r"traced its forward only for"):
        jm.inner(jnp.ones((2, 4)), scale=3.0)  # a Python value never seen while tracing


class SumAll(tnn.Module):
    def __init__(self):
        super().__init__()
        self.scale = tnn.Parameter(torch.tensor(2.0))

    def forward(self, features):
        return torch.stack(features).sum(0) * self.scale


class Grow(tnn.Module):
    """DenseNet's pattern: each layer gets the list of every feature so far."""

    def __init__(self):
        super().__init__()
        self.layers = tnn.ModuleList([SumAll(), SumAll(), SumAll()])

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


def test_a_list_that_grows_after_each_call():
    tm = Grow()
    jm = nn.from_torch(tm, example_inputs=(_x(2, 3),))
    x = _x(4, 3)
    assert rel(jm(jnp.asarray(x.numpy())), to_numpy(tm(x))) < 1e-6


class Tied(tnn.Module):
    def __init__(self):
        super().__init__()
        self.emb = tnn.Embedding(10, 4)
        self.out = tnn.Linear(4, 10, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, ids):
        return self.out(self.emb(ids))


def test_tied_weights_are_one_array_object():
    tm = Tied()
    ids = torch.tensor([[1, 2, 3], [3, 4, 9]])
    jm = nn.from_torch(tm, example_inputs=(ids,))
    assert jm.out.weight is jm.emb.weight
    assert list(jm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in jm.named_parameters()] == ["emb.weight"]
    # One leaf, whose gradient sums both uses (torch's tied gradient).
    params, rest = eqx.partition(jm, nn.trainable(jm))
    assert len(jax.tree.leaves(params)) == 1
    grads = jax.jit(jax.grad(lambda p: eqx.combine(p, rest)(jnp.asarray(ids.numpy())).sum()))(
        params
    )
    tm(ids).sum().backward()
    assert rel(grads.emb.weight, to_numpy(tm.emb.weight.grad)) < 1e-6


class SmallCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.ReLU())
        self.head = tnn.Linear(4, 2)
        self.register_buffer("scale", torch.tensor(0.5), persistent=False)

    def forward(self, x):
        h = self.features(x).mean((2, 3))
        return self.head(h) * self.scale


def test_save_load_and_state_dict_back_into_torch(tmp_path):
    tm = SmallCNN().eval()
    jm = nn.from_torch(tm, example_inputs=(_x(2, 3, 8, 8),))
    assert "scale" not in jm.state_dict() and "scale" in dict(jm.named_buffers())
    jm.features[1].running_mean = jm.features[1].running_mean + 0.5  # buffers are saved too
    jm.head.weight = jm.head.weight + 1.0
    path = tmp_path / "model.safetensors"
    nn.save(jm, path)
    fresh = nn.from_torch(SmallCNN(), example_inputs=(_x(2, 3, 8, 8),))
    nn.load(path, fresh)
    back = SmallCNN()
    back.load_state_dict(nn.to_torch_state_dict(fresh), strict=True)
    ours = jm.state_dict()
    for name, value in back.state_dict().items():
        np.testing.assert_array_equal(to_numpy(value), np.asarray(ours[name]), err_msg=name)
    back.eval()
    fresh.eval()
    x = _x(2, 3, 8, 8)
    assert rel(fresh(jnp.asarray(x.numpy())), to_numpy(back(x))) < 1e-6


class Unsupported(tnn.Module):
    def forward(self, x):
        return torch.special.i0(x) + 1


class Outer(tnn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Unsupported()
        self.lin = tnn.Linear(3, 3)

    def forward(self, x):
        y = torch.fft.rfft(self.lin(x)).abs()
        return self.inner(y)


def test_every_unsupported_op_is_listed_with_module_and_line():
    with pytest.raises(TypeError) as info:
        nn.from_torch(Outer(), example_inputs=(_x(2, 3),))
    text = str(info.value)
    assert "nothing was converted" in text
    assert re.search(r"<root> \(Outer\): calls torch\.fft.*rfft", text), text
    assert re.search(r"inner \(Unsupported\): calls torch\.special.*i0", text), text
    assert "test_real_models_semantics.py" in text  # the source line of each
    assert "fix:" in text


def test_a_custom_model_needs_example_inputs_that_torch_accepts():
    with pytest.raises(TypeError, match=r"Outer.*example_inputs"):
        nn.from_torch(Outer())
    with pytest.raises(TypeError, match=r"fails on the example inputs.*mat1 and mat2"):
        nn.from_torch(Outer(), example_inputs=(_x(2, 5),))
