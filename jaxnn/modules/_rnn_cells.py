"""The maths of torch's recurrent layers (cells and the scanned loop) and the cell modules.

torch implements these in C++ only (``_VF.rnn_tanh_cell``, ``_VF.lstm``, ...), so there is
no ``torch.nn.functional`` name to mirror; the cell functions keep ``_VF``'s argument order
``(input, hx, w_ih, w_hh, b_ih, b_hh)`` and torch's gate order (LSTM i, f, g, o; GRU r, z, n).

Speed comes from two choices. The input projection ``W_ih x + b_ih`` does not depend on the
recurrence, so it is computed for every time step in one matmul before the loop (hoisted);
only ``W_hh h`` stays inside. And the loop over time is one ``jax.lax.scan``: the program
has the same size for 10 steps as for 10,000, and compiles once per shape.

The modules RNNCell, LSTMCell and GRUCell live here too, beside their maths; ``recurrent``
holds the stacked layers and re-exports the cells.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import functional as F
from .. import init
from .._module import Module
from .._random import as_key
from ._utils import check_positive_int, factory_dtype, place

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_sequence"]

Array = jax.Array

# ----------------------------------------------------------------------------- one step
# Each ``_*_step`` takes ``gi = W_ih x + b_ih`` already computed, so the same maths serves
# the cells (one step) and the scanned sequence (projection hoisted out of the loop). The
# recurrent weights may carry a leading direction axis D: a bidirectional layer runs both
# directions in one scan as a batched matmul (one loop to compile and run, not two).


def _hh(h: Array, w: Array, b: Array | None) -> Array:
    """``h W^T + b`` for ``h (..., N, H)``, ``w (..., G, H)``, ``b (..., G)``."""
    out = jnp.matmul(h, jnp.swapaxes(w, -1, -2))
    return out if b is None else out + jnp.expand_dims(b, -2)


def _rnn_step(gi: Array, h: Array, w_hh: Array, b_hh: Array | None, act: Callable) -> Array:
    return act(gi + _hh(h, w_hh, b_hh))


def _lstm_step(
    gi: Array, hc: tuple[Array, Array], w_hh: Array, b_hh: Array | None, w_hr: Array | None
) -> tuple[Array, Array]:
    h, c = hc
    gates = gi + _hh(h, w_hh, b_hh)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    if w_hr is not None:  # LSTM with proj_size > 0: h_t = W_hr (o * tanh(c_t))
        h = _hh(h, w_hr, None)
    return h, c


def _gru_step(gi: Array, h: Array, w_hh: Array, b_hh: Array | None) -> Array:
    gh = _hh(h, w_hh, b_hh)
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = F.sigmoid(i_r + h_r)
    z = F.sigmoid(i_z + h_z)
    # torch's GRU (and cuDNN's): the reset gate multiplies W_hn h + b_hn, bias included.
    n = F.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


# ----------------------------------------------------------------------------- cells


@jax.jit
def rnn_tanh_cell(
    input: Array,
    hx: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None = None,
    b_hh: Array | None = None,
) -> Array:
    r"""One Elman RNN step: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`.

    Shape: input ``(N, H_in)``, hx ``(N, H)``, w_ih ``(H, H_in)``, w_hh ``(H, H)``; returns ``(N, H)``.
    """
    return _rnn_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh, F.tanh)


@jax.jit
def rnn_relu_cell(
    input: Array,
    hx: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None = None,
    b_hh: Array | None = None,
) -> Array:
    r"""One Elman RNN step with ReLU: :math:`h' = \max(0, W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`."""
    return _rnn_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh, F.relu)


@jax.jit
def lstm_cell(
    input: Array,
    hx: tuple[Array, Array],
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None = None,
    b_hh: Array | None = None,
) -> tuple[Array, Array]:
    r"""One LSTM step; gates in torch's order i, f, g, o (rows of ``w_ih``/``w_hh``).

    :math:`c' = \sigma(f) c + \sigma(i) \tanh(g)`, :math:`h' = \sigma(o) \tanh(c')`.

    Shape: input ``(N, H_in)``, hx ``((N, H), (N, H))``, w_ih ``(4H, H_in)``, w_hh ``(4H, H)``;
    returns ``(h', c')``.
    """
    return _lstm_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh, None)


@jax.jit
def gru_cell(
    input: Array,
    hx: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None = None,
    b_hh: Array | None = None,
) -> Array:
    r"""One GRU step; gates in torch's order r, z, n.

    :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))`,
    :math:`h' = (1 - z) \odot n + z \odot h`.

    Shape: input ``(N, H_in)``, hx ``(N, H)``, w_ih ``(3H, H_in)``, w_hh ``(3H, H)``; returns ``(N, H)``.
    """
    return _gru_step(F.linear(input, w_ih, b_ih), hx, w_hh, b_hh)


