"""The README's quick start runs as written, and its commands are the ones CI runs."""

import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def test_quick_start_runs():
    text = _readme()
    section = text[text.index("## Quick start") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    lines = [line for line in code.splitlines() if line.strip()]
    assert (
        len(lines[lines.index("import jaxnn as nn                      # torch.nn's names") :]) < 30
    )
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    assert not namespace["model"].training
    assert float(namespace["loss"]) > 0


def test_ci_runs_the_readme_test_command_in_a_fresh_virtualenv():
    text = _readme()
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    command = re.search(
        r"```bash\n(pip install -c constraints.txt -e \"\.\[test\]\".*?)\n```", text
    )
    assert command, "the README's test command installs with the lock (-c constraints.txt)"
    assert command.group(1) in ci
    # the virtualenv is made (and activated) before anything is installed
    assert ci.index("-m venv") < ci.index("activate") < ci.index(command.group(1))


def test_readme_run_command_uses_the_lock():
    text = _readme()
    assert re.search(
        r"```bash\npip install -c constraints.txt -e \"\.\[examples\]\" && python examples/", text
    )


def _constraints() -> dict[str, str]:
    pins = {}
    with open(os.path.join(ROOT, "constraints.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, version = line.partition("==")
                assert version, f"constraints.txt: {line!r} is not an exact pin"
                pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_lock_pins_every_test_and_example_requirement():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    pins = _constraints()
    wanted = [*project["dependencies"]]
    for extra in ("test", "examples"):
        wanted += project["optional-dependencies"][extra]
    for requirement in wanted:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert key in pins, f"{name} is required but not pinned: run `bash .ci/lock`"
        exact = re.search(r"==\s*([^,; ]+)", requirement)
        if exact:
            assert pins[key] == exact.group(1), (
                f"{name}: pyproject says {exact.group(1)}, the lock {pins[key]}"
            )
