"""Every formulation of convolution and pooling gives torch's numbers, inside lax.scan too.

``F.conv*d`` and ``F.max_pool*d`` / ``F.avg_pool*d`` choose a formulation per backend and
shape (``_conv_cpu``, ``_pooling_cpu``). The parity tables of ``test_conv`` and
``test_pooling`` run here once per formulation, pinned with the private
``force_formulation`` switch, and a small CNN is differentiated inside ``lax.scan`` with
each one. On CPU a structural test checks that the gradient convolutions inside a scan
body stay in the layout XLA's fast library takes (the reason for the channels-last
formulation), without timing anything.
"""

from __future__ import annotations

import contextlib
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn.functional as F
from jaxnn.functional import _conv_cpu, _pooling_cpu
from tests.functional import test_conv as tc
from tests.functional import test_pooling as tp
from tests.parity import assert_close, check_function, randn, to_numpy, to_torch

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

CONV_FORMS = _conv_cpu.FORMULATIONS
POOL_FORMS = _pooling_cpu.FORMULATIONS


# ------------------------------------------------ the parity tables, per formulation
# Every case of test_conv's and test_pooling's tables (plus the edge cases below) runs under
# each forced formulation. One jitted program per (table, formulation) computes all the
# cases' outputs and input/weight gradients at once: compiling per case would cost ~20x the
# time (the compile, not the maths, is the cost at these sizes). torch's results are
# computed once per table and shared by the formulations.


def _conv_table():
    cases = []
    for cid, n, xs, ws, bias, kw in tc.CONV_CASES:
        cases.append((f"conv-{cid}", *tc.CONV[n], tc._conv_args(xs, ws, bias, np.float32), kw))
    for cid, n, xs, ws, bias, kw in tc.CONV_T_CASES:
        args = tc._conv_t_args(xs, ws, bias, kw.get("groups", 1), np.float32)
        cases.append((f"conv_t-{cid}", *tc.CONV_T[n], args, kw))
    # A first layer in im2col's range (3 input channels, 3x3), strided and dilated.
    args = [randn(2, 3, 11, 10), randn(5, 3, 3, 3, seed=1), randn(5, seed=2)]
    kw = dict(stride=2, padding=(2, 1), dilation=2)
    cases.append(("conv-im2col-range", F.conv2d, TF.conv2d, args, kw))
    # Feature maps no larger than the kernel (a ResNet's last stage on small images): im2col
    # with a large reduction, by default on CPU; strided, and 1-d.
    args = [randn(3, 12, 2, 3), randn(7, 12, 3, 3, seed=1), randn(7, seed=2)]
    cases.append(("conv-small-map", F.conv2d, TF.conv2d, args, dict(padding=1)))
    args = [randn(2, 10, 3, 2), randn(4, 10, 3, 3, seed=1), randn(4, seed=2)]
    cases.append(("conv-small-map-strided", F.conv2d, TF.conv2d, args, dict(stride=2, padding=1)))
    args = [randn(2, 9, 3), randn(5, 9, 3, seed=1), randn(5, seed=2)]
    cases.append(("conv-small-map-1d", F.conv1d, TF.conv1d, args, dict(padding=2, dilation=2)))
    # A strided convolution whose output is no larger than its kernel (a ResNet's last
    # stride-2 layer): channels-last by default on CPU, the input gradient written by phase.
    args = [randn(2, 4, 6, 7), randn(6, 2, 3, 3, seed=1), randn(6, seed=2)]
    kw = dict(stride=(2, 3), padding=(1, 0), groups=2)
    cases.append(("conv-small-output-strided", F.conv2d, TF.conv2d, args, kw))
    return cases


