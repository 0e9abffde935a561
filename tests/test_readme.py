"""The README's snippets run as written, and its commands are the ones CI runs."""

import os
import re

import jax
import numpy as np
import pytest

import jaxnn as nn

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def _snippets(heading: str) -> list[str]:
    """The ```python blocks of the section that starts with ``heading``."""
    text = _readme()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


def test_quick_start_trains_the_model_in_place():
    quick = _snippets("## Quick start")[0]
    lines = [line.strip() for line in quick.splitlines() if line.strip()]
    loop = lines[next(i for i, line in enumerate(lines) if line.startswith("def loss_fn")) :]
    loop = loop[: next(i for i, line in enumerate(loop) if line.startswith("model.eval()")) + 1]
    assert len(loop) <= 8, loop  # the training loop, from the loss to model.eval()
    ns: dict = {}
    exec(compile(quick, "README quick start", "exec"), ns)
    model, x, y = ns["model"], ns["x"], ns["y"]
    assert not model.training
    assert int(model.bn1.num_batches_tracked) == 3 * 8
    # `model` is the trained model: the same CNN fresh from its initialisation gets the
    # labels of this stand-in data wrong, the trained one has learned them.
    nn.manual_seed(0)
    untrained = ns["CNN"]().eval()
    untrained_accuracy = float((untrained(x[:128]).argmax(1) == y[:128]).mean())
    accuracy = float(ns["accuracy"])
    assert accuracy > max(0.6, untrained_accuracy + 0.1), (accuracy, untrained_accuracy)


def _small_namespace():
    """What the quick start leaves behind, with a small model: the other snippets use it."""
    import jax.numpy as jnp
    import optax

    import jaxnn.functional as F

    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Dropout(0.3), nn.Linear(16, 2))
    x = jax.random.normal(jax.random.key(0), (512, 6))
    y = (x[:, 0] > 0).astype(jnp.int32)
    ns = {"jax": jax, "jnp": jnp, "optax": optax, "nn": nn, "F": F, "x": x, "y": y}
    ns["model"] = model.eval()  # as the quick start leaves it
    ns["loss_fn"] = lambda model, x, y: F.cross_entropy(model(x), y)
    return ns


def test_explicit_step_runs():
    ns = _small_namespace()
    exec(compile(_snippets("## Quick start")[1], "README explicit step", "exec"), ns)
    assert np.isfinite(float(ns["loss"])) and ns["model"].training
    assert int(ns["model"][1].num_batches_tracked) == 8


def test_scaling_snippet_runs_on_this_hosts_devices():
    ns = _small_namespace()
    ns["model"].train()
    exec(compile(_snippets("## Going from one GPU to a pod")[0], "README scaling", "exec"), ns)
    assert np.isfinite(float(ns["loss"]))
    assert ns["model"][0].weight.sharding.is_fully_replicated
    assert len(ns["x"].sharding.device_set) == len(jax.devices())
    assert int(ns["model"][1].num_batches_tracked) == 1


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
