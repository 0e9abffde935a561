"""Guards under transformation: every torch in-place verb raises inside jit/grad/vmap.

DESIGN rule 2: outside JAX transformations torch's mutating verbs edit a module in place;
inside ``jax.jit``/``jax.grad``/``jax.vmap`` they raise a RuntimeError that says so and
names the pure forms. tests/core/test_module.py covers Sequential; this table covers
every container kind and a user module, plus ``load_state_dict`` with traced values and
the one-time warning of a training-mode BatchNorm called without ``jaxnn.forward``.
"""

import warnings

import jax
import jax.numpy as jnp
import pytest

import jaxnn as nn

GUARD = r"in place.*inside a JAX transformation.*eqx\.tree_at.*jaxnn\.functional_call.*jaxnn\.forward"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.scale = jnp.ones(2)

    def forward(self, x):
        return self.fc(x) * self.scale


def _seq():
    return nn.Sequential(nn.Linear(2, 2), nn.ReLU())


def _mlist():
    return nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])


def _mdict():
    return nn.ModuleDict({"fc": nn.Linear(2, 2), "act": nn.ReLU()})


def _plist():
    return nn.ParameterList([jnp.ones(2), jnp.zeros(2)])


def _pdict():
    return nn.ParameterDict({"a": jnp.ones(2), "b": jnp.zeros(2)})


# (builder, verb name, edit, size-of-model used to check it is untouched)
def _len(m):
    return len(m) if hasattr(m, "__len__") else len(list(m.state_dict()))


EDITS = {
    # Module verbs, on every kind
    **{
        f"{kind}.{verb}": (build, fn)
        for kind, build in [("Sequential", _seq), ("ModuleList", _mlist), ("ModuleDict", _mdict),
                            ("ParameterList", _plist), ("ParameterDict", _pdict), ("Net", Net)]
        for verb, fn in [
            ("train", lambda m: m.train()),
            ("eval", lambda m: m.eval()),
            ("requires_grad_", lambda m: m.requires_grad_(False)),
            ("load_state_dict", lambda m: m.load_state_dict(m.state_dict())),
            ("to", lambda m: m.to(jnp.bfloat16)),
        ]
    },
    # user module attribute assignment: an array, a child
    "Net.setattr-array": (Net, lambda m: setattr(m, "scale", m.scale * 2)),
    "Net.setattr-child": (Net, lambda m: setattr(m, "fc", nn.Linear(2, 2, key=jax.random.key(0)))),
    "Net.child-setattr": (Net, lambda m: setattr(m.fc, "weight", m.fc.weight + 1)),
    # ModuleList
    "ModuleList.setitem": (_mlist, lambda m: m.__setitem__(1, nn.Tanh())),
    "ModuleList.delitem": (_mlist, lambda m: m.__delitem__(0)),
    "ModuleList.append": (_mlist, lambda m: m.append(nn.Tanh())),
    "ModuleList.insert": (_mlist, lambda m: m.insert(0, nn.Tanh())),
    "ModuleList.extend": (_mlist, lambda m: m.extend([nn.Tanh()])),
    "ModuleList.pop": (_mlist, lambda m: m.pop(0)),
    "ModuleList.iadd": (_mlist, lambda m: m.__iadd__([nn.Tanh()])),
    "ModuleList.add_module": (_mlist, lambda m: m.add_module("2", nn.Tanh())),
    "ModuleList.setattr-new": (_mlist, lambda m: setattr(m, "extra", nn.Tanh())),
    # ModuleDict
    "ModuleDict.setitem": (_mdict, lambda m: m.__setitem__("act", nn.Tanh())),
    "ModuleDict.setitem-new": (_mdict, lambda m: m.__setitem__("new", nn.Tanh())),
    "ModuleDict.delitem": (_mdict, lambda m: m.__delitem__("act")),
    "ModuleDict.update": (_mdict, lambda m: m.update({"x": nn.Tanh()})),
    "ModuleDict.pop": (_mdict, lambda m: m.pop("fc")),
    "ModuleDict.clear": (_mdict, lambda m: m.clear()),
    "ModuleDict.add_module": (_mdict, lambda m: m.add_module("x", nn.Tanh())),
    "ModuleDict.delattr": (_mdict, lambda m: delattr(m, "act")),
    # ParameterList
    "ParameterList.setitem": (_plist, lambda m: m.__setitem__(0, jnp.zeros(2))),
    "ParameterList.append": (_plist, lambda m: m.append(jnp.zeros(2))),
    "ParameterList.extend": (_plist, lambda m: m.extend([jnp.zeros(2)])),
    "ParameterList.iadd": (_plist, lambda m: m.__iadd__([jnp.zeros(2)])),
    # ParameterDict
    "ParameterDict.setitem": (_pdict, lambda m: m.__setitem__("a", jnp.zeros(2))),
    "ParameterDict.setitem-new": (_pdict, lambda m: m.__setitem__("c", jnp.zeros(2))),
    "ParameterDict.delitem": (_pdict, lambda m: m.__delitem__("a")),
    "ParameterDict.update": (_pdict, lambda m: m.update({"c": jnp.zeros(2)})),
    "ParameterDict.pop": (_pdict, lambda m: m.pop("a")),
    "ParameterDict.clear": (_pdict, lambda m: m.clear()),
    # Sequential (also in tests/core; repeated here so the table is complete per kind)
    "Sequential.setitem": (_seq, lambda m: m.__setitem__(1, nn.Tanh())),
    "Sequential.delitem": (_seq, lambda m: m.__delitem__(1)),
    "Sequential.append": (_seq, lambda m: m.append(nn.Tanh())),
    "Sequential.insert": (_seq, lambda m: m.insert(0, nn.Tanh())),
    "Sequential.extend": (_seq, lambda m: m.extend([nn.Tanh()])),
    "Sequential.pop": (_seq, lambda m: m.pop(0)),
    "Sequential.iadd": (_seq, lambda m: m.__iadd__(nn.Sequential(nn.Tanh()))),
    "Sequential.imul": (_seq, lambda m: m.__imul__(2)),
    "Sequential.add_module": (_seq, lambda m: m.add_module("x", nn.Tanh())),
}


