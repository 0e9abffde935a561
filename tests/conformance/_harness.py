"""torch's own sample database, run against jaxnn as a new user would run it.

torch tests itself with ``op_db`` (an OpInfo per function: ``sample_inputs``) and
``module_db`` (a ModuleInfo per module: constructor and forward inputs, train and eval).
This harness takes every entry that names a ``torch.nn.functional`` function or a
``torch.nn`` module, converts each sample (tensors to arrays, torch dtypes to JAX dtypes),
calls jaxnn's function or builds jaxnn's module with the same constructor arguments and
torch's ``state_dict``, and compares through ``tests/parity.py``: outputs, input gradients
and parameter gradients (a random cotangent pulled back), the buffers a training-mode
call updates (``jaxnn.forward``), eager and under ``jax.jit``.

Every sample ends in one category:

* ``passed``: matches torch (float32 samples that miss torch's float32 numbers are
  compared once more with torch computing in float64 at the same tolerance; passing there
  is ``passed_f64``, a kind of pass: jaxnn is right and torch's float32 is not);
* ``excluded``: fails, and an entry of ``_exclusions.EXCLUSIONS`` names it with a reason;
* ``absent``: jaxnn has no function or module of that name (yet);
* ``failed``: anything else, including a passing sample that an exclusion still names
  (a stale exclusion);
* ``crashed`` / ``timeout`` (the long profile, which runs samples in a worker process,
  ``_worker.py``): the sample ended the process, or ran past the worker's timeout. Both
  are failures.

Random functions (dropout, rrelu in training, attention dropout) cannot draw torch's bits:
they are compared by distribution (``_random.py``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jaxnn
import jaxnn.functional as JF

from ..parity import _leaves, check_function, check_module, to_numpy, tolerance
from . import _random
from ._exclusions import EXCLUSIONS, Exclusion

DTYPES = ("float32", "float64")
_TORCH_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "int64": torch.int64,
}
# The real dtype whose tolerance an entry's samples are compared at.
_REAL = {
    "float32": np.float32,
    "float64": np.float64,
    "complex64": np.float32,
    "complex128": np.float64,
    "int64": np.float32,
}
# An OpInfo that takes neither float32 nor float64 (one_hot: integers; silu's "complex"
# variant) runs in the first of these it supports, so that every entry is exercised.
_FALLBACK_DTYPES = ("complex64", "complex128", "int64")

# OpInfos whose sample is not in the function's argument order (torch's test wraps them).
_ARGUMENT_ORDER: dict[str, Callable] = {
    "embedding": lambda weight, idx, **kw: ((idx, weight), kw),
    "embedding_bag": lambda weight, idx, **kw: ((idx, weight), kw),
}
# Functions that draw random numbers; jaxnn takes the key as the named keyword.
RANDOM_FUNCTIONS = {
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "rrelu",
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
}


# --------------------------------------------------------------------------- the databases
@functools.cache
def op_db() -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db as db
    return db


@functools.cache
def module_db() -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_modules import module_db as db
    return db


def _functional_name(op: Any) -> str | None:
    """'conv2d' for the OpInfo of nn.functional.conv2d or of an alias of it (softmax)."""
    for name in [op.name] + [a.name for a in op.aliases]:
        if name.startswith("nn.functional."):
            return name[len("nn.functional.") :]
    return None


@dataclass(frozen=True)
class Entry:
    """One test item: an OpInfo (variant) or a ModuleInfo, in one dtype (and mode)."""

    kind: str  # "F" (an nn.functional OpInfo) or "nn" (a ModuleInfo)
    name: str  # torch's: the OpInfo's name ("nn.functional.conv2d", "softmax") or "nn.Conv2d"
    variant: str  # the OpInfo's variant_test_name, "" if none
    dtype: str
    mode: str = ""  # "train" / "eval" for modules

    @property
    def jaxnn_name(self) -> str:
        if self.kind == "nn":
            return self.name.split(".", 1)[1]
        return _functional_name(self.info)  # type: ignore[return-value]

    @property
    def id(self) -> str:
        parts = [self.name.replace("nn.functional.", "F.")]
        if self.variant:
            parts.append(self.variant)
        parts.append(self.dtype)
        if self.mode:
            parts.append(self.mode)
        return "-".join(parts)

    @property
    def info(self) -> Any:
        return _infos()[(self.kind, self.name, self.variant)]

    @property
    def jaxnn_object(self) -> Any:
        """jaxnn's function or class of torch's name, or None where jaxnn has none yet."""
        return getattr(JF if self.kind == "F" else jaxnn, self.jaxnn_name, None)

    @property
    def exclusions(self) -> list[Exclusion]:
        return [e for e in EXCLUSIONS if e.scopes(self)]


@functools.cache
def _infos() -> dict:
    found = {}
    for op in op_db():
        if _functional_name(op) is not None:
            found[("F", op.name, op.variant_test_name)] = op
    for info in module_db():
        found[("nn", info.name, "")] = info
    return found


def _op_dtypes(op: Any) -> list[str]:
    supported = op.supported_dtypes("cpu")
    names = [d for d in DTYPES if _TORCH_DTYPES[d] in supported]
    if not names:
        names = [d for d in _FALLBACK_DTYPES if _TORCH_DTYPES[d] in supported][:1]
    return names


@functools.cache
def all_entries() -> tuple[Entry, ...]:
    """Every nn.functional OpInfo in each dtype, then every ModuleInfo in each dtype and mode."""
    out = []
    for (kind, name, variant), info in _infos().items():
        if kind == "F":
            out += [Entry("F", name, variant, d) for d in _op_dtypes(info)]
        else:
            for d in DTYPES:
                if _TORCH_DTYPES[d] in info.dtypes:
                    out += [Entry("nn", name, "", d, m) for m in ("train", "eval")]
    return tuple(out)


def cpu_less_entries() -> list[str]:
    """OpInfos with no dtype on CPU at all (torch runs them on CUDA only)."""
    return [
        f"{op.name}:{op.variant_test_name}"
        for (kind, _, _), op in _infos().items()
        if kind == "F" and not _op_dtypes(op)
    ]


# --------------------------------------------------------------------------- the samples
def _seed(*parts: Any) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def samples(entry: Entry, stop: int | None = None) -> list:
    """The entry's samples in torch's order, generated from a fixed seed (so indices are
    stable); ``stop`` generates only the first ones (the generators are lazy)."""
    torch.manual_seed(_seed(entry.name, entry.variant, entry.dtype, entry.mode))
    dtype = _TORCH_DTYPES[entry.dtype]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if entry.kind == "F":
            requires_grad = entry.info.supports_autograd and dtype.is_floating_point
            it = entry.info.sample_inputs("cpu", dtype, requires_grad=requires_grad)
            return list(itertools.islice(it, stop))
        got = entry.info.module_inputs_func(
            entry.info,
            device="cpu",
            dtype=dtype,
            requires_grad=True,
            training=entry.mode == "train",
        )
        return list(got)[:stop]


def describe(entry: Entry, sample: Any) -> str:
    """A short description of a sample: its tensors' shapes and its other arguments."""

    def fmt(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            kind = "" if x.dtype == _TORCH_DTYPES.get(entry.dtype) else f"{str(x.dtype)[6:]}"
            return f"T{kind}{list(x.shape)}"
        if isinstance(x, list | tuple):
            return type(x)(fmt(v) for v in x)
        if isinstance(x, dict):
            return {k: fmt(v) for k, v in x.items()}
        return x

    if entry.kind == "F":
        text = f"{fmt(sample.input)}, args={fmt(sample.args)}, kwargs={fmt(sample.kwargs)}"
    else:
        c, f = sample.constructor_input, sample.forward_input
        text = f"{sample.desc or '-'}: ctor{fmt(c.args)} {fmt(c.kwargs)}; "
        text += f"fwd{fmt(f.args)} {fmt(f.kwargs)}" if f is not None else "no forward"
    return text if len(text) < 400 else text[:400] + "..."


# --------------------------------------------------------------------------- conversions
class _Slot:
    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def split(tree: Any) -> tuple[Any, list[torch.Tensor]]:
    """(template, tensors): every tensor of a nested args structure replaced by a slot."""
    tensors: list[torch.Tensor] = []

    def go(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            tensors.append(x)
            return _Slot(len(tensors) - 1)
        if isinstance(x, torch.Size):
            return tuple(x)
        if isinstance(x, list | tuple) and not hasattr(x, "_fields"):
            return type(x)(go(v) for v in x)
        if isinstance(x, dict):
            return {k: go(v) for k, v in x.items()}
        return x

    return go(tree), tensors


def fill(template: Any, values: list, *, jax_side: bool) -> Any:
    """The inverse of ``split``; on jaxnn's side torch dtypes/devices become JAX's."""

    def go(x: Any) -> Any:
        if isinstance(x, _Slot):
            return values[x.i]
        if isinstance(x, list | tuple):
            return type(x)(go(v) for v in x)
        if isinstance(x, dict):
            return {k: go(v) for k, v in x.items()}
        if jax_side and isinstance(x, torch.dtype):
            return jnp.dtype(torch.empty((), dtype=x).numpy().dtype)
        if jax_side and isinstance(x, torch.device):
            return str(x)
        if jax_side and callable(x) and getattr(x, "__module__", "").startswith("torch"):
            return getattr(JF, x.__name__)
        return x

    return go(template)


def jaxnn_template(template: Any) -> Any:
    """A template for jaxnn's side: a torch module argument (TransformerEncoder's layer,
    the triplet loss's distance function) becomes its jaxnn twin, as a user porting the
    call would build it (converted once, outside any transformation)."""

    def go(x: Any) -> Any:
        if isinstance(x, list | tuple):
            return type(x)(go(v) for v in x)
        if isinstance(x, dict):
            return {k: go(v) for k, v in x.items()}
        if isinstance(x, torch.nn.Module):
            return jaxnn.from_torch(x)
        return x

    return go(template)


def to_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().resolve_conj().resolve_neg().contiguous().numpy().copy()


def _with_dtypes(tensors: Any, dtypes: list) -> list:
    """The sample's own dtypes for torch: the harness hands torch tensors made from JAX
    arrays, whose integers are 32-bit when x64 is off (torch wants int64 class indices)."""
    return [
        t if t.dtype == d or d.is_floating_point or d.is_complex else t.to(d)
        for t, d in zip(tensors, dtypes, strict=True)
    ]


def _grad_positions(tensors: list[torch.Tensor]) -> list[int]:
    return [
        i
        for i, t in enumerate(tensors)
        if t.requires_grad and (t.is_floating_point() or t.is_complex())
    ]


def _normalise(out: Any) -> Any:
    """torch's return types (named tuples) as plain tuples."""
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return tuple(_normalise(v) for v in out)
    if isinstance(out, list | tuple):
        return type(out)(_normalise(v) for v in out)
    return out


def _check_dtypes(jout: Any, tout: Any, what: str = "output") -> None:
    """Same kind of dtype as torch, same float width (ints may be 32-bit without x64)."""
    if isinstance(tout, list | tuple):
        for i, (j, t) in enumerate(zip(jout, tout, strict=True)):
            _check_dtypes(j, t, f"{what}[{i}]")
        return
    if not isinstance(tout, torch.Tensor):
        return
    tdt = to_numpy(tout).dtype if tout.dtype != torch.bfloat16 else np.dtype("float32")
    jdt = np.dtype(jnp.asarray(jout).dtype)
    if tdt.kind in "fc" or jdt.kind in "fc":
        ok = jdt == tdt
    elif tdt.kind == "b":
        ok = jdt.kind == "b"
    else:
        ok = jdt.kind in "iu" and (jdt.itemsize == tdt.itemsize or not jax.config.x64_enabled)
    assert ok, f"{what}: dtype {jdt} where torch gives {tdt}"


def _upcast(tensors: list) -> list:
    """torch's side in float64 (the float32 sample upcast), results back to float32."""
    return [t.double() if t.dtype == torch.float32 else t for t in tensors]


def _downcast(out: Any) -> Any:
    if isinstance(out, list | tuple):
        return type(out)(_downcast(v) for v in out)
    if isinstance(out, torch.Tensor) and out.dtype == torch.float64:
        return out.float()
    return out


# --------------------------------------------------------------------------- outcomes
class Absent(Exception):
    """jaxnn has no function or module of torch's name."""


@dataclass
class Outcome:
    entry: Entry
    index: int
    status: str  # passed | passed_f64 | passed_tol | excluded | absent | failed | crashed | timeout
    desc: str
    message: str = ""
    exclusion: Exclusion | None = None
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.entry.id}[{self.index}]"


def _first_lines(text: str, n: int = 12) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[:n])


