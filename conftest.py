"""Suite-wide configuration: strict numerics, strict shapes, warnings are errors.

Parity tests compare with torch's CPU float32 kernels, so matrix multiplies run at full
float32 precision ('highest'); implicit rank promotion raises so that a broadcast that
should have been an error cannot hide in the library.
"""

import os
import sys

# Most of the suite's time is XLA compiling thousands of small programs that then run once
# or twice. Skipping LLVM's expensive passes (loop/SLP vectorisation, aggressive inlining)
# measured 23% less wall time on the transformer/attention/conv tests. It changes how fast
# the machine code is, not what it computes: XLA's HLO passes all run, its math
# approximations are emitted before LLVM, and no fast-math flag is involved. (JAX's
# jax_disable_most_optimizations was measured too and rejected: its backend level 0
# changes tanh's results.) Must be set before JAX starts its backend; child processes
# inherit it.
# The README's command runs two pytest workers on two cores, so each worker's XLA and torch
# run their kernels on one thread: multi-threaded kernels on cores that are already busy
# only contend (measured: 17% less wall time on the conv, normalization and recurrent
# tables under -n 2). Threads change how a large matrix product is split, not what each
# kernel computes; the tolerances of tests/parity.py do not depend on it.
# JAXNN_TEST_FULL_XLA=1 runs the suite with XLA's default pipeline and threads.
if os.environ.get("JAXNN_TEST_FULL_XLA", "0") != "1":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_llvm_disable_expensive_passes=true"
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch's intra-op threads (read at import)

import jax
import numpy as np
import pytest

jax.config.update("jax_default_matmul_precision", "highest")
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_addoption(parser):
    parser.addoption(
        "--long",
        action="store_true",
        help="long profile: tests marked `long`, every case of the sampled tables, hypothesis "
        "'long', every sample of tests/conformance (CI does not; JAXNN_LONG=1 does the same)",
    )


def _long_profile(config) -> bool:
    return bool(config.getoption("--long")) or os.environ.get("JAXNN_LONG", "0") == "1"


# The CI profile (the README's test command) must finish in 10 minutes on 2 cores, install
# included; the long profile (--long or JAXNN_LONG=1) runs everything. Most of the time is
# XLA compiling small programs (about 45 ms each on these machines), so CI samples,
# deterministically, and counts what it left out in the summary:
# - the eager pass (op by op: output and gradients; tests/parity.py: EAGER) for the first
#   case of each parametrized test and every `_EAGER_SAMPLE`th; jitted outputs and
#   gradients for every case that runs;
# - of the parity tables in `_SAMPLED_TABLES` (those of 5+ cases that cost 3+ CPU-s,
#   measured serially on 2026-12-05), the first case of each kind (the id's first word:
#   every layer and function keeps a case) and every `_TABLE_SAMPLE`th;
# - of the bad-input audit's tables (tests/hardening/test_audit_*.py::test_case), the first
#   case of each function or module and every `_AUDIT_SAMPLE`th;
# - of each source file's doctests, the first and every `_DOCTEST_SAMPLE`th;
# - the hypothesis property tests draw 2 examples each (profile "ci"), 500 in the long one.
_EAGER_SAMPLE = 8
_TABLE_SAMPLE = 5
_AUDIT_SAMPLE = 4
_DOCTEST_SAMPLE = 3
_SAMPLED_TABLES = {  # file under tests/ -> its parametrized parity tables costing >= 3 CPU-s
    "functional/test_activation.py": {"test_pointwise"},
    "functional/test_attention.py": {"test_sdpa", "test_multi_head_attention_forward"},
    "functional/test_conv.py": {"test_conv", "test_conv_transpose"},
    "functional/test_distance.py": {"test_cosine_similarity", "test_pdist"},
    "functional/test_fast_paths.py": {"test_parity_tables"},
    "functional/test_linear_cross_entropy.py": {"test_parity"},
    "functional/test_loss.py": {"test_loss", "test_loss_float64", "test_ctc_loss"},
    "functional/test_loss_empty_reductions.py": {"test_empty_reduction_matches_torch"},
    "functional/test_normalization.py": {
        "test_batch_norm",
        "test_layer_norm",
        "test_group_norm",
        "test_local_response_norm",
        "test_normalize",
    },
    "functional/test_pooling.py": {
        "test_max_pool",
        "test_avg_pool",
        "test_adaptive_avg_pool",
        "test_adaptive_max_pool",
    },
    "functional/test_sparse.py": {"test_embedding", "test_embedding_bag"},
    "functional/test_vision.py": {
        "test_pad",
        "test_interpolate",
        "test_shuffles",
        "test_grid_sample",
    },
    "modules/test_attention.py": {"test_parity"},
    "modules/test_conv.py": {"test_conv", "test_conv_padding_mode", "test_conv_transpose"},
    "modules/test_loss.py": {"test_parity", "test_parity_float64"},
    "modules/test_normalization.py": {"test_parity"},
    "modules/test_padding_shape.py": {"test_padding", "test_shape"},
    "modules/test_pooling.py": {"test_pooling", "test_max_unpool"},
    "modules/test_recurrent.py": {"test_parity", "test_cell_parity"},
    "modules/test_sparse.py": {"test_embedding_parity", "test_embedding_bag_parity"},
    "modules/test_transformer.py": {"test_encoder_layer"},
}
# Tables whose every case is its own kind (a feature combination of one layer): sampled by
# position alone, every `_TABLE_SAMPLE`th case.
_SAMPLED_BY_POSITION = {
    ("modules/test_attention.py", "test_parity"),
    ("modules/test_transformer.py", "test_encoder_layer"),
    ("functional/test_attention.py", "test_multi_head_attention_forward"),
}
_CASE_INDEX = pytest.StashKey[int]()
_profile_counts = {"table": 0, "audit": 0, "doctest": 0}


