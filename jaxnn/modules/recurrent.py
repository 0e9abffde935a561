"""Recurrent layers: RNN, LSTM, GRU (and, from ``_rnn_cells``, their one-step cells).

The stacked layers keep torch's parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0`` ...), shapes, gate order and registration order, so a torch
``state_dict`` loads as is. Their number depends on ``num_layers``, so they are stored in
one tuple (a pytree child) beside a static tuple of names; ``lstm.weight_ih_l0`` reads one.

The maths lives in ``jaxnn.functional._recurrent``: time steps run in one
``jax.lax.scan`` (no unrolling: a 10,000-step sequence compiles to the same program as a
10-step one) with the input projection of all steps hoisted into one matmul.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._module import Module, _to_array, check_mutable
from .._random import check_key, draw_forward_key, key_hint
from ..functional._recurrent import rnn_sequence
from ._rnn_cells import (
    GRUCell,
    LSTMCell,
    RNNCell,
    RNNCellBase,
    _check_dtype,
    _check_flag,
    as_array,
    init_uniform,
)
from ._utils import factory_dtype

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _caller_level() -> int:
    """``stacklevel`` for a warning issued here that points at the user's line, past the
    constructors of jaxnn and Equinox."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("jaxnn.", "equinox")
    ):
        frame, level = frame.f_back, level + 1
    return level


def _check_size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} should be of type int, got: {type(value).__name__} ({name}={value!r})."
        )
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {name}={value}.")
    return value


