"""The maths of torch's recurrent layers: one-step cells and the scanned, stacked sequence.

torch implements these in C++ only (``_VF.rnn_tanh_cell``, ``_VF.lstm``, ...), so there is
no ``torch.nn.functional`` name to mirror and nothing here is in ``__all__``; the modules
``RNN``/``LSTM``/``GRU`` and their cells call these. The cell functions keep ``_VF``'s
argument order ``(input, hx, w_ih, w_hh, b_ih, b_hh)`` and torch's gate order (LSTM i, f,
g, o; GRU r, z, n).

Speed comes from these choices (measurements in docs/PERFORMANCE.md). The input
projection ``W_ih x + b_ih`` does not depend on the recurrence, so it is computed for every
time step in one matmul before the loop (hoisted); only ``W_hh h`` stays inside. The loop
over time is one ``jax.lax.scan``: the program has the same size for 10 steps as for
10,000, and compiles once per shape. ``W_hh`` enters the loop already transposed, and the
LSTM gate nonlinearities are one fused block (see ``_lstm_post``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._activation import relu
from ._activation_smooth import sigmoid, tanh
from ._dropout import dropout as _dropout
from ._linear import linear

__all__: list[str] = []

Array = jax.Array
State = tuple[Array, ...]  # (h,) or LSTM's (h, c); h is what W_hh multiplies

# ----------------------------------------------------------------------------- one step
# Each ``_*_post`` takes ``gi = W_ih x + b_ih`` and ``gh = W_hh h + b_hh`` already computed,
# so the same maths serves the cells (one step) and the scanned sequence (input projection
# hoisted out of the loop). The recurrent weights may carry a leading direction axis D: a
# bidirectional layer runs both directions in one scan as a batched matmul (one loop to
# compile and run, not two).


def _hh(h: Array, w: Array, b: Array | None) -> Array:
    """``h W^T + b`` for ``h (..., N, H)``, ``w (..., G, H)``, ``b (..., G)``."""
    return _mm(h, jnp.swapaxes(w, -1, -2), b)


def _mm(h: Array, w_t: Array, b: Array | None) -> Array:
    """``h w_t + b`` for ``h (..., N, H)``, ``w_t (..., H, G)``, ``b (..., G)``."""
    out = jnp.matmul(h, w_t)
    return out if b is None else out + jnp.expand_dims(b, -2)


def _rnn_post(gi: Array, gh: Array, s: State, act: Callable) -> State:
    return (act(gi + gh),)


# LSTM's gates go through one sigmoid over the whole (N, 4H) block, not one per gate: the
# values are the same, but XLA on CPU then makes one fusion of it instead of one per slice
# (each recomputing gi + gh); the forward loop ran 1.6-1.8x faster. The g block gets a
# sigmoid it does not use (zero gradient). For GRU the same change did not help.


def _lstm_post(gi: Array, gh: Array, s: State) -> State:
    gates = gi + gh
    hid = gates.shape[-1] // 4
    i, f, _, o = jnp.split(sigmoid(gates), 4, axis=-1)
    c = f * s[1] + i * tanh(gates[..., 2 * hid : 3 * hid])
    return o * tanh(c), c


def _gru_post(gi: Array, gh: Array, s: State) -> State:
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = sigmoid(i_r + h_r)
    z = sigmoid(i_z + h_z)
    # torch's GRU (and cuDNN's): the reset gate multiplies W_hn h + b_hn, bias included.
    n = tanh(i_n + r * h_n)
    return ((1 - z) * n + z * s[0],)


_POST: dict[str, Callable[[Array, Array, State], State]] = {
    "RNN_TANH": functools.partial(_rnn_post, act=tanh),
    "RNN_RELU": functools.partial(_rnn_post, act=relu),
    "LSTM": _lstm_post,
    "GRU": _gru_post,
}


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
    return _rnn_post(linear(input, w_ih, b_ih), _hh(hx, w_hh, b_hh), (hx,), tanh)[0]


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
    return _rnn_post(linear(input, w_ih, b_ih), _hh(hx, w_hh, b_hh), (hx,), relu)[0]


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
    h, c = _lstm_post(linear(input, w_ih, b_ih), _hh(hx[0], w_hh, b_hh), tuple(hx))
    return h, c


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
    return _gru_post(linear(input, w_ih, b_ih), _hh(hx, w_hh, b_hh), (hx,))[0]


# ----------------------------------------------------------------------------- the loop


def _recur(
    mode: str, gi: Array, s0: State, w_hh_t: Array, b_hh: Array | None, w_hr_t: Array | None
) -> tuple[State, Array]:
    """Scan ``s_t = post(gi_t, h_{t-1} W_hh^T + b_hh, s_{t-1})`` over ``gi (L, D, N, G)``.

    Takes the recurrent weights transposed, ``w_hh_t (D, H, G)`` (and LSTM's ``w_hr_t``),
    because XLA does not hoist a transpose out of a while loop: given ``W_hh`` it copies
    the transpose at every step, forward and backward. Returns the final state and every
    step's ``h`` ``(L, D, N, H_out)``.
    """
    post = _POST[mode]

    def body(s: State, g: Array) -> tuple[State, Array]:
        s = post(g, _mm(s[0], w_hh_t, b_hh), s)
        if w_hr_t is not None:  # LSTM with proj_size > 0: h_t = W_hr (o * tanh(c_t))
            s = (_mm(s[0], w_hr_t, None), *s[1:])
        return s, s[0]

    return jax.lax.scan(body, s0, gi)


def _stack(ws: list[dict[str, Array | None]], name: str) -> Array | None:
    return None if ws[0][name] is None else jnp.stack([w[name] for w in ws])


def _stack_t(ws: list[dict[str, Array | None]], name: str) -> Array | None:
    w = _stack(ws, name)
    return None if w is None else jnp.swapaxes(w, -1, -2)


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
    gi = linear(x, jnp.concatenate([w["w_ih"] for w in ws]), b_ih)
    parts = jnp.split(gi, d, axis=-1)
    gi = jnp.stack([parts[0], *(jnp.flip(p, 0) for p in parts[1:])], axis=1)  # (L, D, N, G)
    # W_hh and W_hr are transposed once here: inside the loop XLA would transpose them
    # again at every step (it does not hoist the copy out of the while loop).
    w_hh_t, b_hh, w_hr_t = _stack_t(ws, "w_hh"), _stack(ws, "b_hh"), _stack_t(ws, "w_hr")
    s0 = (h0,) if c0 is None else (h0, c0)
    s, ys = _recur(mode, gi, s0, w_hh_t, b_hh, w_hr_t)
    outs = [ys[:, 0], *(jnp.flip(ys[:, k], 0) for k in range(1, d))]
    return (
        (outs[0] if d == 1 else jnp.concatenate(outs, axis=-1)),
        s[0],
        s[1] if c0 is not None else None,
    )


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

    >>> import jax.numpy as jnp
    >>> w = {"w_ih": jnp.ones((8, 3)), "w_hh": jnp.ones((8, 2)), "b_ih": None, "b_hh": None, "w_hr": None}
    >>> out, (h, c) = rnn_sequence("LSTM", jnp.ones((5, 4, 3)), (jnp.zeros((1, 4, 2)),) * 2,
    ...                            (w,), num_layers=1, bidirectional=False)
    >>> out.shape, h.shape, c.shape
    ((5, 4, 2), (1, 4, 2), (1, 4, 2))
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
            out = _dropout(out, dropout, training=True, key=None if keys is None else keys[layer])
    h_cat = jnp.concatenate(h_n)
    return (out, (h_cat, jnp.concatenate(c_n))) if lstm else (out, h_cat)
