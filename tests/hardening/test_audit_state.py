"""Bad-input audit: containers, state_dict / load_state_dict, checkpoints and interop,
module verbs and pure-world entry points (see _audit.py)."""

import os
import tempfile
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn

from ._audit import check_case, err, params, rnd, same

CT = "containers"
SD = "state_dict/load"
CK = "checkpoints/interop"
MV = "module verbs"


def seq(L, named=False):
    if named:
        return L.nn.Sequential(OrderedDict([("h1", L.M("Linear", 2, 3)), ("act", L.nn.ReLU()), ("out", L.M("Linear", 3, 1))]))
    return L.nn.Sequential(L.M("Linear", 2, 3), L.nn.ReLU(), L.M("Linear", 3, 1))


def keys(m):
    return list(m.state_dict())


CONTAINERS = [
    err("Sequential-non-module", lambda L: L.nn.Sequential(L.nn.ReLU(), 3), TypeError, r"int is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("Sequential-function", lambda L: L.nn.Sequential(lambda x: x), TypeError, r"(?s)function.*is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("Sequential-plain-dict", lambda L: L.nn.Sequential({"a": L.nn.ReLU()}), TypeError, r"(?i)dict", area=CT, kind="wrong type"),
    err("Sequential-index-out-of-range", lambda L: seq(L)[3], IndexError, r"index 3 is out of range", area=CT, kind="index out of range"),
    err("Sequential-negative-index-out-of-range", lambda L: seq(L)[-4], IndexError, r"index -4 is out of range", area=CT, kind="index out of range"),
    err("Sequential-str-index", lambda L: seq(L)["0"], (TypeError, KeyError), r"(?i)indices must be integers|'0'|str", area=CT, kind="wrong type"),
    err("Sequential-float-index", lambda L: seq(L)[1.0], TypeError, r"(?i)indices must be integers|float", area=CT, kind="wrong type"),
    err("Sequential-setitem-non-module", lambda L: seq(L).__setitem__(0, 3), TypeError, r"int is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("Sequential-setitem-out-of-range", lambda L: seq(L).__setitem__(5, L.nn.ReLU()), IndexError, r"index 5 is out of range", area=CT, kind="index out of range"),
    err("Sequential-delitem-out-of-range", lambda L: seq(L).__delitem__(3), IndexError, r"index 3 is out of range", area=CT, kind="index out of range"),
    err("Sequential-append-non-module", lambda L: seq(L).append(3), TypeError, r"is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("Sequential-insert-out-of-range", lambda L: seq(L).insert(5, L.nn.ReLU()), IndexError, r"Index out of range: 5", area=CT, kind="index out of range"),
    err("Sequential-mul-zero", lambda L: seq(L) * 0, ValueError, r"Non-positive multiplication factor 0", area=CT, kind="zero size"),
    err("Sequential-mul-float", lambda L: seq(L) * 1.5, TypeError, r"(?i)unsupported operand.*float", area=CT, kind="wrong type"),
    err("Sequential-imul-negative", lambda L: seq(L).__imul__(-1), ValueError, r"Non-positive multiplication factor -1", area=CT, kind="negative size"),
    err("Sequential-add-list", lambda L: seq(L) + [L.nn.ReLU()], ValueError, r"add operator supports only objects of Sequential class", area=CT, kind="wrong type"),
    err("Sequential-iadd-list", lambda L: seq(L).__iadd__([L.nn.ReLU()]), ValueError, r"add operator supports only objects of Sequential class", area=CT, kind="wrong type"),
    same("Sequential-slice", lambda L: keys(seq(L)[1:]), area=CT, kind="valid edge"),
    same("Sequential-del-slice", lambda L: (lambda m: (m.__delitem__(slice(0, 1)), keys(m))[1])(seq(L)), area=CT, kind="valid edge"),
    same("Sequential-pop-negative", lambda L: (lambda m: (m.pop(-1), keys(m))[1])(seq(L)), area=CT, kind="valid edge"),
    same("Sequential-empty-forward-identity", lambda L: L.nn.Sequential()(L.A(rnd(2, 3))), area=CT, kind="empty input"),
    err("ModuleList-non-module", lambda L: L.nn.ModuleList([L.nn.ReLU(), "relu"]), TypeError, r"str is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("ModuleList-extend-non-iterable", lambda L: L.nn.ModuleList().extend(L.nn.ReLU()), TypeError, r"ModuleList.extend should be called with an iterable, but got ReLU", area=CT, kind="wrong type"),
    err("ModuleList-index-out-of-range", lambda L: L.nn.ModuleList([L.nn.ReLU()])[1], IndexError, r"index 1 is out of range", area=CT, kind="index out of range"),
    err("ModuleList-setitem-non-module", lambda L: L.nn.ModuleList([L.nn.ReLU()]).__setitem__(0, 1.0), TypeError, r"float is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("ModuleList-delitem-out-of-range", lambda L: L.nn.ModuleList([L.nn.ReLU()]).__delitem__(2), IndexError, r"index 2 is out of range", area=CT, kind="index out of range"),
    # torch stores these silently (ModuleList.append(None), insert(0, 5)); jaxnn refuses
    # them: a deliberate "better than torch" row, checked on jaxnn's side only.
    err("ModuleList-append-None", lambda L: L.nn.ModuleList().append(None), TypeError, r"NoneType is not a jaxnn Module subclass", torch=None, area=CT, kind="wrong type (torch accepts)"),
    err("ModuleList-insert-int", lambda L: L.nn.ModuleList().insert(0, 5), TypeError, r"int is not a jaxnn Module subclass", torch=None, area=CT, kind="wrong type (torch accepts)"),
    same("ModuleList-negative-index", lambda L: repr(L.nn.ModuleList([L.nn.ReLU(), L.nn.Tanh()])[-1]), area=CT, kind="valid edge"),
    err("ModuleDict-int-key", lambda L: L.nn.ModuleDict({1: L.nn.ReLU()}), TypeError, r"module name should be a string\. Got int", area=CT, kind="wrong type"),
    err("ModuleDict-dotted-key", lambda L: L.nn.ModuleDict({"a.b": L.nn.ReLU()}), KeyError, r"module name can't contain \"\.\"", area=CT, kind="invalid string"),
    err("ModuleDict-empty-key", lambda L: L.nn.ModuleDict({"": L.nn.ReLU()}), KeyError, r"module name can't contain \"\.\", or be empty|can't.*be empty", area=CT, kind="invalid string"),
    err("ModuleDict-setitem-dotted-key", lambda L: L.nn.ModuleDict().__setitem__("a.b", L.nn.ReLU()), KeyError, r"module name can't contain \"\.\"", area=CT, kind="invalid string"),
    err("Sequential-ordereddict-dotted-key", lambda L: L.nn.Sequential(OrderedDict([("a.b", L.nn.ReLU())])), KeyError, r"module name can't contain \"\.\"", area=CT, kind="invalid string"),
    err("ModuleDict-update-int-key", lambda L: L.nn.ModuleDict().update([(1, L.nn.ReLU())]), TypeError, r"module name should be a string\. Got int", area=CT, kind="wrong type"),
    err("ModuleDict-missing-key", lambda L: L.nn.ModuleDict({"a": L.nn.ReLU()})["b"], KeyError, r"^b$", area=CT, kind="missing key"),
    err("ModuleDict-del-missing", lambda L: L.nn.ModuleDict({"a": L.nn.ReLU()}).__delitem__("b"), KeyError, r"^b$", area=CT, kind="missing key"),
    err("ModuleDict-pop-missing", lambda L: L.nn.ModuleDict({"a": L.nn.ReLU()}).pop("b"), KeyError, r"^b$", area=CT, kind="missing key"),
    err("ModuleDict-update-non-iterable", lambda L: L.nn.ModuleDict().update(5), TypeError, r"ModuleDict.update should be called with an iterable of key/value pairs, but got int", area=CT, kind="wrong type"),
    err("ModuleDict-update-bad-pair", lambda L: L.nn.ModuleDict().update([("a", L.nn.ReLU(), 1)]), ValueError, r"ModuleDict update sequence element #0 has length 3; 2 is required", area=CT, kind="wrong length"),
    err("ModuleDict-update-non-pair", lambda L: L.nn.ModuleDict().update([L.nn.ReLU()]), TypeError, r"ModuleDict update sequence element #0 should be Iterable; is ReLU", area=CT, kind="wrong type"),
    err("ModuleDict-value-non-module", lambda L: L.nn.ModuleDict({"a": 3}), TypeError, r"int is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    same("ModuleDict-order-kept", lambda L: keys(L.nn.ModuleDict([("z", L.M("Linear", 1, 1)), ("a", L.M("Linear", 1, 1))])), area=CT, kind="valid edge"),
    err("ParameterDict-missing-key", lambda L: L.nn.ParameterDict({"a": L.A(rnd(2))})["b"], KeyError, r"^b$", area=CT, kind="missing key"),
    err("ParameterDict-del-missing", lambda L: L.nn.ParameterDict({"a": L.A(rnd(2))}).__delitem__("b"), KeyError, r"^b$", area=CT, kind="missing key"),
    err("ParameterList-index-out-of-range", lambda L: L.nn.ParameterList([L.A(rnd(2))])[3], IndexError, r"index 3 is out of range", area=CT, kind="index out of range"),
    err("add_module-dotted", lambda L: seq(L).add_module("a.b", L.nn.ReLU()), KeyError, r"module name can't contain \"\.\".*'a\.b'", area=CT, kind="invalid string"),
    err("add_module-int-name", lambda L: seq(L).add_module(1, L.nn.ReLU()), TypeError, r"module name should be a string\. Got int", area=CT, kind="wrong type"),
    err("add_module-non-module", lambda L: seq(L).add_module("x", "relu"), TypeError, r"str is not a (jaxnn )?Module subclass", area=CT, kind="wrong type"),
    err("get_submodule-missing", lambda L: seq(L, named=True).get_submodule("h2"), AttributeError, r"has no attribute `h2`", area=CT, kind="missing key"),
    err("get_parameter-missing", lambda L: seq(L, named=True).get_parameter("h1.scale"), AttributeError, r"(?i)scale", area=CT, kind="missing key"),
]


def load(L, sd_fn, model_fn=lambda L: L.M("Linear", 2, 3), **kw):
    m = model_fn(L)
    res = m.load_state_dict(sd_fn(L), **kw)
    return res


def after_load(L, sd_fn, model_fn=lambda L: L.M("Linear", 2, 3), **kw):
    m = model_fn(L)
    m.load_state_dict(sd_fn(L), **kw)
    return [v for v in m.state_dict().values()]


W23, B3 = rnd(3, 2), rnd(3, seed=1)

STATE = [
    err("load-missing-key", lambda L: load(L, lambda L: {"weight": L.A(W23)}), RuntimeError, r"Error\(s\) in loading state_dict for Linear:\s+Missing key\(s\) in state_dict: \"bias\"", area=SD, kind="missing key"),
    err("load-unexpected-key", lambda L: load(L, lambda L: {"weight": L.A(W23), "bias": L.A(B3), "scale": L.A(B3)}), RuntimeError, r"Unexpected key\(s\) in state_dict: \"scale\"", area=SD, kind="unexpected key"),
    err("load-shape-mismatch", lambda L: load(L, lambda L: {"weight": L.A(rnd(2, 3)), "bias": L.A(B3)}), RuntimeError, r"size mismatch for weight: copying a param with shape torch.Size\(\[2, 3\]\) from checkpoint, the shape in current model is torch.Size\(\[3, 2\]\)", area=SD, kind="wrong shape"),
    err("load-shape-mismatch-not-strict", lambda L: load(L, lambda L: {"weight": L.A(rnd(3))}, strict=False), RuntimeError, r"size mismatch for weight", area=SD, kind="wrong shape"),
    err("load-not-a-dict", lambda L: load(L, lambda L: [L.A(W23), L.A(B3)]), (TypeError, AttributeError), r"(?i)state_dict.*dict|keys", area=SD, kind="wrong type"),
    err("load-nested-wrong-prefix", lambda L: load(L, lambda L: {"layer.weight": L.A(W23), "layer.bias": L.A(B3)}, model_fn=lambda L: L.nn.Sequential(L.M("Linear", 2, 3))), RuntimeError, r"Missing key\(s\) in state_dict: \"0\.weight\", \"0\.bias\"", area=SD, kind="missing key"),
    err("load-string-value", lambda L: load(L, lambda L: {"weight": "abc", "bias": L.A(B3)}), (TypeError, AttributeError, RuntimeError), r"(?i)weight.*(array|str)|str", area=SD, kind="wrong type"),
    same("load-not-strict-returns-keys", lambda L: tuple(map(list, load(L, lambda L: {"weight": L.A(W23), "extra": L.A(B3)}, strict=False))), area=SD, kind="missing key"),
    same("load-int-values-cast", lambda L: after_load(L, lambda L: {"weight": L.A(np.arange(6).reshape(3, 2)), "bias": L.A(np.arange(3))}), area=SD, kind="int input"),
    same("load-nan-values-copied", lambda L: after_load(L, lambda L: {"weight": L.A(np.full((3, 2), np.nan, np.float32)), "bias": L.A(B3)}), area=SD, kind="NaN/inf"),
    same("load-float16-values-cast", lambda L: after_load(L, lambda L: {"weight": L.A(W23.astype(np.float16)), "bias": L.A(B3)}), area=SD, kind="dtype mismatch", rtol=1e-3, atol=1e-3),
    same("load-ordered-dict-bn-buffers", lambda L: after_load(L, lambda L: OrderedDict(weight=L.A(rnd(3)), bias=L.A(B3), running_mean=L.A(B3), running_var=L.A(np.ones(3, np.float32)), num_batches_tracked=L.A(np.int64(5))), model_fn=lambda L: L.M("BatchNorm1d", 3)), area=SD, kind="valid edge"),
    err("load-bn-missing-buffer", lambda L: load(L, lambda L: dict(weight=L.A(rnd(3)), bias=L.A(B3), running_mean=L.A(B3), num_batches_tracked=L.A(np.int64(5))), model_fn=lambda L: L.M("BatchNorm1d", 3)), RuntimeError, r"Missing key\(s\) in state_dict: \"running_var\"", area=SD, kind="missing key"),
    err("load-0d-for-vector", lambda L: load(L, lambda L: {"weight": L.A(W23), "bias": L.A(np.float32(1.0))}), RuntimeError, r"size mismatch for bias.*torch.Size\(\[\]\).*torch.Size\(\[3\]\)", area=SD, kind="wrong rank"),
    err("train-non-bool", lambda L: L.M("Linear", 2, 3).train("yes"), ValueError, r"training mode is expected to be boolean", area=MV, kind="wrong type"),
    err("to-int-dtype", lambda L: L.M("Linear", 2, 3).to(L.dt("int32")), TypeError, r"nn.Module.to only accepts floating point dtypes, but got desired dtype=(torch\.)?int32", area=MV, kind="wrong type"),
    err("to-unknown-device", lambda L: L.M("Linear", 2, 3).to("npu"), (ValueError, RuntimeError), r"(?i)npu", area=MV, kind="invalid string"),
    err("register_buffer-name-clash", lambda L: L.M("Linear", 2, 3).get_buffer("weight"), AttributeError, r"no buffer .weight.|.weight. is not a buffer", area=MV, kind="wrong kind"),
]


_TMP = tempfile.TemporaryDirectory(prefix="jaxnn-audit-")  # removed when the process exits


def _tmp(name):
    return os.path.join(tempfile.mkdtemp(dir=_TMP.name), name)


def _saved(obj, name="m.safetensors"):
    p = _tmp(name)
    jaxnn.save(obj, p)
    return p


def _raw(data, name="bad.safetensors"):
    p = _tmp(name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def _ckpt(model, opt_state=None):
    p = _tmp("c.safetensors")
    jaxnn.save_checkpoint(p, model, opt_state, step=3, key=jax.random.key(1))
    return p


def _adam_state(model):
    import equinox as eqx

    params, _ = eqx.partition(model, jaxnn.trainable(model))
    return optax.adam(1e-3).init(params)


J = dict(torch=None, area=CK)
CHECKPOINT = [
    err("load-no-file", lambda L: jaxnn.load(_tmp("missing.safetensors")), FileNotFoundError, r"no checkpoint at '.*missing\.safetensors'", kind="missing file", **J),
    err("load-truncated", lambda L: jaxnn.load(_raw(b"\x01\x02")), jaxnn.CheckpointError, r"not a valid safetensors file.*header too small", kind="corrupt file", **J),
    err("load-garbage-header", lambda L: jaxnn.load(_raw((20).to_bytes(8, "little") + b"not json at all!!!!!")), jaxnn.CheckpointError, r"(?i)header.*(JSON|corrupt)", kind="corrupt file", **J),
    err("load-header-length-too-big", lambda L: jaxnn.load(_raw((10**6).to_bytes(8, "little") + b"{}")), jaxnn.CheckpointError, r"(?i)header|truncated|length", kind="corrupt file", **J),
    err("load-into-wrong-model", lambda L: jaxnn.load(_saved(jaxnn.Linear(2, 3)), jaxnn.Linear(3, 3)), jaxnn.CheckpointError, r"does not fit Linear.*size mismatch for weight", kind="wrong shape", **J),
    err("load-into-non-module", lambda L: jaxnn.load(_saved(jaxnn.Linear(2, 3)), {"weight": 1}), TypeError, r"model must be a jaxnn Module, got dict", kind="wrong type", **J),
    err("load-dtype-mismatch", lambda L: jaxnn.load(_saved({"weight": np.ones((3, 2)), "bias": np.ones(3)}), jaxnn.Linear(2, 3)), jaxnn.CheckpointError, r"dtype mismatch.*weight: file has float64, model has float32", kind="dtype mismatch", **J),
    same("load-int64-counter-into-batchnorm", lambda L: int(jaxnn.load(_saved({"weight": np.ones(2, np.float32), "bias": np.zeros(2, np.float32), "running_mean": np.zeros(2, np.float32), "running_var": np.ones(2, np.float32), "num_batches_tracked": np.array(5, np.int64)}), jaxnn.BatchNorm1d(2)).num_batches_tracked), kind="dtype mismatch", **J),
    err("load-missing-keys", lambda L: jaxnn.load(_saved({"weight": np.ones((3, 2), np.float32)}), jaxnn.Linear(2, 3)), jaxnn.CheckpointError, r"Missing key\(s\) in state_dict: \"bias\"", kind="missing key", **J),
    err("save-missing-folder", lambda L: jaxnn.save(jaxnn.Linear(2, 3), os.path.join(_tmp("nope"), "m.safetensors")), FileNotFoundError, r"folder .* does not exist", kind="missing file", **J),
    err("save-non-module", lambda L: jaxnn.save(5, _tmp("m.safetensors")), TypeError, r"save\(\) takes a jaxnn Module or a state dict, got int", kind="wrong type", **J),
    err("save-prng-key-value", lambda L: jaxnn.save({"k": jax.random.key(0)}, _tmp("m.safetensors")), TypeError, r"'k' is a PRNG key", kind="key kind", **J),
    err("save-bad-metadata", lambda L: jaxnn.save(jaxnn.Linear(1, 1), _tmp("m.safetensors"), metadata={"a": 1}), TypeError, r"metadata must map str to str", kind="wrong type", **J),
    err("load_checkpoint-plain-file", lambda L: jaxnn.load_checkpoint(_saved(jaxnn.Linear(2, 3)), jaxnn.Linear(2, 3)), jaxnn.CheckpointError, r"is not a jaxnn training checkpoint.*jaxnn.load\(path, model\)", kind="wrong file", **J),
    err("load_checkpoint-optimizer-mismatch", lambda L: jaxnn.load_checkpoint(_ckpt(jaxnn.Linear(2, 3), _adam_state(jaxnn.Linear(2, 3))), jaxnn.Linear(2, 3), optax.sgd(0.1).init(jnp.zeros(1))), jaxnn.CheckpointError, r"optimizer leaves but the template opt_state has", kind="wrong structure", **J),
    err("load_checkpoint-model-mismatch", lambda L: jaxnn.load_checkpoint(_ckpt(jaxnn.Linear(2, 3)), jaxnn.Linear(2, 4)), jaxnn.CheckpointError, r"does not fit Linear", kind="wrong shape", **J),
    err("load_checkpoint-non-module", lambda L: jaxnn.load_checkpoint(_ckpt(jaxnn.Linear(2, 3)), {"weight": 1}), TypeError, r"(?i)model must be a jaxnn Module", kind="wrong type", **J),
    same("load_checkpoint-roundtrip-key", lambda L: jax.random.key_data(jaxnn.load_checkpoint(_ckpt(jaxnn.Linear(2, 3)), jaxnn.Linear(2, 3))["key"]), kind="key kind", **J),
    err("load_torch-no-file", lambda L: jaxnn.load_torch(_tmp("missing.pt")), FileNotFoundError, r"no checkpoint at", kind="missing file", **J),
    err("load_torch-garbage", lambda L: jaxnn.load_torch(_raw(b"garbage" * 10, "bad.pt")), jaxnn.CheckpointError, r"torch.load could not read it", kind="corrupt file", **J),
    err("from_torch-non-module", lambda L: jaxnn.from_torch(jaxnn.Linear(2, 2)), TypeError, r"from_torch\(\) takes a torch.nn.Module, got Linear", kind="wrong type", **J),
    err("to_torch-non-module", lambda L: jaxnn.to_torch(object()), TypeError, r"to_torch\(\) takes a jaxnn Module, got object", kind="wrong type", **J),
    err("forward-non-module", lambda L: jaxnn.forward(lambda x: x, jnp.ones(2)), TypeError, r"jaxnn.forward\(model, \.\.\.\) takes a jaxnn Module, got function", kind="wrong type", **J),
    err("trainable-non-module", lambda L: jaxnn.trainable({"w": jnp.ones(2)}), TypeError, r"trainable\(model\) takes a jaxnn Module, got dict", kind="wrong type", **J),
    err("functional_call-unknown-name", lambda L: jaxnn.functional_call(jaxnn.Linear(2, 1), {"w": jnp.ones((1, 2))}, (jnp.ones(2),)), ValueError, r"\['w'\] are not parameters or buffers of Linear; its names are \['bias', 'weight'\]", kind="unexpected key", **J),
    err("functional_call-strict-missing", lambda L: jaxnn.functional_call(jaxnn.Linear(2, 1), {"weight": jnp.ones((1, 2))}, (jnp.ones(2),), strict=True), ValueError, r"strict=True\): missing 'bias'", kind="missing key", **J),
    err("functional_call-duplicate", lambda L: jaxnn.functional_call(jaxnn.Linear(2, 1), ({"weight": jnp.ones((1, 2))}, {"weight": jnp.ones((1, 2))}), (jnp.ones(2),)), ValueError, r"\['weight'\] appear in more than one dict", kind="duplicate key", **J),
    err("functional_call-wrong-shape", lambda L: jaxnn.functional_call(jaxnn.Linear(2, 1), {"weight": jnp.ones((3, 2))}, (jnp.ones((4, 2)),)), (ValueError, RuntimeError), r"(?i)weight.*(shape|size).*\(3, 2\)|\(1, 2\)", kind="wrong shape", **J),
    err("Parameter-requires-grad-false", lambda L: jaxnn.Parameter(jnp.ones(2), requires_grad=False), ValueError, r"requires_grad_\(False\)", kind="wrong usage", **J),
]

CASES = CONTAINERS + STATE + CHECKPOINT


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
