"""torch's in-place habits on parameters, and compiled results after in-place edits.

* ``nn.init.*_(m.weight)`` writes into the module(s) holding the array, as torch fills it;
* ``p.requires_grad = False`` freezes that parameter (and reads back); ``.data =`` writes;
* ``jax.jit(f, static_argnums=0)(model)`` recompiles after ``model`` is edited in place;
* annotated class attributes (``expansion: int = 1``) read back on the class.
"""

import copy
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn as tnn

import jaxnn as nn
from tests.parity import randn

# ---------------------------------------------------------------------------- nn.init.*_
# name -> (call on the array, check of the module's new weight); the weight is a fresh
# Linear(40, 30)'s (a Conv1d(6, 6, 3)'s for dirac_).
W = (30, 40)
FAN_IN, FAN_OUT = 40, 30
# rbg keys: the same distributions, and XLA compiles their bits generator far faster than
# threefry's (the draws are checked by statistics, never by value).
R = {"key": jax.random.key(0, impl="rbg")}
INITS = {
    "uniform_": (
        lambda w: nn.init.uniform_(w, -0.3, 0.2, **R),
        lambda w: -0.3 <= w.min() and w.max() <= 0.2 and w.std() > 0.1,
    ),
    "normal_": (
        lambda w: nn.init.normal_(w, 5.0, 0.5, **R),
        lambda w: abs(w.mean() - 5.0) < 0.1 and abs(w.std() - 0.5) < 0.05,
    ),
    "trunc_normal_": (
        lambda w: nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5, **R),
        lambda w: w.min() >= -0.5 and w.max() <= 0.5 and w.std() > 0.2,
    ),
    "constant_": (lambda w: nn.init.constant_(w, 0.25), lambda w: (w == 0.25).all()),
    "ones_": (nn.init.ones_, lambda w: (w == 1).all()),
    "zeros_": (nn.init.zeros_, lambda w: (w == 0).all()),
    "eye_": (nn.init.eye_, lambda w: (w == np.eye(*W)).all()),
    "dirac_": (
        nn.init.dirac_,
        lambda w: (w[:, :, 1] == np.eye(6)).all() and (w[:, :, [0, 2]] == 0).all(),
    ),
    "xavier_uniform_": (
        lambda w: nn.init.xavier_uniform_(w, **R),
        lambda w: abs(w).max() <= math.sqrt(6 / (FAN_IN + FAN_OUT)) and w.std() > 0.1,
    ),
    "xavier_normal_": (
        lambda w: nn.init.xavier_normal_(w, **R),
        lambda w: abs(w.std() / math.sqrt(2 / (FAN_IN + FAN_OUT)) - 1) < 0.1,
    ),
    "kaiming_uniform_": (
        lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5), **R),
        lambda w: abs(w).max() <= 1 / math.sqrt(FAN_IN) and w.std() > 0.05,
    ),
    "kaiming_normal_": (
        lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", **R),
        lambda w: abs(w.std() / math.sqrt(2 / FAN_OUT) - 1) < 0.1,
    ),
    "orthogonal_": (
        lambda w: nn.init.orthogonal_(w, **R),
        lambda w: np.allclose(w @ w.T, np.eye(len(w)), atol=1e-5),
    ),
    "sparse_": (
        lambda w: nn.init.sparse_(w, 0.5, **R),
        lambda w: ((w == 0).sum(0) >= math.ceil(0.5 * len(w))).all() and w.std() > 0.001,
    ),
}


def test_every_init_is_listed():
    assert sorted(INITS) == sorted(n for n in nn.init.__all__ if n.endswith("_"))


@pytest.mark.parametrize("name", list(INITS))
def test_init_fills_the_module_in_place_and_returns_it(name):
    call, check = INITS[name]
    if name == "dirac_":
        m = nn.Conv1d(6, 6, 3)
    elif name in ("orthogonal_", "sparse_"):  # small: their own compilation is slow
        m = nn.Linear(4, 3)
    else:
        m = nn.Linear(FAN_IN, FAN_OUT)
    before = m.weight
    returned = call(m.weight)  # torch's habit: the result is not used
    assert m.weight is not before and returned is m.weight
    assert check(np.asarray(m.weight)), name
    assert m.weight.dtype == before.dtype and m.weight.shape == before.shape


