"""``jaxnn.summary``: torchinfo's table for a jaxnn model, with torchinfo's numbers.

torchinfo registers a forward hook on every submodule and runs the model once; each call
becomes a row. jaxnn does the same with ``Module.__call__``'s observers while
``jax.eval_shape`` traces the forward: shapes only, no FLOP spent, no memory allocated,
no device needed. Rows, mult-adds, parameter counts and the size estimates follow
torchinfo 1.8's rules (``_summary_layer``), and the test suite compares them with
torchinfo's own output, character for character.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _module, _random, _state
from ._module import Module, _is_torch, _to_array, rebuild
from ._summary_layer import (
    COLUMNS,
    ROW_SETTINGS,
    Formatting,
    LayerInfo,
    _is_array,
    _itemsize,
    calculate_size,
    children_layers,
    prod,
)

__all__ = ["LayerInfo", "Summary", "summary"]

# torchinfo measures an input with sys.getsizeof(tensor.untyped_storage()): the data's bytes
# plus the storage object's CPython header, 64 bytes in torch 2.x. Kept, so "Input size (MB)"
# and "Estimated Total Size (MB)" are torchinfo's to the byte.
_TORCH_STORAGE_HEADER = 64


class Summary:
    """What ``jaxnn.summary`` returns: torchinfo's ``ModelStatistics``.

    ``print`` it (or ``str``) for the table. The numbers are attributes, under torchinfo's
    names: ``total_params``, ``trainable_params``, ``non_trainable_params``,
    ``total_mult_adds``, ``total_input`` / ``total_output_bytes`` / ``total_param_bytes``
    (bytes), ``input_size`` and ``summary_list`` (one ``LayerInfo`` per row, with
    ``output_size``, ``num_params``, ``macs``, ``depth``, ``is_recursive``, ``module``...).
    """

    def __init__(
        self,
        summary_list: list[LayerInfo],
        input_size: Any,
        total_input: int,
        formatting: Formatting,
    ) -> None:
        self.summary_list = summary_list
        self.input_size = input_size
        self.formatting = formatting
        self.total_input = total_input
        self.total_mult_adds = 0
        self.total_params = self.trainable_params = 0
        self.total_param_bytes = self.total_output_bytes = 0
        for row in summary_list:
            if row.is_leaf_layer:
                self.total_mult_adds += row.macs
                if row.num_params > 0:
                    self.total_output_bytes += row.output_bytes * 2  # x2: the gradients
                if row.is_recursive:
                    continue
                self.total_params += row.num_params
                self.total_param_bytes += row.param_bytes
                self.trainable_params += row.trainable_params
            elif not row.is_recursive:
                self.total_params += max(row.leftover_params(), 0)
                self.trainable_params += max(row.leftover_trainable_params(), 0)
        formatting.set_layer_name_width(summary_list)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_size(self) -> int:
        """Bytes of "Estimated Total Size": input + forward/backward activations + parameters."""
        return self.total_input + self.total_output_bytes + self.total_param_bytes

    def __repr__(self) -> str:
        f = self.formatting
        divider = "=" * f.get_total_width()
        text = (
            f"{divider}\n{f.header_row()}{divider}\n"
            f"{f.layers_to_str(self.summary_list, self.total_params)}{divider}\n"
            f"Total params: {self.total_params:,}\n"
            f"Trainable params: {self.trainable_params:,}\n"
            f"Non-trainable params: {self.non_trainable_params:,}\n"
        )
        if self.input_size:
            text += (
                f"Total mult-adds{_readable(self.total_mult_adds)}\n{divider}\n"
                f"Input size (MB): {self.total_input / 1e6:0.2f}\n"
                f"Forward/backward pass size (MB): {self.total_output_bytes / 1e6:0.2f}\n"
                f"Params size (MB): {self.total_param_bytes / 1e6:0.2f}\n"
                f"Estimated Total Size (MB): {self.total_size / 1e6:0.2f}\n"
            )
        return text + divider


def _readable(num: int) -> str:
    unit, value = (
        ("T", num / 1e12) if num >= 1e12 else ("G", num / 1e9) if num >= 1e9 else ("M", num / 1e6)
    )
    return f" ({unit}): {int(value):,d}" if value.is_integer() else f" ({unit}): {value:,.2f}"


# ---------------------------------------------------------------------- the forward pass
class _Hooks:
    """torchinfo's pre/post forward hooks, as a ``Module.__call__`` observer."""

    def __init__(self, batch_dim: int | None) -> None:
        self.batch_dim = batch_dim
        self.summary_list: list[LayerInfo] = []
        self.layer_ids: set[int] = set()
        self.latest: dict[int, LayerInfo] = {}
        # id -> where the module's (last) place in the tree puts its rows: torchinfo
        # registers one hook per module, at the last place it is found.
        self.places: dict[int, tuple[str, int, LayerInfo | None]] = {}
        self.thread = threading.get_ident()

    def walk(self, model: Module, run_now: bool) -> None:
        """Visit the module tree depth first; without an input every module is a row."""
        stack: list[tuple[str, Module, int, LayerInfo | None]] = [
            (model._get_name(), model, 0, None)
        ]
        while stack:
            var_name, module, depth, parent = stack.pop()
            self.latest[id(module)] = LayerInfo(var_name, module, depth, parent)
            self.places[id(module)] = (var_name, depth, parent)
            if run_now:
                self.before(module, ())
            stack += [
                (name, child, depth + 1, self.latest[id(module)])
                for name, child in reversed(list(module._all_children()))
            ]

    def before(self, module: Module, args: tuple) -> None:
        place = self.places.get(id(module))
        if place is None or threading.get_ident() != self.thread:
            return  # a module outside the tree (built in forward), or another thread
        info = LayerInfo(place[0], module, place[1], place[2])
        info.calculate_num_params()
        info.check_recursive(self.layer_ids)
        info.input_size, _ = calculate_size(args, self.batch_dim)
        self.summary_list.append(info)
        self.layer_ids.add(info.layer_id)
        self.latest[info.layer_id] = info

    def after(self, module: Module, out: Any) -> None:
        if id(module) not in self.places or threading.get_ident() != self.thread:
            return
        info = self.latest[id(module)]
        info.output_size, elem_bytes = calculate_size(out, self.batch_dim)
        info.output_bytes = elem_bytes * prod(info.output_size)
        info.executed = True
        info.calculate_macs()