def _x64(entry: Entry, sample: Any) -> Any:
    """64-bit types for 64-bit entries, and for a sample that asks for a 64-bit result
    (``softmax(x, dtype=torch.float64)``): a user who wants float64 turns x64 on."""
    wide = entry.dtype in ("float64", "complex128", "int64")
    if not wide and entry.kind == "F":
        template, _ = split((sample.args, dict(sample.kwargs)))
        wide = any(x in (torch.float64, torch.complex128) for x in _walk(template))
    return jax.enable_x64(wide)


def _walk(tree: Any) -> Iterator[Any]:
    if isinstance(tree, list | tuple):
        for v in tree:
            yield from _walk(v)
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _walk(v)
    else:
        yield tree


def run_sample(entry: Entry, index: int, sample: Any, eager: bool = True) -> Outcome:
    """Run one sample and classify it (never raises for a failing sample). ``eager=False``
    checks under ``jax.jit`` only (the CI subset's cheaper pass)."""
    desc = describe(entry, sample)
    start = time.perf_counter()
    matching = [e for e in entry.exclusions if e.matches(entry, index, sample)]
    widen = next((e for e in matching if e.tolerance), None)
    matching = [e for e in matching if not e.tolerance]
    _TORCH_WARNED.clear()
    status, message = "passed", ""
    try:
        if entry.jaxnn_object is None:
            raise Absent(f"jaxnn has no {'F' if entry.kind == 'F' else 'nn'}.{entry.jaxnn_name}")
        run = _run_function if entry.kind == "F" else _run_module
        with _x64(entry, sample), warnings.catch_warnings():
            _warnings_as_errors()
            try:
                status = run(entry, index, sample, eager=eager)
            except AssertionError as e:
                if widen is None:
                    raise
                try:
                    run(entry, index, sample, widen.tolerance, eager=eager)
                except AssertionError as e2:
                    raise AssertionError(
                        f"{_first_lines(str(e), 8)}\n-- and at the tolerance of {widen.label} "
                        f"{widen.tolerance} --\n{_first_lines(str(e2), 8)}"
                    ) from None
                status = "passed_tol"
    except Absent as e:
        status, message = "absent", str(e)
    except Exception as e:
        status = "failed"
        message = f"{type(e).__name__}: {_first_lines(str(e))}"
        if not isinstance(e, AssertionError):
            tb = traceback.extract_tb(e.__traceback__)
            ours = [f for f in tb if "/jaxnn/" in f.filename and "/tests/" not in f.filename]
            if ours:
                message += f"\n  at {ours[-1].filename.split('/jaxnn/', 1)[1]}:{ours[-1].lineno}"
    seconds = time.perf_counter() - start
    outcome = Outcome(entry, index, status, desc, message, seconds=seconds)
    if status == "passed_tol":
        # A tolerance entry is stale when no sample of a full run needs it (a sample that
        # passes without it is fine: the entry states an allowance, not a failure).
        outcome.exclusion = widen
    if matching and status != "absent":
        excl = matching[0]
        outcome.exclusion = excl
        if status == "failed" and excl.error_matches(message):
            outcome.status = "excluded"
        elif status == "failed":
            outcome.message = (
                f"{message}\n  (exclusion {excl.label} names this sample, but its error "
                f"pattern {excl.error!r} does not match)"
            )
        else:
            outcome.status = "failed"
            outcome.message = (
                f"stale exclusion {excl.label}: the sample now {status} ({excl.reason})"
            )
    return outcome


