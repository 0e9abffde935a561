"""Sharing and weight tying against torch (DESIGN rule 8, issue #13 part A).

One object placed at several places - a module twice in a container, a module under two
parents, a module reassigned after construction, an edit of a nested container, weight
tying (``self.out.weight = self.emb.weight``), a parameter twice in a ParameterList or
ParameterDict - is one parameter, however it got there. Each case is built the same way in
torch and in jaxnn; the harness checks what torch shows (printout, state_dict keys,
named_parameters), that the pytree holds each shared object once, outputs and gradients
(the sum over uses) eager and under jit, and one optimizer step, after which the places
are still one object.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn

from ..parity import assert_close, check_module, randn, to_numpy

TOL = dict(rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- the cases
def lm_tied_in_init(lib):
    class LM(lib.Module):
        def __init__(self):
            super().__init__()
            self.emb = lib.Embedding(7, 4)
            self.mid = lib.Linear(4, 4)
            self.out = lib.Linear(4, 7, bias=False)
            self.out.weight = self.emb.weight  # the language-model idiom

        def forward(self, idx):
            return self.out(self.mid(self.emb(idx)))

    return LM()


class _EncDec:
    """enc -> tanh -> dec; the tie (if any) is made by the case after construction."""

    @staticmethod
    def build(lib):
        class EncDec(lib.Module):
            def __init__(self):
                super().__init__()
                self.enc = lib.Linear(4, 4)
                self.act = lib.Tanh()
                self.dec = lib.Linear(4, 4)

            def forward(self, x):
                return self.dec(self.act(self.enc(x)))

        return EncDec()


def tied_after_init(lib):
    m = _EncDec.build(lib)
    m.dec.weight = m.enc.weight
    return m


def module_reassigned(lib):
    m = _EncDec.build(lib)
    m.dec = m.enc  # net.fc2 = net.fc1 after __init__
    return m


def two_parents(lib):
    shared = lib.Linear(4, 4)
    return lib.Sequential(lib.Sequential(shared, lib.Tanh()), lib.Sequential(shared, lib.Sigmoid()))


def nested_edit(lib):
    shared = lib.Linear(4, 4)
    inner = lib.Sequential(lib.Linear(4, 4), lib.Tanh())
    outer = lib.Sequential(inner, shared)
    inner.append(shared)  # sharing made by editing a container that is already nested
    return outer


def siblings(lib):
    a = lib.Linear(4, 4)
    return lib.Sequential(a, lib.Tanh(), a)


def deep_tie(lib):
    # A nested Linear's weight tied to a top-level one: the two places meet at the root.
    m = lib.Sequential(
        OrderedDict(
            [
                ("block", lib.Sequential(lib.Linear(4, 4), lib.ReLU(), lib.Linear(4, 4))),
                ("head", lib.Linear(4, 4)),
            ]
        )
    )
    m.block[2].weight = m.head.weight
    return m


def _param_holder(lib, kind):
    class Holder(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(4, 4)
            if lib is tnn:
                p = tnn.Parameter(torch.randn(1, 4))
            else:
                p = jnp.asarray(np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32))
            if kind == "list":
                self.ps = lib.ParameterList([p, p])
            else:
                self.ps = lib.ParameterDict({"b": p, "a": p})

        def forward(self, x):
            if kind == "list":
                return self.fc(x) * self.ps[0] + self.ps[1]
            return self.fc(x) * self.ps["a"] - self.ps["b"]

    return Holder()


def param_list_twice(lib):
    return _param_holder(lib, "list")


def param_dict_twice(lib):
    return _param_holder(lib, "dict")


def shared_batchnorm(lib):
    bn = lib.BatchNorm1d(4)
    return lib.Sequential(lib.Linear(4, 4), bn, lib.Tanh(), lib.Linear(4, 4), bn)


CASES = [
    lm_tied_in_init,
    tied_after_init,
    module_reassigned,
    two_parents,
    nested_edit,
    siblings,
    deep_tie,
    param_list_twice,
    param_dict_twice,
    shared_batchnorm,
]
# Kinds that the model-based test (test_sharing_model.py) also draws in CI, and that other
# tests here cover eagerly and under jit, run in the long profile only (`pytest --long`):
# CI keeps one case of each kind.
LONG_CASES = {tied_after_init, two_parents, deep_tie, param_dict_twice, shared_batchnorm}
LONG_STEP_CASES = {shared_batchnorm, param_list_twice}


def _params(cases, long=LONG_CASES):
    return [
        pytest.param(c, id=c.__name__, marks=[pytest.mark.long] if c in long else []) for c in cases
    ]


def _inputs(case):
    if case is lm_tied_in_init:
        return [np.array([[0, 3, 6], [2, 2, 5]], dtype=np.int32)]
    return [randn(3, 4, seed=2)]


def _unique_arrays(tmod) -> int:
    return len({id(t) for t in [*tmod.parameters(), *tmod.buffers()]})


def _twins(case):
    torch.manual_seed(0)
    tmod = case(tnn)
    jmod = case(nn)
    return tmod, jmod


# ---------------------------------------------------------------------------- the harness
@pytest.mark.parametrize("case", _params(CASES))
def test_shared_object_is_one_parameter(case):
    tmod, jmod = _twins(case)
    assert [n for n, _ in jmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    assert [n for n, _ in jmod.named_parameters(remove_duplicate=False)] == [
        n for n, _ in tmod.named_parameters(remove_duplicate=False)
    ]
    # printout, state_dict keys (both names of a shared object, torch's order), outputs and
    # gradients (summed over uses) eager and under jit, BatchNorm buffers via nn.forward
    check_module(tmod, jmod, _inputs(case))
    assert len(jax.tree.leaves(jmod)) == _unique_arrays(tmod)
    mask = nn.trainable(jmod)
    assert jax.tree.structure(mask) == jax.tree.structure(jmod)
    params, rest = eqx.partition(jmod, mask)
    assert len(jax.tree.leaves(params)) == len(list(tmod.parameters()))
    back = eqx.combine(params, rest)
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in tmod.named_parameters()]


# One of each kind (a tied parameter, a shared module with buffers, a module shared by an
# edit, a parameter twice in a container); the model-based test steps every kind.
STEP_CASES = [lm_tied_in_init, shared_batchnorm, nested_edit, param_list_twice]


@pytest.mark.parametrize("case", _params(STEP_CASES, LONG_STEP_CASES))
def test_optimizer_step_keeps_one_parameter(case):
    tmod, jmod = _twins(case)
    jmod.load_state_dict(tmod.state_dict())
    x = _inputs(case)[0]
    cot = randn(*copy.deepcopy(tmod)(torch.from_numpy(x)).shape, seed=3)  # no stats update
    topt = torch.optim.SGD(tmod.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        topt.zero_grad()
        (tmod(torch.from_numpy(x)) * torch.from_numpy(cot)).sum().backward()
        topt.step()

    opt = optax.sgd(0.1, momentum=0.9)
    params, rest = eqx.partition(jmod, nn.trainable(jmod))
    state = nn.pack(params, rest, opt.init(params))

    @jax.jit
    def step(state):
        params, rest, opt_state = state

        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), jnp.asarray(x))
            return jnp.sum(out * cot), eqx.partition(new, nn.trainable(new))[1]

        grads, rest = jax.grad(loss, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return nn.pack(optax.apply_updates(params, updates), rest, opt_state)

    for _ in range(2):
        state = step(state)
    params, rest, _ = state
    new = eqx.combine(params, rest)
    for name, t in tmod.state_dict().items():
        assert_close(new.state_dict()[name], t, what=name, **TOL)
    # still one object at every place of a shared one
    tnames = {}
    for name, t in tmod.state_dict(keep_vars=True).items():
        tnames.setdefault(id(t), []).append(name)
    sd = new.state_dict()
    for names in tnames.values():
        assert all(sd[n] is sd[names[0]] for n in names), names
    assert len(jax.tree.leaves(new)) == _unique_arrays(tmod)


# ---------------------------------------------------------------------------- verbs and ties
def _lm():
    return lm_tied_in_init(nn)


def test_tie_survives_transformations_and_packing():
    m = _lm()
    assert m.out.weight is m.emb.weight
    for new in (
        jax.tree.map(lambda a: a * 2, m),
        jax.jit(lambda m: m)(m),
        nn.pack(m).unpack(),
        eqx.combine(*eqx.partition(m, nn.trainable(m))),
        nn.parallel.shard_model(m, nn.parallel.data_mesh()),
        nn.edit(m, lambda m: None),
    ):
        assert new.out.weight is new.emb.weight
        assert len(jax.tree.leaves(new)) == 3


def test_untie_by_assignment_as_torch():
    t, m = lm_tied_in_init(tnn), _lm()
    t.out.weight = tnn.Parameter(torch.zeros(7, 4))
    m.out.weight = jnp.zeros((7, 4))
    assert len(list(t.parameters())) == len(list(m.parameters())) == 4
    assert len(jax.tree.leaves(m)) == 4


def test_load_state_dict_either_key_loads_and_last_key_wins():
    t, m = lm_tied_in_init(tnn), _lm()
    # either key alone loads the one tensor (torch: strict=False)
    w = np.full((7, 4), 3.0, np.float32)
    for key in ("emb.weight", "out.weight"):
        rt = t.load_state_dict({key: torch.from_numpy(w)}, strict=False)
        rm = m.load_state_dict({key: w}, strict=False)
        assert rm.missing_keys == rt.missing_keys
        assert m.out.weight is m.emb.weight
        assert_close(m.out.weight, t.out.weight, **TOL)
    # both keys with different values: torch copies them in state_dict order into the one
    # tensor, so the last one wins
    sd = {k: v.clone() for k, v in t.state_dict().items()}
    sd["emb.weight"].fill_(1.0)
    sd["out.weight"].fill_(2.0)
    t.load_state_dict(sd)
    m.load_state_dict(sd)
    assert m.out.weight is m.emb.weight
    assert_close(m.emb.weight, t.emb.weight, **TOL)
    # torch refuses a tied model's state_dict with one key missing under strict=True
    with pytest.raises(RuntimeError, match="Missing key"):
        t.load_state_dict({k: v for k, v in sd.items() if k != "out.weight"})
    with pytest.raises(RuntimeError, match="Missing key"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "out.weight"})


def test_loading_one_array_under_two_keys_does_not_tie():
    # torch copies values: two untied parameters stay two after loading the same tensor
    m = _EncDec.build(nn)
    w = jnp.ones((4, 4))
    m.load_state_dict({"enc.weight": w, "dec.weight": w}, strict=False, assign=True)
    assert m.enc.weight is not m.dec.weight
    m.load_state_dict({"enc.weight": m.dec.weight}, strict=False)
    assert m.enc.weight is not m.dec.weight
    assert len(jax.tree.leaves(m)) == 4


def test_save_load_round_trip_keeps_tie(tmp_path):
    m = _lm()
    m.emb.weight = m.emb.weight + 1.0  # rebinding the first use unties, as in torch ...
    assert m.out.weight is not m.emb.weight
    m.out.weight = m.emb.weight  # ... and tying again is an assignment
    nn.save(m, tmp_path / "m.safetensors")
    fresh = _lm()
    nn.load(tmp_path / "m.safetensors", fresh)
    assert fresh.out.weight is fresh.emb.weight
    assert_close(fresh.emb.weight, m.emb.weight, **TOL)


def test_to_dtype_keeps_tie():
    m = _lm()
    m.to(jnp.bfloat16)
    assert m.out.weight is m.emb.weight and m.out.weight.dtype == jnp.bfloat16
    m.half()
    assert m.out.weight is m.emb.weight
    assert len(jax.tree.leaves(m)) == 3


def test_requires_grad_on_one_user_freezes_the_shared_parameter():
    t, m = lm_tied_in_init(tnn), _lm()
    t.out.requires_grad_(False)
    m.out.requires_grad_(False)
    assert not t.emb.weight.requires_grad
    assert not m.parameter_requires_grad("emb.weight")
    params, _ = eqx.partition(m, nn.trainable(m))
    assert len(jax.tree.leaves(params)) == 2  # mid.weight, mid.bias
    # the latest call wins, whichever user it went through (one flag per tensor in torch)
    t.emb.requires_grad_(True)
    m.emb.requires_grad_(True)
    assert t.out.weight.requires_grad and m.parameter_requires_grad("out.weight")
    assert len(jax.tree.leaves(eqx.partition(m, nn.trainable(m))[0])) == 3


def test_sharing_created_after_construction_anywhere():
    # net.fc2 = net.fc1 after __init__, the same module under two parents, edits of nested
    # containers: each is picked up when the model is next flattened.
    inner = nn.Sequential(nn.Linear(2, 2))
    outer = nn.Sequential(inner, nn.Linear(2, 2))
    assert len(jax.tree.leaves(outer)) == 4
    inner.append(outer[1])
    assert len(jax.tree.leaves(outer)) == 4
    inner[1] = nn.Linear(2, 2)  # and untied again by replacing it
    assert len(jax.tree.leaves(outer)) == 6
    other = nn.Sequential(nn.Tanh())
    outer.append(other)
    other.append(inner[0])
    assert len(jax.tree.leaves(outer)) == 6
    assert [n for n, _ in outer.named_parameters()] == [
        "0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "1.weight", "1.bias"
    ]  # fmt: skip


def test_in_place_verbs_still_raise_under_jit():
    m = _lm()

    def f(m):
        m.out.weight = m.emb.weight * 2
        return m.out.weight

    with pytest.raises(RuntimeError, match="jaxnn.edit"):
        jax.jit(f)(m)


# ---------------------------------------------------------------------------- interop
def _torch_tied_seq():
    t = tnn.Sequential(tnn.Linear(4, 4), tnn.Tanh(), tnn.Linear(4, 4))
    t[2].weight = t[0].weight
    return t


def test_from_torch_and_to_torch_keep_the_tie():
    t = _torch_tied_seq()
    m = nn.from_torch(t)
    assert m[2].weight is m[0].weight
    assert len(jax.tree.leaves(m)) == 3
    back = nn.to_torch(m)
    assert back[2].weight is back[0].weight
    assert len(list(back.parameters())) == 3
    x = torch.randn(2, 4)
    assert_close(back(x), t(x), **TOL)
    assert_close(m(jnp.asarray(x.numpy())), t(x), **TOL)


# ---------------------------------------------------------------------------- pure edit
def test_edit_is_the_pure_form_of_the_in_place_verbs():
    a = nn.Linear(2, 2)
    s = nn.Sequential(a, nn.ReLU(), a)
    new = nn.Linear(2, 2)

    def set0(m):
        m[0] = new

    t_a = tnn.Linear(2, 2)
    t = tnn.Sequential(t_a, tnn.ReLU(), t_a)
    t[0] = tnn.Linear(2, 2)
    edited = nn.edit(s, set0)
    assert repr(edited) == repr(t)
    assert edited[0] is new and edited[2] is not a and s[0] is a  # the copy; s unchanged
    # eqx.tree_at replaces the node, i.e. every use of the shared module
    both = eqx.tree_at(lambda m: m[0], s, new)
    assert both[0] is both[2]
    # under jit
    x = jnp.ones((3, 2))
    out = jax.jit(lambda s: nn.edit(s, set0)(x))(s)
    assert_close(out, edited(x), **TOL)


def test_edit_under_jit_ties_weights():
    m = _EncDec.build(nn)

    def tie(m):
        m.dec.weight = m.enc.weight

    x = jnp.asarray(randn(2, 4))
    grads = jax.jit(jax.grad(lambda m: jnp.sum(nn.edit(m, tie)(x))))(m)
    t = _EncDec.build(tnn)
    t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in m.state_dict().items()})
    t.dec.weight = t.enc.weight
    t(torch.from_numpy(np.array(x))).sum().backward()
    # the tied weight's gradient (both uses) lands on the enc.weight leaf
    assert_close(grads.enc.weight, t.enc.weight.grad, **TOL)


# ---------------------------------------------------------------------------- functional_call
@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize(
    "given",
    [("emb.weight",), ("out.weight",), ("emb.weight", "out.weight"), ("out.weight", "emb.weight")],
)
def test_functional_call_tie_weights_as_torch(tie_weights, given):
    t, m = lm_tied_in_init(tnn), _lm()
    m.load_state_dict(t.state_dict())
    idx = np.array([1, 2, 3])
    values = {name: randn(7, 4, seed=10 + i) for i, name in enumerate(given)}
    tvals = {k: torch.from_numpy(v) for k, v in values.items()}
    try:
        expected = torch.func.functional_call(
            t, tvals, (torch.from_numpy(idx),), tie_weights=tie_weights
        )
    except ValueError as e:
        with pytest.raises(ValueError, match="tie_weights=False"):
            nn.functional_call(m, values, (jnp.asarray(idx),), tie_weights=tie_weights)
        assert "tied" in str(e)
        return
    got = nn.functional_call(m, values, (jnp.asarray(idx),), tie_weights=tie_weights)
    assert_close(got, expected, **TOL)


def test_functional_call_shared_module_names_last_wins_untied():
    # one module under two names: with tie_weights=False torch swaps each name in turn into
    # the one module, so the last value given wins
    t, m = siblings(tnn), siblings(nn)
    m.load_state_dict(t.state_dict())
    x = randn(2, 4)
    vals = {"0.weight": randn(4, 4, seed=5), "2.weight": randn(4, 4, seed=6)}
    for tie in (False,):
        expected = torch.func.functional_call(
            t,
            {k: torch.from_numpy(v) for k, v in vals.items()},
            (torch.from_numpy(x),),
            tie_weights=tie,
        )
        got = nn.functional_call(m, vals, (jnp.asarray(x),), tie_weights=tie)
        assert_close(got, expected, **TOL)
    assert np.isfinite(to_numpy(got)).all()


# ---------------------------------------------------------------------------- in-place writes
def _gptish(lib):
    # nanoGPT's order: tie first, then initialise every Linear/Embedding in place; in torch
    # the tied tensor is written twice and stays one parameter.
    init = tnn.init if lib is tnn else nn.init

    class GPTish(lib.Module):
        def __init__(self):
            super().__init__()
            self.wte = lib.Embedding(7, 4)
            self.lm_head = lib.Linear(4, 7, bias=False)
            self.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, lib.Linear | lib.Embedding):
                init.normal_(module.weight, mean=0.0, std=0.02)  # torch's code, unchanged

        def forward(self, idx):
            return self.lm_head(self.wte(idx))

    return GPTish()


def test_in_place_init_through_one_use_keeps_the_tie():
    t, m = _gptish(tnn), _gptish(nn)
    assert m.wte.weight is m.lm_head.weight
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert len(jax.tree.leaves(m)) == 1
    assert float(jnp.std(m.wte.weight)) < 0.1  # the init ran (0.02), not torch's default
    # outside apply too: the write through one use reaches the other at the next use
    m.lm_head.weight = nn.init.zeros_(m.lm_head.weight)
    assert m.state_dict()["wte.weight"].sum() == 0 and m.wte.weight is m.lm_head.weight


def test_value_write_through_a_submodule_reaches_every_use():
    t, m = lm_tied_in_init(tnn), _lm()
    t.out.to(torch.float64)
    m.out.to(jnp.bfloat16)  # float64 needs x64; the point is the dtype reaching emb
    assert t.emb.weight.dtype == torch.float64
    assert m.emb.weight.dtype == jnp.bfloat16 and m.emb.weight is m.out.weight
    t, m = lm_tied_in_init(tnn), _lm()
    w = randn(7, 4, seed=4)
    t.out.load_state_dict({"weight": torch.from_numpy(w)})
    m.out.load_state_dict({"weight": w})
    assert_close(m.emb.weight, t.emb.weight, **TOL)
    assert m.emb.weight is m.out.weight


def test_write_through_one_use_leaves_value_copies_alone():
    # nn.forward's result, eqx.combine and nn.edit hold the same arrays in other modules:
    # they are values, a write into the model must not reach them
    m = _lm()
    copies = [
        eqx.combine(*eqx.partition(m, nn.trainable(m))),
        nn.edit(m, lambda m: None),
        nn.forward(m, jnp.array([1, 2]))[1],
    ]
    before = [c.emb.weight for c in copies]
    m.out.load_state_dict({"weight": np.zeros((7, 4), np.float32)})
    m.out.weight = nn.init.ones_(m.out.weight)
    assert float(m.emb.weight.sum()) == 28.0
    for c, w in zip(copies, before, strict=True):
        assert c.emb.weight is w and c.out.weight is w


def test_requires_grad_reaches_a_tie_whose_places_moved():
    # (found by the model-based test) a tie recorded before an insert renumbered its place;
    # freezing through one use must reach the other, which keeps the flag once the first
    # use is rebound to another array
    def build(lib):
        inner = lib.Sequential(lib.Linear(2, 2), lib.Tanh())
        m = lib.Sequential(inner, lib.Linear(2, 2), lib.Linear(2, 2))
        m[1].weight = inner[0].weight
        return m, inner

    (t, tin), (j, jin) = build(tnn), build(nn)
    jax.tree.leaves(j)  # the tie is known, at ("0", "0", "weight")
    tin.insert(0, tnn.ReLU())
    jin.insert(0, nn.ReLU())
    jax.tree.leaves(j)  # and now at ("0", "1", "weight")
    tin.requires_grad_(False)
    jin.requires_grad_(False)
    tin[1].weight = t[2].weight
    jin[1].weight = j[2].weight
    for name, p in t.named_parameters():
        assert j.parameter_requires_grad(name) == p.requires_grad, name


def _flag_follows_the_tensor(lib):
    # (found by the model-based test's long profile) torch's flag is on the tensor: a frozen
    # parameter assigned to another place stays frozen there after its first place is gone
    r = lib.Sequential(
        lib.Sequential(lib.Linear(2, 2), lib.Tanh()), lib.ModuleList([lib.Linear(2, 2)])
    )
    r.requires_grad_(False)
    r[1][0].weight = r[0][0].weight
    del r[0][0]
    p = lib.ParameterList([jnp.zeros(2) if lib is nn else tnn.Parameter(torch.zeros(2))])
    p.requires_grad_(False)
    p.append(p[0])  # the same parameter twice, then the first place rebound
    p[0] = jnp.ones(2) if lib is nn else tnn.Parameter(torch.ones(2))
    return lib.ModuleList([r, p])


def test_requires_grad_follows_the_array_to_its_new_places():
    t, m = _flag_follows_the_tensor(tnn), _flag_follows_the_tensor(nn)
    for name, p in t.named_parameters():
        assert m.parameter_requires_grad(name) == p.requires_grad, name
        assert m.get_parameter(name).requires_grad == p.requires_grad, name


# torch's in-place habits on a tied parameter, reached through one of its uses the way torch
# code reaches parameters (``modules()``, ``parameters()``, ``apply``, the attribute): torch
# changes the one tensor, so both places change, or are frozen, together. "rebuilt" is the
# model as an optimizer step returns it (new modules and arrays, never walked): only the
# use that the habit walks is known, the other is found through the tie.
def _fill(lib, value):
    if lib is tnn:
        return torch.full((7, 4), value)
    return jnp.full((7, 4), value)


def _set_data(lib, m):
    for p in m.out.parameters():
        p.data = _fill(lib, 2.0)


def _freeze_out(lib, m):
    for p in m.out.parameters():
        p.requires_grad = False


def _freeze_out_unfreeze_emb(lib, m):
    _freeze_out(lib, m)
    for p in m.emb.parameters():
        p.requires_grad = True


TIED_HABITS = {
    "init-parameters": lambda lib, m: [lib.init.constant_(p, 0.5) for p in m.out.parameters()],
    "init-modules-other-use": lambda lib, m: [lib.init.eye_(x.weight) for x in m.emb.modules()],
    "init-apply": lambda lib, m: m.out.apply(lambda x: lib.init.zeros_(x.weight)),
    "init-assigned-back": lambda lib, m: setattr(m.out, "weight", lib.init.ones_(m.out.weight)),
    "data": _set_data,
    "requires_grad-False": _freeze_out,
    "requires_grad-False-then-True-other-use": _freeze_out_unfreeze_emb,
    "requires_grad_-module": lambda lib, m: m.out.requires_grad_(False),
}


@pytest.mark.parametrize("rebuilt", [False, True], ids=["built", "rebuilt"])
@pytest.mark.parametrize("habit", list(TIED_HABITS))
def test_in_place_habits_on_a_tied_parameter_as_torch(habit, rebuilt):
    t, m = lm_tied_in_init(tnn), _lm()
    m.load_state_dict(t.state_dict())
    if rebuilt:
        m = jax.tree.map(lambda a: a + 0, m)
    TIED_HABITS[habit](tnn, t)
    TIED_HABITS[habit](nn, m)
    assert t.out.weight is t.emb.weight
    assert m.out.weight is m.emb.weight and len(jax.tree.leaves(m)) == 3
    for name, value in t.state_dict().items():
        assert_close(m.state_dict()[name], value, what=name, **TOL)
    for name, p in t.named_parameters(remove_duplicate=False):
        assert m.parameter_requires_grad(name) == p.requires_grad, name
        assert m.get_parameter(name).requires_grad == p.requires_grad, name
    trained = [p for p in t.parameters() if p.requires_grad]
    assert len(jax.tree.leaves(eqx.partition(m, nn.trainable(m))[0])) == len(trained)
