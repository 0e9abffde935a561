"""JAX transformations that keep buffer updates: checkpoint, scan, cond, vmap.

Inside ``jaxnn.forward`` a BatchNorm reports its new running statistics to a scope that
belongs to one JAX trace (``_state.py``). Run the layer under a raw ``jax.checkpoint``,
``lax.scan``, ``lax.cond`` or ``jax.vmap`` and its update is a tracer of that inner trace:
``_state.record`` refuses it. These functions are the same transformations with the state
threaded through, all built on one step (``_run``): inside the transformation the user's
function runs in a scope of its own; the updates it records come out of the
transformation as ordinary outputs, keyed by the module they belong to in the caller's
model, and are recorded there. What a torch user writes maps onto them:

========================================================  =====================================
torch                                                     jaxnn
========================================================  =====================================
``torch.utils.checkpoint.checkpoint(layer, x)``           ``jaxnn.checkpoint(layer, x)``
``for layer in self.layers: x = layer(x)`` (stacked)      ``jaxnn.scan(f, x, stacked_layers)``
``y = self.bn(x) if flag else x``                         ``jaxnn.cond(flag, self.bn, f, x)``
``[m(x) for m in models]`` (an ensemble)                  ``jaxnn.vmap(f)(stacked_models, x)``
========================================================  =====================================

A layer's update is applied once per forward, as in a plain torch forward (torch's own
checkpoint applies a BatchNorm's momentum update a second time when it recomputes the
forward during backward; jaxnn's does not). Randomness: a key given to the enclosing
model call reaches the layers inside through a subkey drawn once for the transformation
(split per step under ``scan``, per element under ``vmap``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _random, _state
from ._module import Module, rebuild

__all__ = ["checkpoint", "cond", "scan", "vmap"]


def _is_module(x: Any) -> bool:
    return isinstance(x, Module)


def _modules(tree: Any) -> list[Module]:
    """The modules of ``tree``: each top-level module's subtree, in a fixed walk order.

    A copy of ``tree`` made by flattening and unflattening gives the same list in the same
    order, which pairs each module inside a transformation with the caller's module.
    """
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=_is_module)
    return [m for leaf in leaves if isinstance(leaf, Module) for m in _state.walk(leaf)]


def _with_current(tree: Any) -> Any:
    """``tree`` with each module's buffers as updated so far in this pass (torch's view)."""
    if _state.top() is None:
        return tree

    def fix(x: Any) -> Any:
        if not isinstance(x, Module) or not any(_state.has_updates(m) for m in _state.walk(x)):
            return x
        return rebuild(
            x, lambda m, name, kind, v: v if kind == "param" else _state.current(m, name, v)
        )

    return jax.tree_util.tree_map(fix, tree, is_leaf=_is_module)


def _outer_key() -> jax.Array | None:
    """A subkey of the enclosing model call's key, for the layers inside, or None."""
    return _random.draw_forward_key() if _random.has_forward_key() else None


def _run(
    call: Callable[[], Any],
    inner_tree: Any,
    origs: list[Module],
    outer: _state.Scope | None,
    *,
    key: jax.Array | None = None,
    seed: dict[int, dict[str, Any]] | None = None,
    members: set[int] | None = None,
    foreign: Callable[[Any], Exception] | None = None,
) -> tuple[Any, dict[str, dict[str, Any]], dict[str, Module]]:
    """Inside a transformation: run ``call()`` in a scope of its own.

    Returns ``(out, updates, table)``: ``updates[slot] = {buffer name: new value}`` with a
    slot per updated module (``a<k>``: the k-th module of ``inner_tree``, i.e.
    ``origs[k]``; ``c<id>``: a module the function closes over, itself), and
    ``table[slot]`` the caller's module the update belongs to. With no scope outside (a
    plain call) nothing is collected: the layers warn as in any plain call.
    """
    keyscope = _random.forward_key(key)
    if outer is None:
        with keyscope:
            return call(), {}, {}
    inner = _modules(inner_tree)
    index = {id(m): k for k, m in enumerate(inner)}
    if members is None:
        members = set(index) | (outer.members or set())
    s = _state.Scope(members, foreign=foreign, seed=seed)
    with _state.scope(s), keyscope:
        out = call()
    updates: dict[str, dict[str, Any]] = {}
    table: dict[str, Module] = {}
    for mid, (module, values) in s.updates.items():
        k = index.get(mid)
        slot, orig = (f"a{k:06d}", origs[k]) if k is not None else (f"c{mid}", module)
        updates[slot] = dict(values)
        table[slot] = orig
    return out, updates, table