def _warnings_as_errors() -> None:
    # pyproject's filterwarnings, for the subprocess runner too (pytest sets it for tests).
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\..*")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")


# --------------------------------------------------------------------------- functions
# The warning categories torch issued for the sample being run. torch's warnings are not
# jaxnn's to fix; jaxnn may warn where torch warns (dropout2d on a 3-d input repeats
# torch's warning), and any other warning from jaxnn is an error, as in the suite.
_TORCH_WARNED: set[type] = set()


def _quiet(fn: Callable) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn(*args, **kwargs)
        _TORCH_WARNED.update(w.category for w in caught)
        return out

    return call


def _as_torch_warns(fn: Callable) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            for category in _TORCH_WARNED:
                warnings.filterwarnings("ignore", category=category)
            return fn(*args, **kwargs)

    return call


def _torch_callable(entry: Entry) -> Callable:
    op = entry.info
    if entry.jaxnn_name in RANDOM_FUNCTIONS:
        # torch's OpInfo wraps these in wrapper_set_seed (a fixed seed inside each call).
        return _quiet(getattr(torch.nn.functional, entry.jaxnn_name))
    for alias in op.aliases:
        if alias.name.startswith("nn.functional."):
            return _quiet(alias.op)
    return _quiet(op.op)


def _jaxnn_callable(entry: Entry, key: Any = None) -> Callable:
    fn = entry.jaxnn_object
    name = entry.jaxnn_name
    reorder = _ARGUMENT_ORDER.get(name)
    extra = {}
    if key is not None:
        params = inspect.signature(fn).parameters
        for kw in ("dropout_key", "key"):
            if kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY:
                extra[kw] = key
                break

    def call(*args: Any, **kwargs: Any) -> Any:
        if reorder is not None:
            args, kwargs = reorder(*args, **kwargs)
        return fn(*args, **kwargs, **extra)

    return call