def torchvision_init(lib, model):
    # torchvision's ResNet.__init__ loop, and its habits around it
    for m in model.modules():
        if isinstance(m, lib.Conv2d):
            lib.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, lib.BatchNorm2d | lib.GroupNorm):
            lib.init.constant_(m.weight, 1)
            lib.init.constant_(m.bias, 0)
        elif isinstance(m, lib.Linear):
            lib.init.normal_(m.weight, 0, 0.01)
            lib.init.constant_(m.bias, 0)


def make_net(lib, where):
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(8, 32, 3, bias=False)
            self.bn = lib.BatchNorm2d(32)
            self.fc = lib.Linear(32, 10)
            if where == "__init__":
                torchvision_init(lib, self)
            if where == "__init__-direct":
                lib.init.zeros_(self.fc.bias)

    return Net()


@pytest.mark.parametrize("where", ["__init__", "apply", "after-build"])
def test_torchvision_init_loop_matches_torch(where):
    tnet, net = make_net(tnn, where), make_net(nn, where)
    if where == "apply":
        for lib, model in ((tnn, tnet), (nn, net)):
            model.apply(
                lambda m, lib=lib, root=model: torchvision_init(lib, m) if m is not root else None
            )
    elif where == "after-build":
        torchvision_init(tnn, tnet)
        torchvision_init(nn, net)
    tsd = tnet.state_dict()
    for key, value in net.state_dict().items():
        a, t = np.asarray(value), tsd[key].detach().numpy()
        if key.endswith(("bias", "running_mean", "running_var", "tracked")) or key == "bn.weight":
            np.testing.assert_array_equal(a, t, err_msg=key)  # constants: exact
        else:  # random draws: the same distribution (torch's bits cannot be matched)
            assert abs(a.std() / t.std() - 1) < 0.1 and abs(a.mean()) < 0.05 * a.std() + 1e-3, key


def test_direct_init_of_an_attribute_in_and_after_init():
    net = make_net(nn, "__init__-direct")
    np.testing.assert_array_equal(np.asarray(net.fc.bias), 0.0)
    nn.init.ones_(net.bn.bias)
    np.testing.assert_array_equal(np.asarray(net.bn.bias), 1.0)
    # reached through parameters() (a model rebuilt by eqx.combine is found once walked)
    params, rest = eqx.partition(net, nn.trainable(net))
    rebuilt = eqx.combine(params, rest)
    for p in rebuilt.parameters():
        nn.init.constant_(p, 0.5)
    assert all((np.asarray(p) == 0.5).all() for p in rebuilt.parameters())


def test_init_writes_every_holder_of_a_tied_array():
    seq = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    seq[1].weight = seq[0].weight  # the same array object in two modules
    nn.init.eye_(seq[0].weight)
    assert seq[0].weight is seq[1].weight
    np.testing.assert_array_equal(np.asarray(seq[1].weight), np.eye(4))


@pytest.mark.parametrize("how", ["copy", "deepcopy"])
def test_in_place_habits_on_a_copy_as_torch(how):
    """``copy.copy`` shares the parameters (a write through either shows in both);
    ``copy.deepcopy`` makes new ones (the EMA / target-network habit): init and
    requires_grad through the copy's attribute change what they change in torch."""
    results = []
    for lib in (tnn, nn):
        model = lib.Linear(3, 2)
        clone = getattr(copy, how)(model)
        lib.init.zeros_(clone.weight)
        clone.bias.requires_grad = False
        results.append(
            [
                float(abs(np.asarray(m.weight.detach() if lib is tnn else m.weight)).sum()) == 0
                for m in (model, clone)
            ]
            + [m.bias.requires_grad for m in (model, clone)]
        )
    assert results[1] == results[0], results
    assert results[0] == (
        [True, True, False, False] if how == "copy" else [False, True, True, False]
    )


def test_a_construction_that_raised_leaves_nothing_behind():
    # Equinox keeps a module whose __init__ raised in its "initialising" table; in-place
    # init searched it and met a half-built LSTM (no storage yet).
    with pytest.raises(ValueError):
        nn.LSTM(4, 8, num_layers=2, dropout=2.0)
    m = nn.Linear(3, 2)
    assert nn.init.zeros_(m.bias) is m.bias
    np.testing.assert_array_equal(np.asarray(m.bias), 0.0)


