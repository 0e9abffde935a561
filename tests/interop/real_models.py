"""The model zoo and the comparison harness for the real-model tests (issue #14).

Models are built with random weights (nothing is downloaded), then *perturbed*: every
float parameter and buffer gets noise, so zero-initialised heads, zero biases and unit
norms cannot hide an error. Dropout and stochastic depth are set to 0 for the parity
checks (their masks cannot equal torch's bits); their randomness is tested separately.

``compare`` runs one jitted forward and backward in both libraries and returns the
largest relative error of every output, input gradient, parameter gradient and (in
training mode) updated buffer: ``max|jaxnn - torch| / max|torch|``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import torch

import jaxnn as nn
from tests.parity import to_numpy


def import_torchvision() -> Any:
    """torchvision's wheel is a CUDA build: declare its compiled ops on CPU torch first."""
    if "torchvision" not in sys.modules and not hasattr(torch.ops.torchvision, "nms"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)
    import torchvision

    return torchvision


_KEEP: list[Any] = []


def perturb(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Noise on every float parameter and buffer; variances stay positive.

    Weight matrices and kernels get 10% of their own spread (absolute noise would grow
    activations layer after layer in a deep network); vectors (biases, norm scales) and
    tensors that start constant (zero heads) get 0.1.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            spread = float(p.std()) if p.dim() > 1 and p.numel() > 1 else 0.0
            p.add_((0.1 * spread if spread > 0 else 0.1) * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if not b.is_floating_point():
                continue
            if name.endswith("running_var"):
                b.mul_(torch.empty(b.shape).uniform_(0.5, 1.5, generator=g))
            else:
                b.add_(0.1 * torch.randn(b.shape, generator=g))
    return model


def no_dropout(model: torch.nn.Module) -> torch.nn.Module:
    for m in model.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd) or type(m).__name__ in (
            "StochasticDepth",
            "DropPath",
        ):
            if hasattr(m, "p"):
                m.p = 0.0
            if hasattr(m, "drop_prob"):
                m.drop_prob = 0.0
    return model


@dataclass
class Case:
    """A model, an example call, and how to read its output as a tuple of tensors."""

    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int], tuple]  # batch size -> positional inputs
    kwargs: Callable[[int], dict] = field(default_factory=lambda: lambda n: {})
    outputs: Callable[[Any], tuple] = field(default_factory=lambda: _as_tuple)
    long: bool = False
    xfail: str = ""  # a known failure and why (strict: a pass is reported)
    tol: float = 2e-5
    grad_tol: float = 1e-4
    # Training-mode BatchNorm over a batch of 2 at the last, 2x2 stage normalises 8 values:
    # float32 rounding differences grow (torch's own float32 and float64 results differ by
    # 1e-2 at 32x32). CNNs are compared at 64x64 with a batch of 4.
    batch: int = 2


def _as_tuple(out: Any) -> tuple:
    if isinstance(out, dict):
        return tuple(out.values())
    if isinstance(out, tuple | list):
        return tuple(out)
    return (out,)


def image(size: int, channels: int = 3) -> Callable[[int], tuple]:
    def make(n: int) -> tuple:
        g = torch.Generator().manual_seed(n)
        return (torch.randn(n, channels, size, size, generator=g),)

    return make


def tokens(seq: int, vocab: int = 100) -> Callable[[int], tuple]:
    def make(n: int) -> tuple:
        g = torch.Generator().manual_seed(n)
        return (torch.randint(0, vocab, (n, seq), generator=g),)

    return make


# ------------------------------------------------------------------ the comparison


