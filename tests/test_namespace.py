"""torch 2.13's namespaces, enumerated: every public module class of ``torch.nn`` is in
``jaxnn`` and every public function of ``torch.nn.functional`` is in ``jaxnn.functional``,
except the deliberate omissions below, each with its reason (also in the README's table
"What torch accepts that jaxnn does not")."""

from __future__ import annotations

import inspect
import pathlib

import pytest
import torch.nn as tnn
import torch.nn.functional as TF

import jaxnn
import jaxnn.functional as F

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"

_IN_PLACE = "mutates its input in place, which JAX arrays cannot; write `x = F.{}(x)`"

OMITTED_MODULES = {
    "Container": "deprecated in torch (FutureWarning: subclass nn.Module instead)",
    "DataParallel": "data parallelism is jax.sharding's: jaxnn.parallel.shard_model/shard_batch",
}

OMITTED_FUNCTIONS = {
    **{
        f"{n}_": _IN_PLACE.format(n)
        for n in ("relu", "elu", "celu", "selu", "leaky_relu", "hardtanh", "threshold", "rrelu")
    },
    "has_torch_function": "torch's __torch_function__ override protocol, meaningless for JAX arrays",
    "has_torch_function_unary": "torch's __torch_function__ override protocol",
    "has_torch_function_variadic": "torch's __torch_function__ override protocol",
    "handle_torch_function": "torch's __torch_function__ override protocol",
    "boolean_dispatch": "TorchScript helper behind torch's return_indices overloads",
    "assert_int_or_pair": "torch's internal argument check of fold/unfold",
    "scaled_mm": "FP8/MX block-scaled CUDA GEMM with swizzled scale layouts: use jax.nn.scaled_matmul",
    "scaled_grouped_mm": "FP8/MX block-scaled grouped CUDA GEMM: use jax.nn.scaled_matmul per group",
}


def _torch_modules() -> list[str]:
    return sorted(
        n
        for n in dir(tnn)
        if not n.startswith("_")
        and inspect.isclass(getattr(tnn, n))
        and issubclass(getattr(tnn, n), tnn.Module)
    )


def _torch_functions() -> list[str]:
    # Functions and builtins; typing names (Optional, Callable, Tensor, DType) and enums
    # (ScalingType, SwizzleType) imported into the module are not torch.nn.functional's API.
    return sorted(
        n
        for n in dir(TF)
        if not n.startswith("_")
        and (inspect.isfunction(getattr(TF, n)) or inspect.isbuiltin(getattr(TF, n)))
    )


@pytest.mark.parametrize("name", _torch_modules())
def test_every_torch_nn_module_class_exists(name):
    if name in OMITTED_MODULES:
        assert not hasattr(jaxnn, name), f"{name} is provided now: drop it from OMITTED_MODULES"
        return
    cls = getattr(jaxnn, name, None)
    assert cls is not None, f"jaxnn has no {name} (torch.nn.{name})"
    assert inspect.isclass(cls) and issubclass(cls, jaxnn.Module), name


@pytest.mark.parametrize("name", _torch_functions())
def test_every_torch_functional_function_exists(name):
    if name in OMITTED_FUNCTIONS:
        assert not hasattr(F, name), f"{name} is provided now: drop it from OMITTED_FUNCTIONS"
        return
    assert callable(getattr(F, name, None)), f"jaxnn.functional has no {name}"


def test_omissions_are_torch_names_and_in_the_readme():
    readme = README.read_text()
    table = readme[readme.index("## What torch accepts that jaxnn does not") :]
    table = table[: table.index("\n## ", 1)]
    for name in OMITTED_MODULES:
        assert name in _torch_modules(), f"torch.nn has no {name}: stale omission"
        assert f"`nn.{name}`" in table, f"README table does not list nn.{name}"
    for name in OMITTED_FUNCTIONS:
        assert name in _torch_functions(), f"torch.nn.functional has no {name}: stale omission"
        assert name in table, f"README table does not list F.{name}"


# Constructor signatures of the classes this issue added: torch's names, order and
# defaults; jaxnn may only add keyword-only arguments (key=) at the end.
NEW_CLASSES = """
LazyLinear LazyConv1d LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d
LazyConvTranspose3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d LazyInstanceNorm1d
LazyInstanceNorm2d LazyInstanceNorm3d LinearCrossEntropyLoss FractionalMaxPool2d
FractionalMaxPool3d RReLU Softmax2d NLLLoss2d AdaptiveLogSoftmaxWithLoss SyncBatchNorm
CrossMapLRN2d
""".split()


@pytest.mark.parametrize("name", NEW_CLASSES)
def test_new_class_signature_matches_torch(name):
    ours = list(inspect.signature(getattr(jaxnn, name)).parameters.values())
    # __init__'s: a deprecated class (NLLLoss2d) shows its warning wrapper's (*args, **kwargs)
    theirs = list(inspect.signature(getattr(tnn, name).__init__).parameters.values())[1:]
    assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs], name
    for p, t in zip(ours, theirs, strict=False):
        assert p.kind == t.kind, f"{name}({p.name}): {p.kind} vs torch {t.kind}"
        if t.default is not inspect.Parameter.empty and p.name != "dtype":
            assert p.default == t.default, f"{name}({p.name}): {p.default!r} vs torch {t.default!r}"
    for extra in ours[len(theirs) :]:
        assert extra.kind is extra.KEYWORD_ONLY and extra.default is None, (name, extra.name)