def test_init_of_an_unheld_array_uses_the_result_or_raises():
    w = jnp.ones((3, 4))
    assert (np.asarray(nn.init.zeros_(w)) == 0).all()  # the functional form
    w2 = nn.init.zeros_(w)
    assert w2.shape == (3, 4) and nn.init.zeros_((2, 2)).shape == (2, 2)
    with pytest.raises(RuntimeError, match=r"called for its effect.*w = nn\.init\.zeros_\(w"):
        nn.init.zeros_(w)  # torch's in-place habit on a free array: nothing could change


def test_init_inside_a_transformation():
    model = nn.Linear(3, 2)

    def closure_edit(x):
        nn.init.zeros_(model.bias)  # a concrete array held by a module: an in-place edit
        return x

    with pytest.raises(RuntimeError, match=r"inside a JAX transformation.*jaxnn\.edit"):
        jax.jit(closure_edit)(jnp.ones(2))

    def traced(m):
        nn.init.zeros_(m.bias)  # a tracer: cannot be filled
        return m.bias

    with pytest.raises(RuntimeError, match=r"inside a JAX transformation.*nn\.edit\(model"):
        jax.jit(traced)(model)
    # the pure forms work (nn.edit runs the in-place call on a copy: model keeps its bias,
    # eagerly too), and so does building a model with an init loop under tracing
    out = jax.jit(lambda m: eqx.tree_at(lambda m: m.bias, m, nn.init.ones_(m.bias)))(model)
    np.testing.assert_array_equal(np.asarray(out.bias), 1.0)
    before = model.bias
    for edit in (jax.jit(lambda m: nn.edit(m, traced)), lambda m: nn.edit(m, traced)):
        np.testing.assert_array_equal(np.asarray(edit(model).bias), 0.0)
        assert model.bias is before
    shapes = jax.eval_shape(lambda: make_net(nn, "__init__").fc.bias)
    assert shapes.shape == (10,)


# ---------------------------------------------------------------------------- requires_grad
def make_ft(lib):
    return lib.Sequential(lib.Linear(3, 4), lib.BatchNorm1d(4), lib.Linear(4, 2))


def test_requires_grad_assignment_freezes_like_torch():
    tmodel, model = make_ft(tnn), make_ft(nn)
    for lib_model in (tmodel, model):
        for name, p in lib_model.named_parameters():  # fine-tuning: freeze all but the head
            if not name.startswith("2."):
                p.requires_grad = False
        lib_model[1].bias.requires_grad = True  # and unfreeze one again
    expected = {n: p.requires_grad for n, p in tmodel.named_parameters()}
    assert {n: p.requires_grad for n, p in model.named_parameters()} == expected
    assert {n: model.parameter_requires_grad(n) for n in expected} == expected
    params, _ = eqx.partition(model, nn.trainable(model))  # what an optimizer trains
    assert {n for n, _ in params.named_parameters()} == {n for n, t in expected.items() if t}
    model.requires_grad_(True)  # the module verb and the flag are one state
    assert all(p.requires_grad for p in model.parameters())


def test_requires_grad_on_buffers_free_arrays_and_under_jit():
    model = make_ft(nn)
    assert model[1].running_mean.requires_grad is False  # a buffer, as in torch
    model[1].running_mean.requires_grad = False  # already: a no-op, as in torch
    with pytest.raises(RuntimeError, match=r"'running_mean' is a buffer"):
        model[1].running_mean.requires_grad = True
    free = jnp.ones(3)
    with pytest.raises(
        AttributeError, match=r"no jaxnn module is known to hold.*requires_grad_\(False\)"
    ):
        free.requires_grad = False
    assert not hasattr(free, "requires_grad")  # reading is unchanged for arrays jaxnn does not hold

    def freeze(x):
        model[0].weight.requires_grad = False
        return x

    with pytest.raises(RuntimeError, match=r"inside a JAX transformation"):
        jax.jit(freeze)(jnp.ones(2))
    assert model[0].weight.requires_grad is True


def test_other_in_place_tensor_habits_are_not_silent():
    m = nn.Linear(3, 2)
    with pytest.raises(AttributeError, match="requires_grad_"):
        m.weight.requires_grad_(False)
    with pytest.raises(AttributeError, match="fill_"):
        m.weight.fill_(0.0)
    with pytest.raises(AttributeError, match=r"no attribute 'data'.*module\.weight = new_array"):
        m.weight.data.normal_(0, 0.02)
    m.weight.data = jnp.zeros((2, 3))  # torch's .data assignment writes into the module
    np.testing.assert_array_equal(np.asarray(m.weight), 0.0)
    with pytest.raises(AttributeError, match=r"no jaxnn module is known to hold"):
        jnp.ones(2).data = jnp.zeros(2)