def _function_parts(entry: Entry, sample: Any) -> tuple[Any, list, list[int]]:
    template, tensors = split((sample.input, sample.args, dict(sample.kwargs)))
    if entry.jaxnn_name.startswith("fractional_max_pool"):
        # torch draws the pooling regions inside the call; torch's own signature takes
        # them as `_random_samples`, so both libraries get the same regions.
        x = sample.input
        n = x.shape[0] if x.dim() == int(entry.jaxnn_name[-2]) + 2 else 1
        c = x.shape[-int(entry.jaxnn_name[-2]) - 1]
        gen = torch.Generator().manual_seed(_seed(entry.id, "regions"))
        regions = torch.rand((n, c, int(entry.jaxnn_name[-2])), generator=gen, dtype=x.dtype)
        inp, args, kwargs = template
        template = (inp, args, {**kwargs, "_random_samples": _Slot(len(tensors))})
        tensors = [*tensors, regions]
    return template, tensors, _grad_positions(tensors)


def _run_function(
    entry: Entry, index: int, sample: Any, widen: dict | None = None, eager: bool = True
) -> str:
    template, tensors, grad = _function_parts(entry, sample)
    tfn = _torch_callable(entry)
    arrays = [to_array(t) for t in tensors]
    tol = tolerance(_REAL[entry.dtype])
    tol.update(widen or {})

    if entry.jaxnn_name in RANDOM_FUNCTIONS and _random.is_random(tfn, template, tensors):
        _random.check(entry, tfn, _jaxnn_callable, template, tensors, grad, tol, eager)
        return "passed"

    torch_out: list = []

    dtypes = [t.dtype for t in tensors]

    def torch_side(*ts: Any) -> Any:
        inp, args, kwargs = fill(template, _with_dtypes(ts, dtypes), jax_side=False)
        out = _normalise(tfn(inp, *args, **kwargs))
        torch_out.append(out)
        return out

    jfn = _jaxnn_callable(entry, key=_random.keys_of(index))

    jtemplate = jaxnn_template(template)

    @_as_torch_warns
    def jaxnn_side(*xs: Any) -> Any:
        inp, args, kwargs = fill(jtemplate, list(xs), jax_side=True)
        return jfn(inp, *args, **kwargs)

    def check(**tol: Any) -> Any:
        return check_function(
            jaxnn_side, torch_side, arrays, grad=grad, seed=index, eager=eager, **tol
        )

    def torch64(*ts: Any) -> Any:
        return _downcast(torch_side(*_upcast(list(ts))))

    try:
        jout = check(**tol)
    except AssertionError as e:
        if entry.dtype != "float32" or widen:
            raise
        _against_float64(
            e,
            lambda **t: check_function(
                jaxnn_side, torch64, arrays, grad=grad, seed=index, eager=eager, **t
            ),
            tol,
            lambda: _torch_float32_error(torch_side, torch64, arrays, grad),
        )
        return "passed_f64"
    _check_dtypes(jout, torch_out[0])
    return "passed"