def _record(updates: dict[str, dict[str, Any]], table: dict[str, Module]) -> None:
    for slot, values in updates.items():
        _state.record(table[slot], values)


# ---------------------------------------------------------------------------- checkpoint
def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    policy: Callable[..., bool] | None = None,
    prevent_cse: bool = True,
    **kwargs: Any,
) -> Any:
    """``torch.utils.checkpoint.checkpoint``: run ``function(*args, **kwargs)`` without
    keeping its activations; they are recomputed in the backward pass (``jax.checkpoint``).

    ``function`` is a layer or any function of arrays and modules. Buffer updates made
    inside (BatchNorm in training mode) come back to ``jaxnn.forward``, applied once: torch
    applies a checkpointed BatchNorm's update a second time when it recomputes the
    forward; jaxnn gives the result of the same model without checkpointing.

    Args:
        function: the layer or function to run.
        *args, **kwargs: its arguments (``key=`` included, for a random layer).
        use_reentrant: accepted for torch's signature; both of torch's implementations
            mean the same thing here.
        preserve_rng_state: accepted; randomness comes from explicit keys, so the
            recomputation draws the same masks by construction.
        policy: ``jax.checkpoint_policies`` entry saying which intermediates to keep.
        prevent_cse: ``jax.checkpoint``'s option.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.block = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ...     def forward(self, x):
    ...         return nn.checkpoint(self.block, x)
    >>> out, net = nn.forward(Net(), jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> int(net.block[1].num_batches_tracked)
    1
    """
    del use_reentrant, preserve_rng_state
    outer = _state.top()
    tree = (function, args, kwargs)
    origs = _modules(tree)
    dyn, static = eqx.partition(_with_current(tree), eqx.is_array)
    table: dict[str, Module] = {}

    def pure(dyn: Any, key: Any) -> Any:
        f, a, kw = inner = eqx.combine(dyn, static)
        out, updates, tab = _run(lambda: f(*a, **kw), inner, origs, outer, key=key)
        table.update(tab)
        return out, updates

    out, updates = jax.checkpoint(pure, prevent_cse=prevent_cse, policy=policy)(dyn, _outer_key())
    _record(updates, table)
    return out


# ---------------------------------------------------------------------------- cond
def cond(
    pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any
) -> Any:
    """``jax.lax.cond`` that keeps the buffer updates of the branch taken.

    ``jaxnn.cond(flag, self.bn, lambda x: x, x)`` is torch's ``self.bn(x) if flag else x``
    with ``flag`` a traced boolean: the running statistics change only when the BatchNorm
    branch runs. Both branches are traced (as ``lax.cond`` does) and must return the same
    structure.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.bn = nn.BatchNorm1d(2)
    ...     def forward(self, x, flag):
    ...         return nn.cond(flag, self.bn, lambda x: x, x)
    >>> _, net = nn.forward(Net(), jnp.ones((2, 2)), jnp.array(False))
    >>> int(net.bn.num_batches_tracked)
    0
    """
    outer = _state.top()
    origs = _modules(operands)
    dyn, static = eqx.partition(_with_current(operands), eqx.is_array)
    key = _outer_key()
    table: dict[str, Module] = {}
    union: dict[str, dict[str, jax.ShapeDtypeStruct]] = {}

    def branch(fun: Callable[..., Any], fill: bool) -> Callable[..., Any]:
        def pure(dyn: Any, key: Any) -> Any:
            ops = eqx.combine(dyn, static)
            out, updates, tab = _run(lambda: fun(*ops), ops, origs, outer, key=key)
            table.update(tab)
            if fill:  # the other branch's updates: this branch leaves those values as they are
                inner = _modules(ops)
                for slot, names in union.items():
                    values = updates.setdefault(slot, {})
                    owner = inner[int(slot[1:])] if slot[0] == "a" else table[slot]
                    for name, sd in names.items():
                        value = values[name] if name in values else owner.buffer_value(name)
                        values[name] = jnp.asarray(value, sd.dtype)
            return out, updates

        return pure

    for fun in (true_fun, false_fun):
        _, shapes = jax.eval_shape(branch(fun, False), dyn, key)
        for slot, names in shapes.items():
            union.setdefault(slot, {}).update(names)
    out, updates = jax.lax.cond(pred, branch(true_fun, True), branch(false_fun, True), dyn, key)
    _record(updates, table)
    return out