def _sampled_out(items) -> dict[str, list]:
    """The items the CI profile leaves out, by what they are."""
    by_test: dict[tuple, list] = {}
    for item in items:
        rel = item.path.relative_to(item.config.rootpath).as_posix().removeprefix("tests/")
        if isinstance(item, pytest.DoctestItem):
            by_test.setdefault(("doctest", rel), []).append(item)
        elif not hasattr(item, "callspec"):
            continue
        elif item.originalname in _SAMPLED_TABLES.get(rel, ()):
            by_test.setdefault(("table", rel, item.originalname), []).append(item)
        elif rel.startswith("hardening/test_audit") and item.originalname == "test_case":
            by_test.setdefault(("audit", rel), []).append(item)
    out: dict[str, list] = {"table": [], "audit": [], "doctest": []}
    for key, cases in by_test.items():
        what = key[0]
        every = {"table": _TABLE_SAMPLE, "audit": _AUDIT_SAMPLE, "doctest": _DOCTEST_SAMPLE}[what]
        by_position = what == "doctest" or key[1:] in _SAMPLED_BY_POSITION
        kinds: set[str] = set()
        for i, item in enumerate(cases):
            kind = "" if by_position else item.callspec.id.split("-")[0]
            if kind not in kinds or i % every == 0:
                kinds.add(kind)
                continue
            out[what].append(item)
    return out


def pytest_collection_modifyitems(config, items):
    """Tests marked ``long`` run with --long only; CI samples the parity tables (above)."""
    counts: dict[tuple, int] = {}
    for item in items:
        fn = (str(item.path), getattr(item, "originalname", item.name))
        item.stash[_CASE_INDEX] = counts.get(fn, 0)
        counts[fn] = item.stash[_CASE_INDEX] + 1
    if _long_profile(config):
        return
    skip = pytest.mark.skip(reason="long profile: run with --long or JAXNN_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
    dropped = _sampled_out(items)
    ids = {id(item) for group in dropped.values() for item in group}
    if ids:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in ids])
        items[:] = [item for item in items if id(item) not in ids]
        _profile_counts.update({what: len(group) for what, group in dropped.items()})


def pytest_runtest_setup(item):
    parity = sys.modules.get("tests.parity")
    if parity is not None:
        parity.EAGER = (
            _long_profile(item.config) or item.stash.get(_CASE_INDEX, 0) % _EAGER_SAMPLE == 0
        )


@pytest.fixture(autouse=True)
def _fresh_seed():
    """Every test starts from the same global key stream and torch seed."""
    import jaxnn

    jaxnn.manual_seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover - torch is a test dependency
        pass
    np.random.seed(0)
    yield


@pytest.fixture
def x64():
    """Run a test with 64-bit types enabled (float64 parity is held to 1e-10)."""
    with jax.enable_x64(True):
        yield


