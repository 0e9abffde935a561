"""The conformance harness can fail: a wrong jaxnn function, gradient, module or random
draw is caught, a missing name is reported as absent, and exclusions are held to account."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
import jaxnn.functional as JF

from . import _exclusions, _random, _worker
from . import _harness as H


def _run(entry_id, index=0):
    # Under jax.jit only: what these tests check does not depend on the mode, and the CI
    # samples run eagerly too.
    entry = H.entry(entry_id)
    return H.run_sample(entry, index, H.samples(entry, index + 1)[index], eager=False)


def test_ci_samples_exist_in_torchs_database():
    entries = H.ci_entries()  # a KeyError names an entry torch no longer has
    assert len({e.id for e in entries}) == len(H.CI_SAMPLES), "one row per entry"
    assert {e.kind for e in entries} == {"F", "nn"}
    # entry_ids sorts CI's ids by prefix, without the databases: the prefix is the kind
    assert all(e.id.startswith("nn.") == (e.kind == "nn") for e in H.all_entries())
    assert all(reason for *_, reason in H.CI_SAMPLES)
    assert H.ci_indices(entries[0]) == [0]
    with pytest.raises(AssertionError, match="has 3 samples; asked for"):
        list(H.run_entry(H.entry("F.softsign-float32"), [3]))


def test_a_correct_function_passes():
    assert _run("F.softsign-float32").status == "passed"


def test_a_wrong_output_fails(monkeypatch):
    monkeypatch.setattr(JF, "softsign", lambda x: x / (1 + jnp.abs(x)) + 1e-3)
    outcome = _run("F.softsign-float32")
    assert outcome.status == "failed" and "output" in outcome.message


def test_a_wrong_gradient_fails(monkeypatch):
    def softsign(x):  # right values, gradient of the denominator dropped
        return x / jax.lax.stop_gradient(1 + jnp.abs(x))

    monkeypatch.setattr(JF, "softsign", softsign)
    outcome = _run("F.softsign-float32")
    assert outcome.status == "failed" and "grad" in outcome.message


def test_a_wrong_module_fails(monkeypatch):
    class Linear(jaxnn.Linear):  # same name, same printout, output off by 1e-3
        def forward(self, input):
            return super().forward(input) + 1e-3

    monkeypatch.setattr(jaxnn, "Linear", Linear)
    outcome = _run("nn.Linear-float32-eval")
    assert outcome.status == "failed" and "output" in outcome.message


def test_unscaled_dropout_fails_by_distribution(monkeypatch):
    real = JF.dropout

    def dropout(x, p=0.5, training=True, inplace=False, *, key=None):
        return real(x, p, training, key=key) * (1 - p)  # torch scales kept values by 1/(1-p)

    monkeypatch.setattr(JF, "dropout", dropout)
    monkeypatch.setattr(H._random, "DRAWS", 50)  # plenty for a factor of 2, and cheaper
    entry = H.entry("F.dropout-float32")
    got = H.samples(entry)
    (index,) = [
        i
        for i, s in enumerate(got)
        if s.kwargs == {"p": 0.5, "training": True} and s.input.shape == (5, 5)
    ]
    outcome = H.run_sample(entry, index, got[index], eager=False)
    assert outcome.status == "failed" and "standard" in outcome.message, outcome.message
    monkeypatch.setattr(JF, "dropout", real)
    assert H.run_sample(entry, index, got[index], eager=False).status == "passed"


def test_distribution_test_allows_for_correlated_elements():
    """Elements that move together (a row of attention outputs under one dropout mask):
    two sets of draws from one distribution pass, although the sum of squared z-scores is
    9.5 standard deviations above a chi-square's mean for this seed; a small bias shared
    by every element of independent draws (2 standard errors each) is still caught."""
    rng = np.random.default_rng(2)
    tol = dict(atol=1e-7, rtol=1e-7)
    scale = np.linspace(1, 2, 8)
    same = [rng.standard_normal((_random.DRAWS, 12, 1)) * scale for _ in range(2)]
    _random._compare("output 0", *same, tol)
    jd, td = (rng.standard_normal((_random.DRAWS, 12, 8)) for _ in range(2))
    _random._compare("output 0", jd, td, tol)
    with pytest.raises(AssertionError, match="sum of squared z-scores"):
        _random._compare("output 0", jd + 2 * np.sqrt(2 / _random.DRAWS), td, tol)


def test_a_missing_name_is_absent(monkeypatch):
    monkeypatch.delattr(JF, "softsign")
    assert _run("F.softsign-float32").status == "absent"


def test_exclusions_are_held_to_account(monkeypatch):
    monkeypatch.setattr(JF, "softsign", lambda x: x)
    wrong = _exclusions.Exclusion("nn.functional.softsign", "test", index=(0,), error="output")
    other = _exclusions.Exclusion("nn.functional.softsign", "test", index=(0,), error="no such")
    monkeypatch.setattr(H, "EXCLUSIONS", [wrong])
    assert _run("F.softsign-float32").status == "excluded"
    monkeypatch.setattr(H, "EXCLUSIONS", [other])  # fails, but not as the exclusion says
    assert _run("F.softsign-float32").status == "failed"
    monkeypatch.undo()
    monkeypatch.setattr(H, "EXCLUSIONS", [wrong])  # a passing sample: a stale exclusion
    outcome = _run("F.softsign-float32")
    assert outcome.status == "failed" and "stale exclusion" in outcome.message
    assert H.unmatched_exclusions(H.entry("F.softsign-float32"), [outcome]) == [wrong]


def test_a_tolerance_entry_widens_only_where_needed(monkeypatch):
    # torch's float64 hardsigmoid gradient is 1/6 rounded to float32; the entry in
    # _exclusions lets sample 0 pass at rtol 1e-7, and is not needed by sample 1.
    assert _run("F.hardsigmoid-float64", 0).status == "passed_tol"
    assert _run("F.hardsigmoid-float64", 1).status == "passed"
    monkeypatch.setattr(H, "EXCLUSIONS", [])
    assert _run("F.hardsigmoid-float64", 0).status == "failed"


def test_exclusions_match_by_index_and_predicate():
    entry = H.entry("F.softsign-float32")
    sample = H.samples(entry, 1)[0]
    by_index = _exclusions.Exclusion("nn.functional.softsign", "r", index=(0,))
    by_when = _exclusions.Exclusion("nn.functional.softsign", "r", when=lambda s: s.input.ndim == 2)
    other_dtype = _exclusions.Exclusion("nn.functional.softsign", "r", dtypes=("float64",))
    assert by_index.matches(entry, 0, sample) and not by_index.matches(entry, 1, sample)
    assert by_when.matches(entry, 0, sample) == (sample.input.ndim == 2)
    assert not other_dtype.matches(entry, 0, sample)


@pytest.mark.long
def test_a_sample_that_kills_or_hangs_the_worker_fails_and_the_entry_resumes(monkeypatch):
    # The long profile's worker process (a segfault in XLA must not end the run).
    monkeypatch.setenv(_worker.CRASH_ENV, "F.softsign-float32[0]")
    monkeypatch.setenv(_worker.HANG_ENV, "F.softsign-float32[1]")
    worker = _worker.Worker(timeout=20)
    try:
        got = list(worker.run(H.entry("F.softsign-float32")))
    finally:
        worker.close()
    assert [o.status for o in got] == ["crashed", "timeout", "passed"]
    assert "SIGSEGV" in got[0].message and "in _serve" in got[0].message  # faulthandler's
    assert "ran past 20 s" in got[1].message


def test_docs_list_every_exclusion():
    # docs/CONFORMANCE.md carries the table `python -m tests.conformance.run --exclusions`
    # prints; an exclusion added without its documentation fails here.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "CONFORMANCE.md").read_text()
    assert _exclusions.markdown() in docs, "regenerate the table in docs/CONFORMANCE.md"
