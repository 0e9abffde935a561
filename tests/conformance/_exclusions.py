"""Samples of torch's database that jaxnn does not match, each with its reason.

An exclusion names torch's entry (OpInfo name and variant, or ``nn.X``), the dtypes and
modes it covers, and which samples: sample indices (``index``, stable: samples are drawn
from a fixed seed), a predicate on the sample (``when``), or both. ``error`` is a regex the
failure message must match, so that a different failure of the same sample is still
reported. An exclusion is never a skip: its samples run, must fail as described, and an
exclusion whose samples pass (or, in the full run, that no sample uses) fails the suite.
An entry with ``tolerance=`` does not exclude: its samples are compared at that tolerance
where the default one fails, and it is stale when no sample of a full run needs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exclusion:
    name: str  # torch's entry: "nn.functional.conv2d", "softmax", "nn.Conv2d"
    reason: str
    variant: str = ""
    dtypes: tuple[str, ...] = ("float32", "float64")
    modes: tuple[str, ...] = ("", "train", "eval")
    index: tuple[int, ...] | None = None
    when: Callable[[Any], bool] | None = None
    error: str | None = None
    # Instead of excluding: the tolerance (rtol/atol/grad_rtol/grad_atol) the sample is
    # compared at where the default one fails for a stated reason (torch's own rounding).
    tolerance: dict | None = None

    @property
    def label(self) -> str:
        where = f"{self.name}{':' + self.variant if self.variant else ''}"
        scope = f"{'/'.join(self.dtypes)}{' ' + '/'.join(m for m in self.modes if m) if self.modes != ('', 'train', 'eval') else ''}"
        which = f" samples {list(self.index)}" if self.index is not None else ""
        return f"[{where} {scope}{which}{' when ...' if self.when else ''}]"

    def scopes(self, entry: Any) -> bool:
        return (
            entry.name == self.name
            and entry.variant == self.variant
            and entry.dtype in self.dtypes
            and entry.mode in self.modes
        )

    def matches(self, entry: Any, index: int, sample: Any) -> bool:
        if not self.scopes(entry) or (self.index is not None and index not in self.index):
            return False
        return self.when is None or bool(self.when(sample))

    def error_matches(self, message: str) -> bool:
        return self.error is None or re.search(self.error, message) is not None


EXCLUSIONS: list[Exclusion] = [
    Exclusion(
        "nn.functional.hardsigmoid",
        "torch's float64 hardsigmoid gradient is 1/6 rounded to float32 (0.1666666716337204 "
        "for x=0.5), a relative error of 3e-8; jaxnn's is 1/6 in float64",
        dtypes=("float64",),
        tolerance={"grad_rtol": 1e-7},
    ),
]


def markdown() -> str:
    """The table of EXCLUSIONS for docs/CONFORMANCE.md (a test keeps the two equal)."""
    rows = [
        "| entry | dtypes / modes | samples | kind | reason |",
        "|---|---|---|---|---|",
    ]
    for e in EXCLUSIONS:
        where = e.name + (f" ({e.variant})" if e.variant else "")
        scope = "/".join(e.dtypes) + "".join(f" {m}" for m in e.modes if m)
        if e.modes == ("", "train", "eval"):
            scope = "/".join(e.dtypes)
        which = "all" if e.index is None else ", ".join(map(str, e.index))
        if e.when is not None:
            which += f"; {e.when.__doc__ or 'a predicate'}"
        kind = f"tolerance {e.tolerance}" if e.tolerance else "excluded"
        rows.append(f"| `{where}` | {scope} | {which} | {kind} | {e.reason} |")
    return "\n".join(rows) + "\n"
