"""The bad-input audit harness: one case, run against torch and jaxnn, judged one way.

A case is a function of a ``Lib`` (torch's side or jaxnn's side: ``F``, ``nn``, ``A`` to
make an array from numpy, ``M`` to build a module whose weights jaxnn copies from torch's
twin). Two verdicts:

* ``same(...)``: torch accepts the input, so jaxnn must accept it and give torch's result
  (values, shape and kind of dtype; NaN where torch has NaN).
* ``err(...)``: torch raises, so jaxnn must raise too, eagerly (construction or trace
  time), with an exception of the given type whose message matches the regex (the
  argument's name, and the value where it is shown), and never a raw JAX/XLA error: the
  raising frame must not be inside jax, jaxlib, equinox or numpy, and the type must not
  be one of JAX's tracer errors. ``torch=None`` marks a jaxnn-only rule (keys, pure-world
  guards) where torch has nothing to compare.

``xfail=`` turns a case into a strict xfail: a known finding, with where to fix it.

Non-finite values are judged against torch's DEFAULT (scalar) kernels, never against
whichever vectorised kernels the local CPU selects: where an input or torch's output holds
NaN or +-inf, torch's side is re-run in a child process with ``ATEN_CPU_CAPABILITY=default``
(``tests/_torch_scalar.py``) and that is the reference. torch's AVX-512, AVX2 and DEFAULT
kernels disagree on some of these inputs (AVX-512 ``gelu(+-inf)`` is NaN, the others give
+-inf), so any other choice makes the verdict depend on the machine.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import equinox
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF
from jax._src import config as _jax_config

import jaxnn
import jaxnn.functional as JF

from .. import _torch_scalar
from ..parity import randn, to_numpy

_FOREIGN = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (jax, jaxlib, equinox, np)
)
_JAX_ERRORS = tuple(
    getattr(jax.errors, n)
    for n in (
        "JAXTypeError",
        "JAXIndexError",
        "ConcretizationTypeError",
        "TracerBoolConversionError",
        "TracerIntegerConversionError",
        "TracerArrayConversionError",
        "UnexpectedTracerError",
        "NonConcreteBooleanIndexError",
        "KeyReuseError",
    )
    if hasattr(jax.errors, n)
)


class Lib:
    """One side of a case: torch's or jaxnn's namespaces and array/module builders."""

    def __init__(self, kind: str, store: list) -> None:
        self.kind = kind  # "torch", "jax", or "traced": jaxnn inside jax.jit, arrays are tracers
        self.torch = kind == "torch"
        self.traced = kind == "traced"
        self.F = TF if self.torch else JF
        self.nn = tnn if self.torch else jaxnn
        self._store = store
        self._built = 0
        self.nonfinite = False  # an input held NaN or +-inf (see the module docstring)

    def A(self, x: Any, dtype: Any = None) -> Any:
        """numpy (or a nested list) -> torch tensor / jax array, same values and dtype."""
        a = np.asarray(x, dtype=dtype)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            self.nonfinite = True
        if self.torch:
            return torch.from_numpy(a.copy())
        if self.traced:  # a primitive applied inside the trace: a tracer, values unknown
            return jax.lax.optimization_barrier(jnp.asarray(a))
        return jnp.asarray(a)

    def M(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build ``nn.<name>(*args, **kwargs)``; jaxnn's copy loads torch's state_dict."""
        args = tuple(self.A(a) if isinstance(a, np.ndarray) else a for a in args)
        kwargs = {k: self.A(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        module = getattr(self.nn, name)(*args, **kwargs)
        if self.torch:
            self._store.append(module.state_dict())
        elif not self.traced:  # (inside jit a load_state_dict is refused, rightly)
            if self._built < len(self._store) and len(self._store[self._built]):
                module.load_state_dict(self._store[self._built])
        self._built += 1
        return module

    def dt(self, name: str) -> Any:
        """A dtype by name: ``torch.float32`` or ``jnp.float32``."""
        return getattr(torch, name) if self.torch else jnp.dtype(name)

    def key(self, seed: int = 0) -> Any:
        """A key for jaxnn's randomness; torch's side gets None (it has a global RNG)."""
        return None if self.torch else jax.random.key(seed)


@dataclass(frozen=True)
class Case:
    id: str
    fn: Callable[[Lib], Any]
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None
    match: str | None = None
    torch: bool | None = True  # err: torch must raise too; None: no torch counterpart
    xfail: str | None = None
    rtol: float = 1e-5
    atol: float = 1e-5
    warns: type[Warning] | None = None  # jaxnn is expected to warn (like torch)
    eager_only: bool = False  # a value check that cannot run on tracers (see VALUE_KINDS)
    area: str = ""
    kind: str = ""
    marks: tuple = field(default=())

    def param(self) -> Any:
        marks = list(self.marks)
        if self.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=self.xfail))
        return pytest.param(self, id=self.id, marks=marks)