def _torch_side(tm: torch.nn.Module, case: Case, args: tuple, kwargs: dict, cots: list) -> dict:
    targs = tuple(a.detach().clone().requires_grad_(True) if _is_float(a) else a for a in args)
    out = case.outputs(tm(*targs, **kwargs))
    loss = sum((o * torch.from_numpy(c)).sum() for o, c in zip(out, cots, strict=True))
    params = [(n, p) for n, p in tm.named_parameters() if p.requires_grad]
    floats = [a for a in targs if _is_float(a)]
    grads = torch.autograd.grad(loss, floats + [p for _, p in params], allow_unused=True)
    grads = [
        torch.zeros_like(w) if g is None else g
        for w, g in zip(floats + [p for _, p in params], grads, strict=True)
    ]
    return {
        "out": [to_numpy(o) for o in out],
        "input_grads": [to_numpy(g) for g in grads[: len(floats)]],
        "param_grads": {
            n: to_numpy(g) for (n, _), g in zip(params, grads[len(floats) :], strict=True)
        },
        "buffers": {
            n: to_numpy(b).copy() for n, b in tm.named_buffers()
        },  # not views: restored later
    }


def jax_step(jm: nn.Module, case: Case, args: tuple, kwargs: dict) -> tuple[Callable, Any]:
    """A jitted ``(params, float_inputs, other_inputs, cots) -> ((loss, (outputs, new_model)),
    (param_grads, input_grads))``."""
    params, static = eqx.partition(jm, nn.trainable(jm))
    jkwargs = {
        k: jnp.asarray(to_numpy(v)) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()
    }
    is_float = [_is_float(a) for a in args]
    nones = [a is None for a in args]

    def loss(params: Any, fxs: tuple, oxs: tuple, cots: list) -> Any:
        fi, oi = iter(fxs), iter(oxs)
        xs = [
            None if n else next(fi) if f else next(oi) for f, n in zip(is_float, nones, strict=True)
        ]
        out, new = nn.forward(eqx.combine(params, static), *xs, **jkwargs)
        leaves = case.outputs(out)
        total = sum(jnp.sum(o * c) for o, c in zip(leaves, cots, strict=True))
        return total, (leaves, new)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)), params


def _is_float(a: Any) -> bool:
    return isinstance(a, torch.Tensor) and a.is_floating_point()


