"""Containers against torch: every verb, the printout after it, and the error cases.

Each case runs the same operations on a torch container and on the jaxnn twin and
compares ``repr`` (character for character) and the names of the children. Cases where
jaxnn is deliberately better than torch (DESIGN rule 10) say so and pin jaxnn's result.
"""

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn as tnn

import jaxnn as nn


def lin(lib, i, o):
    return lib.Linear(i, o)


def named(lib):
    return lib.Sequential(
        OrderedDict(
            [
                ("h1", lib.Linear(28 * 28, 32)),
                ("relu1", lib.ReLU()),
                ("out", lib.Linear(32, 10)),
                ("softmax", lib.Softmax(dim=1)),
            ]
        )
    )


def positional(lib):
    return lib.Sequential(lib.Linear(64, 128), lib.ReLU(), lib.Linear(128, 64), lib.ReLU())


def op_index(lib, m):
    return [repr(m[0]), repr(m[1]), repr(m[2]), repr(m[-1])]


def op_setitem(lib, m):
    m[1] = lib.Sigmoid()
    return m


def op_append(lib, m):
    assert m.append(lib.Linear(10, 2)) is m
    return m


def op_extend(lib, m):
    m.extend([lib.Tanh(), lib.ReLU()])
    return m


def op_pop(lib, m):
    return [repr(m.pop(1)), repr(m)]


def op_slice(lib, m):
    return m[1:3]


def op_add(lib, m):
    return m + lib.Sequential(lib.Tanh())


def op_iadd(lib, m):
    m += lib.Sequential(lib.Tanh())
    return m


def op_mul(lib, m):
    return m * 2


def op_rmul(lib, m):
    return 2 * m


def op_insert_positional(lib, m):
    m.insert(1, lib.Tanh())
    m.insert(-1, lib.Sigmoid())
    return m


def op_nest(lib, m):
    seq_1 = lib.Sequential(lib.Linear(15, 10), lib.ReLU(), lib.Linear(10, 5))
    seq_2 = lib.Sequential(lib.Linear(25, 15), lib.Sigmoid(), lib.Linear(15, 10))
    return lib.Sequential(seq_1, seq_2)


def op_len_iter(lib, m):
    return [len(m), [type(c).__name__ for c in m]]


def op_attribute(lib, m):
    return repr(m.h1)


def op_del_positional(lib, m):
    del m[1]
    return m


def op_del_slice_positional(lib, m):
    del m[1:3]
    return m


def op_imul_positional(lib, m):
    m *= 2
    return m


# (builder, operation): torch and jaxnn must print the same.
SAME = [
    (named, op_index),
    (named, op_setitem),
    (named, op_append),
    (named, op_attribute),
    (named, op_slice),
    (named, op_len_iter),
    (positional, op_index),
    (positional, op_setitem),
    (positional, op_append),
    (positional, op_extend),
    (positional, op_pop),
    (positional, op_slice),
    (positional, op_add),
    (positional, op_iadd),
    (positional, op_mul),
    (positional, op_rmul),
    (positional, op_insert_positional),
    (positional, op_nest),
    (positional, op_del_positional),
    (positional, op_del_slice_positional),
    (positional, op_imul_positional),
    (named, op_add),
    (named, op_iadd),
    (named, op_mul),
    (named, op_extend),
]


def _render(x):
    return x if isinstance(x, list) else repr(x)


@pytest.mark.parametrize(("build", "op"), SAME, ids=[f"{b.__name__}-{o.__name__}" for b, o in SAME])
def test_sequential_matches_torch(build, op):
    expected = _render(op(tnn, build(tnn)))
    got = _render(op(nn, build(nn)))
    assert got == expected


# Seed 003 section 3.4: torch renumbers after a delete; jaxnn keeps the user's names.
def test_delete_from_named_sequential_keeps_names():
    m = named(nn)
    del m[2]
    assert repr(m) == (
        "Sequential(\n"
        "  (h1): Linear(in_features=784, out_features=32, bias=True)\n"
        "  (relu1): ReLU()\n"
        "  (softmax): Softmax(dim=1)\n"
        ")"
    )
    t = named(tnn)
    del t[2]
    assert [k for k, _ in t.named_children()] == ["0", "1", "2"]  # torch's renumbering