def _against_float64(
    error: AssertionError, rerun: Callable, tol: dict, torch_error: Callable
) -> None:
    """A float32 sample that misses torch's float32 numbers is judged against torch
    computing in float64 (results rounded to float32): first at the float32 tolerance;
    then norm-wise, with the absolute tolerance raised by ``rtol`` times the largest
    magnitude of the outputs (of the gradients, for the gradients) plus twice torch's own
    float32 error. Float32 rounding is relative to the magnitudes summed, not to each
    result: an element that cancels to near zero carries the rounding of its large terms,
    in torch as in jaxnn. Anything else is a failure, reported with both views."""
    try:
        rerun(**tol)
        return
    except AssertionError:
        pass
    e_out, e_grad, m_out, m_grad = torch_error()
    wide = dict(
        rtol=tol["rtol"],
        atol=tol["atol"] + tol["rtol"] * m_out + 2 * e_out,
        grad_rtol=tol["rtol"],
        grad_atol=tol["atol"] + tol["rtol"] * m_grad + 2 * e_grad,
    )
    try:
        rerun(**wide)
    except AssertionError as e64:
        raise AssertionError(
            f"{_first_lines(str(error), 8)}\n-- and against torch in float64, norm-wise: atol "
            f"{wide['atol']:.3g}, grads {wide['grad_atol']:.3g} (torch float32's own error "
            f"{e_out:.3g}, grads {e_grad:.3g}) --\n{_first_lines(str(e64), 8)}"
        ) from None