def _add_missing_container_layers(rows: list[LayerInfo]) -> None:
    """Insert the containers that were never called (a ModuleList) above their children."""
    layer_ids = {r.layer_id for r in rows}
    current: dict[int, LayerInfo] = {}
    # torchinfo inserts into the list it is enumerating; the same walk gives the same rows.
    for idx, info in enumerate(rows):
        rel_idx = 0
        hierarchy = {}
        parent = info.parent_info
        while parent is not None and parent.depth > 0:
            hierarchy[parent.depth] = parent
            parent = parent.parent_info
        for d in range(1, info.depth):
            if (d not in current or current[d].module is not hierarchy[d].module) and hierarchy[
                d
            ] is not rows[idx + rel_idx - 1]:
                hierarchy[d].calculate_num_params()
                hierarchy[d].check_recursive(layer_ids)
                rows.insert(idx + rel_idx, hierarchy[d])
                layer_ids.add(hierarchy[d].layer_id)
                current[d] = hierarchy[d]
                rel_idx += 1
        current[info.depth] = info
        d = info.depth + 1
        while d in current:
            current.pop(d)
            d += 1


def _set_children_layers(rows: list[LayerInfo]) -> None:
    counters: dict[int, int] = {}
    for i, row in enumerate(rows):
        counters[row.depth] = counters.get(row.depth, 0) + 1
        row.depth_index = counters[row.depth]
        row.children = children_layers(rows, i)


