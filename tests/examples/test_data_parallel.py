"""Data parallelism on 8 simulated CPU devices equals the single-device run."""

import os
import subprocess
import sys
import textwrap

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples"))

SCRIPT = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {EXAMPLES!r})
    import jax, numpy as np
    jax.config.update("jax_default_matmul_precision", "highest")
    import data_parallel
    import jaxnn.functional as F
    assert len(jax.devices()) == 8, jax.devices()
    traces, cross_entropy = [], F.cross_entropy
    F.cross_entropy = lambda *a, **k: traces.append(1) or cross_entropy(*a, **k)
    runs = []
    for devices, strategy in ((jax.devices()[:1], "replicate"), (jax.devices(), "replicate"),
                              (jax.devices(), "fsdp")):
        runs.append(data_parallel.train(3, 32, 1e-3, devices, strategy=strategy))
        assert len(traces) == 1, (strategy, len(devices), len(traces))  # compiled once
        traces.clear()
    (one, l1), (eight, l8), (fsdp, lf) = runs
    w = eight.fc.weight
    assert len(w.sharding.device_set) == 8 and w.sharding.is_fully_replicated
    assert not fsdp.fc.weight.sharding.is_fully_replicated
    for other, losses in ((eight, l8), (fsdp, lf)):
        np.testing.assert_allclose(losses, l1, rtol=1e-5, atol=1e-6)
        for k, v in one.state_dict().items():
            np.testing.assert_allclose(np.asarray(other.state_dict()[k]), np.asarray(v), rtol=1e-5, atol=1e-6)
    print("OK", l1)
    """
)


def test_eight_devices_match_one():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu"
    )
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("OK")