class RNNBase(Module):
    """Shared storage, checks and forward of RNN, LSTM and GRU (torch's ``nn.RNNBase``).

    ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``; use the subclasses.
    """

    _flat_weights: tuple = eqx.field()
    _flat_weights_names: tuple = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)
    num_layers: int = eqx.field(static=True)
    bias: bool = eqx.field(static=True)
    batch_first: bool = eqx.field(static=True)
    dropout: float = eqx.field(static=True)
    bidirectional: bool = eqx.field(static=True)
    proj_size: int = eqx.field(static=True)

    _uses_key = True  # dropout between layers in training mode

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode!r}; expected one of {sorted(_GATES)}.")
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                f"element being zeroed, got dropout={dropout!r}."
            )
        self.bias = _check_flag(bias, "bias")
        self.batch_first = _check_flag(batch_first, "batch_first")
        self.bidirectional = _check_flag(bidirectional, "bidirectional")
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.num_layers = _check_size(num_layers, "num_layers")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(
                f"proj_size should be a positive integer or zero to disable projections, got {proj_size!r}."
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
                f"hidden_size={hidden_size}."
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=_caller_level(),
            )
        self.mode = mode
        self.dropout = float(dropout)
        self.proj_size = proj_size
        dtype = factory_dtype(dtype)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        dirs = 2 if bidirectional else 1
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * dirs
            for direction in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes += [
                    (f"weight_ih{sfx}", (gate_size, layer_input)),
                    (f"weight_hh{sfx}", (gate_size, real_hidden)),
                ]
                if bias:
                    shapes += [(f"bias_ih{sfx}", (gate_size,)), (f"bias_hh{sfx}", (gate_size,))]
                if proj_size > 0:
                    shapes += [(f"weight_hr{sfx}", (proj_size, hidden_size))]
        self._flat_weights_names = tuple(n for n, _ in shapes)
        self._flat_weights = init_uniform(
            key, tuple(s for _, s in shapes), hidden_size, dtype, device
        )

    # ------------------------------------------------------------------ parameter storage
    def _named_members_own(self) -> Iterator[tuple[str, Any, str]]:
        for name, value in zip(self._flat_weights_names, self._flat_weights, strict=True):
            if value is not None:
                yield name, value, "param"

    def _stored_members(self) -> Iterator[tuple[str, Any, str]]:
        yield from self._named_members_own()

    def _set_member(self, name: str, value: Any) -> None:
        weights = list(self._flat_weights)
        weights[self._flat_weights_names.index(name)] = value
        object.__setattr__(self, "_flat_weights", tuple(weights))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the parameters by torch's names.
        if name.startswith("_"):
            raise AttributeError(name)
        d = object.__getattribute__(self, "__dict__")
        names = d.get("_flat_weights_names", ())
        if name in names:
            return d["_flat_weights"][names.index(name)]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        names = self.__dict__.get("_flat_weights_names", ())
        if name in names:  # rnn.weight_hh_l0 = new_array, as in torch (guarded under jit)
            value = _to_array(value, name)
            check_mutable(self, f"{name} = ...", value)
            self._set_member(name, value)
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._flat_weights_names))

    @property
    def all_weights(self) -> list[list[jax.Array]]:
        """The parameters grouped per layer and direction, as torch's ``all_weights``."""
        per = len(self._flat_weights) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [list(w[i : i + per]) for i in range(0, len(w), per)]

    def flatten_parameters(self) -> None:
        """No-op kept for torch code (cuDNN weight packing has no JAX counterpart)."""

    # ------------------------------------------------------------------ forward
    def _layer_weights(self) -> tuple[dict[str, jax.Array | None], ...]:
        params = dict(zip(self._flat_weights_names, self._flat_weights, strict=True))
        out = []
        for layer in range(self.num_layers):
            for direction in range(2 if self.bidirectional else 1):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                out.append({k: params.get(f"{n}{sfx}") for k, n in _KEYS})
        return tuple(out)

    def _check_hidden(
        self, h: jax.Array, expected: tuple[int, ...], batched: bool, what: str, msg: str
    ) -> jax.Array:
        name = type(self).__name__
        if h.ndim != (3 if batched else 2):
            kind, d = ("batched 3-D", 3) if batched else ("unbatched 2-D", 2)
            raise RuntimeError(
                f"For {kind} input, {what} should also be {d}-D but got {h.ndim}-D tensor"
            )
        if not batched:
            h = h[:, None]
        if tuple(h.shape) != expected:
            raise RuntimeError(
                msg.format(expected, list(h.shape))
                + f"; {name} expects (D*num_layers, N, H) = {expected}"
                + ("" if batched else " (with N = 1 for an unbatched input, given without it)")
            )
        _check_dtype(name, h, self._flat_weights[0], what)
        return h

    def forward(self, input: jax.Array, hx: Any = None, *, key: jax.Array | None = None) -> Any:
        """Run the stack over ``input``; returns ``(output, h_n)`` or, for LSTM, ``(output, (h_n, c_n))``.

        ``key`` drives the dropout between layers in training mode (needed only then).
        """
        name = type(self).__name__
        input = as_array(input, name, "input", sequence=True)
        if hx is not None and self.mode == "LSTM":
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(f"LSTM: hx must be a pair (h_0, c_0), got {type(hx).__name__}.")
            hx = (as_array(hx[0], name, "h_0"), as_array(hx[1], name, "c_0"))
        elif hx is not None:
            if isinstance(hx, tuple | list):
                raise TypeError(
                    f"{name}: hx must be one array h_0 (a pair (h_0, c_0) is for LSTM), got a "
                    f"{type(hx).__name__}."
                )
            hx = as_array(hx, name, "hx")
        if self.training and 0 < self.dropout < 1 and self.num_layers > 1:
            key = draw_forward_key() if key is None else key
            if key is None:
                raise ValueError(
                    f"{name}(dropout={self.dropout}) in training mode drops between layers and "
                    f"needs a PRNG key: call the model with key=; "
                    + key_hint()
                    + "; or call model.eval() for inference."
                )
            key = check_key(key)
        else:
            key = None
        # One jitted call: an eager forward compiles once per shape and configuration and
        # then dispatches a single program (layout changes and zeros included).
        return _jit_forward(self, input, hx, key)

    def _forward(self, input: jax.Array, hx: Any, key: jax.Array | None) -> Any:
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead: pass "
                f"(L, N, H_in), (N, L, H_in) with batch_first=True, or unbatched (L, H_in)."
            )
        _check_dtype(name, input, self._flat_weights[0])
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{input.shape[-1]} (input shape {tuple(input.shape)})."
            )
        batched = input.ndim == 3
        if not batched:
            x = input[:, None]
        else:
            x = jnp.swapaxes(input, 0, 1) if self.batch_first else input
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h_shape = (layers, x.shape[1], self.proj_size or self.hidden_size)
        c_shape = (layers, x.shape[1], self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = jnp.zeros(h_shape, x.dtype)
            state: Any = (h0, jnp.zeros(c_shape, x.dtype)) if lstm else h0
        elif lstm:
            dims = [hx[0].ndim, hx[1].ndim]
            d = 3 if batched else 2
            if dims != [d, d]:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {d}-D but got "
                    f"({dims[0]}-D, {dims[1]}-D) tensors"
                )
            state = (
                self._check_hidden(
                    hx[0], h_shape, batched, "h_0", "Expected hidden[0] size {}, got {}"
                ),
                self._check_hidden(
                    hx[1], c_shape, batched, "c_0", "Expected hidden[1] size {}, got {}"
                ),
            )
        else:
            state = self._check_hidden(
                hx, h_shape, batched, "hx", "Expected hidden size {}, got {}"
            )
        out, state = rnn_sequence(
            self.mode,
            x,
            state,
            self._layer_weights(),
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            training=self.training and self.dropout > 0,
            key=key,
        )
        if not batched:
            out = out[:, 0]
            state = (state[0][:, 0], state[1][:, 0]) if lstm else state[:, 0]
        elif self.batch_first:
            out = jnp.swapaxes(out, 0, 1)
        return out, state

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