def _in_mode(model: Module, training: bool) -> Module:
    """A copy of ``model`` (sharing kept) in train or eval mode; ``model`` is untouched."""
    copy = rebuild(model, lambda module, name, kind, value: value)
    for m in copy.modules():
        object.__setattr__(m, "training", training)
    return copy


def _forward_pass(
    model: Module, args: tuple, kwargs: dict, batch_dim: int | None, training: bool
) -> list[LayerInfo]:
    hooks = _Hooks(batch_dim)
    if args is None:
        hooks.walk(model, run_now=True)
        _set_children_layers(hooks.summary_list)
        return hooks.summary_list
    run_model = _in_mode(model, training)
    hooks.walk(run_model, run_now=False)
    dynamic, static = eqx.partition((args, kwargs), _is_array)

    def run(dynamic: Any) -> Any:
        a, k = eqx.combine(dynamic, static)
        # A key scope: training-mode Dropout runs without the caller passing a key (the
        # summary draws no random number that matters: only shapes come out).
        with _random.forward_key(jax.random.key(0)):
            # Through jaxnn.forward: a training-mode BatchNorm's buffer update is not "dropped".
            return _state.forward(run_model, *a, **k)[0]

    _module._call_observers.append(hooks)
    try:
        jax.eval_shape(run, dynamic)
    except Exception as e:
        if hasattr(e, "add_note"):
            done = [r for r in hooks.summary_list if r.executed]
            e.add_note(f"jaxnn.summary: the forward pass failed; layers run before: {done}")
        raise
    finally:
        _module._call_observers.remove(hooks)
    rows = hooks.summary_list
    _add_missing_container_layers(rows)
    _set_children_layers(rows)
    # Rows name the user's modules, not the mode-switched copy that ran.
    originals = {
        id(c): m
        for (_, c), (_, m) in zip(
            run_model.named_modules(remove_duplicate=False),
            model.named_modules(remove_duplicate=False),
            strict=True,
        )
    }
    for row in rows:
        row.module = originals[row.layer_id]
        row.layer_id = id(row.module)
    return rows


# ---------------------------------------------------------------------- inputs
def _jax_dtype(dtype: Any) -> Any:
    if _is_torch(dtype, "dtype"):  # torch.float16 -> "float16"
        dtype = str(dtype).removeprefix("torch.")
    return jax.dtypes.canonicalize_dtype(dtype)


def _input_sizes(input_size: Any) -> list[tuple[int, ...]]:
    """torchinfo's forms: ``(1, 28, 28)``, ``[1, 28, 28]``, ``[(1, 5), (1, 3)]``,
    ``((1, 5), (1, 3))``."""
    if not isinstance(input_size, list | tuple):
        raise TypeError(
            f"input_size must be a shape (tuple of ints) or a list of shapes, got "
            f"{type(input_size).__name__} {input_size!r}; pass arrays as input_data=."
        )

    def flat(seq: Any) -> Iterable[Any]:
        for item in seq:
            yield from flat(item) if isinstance(item, list | tuple) else (item,)

    if not input_size or any(not isinstance(s, int) or s <= 0 for s in flat(input_size)):
        raise ValueError(
            f"input_size={input_size!r}: every size must be a positive int, e.g. (1, 1, 28, 28)."
        )
    if isinstance(input_size[0], int):
        return [tuple(input_size)]
    return [tuple(s) for s in input_size]


def _to_input(value: Any) -> Any:
    if _is_torch(value):
        return _to_array(value, "input_data")
    return value