def _snapshot(m):
    return (_len(m), m.training, repr(m), [k for k in m.state_dict()])


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap"])
@pytest.mark.parametrize("name", list(EDITS))
def test_inplace_verb_under_transformation_raises(name, transform):
    build, edit = EDITS[name]
    model = build()
    before = _snapshot(model)

    def f(m, x):
        edit(m)
        return jnp.sum(x)

    x = jnp.ones((3, 2))
    with pytest.raises(RuntimeError, match=GUARD) as info:
        if transform == "jit":
            jax.jit(f)(model, x)
        elif transform == "grad":
            jax.grad(lambda x: f(model, x))(x)
        else:
            jax.vmap(lambda x: f(model, x))(x)
    edited = "Linear" if name == "Net.child-setattr" else type(model).__name__
    assert str(info.value).startswith(edited)  # names the module that was edited
    assert _snapshot(model) == before  # nothing was changed before the guard fired


@pytest.mark.parametrize("name", ["Net.train", "ModuleDict.update", "ParameterList.append", "Net.setattr-array"])
def test_same_verbs_work_outside_transformation(name):
    build, edit = EDITS[name]
    model = build()
    edit(model)  # no error: torch's world


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap"])
def test_load_state_dict_with_traced_values_raises(transform):
    model = nn.Linear(2, 3)
    sd = model.state_dict()

    def f(w):
        model.load_state_dict({"weight": w, "bias": sd["bias"]})
        return jnp.sum(w)

    w = sd["weight"]
    with pytest.raises(RuntimeError, match=GUARD):
        if transform == "jit":
            jax.jit(f)(w)
        elif transform == "grad":
            jax.grad(f)(w)
        else:
            jax.vmap(f, in_axes=None, axis_size=2)(w)
    assert model.state_dict()["weight"] is sd["weight"]


def test_load_state_dict_under_jit_of_the_model_raises():
    model = nn.Linear(2, 3)
    other = nn.Linear(2, 3, key=jax.random.key(5)).state_dict()

    @jax.jit
    def f(m):
        m.load_state_dict(other)
        return m.weight

    with pytest.raises(RuntimeError, match=GUARD):
        f(model)


