"""``jaxnn.pack``: the flat training state behind the zero-overhead step (issue #7).

The speed itself is measured in ``benchmarks/run.py`` (no timed assertions here); these
tests pin what makes it fast (jit sees one node over the array leaves, whatever the model)
and that nothing is lost on the way: structure, static leaves, gradients, a BatchNorm
model's buffers, the same numbers as the unpacked step.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import randn


def _model():
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2)
    )


def test_jit_sees_one_node_over_the_array_leaves():
    model = _model()
    params, rest = eqx.partition(model, nn.trainable(model))
    opt_state = optax.adam(1e-3).init(params)
    state = nn.pack(params, rest, opt_state)
    arrays = jax.tree.leaves((params, rest, opt_state))
    treedef = jax.tree.structure(state)
    assert treedef.num_nodes == 1 + len(arrays)  # the Packed node and its leaves: no walk
    assert all(a is b for a, b in zip(jax.tree.leaves(state), arrays, strict=True))


def test_round_trip_keeps_structure_statics_and_identity_of_leaves():
    model = _model()
    params, rest = eqx.partition(model, nn.trainable(model))
    tree = {"f": jnp.tanh, "n": 3, "x": jnp.ones(2), "s": "text"}
    p2, r2, t2 = nn.pack(params, rest, tree)
    assert eqx.tree_equal(eqx.combine(p2, r2), model)
    assert repr(eqx.combine(p2, r2)) == repr(model)
    assert t2["f"] is jnp.tanh and t2["n"] == 3 and t2["s"] == "text" and t2["x"] is tree["x"]
    assert len(jax.tree.leaves(nn.pack(tree))) == 1  # only the array is a child


def test_one_tree_unpacks_to_itself():
    model = _model()
    state = nn.pack(model)
    assert eqx.tree_equal(state.unpack(), model)
    with pytest.raises(TypeError, match=r"holds one tree.*state\.unpack\(\)"):
        a, b = state
    with pytest.raises(TypeError, match=r"pack\(\) needs at least one pytree"):
        nn.pack()
    assert nn.pack((1, 2)).unpack() == (1, 2)  # a tuple packed as one tree stays one tree


def _step(opt, packed):
    def step(state, x, y):
        params, rest, opt_state = state.unpack() if packed else state

        def loss_fn(p):
            out, new = nn.forward(eqx.combine(p, rest), x)
            return F.cross_entropy(out, y), new

        (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        rest = eqx.filter(new, nn.trainable(new), inverse=True)
        out = (params, rest, opt_state)
        return (nn.pack(*out) if packed else out), loss

    return jax.jit(step)


def test_packed_step_trains_exactly_like_the_plain_step():
    x, y = jnp.asarray(randn(8, 1, 4, 4)), jnp.arange(8) % 2
    opt = optax.adam(1e-2)
    model = _model()
    params, rest = eqx.partition(model, nn.trainable(model))
    plain, packed = (params, rest, opt.init(params)), nn.pack(params, rest, opt.init(params))
    plain_step, packed_step = _step(opt, False), _step(opt, True)
    for _ in range(3):
        plain, l1 = plain_step(plain, x, y)
        packed, l2 = packed_step(packed, x, y)
        assert float(l1) == float(l2)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(packed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    params, rest, _ = packed
    trained = eqx.combine(params, rest)
    assert int(trained[1].num_batches_tracked) == 3  # BatchNorm's buffers came back


def test_grad_through_a_packed_argument():
    model = nn.Linear(3, 1)
    x = jnp.asarray(randn(5, 3))

    def loss(state):
        return state.unpack()(x).sum()

    g = jax.grad(loss)(nn.pack(model)).unpack()
    np.testing.assert_allclose(
        np.asarray(g.weight), np.tile(np.asarray(x).sum(0), (1, 1)), rtol=1e-6
    )


def test_scan_carries_a_packed_state():
    model = nn.Linear(2, 2)
    state = nn.pack(model)

    def body(s, _):
        m = s.unpack()
        return nn.pack(eqx.tree_at(lambda m: m.bias, m, m.bias + 1)), None

    out, _ = jax.lax.scan(body, state, None, length=4)
    np.testing.assert_allclose(np.asarray(out.unpack().bias), np.asarray(model.bias) + 4)
