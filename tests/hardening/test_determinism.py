"""Same seed, same bits: parameters, losses and checkpoints across two fresh processes; and
without a seed, the default global key stream builds the same model in both."""

import hashlib
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import equinox as eqx, jax, jax.numpy as jnp, numpy as np, optax
    import jaxnn as nn, jaxnn.functional as F
    unseeded = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2))  # the default global stream
    first = hashlib.sha256(b"".join(np.asarray(p).tobytes() for p in unseeded.parameters())).hexdigest()
    nn.manual_seed(123)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 6 * 6, 3))
    params, rest = eqx.partition(model, nn.trainable(model))
    opt = optax.adam(1e-2)
    state = opt.init(params)
    x = jax.random.normal(jax.random.key(1), (5, 1, 8, 8))
    y = jnp.array([0, 1, 2, 0, 1])

    @jax.jit
    def step(params, rest, state, key):
        def loss_fn(p):
            out, new = nn.forward(eqx.combine(p, rest), x, key=key)
            return F.cross_entropy(out, y), new
        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        u, state = opt.update(g, state, params)
        return optax.apply_updates(params, u), eqx.filter(new, nn.trainable(new), inverse=True), state, loss

    losses = []
    for i in range(4):
        params, rest, state, loss = step(params, rest, state, jax.random.fold_in(jax.random.key(7), i))
        losses.append(np.asarray(loss).tobytes().hex())
    model = eqx.combine(params, rest)
    nn.save_checkpoint(sys.argv[1], model, state, step=4, key=jax.random.key(7))
    digest = hashlib.sha256(b"".join(np.asarray(v).tobytes() for v in model.state_dict().values())).hexdigest()
    print(first, digest, " ".join(losses))
    """
)


def test_two_processes_are_bit_identical(tmp_path):
    outs, files = [], []
    for i in range(2):
        path = tmp_path / f"ckpt{i}.safetensors"
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True
        )
        outs.append(r.stdout.strip())
        files.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert outs[0] == outs[1]
    assert files[0] == files[1]
    assert len(outs[0].split()) == 6