def _plain_calls(bn, x, n):
    for _ in range(n):
        bn(x)


def test_training_batchnorm_plain_call_warns_once(monkeypatch):
    # Once per call site (Python's warning registry): a loop of eager calls warns once.
    bn = nn.BatchNorm1d(3)
    x = jax.random.normal(jax.random.key(0), (4, 3))
    with pytest.warns(nn.BufferUpdateDroppedWarning, match=r"BatchNorm1d computed new buffer values.*jaxnn\.forward"):
        bn(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        _plain_calls(bn, x, 3)
        nn.forward(bn, x)  # the pure form never warns
    assert len(caught) == 1


def test_training_batchnorm_under_jit_warns_once_at_trace(monkeypatch):
    bn = nn.BatchNorm2d(2)
    x = jnp.ones((2, 2, 3, 3))
    with pytest.warns(nn.BufferUpdateDroppedWarning):
        jax.jit(lambda m, x: m(x))(bn, x)


def test_eval_batchnorm_and_forward_do_not_warn(monkeypatch):
    bn = nn.BatchNorm1d(3)
    x = jnp.ones((4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.forward(bn, x)
        bn.eval()(x)


# ----------------------------------------------------------------- building inside a transformation
# DESIGN rule 2: building a model inside jit is not an edit. Every constructor must work
# under tracing (jax.eval_shape traces without compiling).
CONSTRUCTORS = {
    "Linear": lambda: nn.Linear(2, 3),
    "Bilinear": lambda: nn.Bilinear(2, 3, 4),
    "Conv1d": lambda: nn.Conv1d(2, 4, 3, groups=2),
    "Conv2d-reflect": lambda: nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"),
    "Conv3d": lambda: nn.Conv3d(1, 2, 2),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(2, 3, 3, stride=2),
    "BatchNorm1d": lambda: nn.BatchNorm1d(3),
    "BatchNorm2d-no-stats": lambda: nn.BatchNorm2d(3, track_running_stats=False),
    "InstanceNorm2d-affine": lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
    "LayerNorm": lambda: nn.LayerNorm((2, 3)),
    "GroupNorm": lambda: nn.GroupNorm(2, 4),
    "RMSNorm": lambda: nn.RMSNorm(3),
    "Embedding-padding": lambda: nn.Embedding(5, 2, padding_idx=0),
    "EmbeddingBag": lambda: nn.EmbeddingBag(5, 2, mode="sum"),
    "PReLU": lambda: nn.PReLU(3),
    "RNN": lambda: nn.RNN(2, 3, num_layers=2),
    "LSTM-proj-bidir": lambda: nn.LSTM(2, 4, proj_size=2, bidirectional=True),
    "GRU": lambda: nn.GRU(2, 3, batch_first=True),
    "LSTMCell": lambda: nn.LSTMCell(2, 3),
    "GRUCell": lambda: nn.GRUCell(2, 3),
    "Sequential": lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Dropout(0.1)),
    "ModuleDict": lambda: nn.ModuleDict({"a": nn.Linear(1, 1)}),
    "ParameterList": lambda: nn.ParameterList([jnp.ones(2)]),
    "Net": Net,
    "MultiheadAttention": lambda: nn.MultiheadAttention(4, 2),
    "MultiheadAttention-kdim": lambda: nn.MultiheadAttention(4, 2, kdim=3, vdim=5),
    "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(4, 2, 8),
    "TransformerDecoderLayer": lambda: nn.TransformerDecoderLayer(4, 2, 8),
    "Transformer": lambda: nn.Transformer(4, 2, 1, 1, 8),
}


def _ctor_params():
    out = []
    for name, c in CONSTRUCTORS.items():
        if isinstance(c, type(pytest.param(None))):
            out.append(pytest.param(c.values[0], id=name, marks=c.marks))
        else:
            out.append(pytest.param(c, id=name))
    return out


@pytest.mark.parametrize("ctor", _ctor_params())
def test_building_a_module_inside_a_transformation_works(ctor):
    shapes = jax.eval_shape(ctor)
    assert isinstance(shapes, nn.Module)