def same(id: str, fn: Callable[[Lib], Any], **kw: Any) -> Case:
    """torch accepts this input: jaxnn must accept it and give torch's result."""
    return Case(id, fn, **kw)


def err(id: str, fn: Callable[[Lib], Any], raises: Any, match: str, **kw: Any) -> Case:
    """torch rejects this input: jaxnn must reject it eagerly, clearly, naming the argument."""
    return Case(id, fn, raises=raises, match=match, **kw)


def _raising_file(exc: BaseException) -> str:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last.tb_frame.f_code.co_filename if last is not None else "?"


def _kind(dtype: Any) -> str:
    dt = np.dtype(dtype) if not isinstance(dtype, torch.dtype) else None
    if isinstance(dtype, torch.dtype):
        if dtype.is_floating_point:
            return "f"
        if dtype.is_complex:
            return "c"
        return "b" if dtype == torch.bool else "i"
    return {"f": "f", "c": "c", "b": "b", "i": "i", "u": "i", "V": "f"}.get(dt.kind, dt.kind)


def _compare(actual: Any, expected: Any, rtol: float, atol: float, what: str = "output") -> None:
    if isinstance(expected, tuple | list):
        assert isinstance(actual, tuple | list), f"{what}: torch returns a {type(expected).__name__}, jaxnn a {type(actual).__name__}"
        assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, torch has {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _compare(a, e, rtol, atol, f"{what}[{i}]")
        return
    if isinstance(expected, torch.Tensor):
        e_kind = _kind(expected.dtype)
        a_kind = _kind(getattr(actual, "dtype", np.asarray(actual).dtype))
        assert a_kind == e_kind, f"{what}: dtype kind {a_kind!r} ({getattr(actual, 'dtype', None)}) != torch's {e_kind!r} ({expected.dtype})"
    a, e = to_numpy(actual), to_numpy(expected)
    assert np.shape(a) == np.shape(e), f"{what}: shape {np.shape(a)} != torch's {np.shape(e)}"
    if np.asarray(e).dtype.kind in "fc":
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64), rtol=rtol, atol=atol, err_msg=what, equal_nan=True)
    else:
        np.testing.assert_array_equal(a, e, err_msg=what)


def _run_torch(case: Case) -> tuple[Any, BaseException | None, list, bool]:
    """torch's side: (output, exception, state_dicts of built modules, saw non-finite)."""
    store: list = []
    lib = Lib("torch", store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = case.fn(lib)
        except Exception as e:
            return None, e, store, lib.nonfinite
    return out, None, store, lib.nonfinite


def _has_nonfinite(out: Any) -> bool:
    if isinstance(out, tuple | list):
        return any(_has_nonfinite(o) for o in out)
    if isinstance(out, torch.Tensor) and (out.is_floating_point() or out.is_complex()):
        return not bool(torch.isfinite(out).all())
    return False


def torch_case_on_default_kernels(module: str, case_id: str) -> tuple[Any, str | None, list]:
    """Run in the DEFAULT-kernel child (``tests/_torch_scalar.py``): torch's side of the
    case ``case_id`` defined in the test module ``module``, seeded as the suite seeds
    every test. Returns (output, error text, state_dicts)."""
    torch.manual_seed(0)
    np.random.seed(0)
    jaxnn.manual_seed(0)
    mod = importlib.import_module(module)
    found = [
        c
        for value in list(vars(mod).values())
        if isinstance(value, list | tuple)
        for c in value
        if isinstance(c, Case) and c.id == case_id
    ]
    if not found:
        raise LookupError(f"no Case {case_id!r} in a module-level list of {module}")
    out, e, store, _ = _run_torch(found[0])
    return out, None if e is None else f"{type(e).__name__}: {e}", store


def _reference(case: Case) -> tuple[Any, BaseException | None, list]:
    """torch's result for a ``same`` case; on DEFAULT kernels when values are non-finite."""
    out, e, store, nonfinite = _run_torch(case)
    if e is None and (nonfinite or _has_nonfinite(out)):
        out, error, store = _torch_scalar.call(
            "tests.hardening._audit:torch_case_on_default_kernels", case.fn.__module__, case.id
        )
        if error is not None:
            e = RuntimeError(f"on torch's DEFAULT kernels: {error}")
    return out, e, store


def check_case(case: Case) -> None:
    """Run one audit case (see the module docstring for the two verdicts)."""
    store: list = []
    tout, terr = None, None
    if case.torch is not None:
        if case.raises is None:
            tout, terr, store = _reference(case)
        else:
            tout, terr, store, _ = _run_torch(case)
    lib = Lib("jax", store)
    if case.raises is None:
        assert terr is None, f"the table says torch accepts this, but torch raised {type(terr).__name__}: {terr}"
        if case.warns is not None:
            with pytest.warns(case.warns):
                jout = case.fn(lib)
        else:
            jout = case.fn(lib)
        if case.torch is not None:
            _compare(jout, tout, case.rtol, case.atol)
        return
    if case.torch:
        assert terr is not None, "the table says torch rejects this, but torch accepted it"
    # Warnings on the way (torch's size-mismatch warning, say) are recorded, not raised: the
    # verdict is about the exception that stops the call.
    with _jax_config.traceback_filtering("off"), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            case.fn(lib)
        except Exception as e:
            exc = e
        else:
            raise AssertionError(
                f"jaxnn accepted an input that torch rejects ({type(terr).__name__}: {terr})"
                if terr is not None
                else "jaxnn accepted an input it must reject"
            )
    where = _raising_file(exc)
    detail = f"{type(exc).__name__} raised in {where}: {exc}"
    assert not isinstance(exc, _JAX_ERRORS), f"a raw JAX tracer error reached the user: {detail}"
    assert not where.startswith(_FOREIGN), f"a raw JAX/Equinox/NumPy error reached the user: {detail}"
    assert isinstance(exc, case.raises), f"expected {case.raises}, got {detail}"
    # str(KeyError) is the repr of its message; match the message itself.
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) else str(exc)
    assert re.search(case.match, text, flags=re.S), f"message does not match {case.match!r}: {detail}"