def _torch_float32_error(
    call32: Callable, call64: Callable, arrays: list, grad: list[int], params: Callable = list
) -> tuple[float, float, float, float]:
    """torch float32's own error, the largest |float32 - float64| over the outputs and over
    the gradients (inputs, then ``params()``) for one random cotangent; and the largest
    magnitudes of the float64 outputs and gradients."""
    results = []
    for call in (call32, call64):
        ts = [torch.from_numpy(a.copy()) for a in arrays]
        for i in grad:
            ts[i].requires_grad_(True)
        outs = [
            x for x in _leaves(call(*ts)) if isinstance(x, torch.Tensor) and x.is_floating_point()
        ]
        rng = np.random.default_rng(0)
        diff = [x for x in outs if x.requires_grad]
        wrt = [ts[i] for i in grad] + list(params())
        grads: list = []
        if diff and wrt:
            loss = sum(
                (x.double() * torch.from_numpy(rng.standard_normal(tuple(x.shape)))).sum()
                for x in diff
            )
            grads = [g for g in torch.autograd.grad(loss, wrt, allow_unused=True) if g is not None]
        results.append(([to_numpy(x) for x in outs], [to_numpy(g) for g in grads]))

    def largest(xs: list) -> float:
        finite = [np.nan_to_num(np.abs(x.astype(np.float64)), nan=0.0, posinf=0.0) for x in xs]
        return max((float(np.max(x)) for x in finite if x.size), default=0.0)

    def worst(a: list, b: list) -> float:
        return largest([x.astype(np.float64) - y for x, y in zip(a, b, strict=True)])

    (o32, g32), (o64, g64) = results
    return worst(o32, o64), worst(g32, g64), largest(o64), largest(g64)


# --------------------------------------------------------------------------- modules
class _TorchSample(torch.nn.Module):
    """The module under test, called with the sample's tensors as flat positional args."""

    def __init__(
        self, inner: torch.nn.Module, template: Any, dtypes: list, upcast: bool = False
    ) -> None:
        super().__init__()
        self.inner = inner
        self.dtypes = dtypes
        self.template = template
        self.upcast = upcast
        self.training = inner.training  # check_module copies the mode from the wrapper

    def forward(self, *tensors: Any) -> Any:
        return _quiet(self._forward)(*tensors)

    def _forward(self, *tensors: Any) -> Any:
        tensors = _with_dtypes(tensors, self.dtypes)
        if not self.upcast:
            args, kwargs = fill(self.template, list(tensors), jax_side=False)
            return _normalise(self.inner(*args, **kwargs))
        # float64 truth for a float32 module: parameters and buffers upcast for the call
        # (gradients flow back to the float32 parameters); updated buffers written back.
        state = {
            k: v.double() if v.dtype == torch.float32 else v
            for k, v in {
                **dict(self.inner.named_parameters()),
                **dict(self.inner.named_buffers()),
            }.items()
        }
        args, kwargs = fill(self.template, _upcast(list(tensors)), jax_side=False)
        out = torch.func.functional_call(self.inner, state, args, kwargs)
        with torch.no_grad():
            for name, buf in self.inner.named_buffers():
                buf.copy_(state[name])
        return _downcast(_normalise(out))


class _JaxnnSample(jaxnn.Module):
    def __init__(self, inner: Any, template: Any) -> None:
        super().__init__()
        self.inner = inner
        self.template = template

    def forward(self, *arrays: Any) -> Any:
        args, kwargs = fill(self.template, list(arrays), jax_side=True)
        return _as_torch_warns(self.inner)(*args, **kwargs)


