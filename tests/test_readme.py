"""The README's quick start runs as written, and its commands are the ones CI runs."""

import os
import re

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


def test_ci_runs_the_readme_test_command():
    text = _readme()
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    command = re.search(r"```bash\n(pip install -e \"\.\[test\]\".*?)\n```", text).group(1)
    assert command.replace("pip install", "python -m pip install") in ci
