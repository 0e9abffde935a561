"""torch habits that meet a jaxnn model: each works as in torch, or raises from jaxnn with
the JAX way. Nothing is silent."""

import copy
import io
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from tests.parity import assert_close, copy_from_torch


# ---------------------------------------------------------------- model(torch_tensor)
def _lstm_pair():
    t = tnn.LSTM(3, 4, batch_first=True)
    return copy_from_torch(nn.LSTM(3, 4, batch_first=True), t), t


def test_torch_inputs_are_converted_and_the_output_is_a_jax_array():
    model, twin = _lstm_pair()
    x, h0, c0 = torch.randn(2, 5, 3), torch.randn(1, 2, 4), torch.randn(1, 2, 4)
    out, (h, c) = model(x, (h0, c0))  # nested tuple input
    assert all(isinstance(a, jax.Array) for a in (out, h, c))
    ref = twin(x, (h0, c0))
    assert_close((out, h, c), (ref[0], *ref[1]), rtol=1e-5, atol=1e-5)
    # Same numbers as the jax input; bfloat16 tensors convert too.
    as_jax = [jnp.asarray(t.numpy()) for t in (x, h0, c0)]
    assert np.array_equal(out, model(as_jax[0], tuple(as_jax[1:]))[0])
    assert nn.Identity()(torch.ones(1, 3, dtype=torch.bfloat16)).dtype == jnp.bfloat16


def test_torch_inputs_with_a_prng_key_and_keyword_tensors():
    drop = nn.Sequential(nn.Dropout(0.5))
    x = torch.ones(64)
    out = drop(x, key=jax.random.key(0))
    assert np.array_equal(out, drop(jnp.ones(64), key=jax.random.key(0)))
    # MultiheadAttention's key= is torch's key tensor: it is converted like the query.
    mha = nn.MultiheadAttention(16, 2).eval()  # test_summary's shapes: compiled once
    q = torch.randn(5, 3, 16)
    out, _ = mha(q, key=q, value=q)
    assert np.array_equal(out, mha(*[jnp.asarray(q.numpy())] * 3)[0])
    # A torch tensor where the PRNG key goes is refused, naming jax.random.key.
    with pytest.raises(TypeError, match=re.escape("jax.random.key(seed)")):
        drop(x, key=torch.ones(2))


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda m, t: m(t), "args[0]"),
        (lambda m, t: m(torch.ones(1, 2, 3), (torch.zeros(1, 1, 4), t)), "args[1][1]"),
        (lambda m, t: m(input=t), "kwargs['input']"),
    ],
)
def test_a_tensor_that_requires_grad_is_refused(call, where):
    model = nn.LSTM(3, 4, batch_first=True)
    needs_grad = torch.zeros(1, 1, 4, requires_grad=True)
    t = torch.ones(1, 2, 3, requires_grad=True) if where != "args[1][1]" else needs_grad
    with pytest.raises(TypeError, match=re.escape(where) + ".*x.detach()"):
        call(model, t)


# ---------------------------------------------------------------- .cuda() / .to(torch forms)
@pytest.mark.parametrize(
    ("args", "kwargs", "dtype"),
    [
        ((torch.float16,), {}, jnp.float16),
        ((), {"dtype": torch.bfloat16}, jnp.bfloat16),
        ((torch.device("cpu"),), {}, jnp.float32),
        (("cpu", torch.float16), {}, jnp.float16),
        ((), {"device": torch.device("cpu"), "dtype": torch.float16}, jnp.float16),
    ],
)
def test_to_takes_torch_dtypes_and_devices(args, kwargs, dtype):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert model.to(*args, **kwargs) is model
    assert model[0].weight.dtype == dtype and model[1].running_mean.dtype == dtype
    assert model[1].num_batches_tracked.dtype == jnp.int32
    assert model[0].weight.devices() == {jax.devices("cpu")[0]}


