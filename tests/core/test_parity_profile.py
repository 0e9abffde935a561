"""The suite's profiles: which cases run the eager pass and which cases CI leaves out (root
conftest, tests/parity.py)."""

import os

import jax
import numpy as np
import pytest

from tests import parity


@pytest.mark.parametrize("i", range(9))
def test_eager_pass_samples_each_table(i, request):
    long = request.config.getoption("--long") or os.environ.get("JAXNN_LONG", "0") == "1"
    assert parity.EAGER == (long or i % 8 == 0)


def test_a_wrong_gradient_fails_without_the_eager_pass(monkeypatch):
    def wrong(x):  # forward x**2, gradient x instead of 2x
        return x * jax.lax.stop_gradient(x)

    monkeypatch.setattr(parity, "EAGER", False)
    with pytest.raises(AssertionError, match="jit grad"):
        parity.check_function(wrong, lambda x: x * x, [np.arange(1.0, 4.0, dtype=np.float32)])


def test_without_jit_the_eager_pass_always_runs(monkeypatch):
    monkeypatch.setattr(parity, "EAGER", False)
    with pytest.raises(AssertionError, match="eager output"):
        parity.check_function(
            lambda x: x + 1, lambda x: x * x, [np.arange(1.0, 4.0, dtype=np.float32)], jit=False
        )


def test_sampled_tables_exist_and_every_kind_keeps_a_case(request):
    import importlib
    import pathlib
    from types import SimpleNamespace

    import conftest

    for rel, names in conftest._SAMPLED_TABLES.items():
        module = importlib.import_module("tests." + rel.removesuffix(".py").replace("/", "."))
        for name in names:
            assert callable(getattr(module, name, None)), f"{rel}::{name} is gone"
    root = pathlib.Path(request.config.rootpath)
    ids = ["a", "a-1", "a-2", "b", "a-3", "a-5", "b-1", "b-2", "c-x", "b-3", "a-4"]
    items = [
        SimpleNamespace(
            path=root / "tests/modules/test_loss.py",
            config=request.config,
            originalname="test_parity",
            callspec=SimpleNamespace(id=i),
        )
        for i in ids
    ]
    dropped = [item.callspec.id for item in conftest._sampled_out(items)["table"]]
    assert dropped == ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]  # kept: firsts; 0, 5, 10
    other = [SimpleNamespace(**{**vars(i), "originalname": "test_errors"}) for i in items]
    assert not any(conftest._sampled_out(other).values())  # tables not listed: never sampled
    # The audit's tables: the first case of each function, then every fourth.
    audit = [
        SimpleNamespace(**{**vars(i), "path": root / "tests/hardening/test_audit_loss.py"})
        for i in other[:8]
    ]
    for i in audit:
        i.originalname = "test_case"
    got = conftest._sampled_out(audit)
    assert [i.callspec.id for i in got["audit"]] == ["a-1", "a-2", "a-5", "b-1", "b-2"]  # 4: a-3
    # Doctests: per source file, the first and every third, whatever their names.
    doctest_cls = type("Doctest", (pytest.DoctestItem,), {})
    docs = []
    for k in range(5):
        d = object.__new__(doctest_cls)
        d.path, d.config, d.name = root / "jaxnn/init.py", request.config, f"d{k}"
        docs.append(d)
    assert [d.name for d in conftest._sampled_out(docs)["doctest"]] == ["d1", "d2", "d4"]