def _prepare_inputs(
    input_size: Any, input_data: Any, batch_dim: int | None, dtypes: Sequence[Any] | None
) -> tuple[tuple | None, dict, Any]:
    """``(args, kwargs, input_size as reported)``; ``args`` is None without an input."""
    if input_data is not None:
        data = jax.tree_util.tree_map(_to_input, input_data)
        if isinstance(data, Mapping):
            args, kwargs = (), dict(data)
        elif isinstance(data, list | tuple):
            args, kwargs = tuple(data), {}
        else:
            args, kwargs = (data,), {}
        sizes = jax.tree_util.tree_map(
            lambda x: tuple(x.shape) if _is_array(x) else x, data, is_leaf=_is_array
        )
        return args, kwargs, sizes
    if input_size is None:
        return None, {}, []
    sizes = _input_sizes(input_size)
    if dtypes is None:
        dtypes = [jnp.float32] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(
            f"dtypes has {len(dtypes)} entries for {len(sizes)} input sizes {sizes}: give one "
            f"dtype per input, e.g. dtypes=[jnp.int32] for one integer input."
        )
    args = []
    for size, dtype in zip(sizes, dtypes, strict=True):
        shape = list(size)
        if batch_dim is not None:  # torchinfo: input_tensor.unsqueeze(batch_dim)
            shape.insert(batch_dim if batch_dim >= 0 else len(shape) + batch_dim + 1, 1)
        args.append(jax.ShapeDtypeStruct(tuple(shape), _jax_dtype(dtype)))
    return tuple(args), {}, sizes


def _input_bytes(args: Any, kwargs: dict) -> int:
    arrays = [x for x in jax.tree_util.tree_leaves((args, kwargs)) if _is_array(x)]
    return sum(prod(x.shape) * _itemsize(x) + _TORCH_STORAGE_HEADER for x in arrays)


def _choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {list(allowed)}.")
    return value


