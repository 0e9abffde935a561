"""torch's OpInfo samples for every torch.nn.functional entry, run against jaxnn.functional.

CI runs the few samples of ``_harness.CI_SAMPLES``; ``pytest --long`` (or ``JAXNN_LONG=1``)
runs every sample, each in a worker process (``_worker.py``). See docs/CONFORMANCE.md.
"""

import pytest

from . import _harness as H

ENTRIES = [
    e for e in (H.all_entries() if H.profile() == "all" else H.ci_entries()) if e.kind == "F"
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_functional(entry, record_property):
    H.check_entry(entry, record_property)
