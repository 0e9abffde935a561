"""The suite's profiles: which cases take eager gradients (root conftest, tests/parity.py)."""

import os

import jax
import numpy as np
import pytest

from tests import parity


@pytest.mark.parametrize("i", range(9))
def test_eager_gradients_sample_each_table(i, request):
    long = request.config.getoption("--long") or os.environ.get("JAXNN_LONG", "0") == "1"
    assert parity.EAGER_GRADS == (long or i % 8 == 0)


def test_a_wrong_gradient_fails_without_the_eager_pass(monkeypatch):
    def wrong(x):  # forward x**2, gradient x instead of 2x
        return x * jax.lax.stop_gradient(x)

    monkeypatch.setattr(parity, "EAGER_GRADS", False)
    with pytest.raises(AssertionError, match="jit grad"):
        parity.check_function(wrong, lambda x: x * x, [np.arange(1.0, 4.0, dtype=np.float32)])


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
    dropped = [item.callspec.id for item in conftest._sampled_out(items)]
    assert dropped == ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]  # kept: firsts; 0, 5, 10
    other = [SimpleNamespace(**{**vars(i), "originalname": "test_errors"}) for i in items]
    assert conftest._sampled_out(other) == []  # tables not listed are never sampled
