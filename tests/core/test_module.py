"""jaxnn.Module against torch.nn.Module: introspection, state_dict, modes, guards, state."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn
from jaxnn import _random
from tests.parity import assert_close, check_module, copy_from_torch, to_numpy


def make_my_model(lib):
    # Seed 001's MyModel, written for jaxnn exactly as for torch: no annotations.
    class MyModel(lib.Module):
        def __init__(self):
            super(MyModel, self).__init__()
            self.fc = lib.Linear(100, 10)
            self.relu = lib.ReLU()

        def forward(self, x):
            x = self.fc(x)
            x = self.relu(x)
            return x

    return MyModel()


def make_nested(lib):
    class Block(lib.Module):
        def __init__(self, n):
            super().__init__()
            self.scale_size = n  # a Python int: configuration, never a tracer
            self.proj = lib.Linear(n, n)
            self.act = lib.Sequential(lib.Tanh(), lib.Linear(n, n, bias=False))
            self.register_buffer("offset", torch.ones(n) if lib is tnn else jnp.ones(n))

        def forward(self, x):
            return self.act(self.proj(x)) + self.offset[None] * self.scale_size

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.first = Block(4)
            self.blocks = lib.ModuleList([Block(4), Block(4)])
            self.head = lib.Linear(4, 2)

        def forward(self, x):
            x = self.first(x)
            for b in self.blocks:
                x = b(x)
            return self.head(x)

    return Net()


def test_user_subclass_without_annotations_matches_torch():
    t, j = make_my_model(tnn), make_my_model(nn)
    check_module(t, j, [np.random.default_rng(0).standard_normal((10, 100)).astype(np.float32)])


def test_nested_introspection_matches_torch():
    t, j = make_nested(tnn), make_nested(nn)
    assert repr(j) == repr(t)
    assert list(j.state_dict()) == list(t.state_dict())
    assert [n for n, _ in j.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in j.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in j.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in j.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in j.named_parameters(prefix="m", recurse=False)] == []
    assert [n for n, _ in j.head.named_parameters(prefix="h")] == ["h.weight", "h.bias"]
    assert j.get_submodule("blocks.1.act.1") is j.blocks[1].act[1]
    assert j.get_parameter("blocks.0.proj.bias").shape == (4,)
    assert j.get_buffer("first.offset").shape == (4,)
    assert len(list(j.parameters())) == len(list(t.parameters()))
    assert len(list(j.modules())) == len(list(t.modules()))
    with pytest.raises(AttributeError, match="no attribute `nope`"):
        j.get_submodule("blocks.nope")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    check_module(t, j, [x])


def test_static_config_is_not_traced():
    j = make_nested(nn)
    leaves = jax.tree.leaves(j)
    assert all(isinstance(v, jax.Array) for v in leaves)
    out = jax.jit(lambda m, x: m(x))(j, jnp.ones((2, 4)))
    assert out.shape == (2, 2)
    assert j.first.scale_size == 4


def test_named_modules_remove_duplicate():
    shared = nn.Linear(2, 2)
    j = nn.Sequential(shared, nn.ReLU(), shared)
    tshared = tnn.Linear(2, 2)
    t = tnn.Sequential(tshared, tnn.ReLU(), tshared)
    for kw in [{}, {"remove_duplicate": False}]:
        assert [n for n, _ in j.named_modules(**kw)] == [n for n, _ in t.named_modules(**kw)]
        assert [n for n, _ in j.named_parameters(**kw)] == [n for n, _ in t.named_parameters(**kw)]
    assert list(j.state_dict()) == list(t.state_dict())


# ---------------------------------------------------------------- load_state_dict
def test_load_state_dict_accepts_numpy_jax_torch():
    t = tnn.Linear(3, 2)
    for convert in (lambda v: v, lambda v: v.numpy(), lambda v: jnp.asarray(v.numpy())):
        j = nn.Linear(3, 2)
        res = j.load_state_dict({k: convert(v.detach()) for k, v in t.state_dict().items()})
        assert res.missing_keys == [] and res.unexpected_keys == []
        assert repr(res) == "<All keys matched successfully>"
        assert_close(j.weight, t.weight, rtol=0, atol=0)


def test_load_state_dict_errors_match_torch():
    sd = tnn.Linear(3, 2).state_dict()
    sd_bad = dict(sd)
    sd_bad.pop("bias")
    sd_bad["extra"] = torch.zeros(1)
    sd_bad["weight"] = torch.zeros(5, 3)
    t = tnn.Linear(3, 2)
    with pytest.raises(RuntimeError) as texc:
        t.load_state_dict(sd_bad)
    j = nn.Linear(3, 2)
    before = np.asarray(j.weight)
    with pytest.raises(RuntimeError) as jexc:
        j.load_state_dict(sd_bad)
    assert str(jexc.value).startswith(str(texc.value))
    assert "Fix:" in str(jexc.value)
    np.testing.assert_array_equal(np.asarray(j.weight), before)  # nothing half-loaded


def test_load_state_dict_non_strict():
    sd = {"weight": np.ones((2, 3), np.float32), "junk": np.zeros(1)}
    t, j = tnn.Linear(3, 2), nn.Linear(3, 2)
    tres = t.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    jres = j.load_state_dict(sd, strict=False)
    assert jres.missing_keys == tres.missing_keys == ["bias"]
    assert jres.unexpected_keys == tres.unexpected_keys == ["junk"]
    assert float(j.weight.sum()) == 6.0
    # A shape mismatch raises even when not strict, as in torch.
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        j.load_state_dict({"weight": np.ones((3, 3), np.float32)}, strict=False)


def test_load_state_dict_casts_to_parameter_dtype():
    j = nn.Linear(3, 2)
    j.load_state_dict({"weight": np.ones((2, 3), np.float64), "bias": np.zeros(2, np.float64)})
    assert j.weight.dtype == jnp.float32


# ---------------------------------------------------------------- modes, flags, dtypes
def test_train_eval_requires_grad_apply():
    j = make_nested(nn)
    assert j.training and j.blocks[0].proj.training
    assert j.eval() is j and not j.blocks[1].act[0].training
    assert j.train() is j and j.head.training
    with pytest.raises(ValueError, match="boolean"):
        j.train("yes")
    j.first.requires_grad_(False)
    assert not j.parameter_requires_grad("first.proj.weight")
    assert j.parameter_requires_grad("head.weight")
    mask = nn.trainable(j)
    flags = dict(zip([n for n, _ in j.state_dict().items()], jax.tree.leaves(mask), strict=False))
    assert flags["first.offset"] is False
    trainable_names = [n for n, v in mask.named_parameters()] if False else None
    assert trainable_names is None
    masked = [v for v in jax.tree.leaves(mask)]
    assert masked.count(True) == len(list(j.parameters())) - 3
    seen = []
    assert j.apply(lambda m: seen.append(type(m).__name__)) is j
    tseen = []
    make_nested(tnn).apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen


def test_trainable_mask_with_optax_masked_and_partition():
    j = make_nested(nn)
    j.head.requires_grad_(False)
    mask = nn.trainable(j)
    params, static = eqx.partition(j, mask)
    grads = jax.grad(lambda p: eqx.combine(p, static)(jnp.ones((2, 4))).sum())(params)
    opt = optax.masked(optax.sgd(0.1), mask)
    state = opt.init(eqx.filter(j, eqx.is_array))
    updates, _ = opt.update(eqx.filter(grads, eqx.is_array), state)
    new = eqx.apply_updates(j, updates)
    np.testing.assert_array_equal(np.asarray(new.head.weight), np.asarray(j.head.weight))
    np.testing.assert_array_equal(np.asarray(new.first.offset), np.asarray(j.first.offset))
    assert not np.allclose(np.asarray(new.first.proj.weight), np.asarray(j.first.proj.weight))


def test_to_dtype_in_place():
    j = make_nested(nn)
    assert j.to(jnp.bfloat16) is j
    assert all(p.dtype == jnp.bfloat16 for p in j.parameters())
    assert j.half().head.weight.dtype == jnp.float16
    assert j.float().head.weight.dtype == jnp.float32
    with pytest.raises(ValueError, match="jax_enable_x64"):
        j.double()
    with pytest.raises(TypeError, match="floating point"):
        j.to(jnp.int32)


def test_double_with_x64(x64):
    j = nn.Linear(2, 2).double()
    assert j.weight.dtype == jnp.float64


# ---------------------------------------------------------------- in-place edits under transformations
EDITS = {
    "train": lambda m: m.train(),
    "eval": lambda m: m.eval(),
    "requires_grad_": lambda m: m.requires_grad_(False),
    "load_state_dict": lambda m: m.load_state_dict(m.state_dict()),
    "to": lambda m: m.to(jnp.bfloat16),
    "setattr": lambda m: setattr(m[0], "weight", m[0].weight * 2),
    "setitem": lambda m: m.__setitem__(1, nn.Tanh()),
    "delitem": lambda m: m.__delitem__(1),
    "append": lambda m: m.append(nn.ReLU()),
    "insert": lambda m: m.insert(0, nn.ReLU()),
    "extend": lambda m: m.extend([nn.ReLU()]),
    "pop": lambda m: m.pop(0),
    "iadd": lambda m: m.__iadd__(nn.Sequential(nn.ReLU())),
    "imul": lambda m: m.__imul__(2),
    "add_module": lambda m: m.add_module("x", nn.ReLU()),
}


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap"])
@pytest.mark.parametrize("verb", list(EDITS))
def test_inplace_edit_under_transformation_raises(verb, transform):
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())

    def f(m, x):
        EDITS[verb](m)
        return m(x).sum()

    x = jnp.ones((3, 2))
    with pytest.raises(RuntimeError, match=r"in place.*tree_at.*functional_call.*jaxnn.forward"):
        if transform == "jit":
            jax.jit(f)(model, x)
        elif transform == "grad":
            jax.grad(lambda x: f(model, x))(x)
        else:
            jax.vmap(lambda x: f(model, x))(x)
    assert len(model) == 2 and model.training  # untouched


def test_building_a_model_inside_jit_is_allowed():
    def f(x):
        m = nn.Sequential(nn.Linear(2, 2, key=jax.random.key(0)), nn.ReLU())
        m.append(nn.Tanh()) if False else None
        return m(x)

    assert jax.jit(f)(jnp.ones((1, 2))).shape == (1, 2)


def test_setattr_outside_transformation_edits_in_place():
    m = nn.Sequential(nn.Linear(2, 2))
    m[0].bias = jnp.zeros(2)
    assert float(jnp.abs(m[0].bias).sum()) == 0.0
    with pytest.raises(AttributeError, match="no field 'newthing'"):
        m[0].newthing = 3


# ---------------------------------------------------------------- construction errors
def test_plain_list_of_modules_is_rejected():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2), nn.ReLU()]

    with pytest.raises(TypeError, match=r"self.layers = nn.ModuleList"):
        Bad()


def test_dynamic_attribute_names_get_a_clear_error():
    class Dyn(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(2):
                setattr(self, f"layer{i}", nn.Linear(2, 2))

    with pytest.raises(AttributeError, match="ModuleList"):
        Dyn()


def test_missing_forward_and_custom_call():
    class NoForward(nn.Module):
        def __init__(self):
            super().__init__()

    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        NoForward()(jnp.ones(1))

    class WithCall(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def __call__(self, x):
            return self.fc(x) * 2

    assert WithCall()(jnp.ones(2)).shape == (2,)


def test_interoperates_with_equinox_both_ways():
    class EqxOuter(eqx.Module):
        inner: nn.Module

        def __call__(self, x):
            return self.inner(x)

    model = EqxOuter(nn.Sequential(nn.Linear(3, 2), nn.ReLU()))
    assert jax.jit(lambda m, x: m(x))(model, jnp.ones(3)).shape == (2,)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = eqx.nn.Linear(3, 2, key=jax.random.key(0))

        def forward(self, x):
            return self.mlp(x)

    o = Outer()
    grads = eqx.filter_grad(lambda m: m(jnp.ones(3)).sum())(o)
    assert grads.mlp.weight.shape == (2, 3)


# ---------------------------------------------------------------- randomness
def test_manual_seed_and_key_none():
    nn.manual_seed(3)
    a = nn.Linear(4, 4)
    nn.manual_seed(3)
    b = nn.Linear(4, 4)
    c = nn.Linear(4, 4)
    np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))
    assert not np.array_equal(np.asarray(b.weight), np.asarray(c.weight))
    k = jax.random.key(7)
    np.testing.assert_array_equal(
        np.asarray(nn.Linear(3, 3, key=k).weight), np.asarray(nn.Linear(3, 3, key=k).weight)
    )
    raw = jax.random.PRNGKey(7)
    assert nn.Linear(3, 3, key=raw).weight.shape == (3, 3)
    with pytest.raises(TypeError, match="single JAX PRNG key"):
        nn.Linear(3, 3, key=7)
    with pytest.raises(TypeError, match="manual_seed"):
        nn.manual_seed("1")


class RandomShift(nn.Module):
    """A tiny layer that needs randomness, reading the key from the forward scope."""

    _uses_key = True

    def __init__(self):
        super().__init__()

    def forward(self, x, *, key=None):
        key = key if key is not None else _random.draw_forward_key()
        if key is None:
            raise ValueError("RandomShift needs key=")
        return x + jax.random.normal(key, x.shape)


def test_keys_are_split_among_children_that_need_one():
    seq = nn.Sequential(nn.Linear(2, 2), RandomShift(), nn.ReLU(), RandomShift())
    x = jnp.ones((1, 2))
    a = seq(x, key=jax.random.key(0))
    b = seq(x, key=jax.random.key(0))
    c = seq(x, key=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    with pytest.raises(ValueError, match="needs key"):
        seq(x)

    class User(nn.Module):  # a torch-style forward without a key argument
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(RandomShift(), nn.Tanh())

        def forward(self, x):
            return self.body(x)

    u = User()
    np.testing.assert_array_equal(
        np.asarray(u(x, key=jax.random.key(2))), np.asarray(u(x, key=jax.random.key(2)))
    )
    assert jax.jit(lambda m, x, k: m(x, key=k))(u, x, jax.random.key(2)).shape == (1, 2)


# ---------------------------------------------------------------- buffer updates (jaxnn.forward)
class Counter(nn.Module):
    """Counts calls in a buffer and keeps a running mean of its input, as BatchNorm does."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("calls", jnp.zeros((), jnp.int32))
        self.register_buffer("mean", jnp.zeros(n))

    def forward(self, x):
        if self.training:
            calls = self.buffer_value("calls")
            mean = self.buffer_value("mean")
            self.update_buffers(calls=calls + 1, mean=0.9 * mean + 0.1 * x.mean(0))
        return x * 2


