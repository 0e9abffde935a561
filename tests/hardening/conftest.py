"""Hardening tests: print how many bad-input audit cases ran and how many passed."""

from __future__ import annotations

import os

_counts = {"cases": 0, "passed": 0, "xfailed": 0, "failed": 0, "skipped": 0}


def _is_audit(nodeid: str) -> bool:
    path = nodeid.split("::", 1)[0]
    name = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) == "hardening" and name.startswith("test_audit")


def pytest_runtest_logreport(report):
    if not _is_audit(report.nodeid):
        return
    xfail = hasattr(report, "wasxfail")
    if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)):
        _counts["cases"] += 1
        if xfail and report.skipped:
            _counts["xfailed"] += 1
        elif report.passed and not xfail:
            _counts["passed"] += 1
        elif report.skipped:
            _counts["skipped"] += 1
        else:
            _counts["failed"] += 1


def pytest_terminal_summary(terminalreporter):
    if _counts["cases"]:
        terminalreporter.write_line(
            f"bad-input audit: {_counts['cases']} cases, {_counts['passed']} passed, "
            f"{_counts['xfailed']} xfailed (known findings), {_counts['failed']} failed, "
            f"{_counts['skipped']} skipped"
        )
