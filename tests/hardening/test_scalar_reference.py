"""The audit's non-finite verdicts use torch's DEFAULT kernels, whatever this CPU has."""

import numpy as np
import torch

from .. import _torch_scalar
from . import _audit
from .test_audit_activation import CASES


def test_child_runs_torch_on_default_kernels():
    assert _torch_scalar.call("torch.backends.cpu:get_cpu_capability") == "DEFAULT"


def test_child_errors_come_back_with_their_traceback():
    try:
        _torch_scalar.call("math:sqrt", -1.0)
    except RuntimeError as e:
        assert "ValueError: math domain error" in str(e)
    else:
        raise AssertionError("the child's exception was not raised here")


def test_gelu_at_infinity_is_judged_on_the_scalar_kernel():
    # AVX-512's vectorised gelu gives NaN at +inf; the DEFAULT kernel, like the maths, +inf
    # (and NaN at -inf, where x * Phi(x) is -inf * 0 in IEEE arithmetic).
    case = next(c for c in CASES if c.id == "gelu-nan-inf")
    out, error, _ = _torch_scalar.call(
        "tests.hardening._audit:torch_case_on_default_kernels", case.fn.__module__, case.id
    )
    assert error is None
    special = _audit.np.asarray(out)[0]
    assert np.isnan(special[0]) and special[1] == np.inf and np.isnan(special[2])
    reference, _, _ = _audit._reference(case)
    torch.testing.assert_close(reference, out, equal_nan=True, rtol=0, atol=0)
