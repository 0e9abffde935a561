"""Property-based parity: random valid arguments, jaxnn.functional vs torch.nn.functional.

Each test draws shapes and flags from the *valid* space of a function (torch accepts
them), runs both libraries eagerly (no ``jax.jit`` of ours), and compares the output and
the gradient of every float input under one random cotangent, to 1e-4 relative +
absolute in float32.

Shapes are tiny and drawn from small ranges, so repeated shapes reuse JAX's compiled
kernels: the "ci" profile (15 derandomized examples, see the root conftest.py) keeps the
file well under a minute of CPU; ``pytest --hypothesis-profile=long`` searches deeper.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import jaxnn.functional as JF

from ..parity import assert_close

TOL = dict(rtol=1e-4, atol=1e-4, grad_rtol=1e-4, grad_atol=1e-4)

# The suite's autouse seed fixture is function-scoped; it does not interact with examples.
# No "explain" phase: it imports modules that emit DeprecationWarnings, which this suite's
# warnings-as-errors config turns into an internal error that hides the real failure.
_given = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


def _randn(data, *shape):
    seed = data.draw(st.integers(0, 2**16), label="seed")
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _check(jfn, tfn, args, kwargs=None, grad=True):
    """Eager parity of the output and of every float input's gradient, one random cotangent.

    The same comparison as ``tests/parity.py``'s ``check_function(jit=False)``, written
    with one ``jax.vjp`` (output and pullback from one linearisation), which compiles about
    a third as many XLA programs per example: the file's CPU budget is compile time.
    """
    kwargs = dict(kwargs or {})
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if grad is not True:
        pos = list(grad)
    targs = [
        torch.from_numpy(a.copy()).requires_grad_(i in pos) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(args)
    ]
    with warnings.catch_warnings():  # torch's performance notes ('same' with even kernels)
        warnings.simplefilter("ignore")
        tout = tfn(*targs, **kwargs)
    cot = np.random.default_rng(0).standard_normal(tuple(tout.shape)).astype(np.float32)
    tgrads = torch.autograd.grad(
        (tout * torch.from_numpy(cot)).sum(), [targs[i] for i in pos], allow_unused=True
    )

    def f(*dyn):
        full = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        for i, v in zip(pos, dyn, strict=True):
            full[i] = v
        return jfn(*full, **kwargs)

    jout, pullback = jax.vjp(f, *[jnp.asarray(args[i]) for i in pos])
    assert_close(jout, tout, what="output", rtol=TOL["rtol"], atol=TOL["atol"])
    jgrads = pullback(jnp.asarray(cot))
    for i, jg, tg in zip(pos, jgrads, tgrads, strict=True):
        tg = torch.zeros_like(targs[i]) if tg is None else tg
        assert_close(
            jg, tg, what=f"grad of argument {i}", rtol=TOL["grad_rtol"], atol=TOL["grad_atol"]
        )


def _out_len(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# ----------------------------------------------------------------------------- convolutions
@_given
@given(data=st.data(), nd=st.sampled_from([1, 2]))
def test_conv(data, nd):
    groups = data.draw(st.sampled_from([1, 2]), label="groups")
    cin = groups * data.draw(st.integers(1, 2), label="cin/g")
    cout = groups * data.draw(st.integers(1, 2), label="cout/g")
    n = data.draw(st.integers(1, 2), label="N")
    k = tuple(data.draw(st.integers(1, 3), label="k") for _ in range(nd))
    d = tuple(data.draw(st.integers(1, 2), label="dilation") for _ in range(nd))
    same_pad = data.draw(st.booleans(), label="padding='same'")
    if same_pad:
        s, padding = (1,) * nd, data.draw(st.sampled_from(["same", "valid"]), label="pad str")
        p = (0,) * nd
    else:
        s = tuple(data.draw(st.integers(1, 3), label="stride") for _ in range(nd))
        p = tuple(data.draw(st.integers(0, 2), label="pad") for _ in range(nd))
        padding = p
    size = []
    for i in range(nd):
        lo = max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i])
        size.append(data.draw(st.integers(lo, lo + 3), label="L"))
    x = _randn(data, n, cin, *size)
    w = _randn(data, cout, cin // groups, *k)
    b = _randn(data, cout) if data.draw(st.booleans(), label="bias") else None
    name = f"conv{nd}d"
    kwargs = dict(stride=s, padding=padding, dilation=d, groups=groups)
    _check(getattr(JF, name), getattr(TF, name), [x, w, b], kwargs)


@_given
@given(data=st.data())
def test_conv_transpose2d(data):
    groups = data.draw(st.sampled_from([1, 2]), label="groups")
    cin = groups * data.draw(st.integers(1, 2))
    cout = groups * data.draw(st.integers(1, 2))
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    s = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    p = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    # torch: output_padding must be smaller than either stride or dilation
    op = tuple(data.draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(2))
    size = []
    for i in range(2):
        # output (L-1)*s - 2p + d(k-1) + op + 1 >= 1
        lo = 1
        while (lo - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 < 1:
            lo += 1
        size.append(data.draw(st.integers(lo, lo + 2)))
    x = _randn(data, 1, cin, *size)
    w = _randn(data, cin, cout // groups, *k)
    b = _randn(data, cout) if data.draw(st.booleans()) else None
    kwargs = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
    _check(JF.conv_transpose2d, TF.conv_transpose2d, [x, w, b], kwargs)


# ----------------------------------------------------------------------------- pooling
@_given
@given(data=st.data(), kind=st.sampled_from(["max", "avg"]))
def test_pool2d(data, kind):
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = tuple(data.draw(st.integers(0, ki // 2)) for ki in k)
    d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))) if kind == "max" else (1, 1)
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    size = []
    for i in range(2):
        lo = max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i])
        size.append(data.draw(st.integers(lo, lo + 4)))
    x = _randn(data, data.draw(st.integers(1, 2)), 2, *size)
    if kind == "max":
        kwargs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
        # A dilated window can hold padding only: torch's output is -inf there, but its index
        # points outside the plane and the gradient lands in a neighbouring plane (ours: no
        # gradient). Such examples compare the output alone.
        out = JF.max_pool2d(jnp.asarray(x), **kwargs)
        if np.isneginf(np.asarray(out)).any():
            expected = TF.max_pool2d(torch.from_numpy(x), **kwargs)
            assert_close(out, expected, what="output", rtol=TOL["rtol"], atol=TOL["atol"])
        else:
            _check(JF.max_pool2d, TF.max_pool2d, [x], kwargs)
    else:
        cip = data.draw(st.booleans(), label="count_include_pad")
        kwargs = dict(
            kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=cip
        )
        _check(JF.avg_pool2d, TF.avg_pool2d, [x], kwargs)


@_given
@given(data=st.data(), kind=st.sampled_from(["avg", "max"]))
def test_adaptive_pool2d(data, kind):
    size = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6)))
    out = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6)))
    batched = data.draw(st.booleans(), label="batched")
    x = _randn(data, *(((2,) if batched else ()) + (2, *size)))
    name = f"adaptive_{kind}_pool2d"
    _check(getattr(JF, name), getattr(TF, name), [x], dict(output_size=out))


# ----------------------------------------------------------------------------- interpolate / pad
@_given
@given(
    data=st.data(),
    mode=st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area"]),
)
def test_interpolate(data, mode):
    nd = (
        1
        if mode == "linear"
        else 2
        if mode in ("bilinear", "bicubic")
        else data.draw(st.sampled_from([1, 2]))
    )
    size_in = tuple(data.draw(st.integers(1, 5)) for _ in range(nd))
    x = _randn(data, 1, 2, *size_in)
    kwargs = dict(mode=mode)
    if mode in ("linear", "bilinear", "bicubic"):
        kwargs["align_corners"] = data.draw(st.booleans(), label="align_corners")
    if mode != "area" and data.draw(st.booleans(), label="use scale_factor"):
        kwargs["scale_factor"] = data.draw(st.sampled_from([0.5, 1.5, 2.0, 3.0]))
        if any(int(s * kwargs["scale_factor"]) < 1 for s in size_in):
            # an empty output dimension: torch refuses it at the call, and so must jaxnn
            msg = "sizes should be greater than 0"
            with pytest.raises(RuntimeError, match=msg):
                TF.interpolate(torch.from_numpy(x), **kwargs)
            with pytest.raises(RuntimeError, match=msg):
                JF.interpolate(jnp.asarray(x), **kwargs)
            return
    else:
        kwargs["size"] = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    _check(JF.interpolate, TF.interpolate, [x], kwargs)


@_given
@given(data=st.data(), mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]))
def test_pad(data, mode):
    nd = data.draw(st.sampled_from([1, 2]), label="padded dims")
    size = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    x = _randn(data, 1, 2, *size)
    pads = []
    for sz in reversed(size):  # torch's pad runs from the last dim backwards
        for _ in range(2):
            if mode == "constant":
                v = data.draw(st.integers(-(sz - 1) // 2, 2))
            elif mode == "reflect":
                v = data.draw(st.integers(0, sz - 1))
            elif mode == "circular":
                v = data.draw(st.integers(0, sz))
            else:
                v = data.draw(st.integers(0, 2))
            pads.append(v)
    kwargs = dict(mode=mode)
    if mode == "constant":
        kwargs["value"] = data.draw(st.sampled_from([0.0, 1.5]))
    _check(JF.pad, TF.pad, [x, tuple(pads)], kwargs)


# ----------------------------------------------------------------------------- losses / norms
@_given
@given(data=st.data())
def test_cross_entropy(data):
    n = data.draw(st.integers(1, 4), label="N")
    c = data.draw(st.integers(2, 5), label="C")
    spatial = data.draw(st.sampled_from([(), (2,)]), label="spatial")
    x = _randn(data, n, c, *spatial)
    probs = data.draw(st.booleans(), label="probability targets")
    kwargs = dict(
        reduction=data.draw(st.sampled_from(["mean", "sum", "none"])),
        label_smoothing=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
    )
    if data.draw(st.booleans(), label="weight"):
        kwargs["weight"] = np.abs(_randn(data, c)) + 0.1
    if probs:
        t = np.abs(_randn(data, n, c, *spatial)) + 0.01
        t = (t / t.sum(1, keepdims=True)).astype(np.float32)
        args = [x, t]
        grad = [0, 1]
    else:
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        t = rng.integers(0, c, size=(n, *spatial)).astype(np.int64)
        ignore = data.draw(st.sampled_from([None, -100, 0]), label="ignore_index")
        if ignore is not None:
            kwargs["ignore_index"] = ignore
            t.flat[0] = ignore  # at least one ignored element
            if (t == ignore).all() and kwargs["reduction"] == "mean":
                kwargs["reduction"] = "sum"  # all ignored: mean is 0/0 in both; keep it finite
        args = [x]  # class indices stay numpy int64 (torch needs Long), closed over below
        grad = [0]
    w = kwargs.pop("weight", None)

    t_torch = None if probs else torch.from_numpy(t)

    def jfn(x, *rest, **k):
        target = rest[0] if rest else t
        return JF.cross_entropy(x, target, None if w is None else np.asarray(w), **k)

    def tfn(x, *rest, **k):
        target = rest[0] if rest else t_torch
        return TF.cross_entropy(x, target, None if w is None else torch.from_numpy(w), **k)

    _check(jfn, tfn, args, kwargs, grad=grad)


@_given
@given(data=st.data())
def test_layer_norm(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    k = data.draw(st.integers(1, len(shape)), label="normalized dims")
    norm_shape = shape[-k:]
    x = _randn(data, *shape)
    affine = data.draw(st.booleans(), label="affine")
    args = [x, norm_shape]
    if affine:
        args += [_randn(data, *norm_shape), _randn(data, *norm_shape)]
    eps = data.draw(st.sampled_from([1e-5, 1e-3]))
    # a single normalised element has zero variance: the output is exactly bias/0, gradients 0
    _check(JF.layer_norm, TF.layer_norm, args, dict(eps=eps))


@_given
@given(data=st.data())
def test_group_norm(data):
    g = data.draw(st.integers(1, 3), label="groups")
    c = g * data.draw(st.integers(1, 2), label="channels/group")
    n = data.draw(st.integers(1, 3))
    spatial = tuple(data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    if c // g * int(np.prod(spatial)) == 1:
        spatial = (2,)  # torch requires more than one value per group
    x = _randn(data, n, c, *spatial)
    args = [x, g]
    if data.draw(st.booleans(), label="affine"):
        args += [_randn(data, c), _randn(data, c)]
    _check(JF.group_norm, TF.group_norm, args)


@_given
@given(data=st.data(), fn=st.sampled_from(["softmax", "log_softmax", "softmin"]))
def test_softmax_dims(data, fn):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = _randn(data, *shape) * data.draw(st.sampled_from([1.0, 10.0]))
    _check(getattr(JF, fn), getattr(TF, fn), [x], dict(dim=dim))


@pytest.mark.parametrize("name", ["ci", "long"])
def test_profiles_are_registered(name):
    settings.get_profile(name)  # raises InvalidArgument if the root conftest lost them
    if name == "ci":
        p = settings.get_profile("ci")
        assert p.max_examples == 2 and p.deadline is None and p.derandomize and p.database is None
