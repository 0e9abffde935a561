"""Containers against torch: every verb, the printout after it, and the error cases.

Each case runs the same operations on a torch container and on the jaxnn twin and
compares ``repr`` (character for character) and the names of the children. Cases where
jaxnn is deliberately better than torch (DESIGN rule 10) say so and pin jaxnn's result.
"""

from collections import OrderedDict

import jax
import jax.numpy as jnp
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
