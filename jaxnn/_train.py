"""``jaxnn.Optimizer``: torch's training loop, each step one pure ``jax.jit`` program.

::

    opt = nn.Optimizer(model, optax.adam(1e-3))   # torch.optim.Adam(model.parameters(), 1e-3)
    step = opt.make_step(loss_fn)                 # loss_fn(model, *batch) -> scalar loss
    for x, y in batches:
        loss = step(x, y)                         # ``model`` now holds the new weights
    model.eval()

A step is one compiled program: the loss, its gradient with respect to the trainable
parameters only (``jaxnn.trainable``), the optax update, BatchNorm's buffers (collected by
``jaxnn.forward``) and the dropout keys. The model's arrays are donated to it and the new
ones are written back into the model outside the transformation, where torch's
``optimizer.step()`` leaves them (DESIGN rule 2).

Why it costs what hand-written JAX costs: ``jit`` walks its arguments on every call, and
walking a model takes a Python call per module (the reason for ``nn.pack``). The step
passes flat lists of arrays instead, read from and written to the module ``__dict__``
entries that hold them (``_train_layout``). Where each array lives is worked out once and
again only after some module was edited in place (``_module.EDITS`` moved: a mode switch,
a container edit, ``load_state_dict``).
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from . import _random
from ._module import EDITS, Module, _holds_torch, _inputs_from_torch
from ._train_layout import Layout, check_shared_arrays
from ._train_pure import pure_step, scanned

__all__ = ["Optimizer", "TrainStep"]

try:  # whether no JAX transformation is tracing (``_module._under_transformation``'s test)
    from jax._src.core import trace_ctx as _trace_ctx

    _top_level = _trace_ctx.is_top_level
except (ImportError, AttributeError):  # pragma: no cover - private API moved
    from jax._src.core import trace_state_clean as _top_level

# C functions the step's write-back is made of (see TrainStep._run).
_consume = collections.deque(maxlen=0).extend
_getitem, _setitem = operator.getitem, operator.setitem
_starmap, _chain, _flatten = itertools.starmap, itertools.chain, itertools.chain.from_iterable


class Optimizer:
    """An optax transformation bound to a model, holding its state: ``torch.optim``'s role.

    ``Optimizer(model, optax.adam(1e-3))`` is ``torch.optim.Adam(model.parameters(),
    lr=1e-3)``: it trains the parameters that require grad (``jaxnn.trainable``; frozen
    ones and buffers are never touched, never decayed) and keeps the optax state. The
    training step comes from :meth:`make_step`; after each call ``model`` itself holds the
    new weights and buffers, as after torch's ``optimizer.step()``.

    optax sees the trainable parameters as a dict ``{name: array}`` under torch's
    ``named_parameters()`` names, so masks and labels are functions of it:
    ``optax.adamw(1e-3, mask=lambda p: {k: v.ndim > 1 for k, v in p.items()})`` decays
    weights but not biases. Any optax transformation works: schedules, ``optax.chain`` with
    clipping, ``optax.MultiSteps`` (gradient accumulation), ``optax.masked``.

    The optimizer trains the model object it was given; edit that model in place as in
    torch (``model.eval()``, ``model.fc = ...``, ``load_state_dict``) and the next step
    uses the edit. Changing which parameters train, or their shapes, needs a new optimizer
    (torch: new parameter groups); the next step raises and says so.

    Args:
        model: the jaxnn model to train.
        tx: an optax ``GradientTransformation``.
        key: the PRNG key the steps split dropout keys from (default: drawn from the
            stream that ``jaxnn.manual_seed`` resets).

    Attributes:
        state: the optax state (assign one of the same structure to restore it).
        key: the key the next step splits its dropout keys from.
        step_count: steps taken.

    >>> import jax.numpy as jnp, optax, jaxnn as nn, jaxnn.functional as F
    >>> model = nn.Linear(3, 1)
    >>> opt = nn.Optimizer(model, optax.sgd(0.1))
    >>> step = opt.make_step(lambda model, x, y: F.mse_loss(model(x), y))
    >>> loss = step(jnp.ones((4, 3)), jnp.zeros((4, 1)))
    >>> opt.step_count, float(loss) > 0
    (1, True)
    """

    def __init__(self, model: Module, tx: Any, *, key: jax.Array | None = None) -> None:
        if not isinstance(model, Module):
            raise TypeError(
                f"Optimizer(model, tx): model must be a jaxnn Module, got {type(model).__name__}."
            )
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise TypeError(
                f"Optimizer(model, tx): tx must be an optax GradientTransformation (with init "
                f"and update), got {type(tx).__name__}; e.g. optax.adam(1e-3)."
            )
        layout = Layout(model)
        if not layout.names:
            raise ValueError(
                f"optimizer got an empty parameter list: no parameter of {model._get_name()} "
                f"requires grad (model.requires_grad_(True) unfreezes them)."
            )
        self._model, self._tx = model, tx
        self._layout, self._edits, self._specs = layout, EDITS[0], layout.specs
        values = jax.tree_util.tree_leaves(model)
        params = {n: values[i] for n, i in zip(layout.names, layout.train_idx, strict=True)}
        self._place = _placement(params)
        leaves, self._treedef = jax.tree_util.tree_flatten(self._place(tx.init(params)))
        # One-item boxes: a step replaces their content, as one of its C-level stores.
        self._state = [_distinct(leaves, {id(a) for a in values})]
        key = _random.as_key(key)
        self._impl = jax.random.key_impl(key)
        self._key = [self._place(jax.random.key_data(key))]
        self._count = [0]

    def _refresh(self) -> Layout:
        """The layout of the model as it is now (worked out again after an in-place edit)."""
        if self._edits != EDITS[0]:
            layout = Layout(self.model)
            if layout.specs != self._specs:
                raise ValueError(_changed(self._specs, layout.specs))
            self._layout, self._edits = layout, EDITS[0]
        return self._layout

    @property
    def model(self) -> Module:
        """The model this optimizer trains (fixed: a new model needs a new optimizer)."""
        return self._model

    @property
    def tx(self) -> Any:
        """The optax transformation."""
        return self._tx

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> Any:
        return jax.tree_util.tree_unflatten(self._treedef, self._state[0])

    @state.setter
    def state(self, value: Any) -> None:
        leaves, treedef = jax.tree_util.tree_flatten(value)
        if treedef != self._treedef:
            raise ValueError(
                f"Optimizer.state = ...: the new state has structure {treedef}, this "
                f"optimizer's is {self._treedef}; it must come from the same optax "
                f"transformation and model (e.g. jaxnn.load_checkpoint(path, model, opt.state))."
            )
        for i, (old, new) in enumerate(zip(self._state[0], leaves, strict=True)):
            if jnp.shape(old) != jnp.shape(new):
                raise ValueError(
                    f"Optimizer.state = ...: leaf {i} has shape {jnp.shape(new)}, this "
                    f"optimizer's has {jnp.shape(old)}."
                )
        taken = {id(a) for a in jax.tree_util.tree_leaves(self.model)}
        placed = jax.tree_util.tree_leaves(
            self._place(jax.tree_util.tree_unflatten(treedef, leaves))
        )
        self._state[0] = _distinct(placed, taken)

    @property
    def key(self) -> jax.Array:
        return jax.random.wrap_key_data(self._key[0], impl=self._impl)

    @key.setter
    def key(self, value: jax.Array) -> None:
        value = _random.check_key(value, "key")
        if jax.random.key_impl(value) != self._impl:
            raise ValueError(
                f"Optimizer.key = ...: got a {jax.random.key_impl(value)} key, this optimizer "
                f"uses {self._impl} keys; make the key with the same implementation."
            )
        self._key[0] = self._place(jax.random.key_data(value))

    @property
    def step_count(self) -> int:
        return self._count[0]

    @step_count.setter
    def step_count(self, value: int) -> None:
        self._count[0] = int(value)

    # ------------------------------------------------------------------ steps
    def make_step(
        self, loss_fn: Callable[..., Any], *, has_aux: bool = False, donate: bool = True
    ) -> TrainStep:
        """A jitted training step from ``loss_fn(model, *args, **kwargs) -> loss``.

        ``step(*args, **kwargs)`` runs ``loss_fn`` on the model as it is now, takes the
        gradients of its trainable parameters, applies the optimizer's update and writes
        the new parameters, buffers and optimizer state back, in place. It returns
        ``loss_fn``'s output (the loss, or ``(loss, aux)`` with ``has_aux=True``) as
        arrays, without waiting for them (``float(loss)`` waits). Dropout layers called
        without a key inside ``loss_fn`` get a fresh one every step. It compiles once per
        training/eval mode and input shapes.

        Args:
            loss_fn: ``(model, *args, **kwargs) -> scalar loss``. It runs under
                ``jax.jit``: array and Python-number arguments are traced.
            has_aux: ``loss_fn`` returns ``(loss, aux)`` (metrics, predictions); the step
                returns both.
            donate: hand the model's and the optimizer's arrays to XLA so that it updates
                them in place. The old arrays are deleted: copy (``jnp.copy``) any you
                keep elsewhere. ``False`` keeps them, at the cost of memory.

        >>> import jax.numpy as jnp, optax, jaxnn as nn, jaxnn.functional as F
        >>> model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
        >>> opt = nn.Optimizer(model, optax.adam(1e-3))
        >>> def loss_fn(model, x, y):
        ...     out = model(x)
        ...     return F.mse_loss(out, y), {"mean": out.mean()}
        >>> step = opt.make_step(loss_fn, has_aux=True)
        >>> loss, metrics = step(jnp.ones((4, 3)), jnp.zeros((4, 8)))
        >>> int(model[1].num_batches_tracked)
        1
        """
        return TrainStep(self, loss_fn, has_aux=has_aux, donate=donate)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | os.PathLike, extra: dict | None = None) -> None:
        """``jaxnn.save_checkpoint`` of the model, the optax state, the step count, the key."""
        from .interop import save_checkpoint

        save_checkpoint(
            path, self.model, self.state, step=self.step_count, key=self.key, extra=extra
        )

    def load_checkpoint(self, path: str | os.PathLike) -> dict:
        """Restore what :meth:`save_checkpoint` wrote (the model in place); returns its
        ``extra``. Training then continues exactly as if it had not stopped."""
        from .interop import load_checkpoint

        restored = load_checkpoint(path, self.model, self.state)
        self.state = restored["opt_state"]
        if restored["key"] is not None:
            self.key = restored["key"]
        self.step_count = restored["step"]
        return restored["extra"]

    def __getattr__(self, name: str) -> Any:
        if name in ("step", "zero_grad", "param_groups"):
            raise AttributeError(
                f"jaxnn.Optimizer has no {name!r}: no gradient is stored between calls. "
                f"`step = opt.make_step(loss_fn)` builds one jitted call, `loss = step(x, y)`, "
                f"that does torch's zero_grad(), backward() and step() together."
            )
        raise AttributeError(f"'Optimizer' object has no attribute {name!r}")

    def __repr__(self) -> str:
        return (
            f"Optimizer({self.model._get_name()}, {len(self._specs)} trained arrays, "
            f"step_count={self.step_count})"
        )


def _placement(params: dict[str, jax.Array]) -> Callable[[Any], Any]:
    """Where the step will return the optimizer's arrays, to put them there from the start.

    On one device nothing is moved. On a mesh, jit returns the state where the parameters
    are (a leaf shaped like a parameter, in a ``{name: ...}`` dict like the parameters',
    split like it; any other leaf replicated): placed so at once, the first step's inputs
    sit where the second step's will, and the step compiles once, not twice.
    """
    shardings = {k: p.sharding for k, p in params.items()}
    first = next(iter(shardings.values()))
    if not isinstance(first, NamedSharding):
        return lambda tree: tree
    replicated = NamedSharding(first.mesh, PartitionSpec())

    def like(t: Any) -> bool:
        return isinstance(t, dict) and t.keys() == params.keys()

    def put(value: Any, sharding: Any) -> Any:
        return jax.device_put(value, sharding) if isinstance(value, jax.Array) else value

    def place(t: Any) -> Any:
        if like(t):
            return {
                k: put(v, shardings[k] if jnp.shape(v) == params[k].shape else replicated)
                for k, v in t.items()
            }
        return put(t, replicated)

    return lambda tree: jax.tree_util.tree_map(place, tree, is_leaf=like)


def _distinct(leaves: list[Any], taken: set[int]) -> list[Any]:
    """The leaves as arrays, each a different one: an array is donated once per call, and an
    optax init may hold the parameters themselves (e.g. lookahead's slow weights)."""
    out, seen = [], set(taken)
    for leaf in leaves:
        leaf = jnp.asarray(leaf)
        if id(leaf) in seen:
            leaf = jnp.copy(leaf)
        seen.add(id(leaf))
        out.append(leaf)
    return out


def _changed(old: dict, new: dict) -> str:
    lost, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    other = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    parts = [
        f"no longer trained: {lost}" if lost else "",
        f"newly trained: {added}" if added else "",
        f"other shape or dtype: {other}" if other else "",
    ]
    return (
        f"the model's trainable parameters changed since its jaxnn.Optimizer was created "
        f"({'; '.join(p for p in parts if p)}), so the optimizer state no longer fits them. "
        f"Create a new optimizer, `opt = nn.Optimizer(model, tx)`, and a step from it (torch: "
        f"a new optimizer or add_param_group)."
    )


class TrainStep:
    """A training step built by :meth:`Optimizer.make_step`: call it with a batch."""

    def __init__(
        self, optimizer: Optimizer, loss_fn: Callable, *, has_aux: bool, donate: bool
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(
                f"make_step(loss_fn): loss_fn must be a function (model, *batch) -> loss, got "
                f"{type(loss_fn).__name__}."
            )
        self._opt = optimizer
        self._loss_fn = loss_fn
        self._has_aux = has_aux
        self._donate = donate
        self._compiled: dict[Any, tuple[Callable, Callable]] = {}
        self._scans: dict[Any, Callable] = {}
        self._result: list[Any] = [None]
        self._edits = -1

    def _bind(self) -> None:
        """Point the step at the model's current layout; compile once per signature."""
        opt = self._opt
        layout = opt._refresh()
        entry = self._compiled.get(layout.signature)
        if entry is None:
            pure = pure_step(layout, opt._treedef, opt.tx, opt._impl, self._loss_fn, self._has_aux)
            entry = (jax.jit(pure, donate_argnums=(0, 2, 3) if self._donate else ()), pure)
            # Keeps the static leaves alive too: the signature compares them by id.
            self._compiled[layout.signature] = entry
        check_shared_arrays(layout)
        self._fn, self._pure, self._layout = entry[0], entry[1], layout
        self._donated = ([p.dict for p in layout.donated], [p.field for p in layout.donated])
        self._const = ([p.dict for p in layout.const], [p.field for p in layout.const])
        self._has_const = bool(layout.const)
        self._uses_key = layout.uses_key
        # Where each output of the compiled call goes: every written place, the optax
        # leaves, the key, the result; then the step count.
        n = len(layout.outputs)
        key = [opt._key] if layout.uses_key else []
        self._targets = [*(p.dict for p in layout.writes), opt._state, *key, self._result]
        self._targets.append(opt._count)
        self._keys = [*(p.field for p in layout.writes), 0, *(0 for _ in key), 0, 0]
        route = [*layout.route, *range(n, n + 2 + len(key))]
        # Each output to its places; None when that is one place each, in order.
        self._route = None if route == list(range(len(route))) else operator.itemgetter(*route)
        self._edits = EDITS[0]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._edits != EDITS[0]:
            self._bind()
        try:
            return self._run(self._fn, 1, args, kwargs)
        except TypeError:
            # torch tensors (a DataLoader's batches), which jit refuses before anything is
            # donated: converted as `model(x)` converts them, then run again.
            if not (_holds_torch(args) or _holds_torch(kwargs.values())):
                raise
        args, kwargs = _inputs_from_torch(self._opt.model, args, kwargs)
        return self._run(self._fn, 1, args, kwargs)

    def scan(self, *args: Any, **kwargs: Any) -> Any:
        """One step per entry along the leading axis of ``args``, all in one compiled
        ``jax.lax.scan`` (an epoch in one call); returns ``loss_fn``'s outputs stacked."""
        if self._edits != EDITS[0]:
            self._bind()
        args, kwargs = _inputs_from_torch(self._opt.model, args, kwargs)
        leaves = jax.tree_util.tree_leaves(args)
        if not leaves:
            raise TypeError("step.scan(*batches) takes arrays stacked along a leading axis.")
        fn = self._scans.get(self._layout.signature)
        if fn is None:
            fn = scanned(self._pure, self._layout, self._donate)
            self._scans[self._layout.signature] = fn
        return self._run(fn, int(jnp.shape(leaves[0])[0]), args, kwargs)

    def _run(self, fn: Callable, steps: int, args: tuple, kwargs: dict) -> Any:
        if not _top_level():
            raise RuntimeError(
                "a jaxnn.Optimizer step writes the new weights into the model in place, but "
                "it was called inside a JAX transformation (jax.jit, jax.lax.scan, jax.vmap, "
                "...), where a model is an immutable value. Call the step outside; "
                "`step.scan(xs, ys)` runs many steps in one compiled call, and the README's "
                "explicit step (nn.pack) is the pure function to put inside your own."
            )
        opt = self._opt
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        call = (
            list(map(_getitem, *self._donated)),
            list(map(_getitem, *self._const)) if self._has_const else (),
            opt._state[0],
            opt._key[0] if self._uses_key else None,
            *args,
        )
        # One call from Python runs the step and stores every output, all in C: Python
        # raises KeyboardInterrupt between bytecodes only, so a Ctrl-C cannot fall after
        # the model's arrays were donated and before their new values are in the model.
        results = _starmap(fn, (call,))
        if self._route is not None:
            results = map(self._route, results)
        count = (opt._count[0] + steps,)
        _consume(map(_setitem, self._targets, self._keys, _chain(_flatten(results), count)))
        return self._result[0]

    def __repr__(self) -> str:
        name = getattr(self._loss_fn, "__name__", type(self._loss_fn).__name__)
        return f"TrainStep({name}, {self._opt!r})"
