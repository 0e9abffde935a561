"""Write docs/MODELS.md from the report of the real-model tests.

The full matrix appends one JSON line per measurement to ``JAXNN_MODELS_REPORT``
(``tests/interop/test_real_models.py``: conversion, structure, errors per mode, optimizer
steps); this script turns those lines into the table::

    JAXNN_LONG=1 JAXNN_MODELS_REPORT=/tmp/models.jsonl \\
        python -m pytest tests/interop/test_real_models.py -p no:cacheprovider
    python -m tests.interop.models_table /tmp/models.jsonl > docs/MODELS.md

Every model that the run tried is a row, converted or not; a measurement the run did not
reach says so. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata

COMMAND = (
    "JAXNN_LONG=1 JAXNN_MODELS_REPORT=/tmp/models.jsonl "
    "python -m pytest tests/interop/test_real_models.py -p no:cacheprovider\n"
    "python -m tests.interop.models_table /tmp/models.jsonl > docs/MODELS.md"
)

HEAD = """\
# Models converted by `nn.from_torch`

<!-- Generated: do not edit. Regenerate with
{command}
-->

This table is generated from a run of the real-model tests:

```bash
{command}
```

Versions installed where the table was generated (the run's environment): {versions}.

Every model below was built from code with random weights (nothing downloaded),
*perturbed* (noise of 10% of each weight matrix's and kernel's own spread, 0.1 on every
bias, norm scale and zero-initialised head, BatchNorm statistics moved), converted with
one call, `nn.from_torch(model, example_inputs=...)`, at batch 2, and compared with torch
2.13 on CPU in one jitted (`jax.jit`) forward and backward per mode, on inputs of the
shapes shown under "inputs" (the text models' token ids, with an attention mask of the
same shape for BERT). CI runs the two tiny models
(`vit_b_16-tiny` in training mode, `gpt2-tiny` in eval mode, both at sizes other than the
example's); the long profile (`JAXNN_LONG=1`) runs every row.

What is compared, for each model and mode (eval, then training with dropout and
stochastic depth set to 0: their masks cannot equal torch's bits, their randomness is
tested on its own in `tests/interop/test_real_models_semantics.py`):

- structure: `print(model)`, the `state_dict()` keys and their order, the parameter and
  buffer names (non-persistent buffers stay non-persistent) equal torch's;
- the outputs ("out"), the gradient of every float input ("in-grad"; the text models'
  inputs are token ids), the gradient of every parameter ("param-grad"), and in training
  mode the float buffers (BatchNorm statistics, "BN") that `nn.forward` returns after the
  step. "jit": the comparison ran as one `jax.jit`-compiled forward and backward.

Each figure is the worst relative error over the tensors of that kind,
`max|jaxnn - torch| / max|torch|` per tensor (a parameter gradient's denominator is at
least 1% of the model's largest parameter gradient: a gradient that is zero in exact
arithmetic, like the bias of a layer that a training-mode BatchNorm follows, is float
noise in both libraries). The tolerance is 2e-5 for outputs and 1e-4 for gradients. A
figure marked † exceeds it, and torch's float64 result decides: the row passes when jaxnn
is no further from float64 than twice torch's own float32 result is (the figures are
listed under the table). Deep networks with training-mode BatchNorm on small batches are
ill-conditioned: torch's own float32 and float64 results differ by up to 1e-2 there, and
no float32 implementation can match torch's rounding more closely. Where a row fails
that rule, the comparison is repeated with both libraries in float64 (jaxnn under
`jax.enable_x64`): figures near 1e-15 there mean that both compute the same function and
the float32 difference is rounding; larger ones would be an error in the conversion.

"optax" is three training steps (SGD with momentum 0.9, or Adam; lr 1e-3; BatchNorm
statistics carried; cross-entropy for the image classifiers, the mean square of the first
output for the text models) with optax against the same steps of `torch.optim`: the
figure is the worst relative error of the parameter updates (each against at least 1% of
the largest update); above 1e-3 it must be within twice torch's own float32 error
against float64 (†, figures under the table). Adam divides each update by the running
RMS of its gradient, so a parameter whose gradient is mostly rounding noise moves by
about the learning rate in a direction that rounding decides: there torch's own float32
updates are as far from its float64 updates as jaxnn's are.

"traced" counts the generated modules (torch classes with their own `forward`) whose
programs come from `torch.fx` or `torch.export` (Hugging Face models: the classes that fx
cannot trace, like `GPT2Model` and `BertModel`, go through export; the others stay fx;
"export+fx": traced by each in a different mode or call; "unused": a module that the
forward never calls, like the StochasticDepth of an EfficientNet block without a residual
connection: calling it raises, saying so). torch.nn layers become the jaxnn layers of the
same name and are not counted.
"""

TOL = {"output": 2e-5}
GRAD_TOL = 1e-4
KINDS = {
    "eval": ("output", "input_grad", "param_grad"),
    "train": ("output", "input_grad", "param_grad", "buffers"),
}
SHORT = {"output": "out", "input_grad": "in-grad", "param_grad": "param-grad", "buffers": "BN"}


def _versions() -> str:
    out = []
    for name in ("torch", "torchvision", "timm", "transformers", "jax", "jaxlib", "equinox"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def load(lines: list[str]) -> dict[str, dict]:
    """Merge the report's lines per model, in the order the run first met each model."""
    models: dict[str, dict] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        entry = json.loads(line)
        m = models.setdefault(entry.pop("name"), {"modes": {}, "optax": {}})
        if "mode" in entry:
            m["modes"][entry.pop("mode")] = entry
        elif "optimizer" in entry:
            m["optax"][entry.pop("optimizer")] = entry
        else:
            m.update(entry)
    return models


def _fig(x: float) -> str:
    return f"{x:.1e}"


def _mode_cell(name: str, mode: str, entry: dict | None, notes: list[str]) -> str:
    if entry is None:
        return "not run"
    if "error" in entry:
        notes.append(f"- {name} ({mode}) raised: `{entry['error']}`")
        return "**error** (see below)"
    errors = entry["errors"]
    parts = []
    for kind in KINDS[mode]:
        if kind not in errors["vs_torch"]:
            continue
        value = errors["vs_torch"][kind]
        mark = ""
        if value >= TOL.get(kind, GRAD_TOL):
            mark = "†"
            notes.append(
                f"- {name} ({mode}) {SHORT[kind]}: {_fig(value)} from torch float32; "
                f"{_fig(errors['vs_float64'][kind])} from float64, where torch float32 "
                f"itself is {_fig(errors['torch_noise'][kind])}"
            )
        parts.append(f"{SHORT[kind]} {_fig(value)}{mark}")
    if entry.get("failures"):
        f64 = entry.get("float64_parity") or {}
        worst = max(f64.values(), default=None)
        if worst is not None and worst < 1e-10:
            known = entry.get("known")
            notes.append(
                f"- {name} ({mode}) is outside the float32 rule; in float64 jaxnn equals torch "
                f"(worst {_fig(worst)})"
                + (f". Known: {known}" if known else ": float32 rounding, not a conversion error")
            )
            return "**float32 rounding** (float64: equal): " + ", ".join(parts)
        notes.append(f"- {name} ({mode}) FAILS: " + "; ".join(entry["failures"]))
        return "**fails**: " + ", ".join(parts)
    return ", ".join(parts)


def _optax_cell(name: str, runs: dict, notes: list[str]) -> str:
    if not runs:
        return "—"
    cells = []
    for opt, r in runs.items():
        if "error" in r:
            notes.append(f"- {name} ({opt} steps) failed: `{r['error']}`")
            cells.append(f"{opt} **fails**")
            continue
        cell = f"{opt} {_fig(r['update_vs_torch'])}"
        if r.get("update_vs_float64") is not None:
            cell += "†"
            notes.append(
                f"- {name} ({opt} steps): updates {_fig(r['update_vs_torch'])} from torch "
                f"float32; {_fig(r['update_vs_float64'])} from float64, where torch float32 "
                f"itself is {_fig(r['torch_noise'])}"
            )
        cells.append(cell)
    return ", ".join(cells)


def _inputs_cell(shapes: list[list[int]] | None) -> str:
    if not shapes:
        return ""
    return " + ".join("×".join(map(str, s)) for s in shapes)


def _traced_cell(traced: dict[str, int] | None) -> str:
    if not traced:
        return "— (torch.nn layers only)"
    names = {"none": "unused"}
    return ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(traced.items()))