# Hypothesis profiles for the property tests (tests/hardening/test_properties.py): "ci" is
# small and deterministic and loaded by default; `pytest --hypothesis-profile=long` searches
# deeper. Eager JAX compiles per shape, so no deadline. The "ci" profile keeps no example
# database, as CI's clean clone has none: a checkout's .hypothesis/ would replay old
# examples before the derandomized ones.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile(
    "ci", max_examples=2, deadline=None, derandomize=True, database=None
)
_hypothesis_settings.register_profile("long", max_examples=500, deadline=None)
_hypothesis_settings.load_profile("ci")


# One switch for every deeper profile: `pytest --long` (or JAXNN_LONG=1) runs the tests
# marked `long` and the sampled-out table cases, loads the hypothesis "long" profile and
# runs torch's whole sample database in tests/conformance (CI runs a subset of it).
def pytest_configure(config):
    if config.getoption("--long") or os.environ.get("JAXNN_LONG", "0") == "1":
        os.environ["JAXNN_LONG"] = "1"
        _hypothesis_settings.load_profile("long")


# The bad-input audit's count (issue #8), printed at the end of every run that includes
# tests/hardening. It lives in the root conftest because under pytest-xdist only the
# controller prints the summary, and the controller loads this file, not
# tests/hardening/conftest.py.
_audit_counts = {"cases": 0, "passed": 0, "xfailed": 0, "failed": 0, "skipped": 0}


def _is_audit(nodeid: str) -> bool:
    path = nodeid.split("::", 1)[0]
    name = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) == "hardening" and name.startswith("test_audit")


# The conformance suite's per-sample counts (tests/conformance: torch's OpInfo/ModuleInfo
# samples), per database; each item records them as a user property, which xdist sends to
# the controller.
_conformance: dict = {}
_conformance_absent: set = set()
_conformance_stale: list = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "conformance":
                counts = _conformance.setdefault(value["db"], dict.fromkeys(value["counts"], 0))
                for k, n in value["counts"].items():
                    counts[k] += n
                _conformance_absent.update(value["absent"])
                _conformance_stale.extend(value["stale"])
    if not _is_audit(report.nodeid):
        return
    xfail = hasattr(report, "wasxfail")
    if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)):
        _audit_counts["cases"] += 1
        if xfail and report.skipped:
            _audit_counts["xfailed"] += 1
        elif report.passed and not xfail:
            _audit_counts["passed"] += 1
        elif report.skipped:
            _audit_counts["skipped"] += 1
        else:
            _audit_counts["failed"] += 1


# Under pytest-xdist the workers collect and deselect; the controller prints the summary.
def pytest_sessionfinish(session):
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["jaxnn_deselected"] = dict(_profile_counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _profile_counts.update(getattr(node, "workeroutput", {}).get("jaxnn_deselected", {}))


def pytest_terminal_summary(terminalreporter):
    c = _profile_counts
    if any(c.values()):
        terminalreporter.write_line(
            f"CI profile: --long also runs {c['table']} more cases of the parity tables, "
            f"{c['audit']} of the bad-input audit, {c['doctest']} doctests, and the eager pass "
            f"of {_EAGER_SAMPLE - 1} table cases in {_EAGER_SAMPLE}"
        )
    if _conformance:
        long = os.environ.get("JAXNN_LONG") == "1"
        profile = "long profile: every sample" if long else "CI subset; --long runs every sample"
        terminalreporter.write_line(f"conformance ({profile}):")
        for db, c in sorted(_conformance.items()):
            total = sum(n for k, n in c.items() if k != "crashed")
            passed = c["passed"] + c["passed_f64"] + c["passed_tol"]
            terminalreporter.write_line(
                f"  {db}: {total} samples, {passed} passed ({c['passed_f64']} against torch in "
                f"float64, {c['passed_tol']} at a documented tolerance), {c['excluded']} "
                f"excluded, {c['absent']} absent, {c['failed']} failed"
                + (f" ({c['crashed']} crashed or hung the process)" if c["crashed"] else "")
            )
        if _conformance_absent:
            names = ", ".join(sorted(m.replace("jaxnn has no ", "") for m in _conformance_absent))
            terminalreporter.write_line(f"  absent in jaxnn: {names}")
        for label in _conformance_stale:
            terminalreporter.write_line(f"  stale exclusion: {label}")
    if _audit_counts["cases"]:
        terminalreporter.write_line(
            f"bad-input audit: {_audit_counts['cases']} cases, {_audit_counts['passed']} passed, "
            f"{_audit_counts['xfailed']} xfailed (known findings), {_audit_counts['failed']} failed, "
            f"{_audit_counts['skipped']} skipped"
        )