# ----------------------------------------------------------------------------- sequences


def _stack(ws: list[dict[str, Array | None]], name: str) -> Array | None:
    return None if ws[0][name] is None else jnp.stack([w[name] for w in ws])


def _scan_layer(
    mode: str, x: Array, h0: Array, c0: Array | None, ws: list[dict[str, Array | None]]
) -> tuple[Array, Array, Array | None]:
    """One layer, all its directions in one scan, over a time-major ``(L, N, H_in)`` input.

    ``h0``/``c0`` are ``(D, N, H)``; returns the output ``(L, N, D*H_out)`` and the final
    states ``(D, N, H)``. The reverse direction scans the time-flipped projection.
    """
    d = len(ws)
    b_ih = None if ws[0]["b_ih"] is None else jnp.concatenate([w["b_ih"] for w in ws])
    # Hoisted: every time step and direction in one (L*N, H_in) x (H_in, D*G) matmul.
    gi = F.linear(x, jnp.concatenate([w["w_ih"] for w in ws]), b_ih)
    parts = jnp.split(gi, d, axis=-1)
    gi = jnp.stack([parts[0], *(jnp.flip(p, 0) for p in parts[1:])], axis=1)  # (L, D, N, G)
    w_hh, b_hh = _stack(ws, "w_hh"), _stack(ws, "b_hh")
    if mode == "LSTM":
        w_hr = _stack(ws, "w_hr")

        def lstm_body(hc: tuple[Array, Array], g: Array) -> tuple[tuple[Array, Array], Array]:
            hc = _lstm_step(g, hc, w_hh, b_hh, w_hr)
            return hc, hc[0]

        (h, c), ys = jax.lax.scan(lstm_body, (h0, c0), gi)
    else:
        if mode == "GRU":
            step = functools.partial(_gru_step, w_hh=w_hh, b_hh=b_hh)
        else:
            act = F.tanh if mode == "RNN_TANH" else F.relu
            step = functools.partial(_rnn_step, w_hh=w_hh, b_hh=b_hh, act=act)

        def body(h: Array, g: Array) -> tuple[Array, Array]:
            h = step(g, h)
            return h, h

        h, ys = jax.lax.scan(body, h0, gi)
        c = None
    outs = [ys[:, 0], *(jnp.flip(ys[:, k], 0) for k in range(1, d))]
    return (outs[0] if d == 1 else jnp.concatenate(outs, axis=-1)), h, c


@functools.partial(
    jax.jit, static_argnames=("mode", "num_layers", "bidirectional", "dropout", "training")
)
def rnn_sequence(
    mode: str,
    input: Array,
    hx: Array | tuple[Array, Array],
    weights: tuple[dict[str, Array | None], ...],
    *,
    num_layers: int,
    bidirectional: bool,
    dropout: float = 0.0,
    training: bool = False,
    key: Any = None,
) -> tuple[Array, Array | tuple[Array, Array]]:
    """Run a stacked, optionally bidirectional RNN/LSTM/GRU over a time-major sequence.

    Jitted, so an eager call compiles once per shape and configuration, like a fused kernel.

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        input: ``(L, N, H_in)``.
        hx: ``h0`` of shape ``(D*num_layers, N, H_out)``, or ``(h0, c0)`` for LSTM with
            ``c0`` of shape ``(D*num_layers, N, H_cell)``.
        weights: one dict per (layer, direction), in torch's order (layer-major, forward
            then reverse), with keys ``w_ih, w_hh, b_ih, b_hh, w_hr`` (None when absent).
        num_layers, bidirectional: the stack's shape.
        dropout, training, key: dropout on each layer's output except the last, as torch;
            ``key`` is needed when ``training`` and ``0 < dropout < 1``.

    Returns:
        ``(output, h_n)`` or ``(output, (h_n, c_n))``; output ``(L, N, D*H_out)``.
    """
    lstm = mode == "LSTM"
    h0, c0 = hx if lstm else (hx, None)
    d = 2 if bidirectional else 1
    use_dropout = training and dropout > 0 and num_layers > 1
    keys = jax.random.split(key, num_layers - 1) if use_dropout and key is not None else None
    out = input
    h_n, c_n = [], []
    for layer in range(num_layers):
        rows = slice(layer * d, (layer + 1) * d)
        out, h, c = _scan_layer(
            mode, out, h0[rows], None if c0 is None else c0[rows], list(weights[rows])
        )
        h_n.append(h)
        c_n.append(c)
        if use_dropout and layer < num_layers - 1:
            out = F.dropout(out, dropout, training=True, key=None if keys is None else keys[layer])
    h_cat = jnp.concatenate(h_n)
    return (out, (h_cat, jnp.concatenate(c_n))) if lstm else (out, h_cat)