@pytest.mark.parametrize(
    ("move", "match"),
    [
        (lambda m: m.to(torch.int64), "floating point dtypes"),
        (lambda m: m.to("mps"), "jax.devices() lists"),
        (lambda m: m.to("cpu:7"), "no cpu device 7"),
        (lambda m: m.to(torch.device("meta")), "unknown device"),
    ],
)
def test_to_refuses_what_cannot_work(move, match):
    with pytest.raises((TypeError, ValueError), match=re.escape(match)):
        move(nn.Linear(3, 2))


def test_cuda_moves_to_a_gpu_or_says_jax_sees_none():
    model = nn.Linear(3, 2)
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    for move in (lambda m: m.cuda(), lambda m: m.cuda(0), lambda m: m.to("cuda")):
        if gpus:
            assert move(model) is model and model.weight.devices() == {gpus[0]}
        else:
            with pytest.raises(RuntimeError, match=re.escape("jax.devices() lists")):
                move(model)
    assert model.cpu() is model and model.weight.devices() == {jax.devices("cpu")[0]}


# ---------------------------------------------------------------- torch.save(state_dict)
def _bn_pair():
    t = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2), tnn.Flatten(), tnn.Linear(8, 2))
    return copy_from_torch(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)), t
    ), t


@pytest.mark.parametrize("legacy", [False, True])
def test_torch_save_of_a_state_dict_loads_into_torch(legacy):
    model, _ = _bn_pair()
    model.train()
    _, model = nn.forward(model, jnp.ones((2, 1, 4, 4)))  # buffers that differ from init
    buf = io.BytesIO()
    torch.save(
        {"model": model.state_dict(), "epoch": 3}, buf, _use_new_zipfile_serialization=not legacy
    )
    buf.seek(0)
    loaded = torch.load(buf)  # weights_only=True, torch's default
    sd = loaded["model"]
    assert type(sd) is type(tnn.Linear(1, 1).state_dict())  # collections.OrderedDict
    assert list(sd) == list(model.state_dict()) and loaded["epoch"] == 3
    _, fresh = _bn_pair()
    assert not fresh.load_state_dict(sd).missing_keys
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert np.array_equal(np.asarray(a), b.numpy()), k


def test_other_pickling_keeps_jax_arrays():
    model = nn.Linear(3, 2)
    sd = model.state_dict()
    assert repr(sd).startswith("OrderedDict(")
    for other in (pickle.loads(pickle.dumps(sd)), copy.deepcopy(sd), jax.tree.map(lambda a: a, sd)):
        assert list(other) == ["weight", "bias"]
        assert all(isinstance(v, jax.Array) for v in other.values())
    assert jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(sd)[0][0][0]) == "['weight']"


# ---------------------------------------------------------------- parameters() and optimizers
def test_parameters_is_an_iterator_as_in_torch():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    it = model.parameters()
    assert iter(it) is it and next(it).shape == (2, 3)
    assert sum(p.size for p in model.parameters()) == 11
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(dict(model.named_parameters())) == ["0.weight", "0.bias", "1.weight", "1.bias"]


@pytest.mark.parametrize(
    "use",
    [
        lambda m: optax.adam(1e-3).init(m.parameters()),
        lambda m: optax.sgd(0.1, momentum=0.9).init(m.named_parameters()),
        # plain SGD's init never looks at the parameters; its update is where they meet
        lambda m: optax.apply_updates(m.parameters(), {"w": jnp.ones(1)}),
        lambda m: optax.adam(m.parameters()),
        lambda m: optax.sgd(m.parameters(), 0.9),
        lambda m: optax.adamw(m.parameters()),
        lambda m: jax.tree.map(jnp.zeros_like, m.parameters()),
        lambda m: jnp.asarray(m.parameters()),
        lambda m: np.asarray(m.parameters()),
    ],
)
def test_handing_parameters_to_an_optimizer_shows_the_jax_way(use):
    with pytest.raises(TypeError, match=re.escape("eqx.partition(model, nn.trainable(model))")):
        use(nn.Linear(3, 2))


def test_zero_grad_changes_nothing_and_returns_none():
    model = nn.Linear(3, 2)
    before = jax.tree.leaves(model)
    assert model.zero_grad() is None and model.zero_grad(set_to_none=False) is None
    assert all(a is b for a, b in zip(before, jax.tree.leaves(model), strict=True))
