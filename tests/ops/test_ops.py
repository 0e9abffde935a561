"""``jaxnn.ops`` against torch 2.13: values and gradients of every op in the table.

The table runs as one jitted program (each op is a composition of ``jax.numpy`` calls
without value-dependent Python, so eager and jitted results agree; the real-model tests
replay these ops eagerly too). Method-style ops are compared with the torch method
(``x.view(2, -1)``), function-style with the function.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnn.ops as ops
from tests.parity import _leaves, assert_close, randn, to_torch, tolerance

A = randn(2, 3, 4, seed=1)
B = randn(2, 3, 4, seed=2)
V = randn(3, 4, seed=3)
M1 = randn(2, 3, seed=4)
M2 = randn(3, 5, seed=5)
B1 = randn(2, 3, 4, seed=6)
B2 = randn(2, 4, 5, seed=7)
POS = np.abs(randn(2, 3, 4, seed=8)) + 0.5
IDX = np.array([[2, 0, 1], [1, 1, 0]], dtype=np.int64)
MASK = randn(2, 3, 4, seed=9) > 0


def m(name, *margs, **mkw):
    """The torch method ``x.name(*margs, **mkw)`` as a function of ``x``."""
    return lambda x, *a: getattr(x, name)(*margs, *a, **mkw)


# id, jaxnn op, torch op, args (arrays are differentiated), kwargs (passed to both)
CASES = [
    # shape and layout
    ("size", lambda x: jnp.asarray(ops.size(x, 1)), lambda x: torch.tensor(x.size(1)), [A], {}),
    ("dim", lambda x: jnp.asarray(ops.dim(x)), lambda x: torch.tensor(x.dim()), [A], {}),
    ("numel", lambda x: jnp.asarray(ops.numel(x)), lambda x: torch.tensor(x.numel()), [A], {}),
    ("view", lambda x: ops.view(x, 2, -1), m("view", 2, -1), [A], {}),
    ("view-tuple", lambda x: ops.view(x, (6, 4)), m("view", (6, 4)), [A], {}),
    ("reshape", lambda x: ops.reshape(x, (4, -1)), lambda x: torch.reshape(x, (4, -1)), [A], {}),
    ("view_as", ops.view_as, lambda x, y: x.view_as(y), [A.reshape(6, 4), A], {}),
    ("flatten", ops.flatten, torch.flatten, [A], dict(start_dim=1)),
    ("flatten-mid", lambda x: ops.flatten(x, 0, 1), lambda x: torch.flatten(x, 0, 1), [A], {}),
    ("unflatten", lambda x: ops.unflatten(x, 2, (2, -1)), lambda x: torch.unflatten(x, 2, (2, -1)), [A], {}),
    ("permute-varargs", lambda x: ops.permute(x, 2, 0, 1), m("permute", 2, 0, 1), [A], {}),
    ("permute-tuple", lambda x: ops.permute(x, (1, 2, 0)), lambda x: torch.permute(x, (1, 2, 0)), [A], {}),
    ("transpose", lambda x: ops.transpose(x, 0, -1), lambda x: torch.transpose(x, 0, -1), [A], {}),
    ("t", ops.t, torch.t, [M1], {}),
    ("movedim", lambda x: ops.movedim(x, 0, -1), lambda x: torch.movedim(x, 0, -1), [A], {}),
    ("unsqueeze", lambda x: ops.unsqueeze(x, -1), lambda x: torch.unsqueeze(x, -1), [A], {}),
    ("squeeze-noop-dim", lambda x: ops.squeeze(x, 1), lambda x: torch.squeeze(x, 1), [A], {}),
    ("squeeze-all", ops.squeeze, torch.squeeze, [randn(2, 1, 3, 1)], {}),
    ("expand", lambda x: ops.expand(x, 2, -1, 4), m("expand", 2, -1, 4), [randn(3, 1)], {}),
    ("expand_as", ops.expand_as, lambda x, y: x.expand_as(y), [randn(3, 1), V], {}),
    ("repeat", lambda x: ops.repeat(x, 2, 1, 2), m("repeat", 2, 1, 2), [V], {}),
    ("cat", lambda x, y: ops.cat([x, y], dim=1), lambda x, y: torch.cat([x, y], dim=1), [A, B], {}),
    ("stack", lambda x, y: ops.stack((x, y), -1), lambda x, y: torch.stack((x, y), -1), [A, B], {}),
    ("chunk-uneven", lambda x: ops.chunk(x, 3, 2), lambda x: torch.chunk(x, 3, 2), [A], {}),
    ("split-size", lambda x: ops.split(x, 3, -1), lambda x: torch.split(x, 3, -1), [A], {}),
    ("split-sections", lambda x: ops.split(x, [1, 2], 1), lambda x: torch.split(x, [1, 2], 1), [A], {}),
    ("unbind", lambda x: ops.unbind(x, 1), lambda x: torch.unbind(x, 1), [A], {}),
    ("narrow", lambda x: ops.narrow(x, 2, 1, 2), lambda x: torch.narrow(x, 2, 1, 2), [A], {}),
    ("select", lambda x: ops.select(x, 1, -1), lambda x: torch.select(x, 1, -1), [A], {}),
    ("slice", lambda x: ops.slice(x, 2, 1, 100, 2), lambda x: x[:, :, 1:100:2], [A], {}),
    ("index", lambda x: ops.index(x, [None, jnp.array([2, 0])]), lambda x: x[:, torch.tensor([2, 0])], [A], {}),
    ("getitem-mixed", lambda x: x[:, None, 1:, -1], lambda x: x[:, None, 1:, -1], [A], {}),
    ("flip", lambda x: ops.flip(x, 0, 2), lambda x: torch.flip(x, (0, 2)), [A], {}),
    ("roll", lambda x: ops.roll(x, 1, 2), lambda x: torch.roll(x, 1, 2), [A], {}),
    ("tril", lambda x: ops.tril(x, -1), lambda x: torch.tril(x, -1), [V], {}),
    ("triu", lambda x: ops.triu(x, 1), lambda x: torch.triu(x, 1), [V], {}),
    ("gather-smaller-index", lambda x: ops.gather(x, 2, jnp.asarray(IDX[..., None].repeat(2, 2))),
     lambda x: torch.gather(x, 2, torch.from_numpy(IDX[..., None].repeat(2, 2))), [A], {}),
    ("index_select", lambda x: ops.index_select(x, 2, jnp.array([3, 0])),
     lambda x: torch.index_select(x, 2, torch.tensor([3, 0])), [A], {}),
    ("masked_fill", lambda x: ops.masked_fill(x, jnp.asarray(MASK), -2.0),
     lambda x: x.masked_fill(torch.from_numpy(MASK), -2.0), [A], {}),
    ("masked_fill-broadcast", lambda x: ops.masked_fill(x, jnp.asarray(MASK[0, 0]), 0.5),
     lambda x: x.masked_fill(torch.from_numpy(MASK[0, 0]), 0.5), [A], {}),
    ("where", lambda x, y: ops.where(jnp.asarray(MASK), x, y),
     lambda x, y: torch.where(torch.from_numpy(MASK), x, y), [A, B], {}),
    ("where-scalar", lambda x: ops.where(jnp.asarray(MASK), x, 0.0),
     lambda x: torch.where(torch.from_numpy(MASK), x, 0.0), [A], {}),
    ("contiguous", ops.contiguous, lambda x: x.contiguous(), [A], {}),
    ("clone", ops.clone, torch.clone, [A], {}),
    # arithmetic (with torch's rank broadcasting)
    ("add-alpha", lambda x, y: ops.add(x, y, alpha=2), lambda x, y: torch.add(x, y, alpha=2), [A, V], {}),
    ("sub", ops.sub, torch.sub, [A, V], {}),
    ("mul", ops.mul, torch.mul, [A, B], {}),
    ("div", ops.div, torch.div, [A, POS], {}),
    ("div-trunc-int", lambda: ops.div(jnp.array([-7, 7, 6]), jnp.array([2, -2, 3]), rounding_mode="trunc"),
     lambda: torch.div(torch.tensor([-7, 7, 6]), torch.tensor([2, -2, 3]), rounding_mode="trunc").int(), [], {}),
    ("div-floor", lambda x, y: ops.div(x, y, rounding_mode="floor"),
     lambda x, y: torch.div(x, y, rounding_mode="floor"), [A, POS], {}),
    ("floor_divide", lambda: ops.floor_divide(jnp.array([-7, 7]), 2),
     lambda: torch.floor_divide(torch.tensor([-7, 7]), 2).int(), [], {}),
    ("remainder", lambda x: ops.remainder(x, 0.7), lambda x: torch.remainder(x, 0.7), [A], {}),
    ("fmod", lambda x: ops.fmod(x, 0.7), lambda x: torch.fmod(x, 0.7), [A], {}),
    ("pow", lambda x: ops.pow(x, 3), lambda x: torch.pow(x, 3), [A], {}),
    ("pow-tensor", ops.pow, torch.pow, [POS, V], {}),
    ("neg", ops.neg, torch.neg, [A], {}),
    ("abs", ops.abs, torch.abs, [A], {}),
    ("sqrt", ops.sqrt, torch.sqrt, [POS], {}),
    ("rsqrt", ops.rsqrt, torch.rsqrt, [POS], {}),
    ("square", ops.square, torch.square, [A], {}),
    ("exp", ops.exp, torch.exp, [A], {}),
    ("expm1", ops.expm1, torch.expm1, [A], {}),
    ("log", ops.log, torch.log, [POS], {}),
    ("log1p", ops.log1p, torch.log1p, [POS], {}),
    ("log2", ops.log2, torch.log2, [POS], {}),
    ("sin", ops.sin, torch.sin, [A], {}),
    ("cos", ops.cos, torch.cos, [A], {}),
    ("tanh", ops.tanh, torch.tanh, [A], {}),
    ("sigmoid", ops.sigmoid, torch.sigmoid, [A], {}),
    ("erf", ops.erf, torch.erf, [A], {}),
    ("reciprocal", ops.reciprocal, torch.reciprocal, [POS], {}),
    ("sign", ops.sign, torch.sign, [A], {}),
    ("floor", ops.floor, torch.floor, [A * 3], {}),
    ("ceil", ops.ceil, torch.ceil, [A * 3], {}),
    ("round-half-even", lambda: ops.round(jnp.array([0.5, 1.5, 2.5, -0.5])),
     lambda: torch.round(torch.tensor([0.5, 1.5, 2.5, -0.5])), [], {}),
    ("trunc", ops.trunc, torch.trunc, [A * 3], {}),
    ("clamp", lambda x: ops.clamp(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), [A], {}),
    ("clamp-min-only", lambda x: ops.clamp(x, min=0.0), lambda x: torch.clamp(x, min=0.0), [A], {}),
    ("clamp-tensor", lambda x, y: ops.clamp(x, max=y), lambda x, y: torch.clamp(x, max=y), [A, V], {}),
    ("clamp_min", lambda x: ops.clamp_min(x, 0.1), lambda x: torch.clamp_min(x, 0.1), [A], {}),
    ("clamp_max", lambda x: ops.clamp_max(x, 0.1), lambda x: torch.clamp_max(x, 0.1), [A], {}),
    ("maximum", ops.maximum, torch.maximum, [A, B], {}),
    ("minimum", ops.minimum, torch.minimum, [A, B], {}),
    ("lerp", lambda x, y: ops.lerp(x, y, 0.3), lambda x, y: torch.lerp(x, y, 0.3), [A, B], {}),
    ("addcmul", lambda x, y, z: ops.addcmul(x, y, z, value=0.5),
     lambda x, y, z: torch.addcmul(x, y, z, value=0.5), [A, B, V], {}),
    ("addcdiv", lambda x, y, z: ops.addcdiv(x, y, z, value=0.5),
     lambda x, y, z: torch.addcdiv(x, y, z, value=0.5), [A, B, POS], {}),
    # products
    ("matmul-batch-vector", ops.matmul, torch.matmul, [A, randn(4, seed=10)], {}),
    ("matmul-broadcast", ops.matmul, torch.matmul, [A, randn(1, 4, 2, seed=11)], {}),
    ("mm", ops.mm, torch.mm, [M1, M2], {}),
    ("bmm", ops.bmm, torch.bmm, [B1, B2], {}),
    ("addmm", lambda b, x, y: ops.addmm(b, x, y, beta=0.5, alpha=2.0),
     lambda b, x, y: torch.addmm(b, x, y, beta=0.5, alpha=2.0), [randn(5, seed=12), M1, M2], {}),
    ("baddbmm", lambda b, x, y: ops.baddbmm(b, x, y, alpha=0.5),
     lambda b, x, y: torch.baddbmm(b, x, y, alpha=0.5), [randn(1, 3, 5, seed=13), B1, B2], {}),
    ("einsum", lambda x, y: ops.einsum("bij,bjk->bik", x, y), lambda x, y: torch.einsum("bij,bjk->bik", x, y), [B1, B2], {}),
    ("outer", ops.outer, torch.outer, [randn(3, seed=14), randn(4, seed=15)], {}),
    # reductions
    ("sum-all", ops.sum, torch.sum, [A], {}),
    ("sum-dims-keepdim", lambda x: ops.sum(x, (0, 2), keepdim=True), lambda x: torch.sum(x, (0, 2), keepdim=True), [A], {}),
    ("sum-bool", lambda: ops.sum(jnp.asarray(MASK), 1), lambda: torch.sum(torch.from_numpy(MASK), 1).int(), [], {}),
    ("mean-dim", lambda x: ops.mean(x, -1), lambda x: torch.mean(x, -1), [A], {}),
    ("mean-keepdim", lambda x: ops.mean(x, (2, 1), True), lambda x: x.mean((2, 1), True), [A], {}),
    ("prod", lambda x: ops.prod(x, 1), lambda x: torch.prod(x, 1), [A], {}),
    ("var-unbiased", lambda x: ops.var(x, 1), lambda x: torch.var(x, 1), [A], {}),
    ("var-correction0", lambda x: ops.var(x, 1, correction=0, keepdim=True),
     lambda x: torch.var(x, 1, correction=0, keepdim=True), [A], {}),
    ("std", lambda x: ops.std(x, (0, 1)), lambda x: torch.std(x, (0, 1)), [A], {}),
    ("max-all", ops.max, torch.max, [A], {}),
    ("max-dim", lambda x: ops.max(x, 1), lambda x: torch.max(x, 1), [A], {}),
    ("max-elementwise", ops.max, torch.max, [A, B], {}),
    ("min-dim-keepdim", lambda x: ops.min(x, 2, True), lambda x: torch.min(x, 2, True), [A], {}),
    ("amax", lambda x: ops.amax(x, (0, 2)), lambda x: torch.amax(x, (0, 2)), [A], {}),
    ("amin", lambda x: ops.amin(x, 1), lambda x: torch.amin(x, 1), [A], {}),
    ("argmax", lambda x: ops.argmax(x, 1), lambda x: torch.argmax(x, 1).int(), [A], {}),
    ("argmin-flat", ops.argmin, lambda x: torch.argmin(x).int(), [A], {}),
    ("cumsum", lambda x: ops.cumsum(x, 1), lambda x: torch.cumsum(x, 1), [A], {}),
    ("cumprod", lambda x: ops.cumprod(x, 2), lambda x: torch.cumprod(x, 2), [A], {}),
    ("logsumexp", lambda x: ops.logsumexp(x, 1), lambda x: torch.logsumexp(x, 1), [A], {}),
    ("norm", lambda x: ops.norm(x, dim=-1), lambda x: torch.norm(x, dim=-1), [A], {}),
    ("norm-p1", lambda x: ops.norm(x, 1, 1), lambda x: torch.norm(x, 1, 1), [A], {}),
    ("any", lambda: ops.any(jnp.asarray(MASK), 2), lambda: torch.any(torch.from_numpy(MASK), 2), [], {}),
    ("all", lambda: ops.all(jnp.asarray(MASK), 2), lambda: torch.all(torch.from_numpy(MASK), 2), [], {}),
    ("diff", lambda x: ops.diff(x, dim=1), lambda x: torch.diff(x, dim=1), [A], {}),
    # comparisons and logic
    ("eq", lambda x: ops.eq(x, x[:, :1]), lambda x: torch.eq(x, x[:, :1]), [A], {}),
    ("ne", ops.ne, torch.ne, [A, B], {}),
    ("lt", ops.lt, torch.lt, [A, V], {}),
    ("le", ops.le, torch.le, [A, B], {}),
    ("gt", lambda x: ops.gt(x, 0.1), lambda x: torch.gt(x, 0.1), [A], {}),
    ("ge", ops.ge, torch.ge, [A, B], {}),
    ("isnan", lambda: ops.isnan(jnp.array([1.0, jnp.nan])), lambda: torch.isnan(torch.tensor([1.0, float("nan")])), [], {}),
    ("isinf", lambda: ops.isinf(jnp.array([1.0, jnp.inf])), lambda: torch.isinf(torch.tensor([1.0, float("inf")])), [], {}),
    ("isfinite", lambda: ops.isfinite(jnp.array([1.0, jnp.inf])), lambda: torch.isfinite(torch.tensor([1.0, float("inf")])), [], {}),
    ("logical_and", lambda x, y: ops.logical_and(x > 0, y > 0), lambda x, y: torch.logical_and(x > 0, y > 0), [A, B], {}),
    ("logical_or", lambda x, y: ops.logical_or(x > 0, y > 0), lambda x, y: torch.logical_or(x > 0, y > 0), [A, B], {}),
    ("logical_xor", lambda x, y: ops.logical_xor(x > 0, y > 0), lambda x, y: torch.logical_xor(x > 0, y > 0), [A, B], {}),
    ("logical_not", lambda x: ops.logical_not(x > 0), lambda x: torch.logical_not(x > 0), [A], {}),
    ("bitwise_and-bool", lambda x, y: ops.bitwise_and(x > 0, y > 0), lambda x, y: (x > 0) & (y > 0), [A, B], {}),
    ("bitwise_or-int", lambda: ops.bitwise_or(jnp.array([1, 2]), 3), lambda: torch.bitwise_or(torch.tensor([1, 2]), 3).int(), [], {}),
    ("bitwise_xor-int", lambda: ops.bitwise_xor(jnp.array([1, 2]), 3), lambda: torch.bitwise_xor(torch.tensor([1, 2]), 3).int(), [], {}),
    ("bitwise_not-bool", lambda x: ops.bitwise_not(x > 0), lambda x: ~(x > 0), [A], {}),
    # creation and dtypes
    ("arange-int", lambda: ops.arange(1, 7, 2), lambda: torch.arange(1, 7, 2).int(), [], {}),
    ("arange-float", lambda: ops.arange(0.0, 1.0, 0.25), lambda: torch.arange(0.0, 1.0, 0.25), [], {}),
    ("zeros", lambda: ops.zeros(2, 3), lambda: torch.zeros(2, 3), [], {}),
    ("ones-dtype", lambda: ops.ones((2,), dtype=jnp.int32), lambda: torch.ones((2,), dtype=torch.int32), [], {}),
    ("full-int", lambda: ops.full((2, 2), 7), lambda: torch.full((2, 2), 7).int(), [], {}),
    ("empty", lambda: ops.empty(3) * 0, lambda: torch.empty(3) * 0, [], {}),
    ("tensor", lambda: ops.tensor([[1.5, 2.0]]), lambda: torch.tensor([[1.5, 2.0]]), [], {}),
    ("zeros_like", ops.zeros_like, torch.zeros_like, [A], {}),
    ("ones_like", ops.ones_like, torch.ones_like, [A], {}),
    ("full_like", lambda x: ops.full_like(x, 2.5), lambda x: torch.full_like(x, 2.5), [A], {}),
    ("empty_like", lambda x: ops.empty_like(x) * 0, lambda x: torch.empty_like(x) * 0, [A], {}),
    ("new_zeros", lambda x: ops.new_zeros(x, (2, 2)), lambda x: x.new_zeros((2, 2)), [A], {}),
    ("new_ones", lambda x: ops.new_ones(x, 3), lambda x: x.new_ones(3), [A], {}),
    ("new_full", lambda x: ops.new_full(x, (2,), 4), lambda x: x.new_full((2,), 4), [A], {}),
    ("new_empty", lambda x: ops.new_empty(x, (2,)) * 0, lambda x: x.new_empty((2,)) * 0, [A], {}),
    ("new_tensor", lambda x: ops.new_tensor(x, [1, 2]), lambda x: x.new_tensor([1, 2]), [A], {}),
    ("to-dtype", lambda x: ops.to(x, jnp.float16), lambda x: x.to(torch.float16), [A], {}),
    ("to-device-noop", lambda x: ops.to(x, "cpu"), lambda x: x.to("cpu"), [A], {}),
    ("to-other", lambda x: ops.to(x, jnp.zeros(1, jnp.int32)), lambda x: x.to(torch.zeros(1, dtype=torch.int32)), [A * 3], {}),
    ("type_as", lambda x: ops.type_as(x, jnp.zeros(1, jnp.int32)), lambda x: x.type_as(torch.zeros(1, dtype=torch.int32)), [A * 3], {}),
    ("float", lambda: ops.float(jnp.array([1, 2])), lambda: torch.tensor([1, 2]).float(), [], {}),
    ("half", ops.half, lambda x: x.half(), [A], {}),
    ("bfloat16", ops.bfloat16, lambda x: x.bfloat16(), [A], {}),
    ("int", lambda x: ops.int(x * 3), lambda x: (x * 3).int(), [A], {}),
    ("long", lambda x: ops.long(x * 3), lambda x: (x * 3).long().int(), [A], {}),
    ("bool", ops.bool, lambda x: x.bool(), [A], {}),
    ("detach", lambda x: ops.detach(x) * x, lambda x: x.detach() * x, [A], {}),
]  # fmt: skip


def _torch_case(tfn, args, kwargs, rng):
    targs = [to_torch(a, requires_grad=_is_float(a)) for a in args]
    leaves = [t for t in _leaves(tfn(*targs, **kwargs)) if isinstance(t, torch.Tensor)]
    diff = [t for t in leaves if t.requires_grad]
    cots = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in diff]
    grads = []
    floats = [t for t in targs if isinstance(t, torch.Tensor) and t.requires_grad]
    if diff and floats:
        loss = sum((t.float() * torch.from_numpy(c)).sum() for t, c in zip(diff, cots, strict=True))
        grads = torch.autograd.grad(loss, floats, allow_unused=True)
        grads = [
            torch.zeros_like(f) if g is None else g for f, g in zip(floats, grads, strict=True)
        ]
    return leaves, cots, grads, [t.requires_grad for t in leaves]


def _is_float(a):
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


# CI compiles every sixth case (compiling is the cost); the long profile the whole table.
SAMPLE = CASES[::6]


@pytest.mark.parametrize(
    "cases",
    [pytest.param(SAMPLE, id="sample"), pytest.param(CASES, id="all", marks=pytest.mark.long)],
)
def test_ops_match_torch_values_and_gradients(cases):
    """The table in one jitted program: every op's outputs and input gradients.

    One ``jax.jit`` for ~170 ops (instead of compiling each op's primitives eagerly)
    keeps this under a few seconds; each case is still compared on its own, by name.
    """
    rng = np.random.default_rng(0)
    ref = [_torch_case(c[2], c[3], c[4], rng) for c in cases]

    def run(floats):
        it = iter(floats)
        outs, losses = [], []
        for (_, jfn, _, args, kwargs), (_, cots, _, req) in zip(cases, ref, strict=True):
            full = [next(it) if _is_float(a) else a for a in args]
            out = [o for o in _leaves(jfn(*full, **kwargs)) if isinstance(o, jax.Array)]
            outs.append(out)
            diff = [o for o, r in zip(out, req, strict=True) if r]
            losses += [jnp.sum(o.astype(jnp.float32) * c) for o, c in zip(diff, cots, strict=True)]
        return sum(losses), outs

    floats = [jnp.asarray(a) for c in cases for a in c[3] if _is_float(a)]
    grads, outs = jax.jit(jax.grad(run, has_aux=True))(floats)
    gi = iter(grads)
    for (name, _, _, args, _), (leaves, _, tgrads, _), out in zip(cases, ref, outs, strict=True):
        tol = tolerance(jnp.float16 if name in ("half", "to-dtype") else np.float32)
        if name == "bfloat16":
            tol = tolerance(jnp.bfloat16)
        assert_close(out, leaves, what=f"{name} output", **tol)
        g = [next(gi) for a in args if _is_float(a)]
        if tgrads:
            assert_close(g, list(tgrads), what=f"{name} grad", **tolerance(np.float32))


@pytest.mark.long
def test_random_ops_take_a_key_and_have_torch_distributions():
    key = jax.random.key(0)
    u = ops.rand(20000, key=key)
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0 and abs(float(u.mean()) - 0.5) < 0.01
    n = ops.randn_like(jnp.zeros((200, 100)), key=key)
    assert abs(float(n.mean())) < 0.01 and abs(float(n.std()) - 1.0) < 0.01
    b = ops.bernoulli(jnp.zeros(20000), 0.3, key=key)
    assert abs(float(b.mean()) - 0.3) < 0.01 and b.dtype == jnp.float32
    x = jnp.ones((4000, 3))
    dropped = ops.stochastic_depth(x, 0.25, "row", key=key)
    rows = np.asarray(dropped[:, 0])
    assert set(np.unique(rows)) == {0.0, np.float32(1 / 0.75)}
    assert abs(float((rows == 0).mean()) - 0.25) < 0.03
    assert (np.asarray(dropped) == rows[:, None]).all()  # whole rows
    np.testing.assert_array_equal(ops.stochastic_depth(x, 0.25, "row", training=False), x)
    with pytest.raises(ValueError, match=r"key=jax\.random\.key"):
        ops.rand(3)
    with pytest.raises(ValueError, match=r"key"):
        ops.stochastic_depth(x, 0.25, "row")


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ops.view(jnp.zeros(6), 4, -1), r"invalid for input of size 6"),
        (lambda: ops.expand(jnp.zeros((3, 2)), 3, 4), r"must match the existing size"),
        (lambda: ops.split(jnp.zeros(5), [2, 2]), r"sum exactly to 5"),
        (lambda: ops.mean(jnp.arange(3)), r"floating point"),
        (lambda: ops.clamp(jnp.zeros(2)), r"At least one of 'min' or 'max'"),
        (lambda: ops.div(jnp.ones(2), 2, rounding_mode="round"), r"rounding_mode"),
        (lambda: ops.permute(jnp.zeros((2, 3)), 0), r"number of dimensions"),
        (lambda: ops.flatten(jnp.zeros((2, 3)), 1, 0), r"start_dim cannot come after end_dim"),
    ],
)
def test_torch_errors(call, match):
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError), match=match):
        call()