# ---------------------------------------------------------------------------- scan
def _carry_refusal(carry_ids: set[int]) -> Callable[[Any], Exception]:
    def foreign(module: Any) -> Exception:
        if id(module) in carry_ids:
            return RuntimeError(
                f"jaxnn.scan: a {type(module).__name__} that is part of the carry (init) "
                f"updated its buffers; the carry cannot hand them back. Pass the layers in "
                f"xs (stacked: one per step), or close over the module in f."
            )
        return _state._not_in_model(module)

    return foreign


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """``jax.lax.scan`` that keeps buffer updates: the loop over stacked layers.

    torch's ``for layer in self.layers: x = layer(x)`` over identical layers compiles to
    one program per layer; stack them (``jax.tree.map(lambda *a: jnp.stack(a), *layers)``,
    each array gains a leading layer axis) and scan: ``x, _ = jaxnn.scan(lambda x, layer:
    (layer(x), None), x, stacked)``. Each step's layer updates its own slice of the stacked
    buffers, as the loop would; a module ``f`` closes over (one BatchNorm called every
    step) sees its update from the previous step, carried through the loop.

    Args:
        f: ``(carry, x) -> (carry, y)``, as for ``lax.scan``.
        init: the initial carry (modules in it cannot update buffers: put them in ``xs``).
        xs: what to scan over, stacked modules included. length, reverse, unroll: as
            ``lax.scan``.

    >>> import jax, jax.numpy as jnp, jaxnn as nn
    >>> layers = [nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)) for _ in range(3)]
    >>> stacked = jax.tree.map(lambda *a: jnp.stack(a), *layers)
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layers = stacked
    ...     def forward(self, x):
    ...         return nn.scan(lambda x, layer: (layer(x), None), x, self.layers)[0]
    >>> out, net = nn.forward(Net(), jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> net.layers[1].num_batches_tracked.tolist()
    [1, 1, 1]
    """
    outer = _state.top()
    origs = _modules(xs)
    dyn_init, st_init = eqx.partition(init, eqx.is_array)
    dyn_xs, st_xs = eqx.partition(_with_current(xs), eqx.is_array)
    leaves = jax.tree_util.tree_leaves(dyn_xs)
    n = length if length is not None else (leaves[0].shape[0] if leaves else None)
    key = _outer_key()
    keys = None if key is None or n is None else jax.random.split(key, n)
    table: dict[str, Module] = {}

    def step(cslots: dict[str, tuple[Module, tuple[str, ...]]], collect: dict) -> Callable:
        def body(c: Any, xk: Any) -> Any:
            dyn_c, cstate = c
            dyn_x, k = xk
            carry = eqx.combine(dyn_c, st_init)
            x = eqx.combine(dyn_x, st_xs)
            seed = {id(cslots[s][0]): dict(v) for s, v in cstate.items()}
            carry_ids = {id(m) for m in _modules(carry)}
            out, updates, tab = _run(
                lambda: f(carry, x),
                x,
                origs,
                outer,
                key=k,
                seed=seed,
                foreign=_carry_refusal(carry_ids),
            )
            table.update(tab)
            new_carry, y = out
            new_dyn_c, new_st_c = eqx.partition(new_carry, eqx.is_array)
            if jax.tree.structure(new_st_c) != jax.tree.structure(st_init):
                raise TypeError(
                    "jaxnn.scan: f must return a carry of the same structure as init "
                    f"(got {jax.tree.structure(new_carry)}, init is {jax.tree.structure(init)})."
                )
            collect.update({s: v for s, v in updates.items() if s[0] == "c"})
            new_cstate = {
                s: {
                    name: jnp.asarray(updates.get(s, {}).get(name, old), old.dtype)
                    for name, old in v.items()
                }
                for s, v in cstate.items()
            }
            ys = {s: v for s, v in updates.items() if s[0] == "a"}
            return (new_dyn_c, new_cstate), (y, ys)

        return body

    # Which modules that f closes over does a step update? Their buffers travel in the
    # carry, so the carry's structure must be known before the real trace.
    found: dict[str, dict[str, Any]] = {}
    if outer is not None:
        x0 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), (dyn_xs, keys))
        jax.eval_shape(step({}, found), (dyn_init, {}), x0)
    cslots = {s: (table[s], tuple(v)) for s, v in found.items()}
    cstate0 = {
        s: {name: m.buffer_value(name) for name in names} for s, (m, names) in cslots.items()
    }
    (dyn_c, cstate), (ys, stacked) = jax.lax.scan(
        step(cslots, {}),
        (dyn_init, cstate0),
        (dyn_xs, keys),
        length=length,
        reverse=reverse,
        unroll=unroll,
    )
    _record(cstate, table)
    _record(stacked, table)
    return eqx.combine(dyn_c, st_init), ys