# Checks that need concrete values: under jax.jit they cannot raise (documented: indices
# are clipped). They are audited eagerly only.
VALUE_KINDS = {"target out of range", "value out of range", "wrong value"}
# In-place verbs and containers: under jit these raise the transformation guard instead
# (tests/hardening/test_audit_guards.py), so they are not re-run traced.
NOT_ARRAY_AREAS = {"containers", "state_dict/load", "module verbs", "checkpoints/interop"}


def traceable(case: Case) -> bool:
    """An error case torch also raises on, that depends on shapes/dtypes/arguments only."""
    return (
        case.raises is not None
        and case.torch is True
        and case.kind not in VALUE_KINDS
        and not case.eager_only
        and case.area not in NOT_ARRAY_AREAS
    )


def check_case_traced(case: Case) -> None:
    """The same verdict as ``check_case`` for an error case, with jaxnn's side traced by
    ``jax.jit`` (its arrays are tracers): the error must come at trace time, as clearly."""
    lib = Lib("traced", [])
    with _jax_config.traceback_filtering("off"), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            jax.jit(lambda: case.fn(lib))()
        except Exception as e:  # judged below
            exc = e
        else:
            raise AssertionError("under jax.jit, jaxnn accepted an input that torch rejects")
    where = _raising_file(exc)
    detail = f"{type(exc).__name__} raised in {where}: {exc}"
    assert not isinstance(exc, _JAX_ERRORS), f"a raw JAX tracer error reached the user: {detail}"
    assert not where.startswith(_FOREIGN), f"a raw JAX/Equinox/NumPy error reached the user: {detail}"
    assert isinstance(exc, case.raises), f"expected {case.raises}, got {detail}"
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) else str(exc)
    assert re.search(case.match, text, flags=re.S), f"message does not match {case.match!r}: {detail}"


def params(cases: list[Case]) -> list[Any]:
    ids = [c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate case ids: {sorted(dup)}"
    return [c.param() for c in cases]


rnd = randn  # the tables' short name for tests/parity.py's randn


def ints(*shape: int, high: int, seed: int = 0, low: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(np.int64)


def vg(L: Lib, fn: Callable[..., Any], *xs: Any, wrt: tuple[int, ...] = (0,)) -> tuple:
    """``(fn(F, *xs), *gradients of sum(output) w.r.t. xs[i] for i in wrt)`` on either side.

    For the NaN/inf cases, where what a kernel does at a non-finite input shows in the
    gradient as much as in the value. ``xs`` are numpy arrays; the others are constants.
    """
    args = [L.A(x) for x in xs]
    if L.torch:
        for i in wrt:
            args[i].requires_grad_(True)
        out = fn(L.F, *args)
        grads = torch.autograd.grad(out.sum(), [args[i] for i in wrt], allow_unused=True)
        grads = [torch.zeros_like(args[i]) if g is None else g for i, g in zip(wrt, grads, strict=True)]
        return (out.detach(), *grads)

    def f(*dyn: Any) -> Any:
        full = list(args)
        for i, v in zip(wrt, dyn, strict=True):
            full[i] = v
        return fn(L.F, *full)

    out, pull = jax.vjp(f, *[args[i] for i in wrt])
    return (out, *pull(jnp.ones_like(out)))