def test_forward_returns_updated_buffers_eager_and_jit(monkeypatch):
    shared = Counter(3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    x = jnp.ones((4, 3))
    out, new = nn.forward(model, x)
    assert int(new[0].calls) == 2 and new[0] is new[2]  # called twice, like torch
    assert int(model[0].calls) == 0  # the input model is unchanged
    np.testing.assert_allclose(
        np.asarray(new[0].mean), 0.9 * 0.1 + 0.1 * 2.0, rtol=1e-6
    )  # x=1, then x=2
    step = jax.jit(nn.forward)
    out2, new2 = step(model, x)
    np.testing.assert_allclose(np.asarray(out2), np.asarray(out))
    assert int(new2[0].calls) == 2
    out3, new3 = step(new2, x)
    assert int(new3[0].calls) == 4
    model.eval()
    _, same = nn.forward(model, x)
    assert int(same[0].calls) == 0


def test_plain_call_warns_that_updates_are_dropped():
    model = Counter(2)
    with pytest.warns(nn.BufferUpdateDroppedWarning, match="jaxnn.forward") as caught:
        model(jnp.ones((1, 2)))
    assert caught[0].filename == __file__  # named at the user's call, once per call site


# ---------------------------------------------------------------- sharing (seed 002)
def test_seed002_shared_layer_trains_like_torch():
    t_shared = tnn.Linear(in_features=100, out_features=50)
    torch_model = tnn.Sequential(t_shared, tnn.ReLU(), tnn.Linear(50, 100), t_shared, tnn.Sigmoid())
    shared = nn.Linear(in_features=100, out_features=50)
    model = nn.Sequential(shared, nn.ReLU(), nn.Linear(50, 100), shared, nn.Sigmoid())
    copy_from_torch(model, torch_model)
    assert model[0] is model[3]
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 100)).astype(np.float32) for _ in range(5)]
    ys = [rng.standard_normal((8, 50)).astype(np.float32) for _ in range(5)]

    topt = torch.optim.SGD(torch_model.parameters(), lr=0.1)
    for x, y in zip(xs, ys, strict=True):
        topt.zero_grad()
        loss = ((torch_model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        topt.step()

    params, static = eqx.partition(model, nn.trainable(model))
    opt = optax.sgd(0.1)
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, y):
        def loss_fn(p):
            return jnp.mean((eqx.combine(p, static)(x) - y) ** 2)

        grads = jax.grad(loss_fn)(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state

    for x, y in zip(xs, ys, strict=True):
        params, state = step(params, state, jnp.asarray(x), jnp.asarray(y))
    trained = eqx.combine(params, static)
    assert trained[0] is trained[3]
    for (name, p), (tname, tp) in zip(
        trained.state_dict().items(), torch_model.state_dict().items(), strict=True
    ):
        assert name == tname
        np.testing.assert_allclose(np.asarray(p), to_numpy(tp), atol=1e-5, rtol=1e-5)
    assert len(list(trained.parameters())) == 4