def _build_modules(entry: Entry, index: int, sample: Any) -> tuple[Any, Any]:
    info = entry.info
    cls, jcls = info.module_cls, entry.jaxnn_object
    c = sample.constructor_input
    torch.manual_seed(_seed(entry.id, index, "init"))
    tmod = _quiet(cls)(*c.args, **c.kwargs).to(_TORCH_DTYPES[entry.dtype])
    template, tensors = split((c.args, c.kwargs))
    jargs, jkwargs = fill(
        jaxnn_template(template), [jnp.asarray(to_array(t)) for t in tensors], jax_side=True
    )
    jmod = jcls(*jargs, **jkwargs)
    jmod.to(jnp.dtype(entry.dtype))
    training = entry.mode == "train"
    tmod.train(training)
    jmod.train(training)
    if info.is_lazy:
        # A lazy module takes its shapes from the first call, in torch and in jaxnn.
        f = sample.forward_input
        with torch.no_grad():
            tmod(*[a.detach() if isinstance(a, torch.Tensor) else a for a in f.args], **f.kwargs)
        ftemplate, ftensors = split((f.args, f.kwargs))
        fargs, fkwargs = fill(
            jaxnn_template(ftemplate), [jnp.asarray(to_array(t)) for t in ftensors], jax_side=True
        )
        jmod(*fargs, **fkwargs)
    return tmod, jmod


def _run_module(
    entry: Entry, index: int, sample: Any, widen: dict | None = None, eager: bool = True
) -> str:
    tmod, jmod = _build_modules(entry, index, sample)
    assert repr(jmod) == repr(tmod), f"repr differs:\n{jmod!r}\n--- torch ---\n{tmod!r}"
    f = sample.forward_input
    template, tensors = split((f.args, dict(f.kwargs)))
    grad = _grad_positions(tensors)
    arrays = [to_array(t) for t in tensors]
    tol = tolerance(_REAL[entry.dtype])
    tol.update(widen or {})
    jwrap = _JaxnnSample(jmod, jaxnn_template(template))
    state = {k: v.clone() for k, v in tmod.state_dict().items()}

    def fresh(upcast: bool) -> _TorchSample:
        tmod.load_state_dict(state)  # a training-mode call updated BatchNorm's buffers
        return _TorchSample(tmod, template, [t.dtype for t in tensors], upcast=upcast)

    try:
        check_module(
            fresh(False), jwrap, arrays, grad=grad, check_repr=False, seed=index, eager=eager, **tol
        )
    except AssertionError as e:
        if entry.dtype != "float32" or widen:
            raise
        params = lambda: [p for p in tmod.parameters() if p.requires_grad]  # noqa: E731
        _against_float64(
            e,
            lambda **t: check_module(
                fresh(True),
                jwrap,
                arrays,
                grad=grad,
                check_repr=False,
                seed=index,
                eager=eager,
                **t,
            ),
            tol,
            lambda: _torch_float32_error(
                lambda *ts: fresh(False)(*ts), lambda *ts: fresh(True)(*ts), arrays, grad, params
            ),
        )
        return "passed_f64"
    return "passed"


# --------------------------------------------------------------------------- selection
def profile() -> str:
    """'ci' (a stratified subset) or 'all' (``pytest --long`` / ``JAXNN_LONG=1``)."""
    return "all" if os.environ.get("JAXNN_LONG", "0") == "1" else "ci"


# The CI subset: one sample of a few entries, each standing for a path of this harness
# that the others do not take (the suite's budget allows about this much; the long
# profile runs every sample of every entry). (entry id, sample index, also eager?, why)
CI_SAMPLES: tuple[tuple[str, int, bool, str], ...] = (
    ("F.embedding-float32", 0, True, "eager and jit; the OpInfo's argument order differs"),
    ("F.cross_entropy-float32", 0, False, "integer class targets keep torch's int64"),
    ("F.max_pool2d-float32", 0, False, "tuple output with integer indices, compared exactly"),
    ("F.conv3d-float32", 12, False, "torch float32 misses; judged against torch float64"),
    ("F.linear-float64", 0, False, "a float64 entry (x64 on)"),
    ("softmax-with_dtype-float32", 0, False, "dtype=torch.float64 on a float32 input"),
    ("F.silu-complex-complex64", 0, False, "a complex-only OpInfo variant"),
    ("F.one_hot-int64", 0, False, "an integer-only OpInfo"),
    ("nn.Linear-float32-eval", 0, True, "a module: torch's state_dict loaded, parameter grads"),
    ("nn.BatchNorm2d-float32-train", 0, False, "buffers after a training-mode call"),
    ("nn.Embedding-float32-eval", 0, False, "a module taking integer input"),
    ("nn.LazyConv1d-float32-eval", 0, False, "a lazy module, materialised by its first call"),
)


