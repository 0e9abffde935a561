"""One row of ``jaxnn.summary`` and how the table is laid out, as torchinfo 1.8 does both.

A torchinfo user reads numbers they already know, so each rule here is torchinfo's, kept
even where it is a rough estimate (what a reviewer should know before "fixing" one):

- Mult-adds come from a layer's parameters and its output shape, never from the maths it
  runs: a parameter named ``weight``/``bias`` counts ``numel * N`` (``N``: the output's
  first dimension; for a ``Conv*`` layer ``N * prod(spatial)``), a parameter whose name
  merely contains ``weight``/``bias`` (RNN's ``weight_ih_l0``) counts ``numel * N * T``
  (the first two output dimensions), any other parameter and any layer without parameters
  (pooling, activations, attention's softmax) count 0. So a Linear applied to ``(N, T, F)``
  counts ``N`` rows, not ``N * T``.
- Only leaf layers (no child modules) enter the totals: MultiheadAttention has a child
  (``out_proj``, which it never calls), so neither its mult-adds nor its parameter bytes
  are in ``Total mult-adds`` / ``Params size``; its parameters are in ``Total params``.
- A module called twice has a row per call; the second is "(recursive)" and adds its
  mult-adds and activation bytes again, never its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import jax

COLUMNS = (
    "input_size",
    "output_size",
    "num_params",
    "params_percent",
    "kernel_size",
    "mult_adds",
    "trainable",
)
ROW_SETTINGS = ("depth", "var_names", "ascii_only", "hide_recursive_layers")
HEADER_TITLES = {
    "kernel_size": "Kernel Shape",
    "input_size": "Input Shape",
    "output_size": "Output Shape",
    "num_params": "Param #",
    "params_percent": "Param %",
    "mult_adds": "Mult-Adds",
    "trainable": "Trainable",
}


def prod(values: Iterable[Any]) -> int:
    result = 1
    for v in values:
        result *= prod(v) if isinstance(v, Iterable) else v
    return result


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def _itemsize(x: Any) -> int:
    try:
        return int(x.dtype.itemsize)
    except (AttributeError, TypeError):  # PRNG key arrays have no plain item size
        return 0


def nested_list_size(value: Any) -> tuple[list[int], int]:
    """The shape and item size of the first array in a nested list/tuple/dict."""
    if _is_array(value):
        return list(value.shape), _itemsize(value)
    if not hasattr(value, "__getitem__") or not value:
        return [], 0
    if isinstance(value, dict):
        return nested_list_size(list(value.values()))
    if isinstance(value, list | tuple):
        return nested_list_size(value[0])
    return [], 0


def calculate_size(value: Any, batch_dim: int | None) -> tuple[list[int], int]:
    """The shape a row shows for a layer's inputs or output, and its item size.

    torchinfo's rule: a tuple/list shows its first array (an LSTM's ``(out, (h, c))`` shows
    ``out``), a dict its last value. torchinfo raises on any other type; a jaxnn layer may
    return a pytree (a dataclass, an Equinox module), which shows its first array.
    """
    if value is None:
        return [], 0
    if isinstance(value, list | tuple) and value and _is_array(value[0]):
        size, elem = list(value[0].shape), _itemsize(value[0])
        if batch_dim is not None:
            size = size[:batch_dim] + [1] + size[batch_dim + 1 :]
        return size, elem
    if isinstance(value, dict):
        if not value:
            return [], 0
        size, elem = nested_list_size(list(value.values())[-1])
        if batch_dim is not None:
            size = [size[:batch_dim] + [1] + size[batch_dim + 1 :]]
        return size, elem
    if _is_array(value):
        return list(value.shape), _itemsize(value)
    if isinstance(value, list | tuple):
        size, elem = nested_list_size(value)
        if batch_dim is not None and batch_dim < len(size):
            size[batch_dim] = 1
        return size, elem
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(value) if _is_array(leaf)]
    return (list(leaves[0].shape), _itemsize(leaves[0])) if leaves else ([], 0)


def named_parameters(module: Any) -> list[tuple[str, Any, bool]]:
    """torch's ``module.named_parameters()`` with each parameter's ``requires_grad``."""
    out = []
    seen: set[int] = set()
    for prefix, sub in module.named_modules():
        for name, value, kind in sub._named_members_own():
            if kind != "param" or id(value) in seen:
                continue
            seen.add(id(value))
            out.append((f"{prefix}.{name}" if prefix else name, value, name not in sub._frozen))
    return out


def _kernel_size(module: Any) -> int | list[int] | None:
    k = getattr(module, "kernel_size", None)
    if k is None:
        return None
    return list(k) if isinstance(k, Iterable) else int(k)


class LayerInfo:
    """One row: a module call (or a container that was not called), as torchinfo's
    ``LayerInfo``; the attribute names are torchinfo's."""

    def __init__(
        self, var_name: str, module: Any, depth: int, parent_info: LayerInfo | None = None
    ) -> None:
        self.layer_id = id(module)
        self.module = module
        self.class_name = module._get_name()
        self.inner_layers: dict[str, dict[str, str]] = {}
        self.depth = depth
        self.depth_index: int | None = None
        self.children: list[LayerInfo] = []
        self.executed = False
        self.parent_info = parent_info
        self.var_name = var_name
        self.is_leaf_layer = next(iter(module.children()), None) is None
        self.is_recursive = False
        self.input_size: list[int] = []
        self.output_size: list[int] = []
        self.kernel_size = _kernel_size(module)
        self.trainable_params = 0
        self.num_params = 0
        self.param_bytes = 0
        self.output_bytes = 0
        self.macs = 0

    def __repr__(self) -> str:
        return f"{self.class_name}: {self.depth}"

    @property
    def trainable(self) -> str:
        """'True', 'False', 'Partial' (some parameters frozen) or '--' (no parameters)."""
        if self.num_params == 0:
            return "--"
        if self.trainable_params == 0:
            return "False"
        return "True" if self.num_params == self.trainable_params else "Partial"

    def calculate_num_params(self) -> None:
        self.num_params = self.param_bytes = self.trainable_params = 0
        self.inner_layers = {}
        final_name = ""
        for name, value, trainable in named_parameters(self.module):
            count = int(value.size)
            self.param_bytes += _itemsize(value) * count
            self.num_params += count
            if trainable:
                self.trainable_params += count
            ksize = list(value.shape)
            if name == "weight" and len(ksize) > 1:  # shown as [in, out, *kernel]
                ksize[0], ksize[1] = ksize[1], ksize[0]
            if self.parent_info is not None or "." not in name:
                self.inner_layers[name] = {
                    "kernel_size": str(ksize),
                    "num_params": f"├─{count:,}",
                }
                final_name = name
        if self.inner_layers:
            last = self.inner_layers[final_name]
            last["num_params"] = f"└─{last['num_params'][2:]}"

    def calculate_macs(self) -> None:
        out = self.output_size
        for name, value, _ in named_parameters(self.module):
            count = int(value.size)
            if name in ("weight", "bias"):
                if "Conv" in self.class_name:  # batch times output positions, not channels
                    self.macs += count * prod(out[:1] + out[2:])
                else:
                    self.macs += count * prod(out[:1])
            elif "weight" in name or "bias" in name:  # RNN weights: batch times steps
                self.macs += count * prod(out[:2])

    def check_recursive(self, layer_ids: set[int]) -> None:
        if self.layer_id in layer_ids:
            self.is_recursive = True

    def get_layer_name(self, show_var_name: bool, show_depth: bool) -> str:
        name = self.class_name
        if show_var_name and self.var_name:
            name += f" ({self.var_name})"
        if show_depth and self.depth > 0:
            name += f": {self.depth}"
            if self.depth_index is not None:
                name += f"-{self.depth_index}"
        return name

    def leftover_params(self) -> int:
        """Parameters of this layer not shown in a row below it."""
        return self.num_params - sum(
            c.num_params if c.is_leaf_layer else c.leftover_params()
            for c in self.children
            if not c.is_recursive
        )

    def leftover_trainable_params(self) -> int:
        return self.trainable_params - sum(
            c.trainable_params if c.is_leaf_layer else c.leftover_trainable_params()
            for c in self.children
            if not c.is_recursive
        )

    # ------------------------------------------------------------------ cells
    def macs_to_str(self, reached_max_depth: bool) -> str:
        if self.macs <= 0:
            return "--"
        if self.is_leaf_layer:
            return f"{self.macs:,}"
        if reached_max_depth:
            return f"{sum(c.macs for c in self.children if c.is_leaf_layer):,}"
        return "--"

    def num_params_to_str(self, reached_max_depth: bool) -> str:
        if self.num_params == 0:
            return "--"
        if self.is_recursive:
            return "(recursive)"
        if reached_max_depth or self.is_leaf_layer:
            text = f"{self.num_params:,}"
            return text if self.trainable_params else f"({text})"
        leftover = self.leftover_params()
        return f"{leftover:,}" if leftover > 0 else "--"

    def params_percent(self, total_params: int, reached_max_depth: bool) -> str:
        zero = "     --"
        if total_params == 0:
            return zero
        if self.is_recursive:
            return "(recursive)"
        params = (
            self.num_params if reached_max_depth or self.is_leaf_layer else self.leftover_params()
        )
        return zero if params == 0 else f"{params / total_params:>7.2%}"