def render(models: dict[str, dict]) -> str:
    notes: list[str] = []
    rows = [
        "| model | params | inputs | converts | traced | structure | eval | train | jit | optax |",
        "|---|---:|---|---|---|---|---|---|---|---|",
    ]
    converted = 0
    for name, m in models.items():
        if "convert_error" in m:
            notes.append(f"- {name} does not convert: `{m['convert_error']}`")
            rows.append(f"| {name} | | | **no** (see below) | | | | | | |")
            continue
        converted += 1
        same = m.get("structure")
        structure = (
            "not run"
            if same is None
            else "equal"
            if all(same.values())
            else "**differs**: " + ", ".join(k for k, v in same.items() if not v)
        )
        modes = m["modes"]
        jit = "yes" if any("errors" in e for e in modes.values()) else "—"
        rows.append(
            f"| {name} | {m.get('params', 0):,} | {_inputs_cell(m.get('compared_at'))} | yes "
            f"| {_traced_cell(m.get('traced'))} "
            f"| {structure} | {_mode_cell(name, 'eval', modes.get('eval'), notes)} "
            f"| {_mode_cell(name, 'train', modes.get('train'), notes)} | {jit} "
            f"| {_optax_cell(name, m['optax'], notes)} |"
        )
    head = HEAD.format(command=COMMAND, versions=_versions())
    summary = f"{converted} of {len(models)} models tried convert.\n"
    text = head + "\n" + summary + "\n" + "\n".join(rows) + "\n"
    if notes:
        text += "\n## Notes\n\n" + "\n".join(notes) + "\n"
    return text


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m tests.interop.models_table REPORT.jsonl")
    with open(argv[0]) as f:
        sys.stdout.write(render(load(f.readlines())))


if __name__ == "__main__":
    main(sys.argv[1:])
