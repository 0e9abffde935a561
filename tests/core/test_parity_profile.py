"""The suite's profiles: which cases take eager gradients (root conftest, tests/parity.py)."""

import os

import jax
import numpy as np
import pytest

from tests import parity


@pytest.mark.parametrize("i", range(6))
def test_eager_gradients_sample_each_table(i, request):
    long = request.config.getoption("--long") or os.environ.get("JAXNN_LONG", "0") == "1"
    assert parity.EAGER_GRADS == (long or i % 4 == 0)


def test_a_wrong_gradient_fails_without_the_eager_pass(monkeypatch):
    def wrong(x):  # forward x**2, gradient x instead of 2x
        return x * jax.lax.stop_gradient(x)

    monkeypatch.setattr(parity, "EAGER_GRADS", False)
    with pytest.raises(AssertionError, match="jit grad"):
        parity.check_function(wrong, lambda x: x * x, [np.arange(1.0, 4.0, dtype=np.float32)])