def test_delete_renumbers_positional_names_only():
    m = named(nn)
    m.append(nn.Linear(10, 2))  # positional name "4"
    del m[0]
    assert [k for k, _ in m.named_children()] == ["relu1", "out", "softmax", "3"]


def test_insert_into_named_sequential():
    # torch raises KeyError here (it shifts keys by str(i)); jaxnn inserts positionally.
    t = named(tnn)
    with pytest.raises(KeyError):
        t.insert(1, tnn.Tanh())
    m = named(nn)
    m.insert(1, nn.Tanh())
    assert [k for k, _ in m.named_children()] == ["h1", "1", "relu1", "out", "softmax"]
    assert isinstance(m[1], nn.Tanh)


def test_imul_on_named_sequential():
    # torch's __imul__ looks children up by str(i) and raises KeyError on named ones.
    t = named(tnn)
    with pytest.raises(KeyError):
        t *= 2
    m = named(nn)
    m *= 2
    assert len(m) == 8 and m[0] is m[4]


def test_sequential_forward_and_state_dict_order():
    t = named(tnn)
    m = named(nn)
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict(t.state_dict())
    x = torch.randn(2, 784)
    out = m(jnp.asarray(x.numpy()))
    assert jnp.allclose(out, jnp.asarray(t(x).detach().numpy()), atol=1e-6)


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (lambda m: m.append(lambda x: x), TypeError, "is not a jaxnn Module subclass.*Lambda"),
        (lambda m: m.append(tnn.ReLU()), TypeError, "from_torch"),
        (lambda m: m[4], IndexError, "index 4 is out of range"),
        (lambda m: m[-5], IndexError, "index -5 is out of range"),
        (lambda m: m.__setitem__(7, nn.ReLU()), IndexError, "index 7 is out of range"),
        (lambda m: m.__delitem__(9), IndexError, "out of range"),
        (lambda m: m["h1"], TypeError, "indices must be integers or slices"),
        (lambda m: m.insert(9, nn.ReLU()), IndexError, "Index out of range: 9"),
        (lambda m: m + [nn.ReLU()], ValueError, "add operator supports only objects of Sequential"),
        (lambda m: m * 0, ValueError, "Non-positive multiplication factor"),
        (lambda m: m * 1.5, TypeError, "is not an int"),
        (lambda m: m.add_module("a.b", nn.ReLU()), KeyError, "contain"),
        (lambda m: m.nonexistent, AttributeError, "no attribute 'nonexistent'"),
    ],
)
def test_sequential_errors(action, error, match):
    with pytest.raises(error, match=match):
        action(named(nn))


def test_sequential_plain_dict_error():
    with pytest.raises(TypeError, match="OrderedDict"):
        nn.Sequential({"a": nn.ReLU()})


def test_setattr_adds_child_like_torch():
    m = nn.Sequential(nn.ReLU())
    m.extra = nn.Tanh()
    t = tnn.Sequential(tnn.ReLU())
    t.extra = tnn.Tanh()
    assert repr(m) == repr(t)


# ---------------------------------------------------------------- ModuleList
def list_ops(lib):
    ml = lib.ModuleList([lib.Linear(2, 2) for _ in range(3)])
    ml.append(lib.ReLU())
    ml.extend([lib.Tanh(), lib.Tanh()])
    ml.insert(1, lib.Sigmoid())
    out = [repr(ml), len(ml), repr(ml[1:3]), repr(ml[-1])]
    ml[0] = lib.Identity()
    del ml[2]
    out.append(repr(ml))
    out.append(repr(ml.pop(0)))
    del ml[1:3]
    ml += lib.ModuleList([lib.GELU()])
    out.append(repr(ml))
    out.append(repr(ml + lib.ModuleList([lib.SiLU()])))
    out.append([k for k, _ in ml.named_children()])
    out.append(repr(lib.ModuleList()))
    return out


def test_module_list_matches_torch():
    assert list_ops(nn) == list_ops(tnn)


