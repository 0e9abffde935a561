"""Which audit cases get a different torch answer from this CPU's kernels than from DEFAULT.

``python -m tests.hardening.isa_report`` runs torch's side of every ``same`` case of the
bad-input audit twice, on the kernels torch selected here (``ATEN_CPU_CAPABILITY`` or the
CPU's best) and on the DEFAULT (scalar) kernels in a child process, and lists the cases
where the two disagree. The audit always judges such cases against DEFAULT
(``_audit._reference``); this report is how to find them on a new machine (an AVX-512
one, say) and name them in docs/AUDIT.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import torch

from .. import _torch_scalar
from . import _audit


def _cases():
    package = importlib.import_module("tests.hardening")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("test_audit"):
            module = importlib.import_module(f"tests.hardening.{info.name}")
            seen = set()
            for value in list(vars(module).values()):
                if isinstance(value, list | tuple):
                    for c in value:
                        if (
                            isinstance(c, _audit.Case)
                            and c.raises is None
                            and c.torch
                            and c.id not in seen
                        ):
                            seen.add(c.id)
                            yield module.__name__, c


def _detached(out):
    if isinstance(out, tuple | list):
        return type(out)(_detached(o) for o in out)
    return out.detach() if isinstance(out, torch.Tensor) else out


def main() -> None:
    here = torch.backends.cpu.get_cpu_capability()
    differ, checked = [], 0
    for module, case in _cases():
        torch.manual_seed(0)
        np.random.seed(0)
        local, error, _, _ = _audit._run_torch(case)
        if error is not None:
            continue
        checked += 1
        default, derror, _ = _torch_scalar.call(
            "tests.hardening._audit:torch_case_on_default_kernels", module, case.id
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _audit._compare(_detached(local), _detached(default), rtol=1e-6, atol=1e-6)
        except AssertionError as e:
            first = str(e).strip().splitlines()
            differ.append((case.id, derror or (first[0] if first else "")))
    print(f"{checked} torch-accepted audit cases; {len(differ)} differ between {here} and DEFAULT")
    for case_id, why in differ:
        print(f"  {case_id}: {why}")


if __name__ == "__main__":
    main()