# Ties, NaN (torch credits the LAST NaN), all -inf windows next to padding (the gradient
# goes to a real element, never to the padding), the tiled case (kernel == stride) that
# reads the gradient through a reshape, and a 3D tiled case.
# fmt: off
MAX_EDGE = [
    ("ties-tiled", 2, lambda: tp.ints(2, 3, 6, 8), dict(kernel_size=2)),
    ("ties-tiled-crop", 2, lambda: tp.ints(2, 3, 7, 9), dict(kernel_size=(2, 3), return_indices=True)),
    ("ties-tiled-ceil", 2, lambda: tp.ints(1, 2, 7, 7), dict(kernel_size=2, ceil_mode=True, return_indices=True)),
    ("tiled-3d", 3, lambda: tp.ints(1, 2, 4, 6, 4), dict(kernel_size=2, return_indices=True)),
    ("nan-tiled", 1, lambda: np.array([[[1.0, np.nan, np.nan, 3.0, 2.0, 2.0]]], np.float32), dict(kernel_size=3)),
    ("nan-overlap", 1, lambda: np.array([[[1.0, np.nan, 3.0, np.nan, 2.0, 0.0]]], np.float32), dict(kernel_size=3, stride=1, return_indices=True)),
    ("minus-inf-padded", 2, lambda: np.full((1, 1, 4, 5), -np.inf, np.float32), dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
]
# fmt: on


def _pool_table():
    cases = [(f"max-{c}", *tp.MAX[n], [tp.ints(*shape)], kw) for c, n, shape, kw in tp.MAX_CASES]
    cases += [(f"max-{c}", *tp.MAX[n], [make()], kw) for c, n, make, kw in MAX_EDGE]
    cases += [(f"avg-{c}", *tp.AVG[n], [randn(*shape)], kw) for c, n, shape, kw in tp.AVG_CASES]
    return cases


TABLES = {
    "conv": (_conv_table, _conv_cpu, CONV_FORMS),
    "pool": (_pool_table, _pooling_cpu, POOL_FORMS),
}


def _leaves(out):
    return list(out) if isinstance(out, tuple) else [out]


def _cotangents(leaves, seed=0):
    """A random cotangent per float output; None for indices (not differentiated)."""
    rng = np.random.default_rng(seed)
    floating = [np.dtype(leaf.dtype).kind == "f" for leaf in leaves]
    shapes = [tuple(leaf.shape) for leaf in leaves]
    return [
        rng.standard_normal(s).astype(np.float32) if f else None
        for s, f in zip(shapes, floating, strict=True)
    ]


@functools.cache
def _table(name):
    """The cases, with torch's outputs and gradients of sum(output * cotangent)."""
    cases = TABLES[name][0]()
    refs = []
    for _, _, tfn, args, kw in cases:
        targs = [to_torch(a, requires_grad=True) for a in args]
        leaves = _leaves(tfn(*targs, **kw))
        cots = _cotangents([to_numpy(t) for t in leaves])
        loss = sum(
            (t * torch.from_numpy(c)).sum()
            for t, c in zip(leaves, cots, strict=True)
            if c is not None
        )
        grads = torch.autograd.grad(loss, targs, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(targs, grads, strict=True)]
        refs.append(([to_numpy(t) for t in leaves], cots, [to_numpy(g) for g in grads]))
    return cases, refs


def _run_all(cases, cots_per_case, all_args):
    results = []
    for (_, jfn, _, _, kw), cots, args in zip(cases, cots_per_case, all_args, strict=True):

        def loss(*a, jfn=jfn, kw=kw, cots=cots):
            leaves = _leaves(jfn(*a, **kw))
            terms = [jnp.sum(y * c) for y, c in zip(leaves, cots, strict=True) if c is not None]
            return sum(terms), leaves

        (_, leaves), grads = jax.value_and_grad(loss, range(len(args)), has_aux=True)(*args)
        results.append((leaves, list(grads)))
    return results


@pytest.mark.parametrize("table,form", [(t, f) for t, (_, _, fs) in TABLES.items() for f in fs])
def test_parity_tables(table, form):
    """Outputs (indices included) and gradients of every case equal torch's, jitted."""
    cases, refs = _table(table)
    cots = [[None if c is None else jnp.asarray(c) for c in r[1]] for r in refs]
    args = [[jnp.asarray(a) for a in c[3]] for c in cases]
    with TABLES[table][1].force_formulation(form):
        got = jax.jit(functools.partial(_run_all, cases))(cots, args)
    for (cid, *_), (tout, _, tgrads), (leaves, grads) in zip(cases, refs, got, strict=True):
        assert_close(leaves, tout, what=f"{cid} output", rtol=1e-5, atol=1e-5)
        assert_close(grads, tgrads, what=f"{cid} grad", rtol=1e-5, atol=1e-5)


# Eagerly (no outer jit: the per-configuration kernels of _conv / _pooling), a conv, a
# transposed conv and both poolings, each formulation.
@pytest.mark.parametrize("form", CONV_FORMS)
def test_conv_eager(form):
    x, w, b = randn(2, 3, 9, 8), randn(4, 3, 3, 2, seed=1), randn(4, seed=2)
    with _conv_cpu.force_formulation(form):
        kw = dict(stride=(2, 1), padding=(1, 2))
        check_function(F.conv2d, TF.conv2d, [x, w, b], kw, jit=False)
        args = tc._conv_t_args((2, 3, 4, 5), (3, 2, 3, 2), True, 1, np.float32)
        kw = dict(stride=2, padding=1, output_padding=1)
        check_function(F.conv_transpose2d, TF.conv_transpose2d, args, kw, jit=False)


@pytest.mark.parametrize("form", POOL_FORMS)
def test_pool_eager(form):
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    with _pooling_cpu.force_formulation(form):
        x = tp.ints(2, 2, 7, 8)
        check_function(*tp.MAX[2], [x], dict(kw, return_indices=True), jit=False)
        x = randn(2, 2, 7, 6)
        check_function(*tp.AVG[2], [x], dict(kw, count_include_pad=False), jit=False)


@pytest.mark.parametrize("form", CONV_FORMS)
def test_conv_float64(form, x64):
    args = tc._conv_args((2, 4, 7, 6), (4, 2, 2, 3), True, np.float64)
    kwargs = dict(padding="same", dilation=(3, 2), groups=2)
    with _conv_cpu.force_formulation(form):
        check_function(F.conv2d, TF.conv2d, args, kwargs, jit=False)


@pytest.mark.parametrize("form", CONV_FORMS)
def test_conv_forward_mode_and_vmap(form):
    """jvp, jacfwd-of-grad and vmap-of-grad agree with the lax formulation."""
    x, w = jnp.asarray(randn(2, 3, 6, 5)), jnp.asarray(randn(4, 3, 3, 2, seed=1))
    tx, tw = jnp.asarray(randn(2, 3, 6, 5, seed=2)), jnp.asarray(randn(4, 3, 3, 2, seed=3))

    def results():
        out = []
        # The second: output no larger than the kernel (the input gradient by phase).
        for kw in (dict(stride=(2, 1), padding=1), dict(stride=(3, 2))):
            conv = functools.partial(F.conv2d, **kw)
            jvp = jax.jvp(conv, (x, w), (tx, tw))[1]
            hvp = jax.jvp(jax.grad(lambda w, c=conv: jnp.sum(c(x, w) ** 2)), (w,), (tw,))[1]
            loss = lambda v, w, c=conv: jnp.sum(c(v[None], w) ** 2)  # noqa: E731
            out += [jvp, hvp, jax.vmap(jax.grad(loss, 1), (0, None))(x, w)]
        return out

    with _conv_cpu.force_formulation("lax"):
        expected = results()
    with _conv_cpu.force_formulation(form):
        got = results()
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", CONV_FORMS)
def test_conv_follows_default_matmul_precision(form):
    with _conv_cpu.force_formulation(form):
        tc.test_conv_follows_default_matmul_precision("float32")


@pytest.mark.parametrize("form", POOL_FORMS)
def test_pool_bfloat16_and_vmap(form):
    with _pooling_cpu.force_formulation(form):
        tp.test_max_pool_bfloat16()
        tp.test_avg_pool_bfloat16()
        tp.test_max_pool_vmap_grad()
        tp.test_max_pool_gradient_goes_to_first_max()


@pytest.mark.parametrize("form", POOL_FORMS)
def test_max_pool_window_of_padding_only(form):
    """A dilated window can cover padding only: -inf out, as torch, and no gradient (torch's
    index for it points outside the plane, and its gradient lands in the next plane)."""
    x = jnp.asarray([1.0, 2.0]).reshape(1, 2, 1, 1)
    kw = dict(kernel_size=(1, 2), padding=(0, 1), dilation=(1, 2), stride=1)
    with _pooling_cpu.force_formulation(form):
        y, g = jax.value_and_grad(lambda v: F.max_pool2d(v, **kw).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.zeros((1, 2, 1, 1)))
    assert np.isneginf(float(y))


@pytest.mark.parametrize("form", POOL_FORMS)
def test_max_pool_forward_mode(form):
    x = jnp.asarray(tp.ints(2, 3, 6, 6))
    t = jnp.asarray(randn(2, 3, 6, 6, seed=1))
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        with _pooling_cpu.force_formulation("lax"):
            expected = jax.jvp(lambda v, kw=kwargs: F.max_pool2d(v, **kw), (x,), (t,))[1]
        with _pooling_cpu.force_formulation(form):
            got = jax.jvp(lambda v, kw=kwargs: F.max_pool2d(v, **kw), (x,), (t,))[1]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


# ---------------------------------------------------------------- inside lax.scan
def _cnn(params, x):
    c1, b1, c2, b2, fw = params
    h = F.max_pool2d(F.relu(F.conv2d(x, c1, b1, padding=1)), 2)
    h = F.avg_pool2d(F.relu(F.conv2d(h, c2, b2, padding=1, stride=(1, 2))), 3, 1, 1)
    return h.reshape(h.shape[0], -1) @ fw


def _torch_cnn(params, x):
    c1, b1, c2, b2, fw = params
    h = TF.max_pool2d(TF.relu(TF.conv2d(x, c1, b1, padding=1)), 2)
    h = TF.avg_pool2d(TF.relu(TF.conv2d(h, c2, b2, padding=1, stride=(1, 2))), 3, 1, 1)
    return h.reshape(h.shape[0], -1) @ fw


@pytest.mark.parametrize(
    "conv_form,pool_form",
    [("lax", "lax"), (None, None)],
    ids=["lax", "cpu-default"],
)
def test_cnn_gradients_inside_scan(conv_form, pool_form):
    """A scanned training-style loop: per-batch losses and gradients equal torch's."""
    shapes = [(4, 1, 3, 3), (4,), (6, 4, 3, 3), (6,), (6 * 4 * 2, 3)]
    params = [randn(*s, seed=i) * 0.5 for i, s in enumerate(shapes)]
    xs = tp.ints(3, 2, 1, 8, 8).astype(np.float32) + randn(3, 2, 1, 8, 8, seed=9) * 0.01

    def loss(p, x):
        return jnp.sum(_cnn(p, x) ** 2)

    @jax.jit
    def run(p, xs):
        def body(carry, x):
            value, grads = jax.value_and_grad(loss)(p, x)
            return carry + value, grads

        return jax.lax.scan(body, jnp.zeros(()), xs)

    # None: the backend's own choice (on CPU: im2col for the 1-channel first layer,
    # channels-last for the second, views for both poolings).
    with contextlib.ExitStack() as stack:
        if conv_form is not None:
            stack.enter_context(_conv_cpu.force_formulation(conv_form))
            stack.enter_context(_pooling_cpu.force_formulation(pool_form))
        total, grads = run([jnp.asarray(a) for a in params], jnp.asarray(xs))
    expected_total = 0.0
    for i in range(xs.shape[0]):
        tparams = [torch.from_numpy(a.copy()).requires_grad_() for a in params]
        tloss = (_torch_cnn(tparams, torch.from_numpy(xs[i])) ** 2).sum()
        tloss.backward()
        expected_total += tloss.item()
        for g, t in zip(grads, tparams, strict=True):
            np.testing.assert_allclose(np.asarray(g[i]), t.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(total), expected_total, rtol=1e-5)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA CPU layouts")
def test_scanned_conv_gradients_stay_canonical():
    """Inside a scan body XLA CPU does not rewrite convolutions into its library layout;
    the default CPU formulation must emit every convolution (forward, input gradient,
    weight gradient) in it already, or the loop runs a naive convolution (15x slower)."""
    x, w = jnp.ones((2, 2, 4, 8, 8)), jnp.ones((6, 4, 3, 3))

    def body(carry, x):
        dx, dw = jax.grad(lambda x, w: jnp.sum(F.conv2d(x, w, padding=1) ** 2), (0, 1))(x, w)
        return carry + dw, dx

    hlo = jax.jit(lambda x: jax.lax.scan(body, jnp.zeros_like(w), x)).lower(x).compile().as_text()
    labels = re.findall(r"convolution\(.*?dim_labels=(\S+?)[,\s]", hlo)
    assert labels, "expected convolutions in the compiled scan"
    assert set(labels) == {"b01f_01io->b01f"}, labels


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA CPU layouts")
def test_strided_small_output_input_gradient_stays_canonical():
    """The input gradient of a strided convolution whose output is no larger than its
    kernel is a sum of unit-stride convolutions in XLA CPU's library layout. JAX's own is
    input-dilated, which XLA swaps into a window-dilated, reversed convolution in another
    layout, off the library path: 15x the forward's time for a ResNet's last stride-2
    layer (3x3, 256 -> 512 channels, 4x4 -> 2x2 maps)."""
    x, w = jnp.ones((2, 8, 4, 4)), jnp.ones((16, 8, 3, 3))
    grad = jax.grad(lambda x, w: jnp.sum(F.conv2d(x, w, stride=2, padding=1) ** 2), (0, 1))
    hlo = jax.jit(grad).lower(x, w).compile().as_text()
    convs = re.findall(r"convolution\(.*", hlo)
    assert len(convs) > 3, convs  # the forward, the weight gradient, the input's phases
    assert not [c for c in convs if "lhs_dilate" in c or "rhs_reversal" in c], convs
    assert all("dim_labels=b01f_01io->b01f" in c for c in convs), convs


# (formulation, stride): does the input gradient keep torch's pattern of non-finite values?
_INF_WEIGHT = [
    pytest.param("lax", 1, marks=pytest.mark.xfail(strict=True, reason="0 * inf in padding")),
    pytest.param("channels_last", 1, marks=pytest.mark.xfail(strict=True, reason="0 * inf")),
    ("im2col", 1),
    ("lax", 2),
    pytest.param("channels_last", 2, marks=pytest.mark.xfail(strict=True, reason="0 * inf")),
    ("im2col", 2),
]


@pytest.mark.parametrize("form,stride", _INF_WEIGHT)
def test_input_gradient_through_an_infinite_weight(form, stride):
    """torch's input gradient through an infinite weight is +-inf where that weight reaches
    and finite elsewhere. A known difference (not fixed): where the input gradient is a
    padded unit-stride convolution (JAX's transpose of a stride-1 one, and the phases of a
    strided one whose output is no larger than the kernel), the padding's zeros meet the
    weight and give NaN (0 * inf) at 2-16 elements of these 5x5 inputs; im2col's gradient
    (a matmul and added slices) and XLA's rewrite of the input-dilated gradient do not.
    Strict: a fix turns these into passes, and the marks must go."""
    x = randn(1, 2, 5, 5)
    w = randn(2, 2, 3, 3, seed=1)
    w[0, 0, 1, 2] = np.inf
    g = randn(1, 2, 5 if stride == 1 else 2, 5 if stride == 1 else 2, seed=2)
    pad = 1 if stride == 1 else 0
    tx = to_torch(x, requires_grad=True)
    TF.conv2d(tx, to_torch(w), stride=stride, padding=pad).backward(to_torch(g))
    with _conv_cpu.force_formulation(form):
        _, vjp = jax.vjp(lambda v: F.conv2d(v, jnp.asarray(w), stride=stride, padding=pad), x)
        (dx,) = vjp(jnp.asarray(g))
    expected = to_numpy(tx.grad)
    assert np.isinf(expected).any() and not np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(np.asarray(dx)), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(np.asarray(dx)), np.isinf(expected))


