"""Model-based test: random edits applied to a torch model and its jaxnn twin in lockstep.

Hypothesis drives sequences of torch's in-place verbs - container edits (append, insert,
setitem, del, pop, extend, +=, *=, ModuleDict set/del/update/pop), attribute reassignment,
module sharing (an existing module placed again, anywhere, under any parent), weight tying
and untying, ParameterList entries used twice, load_state_dict (on the root or on a
submodule, which in torch writes into shared tensors), requires_grad_ - on both models.
After every step the printout, the state_dict keys, named_parameters/named_buffers, which
names are one object, and the number of pytree leaves (one per torch tensor) must be
torch's; at the end of a sequence the values, the training-mode output, the gradients and
one SGD step must be too.

Edits that behave differently on purpose (README "Where jaxnn does better": deleting from
a named Sequential, insert/*= on one) are not drawn: every Sequential here is positional.

CI runs a few hundred fixed sequences (``CI_SEQUENCES``); the long profile (``pytest
--long`` or ``JAXNN_LONG=1``) runs thousands (``LONG_SEQUENCES``), a fresh random search each time.
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
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

import jaxnn as nn

from ..parity import assert_close

# Values are compared as loaded (1e-5). What is computed goes through up to a dozen random
# layers with N(0, 1) weights loaded (loads draw them), a shared one applied up to six
# times, and a training-mode BatchNorm at batch 3, whose gradient cancels: in float32 the
# two libraries' rounding differs there by up to 1e-3 of the largest gradient (torch's
# farther from the float64 value than jaxnn's). So both models are compared in float64,
# where they agree to ~1e-12 and any missing or doubled use is off by far more than 1e-8.
TOL = dict(rtol=1e-5, atol=1e-5)
OUT_TOL = dict(rtol=1e-8, atol=1e-8)
KEYS = ["a", "b", "c", "d"]
MAX_LEN = 5  # entries per container: keeps models (and the CPU time) small


_ROOTS: dict = {}


def _root(lib):
    if lib not in _ROOTS:  # one class per library: making a jaxnn class reads its source
        _ROOTS[lib] = _root_class(lib)
    return _ROOTS[lib]()


def _root_class(lib):
    class Root(lib.Module):
        def __init__(self):
            super().__init__()
            self.seq = lib.Sequential(lib.Linear(4, 4), lib.Tanh())
            self.layers = lib.ModuleList([lib.Linear(4, 4)])
            self.table = lib.ModuleDict({"a": lib.ReLU()})
            self.extra = lib.Linear(4, 4)
            if lib is tnn:
                self.params = tnn.ParameterList([tnn.Parameter(torch.randn(1, 4))])
            else:
                self.params = nn.ParameterList([jnp.zeros((1, 4))])

        def forward(self, x):
            x = self.seq(x)
            for m in self.layers:
                x = m(x)
            for m in self.table.values():
                x = m(x)
            x = self.extra(x)
            for p in self.params:
                x = x + p
            return x

    return Root


LEAVES = ["Linear", "Tanh", "ReLU", "Sigmoid", "BatchNorm1d"]


def _new_leaf(lib, kind):
    return lib.BatchNorm1d(4) if kind == "BatchNorm1d" else getattr(lib, kind)(*(
        (4, 4) if kind == "Linear" else ()
    ))  # fmt: skip


def _values(t):
    return {k: np.array(v.detach().numpy()) for k, v in t.state_dict().items()}


class Lockstep(RuleBasedStateMachine):
    """Both models, and a map from each torch module to its jaxnn twin."""

    def __init__(self):
        super().__init__()
        self.t = self.j = None
        self.twin: dict[int, tuple] = {}

    # -------------------------------------------------------------- helpers
    def _pair(self, tm, jm):
        jm.load_state_dict(tm.state_dict())
        self.twin[id(tm)] = (tm, jm)
        return tm, jm

    def _j(self, tm):
        return self.twin[id(tm)][1]

    def _new(self, kind):
        return self._pair(_new_leaf(tnn, kind), _new_leaf(nn, kind))

    def _modules(self, *types):
        return [m for m in self.t.modules() if m is not self.t and isinstance(m, types)]

    def _callables(self):
        """Modules that map (N, 4) -> (N, 4): placeable in a chain."""
        kinds = tuple(getattr(tnn, k) for k in LEAVES) + (tnn.Sequential,)
        return [m for m in self._modules(*kinds) if type(m) is not type(self.t)]

    def _pick_module(self, data, container):
        """A new leaf, or an existing module (sharing), that does not contain ``container``."""
        existing = [m for m in self._callables() if container not in set(m.modules())]
        if existing and data.draw(st.booleans(), label="share an existing module"):
            tm = data.draw(st.sampled_from(existing), label="existing")
            return tm, self._j(tm)
        kind = data.draw(st.sampled_from([*LEAVES, "Sequential"]), label="new kind")
        if kind == "Sequential":  # a new chain around an existing module and a new leaf
            inner = [self._new(data.draw(st.sampled_from(LEAVES)))]
            if existing:
                tm = data.draw(st.sampled_from(existing), label="wrapped")
                inner.append((tm, self._j(tm)))
            return self._pair(
                tnn.Sequential(*[a for a, _ in inner]), nn.Sequential(*[b for _, b in inner])
            )
        return self._new(kind)

    def _both(self, action):
        """Run ``action(lib_module_getter)`` on torch and jaxnn: both raise alike or neither."""
        errors = []
        for side in (0, 1):
            try:
                action(side)
            except (IndexError, KeyError, TypeError, ValueError) as e:
                errors.append(type(e).__name__)
            else:
                errors.append(None)
        assert errors[0] == errors[1], f"torch: {errors[0]}, jaxnn: {errors[1]}"

    @staticmethod
    def _randn(data, shape):
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
        return torch.from_numpy(rng.standard_normal(tuple(shape)).astype(np.float32))

    def _containers(self, *types):
        return [m for m in self._modules(*types) if len(m) < MAX_LEN]

    # -------------------------------------------------------------- the world
    @initialize()
    def build(self):
        torch.manual_seed(0)  # each sequence replays exactly (hypothesis shrinks it)
        self.t, self.j = _root(tnn), _root(nn)
        self.j.load_state_dict(self.t.state_dict())
        for (_, tm), (_, jm) in zip(
            self.t.named_modules(remove_duplicate=False),
            self.j.named_modules(remove_duplicate=False),
            strict=True,
        ):
            self.twin[id(tm)] = (tm, jm)

    # -------------------------------------------------------------- container verbs
    @rule(data=st.data())
    def append(self, data):
        cs = self._containers(tnn.Sequential, tnn.ModuleList)
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        tm, jm = self._pick_module(data, tc)
        tc.append(tm)
        self._j(tc).append(jm)

    @rule(data=st.data())
    def insert(self, data):
        cs = self._containers(tnn.Sequential, tnn.ModuleList)
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        # ModuleList.insert(-1, m) is a KeyError in torch (README: jaxnn inserts like a list)
        low = -len(tc) if isinstance(tc, tnn.Sequential) else 0
        i = data.draw(st.integers(low, len(tc)), label="index")
        tm, jm = self._pick_module(data, tc)
        tc.insert(i, tm)
        self._j(tc).insert(i, jm)

    @rule(data=st.data())
    def setitem(self, data):
        cs = [c for c in self._modules(tnn.Sequential, tnn.ModuleList) if len(c)]
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        i = data.draw(st.integers(-len(tc), len(tc) - 1), label="index")
        tm, jm = self._pick_module(data, tc)
        tc[i] = tm
        self._j(tc)[i] = jm

    @rule(data=st.data())
    def delete(self, data):
        cs = [c for c in self._modules(tnn.Sequential, tnn.ModuleList) if len(c)]
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        jc = self._j(tc)
        how = data.draw(st.sampled_from(["del", "del-slice", "pop"]), label="how")
        i = data.draw(st.integers(-len(tc), len(tc) - 1), label="index")
        if how == "del":
            del tc[i]
            del jc[i]
        elif how == "del-slice":
            sl = slice(i, None, 2)
            del tc[sl]
            del jc[sl]
        else:
            assert self._j(tc.pop(i)) is jc.pop(i)

    @rule(data=st.data())
    def extend(self, data):
        cs = self._containers(tnn.Sequential, tnn.ModuleList)
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        n = data.draw(st.integers(0, 2), label="how many")
        pairs = [self._pick_module(data, tc) for _ in range(n)]
        how = data.draw(st.sampled_from(["extend", "iadd"]), label="how")
        jc = self._j(tc)
        if how == "extend":
            tc.extend([a for a, _ in pairs])
            jc.extend([b for _, b in pairs])
        elif isinstance(tc, tnn.Sequential):
            tc += tnn.Sequential(*[a for a, _ in pairs])
            jc += nn.Sequential(*[b for _, b in pairs])
        else:
            tc += [a for a, _ in pairs]
            jc += [b for _, b in pairs]

    @rule(data=st.data())
    def repeat(self, data):
        cs = [c for c in self._modules(tnn.Sequential) if 0 < len(c) <= 2]
        if not cs:
            return
        tc = data.draw(st.sampled_from(cs), label="container")
        tc *= 2
        jc = self._j(tc)
        jc *= 2

    @rule(data=st.data())
    def table(self, data):
        tt, jt = self.t.table, self.j.table
        key = data.draw(st.sampled_from(KEYS), label="key")
        how = data.draw(st.sampled_from(["set", "del", "pop", "update"]), label="how")
        if how in ("set", "update"):
            tm, jm = self._pick_module(data, tt)
            if how == "set":
                tt[key], jt[key] = tm, jm
            else:
                tt.update([(key, tm)])
                jt.update([(key, jm)])
        elif how == "del":
            self._both(lambda side: (tt, jt)[side].__delitem__(key))
        else:
            self._both(lambda side: (tt, jt)[side].pop(key))

    @rule(data=st.data())
    def reassign_attribute(self, data):
        tm, jm = self._pick_module(data, self.t)
        self.t.extra, self.j.extra = tm, jm

    # -------------------------------------------------------------- parameters
    def _linears(self):
        return self._modules(tnn.Linear)

    @rule(data=st.data())
    def tie(self, data):
        lins = self._linears()
        if len(lins) < 2:
            return
        a, b = data.draw(st.permutations(lins), label="pair")[:2]
        name = data.draw(st.sampled_from(["weight", "bias"]), label="which")
        setattr(b, name, getattr(a, name))
        setattr(self._j(b), name, getattr(self._j(a), name))

    @rule(data=st.data())
    def untie(self, data):
        lins = self._linears()
        if not lins:
            return
        b = data.draw(st.sampled_from(lins), label="module")
        name = data.draw(st.sampled_from(["weight", "bias"]), label="which")
        value = self._randn(data, getattr(b, name).shape)
        setattr(b, name, tnn.Parameter(value))
        setattr(self._j(b), name, jnp.asarray(value.numpy()))

    @rule(data=st.data())
    def params(self, data):
        tp, jp = self.t.params, self.j.params
        how = data.draw(st.sampled_from(["append-again", "append-new", "set-again"]), label="how")
        if len(tp) >= MAX_LEN:
            return
        if how == "append-new":
            value = self._randn(data, (1, 4))
            tp.append(tnn.Parameter(value))
            jp.append(jnp.asarray(value.numpy()))
            return
        if not len(tp):
            return
        i = data.draw(st.integers(0, len(tp) - 1), label="which")
        if how == "append-again":  # the same parameter twice in one ParameterList
            tp.append(tp[i])
            jp.append(jp[i])
        else:
            k = data.draw(st.integers(0, len(tp) - 1), label="target")
            tp[k] = tp[i]
            jp[k] = jp[i]

    @rule(data=st.data())
    def load(self, data):
        # the root, or a submodule: torch copies into the tensors, which every place sharing
        # them sees
        mods = [self.t, *self._modules(tnn.Module)]
        tm = data.draw(st.sampled_from(mods), label="module")
        sd = tm.state_dict()
        if not sd:
            return
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
        values = {
            k: torch.from_numpy(rng.standard_normal(v.shape).astype(np.float32))
            if v.is_floating_point()
            else v.clone()
            for k, v in sd.items()
        }
        for k in values:
            if k.endswith("running_var"):  # a variance (a negative one gives NaN gradients)
                values[k] = values[k].abs() + 0.1
        if data.draw(st.booleans(), label="a subset"):
            values = {k: v for k, v in values.items() if rng.random() < 0.5}
        tm.load_state_dict(values, strict=False)
        self._j(tm).load_state_dict({k: v.numpy() for k, v in values.items()}, strict=False)

    @rule(data=st.data())
    def requires_grad(self, data):
        mods = [self.t, *self._modules(tnn.Module)]
        tm = data.draw(st.sampled_from(mods), label="module")
        flag = data.draw(st.booleans(), label="requires_grad")
        tm.requires_grad_(flag)
        self._j(tm).requires_grad_(flag)

    @rule()
    def mode(self):
        flag = not self.t.training
        self.t.train(flag)
        self.j.train(flag)

    # -------------------------------------------------------------- what must hold
    @invariant()
    def same_structure(self):
        if self.t is None:
            return
        assert repr(self.j) == repr(self.t)
        tsd, jsd = self.t.state_dict(keep_vars=True), self.j.state_dict()
        assert list(jsd) == list(tsd)
        assert [n for n, _ in self.j.named_parameters()] == [
            n for n, _ in self.t.named_parameters()
        ]
        assert [n for n, _ in self.j.named_buffers()] == [n for n, _ in self.t.named_buffers()]
        # which names are one object
        tgroups, jgroups = {}, {}
        for k, v in tsd.items():
            tgroups.setdefault(id(v), []).append(k)
        for k, v in jsd.items():
            jgroups.setdefault(id(v), []).append(k)
        assert sorted(jgroups.values()) == sorted(tgroups.values())
        unique = {id(v) for v in [*self.t.parameters(), *self.t.buffers()]}
        assert len(jax.tree.leaves(self.j)) == len(unique)

    def teardown(self):
        if self.t is None:
            return
        for name, p in self.t.named_parameters():
            assert self.j.parameter_requires_grad(name) == p.requires_grad, name
        for name, value in _values(self.t).items():
            assert_close(self.j.state_dict()[name], value, what=name, **TOL)
        with jax.enable_x64(True):
            self._compare_float64()

    def _compare_float64(self):
        self.t.double()  # in place in both: ties and sharing are kept
        self.j.double()
        x = np.random.default_rng(0).standard_normal((3, 4))
        cot = np.random.default_rng(1).standard_normal((3, 4))
        tout = self.t(torch.from_numpy(x))
        if tout.requires_grad:  # else every parameter is frozen
            (tout * torch.from_numpy(cot)).sum().backward()
        with torch.no_grad():  # SGD, lr 0.1: a shared parameter is updated once
            for p in self.t.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad

        params, rest = eqx.partition(self.j, nn.trainable(self.j))

        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), jnp.asarray(x))
            return jnp.sum(out * cot), (out, new)

        grads, (jout, new) = jax.grad(loss, has_aux=True)(params)
        assert_close(jout, tout, what="output", **OUT_TOL)
        jgrads = dict(grads.named_parameters())
        tgrads = [(n, p.grad) for n, p in self.t.named_parameters() if p.grad is not None]
        # A gradient that should be 0 (a bias just before a training-mode BatchNorm) is
        # float32 cancellation noise in both libraries, of the order of the largest one.
        scale = max([1.0] + [float(g.abs().max()) for _, g in tgrads])
        for name, g in tgrads:  # the sum over every use of a shared parameter
            assert_close(jgrads[name], g, what=f"grad of {name}", rtol=1e-8, atol=1e-8 * scale)
        sgd = optax.sgd(0.1)
        updates, _ = sgd.update(grads, sgd.init(params))
        stepped = eqx.combine(
            optax.apply_updates(params, updates), eqx.partition(new, nn.trainable(new))[1]
        )
        for name, value in _values(self.t).items():
            assert_close(
                stepped.state_dict()[name],
                value,
                what=f"after a step: {name}",
                **OUT_TOL,
            )
        assert len(jax.tree.leaves(stepped)) == len(jax.tree.leaves(self.j))


# About 0.1 CPU-s a sequence once compiled (getrusage). CI runs 200 fixed (derandomized)
# sequences; --long runs 3000 random ones.
CI_SEQUENCES = 200
LONG_SEQUENCES = 3000


def _run(examples: int, derandomize: bool) -> None:
    run_state_machine_as_test(
        Lockstep,
        settings=settings(
            max_examples=examples,
            derandomize=derandomize,
            stateful_step_count=8,
            deadline=None,
            print_blob=True,  # a failure prints the @reproduce_failure line to replay it
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        ),
    )


def test_random_edits_in_lockstep_with_torch():
    _run(CI_SEQUENCES, derandomize=True)


@pytest.mark.long
def test_random_edits_in_lockstep_with_torch_long():
    _run(LONG_SEQUENCES, derandomize=False)