def children_layers(rows: list[LayerInfo], index: int) -> list[LayerInfo]:
    """Every row after ``rows[index]`` until one at its depth or above."""
    depth = rows[index].depth
    end = index + 1
    while end < len(rows) and rows[end].depth > depth:
        end += 1
    return rows[index + 1 : end]


class Formatting:
    """torchinfo's ``FormattingOptions``: column layout and the tree drawing."""

    def __init__(
        self,
        max_depth: int,
        verbose: int,
        col_names: tuple[str, ...],
        col_width: int,
        row_settings: set[str],
    ) -> None:
        self.max_depth = max_depth
        self.verbose = verbose
        self.col_names = col_names
        self.col_width = col_width
        self.row_settings = row_settings
        self.layer_name_width = 40
        self.ascii_only = "ascii_only" in row_settings
        self.show_var_name = "var_names" in row_settings
        self.show_depth = "depth" in row_settings
        self.hide_recursive_layers = "hide_recursive_layers" in row_settings

    def get_start_str(self, depth: int) -> str:
        if depth == 0:
            return ""
        if depth == 1:
            return "+ " if self.ascii_only else "├─"
        bar, tip = ("|    ", "+ ") if self.ascii_only else ("│    ", "└─")
        return bar * (depth - 1) + tip

    def set_layer_name_width(self, rows: list[LayerInfo], align: int = 5) -> None:
        longest = max(
            (
                len(r.get_layer_name(self.show_var_name, self.show_depth)) + r.depth * align + 1
                for r in rows
            ),
            default=0,
        )
        if longest >= self.layer_name_width:
            self.layer_name_width = math.ceil(longest / align) * align

    def get_total_width(self) -> int:
        return len(self.col_names) * self.col_width + self.layer_name_width

    def format_row(self, layer_name: str, values: dict[str, str]) -> str:
        line = f"{layer_name:<{self.layer_name_width}} "
        for col in self.col_names:
            line += f"{values.get(col, ''):<{self.col_width}} "
        return line.rstrip() + "\n"

    def header_row(self) -> str:
        suffix = (" (var_name)" if self.show_var_name else "") + (
            ":depth-idx" if self.show_depth else ""
        )
        return self.format_row(f"Layer (type{suffix})", HEADER_TITLES)

    def layer_to_row(self, row: LayerInfo, reached_max_depth: bool, total_params: int) -> str:
        values = {
            "kernel_size": str(row.kernel_size) if row.kernel_size else "--",
            "input_size": str(row.input_size) if row.input_size else "--",
            "output_size": str(row.output_size) if row.output_size else "--",
            "num_params": row.num_params_to_str(reached_max_depth),
            "params_percent": row.params_percent(total_params, reached_max_depth),
            "mult_adds": row.macs_to_str(reached_max_depth),
            "trainable": row.trainable,
        }
        name = row.get_layer_name(self.show_var_name, self.show_depth)
        line = self.format_row(self.get_start_str(row.depth) + name, values)
        if self.verbose == 2:
            prefix = self.get_start_str(row.depth + 1)
            for inner_name, inner in row.inner_layers.items():
                line += self.format_row(prefix + inner_name, inner)
        return line

    def layers_to_str(self, rows: list[LayerInfo], total_params: int) -> str:
        text = ""
        for row in rows:
            if row.depth > self.max_depth or (self.hide_recursive_layers and row.is_recursive):
                continue
            text += self.layer_to_row(row, row.depth == self.max_depth, total_params)
        return text