def test_default_dispatch():
    """CPU: im2col for tiny reductions, channels-last otherwise, views for pooling; the
    environment opt-out and other backends keep lax."""
    c = _conv_cpu.choose
    cpu = jax.default_backend() == "cpu"
    assert c(jnp.float32, 1, (3, 3), 1, (1, 1)) == ("im2col" if cpu else "lax")
    assert c(jnp.float32, 16, (3, 3), 1, (1, 1)) == ("channels_last" if cpu else "lax")
    assert c(jnp.float32, 1, (3, 3), 2, (1, 1)) == ("channels_last" if cpu else "lax")
    assert c(jnp.int32, 16, (3, 3), 1, (1, 1)) == "lax"
    # a feature map no larger than the kernel: im2col whatever the reduction
    assert c(jnp.float32, 512, (3, 3), 1, (1, 1), (2, 2)) == ("im2col" if cpu else "lax")
    assert c(jnp.float32, 512, (3, 3), 1, (1, 1), (3, 4)) == ("channels_last" if cpu else "lax")
    assert c(jnp.float32, 512, (3, 3), 2, (1, 1), (2, 2)) == ("channels_last" if cpu else "lax")
    assert _pooling_cpu.choose(jnp.float32, (2, 2)) == ("views" if cpu else "lax")
    assert _pooling_cpu.choose(jnp.float32, (100, 100)) == "lax"


def test_small_feature_map_by_default_matches_torch():
    """A 3x3 convolution on 2x2 maps (a ResNet's last stage on small images) as a user calls
    it, with the backend's own choice (im2col on CPU): torch's output and gradients."""
    x, w, b = randn(3, 40, 2, 2), randn(8, 40, 3, 3, seed=1), randn(8, seed=2)
    check_function(F.conv2d, TF.conv2d, [x, w, b], dict(padding=1))


def test_env_opt_out(monkeypatch):
    monkeypatch.setenv("JAXNN_CPU_FAST_PATHS", "0")
    assert _conv_cpu.choose(jnp.float32, 16, (3, 3), 1, (1, 1)) == "lax"
    assert _pooling_cpu.choose(jnp.float32, (2, 2)) == "lax"


def test_force_rejects_unknown():
    with pytest.raises(ValueError, match="formulation='fast' is not valid"):
        with _conv_cpu.force_formulation("fast"):
            pass