def _bucket(n: int) -> int:
    """Round a draw size up (at most 12.5%, at least 4096) so few sizes ever compile."""
    if n <= 4096:
        return 4096
    step = 1 << ((n - 1).bit_length() - 3)
    return -(-n // step) * step


def init_uniform(
    key: Array | None, shapes: tuple, hidden_size: int, dtype: Any, device: Any
) -> tuple[Array, ...]:
    """torch's ``reset_parameters`` for recurrent layers: all U(-1/√hidden, 1/√hidden).

    One draw for all the parameters, cut on the host: drawing each parameter eagerly would
    compile a program for every distinct shape, which dominated construction time. The
    draw's size is rounded up to a few buckets, so most models reuse a compiled draw.
    """
    bound = 1.0 / math.sqrt(hidden_size)
    sizes = [math.prod(s) for s in shapes]
    size = _bucket(sum(sizes))
    flat = init.uniform_((size,), -bound, bound, key=as_key(key), dtype=factory_dtype(dtype))
    if not isinstance(flat, jax.core.Tracer):  # building inside jit with a traced key: stay in JAX
        flat = np.asarray(flat)
    out, start = [], 0
    for shape, n in zip(shapes, sizes, strict=True):
        out.append(place(jnp.asarray(flat[start : start + n].reshape(shape)), device))
        start += n
    return tuple(out)


def as_array(x: Any, who: str, what: str, *, sequence: bool = False) -> jax.Array:
    """numpy -> jax; anything else that is not an array raises (a sequence input: with the
    way around packed sequences)."""
    if isinstance(x, np.ndarray):
        return jnp.asarray(x)
    if isinstance(x, jax.Array):
        return x
    if not sequence:
        raise TypeError(f"{who}: {what} must be an array, got {type(x).__name__}.")
    raise NotImplementedError(
        f"{who}: {what} must be an array, got {type(x).__name__}. Packed sequences "
        f"(torch.nn.utils.rnn.PackedSequence) are not supported: pad the batch to one "
        f"length and pass the padded (L, N, H_in) array, then read each sequence's "
        f"output at its own last step, out[lengths - 1, jnp.arange(N)] (padding also "
        f"enters the reverse direction of a bidirectional layer)."
    )


def _check_dtype(who: str, x: jax.Array, weight: jax.Array, what: str = "input") -> None:
    if x.dtype != weight.dtype:
        # Module.to only takes floating dtypes: offer it only for a floating input.
        model_fix = (
            f", or convert the model: model.to(jnp.{x.dtype})"
            if jnp.issubdtype(x.dtype, jnp.floating)
            else ""
        )
        raise ValueError(
            f"{who} {what} dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert the {what}: {what}.astype(jnp.{weight.dtype}){model_fix}."
        )


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} should be of type bool, got: {type(value).__name__} ({name}={value!r})."
        )
    return value


# ----------------------------------------------------------------------------- cell modules


