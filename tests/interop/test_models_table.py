"""docs/MODELS.md's generator (tests/interop/models_table.py) on a made-up report."""

import json

from tests.interop.models_table import load, render


def _line(**fields):
    return json.dumps(fields)


def test_every_model_tried_is_a_row_and_every_problem_a_note():
    lines = [
        _line(name="net", params=10, traced={"fx": 2}, compared_at=[[2, 3]]),
        _line(name="net", structure={"print": True, "state_dict": True}),
        _line(name="net", mode="eval", errors={"vs_torch": {"output": 1e-7}}, failures=[]),
        _line(
            name="net",
            mode="train",
            errors={
                "vs_torch": {"output": 1e-3},
                "vs_float64": {"output": 1e-3},
                "torch_noise": {"output": 1e-7},
            },
            failures=["output: 1.00e-03 from torch float32"],
            float64_parity={"output": 1e-4},
        ),
        _line(name="net", optimizer="sgd", update_vs_torch=2e-6, update_vs_float64=None),
        _line(name="broken", convert_error="TypeError: no translation for aten.foo"),
    ]
    text = render(load(lines))
    assert "1 of 2 models tried convert." in text
    row = next(r for r in text.splitlines() if r.startswith("| net |"))
    assert "2×3" in row and "fx 2" in row and "equal" in row and "out 1.0e-07" in row
    assert "**fails**: out 1.0e-03†" in row and "sgd 2.0e-06" in row
    assert "- net (train) FAILS: output: 1.00e-03 from torch float32" in text
    assert "| broken | | | **no** (see below) |" in text
    assert "- broken does not convert: `TypeError: no translation for aten.foo`" in text
    assert "python -m tests.interop.models_table" in text.split("-->")[0]  # how to regenerate
