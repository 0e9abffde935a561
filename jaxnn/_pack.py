"""``jaxnn.pack``: training state as one flat pytree node, so a jitted step costs what
hand-written JAX costs.

``jax.jit`` walks its arguments' pytrees on every call, and walks its outputs back into
pytrees. A dict of arrays is walked in C++; an Equinox module (a jaxnn model, its
``eqx.partition`` halves, an optax state shaped like them) is walked by a Python function
per module. For a small model at batch 1 that walk is most of the step: the README's step
on ``(params, rest, opt_state)`` measured 1.8x the time of the same step written on dicts.
A :class:`Packed` holds the leaves and the structure of any pytree; JAX sees one node whose
children are the array leaves, so the walk is a single call, whatever the model. The
structure is unpacked at trace time, inside the jitted function, where it costs nothing per
step.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax


class Packed:
    """Any pytree stored as its flat leaves plus its structure (see :func:`pack`).

    Array leaves are the node's children (what ``jit`` passes and ``grad`` sees); any other
    leaf (a Python number or a callable left in a non-jaxnn module) is kept in the
    structure, static, as ``eqx.filter_jit`` treats it.
    """

    __slots__ = ("_leaves", "_statics", "_treedef")

    def __init__(self, leaves: list[Any], statics: tuple[tuple[int, Any], ...], treedef: Any):
        self._leaves = leaves
        self._statics = statics
        self._treedef = treedef

    def unpack(self) -> Any:
        """The packed value: a tuple when several trees were packed, else the one tree."""
        leaves = list(self._leaves)
        for i, value in self._statics:
            leaves.insert(i, value)
        tree = jax.tree.unflatten(self._treedef, leaves)
        return tree[0] if _single(self._treedef) else tree

    def __iter__(self):
        """``params, rest, opt_state = state`` unpacks a state packed from several trees."""
        if _single(self._treedef):
            raise TypeError(
                "this Packed holds one tree, not a tuple of trees: call state.unpack() "
                "instead of unpacking it into several names."
            )
        return iter(self.unpack())

    def __repr__(self) -> str:
        n = self._treedef.num_leaves
        return f"Packed({len(self._leaves)} array leaves of {n}, {self._treedef})"


def _single(treedef: Any) -> bool:
    # pack(a) stores _OneTree((a,)) so that unpack can tell one tree from a tuple of trees.
    return treedef.node_data()[0] is _OneTree


class _OneTree(tuple):
    """A 1-tuple that marks ``pack(tree)`` (one tree) apart from ``pack(a, b)``."""


jax.tree_util.register_pytree_node(
    _OneTree, lambda t: (tuple(t), None), lambda _, children: _OneTree(children)
)


def pack(*trees: Any) -> Packed:
    """Pack pytrees (a model, its ``eqx.partition`` halves, an optimizer state, ...) into
    one flat node for a jitted training step.

    ``jax.jit`` then passes the state with no per-call walk of the model (the cost that
    made a jaxnn step slower than the same step on dicts at small batch sizes); inside the
    step, ``state.unpack()`` (or ``a, b, c = state``) gives the trees back at trace time.
    Return ``jaxnn.pack(...)`` of the new values from the step.

    Args:
        *trees: one or more pytrees. ``pack(model)`` unpacks to ``model``;
            ``pack(params, rest, opt_state)`` to the tuple ``(params, rest, opt_state)``.

    Example:
        >>> import jax, jax.numpy as jnp, equinox as eqx, optax, jaxnn as nn
        >>> import jaxnn.functional as F
        >>> model = nn.Linear(3, 2)
        >>> params, rest = eqx.partition(model, nn.trainable(model))
        >>> opt = optax.sgd(0.1)
        >>> state = nn.pack(params, rest, opt.init(params))
        >>> @jax.jit
        ... def step(state, x, y):
        ...     params, rest, opt_state = state
        ...     loss_fn = lambda p: F.mse_loss(eqx.combine(p, rest)(x), y)
        ...     loss, grads = jax.value_and_grad(loss_fn)(params)
        ...     updates, opt_state = opt.update(grads, opt_state)
        ...     return nn.pack(optax.apply_updates(params, updates), rest, opt_state), loss
        >>> state, loss = step(state, jnp.ones((4, 3)), jnp.zeros((4, 2)))
        >>> params, rest, opt_state = state
        >>> eqx.combine(params, rest)
        Linear(in_features=3, out_features=2, bias=True)
    """
    if not trees:
        raise TypeError(
            "pack() needs at least one pytree, e.g. jaxnn.pack(params, rest, opt_state)."
        )
    leaves, treedef = jax.tree.flatten(_OneTree(trees) if len(trees) == 1 else trees)
    arrays, statics = [], []
    for i, leaf in enumerate(leaves):
        if eqx.is_array(leaf):
            arrays.append(leaf)
        else:
            statics.append((i, leaf))
    return Packed(arrays, tuple(statics), treedef)


jax.tree_util.register_pytree_node(
    Packed,
    lambda p: (p._leaves, (p._statics, p._treedef)),
    lambda aux, leaves: Packed(list(leaves), *aux),
)