def summary(
    model: Module,
    input_size: Any = None,
    input_data: Any = None,
    batch_dim: int | None = None,
    cache_forward_pass: bool | None = None,
    col_names: Iterable[str] | None = None,
    col_width: int = 25,
    depth: int = 3,
    device: Any = None,
    dtypes: Sequence[Any] | None = None,
    mode: str | None = None,
    row_settings: Iterable[str] | None = None,
    verbose: int | None = None,
    **kwargs: Any,
) -> Summary:
    """Summarise ``model`` as ``torchinfo.summary`` does: the same arguments, table and numbers.

    Each module call is a row (a layer called twice has two rows, the second marked
    "(recursive)"), nested as the model is, down to ``depth``. Mult-adds, parameter counts
    and the memory estimates are torchinfo's (its counting rules are described in
    ``jaxnn._summary_layer``). Nothing runs on a device: output shapes come from
    ``jax.eval_shape``.

    Args:
        model: a jaxnn Module.
        input_size: the input's shape with the batch dimension (``(1, 1, 28, 28)``), a list
            of shapes for several inputs, or an example input (array, ``jax.ShapeDtypeStruct``,
            torch tensor), which is ``input_data``.
        input_data: the forward's arguments: an array, a list/tuple of positional arguments,
            or a dict of keyword arguments.
        batch_dim: insert a batch dimension of 1 at this position of each ``input_size``.
        cache_forward_pass: accepted for torchinfo's signature; nothing is cached, the
            shape-only pass is cheap and never returns rows of an older model.
        col_names: columns among ``"input_size"``, ``"output_size"``, ``"num_params"``,
            ``"params_percent"``, ``"kernel_size"``, ``"mult_adds"``, ``"trainable"``.
            Default ``("output_size", "num_params")`` (``("num_params",)`` without input).
        col_width: width of each column. Default 25.
        depth: rows nested deeper than this are not shown (they still count). Default 3.
        device: accepted for torchinfo's signature; no device runs anything (shapes only).
        dtypes: one dtype per ``input_size`` (jax or torch dtypes). Default float32.
        mode: ``"eval"`` (default, as torchinfo) or ``"train"``; both give the same numbers.
            The summary runs a copy in that mode: ``model`` is not changed, and a
            training-mode Dropout needs no key.
        row_settings: among ``"depth"`` (default), ``"var_names"``, ``"ascii_only"``,
            ``"hide_recursive_layers"``.
        verbose: 0 quiet, 1 print the table, 2 also one row per weight and bias. Default 1,
            or 0 in an interactive session (the returned value displays itself).
        **kwargs: further keyword arguments of the model's forward.

    Returns:
        A :class:`Summary` (torchinfo's ``ModelStatistics``): ``str`` is the table, the
        attributes hold the numbers.

    Differences from torchinfo: integer inputs are int32 (JAX's default), so their bytes
    are half of torch's int64; modules called inside ``jax.lax.scan``/``vmap`` in a custom
    forward are seen once per trace, not once per step.

    >>> import jaxnn as nn
    >>> model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    >>> s = nn.summary(model, input_size=(1, 784), verbose=0)
    >>> s.total_params, s.total_mult_adds, s.summary_list[1].output_size
    (25450, 25450, [1, 32])
    >>> print(s)  # doctest: +NORMALIZE_WHITESPACE
    ==========================================================================================
    Layer (type:depth-idx)                   Output Shape              Param #
    ==========================================================================================
    Sequential                               [1, 10]                   --
    ├─Linear: 1-1                            [1, 32]                   25,120
    ├─ReLU: 1-2                              [1, 32]                   --
    ├─Linear: 1-3                            [1, 10]                   330
    ==========================================================================================
    Total params: 25,450
    Trainable params: 25,450
    Non-trainable params: 0
    Total mult-adds (M): 0.03
    ==========================================================================================
    Input size (MB): 0.00
    Forward/backward pass size (MB): 0.00
    Params size (MB): 0.10
    Estimated Total Size (MB): 0.11
    ==========================================================================================
    """
    del cache_forward_pass, device  # see Args: nothing to cache, no device used
    if not isinstance(model, Module):
        raise TypeError(
            f"summary(model, ...) takes a jaxnn Module, got {type(model).__name__}; "
            f"convert a torch model first with jaxnn.from_torch(model)."
        )
    if input_size is not None and _is_array(input_size):
        if input_data is not None:
            raise ValueError("Pass the input once: input_size=shape or input_data=array.")
        input_size, input_data = None, input_size
    if input_data is not None and input_size is not None:
        raise ValueError("Only one of input_data and input_size can be given.")
    has_input = input_data is not None or input_size is not None
    if col_names is None:
        columns = ("output_size", "num_params") if has_input else ("num_params",)
    else:
        columns = tuple(_choice(c, COLUMNS, "col_names entry") for c in col_names)
    needs_input = {"input_size", "output_size", "mult_adds"} & set(columns)
    if needs_input and not has_input:
        raise ValueError(
            f"columns {sorted(needs_input)} need an input: pass input_size=(1, ...) or "
            f"input_data=x."
        )
    rows = {"depth"} if row_settings is None else set(row_settings)
    for r in rows:
        _choice(r, ROW_SETTINGS, "row_settings entry")
    mode = _choice("eval" if mode is None else mode, ("train", "eval"), "mode")
    if verbose is None:
        verbose = 0 if hasattr(sys, "ps1") else 1
    _choice(verbose, (0, 1, 2), "verbose")
    if isinstance(col_width, bool) or not isinstance(col_width, int) or col_width <= 0:
        raise ValueError(f"col_width must be a positive int, got {col_width!r}.")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be an int >= 0, got {depth!r}.")

    args, call_kwargs, sizes = _prepare_inputs(input_size, input_data, batch_dim, dtypes)
    total_input = 0 if args is None else _input_bytes(args, call_kwargs)
    call_kwargs = {**call_kwargs, **jax.tree_util.tree_map(_to_input, kwargs)}
    summary_list = _forward_pass(model, args, call_kwargs, batch_dim, mode == "train")
    formatting = Formatting(depth, verbose, columns, col_width, rows)
    result = Summary(summary_list, sizes, total_input, formatting)
    if verbose:
        print(result)
    return result