@jax.jit
def _jit_forward(module: RNNBase, input: jax.Array, hx: Any, key: jax.Array | None) -> Any:
    return module._forward(input, hx, key)


_KEYS = (
    ("w_ih", "weight_ih"),
    ("w_hh", "weight_hh"),
    ("b_ih", "bias_ih"),
    ("b_hh", "bias_hh"),
    ("w_hr", "weight_hr"),
)


class RNN(RNNBase):
    r"""Multi-layer Elman RNN: :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    ``nonlinearity='relu'`` uses ReLU instead of tanh. In training mode with ``dropout > 0``
    each layer's output but the last goes through dropout (pass ``key=``).

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        num_layers: stacked recurrent layers (default 1).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        bias: use ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are ``(N, L, H)`` instead of ``(L, N, H)``.
        dropout: dropout probability between layers in training mode (default 0).
        bidirectional: run a second, reversed pass and concatenate (default False).
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation, U(-1/√hidden_size, 1/√hidden_size).

    Shape (D = 2 if bidirectional else 1; H_out = hidden_size):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first=True``, or unbatched ``(L, H_in)``.
        - hx: ``(D*num_layers, N, H_out)`` or unbatched ``(D*num_layers, H_out)``; zeros when omitted.
        - output: ``(L, N, D*H_out)`` (``(N, L, D*H_out)`` with ``batch_first``, ``(L, D*H_out)`` unbatched).
        - h_n: like hx; the last step of each layer and direction.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> rnn = nn.RNN(10, 20, 2)
    >>> output, hn = rnn(jnp.ones((5, 3, 10)), jnp.zeros((2, 3, 20)))
    >>> output.shape, hn.shape
    ((5, 3, 20), (2, 3, 20))
    """

    nonlinearity: str = eqx.field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            key=key,
        )


class LSTM(RNNBase):
    r"""Multi-layer long short-term memory RNN, gates in torch's order i, f, g, o.

    .. math::
        c_t = \sigma(f_t) c_{t-1} + \sigma(i_t) \tanh(g_t), \quad
        h_t = \sigma(o_t) \tanh(c_t)

    with ``proj_size > 0`` the hidden state is projected, :math:`h_t = W_{hr} h_t`
    (``weight_hr_l{k}`` of shape ``(proj_size, hidden_size)``), and the cell state keeps
    ``hidden_size`` features. ``hx`` and the returned state are pairs ``(h, c)``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as :class:`RNN`.
        proj_size: size of the projected hidden state; 0 (default) disables it.
        device, dtype, key: as :class:`RNN`.

    Shape (D = 2 if bidirectional else 1; H_out = proj_size or hidden_size):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first=True``, or unbatched ``(L, H_in)``.
        - hx: ``(D*num_layers, N, H_out)`` or unbatched ``(D*num_layers, H_out)``; zeros when omitted.
        - output: ``(L, N, D*H_out)`` (``(N, L, D*H_out)`` with ``batch_first``, ``(L, D*H_out)`` unbatched).
        - h_n: like hx; the last step of each layer and direction.
        - c_0, c_n: ``(D*num_layers, N, hidden_size)`` (unbatched without N).

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> lstm = nn.LSTM(10, 20, 2)
    >>> output, (hn, cn) = lstm(jnp.ones((5, 3, 10)))
    >>> output.shape, hn.shape, cn.shape
    ((5, 3, 20), (2, 3, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            key=key,
        )


class GRU(RNNBase):
    r"""Multi-layer gated recurrent unit RNN, gates in torch's order r, z, n.

    .. math::
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \quad
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        device, dtype, key: as :class:`RNN`.

    Shape (D = 2 if bidirectional else 1; H_out = hidden_size):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first=True``, or unbatched ``(L, H_in)``.
        - hx: ``(D*num_layers, N, H_out)`` or unbatched ``(D*num_layers, H_out)``; zeros when omitted.
        - output: ``(L, N, D*H_out)`` (``(N, L, D*H_out)`` with ``batch_first``, ``(L, D*H_out)`` unbatched).
        - h_n: like hx; the last step of each layer and direction.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> gru = nn.GRU(10, 20, 2, batch_first=True)
    >>> output, hn = gru(jnp.ones((3, 5, 10)))
    >>> output.shape, hn.shape
    ((3, 5, 20), (2, 3, 20))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            key=key,
        )
