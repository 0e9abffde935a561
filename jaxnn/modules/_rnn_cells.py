"""The cell modules RNNCell, LSTMCell and GRUCell, and the helpers they share with the
stacked layers in ``recurrent`` (initialisation, input and flag checks).

The maths, cells and scanned sequence alike, lives in ``jaxnn.functional._recurrent``;
``recurrent`` re-exports the cells.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import init
from .._module import Module
from .._random import as_key
from ..functional._recurrent import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from ._utils import check_positive_int, factory_dtype, place


def _bucket(n: int) -> int:
    """Round a draw size up (at most 12.5%, at least 4096) so few sizes ever compile."""
    if n <= 4096:
        return 4096
    step = 1 << ((n - 1).bit_length() - 3)
    return -(-n // step) * step


def init_uniform(
    key: jax.Array | None, shapes: tuple, hidden_size: int, dtype: Any, device: Any
) -> tuple[jax.Array, ...]:
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
