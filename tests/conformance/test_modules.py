"""torch's ModuleInfo samples for every torch.nn module, run against jaxnn's modules:
torch's constructor arguments, torch's state_dict loaded, train and eval modes.

CI runs the few samples of ``_harness.CI_SAMPLES``; ``pytest --long`` (or ``JAXNN_LONG=1``)
runs every sample, each in a worker process (``_worker.py``). See docs/CONFORMANCE.md.
"""

import pytest

from . import _harness as H

ENTRY_IDS = H.entry_ids("nn")


@pytest.mark.parametrize("entry_id", ENTRY_IDS)
def test_module(entry_id, record_property):
    H.check_entry(H.entry(entry_id), record_property)