# ---------------------------------------------------------------------------- vmap
def _vmap_refusal(module: Any) -> Exception:
    return RuntimeError(
        f"jaxnn.vmap: {type(module).__name__} updates its running statistics, but it is not "
        f"batched (in_axes=None, or closed over): every element of the batch would compute "
        f"its own update of one set of buffers (torch.func.vmap refuses this too). Call "
        f"model.eval(), build it with track_running_stats=False, or vmap over a stack of "
        f"modules (one per element, in_axes=0)."
    )


def vmap(
    fn: Callable[..., Any],
    in_axes: int | Sequence[Any] | None = 0,
    out_axes: Any = 0,
    *,
    axis_name: Any = None,
    axis_size: int | None = None,
) -> Callable[..., Any]:
    """``jax.vmap`` that keeps buffer updates of stacked modules (an ensemble).

    ``jaxnn.vmap(lambda m, x: m(x))(stacked_models, xs)`` runs one model per element, as
    torch's loop ``[m(x) for m, x in zip(models, xs)]`` does; each model's BatchNorm
    updates its own slice of the stacked buffers. A module that is not batched
    (``in_axes=None`` or closed over) cannot update buffers under vmap: that raises.

    Args:
        fn: the function to vectorise.
        in_axes: an int/None for every argument, or one per argument; a module argument
            takes an int (all its arrays mapped on that axis) or None.
        out_axes, axis_name, axis_size: as ``jax.vmap``.

    >>> import jax, jax.numpy as jnp, jaxnn as nn
    >>> class Ensemble(nn.Module):
    ...     def __init__(self, n):
    ...         super().__init__()
    ...         self.models = jax.tree.map(lambda *a: jnp.stack(a), *[nn.BatchNorm1d(2) for _ in range(n)])
    ...     def forward(self, x):
    ...         return nn.vmap(lambda m, x: m(x), in_axes=(0, None))(self.models, x)
    >>> out, ens = nn.forward(Ensemble(3), jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> out.shape, ens.models.num_batches_tracked.tolist()
    ((3, 2, 2), [1, 1, 1])
    """

    def wrapped(*args: Any) -> Any:
        outer = _state.top()
        axes = tuple(in_axes) if isinstance(in_axes, Sequence) else (in_axes,) * len(args)
        if len(axes) != len(args):
            raise ValueError(
                f"jaxnn.vmap: in_axes has {len(axes)} entries for {len(args)} arguments; give "
                f"one per argument (an int or None for a module)."
            )
        origs, axis_of = [], []
        for a, ax in zip(args, axes, strict=True):
            mods = _modules(a)
            if mods and not (ax is None or isinstance(ax, int)):
                raise TypeError(
                    f"jaxnn.vmap: an argument holding modules takes in_axes an int or None "
                    f"(all of its arrays mapped on that axis, or none), got {ax!r}."
                )
            origs += mods
            axis_of += [ax] * len(mods)
        dyn, static = eqx.partition(_with_current(tuple(args)), eqx.is_array)
        size = axis_size
        if size is None:
            for d, ax in zip(dyn, axes, strict=True):
                leaves = jax.tree_util.tree_leaves(d)
                if isinstance(ax, int) and leaves:
                    size = leaves[0].shape[ax]
                    break
        key = _outer_key()
        keys = None if key is None or size is None else jax.random.split(key, size)
        table: dict[str, Module] = {}

        def pure(dyn: Any, k: Any) -> Any:
            a = eqx.combine(dyn, static)
            inner = _modules(a)
            batched = {id(m) for m, ax in zip(inner, axis_of, strict=True) if ax is not None}
            out, updates, tab = _run(
                lambda: fn(*a), a, origs, outer, key=k, members=batched, foreign=_vmap_refusal
            )
            table.update(tab)
            return out, updates

        out, updates = jax.vmap(
            pure,
            in_axes=(axes, 0 if keys is not None else None),
            out_axes=(out_axes, 0),
            axis_name=axis_name,
            axis_size=axis_size,
        )(dyn, keys)
        for slot, values in updates.items():
            ax = axis_of[int(slot[1:])]
            if ax != 0:
                values = {n: jnp.moveaxis(v, 0, ax) for n, v in values.items()}
            _state.record(table[slot], values)
        return out

    return wrapped