def ci_entries() -> list[Entry]:
    """The entries of ``CI_SAMPLES``, in its order."""
    return [entry(entry_id) for entry_id, *_ in CI_SAMPLES]


def entry_ids(kind: str) -> list[str]:
    """The ids the test modules parametrize over: every entry of ``kind`` ("F" or "nn") in
    the long profile; in CI those of ``CI_SAMPLES``, named without loading torch's
    databases (7 s of collection in every pytest process)."""
    if profile() == "all":
        return [e.id for e in all_entries() if e.kind == kind]
    return [i for i, *_ in CI_SAMPLES if i.startswith("nn.") == (kind == "nn")]


def entry(entry_id: str) -> Entry:
    """The entry of that id (a KeyError names one torch's databases no longer have)."""
    return _entries_by_id()[entry_id]


@functools.cache
def _entries_by_id() -> dict[str, Entry]:
    return {e.id: e for e in all_entries()}


def ci_indices(entry: Entry) -> list[int]:
    return [i for entry_id, i, *_ in CI_SAMPLES if entry_id == entry.id]


def ci_eager(entry: Entry) -> bool:
    """Eager too, besides ``jax.jit``: op-by-op compilation doubles a sample's cost."""
    return any(eager for entry_id, _, eager, _ in CI_SAMPLES if entry_id == entry.id)


def run_entry(
    entry: Entry, indices: list[int] | None = None, eager: bool = True
) -> Iterator[Outcome]:
    """Outcomes of the entry's samples: all of them, or those of ``indices`` (only the
    samples up to the last one asked for are generated)."""
    got = samples(entry, None if indices is None else max(indices, default=-1) + 1)
    if indices is None:
        indices = list(range(len(got)))
    assert all(i < len(got) for i in indices), (
        f"{entry.id} has {len(got)} samples; asked for {indices} (torch's database changed?)"
    )
    for i in indices:
        yield run_sample(entry, i, got[i], eager=eager)


def unmatched_exclusions(entry: Entry, outcomes: list[Outcome]) -> list[Exclusion]:
    """Exclusions scoped to the entry that no failing sample of a full run used."""
    used = {id(o.exclusion) for o in outcomes if o.status in ("excluded", "passed_tol")}
    return [e for e in entry.exclusions if id(e) not in used]


# --------------------------------------------------------------------------- pytest items
# What the suite's summary counts (root conftest); "crashed" (the process running the
# sample died, or the sample ran past the worker's timeout) is counted in "failed" too.
COUNTS = ("passed", "passed_f64", "passed_tol", "excluded", "absent", "failed", "crashed")


@functools.cache
def _worker() -> Any:
    """This process's worker (the long profile), closed when the process exits."""
    import atexit

    from ._worker import Worker

    w = Worker(timeout=float(os.environ.get("JAXNN_CONFORMANCE_TIMEOUT", "1800")))
    atexit.register(w.close)
    return w


def check_entry(entry: Entry, record_property: Callable) -> None:
    """One pytest item: run the entry's samples (the CI subset, or all of them), record
    the counts for the suite's summary, fail on any failed sample or stale exclusion."""
    import pytest

    full = profile() == "all"
    if full:
        # Every sample, in the worker process: a crash is this item's failure, not the
        # end of the run.
        outcomes = list(_worker().run(entry))
    else:
        outcomes = list(run_entry(entry, ci_indices(entry), eager=ci_eager(entry)))
    stale = unmatched_exclusions(entry, outcomes) if full else []
    counts = dict.fromkeys(COUNTS, 0)
    for o in outcomes:
        if o.status in ("crashed", "timeout"):
            counts["crashed"] += 1
            o.status = "failed"
        counts[o.status] += 1
    record_property(
        "conformance",
        {
            "db": "op_db" if entry.kind == "F" else "module_db",
            "counts": counts,
            "absent": sorted({o.message for o in outcomes if o.status == "absent"}),
            "stale": [e.label for e in stale],
        },
    )
    failed = [o for o in outcomes if o.status == "failed"]
    if failed or stale:
        lines = [f"{o.key} {o.desc}\n    {o.message}".replace("\n", "\n    ") for o in failed]
        lines += [f"stale exclusion {e.label}: no sample uses it ({e.reason})" for e in stale]
        pytest.fail(f"{len(failed)} of {len(outcomes)} samples failed:\n" + "\n".join(lines))
    if outcomes and counts["absent"] == len(outcomes):
        pytest.skip(f"absent in jaxnn: {outcomes[0].message} ({len(outcomes)} samples)")
