"""Buffer state (BatchNorm running statistics) under JAX transformations inside a forward.

jaxnn.checkpoint / scan / cond / vmap give torch's results (the same model run without
the transformation, or torch's loop), eager and jitted, outputs, buffers and gradients.
The raw JAX transformations raise where the update is recorded, naming the fix, instead
of dropping it or leaking a tracer. The dropped-update warning of a plain call shows once
per call site.
"""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.utils.checkpoint as tcp

import jaxnn as nn
from tests.parity import assert_close, randn, to_numpy

TOL = dict(rtol=1e-5, atol=1e-5)
L = 3  # stacked layers / ensemble members


def block(lib):
    return lib.Sequential(lib.Linear(3, 3), lib.BatchNorm1d(3), lib.Tanh())


def stack(modules):
    return jax.tree.map(lambda *a: jnp.stack(a), *modules)


def copy_from(tmodule, jmodule):
    jmodule.load_state_dict(tmodule.state_dict())
    return jmodule


def unstack(prefix, sd):
    """Stacked state dict entries -> torch's ``prefix.<i>.<name>`` entries."""
    return {f"{prefix}.{i}.{k}": np.asarray(v)[i] for k, v in sd.items() for i in range(L)}


# ---------------------------------------------------------------------------- the cases
# Each case: build() -> (torch model, jaxnn model, jaxnn state as torch's state dict,
# jaxnn gradients as torch's names); the forward takes (x, flag).


class TPlain(tnn.Module):
    def __init__(self, checkpointed=False):
        super().__init__()
        self.block = tnn.Sequential(tnn.Linear(3, 3), tnn.BatchNorm1d(3), tnn.Tanh())
        self.checkpointed = checkpointed

    def forward(self, x, flag):
        if self.checkpointed:
            return tcp.checkpoint(self.block, x, use_reentrant=False)
        return self.block(self.block(x))


def jax_plain(how):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block(nn)

        def forward(self, x, flag):
            if how == "checkpoint":  # the second call sees the first call's update
                return nn.checkpoint(self.block, self.block(x))
            if how == "checkpoint-closure":
                return nn.checkpoint(lambda x: self.block(self.block(x)), x)
            return nn.checkpoint(self.block, x)

    return Net()


def case_plain(how):
    def build():
        t = TPlain()
        j = copy_from(t, jax_plain(how))
        return t, j, lambda m: m.state_dict(), lambda g: dict(g.named_parameters())

    return build


class TLoop(tnn.Module):
    def __init__(self):
        super().__init__()
        self.layers = tnn.ModuleList([block(tnn) for _ in range(L)])
        self.bn = tnn.BatchNorm1d(3)

    def forward(self, x, flag):
        for layer in self.layers:
            x = self.bn(layer(x))
        return x


def case_scan():
    # stacked layers (each step updates its own slice) and one BatchNorm closed over
    # (its update is carried from step to step)
    class Net(nn.Module):
        def __init__(self, layers, bn):
            super().__init__()
            self.layers = layers
            self.bn = bn

        def forward(self, x, flag):
            return nn.scan(lambda x, layer: (self.bn(layer(x)), None), x, self.layers)[0]

    def build():
        t = TLoop()
        layers = [copy_from(tl, block(nn)) for tl in t.layers]
        j = Net(stack(layers), copy_from(t.bn, nn.BatchNorm1d(3)))

        def state(m):
            out = unstack("layers", m.layers.state_dict())
            return out | {f"bn.{k}": v for k, v in m.bn.state_dict().items()}

        def grads(g):
            out = unstack("layers", dict(g.layers.named_parameters()))
            return out | {f"bn.{k}": v for k, v in g.bn.named_parameters()}

        return t, j, state, grads

    return build