class RNNCellBase(Module):
    """Parameters and checks shared by RNNCell, LSTMCell and GRUCell (torch's ``RNNCellBase``).

    ``weight_ih`` is ``(num_chunks*hidden_size, input_size)``, ``weight_hh``
    ``(num_chunks*hidden_size, hidden_size)``, biases ``(num_chunks*hidden_size,)`` or None;
    all drawn from U(-1/√hidden_size, 1/√hidden_size).
    """

    weight_ih: jax.Array
    weight_hh: jax.Array
    bias_ih: jax.Array | None
    bias_hh: jax.Array | None
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)
    bias: bool = eqx.field(static=True)

    _pair = False  # LSTMCell: hx is a pair (h, c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.bias = _check_flag(bias, "bias")
        g = num_chunks * hidden_size
        shapes = ((g, input_size), (g, hidden_size), (g,), (g,))
        w = init_uniform(key, shapes if bias else shapes[:2], hidden_size, dtype, device)
        self.weight_ih, self.weight_hh = w[0], w[1]
        self.bias_ih, self.bias_hh = (w[2], w[3]) if bias else (None, None)

    def forward(self, input: jax.Array, hx: Any = None) -> Any:
        """One step: ``h'`` (LSTMCell: ``(h', c')``) from ``input`` and ``hx`` (zeros if None)."""
        name = type(self).__name__
        input = as_array(input, name, "input", sequence=False)
        if hx is not None and self._pair:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a pair (h, c), got {type(hx).__name__}.")
            hx = (as_array(hx[0], name, "hx[0]"), as_array(hx[1], name, "hx[1]"))
        elif hx is not None:
            hx = as_array(hx, name, "hx")
        # One jitted call, so a Python loop over time steps dispatches one program a step.
        return _jit_cell(self, input, hx)

    def _forward(self, input: jax.Array, hx: Any) -> Any:
        """Check shapes and dtypes, add the batch axis to unbatched input and hx, step."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead: pass "
                f"(N, H_in) or (H_in,)."
            )
        _check_dtype(name, input, self.weight_ih)
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}."
            )
        batched = input.ndim == 2
        x = input if batched else input[None]
        expected = (x.shape[0], self.hidden_size)
        if hx is None:
            zeros = jnp.zeros(expected, x.dtype)
            hs = [zeros, zeros] if self._pair else [zeros]
        else:
            hs = []
            for i, h in enumerate(hx if self._pair else (hx,)):
                label = f"hx[{i}]" if self._pair else "hidden"
                if h.ndim not in (1, 2):
                    raise ValueError(
                        f"{name}: Expected {label} to be 1D or 2D, got {h.ndim}D instead"
                    )
                h = h if batched else h[None]
                if tuple(h.shape) != expected:
                    raise RuntimeError(
                        f"{name}: {label} has shape {tuple(h.shape if batched else h.shape[1:])}, "
                        f"expected {expected if batched else expected[1:]} (batch of the input, "
                        f"hidden_size); an unbatched input takes an unbatched hx."
                    )
                _check_dtype(name, h, self.weight_ih, label)
                hs.append(h)
        out = self._step(x, hs)
        if batched:
            return out
        return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]

    def _step(self, x: jax.Array, hs: list[jax.Array]) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    r"""One Elman RNN step: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})` (or ReLU).

    Args:
        input_size, hidden_size: features of ``x`` and ``h``.
        bias: use ``bias_ih`` and ``bias_hh`` (default True).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        device, dtype, key: as :class:`RNN`.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in)``; hx: ``(N, H)`` or ``(H)``, zeros when omitted.
        - output: ``(N, H)`` or ``(H)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> cell = nn.RNNCell(10, 20)
    >>> cell(jnp.ones((3, 10))).shape
    (3, 20)
    """

    nonlinearity: str = eqx.field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity: {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype, key=key
        )

    def _step(self, x: jax.Array, hs: list[jax.Array]) -> jax.Array:
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return cell(x, hs[0], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(RNNCellBase):
    r"""One LSTM step, gates in torch's order i, f, g, o; returns ``(h', c')``.

    Args:
        input_size, hidden_size: features of ``x`` and ``h``.
        bias: use ``bias_ih`` and ``bias_hh`` (default True).
        device, dtype, key: as :class:`RNN`.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in)``; hx: a pair ``(h, c)`` of ``(N, H)`` or ``(H)``,
          zeros when omitted.
        - output: ``(h', c')``, each ``(N, H)`` or ``(H)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> h, c = nn.LSTMCell(10, 20)(jnp.ones((3, 10)))
    >>> h.shape, c.shape
    ((3, 20), (3, 20))
    """

    _pair = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype, key=key
        )

    def _step(self, x: jax.Array, hs: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
        hc = (hs[0], hs[1])
        return lstm_cell(x, hc, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(RNNCellBase):
    r"""One GRU step, gates in torch's order r, z, n.

    :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))`,
    :math:`h' = (1 - z) \odot n + z \odot h`.

    Args:
        input_size, hidden_size: features of ``x`` and ``h``.
        bias: use ``bias_ih`` and ``bias_hh`` (default True).
        device, dtype, key: as :class:`RNN`.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in)``; hx: ``(N, H)`` or ``(H)``, zeros when omitted.
        - output: ``(N, H)`` or ``(H)``.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> nn.GRUCell(10, 20)(jnp.ones(10)).shape
    (20,)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype, key=key
        )

    def _step(self, x: jax.Array, hs: list[jax.Array]) -> jax.Array:
        return gru_cell(x, hs[0], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


@jax.jit
def _jit_cell(module: RNNCellBase, input: jax.Array, hx: Any) -> Any:
    return module._forward(input, hx)