def test_module_list_negative_insert():
    # torch's ModuleList.insert(-1, m) raises KeyError('-1'); jaxnn inserts like list.insert.
    t = tnn.ModuleList([tnn.ReLU(), tnn.Tanh()])
    with pytest.raises(KeyError):
        t.insert(-1, tnn.Sigmoid())
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.insert(-1, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["ReLU", "Sigmoid", "Tanh"]


def test_module_list_shared_entries_stored_once():
    shared = nn.Linear(2, 2)
    ml = nn.ModuleList([shared, shared])
    assert len(jax.tree.leaves(ml)) == 2
    assert ml[0] is ml[1]
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_module_list_errors():
    ml = nn.ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(5)
    with pytest.raises(TypeError, match="not a jaxnn Module"):
        ml.append(3)
    with pytest.raises(NotImplementedError, match="not callable"):
        ml(jnp.ones(1))


# ---------------------------------------------------------------- ModuleDict
def dict_ops(lib):
    md = lib.ModuleDict({"conv": lib.Linear(2, 3), "act": lib.ReLU()})
    md["pool"] = lib.Tanh()
    md.update([("act", lib.Sigmoid()), ("out", lib.Linear(3, 1))])
    md.update(OrderedDict(extra=lib.Identity()))
    out = [repr(md), list(md.keys()), "act" in md, len(md), [type(v).__name__ for v in md.values()]]
    out.append(repr(md.pop("conv")))
    del md["pool"]
    out.append([k for k, _ in md.items()])
    out.append(list(iter(md)))
    out.append(list(md.state_dict()))
    md.clear()
    out.append(repr(md))
    return out


def test_module_dict_matches_torch():
    assert dict_ops(nn) == dict_ops(tnn)


def test_module_dict_errors():
    md = nn.ModuleDict()
    with pytest.raises(KeyError):
        md["missing"]
    with pytest.raises(TypeError, match="Iterable"):
        md.update([1])
    with pytest.raises(ValueError, match="length 3"):
        md.update([("a", nn.ReLU(), 1)])


# ---------------------------------------------------------------- Parameter containers
def test_parameter_list_and_dict_match_torch():
    t_pl = tnn.ParameterList([tnn.Parameter(torch.zeros(3)), tnn.Parameter(torch.ones(2, 2))])
    j_pl = nn.ParameterList([jnp.zeros(3), jnp.ones((2, 2))])
    assert repr(j_pl) == repr(t_pl)
    assert list(j_pl.state_dict()) == list(t_pl.state_dict())
    j_pl.append(jnp.ones(4))
    t_pl.append(tnn.Parameter(torch.ones(4)))
    assert repr(j_pl) == repr(t_pl)
    t_pd = tnn.ParameterDict(
        {"a": tnn.Parameter(torch.zeros(3)), "b": tnn.Parameter(torch.zeros(1, 2))}
    )
    j_pd = nn.ParameterDict({"a": jnp.zeros(3), "b": jnp.zeros((1, 2))})
    assert repr(j_pd) == repr(t_pd)
    assert list(j_pd.state_dict()) == list(t_pd.state_dict())
    assert [n for n, _ in j_pd.named_parameters()] == [n for n, _ in t_pd.named_parameters()]


def test_parameter_list_trains():
    pl = nn.ParameterList([jnp.ones(3)])
    assert jax.tree.leaves(nn.trainable(pl)) == [True]


# ---------------------------------------------------------------- odds (issue #13 case 10)
def _outcome(fn):
    """What a container edit gives: the printout and keys, or the exception's type and
    torch's message head ("attribute 'train' already exists")."""
    try:
        m = fn()
    except Exception as e:
        return (type(e).__name__, str(e).split(";")[0].strip("'\""))
    return (repr(m), list(m.state_dict()))


CLASHING = ["train", "eval", "forward", "keys", "update", "training", "cuda", "type",
            "register_forward_hook", "_modules", "__init__", "apply", "half", "copy", "get",
            "setdefault", "append", "insert", "extend", "fine", "0"]  # fmt: skip


def _add_named(lib, kind, name):
    if kind == "ModuleDict":
        m = lib.ModuleDict()
        m[name] = lib.ReLU()
        return m
    if kind == "ModuleDict.update":
        return lib.ModuleDict({name: lib.ReLU()})
    if kind == "Sequential":
        return lib.Sequential(OrderedDict([(name, lib.ReLU())]))
    if kind == "Sequential.add_module":
        m = lib.Sequential(lib.Tanh())
        m.add_module(name, lib.ReLU())
        return m
    p = tnn.Parameter(torch.zeros(2)) if lib is tnn else jnp.zeros(2)
    m = lib.ParameterDict()
    m[name] = p
    return m


@pytest.mark.parametrize("name", CLASHING)
@pytest.mark.parametrize(
    "kind",
    ["ModuleDict", "ModuleDict.update", "Sequential", "Sequential.add_module", "ParameterDict"],
)
def test_entry_names_that_clash_with_attributes_as_torch(kind, name):
    # torch: `hasattr(self, name) and name not in self._modules` -> KeyError
    got = _outcome(lambda: _add_named(nn, kind, name))
    if kind == "ParameterDict" and name in ("training", "_modules"):
        # torch's setattr first deletes an instance attribute of that name, then registers
        # the parameter: the dict loses its `training` flag or its children. jaxnn refuses.
        assert got[0] == "KeyError" and "already exists" in got[1]
        return
    assert got == _outcome(lambda: _add_named(tnn, kind, name))


@pytest.mark.parametrize(
    ("tcls", "jcls"),
    [
        (tnn.Sequential, nn.Sequential),
        (tnn.ModuleList, nn.ModuleList),
        (tnn.ModuleDict, nn.ModuleDict),
        (tnn.ParameterList, nn.ParameterList),
        (tnn.ParameterDict, nn.ParameterDict),
    ],
)
def test_every_torch_attribute_name_is_refused(tcls, jcls):
    # jaxnn refuses a superset of torch's reserved names: its own attributes too (they
    # would be hidden by the entry), and torch's, kept in _container._TORCH_MODULE_ATTRS.
    j = jcls()
    for name in dir(tcls()):
        with pytest.raises(KeyError, match="already exists"):
            j._check_new_name(name)


def _none_children(lib):
    m = lib.Sequential(lib.ReLU())
    m.add_module("gap", None)
    m.append(lib.Tanh())
    d = lib.ModuleDict({"a": lib.ReLU()})
    d["b"] = None
    return [repr(m), len(m), [k for k, _ in m.named_children()], repr(d), list(d.keys())]


def test_none_child_is_printed_as_torch():
    assert _none_children(nn) == _none_children(tnn)


def _pdict_orders(lib):
    def p(v):
        return tnn.Parameter(torch.full((1,), float(v))) if lib is tnn else jnp.full((1,), float(v))

    out = []
    for values in (
        {"b": p(1), "a": p(2), "c": p(3)},  # a plain dict: torch sorts the keys
        OrderedDict([("b", p(1)), ("a", p(2))]),  # an OrderedDict keeps its order
        [("b", p(1)), ("a", p(2))],  # pairs keep their order
    ):
        d = lib.ParameterDict(values)
        d.update({"z": p(4), "y": p(5)})
        out.append(list(d.keys()))
    m = lib.ModuleDict({"b": lib.ReLU(), "a": lib.Tanh()})  # ModuleDict keeps dict order
    out.append(list(m.keys()))
    return out


def test_parameter_dict_key_order_as_torch():
    assert _pdict_orders(nn) == _pdict_orders(tnn)


def _digit_names(lib, op):
    m = lib.Sequential(OrderedDict([("5", lib.ReLU()), ("x", lib.Tanh())]))
    if op == "extend":
        m.extend([lib.Sigmoid()])
    elif op == "extend-empty":
        m.extend([])
    elif op == "iadd":
        m += lib.Sequential(lib.Sigmoid(), lib.ReLU())
    elif op == "append":
        m.append(lib.Sigmoid())
    return [k for k, _ in m.named_children()]


@pytest.mark.parametrize("op", ["extend", "extend-empty", "iadd", "append"])
def test_extend_keeps_digit_names_as_torch(op):
    assert _digit_names(nn, op) == _digit_names(tnn, op)


@pytest.mark.parametrize("index", [np.int64(1), np.int32(-1)])
def test_insert_takes_any_integer_as_torch(index):
    def run(lib):
        m = lib.Sequential(lib.ReLU(), lib.Tanh())
        m.insert(index, lib.Sigmoid())
        return repr(m)

    assert run(nn) == run(tnn)
