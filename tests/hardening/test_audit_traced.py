"""The audit's error cases again, with jaxnn's side inside ``jax.jit``.

Every error case that torch raises on and that depends only on shapes, dtypes and
arguments (not on array values) must raise the same clear error at trace time, when the
arrays are tracers. Value checks (an index out of range, ...) cannot run on tracers and
are audited eagerly only (``_audit.VALUE_KINDS``).
"""

import pytest

from . import (
    test_audit_activation,
    test_audit_conv_pool,
    test_audit_loss,
    test_audit_modules,
    test_audit_norm_dropout,
    test_audit_sparse_vision,
    test_audit_state,
)
from ._audit import check_case_traced, traceable

_MODULES = [
    test_audit_activation,
    test_audit_conv_pool,
    test_audit_norm_dropout,
    test_audit_sparse_vision,
    test_audit_loss,
    test_audit_modules,
    test_audit_state,
]

# Cases whose verdict under jit differs from the eager one, with their own reason (none now).
TRACED_XFAIL: dict[str, str] = {}


def _params():
    out = []
    for mod in _MODULES:
        for case in mod.CASES:
            if not traceable(case):
                continue
            marks = []
            reason = TRACED_XFAIL.get(case.id, case.xfail)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            out.append(pytest.param(case, id=f"jit-{case.id}", marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_case_traced(case):
    check_case_traced(case)
