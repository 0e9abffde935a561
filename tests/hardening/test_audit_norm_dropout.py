"""Bad-input audit: normalization, dropout, and keys/randomness (see _audit.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn

from ._audit import check_case, err, ints, params, rnd, same

N = "normalization"
D = "dropout"
K = "keys/randomness"

X = rnd(4, 3, 5)
X4 = rnd(2, 3, 4, 4)
NAN = rnd(4, 3, 5)
NAN[0, 0, 0] = np.nan
NAN[1, 1, 1] = np.inf
RM, RV = rnd(3, seed=3), np.abs(rnd(3, seed=4)) + 0.5
WT, BS = rnd(3, seed=5), rnd(3, seed=6)


def bn(L, x=X, rm=RM, rv=RV, w=WT, b=BS, **kw):
    a = lambda v: None if v is None else L.A(v)  # noqa: E731
    return L.F.batch_norm(L.A(x), a(rm), a(rv), a(w), a(b), **kw)


NORM = [
    same("batch_norm-eval", lambda L: bn(L), area=N, kind="valid edge"),
    same("batch_norm-train", lambda L: bn(L, training=True), area=N, kind="valid edge"),
    same("batch_norm-train-no-stats", lambda L: bn(L, rm=None, rv=None, training=True), area=N, kind="valid edge"),
    same("batch_norm-nan", lambda L: bn(L, x=NAN, training=True), area=N, kind="NaN/inf"),
    same("batch_norm-eval-nan", lambda L: bn(L, x=NAN), area=N, kind="NaN/inf"),
    same("batch_norm-2d", lambda L: bn(L, x=rnd(4, 3)), area=N, kind="valid edge"),
    same("batch_norm-eval-one-value", lambda L: bn(L, x=rnd(1, 3)), area=N, kind="valid edge"),
    err("batch_norm-train-one-value-per-channel", lambda L: bn(L, x=rnd(1, 3), training=True), ValueError, r"more than 1 value per channel.*\[1, 3\]", area=N, kind="batch of one"),
    err("batch_norm-1d-input", lambda L: bn(L, x=rnd(3), training=True), (ValueError, RuntimeError), r"(?i)(shape|dimension).*3", area=N, kind="wrong rank"),
    err("batch_norm-channel-mismatch", lambda L: bn(L, x=rnd(4, 5, 2)), RuntimeError, r"running_mean.*3|3.*5", area=N, kind="channel count"),
    err("batch_norm-weight-wrong-size", lambda L: bn(L, w=rnd(4)), RuntimeError, r"weight.*3", area=N, kind="feature count"),
    err("batch_norm-eval-without-stats", lambda L: bn(L, rm=None, rv=None), (RuntimeError, ValueError), r"running_mean", area=N, kind="missing argument"),
    err("batch_norm-int-input", lambda L: bn(L, x=ints(4, 3, high=5), training=True), (TypeError, RuntimeError), r"(?i)dtype|int|float", area=N, kind="int input"),
    err("batch_norm-momentum-str", lambda L: bn(L, training=True, momentum="0.1"), TypeError, r"momentum.*str", area=N, kind="wrong type"),
    # layer norm
    same("layer_norm-ok", lambda L: L.F.layer_norm(L.A(X), (3, 5), L.A(rnd(3, 5)), L.A(rnd(3, 5, seed=1))), area=N, kind="valid edge"),
    same("layer_norm-int-shape", lambda L: L.F.layer_norm(L.A(X), [5]), area=N, kind="valid edge"),
    same("layer_norm-nan", lambda L: L.F.layer_norm(L.A(NAN), (5,)), area=N, kind="NaN/inf"),
    same("layer_norm-constant-row", lambda L: L.F.layer_norm(L.A(np.ones((2, 4), np.float32)), (4,)), area=N, kind="valid edge"),
    err("layer_norm-shape-mismatch", lambda L: L.F.layer_norm(L.A(X), (4,)), RuntimeError, r"normalized_shape=\[4\].*\[\*, 4\].*\[4, 3, 5\]", area=N, kind="feature count"),
    err("layer_norm-empty-shape", lambda L: L.F.layer_norm(L.A(X), ()), RuntimeError, r"normalized_shape.*at least 1", area=N, kind="zero size"),
    err("layer_norm-weight-shape", lambda L: L.F.layer_norm(L.A(X), (5,), L.A(rnd(4))), RuntimeError, r"weight.*\[4\].*\[5\]", area=N, kind="feature count"),
    err("layer_norm-shape-longer-than-input", lambda L: L.F.layer_norm(L.A(rnd(5)), (2, 5)), RuntimeError, r"normalized_shape", area=N, kind="wrong rank"),
    same("rms_norm-ok", lambda L: L.F.rms_norm(L.A(X), (5,), L.A(rnd(5))), area=N, kind="valid edge"),
    err("rms_norm-shape-mismatch", lambda L: L.F.rms_norm(L.A(X), (3,)), RuntimeError, r"normalized_shape", area=N, kind="feature count"),
    # group norm
    same("group_norm-ok", lambda L: L.F.group_norm(L.A(rnd(2, 6, 3)), 3, L.A(rnd(6)), L.A(rnd(6, seed=1))), area=N, kind="valid edge"),
    same("group_norm-nan", lambda L: L.F.group_norm(L.A(NAN), 3), area=N, kind="NaN/inf"),
    same("group_norm-2d-input", lambda L: L.F.group_norm(L.A(rnd(2, 6)), 2), area=N, kind="valid edge"),
    err("group_norm-not-divisible", lambda L: L.F.group_norm(L.A(rnd(2, 6, 3)), 4), RuntimeError, r"divisible by num_groups.*num_groups=4", area=N, kind="channel count"),
    err("group_norm-zero-groups", lambda L: L.F.group_norm(L.A(rnd(2, 6, 3)), 0), (RuntimeError, ValueError, ZeroDivisionError), r"num_groups.*0", area=N, kind="zero size"),
    err("group_norm-1d-input", lambda L: L.F.group_norm(L.A(rnd(6)), 2), RuntimeError, r"(?i)at least 2 dimensions", area=N, kind="wrong rank"),
    err("group_norm-weight-size", lambda L: L.F.group_norm(L.A(rnd(2, 6, 3)), 3, L.A(rnd(3))), RuntimeError, r"weight.*\[3\]", area=N, kind="feature count"),
    same("group_norm-one-channel-per-group-batch-2", lambda L: L.F.group_norm(L.A(rnd(2, 6)), 6), area=N, kind="batch of one"),
    err("group_norm-one-value-per-group", lambda L: L.F.group_norm(L.A(rnd(1, 6)), 6), ValueError, r"more than 1 value per channel", area=N, kind="batch of one"),
    # instance norm
    same("instance_norm-ok", lambda L: L.F.instance_norm(L.A(X)), area=N, kind="valid edge"),
    same("instance_norm-nan", lambda L: L.F.instance_norm(L.A(NAN)), area=N, kind="NaN/inf"),
    err("instance_norm-one-spatial", lambda L: L.F.instance_norm(L.A(rnd(2, 3, 1))), ValueError, r"more than 1 spatial element", area=N, kind="batch of one"),
    err("instance_norm-one-stat-only", lambda L: L.F.instance_norm(L.A(X), L.A(RM), None), (ValueError, RuntimeError), r"running_mean and running_var", area=N, kind="missing argument"),
    err("instance_norm-no-stats-no-input-stats", lambda L: L.F.instance_norm(L.A(X), use_input_stats=False), (RuntimeError, ValueError), r"running_mean and running_var", area=N, kind="missing argument"),
    # local response / normalize
    same("local_response_norm-ok", lambda L: L.F.local_response_norm(L.A(X), 2), area=N, kind="valid edge"),
    err("local_response_norm-2d", lambda L: L.F.local_response_norm(L.A(rnd(2, 3)), 2), (ValueError, RuntimeError), r"3D or higher", area=N, kind="wrong rank"),
    same("normalize-zero-vector", lambda L: L.F.normalize(L.A(np.zeros((2, 3), np.float32)), dim=1), area=N, kind="zero size"),
    same("normalize-nan", lambda L: L.F.normalize(L.A(NAN), dim=1), area=N, kind="NaN/inf"),
    same("normalize-nan-p1", lambda L: L.F.normalize(L.A(NAN), p=1.0, dim=1), area=N, kind="NaN/inf"),
    same("normalize-nan-p3", lambda L: L.F.normalize(L.A(NAN), p=3.0, dim=1), area=N, kind="NaN/inf"),
    same("normalize-nan-pinf", lambda L: L.F.normalize(L.A(NAN), p=float("inf"), dim=1), area=N, kind="NaN/inf"),
    same("normalize-inf-only", lambda L: L.F.normalize(L.A(np.array([[1.0, np.inf, 2.0]], np.float32)), dim=1), area=N, kind="NaN/inf"),
    same("normalize-p1-dim-neg", lambda L: L.F.normalize(L.A(X), p=1.0, dim=-1), area=N, kind="valid edge"),
    err("normalize-dim-out-of-range", lambda L: L.F.normalize(L.A(X), dim=3), IndexError, r"(?i)dimension out of range", area=N, kind="dim out of range"),
    # integer inputs: torch's kernels are not implemented for them
    err("layer_norm-int-input", lambda L: L.F.layer_norm(L.A(ints(4, 3, 5, high=5)), (5,)), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    err("rms_norm-int-input", lambda L: L.F.rms_norm(L.A(ints(4, 3, 5, high=5)), (5,)), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    err("group_norm-int-input", lambda L: L.F.group_norm(L.A(ints(4, 6, 5, high=5)), 3), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    err("instance_norm-int-input", lambda L: L.F.instance_norm(L.A(ints(4, 3, 5, high=5))), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    err("normalize-int-input", lambda L: L.F.normalize(L.A(ints(4, 3, high=5))), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    err("BatchNorm2d-int-input", lambda L: L.M("BatchNorm2d", 3)(L.A(ints(2, 3, 4, 4, high=5))), (TypeError, RuntimeError), r"input.*dtype int", area=N, kind="int input"),
    # modules
    err("BatchNorm2d-wrong-rank", lambda L: L.M("BatchNorm2d", 3)(L.A(X)), ValueError, r"expected 4D input \(got 3D input\)", area=N, kind="wrong rank"),
    err("BatchNorm1d-wrong-rank", lambda L: L.M("BatchNorm1d", 3)(L.A(X4)), ValueError, r"expected 2D or 3D input \(got 4D input\)", area=N, kind="wrong rank"),
    err("BatchNorm2d-channel-mismatch", lambda L: L.M("BatchNorm2d", 4)(L.A(X4)), RuntimeError, r"(?i)running_mean|4.*3|channel", area=N, kind="channel count"),
    err("BatchNorm2d-negative-features", lambda L: L.M("BatchNorm2d", -1), (ValueError, RuntimeError), r"(?i)num_features.*-1|-1", area=N, kind="negative size"),
    err("BatchNorm2d-train-batch-of-one-1x1", lambda L: L.M("BatchNorm2d", 3)(L.A(rnd(1, 3, 1, 1))), ValueError, r"more than 1 value per channel", area=N, kind="batch of one"),
    same("BatchNorm2d-eval-batch-of-one-1x1", lambda L: L.M("BatchNorm2d", 3).eval()(L.A(rnd(1, 3, 1, 1))), area=N, kind="batch of one"),
    err("LayerNorm-shape-mismatch", lambda L: L.M("LayerNorm", 4)(L.A(X)), RuntimeError, r"normalized_shape=\[4\]", area=N, kind="feature count"),
    err("GroupNorm-not-divisible-construction", lambda L: L.M("GroupNorm", 4, 6), ValueError, r"num_channels \(6\) must be divisible by num_groups \(4\)", area=N, kind="channel count"),
    err("GroupNorm-channel-mismatch", lambda L: L.M("GroupNorm", 2, 6)(L.A(rnd(2, 4, 3))), RuntimeError, r"(?i)weight|channels|6|4", area=N, kind="channel count"),
    err("InstanceNorm1d-wrong-rank", lambda L: L.M("InstanceNorm1d", 3)(L.A(X4)), ValueError, r"(?i)expected 2D or 3D input \(got 4D input\)", area=N, kind="wrong rank"),
    err("LocalResponseNorm-zero-size", lambda L: L.M("LocalResponseNorm", 0)(L.A(X)), (ValueError, RuntimeError, ZeroDivisionError), r"size", area=N, kind="zero size"),
]



def drop(L, fn="dropout", x=X, **kw):
    if not L.torch:
        kw.setdefault("key", jax.random.key(0))
    return getattr(L.F, fn)(L.A(x), **kw)


DROP = [
    same("dropout-p0-identity", lambda L: drop(L, p=0.0), area=D, kind="valid edge"),
    same("dropout-eval-identity", lambda L: drop(L, p=0.5, training=False), area=D, kind="valid edge"),
    same("dropout-p1-zeros", lambda L: drop(L, p=1.0), area=D, kind="valid edge"),
    same("dropout-p1-nan-propagates", lambda L: drop(L, x=NAN, p=1.0), area=D, kind="NaN/inf"),
    same("dropout2d-p0-identity", lambda L: drop(L, "dropout2d", x=X4, p=0.0), area=D, kind="valid edge"),
    same("alpha_dropout-eval-identity", lambda L: drop(L, "alpha_dropout", p=0.5, training=False), area=D, kind="valid edge"),
    err("dropout-p-negative", lambda L: drop(L, p=-0.1), ValueError, r"dropout probability.*between 0 and 1.*-0\.1", area=D, kind="invalid probability"),
    err("dropout-p-gt-1", lambda L: drop(L, p=1.5), ValueError, r"dropout probability.*1\.5", area=D, kind="invalid probability"),
    err("dropout2d-p-gt-1", lambda L: drop(L, "dropout2d", x=X4, p=2.0), ValueError, r"dropout probability.*2", area=D, kind="invalid probability"),
    err("alpha_dropout-p-negative", lambda L: drop(L, "alpha_dropout", p=-1.0, training=True), ValueError, r"dropout probability.*-1", area=D, kind="invalid probability"),
    err("dropout1d-4d-input", lambda L: drop(L, "dropout1d", x=X4), (ValueError, RuntimeError), r"dropout1d.*2D or 3D.*4D", area=D, kind="wrong rank"),
    err("Dropout-module-p-gt-1", lambda L: L.M("Dropout", 1.5), ValueError, r"dropout probability.*1\.5", area=D, kind="invalid probability"),
    err("Dropout2d-module-p-negative", lambda L: L.M("Dropout2d", -0.5), ValueError, r"dropout probability.*-0\.5", area=D, kind="invalid probability"),
    same("Dropout-module-eval-identity", lambda L: L.M("Dropout", 0.5).eval()(L.A(X)), area=D, kind="valid edge"),
]


def _linear_key(k):
    return lambda L: L.nn.Linear(2, 3, key=k())


KEYS = [
    # jaxnn-only rules (torch has a global RNG): typed and raw uint32[2] keys are accepted,
    # an int, a float array, a batch of keys are rejected with the fix.
    same("dropout-typed-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jax.random.key(0)), torch=None, area=K, kind="key kind"),
    same("dropout-raw-uint32-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jax.random.PRNGKey(0)), torch=None, area=K, kind="key kind"),
    err("dropout-training-no-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5), ValueError, r"needs a PRNG key.*key, sub = jax\.random\.split\(key\)", torch=None, area=K, kind="missing key"),
    err("dropout-int-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=0), TypeError, r"key must be a single JAX PRNG key.*int", torch=None, area=K, kind="key kind"),
    err("dropout-float-array-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jnp.zeros(2)), TypeError, r"key must be a single JAX PRNG key.*float32", torch=None, area=K, kind="key kind"),
    err("dropout-batch-of-keys", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jax.random.split(jax.random.key(0), 2)), TypeError, r"key must be a single JAX PRNG key.*\(2,\)", torch=None, area=K, kind="key kind"),
    err("dropout-uint32-wrong-shape", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jnp.zeros(4, jnp.uint32)), TypeError, r"single JAX PRNG key.*\(4,\)", torch=None, area=K, kind="key kind"),
    err("dropout-int32-array-key", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, key=jnp.zeros(2, jnp.int32)), TypeError, r"single JAX PRNG key.*int32", torch=None, area=K, kind="key kind"),
    err("dropout-eval-int-key-still-checked", lambda L: jaxnn.functional.dropout(jnp.ones(8), 0.5, training=False, key=0), TypeError, r"key", torch=None, area=K, kind="key kind"),
    err("dropout2d-p0-float-key-still-checked", lambda L: jaxnn.functional.dropout2d(jnp.ones((2, 3, 4)), 0.0, key=jnp.zeros(2)), TypeError, r"single JAX PRNG key.*float32", torch=None, area=K, kind="key kind"),
    err("Dropout-module-training-no-key", lambda L: jaxnn.Dropout(0.5)(jnp.ones(8)), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
    err("Dropout-module-int-key", lambda L: jaxnn.Dropout(0.5)(jnp.ones(8), key=1), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    same("Dropout-module-raw-key", lambda L: jaxnn.Dropout(0.5)(jnp.ones(8), key=jax.random.PRNGKey(1)), torch=None, area=K, kind="key kind"),
    err("Sequential-dropout-no-key", lambda L: jaxnn.Sequential(jaxnn.Linear(2, 2), jaxnn.Dropout(0.5))(jnp.ones((1, 2))), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
    err("Sequential-float-key", lambda L: jaxnn.Sequential(jaxnn.Linear(2, 2), jaxnn.Dropout(0.5))(jnp.ones((1, 2)), key=jnp.ones(2)), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    err("Sequential-int-key", lambda L: jaxnn.Sequential(jaxnn.Linear(2, 2), jaxnn.Dropout(0.5))(jnp.ones((1, 2)), key=3), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    same("Sequential-no-random-child-ignores-key", lambda L: jaxnn.Sequential(jaxnn.Linear(2, 2))(jnp.ones((1, 2)), key=jax.random.key(0)), torch=None, area=K, kind="key kind"),
    same("Linear-typed-key", _linear_key(lambda: jax.random.key(0)), torch=None, area=K, kind="key kind"),
    same("Linear-raw-key", _linear_key(lambda: jax.random.PRNGKey(0)), torch=None, area=K, kind="key kind"),
    err("Linear-int-key", _linear_key(lambda: 0), TypeError, r"key must be a single JAX PRNG key.*int", torch=None, area=K, kind="key kind"),
    err("Linear-float-key", _linear_key(lambda: jnp.zeros(2)), TypeError, r"key must be a single JAX PRNG key", torch=None, area=K, kind="key kind"),
    err("Conv2d-int-key", lambda L: jaxnn.Conv2d(1, 1, 1, key=3), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    err("LSTM-float-key", lambda L: jaxnn.LSTM(2, 2, key=jnp.zeros(2)), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    err("Embedding-batch-of-keys", lambda L: jaxnn.Embedding(3, 2, key=jax.random.split(jax.random.key(0))), TypeError, r"single JAX PRNG key", torch=None, area=K, kind="key kind"),
    err("manual_seed-str", lambda L: jaxnn.manual_seed("0"), TypeError, r"manual_seed\(seed\) takes an int.*str", torch=None, area=K, kind="wrong type"),
    err("manual_seed-float", lambda L: jaxnn.manual_seed(1.5), TypeError, r"manual_seed.*float", torch=None, area=K, kind="wrong type"),
    err("manual_seed-bool", lambda L: jaxnn.manual_seed(True), TypeError, r"manual_seed.*bool", torch=None, area=K, kind="wrong type"),
    err("sdpa-dropout-no-key", lambda L: jaxnn.functional.scaled_dot_product_attention(jnp.ones((1, 2, 4)), jnp.ones((1, 2, 4)), jnp.ones((1, 2, 4)), dropout_p=0.5), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
    err("MultiheadAttention-dropout-no-key", lambda L: jaxnn.MultiheadAttention(4, 2, dropout=0.5)(jnp.ones((2, 1, 4)), jnp.ones((2, 1, 4)), jnp.ones((2, 1, 4))), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
    err("LSTM-dropout-no-key", lambda L: jaxnn.LSTM(2, 2, num_layers=2, dropout=0.5)(jnp.ones((3, 1, 2))), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
    err("TransformerEncoderLayer-no-key", lambda L: jaxnn.TransformerEncoderLayer(4, 2, 8)(jnp.ones((2, 1, 4))), ValueError, r"(?i)key", torch=None, area=K, kind="missing key"),
]

CASES = NORM + DROP + KEYS


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