class TCond(tnn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.bn = tnn.Linear(3, 3), tnn.BatchNorm1d(3)

    def forward(self, x, flag):
        x = self.lin(x)
        return self.bn(x) if flag else x * 2.0


def case_cond():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.bn = nn.Linear(3, 3), nn.BatchNorm1d(3)

        def forward(self, x, flag):
            return nn.cond(flag, self.bn, lambda x: x * 2.0, self.lin(x))

    def build():
        t = TCond()
        return (
            t,
            copy_from(t, Net()),
            lambda m: m.state_dict(),
            lambda g: dict(g.named_parameters()),
        )

    return build


class TEnsemble(tnn.Module):
    def __init__(self):
        super().__init__()
        self.models = tnn.ModuleList([block(tnn) for _ in range(L)])

    def forward(self, x, flag):
        return torch.stack([m(x) for m in self.models])


def case_vmap():
    class Net(nn.Module):
        def __init__(self, models):
            super().__init__()
            self.models = models

        def forward(self, x, flag):
            return nn.vmap(lambda m, x: m(x), in_axes=(0, None))(self.models, x)

    def build():
        t = TEnsemble()
        j = Net(stack([copy_from(tm, block(nn)) for tm in t.models]))

        def state(m):
            return unstack("models", m.models.state_dict())

        def grads(g):
            return unstack("models", dict(g.models.named_parameters()))

        return t, j, state, grads

    return build


CASES = {
    "checkpoint": case_plain("checkpoint"),
    "checkpoint-closure": case_plain("checkpoint-closure"),
    "scan": case_scan(),
    "cond": case_cond(),
    "vmap-ensemble": case_vmap(),
}
FLAGS = [True, False, True]  # cond takes the BatchNorm branch, then not, then again


@pytest.mark.parametrize("name", list(CASES))
def test_transformed_batchnorm_matches_torch(name):
    # Jitted: the eager paths run in the doctests of jaxnn/_transforms.py.
    tmodel, model, state, grads = CASES[name]()
    tmodel.train()

    @jax.jit
    def step(model, x, flag, cot):
        params, rest = eqx.partition(model, nn.trainable(model))

        def loss(params, x):
            out, new = nn.forward(eqx.combine(params, rest), x, flag)
            return (out * cot).sum(), (out, new)

        (_, (out, new)), g = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x)
        return out, new, g

    for i, flag in enumerate(FLAGS):
        x, cot = (
            randn(4, 3, seed=i),
            randn(*((L,) if name == "vmap-ensemble" else ()), 4, 3, seed=10 + i),
        )
        tmodel.zero_grad()
        tx = torch.from_numpy(x).requires_grad_(True)
        expected = tmodel(tx, flag)
        (expected * torch.from_numpy(cot)).sum().backward()
        out, model, (gparams, gx) = step(model, jnp.asarray(x), jnp.asarray(flag), jnp.asarray(cot))
        assert_close(out, expected, **TOL, what=f"{name} output, step {i}")
        assert_close(gx, tx.grad, **TOL, what=f"{name} input grad, step {i}")
        tgrads = {k: p.grad for k, p in tmodel.named_parameters()}
        for key, value in grads(gparams).items():
            if tgrads[key] is None:  # the cond branch not taken: torch has no grad, jax zeros
                np.testing.assert_array_equal(np.asarray(value), 0.0)
            else:
                assert_close(value, tgrads[key], **TOL, what=f"{name} grad {key}, step {i}")
    tstate = tmodel.state_dict()
    for key, value in state(model).items():
        assert_close(value, tstate[key], **TOL, what=f"{name} {key}")


@pytest.mark.long  # torch's first checkpoint call costs seconds
def test_checkpoint_updates_once_where_torch_checkpoint_updates_twice():
    # torch recomputes a checkpointed forward during backward and moves the running
    # statistics a second time; jaxnn.checkpoint gives the un-checkpointed model's numbers.
    tmodel = TPlain(checkpointed=True)
    x = torch.from_numpy(randn(4, 3)).requires_grad_(True)
    tmodel(x, True).sum().backward()
    model = copy_from(TPlain(), jax_plain("checkpoint-once"))
    _, model = jax.jit(nn.forward)(model, jnp.asarray(x.detach().numpy()), True)
    assert int(tmodel.block[1].num_batches_tracked) == 2
    assert int(model.block[1].num_batches_tracked) == 1