def rel(a: Any, b: Any, floor: float = 1e-6) -> float:
    """``max|a - b| / max|b|``, the denominator at least ``floor``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != torch's {b.shape}"
    scale = max(np.abs(b).max(initial=0.0), floor)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def _errors(out: Any, gxs: Any, named: dict, buffers: dict | None, ref: dict) -> dict[str, float]:
    """Worst relative error per kind against one torch reference."""
    errors = {"output": max(rel(o, r) for o, r in zip(out, ref["out"], strict=True))}
    if ref["input_grads"]:
        errors["input_grad"] = max(rel(g, r) for g, r in zip(gxs, ref["input_grads"], strict=True))
    # A gradient that is zero in exact arithmetic (the bias of a layer that a BatchNorm
    # follows, in training mode) is float noise in both libraries: errors are measured
    # against at least 1% of the largest gradient of the model.
    top = max(np.abs(g).max(initial=0.0) for g in ref["param_grads"].values())
    errors["param_grad"] = max(
        rel(named[n], g, floor=1e-2 * top) for n, g in ref["param_grads"].items()
    )
    floats = [n for n, b in ref["buffers"].items() if b.dtype.kind == "f"]
    if buffers is not None and floats:  # (a model without BatchNorm has none to compare)
        errors["buffers"] = max(rel(buffers[n], ref["buffers"][n]) for n in floats)
    return errors


@dataclass
class Errors:
    """Relative errors: jaxnn vs torch float32, jaxnn vs torch float64, and torch's own
    float32 vs float64 (the rounding noise of the computation itself)."""

    vs_torch: dict[str, float]
    vs_float64: dict[str, float]
    torch_noise: dict[str, float]

    def failures(self, tol: float, grad_tol: float) -> list[str]:
        """A kind fails when jaxnn differs from torch's float32 result by more than the
        tolerance AND is further from the float64 result than twice torch's own float32
        error (an ill-conditioned model cannot match torch's rounding more closely)."""
        bad = []
        for what, err in self.vs_torch.items():
            limit = tol if what == "output" else grad_tol
            if err < limit:
                continue
            if self.vs_float64[what] > max(limit, 2 * self.torch_noise[what]):
                bad.append(
                    f"{what}: {err:.2e} from torch float32, {self.vs_float64[what]:.2e} from "
                    f"float64 (torch float32 itself: {self.torch_noise[what]:.2e})"
                )
        return bad


def compare(tm: torch.nn.Module, jm: nn.Module, case: Case, batch: int, train: bool) -> Errors:
    """One jitted forward and backward of jaxnn against torch float32 and float64."""
    tm.train(train)
    jm.train(train)
    args = case.inputs(batch)
    kwargs = case.kwargs(batch)
    saved = [(b, b.detach().clone()) for b in tm.buffers()]

    def restore() -> None:  # the reference passes must not move BatchNorm's statistics
        for b, v in saved:
            b.data.copy_(v)

    with torch.no_grad():
        shapes = [tuple(o.shape) for o in case.outputs(tm(*args, **kwargs))]
    restore()
    rng = np.random.default_rng(batch)
    cots = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ref = _torch_side(tm, case, args, kwargs, cots)
    restore()
    step, params = jax_step(jm, case, args, kwargs)
    fxs = tuple(jnp.asarray(to_numpy(a)) for a in args if _is_float(a))
    oxs = tuple(jnp.asarray(to_numpy(a)) for a in args if a is not None and not _is_float(a))
    (_, (out, new)), (gparams, gxs) = step(params, fxs, oxs, [jnp.asarray(c) for c in cots])
    named = dict(gparams.named_parameters())
    missing = sorted(set(ref["param_grads"]) - set(named))
    assert not missing, f"no jaxnn gradient for {missing[:5]}"
    buffers = {n: new.get_buffer(n) for n in ref["buffers"]} if train else None
    vs_torch = _errors(out, gxs, named, buffers, ref)
    if all(e < (case.tol if k == "output" else case.grad_tol) for k, e in vs_torch.items()):
        return Errors(vs_torch, {}, {})  # within tolerance: no float64 reference needed
    # Outside it: is torch's own float32 result as far from the float64 one?
    t64 = copy.deepcopy(tm).double()
    ref64 = _torch_side(
        t64, case, tuple(a.double() if _is_float(a) else a for a in args), kwargs, cots
    )
    restore()
    torch_buffers = ref["buffers"] if train else None
    return Errors(
        vs_torch=vs_torch,
        vs_float64=_errors(out, gxs, named, buffers, ref64),
        torch_noise=_errors(
            ref["out"], ref["input_grads"], ref["param_grads"], torch_buffers, ref64
        ),
    )


def float64_parity(tm: torch.nn.Module, jm: nn.Module, case: Case, batch: int, train: bool) -> dict:
    """The comparison of ``compare`` with both libraries in float64: the errors of jaxnn's
    float64 result against torch's float64 result.

    Run where float32 results disagree beyond the tolerance: figures near 1e-15 say that
    both libraries compute the same function and the float32 difference is rounding (in a
    deep ReLU network, rounding flips the sign of a few pre-activations near zero, and
    each flip moves the gradient by a discrete step); anything larger is a real error.
    """
    tm64 = copy.deepcopy(tm).double().train(train)
    args = tuple(a.double() if _is_float(a) else a for a in case.inputs(batch))
    kwargs = case.kwargs(batch)
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in case.outputs(copy.deepcopy(tm64)(*args, **kwargs))]
    rng = np.random.default_rng(batch)
    cots = [rng.standard_normal(s) for s in shapes]
    ref = _torch_side(copy.deepcopy(tm64), case, args, kwargs, cots)
    with jax.enable_x64(True):
        jm64 = copy.deepcopy(jm).double().train(train)
        step, params = jax_step(jm64, case, args, kwargs)
        fxs = tuple(jnp.asarray(to_numpy(a)) for a in args if _is_float(a))
        oxs = tuple(jnp.asarray(to_numpy(a)) for a in args if a is not None and not _is_float(a))
        (_, (out, new)), (gparams, gxs) = step(params, fxs, oxs, [jnp.asarray(c) for c in cots])
        named = dict(gparams.named_parameters())
        buffers = {n: new.get_buffer(n) for n in ref["buffers"]} if train else None
        return _errors(out, gxs, named, buffers, ref)
