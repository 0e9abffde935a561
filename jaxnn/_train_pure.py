"""The pure function inside ``jaxnn.Optimizer``'s step, and its ``lax.scan`` form.

``(donated, const, opt_leaves, key_data, *batch) -> (*new values, new opt_leaves,
new key_data, loss_fn's output)``: the model is rebuilt from the arrays of its layout
(``_train_layout``), the loss and its gradient are taken with respect to the trainable
leaves only, optax updates them, ``jaxnn.forward`` collects the new buffers, and the
values of the places to write come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from . import _random, _state
from ._module import Module
from ._train_layout import Layout


class _LossCall(Module):
    """The loss as a module, so that ``jaxnn.forward`` collects the buffer updates it makes."""

    def __init__(self, model: Module, fn: Callable[[Module], Any]) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self) -> Any:
        return self.fn(self.model)


def _check_loss(out: Any, has_aux: bool) -> jax.Array:
    if has_aux:
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise TypeError(
                f"make_step(loss_fn, has_aux=True): loss_fn must return (loss, aux), got a "
                f"{type(out).__name__}."
            )
        loss = out[0]
    else:
        if isinstance(out, tuple | list):
            raise TypeError(
                f"loss_fn returned a {type(out).__name__} of {len(out)}; return the scalar "
                f"loss, or return (loss, aux) and build the step with "
                f"make_step(loss_fn, has_aux=True)."
            )
        loss = out
    shape, dtype = getattr(loss, "shape", None), getattr(loss, "dtype", None)
    what = "an array" if isinstance(loss, jax.Array) else f"a {type(loss).__name__}"
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"loss_fn must return a scalar floating-point loss (torch: grad can be implicitly "
            f"created only for scalar outputs), got {what} of shape {shape} and dtype {dtype}. "
            f"Reduce it: loss.mean(), or a loss with reduction='mean'."
        )
    return loss


def pure_step(
    layout: Layout, opt_treedef: Any, tx: Any, impl: Any, loss_fn: Callable, has_aux: bool
) -> Callable:
    """The step as a pure function: ``(donated, const, opt_leaves, key_data, *batch) ->
    (*new values, new opt_leaves, new key_data, loss_fn's output)``.

    ``donated``/``const`` are the values of the layout's read places; the new values are
    its ``outputs``. The key travels as raw data (a typed key array is a pytree that jit
    flattens in Python, some 20 us a call), and only for a model that draws from it: else
    it is None in and nothing out.
    """
    uses_key, treedef, names = layout.uses_key, layout.treedef, layout.names
    train_idx, buf_idx = layout.train_idx, layout.buf_idx

    def step(donated, const, opt_leaves, key, *args, **kwargs):
        leaves = _assemble(layout, donated, const)
        if uses_key:
            key = jax.random.wrap_key_data(key, impl=impl)

        def loss_and_buffers(train):
            current = list(leaves)
            for i, v in zip(train_idx, train, strict=True):
                current[i] = v
            model = jax.tree_util.tree_unflatten(treedef, current)

            def call(m):
                # Dropout layers split their keys off this scope; what is left seeds the
                # next step (the key itself when nothing drew: no split is compiled).
                with _random.forward_key(key) as cell:
                    return loss_fn(m, *args, **kwargs), cell[0]

            (out, next_key), wrapper = _state.forward(_LossCall(model, call))
            new = jax.tree_util.tree_leaves(wrapper.model)
            # torch copies a new buffer value into the existing tensor: its dtype stays.
            buffers = [new[i].astype(leaves[i].dtype) for i in buf_idx]
            return _check_loss(out, has_aux), (out, buffers, next_key)

        train = [leaves[i] for i in train_idx]
        grad_fn = jax.value_and_grad(loss_and_buffers, has_aux=True)
        (_, (out, buffers, key)), grads = grad_fn(train)
        params = dict(zip(names, train, strict=True))
        opt_state = jax.tree_util.tree_unflatten(opt_treedef, opt_leaves)
        updates, opt_state = tx.update(dict(zip(names, grads, strict=True)), opt_state, params)
        params = optax.apply_updates(params, updates)
        for i, n in zip(train_idx, names, strict=True):
            leaves[i] = params[n]
        for i, b in zip(buf_idx, buffers, strict=True):
            leaves[i] = b
        new_opt, new_treedef = jax.tree_util.tree_flatten(opt_state)
        if new_treedef != opt_treedef:
            raise TypeError(
                f"the optimizer's update returned a state of another structure than its init "
                f"({new_treedef} vs {opt_treedef}); jaxnn.Optimizer needs a transformation "
                f"whose state keeps its structure, as optax's do."
            )
        new = _outputs(layout, leaves)
        if uses_key:
            return (*new, new_opt, jax.random.key_data(key), out)
        return (*new, new_opt, out)

    return step


def _assemble(layout: Layout, donated: list, const: list) -> list[Any]:
    """The model's leaves from the values of its read places (and its static leaves)."""
    leaves: list[Any] = [None] * layout.treedef.num_leaves
    for i, v in layout.statics:
        leaves[i] = v
    for p, v in zip(layout.donated + layout.const, [*donated, *const], strict=True):
        for i, a in zip(p.leaves, [v] if p.plain else jax.tree_util.tree_leaves(v), strict=True):
            leaves[i] = a
    return leaves


def _outputs(layout: Layout, leaves: list[Any]) -> list[Any]:
    """The values of the layout's outputs (what the written places get) from the leaves."""
    return [
        leaves[idx[0]]
        if plain
        else jax.tree_util.tree_unflatten(structure, [leaves[i] for i in idx])
        for plain, structure, idx in layout.outputs
    ]


def scanned(pure: Callable, layout: Layout, donate: bool) -> Callable:
    """``pure`` over the leading axis of the batch arguments, in one ``lax.scan``."""
    n, uses_key, read_route = len(layout.outputs), layout.uses_key, layout.read_route

    def run(donated, const, opt_leaves, key, *xs, **kwargs):
        def body(carry, batch):
            out = pure(carry[0], const, carry[1], carry[2], *batch, **kwargs)
            carry = ([out[k] for k in read_route], out[n], out[n + 1] if uses_key else None)
            return carry, out[-1]

        (donated, opt_leaves, key), results = jax.lax.scan(body, (donated, opt_leaves, key), xs)
        new = _outputs(layout, _assemble(layout, donated, const))
        return (*new, opt_leaves, *([key] if uses_key else []), results)

    return jax.jit(run, donate_argnums=(0, 2, 3) if donate else ())