# ---------------------------------------------------------------------------- stale jit caches
class Mode(nn.Module):
    """Its output depends on the training flag (static configuration)."""

    def forward(self, x):
        return x * (2.0 if self.training else 1.0)


def make_model():
    return nn.Sequential(nn.Linear(3, 3), Mode(), nn.Dropout(0.0))


# Every edit clears jax's caches (the model was hashed), so each costs recompilations:
# one edit per way an edit reaches the module (guarded verb on the root, attribute on a
# child, static flag, container structure, nn.init / .data through the array's holders).
EDITS = {
    "load_state_dict": lambda m: m.load_state_dict({k: v + 1 for k, v in m.state_dict().items()}),
    "setattr-weight": lambda m: setattr(m[0], "weight", m[0].weight * 2),
    "eval": lambda m: m.eval(),
    "container-append": lambda m: m.append(nn.Sigmoid()),
    "init-in-place": lambda m: nn.init.constant_(m[0].bias, 3.0),
}


def test_static_argument_recompiles_after_every_in_place_edit():
    model, x = make_model(), jnp.asarray(randn(4, 3))
    f = jax.jit(lambda m, x: m(x), static_argnums=0)
    g = jax.jit(lambda m, x: m(x), static_argnums=0)
    linear = model[0]
    np.testing.assert_allclose(np.asarray(f(model, x)), np.asarray(model(x)), rtol=1e-6)
    g(linear, x)  # a submodule passed too: an edit of its parent reaches it
    for name, edit in EDITS.items():
        edit(model)
        np.testing.assert_allclose(
            np.asarray(f(model, x)), np.asarray(model(x)), rtol=1e-6, err_msg=name
        )
        if name == "load_state_dict":
            np.testing.assert_allclose(np.asarray(g(linear, x)), np.asarray(linear(x)), rtol=1e-6)


def test_jit_of_a_module_and_cond_branches_see_in_place_edits():
    model, other, x = nn.Linear(3, 3), nn.Linear(3, 3), jnp.asarray(randn(2, 3))
    fast = jax.jit(model)
    fast(x)
    model.load_state_dict({"weight": jnp.eye(3), "bias": jnp.zeros(3)})
    np.testing.assert_array_equal(np.asarray(fast(x)), np.asarray(x))

    def branch(p):
        return jax.lax.cond(p, model, other, x)

    branch(True)
    model.weight = model.weight * 2
    np.testing.assert_allclose(np.asarray(branch(True)), np.asarray(x) * 2, rtol=1e-6)


def test_hashing_is_identity_and_edits_jax_never_saw_keep_its_caches():
    model, x = make_model(), jnp.ones((2, 3))
    table, seen = {model: "kept"}, {model[0]}  # torch habits: modules as keys
    f = jax.jit(lambda m, x: m(x))  # the model as an ordinary (dynamic) argument
    f(model, x)
    model.eval()  # hashed only by a dict and a set: jax's caches stay
    model[0].weight = model[0].weight * 2
    f(model, x)
    assert f._cache_size() == 2  # the flag change recompiled; nothing was cleared
    assert table[model] == "kept" and model[0] in seen  # identity hash, as in torch
    assert hash(model) == object.__hash__(model)


# ---------------------------------------------------------------------------- class attributes
class BasicBlock(nn.Module):
    expansion: int = 1  # torchvision's class attribute, annotated

    def __init__(self, planes):
        super().__init__()
        self.conv = nn.Conv2d(planes, planes * self.expansion, 1)


class Bottleneck(BasicBlock):
    expansion: int = 4


class Wide(BasicBlock):
    def __init__(self, planes):
        super().__init__(planes)
        self.expansion = 2  # an instance value overrides the class default


def test_annotated_class_attribute_reads_on_the_class():
    assert BasicBlock.expansion == 1 and Bottleneck.expansion == 4 and Wide.expansion == 1
    for block, planes in ((BasicBlock, 2), (Bottleneck, 2)):
        out_channels = planes * block.expansion  # torchvision's _make_layer
        assert block(planes).conv.out_channels == out_channels
    assert Wide(2).expansion == 2 and Bottleneck(1).expansion == 4
    with pytest.raises(AttributeError, match=r"type object 'BasicBlock' has no attribute 'conv'"):
        BasicBlock.conv  # set by instances in __init__, as in a plain class