# ---------------------------------------------------------------------------- raw transforms
class Raw(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.stacked = stack([nn.BatchNorm1d(3) for _ in range(2)])
        self.how = how

    def forward(self, x):
        bn, how = self.bn, self.how
        if how == "jax.checkpoint":
            return jax.checkpoint(lambda m, x: m(x))(bn, x)
        if how == "jax.checkpoint-closure":
            return jax.checkpoint(lambda x: bn(x))(x)
        if how == "eqx.filter_checkpoint":
            return eqx.filter_checkpoint(lambda m, x: m(x))(bn, x)
        if how == "lax.scan-stacked":
            return jax.lax.scan(lambda x, m: (m(x), None), x, self.stacked)[0]
        if how == "lax.scan-closure":
            return jax.lax.scan(lambda x, _: (bn(x), None), x, None, length=2)[0]
        if how == "lax.cond":
            return jax.lax.cond(x.sum() > 0, lambda x: bn(x), lambda x: x, x)
        if how == "lax.fori_loop":
            return jax.lax.fori_loop(0, 2, lambda i, x: bn(x), x)
        if how == "jax.vmap":
            return jax.vmap(lambda x: bn(x))(jnp.stack([x, x]))
        if how == "eqx.filter_vmap-stacked":
            return eqx.filter_vmap(lambda m, x: m(x), in_axes=(0, None))(self.stacked, x)
        if how == "eqx.tree_at-copy":
            return eqx.tree_at(lambda m: m.weight, bn, bn.weight * 2)(x)
        raise AssertionError(how)


RAW = [
    "jax.checkpoint",
    "jax.checkpoint-closure",
    "eqx.filter_checkpoint",
    "lax.scan-stacked",
    "lax.scan-closure",
    "lax.cond",
    "lax.fori_loop",
    "jax.vmap",
    "eqx.filter_vmap-stacked",
    "eqx.tree_at-copy",
]
FIX = r"(?s)jaxnn\.checkpoint\(layer, x\).*jaxnn\.scan.*jaxnn\.cond.*jaxnn\.vmap"


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("how", RAW)
def test_raw_transformation_in_forward_raises_with_the_fix(how, jit):
    model, x = Raw(how), jnp.asarray(randn(4, 3))
    with pytest.raises(RuntimeError, match=FIX):  # raised while tracing: nothing compiles
        (jax.jit(nn.forward) if jit else nn.forward)(model, x)


def test_raw_transformation_in_eval_mode_is_fine():
    # eval mode records nothing: the same forwards run
    x = jnp.asarray(randn(4, 3))
    for how in ("jax.checkpoint", "lax.scan-stacked"):
        out, _ = jax.jit(nn.forward)(Raw(how).eval(), x)
        assert out.shape == (4, 3)


class RawDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x, raw):
        if raw:  # the key scope of model(x, key=k) cannot be split inside the trace
            return jax.checkpoint(lambda x: self.drop(x))(x)
        return nn.checkpoint(self.drop, x)


def test_key_scope_under_transformations():
    model, x = RawDropout(), jnp.ones((4, 8))
    with pytest.raises(RuntimeError, match=r"(?s)inside a JAX transformation.*jaxnn\.checkpoint"):
        model(x, True, key=jax.random.key(0))
    run = jax.jit(lambda x, k: model(x, False, key=k))
    a, b, c = (np.asarray(run(x, jax.random.key(s, impl="rbg"))) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)  # the key decides the mask
    assert set(np.unique(a).tolist()) == {0.0, 2.0} and not np.array_equal(a, c)


def test_scan_module_in_carry_and_vmap_unbatched_module_raise():
    bn = nn.BatchNorm1d(3)

    class Carry(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = bn

        def forward(self, x):
            return nn.scan(lambda c, _: ((c[0], c[0](c[1])), None), (self.bn, x), None, length=2)[
                0
            ][1]

    class Broadcast(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = bn

        def forward(self, x):
            return nn.vmap(lambda m, x: m(x), in_axes=(None, 0))(self.bn, jnp.stack([x, x]))

    x = jnp.asarray(randn(4, 3))
    with pytest.raises(RuntimeError, match=r"part of the carry.*Pass the layers in\s+xs"):
        nn.forward(Carry(), x)
    with pytest.raises(RuntimeError, match=r"not batched.*track_running_stats=False"):
        nn.forward(Broadcast(), x)


# ---------------------------------------------------------------------------- the warning
def _plain_calls(model, x, n):
    for _ in range(n):
        model(x)  # one call site


def test_dropped_update_warns_once_per_call_site():
    x = jnp.asarray(randn(4, 3))
    first, second = nn.BatchNorm1d(3), nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        _plain_calls(first, x, 3)  # a loop of eager calls: once
        second(x)  # another model, another line: again
        jax.jit(lambda m, x: m(x))(first, x)  # a traced call site: again
        _plain_calls(first, x, 2)  # the loop's line: already shown
    lines = [w.lineno for w in caught if issubclass(w.category, nn.BufferUpdateDroppedWarning)]
    assert len(lines) == 3 and len(set(lines)) == 3, lines
    assert all(w.filename == __file__ for w in caught)
    assert "jaxnn.forward" in str(caught[0].message)
    assert to_numpy(nn.forward(first, x)[1].num_batches_tracked) == 1
