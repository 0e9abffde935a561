"""torch's ModuleInfo samples for every torch.nn module, run against jaxnn's modules:
torch's constructor arguments, torch's state_dict loaded, train and eval modes.

CI runs the few samples of ``_harness.CI_SAMPLES``; ``pytest --long`` (or ``JAXNN_LONG=1``)
runs every sample, each in a worker process (``_worker.py``). See docs/CONFORMANCE.md.
"""

import pytest

from . import _harness as H

ENTRIES = [
    e for e in (H.all_entries() if H.profile() == "all" else H.ci_entries()) if e.kind == "nn"
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_module(entry, record_property):
    H.check_entry(entry, record_property)
