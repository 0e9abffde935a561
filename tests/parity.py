"""The parity harness: compare jaxnn with torch, forward and backward, eager and jitted.

A case is "the same computation" in both libraries. The harness feeds identical inputs to
both, compares outputs, then pulls back one random cotangent (not a plain sum, which would
hide errors that cancel) through both and compares every input gradient. The jaxnn side is
run eagerly and under ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

# float32: torch's CPU kernels and XLA's differ in summation order, so a relative 1e-5
# with a matching absolute floor; float64 is held to 1e-10.
TOL = {
    np.dtype("float32"): dict(rtol=1e-5, atol=1e-5),
    np.dtype("float64"): dict(rtol=1e-10, atol=1e-10),
    np.dtype("float16"): dict(rtol=1e-2, atol=1e-2),
}
TOL[jnp.dtype(jnp.bfloat16)] = dict(rtol=2e-2, atol=2e-2)


# Every case runs under jax.jit (output and gradients, one compiled program). The eager pass
# (op by op: output, then gradients under JVP tracers) compiles every primitive of the case
# on its own, a small program each; CI takes it for a sample of each table (the root
# conftest sets this per test: the first case of each parametrized test and every eighth)
# and the long profile for every case. A call with ``jit=False`` always runs eagerly.
EAGER = True


def to_torch(x: Any, requires_grad: bool = False) -> Any:
    """numpy / jax array -> torch tensor (copied); anything else passes through."""
    if isinstance(x, jax.Array | np.ndarray):
        a = np.asarray(x)
        if a.dtype == jnp.bfloat16:
            t = torch.from_numpy(a.astype(np.float32).copy()).to(torch.bfloat16)
        else:
            t = torch.from_numpy(a.copy())
        if requires_grad:
            t.requires_grad_(True)
        return t
    if isinstance(x, tuple | list):
        return type(x)(to_torch(v) for v in x)
    return x


def to_numpy(t: Any) -> Any:
    """torch tensor / jax array -> numpy (float32 for bfloat16)."""
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.numpy()
    a = np.asarray(t)
    if a.dtype == jnp.bfloat16:
        a = a.astype(np.float32)
    return a


def assert_close(actual: Any, expected: Any, *, rtol: float, atol: float, what: str = "") -> None:
    """Tree-wise allclose with a message that says which output and by how much."""
    if isinstance(expected, tuple | list):
        assert isinstance(actual, tuple | list) and len(actual) == len(expected), (
            f"{what}: structure differs: {type(actual)} vs {type(expected)}"
        )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, rtol=rtol, atol=atol, what=f"{what}[{i}]")
        return
    if expected is None or actual is None:  # MultiheadAttention's weights with need_weights=False
        assert actual is expected, f"{what}: {type(actual).__name__} where torch gives {expected!r}"
        return
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what, equal_nan=True)


def tolerance(dtype: Any, rtol: float | None = None, atol: float | None = None) -> dict:
    tol = dict(TOL[np.dtype(dtype)])
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    return tol


def _is_float(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.floating)


def _leaves(out: Any) -> list:
    """Flatten nested tuples/lists of outputs (LSTM's ``(out, (h, c))``) into a list."""
    if isinstance(out, tuple | list):
        return [leaf for item in out for leaf in _leaves(item)]
    return [out]


# The harness's own reduction (output . cotangent) is one compiled function, so that the
# eager gradient compiles it once instead of op by op (half the compiles of a small case);
# the function under test still runs eagerly.
_dot32 = jax.jit(lambda y, c: jnp.sum(y.astype(jnp.float32) * c.astype(jnp.float32)))
_dot = jax.jit(lambda y, c: jnp.sum(y * c))


def check_function(
    jfn: Callable,
    tfn: Callable,
    args: Sequence[Any],
    kwargs: dict | None = None,
    *,
    grad: bool | Sequence[int] = True,
    jit: bool = True,
    eager: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> Any:
    """Compare ``jfn(*args, **kwargs)`` with ``tfn(*torch_args, **kwargs)``.

    ``args`` are numpy/jax arrays or plain Python values; arrays are converted for torch.
    ``grad`` selects which positional floating-point arguments are differentiated (True:
    all of them, False: none). Outputs may be an array or a tuple of arrays; integer
    outputs (indices) are compared exactly and not differentiated. Returns jaxnn's output.
    ``eager=False`` checks under ``jax.jit`` only (a cheaper pass over many cases).
    """
    assert eager or jit, "check_function(eager=False, jit=False) would check nothing"
    kwargs = dict(kwargs or {})
    jargs = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    float_pos = [i for i, a in enumerate(jargs) if _is_float(a)]
    if grad is True:
        grad_pos = float_pos
    elif grad is False:
        grad_pos = []
    else:
        grad_pos = list(grad)
    dtype = jargs[float_pos[0]].dtype if float_pos else jnp.float32
    tol = tolerance(dtype, rtol, atol)
    gtol = dict(tol)
    if grad_rtol is not None:
        gtol["rtol"] = grad_rtol
    if grad_atol is not None:
        gtol["atol"] = grad_atol

    targs = [to_torch(a, requires_grad=(i in grad_pos)) for i, a in enumerate(jargs)]
    tkwargs = {k: to_torch(v) for k, v in kwargs.items()}
    tout = tfn(*targs, **tkwargs)

    def call(*dyn):
        full = list(jargs)
        for i, v in zip(grad_pos, dyn, strict=True):
            full[i] = v
        return jfn(*full, **kwargs)

    dyn = [jargs[i] for i in grad_pos]
    jout = None
    eager = eager and (EAGER or not jit)
    if eager:
        jout = call(*dyn)
        assert_close(jout, tout, what="eager output", **tol)

    tleaves = _leaves(tout)
    diff_idx = [
        i for i, t in enumerate(tleaves) if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]
    if not grad_pos or not diff_idx or not any(tleaves[i].requires_grad for i in diff_idx):
        if jit:
            jitted = jax.jit(call)(*dyn)
            assert_close(jitted, tout, what="jit output", **tol)
            jout = jitted if jout is None else jout
        return jout
    rng = np.random.default_rng(seed)
    cots = {
        i: rng.standard_normal(tuple(tleaves[i].shape)).astype(to_numpy(tleaves[i]).dtype)
        for i in diff_idx
    }
    tloss = sum(
        (tleaves[i].float() * to_torch(cots[i]).float()).sum()
        for i in diff_idx
        if tleaves[i].requires_grad
    )
    tgrads = torch.autograd.grad(tloss, [targs[i] for i in grad_pos], allow_unused=True)
    tgrads = [
        torch.zeros_like(targs[i]) if g is None else g
        for i, g in zip(grad_pos, tgrads, strict=True)
    ]

    def loss(*d):
        leaves = _leaves(call(*d))
        return sum(_dot32(leaves[i], jnp.asarray(cots[i])) for i in diff_idx)

    grad_fn = jax.grad(loss, argnums=tuple(range(len(grad_pos))))
    if eager:
        jgrads = grad_fn(*dyn)
        assert_close(list(jgrads), list(tgrads), what="eager grad", **gtol)
    if jit:
        # One compiled program for the output and the gradients (half the compiles).
        jitted, jgrads = jax.jit(lambda *d: (call(*d), grad_fn(*d)))(*dyn)
        assert_close(jitted, tout, what="jit output", **tol)
        assert_close(list(jgrads), list(tgrads), what="jit grad", **gtol)
        jout = jitted if jout is None else jout
    return jout


def randn(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """A deterministic standard-normal numpy array."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def copy_from_torch(jmod: Any, tmod: Any) -> Any:
    """Load torch's weights into the jaxnn twin through ``state_dict`` (strict); returns it."""
    result = jmod.load_state_dict(tmod.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    return jmod


def check_module(
    tmod: Any,
    jmod: Any,
    inputs: Sequence[Any],
    kwargs: dict | None = None,
    *,
    jit: bool = True,
    eager: bool = True,
    grad: bool | Sequence[int] = True,
    check_repr: bool = True,
    check_buffers: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> Any:
    """The module parity harness.

    Copies ``tmod``'s state_dict into ``jmod`` and compares, against torch: ``repr``,
    ``state_dict`` keys, the output, the gradients of every float input and of every
    parameter (by name), eager and under ``jax.jit``, and - when the forward updates
    buffers (BatchNorm in training mode) - the buffers returned by ``jaxnn.forward``.
    The mode (train/eval) of ``tmod`` is copied to ``jmod``. ``grad`` selects the
    differentiated float inputs by position, as in ``check_function`` (True: all of them);
    ``eager=False`` checks under ``jax.jit`` only.
    """
    assert eager or jit, "check_module(eager=False, jit=False) would check nothing"
    import equinox as eqx

    import jaxnn

    kwargs = dict(kwargs or {})
    if check_repr:
        assert repr(jmod) == repr(tmod), f"repr differs:\n{jmod!r}\n--- torch ---\n{tmod!r}"
    assert list(jmod.state_dict()) == list(tmod.state_dict()), (
        f"state_dict keys differ: {list(jmod.state_dict())} vs torch {list(tmod.state_dict())}"
    )
    copy_from_torch(jmod, tmod)
    jmod.train(tmod.training)

    jinputs = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in inputs]
    if grad is True:
        float_pos = [i for i, a in enumerate(jinputs) if _is_float(a)]
    else:
        float_pos = list(grad) if grad else []
    dtype = jinputs[float_pos[0]].dtype if float_pos else jnp.float32
    tol = tolerance(dtype, rtol, atol)
    gtol = dict(tol)
    if grad_rtol is not None:
        gtol["rtol"] = grad_rtol
    if grad_atol is not None:
        gtol["atol"] = grad_atol

    tinputs = [to_torch(a, requires_grad=(i in float_pos)) for i, a in enumerate(jinputs)]
    tkwargs = {k: to_torch(v) for k, v in kwargs.items()}
    for p in tmod.parameters():
        p.grad = None
    tout = tmod(*tinputs, **tkwargs)

    params, static = eqx.partition(jmod, jaxnn.trainable(jmod))

    def run(params, *xs):
        model = eqx.combine(params, static)
        full = list(jinputs)
        for i, v in zip(float_pos, xs, strict=True):
            full[i] = v
        return jaxnn.forward(model, *full, **kwargs)

    xs = [jinputs[i] for i in float_pos]

    def check_outputs(label, out, new):
        assert_close(out, tout, what=f"{label} output", **tol)
        if check_buffers:
            for name, tbuf in tmod.named_buffers():
                assert_close(new.get_buffer(name), tbuf, what=f"{label} buffer {name}", **tol)

    jout = None
    eager = eager and (EAGER or not jit)
    if eager:
        jout, new_model = run(params, *xs)
        check_outputs("eager", jout, new_model)
    tleaves = _leaves(tout)
    diff_idx = [i for i, t in enumerate(tleaves) if isinstance(t, torch.Tensor) and t.requires_grad]
    if grad is False or not diff_idx:
        if jit:
            out_jit, new_jit = jax.jit(run)(params, *xs)
            check_outputs("jit", out_jit, new_jit)
            jout = out_jit if jout is None else jout
        return jout
    rng = np.random.default_rng(seed)
    cots = {
        i: rng.standard_normal(tuple(tleaves[i].shape)).astype(to_numpy(tleaves[i]).dtype)
        for i in diff_idx
    }
    tloss = sum((tleaves[i] * to_torch(cots[i])).sum() for i in diff_idx)
    tparams = [(n, p) for n, p in tmod.named_parameters() if p.requires_grad]
    wrt = [tinputs[i] for i in float_pos] + [p for _, p in tparams]
    tgrads = torch.autograd.grad(tloss, wrt, allow_unused=True)
    tgrads = [torch.zeros_like(w) if g is None else g for w, g in zip(wrt, tgrads, strict=True)]

    def loss(params, *xs):
        out, _ = run(params, *xs)
        leaves = _leaves(out)
        return sum(_dot(leaves[i], jnp.asarray(cots[i])) for i in diff_idx)

    grad_fn = jax.grad(loss, tuple(range(1 + len(xs))))
    # Under jit: one compiled program for the output, the buffers and the gradients.
    results = [("eager", grad_fn(params, *xs))] if eager else []
    if jit:
        (out_jit, new_jit), g_jit = jax.jit(lambda p, *x: (run(p, *x), grad_fn(p, *x)))(params, *xs)
        check_outputs("jit", out_jit, new_jit)
        results.append(("jit", g_jit))
        jout = out_jit if jout is None else jout
    for label, g in results:
        gparams, gxs = g[0], g[1:]
        for i, gx in enumerate(gxs):
            assert_close(gx, tgrads[i], what=f"{label} grad of input {float_pos[i]}", **gtol)
        named = dict(gparams.named_parameters())
        for k, (name, _) in enumerate(tparams):
            assert name in named, f"no jaxnn gradient for parameter {name}"
            assert_close(named[name], tgrads[len(xs) + k], what=f"{label} grad of {name}", **gtol)
    return jout
