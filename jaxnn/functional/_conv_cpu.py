"""How a convolution is computed: the formulation chosen per backend and shape.

``F.conv*d`` (and the transposed convolutions) validate their arguments in ``_conv`` and
then call :func:`convolve` with an ``(N, C, *spatial)`` input and an ``(O, C/groups,
*kernel)`` weight. Three formulations give the same numbers (each is checked against
torch, forward and gradients, by ``tests/functional/test_fast_paths.py``):

``"lax"``
    One ``lax.conv_general_dilated`` in torch's NCHW layout, differentiated by JAX. The
    default off CPU: GPU and TPU compilers pick their own layouts and kernels.
``"channels_last"``
    The same convolution in XLA CPU's canonical layout (``NHWC`` input, ``HWIO`` kernel,
    ``NHWC`` output) between two transposes, with a ``custom_jvp`` whose tangents are
    written so that JAX's transposition yields the input- and weight-gradient
    convolutions in the canonical layout too. XLA CPU only reaches its fast convolution
    library (YNNPACK/Eigen) for canonical convolutions; outside loops it rewrites the
    others itself, but inside a ``while`` body (``lax.scan``, ``fori_loop``) it does not,
    and the gradient convolutions that JAX derives from an NCHW forward fall back to a
    naive loop nest: a training step inside ``lax.scan`` ran 15x slower. Written
    canonically, the loop body costs what the unrolled step costs. The input gradient of
    a strided convolution whose output is no larger than its kernel is written by phase
    of the stride (:func:`_phase_sum`): JAX's input-dilated one is swapped by XLA into a
    reversed, window-dilated convolution off the library layout, 15x the forward's time
    for a ResNet's last stride-2 layer.
``"im2col"``
    Patches by strided slices, then a matmul. Chosen for a small reduction
    (``C/groups * prod(kernel) <= 32``, e.g. a first layer on grayscale or RGB images):
    XLA's convolution kernels are inefficient with a handful of input channels; the
    matmul's weight gradient is a plain matmul too. 1.4-2x faster for seed 002's first
    layer (1 -> 16 channels, 3x3), forward plus weight gradient. Also chosen where the
    feature map is no larger than the kernel (every spatial size <= the kernel's, e.g. a
    3x3 convolution on the 2x2 maps of a ResNet's last stage at 64x64 inputs): there XLA
    CPU's convolution runs 50-90x slower than torch (a 512 -> 512 3x3 convolution on
    32 maps of 2x2: 515 ms forward, 1049 ms with both gradients; as patches and a matmul:
    5.6 ms and 13.6 ms; torch: 47 ms for both).

The choice is made at trace time from ``jax.default_backend()``; set the environment
variable ``JAXNN_CPU_FAST_PATHS=0`` to always use ``"lax"``. ``force_formulation`` (private,
for tests and benchmarks) overrides the choice.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Iterator
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

FORMULATIONS = ("lax", "channels_last", "im2col")

# Largest reduction size C/groups * prod(kernel) that im2col handles on CPU.
IM2COL_MAX_REDUCTION = 32


class FormulationSwitch:
    """A stack of forced formulations for one family of functions (conv, pooling).

    Private: for the parity tests that pin each formulation and for benchmarks. Kernels
    are cached per formulation, so switching never reuses another formulation's trace.
    """

    def __init__(self, family: str, formulations: tuple[str, ...]) -> None:
        self.family, self.formulations = family, formulations
        self._stack: list[str] = []

    @contextlib.contextmanager
    def force(self, name: str) -> Iterator[None]:
        """Compute every call of this family traced inside the block with ``name``."""
        if name not in self.formulations:
            raise ValueError(
                f"formulation={name!r} is not valid for {self.family}; choose one of "
                f"{self.formulations}."
            )
        self._stack.append(name)
        try:
            yield
        finally:
            self._stack.pop()

    def forced(self) -> str | None:
        """The innermost forced formulation, or None."""
        return self._stack[-1] if self._stack else None


_switch = FormulationSwitch("convolution", FORMULATIONS)
force_formulation = _switch.force


def fast_paths_enabled() -> bool:
    """False when the user opted out with ``JAXNN_CPU_FAST_PATHS=0``."""
    return os.environ.get("JAXNN_CPU_FAST_PATHS", "1").strip().lower() not in ("0", "false", "no")


def choose(
    dtype,
    in_per_group: int,
    kernel: tuple[int, ...],
    groups: int,
    lhs_dilation,
    spatial: tuple[int, ...] | None = None,
) -> str:
    """The formulation for a convolution with these static properties (trace time);
    ``spatial``: the input's spatial sizes, unpadded (None: unknown)."""
    if _switch.forced():
        return _switch.forced()
    if (
        jax.default_backend() != "cpu"
        or not fast_paths_enabled()
        or not jnp.issubdtype(dtype, jnp.floating)
    ):
        return "lax"
    if groups == 1 and all(d == 1 for d in lhs_dilation):
        if in_per_group * math.prod(kernel) <= IM2COL_MAX_REDUCTION:
            return "im2col"
        if spatial is not None and all(s <= k for s, k in zip(spatial, kernel, strict=True)):
            return "im2col"  # a feature map no larger than the kernel
    return "channels_last"


def convolve(formulation, x, w, stride, pads, lhs_dilation, rhs_dilation, groups):
    """``(N, C, *S)`` input, ``(O, C/groups, *K)`` weight -> ``(N, O, *S_out)``.

    No convolution emitted here, nor any that JAX derives from it for a gradient, has the
    input dilation that XLA's convolution-operand swap mishandles (see :func:`_swap_abort`).
    """
    n = x.ndim - 2
    if any(d > 1 for d in lhs_dilation):
        # A transposed convolution: insert the zeros and pad (negative pads crop) explicitly,
        # then correlate with unit input dilation. As an input-dilated convolution XLA's
        # operand swap can abort the process on small inputs (audit finding #1); as a plain
        # one its gradients have no input dilation either (the pad transposes to a slice).
        config = [
            (0, 0, 0),
            (0, 0, 0),
            *((lo, hi, d - 1) for (lo, hi), d in zip(pads, lhs_dilation, strict=True)),
        ]
        x = lax.pad(x, jnp.zeros((), x.dtype), config)
        pads, lhs_dilation = ((0, 0),) * n, (1,) * n
    if _swap_abort(x.shape[2:], w.shape[2:], stride, pads, rhs_dilation, groups):
        # The input gradient of this strided convolution would be an input-dilated
        # convolution that aborts XLA: compute at stride 1 and subsample instead (only tiny
        # shapes get here, so the extra work does not matter).
        ones = (1,) * n
        y = convolve(formulation, x, w, ones, pads, ones, rhs_dilation, groups)
        return lax.slice(y, (0,) * (n + 2), y.shape, (1, 1, *stride))
    if formulation == "im2col" and groups == 1 and all(d == 1 for d in lhs_dilation):
        return _im2col(x, w, stride, pads, rhs_dilation)
    if formulation in ("channels_last", "im2col"):
        n = x.ndim - 2
        xc = jnp.moveaxis(x, 1, -1)
        wc = jnp.transpose(w, (*range(2, n + 2), 1, 0))
        cfg = (tuple(stride), tuple(pads), tuple(lhs_dilation), tuple(rhs_dilation), groups)
        return jnp.moveaxis(_conv_channels_last(xc, wc, cfg), -1, 1)
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=stride,
        padding=pads,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=_nchw(x.ndim - 2),
        feature_group_count=groups,
    )


def _swap_abort(size, kernel, stride, pads, dilation, groups) -> bool:
    """Whether JAX's input gradient of this convolution would abort XLA while compiling.

    XLA's ``ConvOperandSwapper`` (run by the algebraic simplifier on CPU and GPU) swaps
    input and kernel of an ungrouped convolution whose kernel is larger than its input,
    keeping unchanged every "group" dimension (input dilation == window == 2, unit window
    stride, no padding, no window dilation) although the swapped kernel there has the
    input's size: a CHECK failure ('Window dimensions do not match RHS shape') when that
    size is not 2. JAX's input gradient of a stride-2 convolution is input-dilated by the
    stride, with pads ``d(k-1) - lo`` before and the rest after; this replays the
    swapper's test on it (the cotangent, of the output's size, is its input).
    """
    if groups != 1:
        return False
    kernel_product = swapped_product = 1
    group_dim_mismatch = False
    for i, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation, strict=True):
        span = d * (k - 1) + 1
        o = (i + lo + hi - span) // s + 1
        before = span - lo - 1
        after = i + span - 1 - ((o - 1) * s + 1) - before
        plain = before == 0 and after == 0 and d == 1
        if plain and s == k == 2:  # a "group" dimension, kept as it is
            group_dim_mismatch |= o != k
            continue
        if plain and s == 1 and k == o:  # a "pure contraction" dimension, also kept
            continue
        kernel_product *= k
        full = o == 1 and s == 1 and d == 1 and before == after == k - 1
        swapped_product *= k if full else o
    return group_dim_mismatch and kernel_product > swapped_product


def _nchw(n: int) -> lax.ConvDimensionNumbers:
    sp = tuple(range(2, n + 2))
    return lax.ConvDimensionNumbers((0, 1, *sp), (0, 1, *sp), (0, 1, *sp))


# Dimension numbers are (batch, feature, *spatial) for lhs/out and (out-feature,
# in-feature, *spatial) for the kernel, as positions in the physical array.
def _canonical(n: int) -> lax.ConvDimensionNumbers:
    """lhs (N, *S, C), kernel (*K, I, O), out (N, *S, C): XLA CPU's library layout."""
    sp = tuple(range(1, n + 1))
    return lax.ConvDimensionNumbers((0, n + 1, *sp), (n + 1, n, *range(n)), (0, n + 1, *sp))


def _for_input_grad(n: int) -> lax.ConvDimensionNumbers:
    """Kernel stored (*K, O, I): JAX's input-gradient rule swaps the kernel's feature
    roles, which turns this into the canonical (*K, I, O)."""
    sp = tuple(range(1, n + 1))
    return lax.ConvDimensionNumbers((0, n + 1, *sp), (n, n + 1, *range(n)), (0, n + 1, *sp))


def _for_weight_grad(n: int) -> lax.ConvDimensionNumbers:
    """lhs (C, *S, N), kernel (I, *K, O), out (*S, N, C): JAX's weight-gradient rule swaps
    batch and feature of every operand, which turns this into the canonical layout
    (input read as C-batch / N-feature, cotangent as a (*S, N, O) kernel)."""
    sp = tuple(range(1, n + 1))
    return lax.ConvDimensionNumbers((n + 1, 0, *sp), (n + 1, 0, *sp), (n, n + 1, *range(n)))


def _conv_cl_raw(xc, wc, cfg):
    stride, pads, lhs_dil, rhs_dil, groups = cfg
    return lax.conv_general_dilated(
        xc,
        wc,
        stride,
        pads,
        lhs_dil,
        rhs_dil,
        _canonical(len(stride)),
        feature_group_count=groups,
    )


# custom_jvp (not custom_vjp): forward mode, vmap of gradients and higher derivatives keep
# working. The primal is the canonical convolution; each tangent term is the same
# convolution with its operands stored so that JAX's transpose rules (which we do not
# replace) produce canonical input- and weight-gradient convolutions.
@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _conv_channels_last(xc, wc, cfg):
    return _conv_cl_raw(xc, wc, cfg)


@partial(_conv_channels_last.defjvp, symbolic_zeros=True)
def _conv_channels_last_jvp(cfg, primals, tangents):
    xc, wc = primals
    tx, tw = tangents
    stride, pads, lhs_dil, rhs_dil, groups = cfg
    n = len(stride)
    y = _conv_cl_raw(xc, wc, cfg)
    terms = []
    if not isinstance(tx, SymbolicZero):
        w_oi = jnp.swapaxes(wc, n, n + 1)
        # JAX transposes a strided convolution into an input-dilated one for the input
        # gradient. XLA CPU computes that one off its library path, very slowly where the
        # output is no larger than the kernel (a ResNet's last stride-2 layer at 64x64
        # inputs: 3x3, 256 -> 512 channels, 4x4 -> 2x2 maps: 120 ms against 8 ms forward);
        # there the tangent is written as a sum of unit-stride convolutions, one per phase
        # of the stride, whose transposes are plain ones.
        small = all(o <= k for o, k in zip(y.shape[1 : n + 1], wc.shape[:n], strict=True))
        phased = small and any(s > 1 for s in stride) and all(d == 1 for d in (*lhs_dil, *rhs_dil))
        conv = partial(_phase_sum, stride, pads) if phased else partial(_strided, cfg)
        terms.append(conv(tx, w_oi, range(n), _for_input_grad(n), groups))
    if not isinstance(tw, SymbolicZero):
        x_cn = jnp.transpose(xc, (n + 1, *range(1, n + 1), 0))
        tw_io = jnp.transpose(tw, (n, *range(n), n + 1))
        out = _strided(cfg, x_cn, tw_io, range(1, n + 1), _for_weight_grad(n), groups)
        terms.append(jnp.transpose(out, (n, *range(n), n + 1)))
    ty = sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)
    return y, ty


def _strided(cfg, lhs, rhs, rhs_spatial, dims, groups):
    """The convolution of ``cfg`` with the given operand layout, as it is."""
    stride, pads, lhs_dil, rhs_dil, _ = cfg
    return lax.conv_general_dilated(
        lhs, rhs, stride, pads, lhs_dil, rhs_dil, dims, feature_group_count=groups
    )


def _phase_sum(stride, pads, lhs, rhs, rhs_spatial, dims, groups):
    """A strided convolution (no dilation) as a sum of unit-stride ones, one per phase:
    output ``o`` reads input ``o*s + k``, so the kernel taps ``k = r, r+s, r+2s, ...`` of
    phase ``r`` meet the input elements ``r, r+s, r+2s, ...`` (a strided slice) at unit
    stride. Every product of the strided convolution is made once, as in it; only the
    order of the sum differs. ``lhs`` has its spatial axes at ``1..n`` (both layouts here),
    ``rhs`` at ``rhs_spatial``."""
    n = len(stride)
    rhs_spatial = tuple(rhs_spatial)
    config = [(0, 0, 0)] * lhs.ndim
    for a, (lo, hi) in zip(range(1, n + 1), pads, strict=True):
        config[a] = (lo, hi, 0)
    xp = lax.pad(lhs, jnp.zeros((), lhs.dtype), config)
    kernel = tuple(rhs.shape[a] for a in rhs_spatial)
    out = tuple(
        (xp.shape[a] - k) // s + 1 for a, k, s in zip(range(1, n + 1), kernel, stride, strict=True)
    )
    total = None
    for phase in itertools.product(
        *(range(min(s, k)) for s, k in zip(stride, kernel, strict=True))
    ):
        taps = [len(range(r, k, s)) for r, k, s in zip(phase, kernel, stride, strict=True)]
        k_start, k_limit, k_step = [0] * rhs.ndim, list(rhs.shape), [1] * rhs.ndim
        x_start, x_limit, x_step = [0] * xp.ndim, list(xp.shape), [1] * xp.ndim
        for i, (r, t, s, m) in enumerate(zip(phase, taps, stride, out, strict=True)):
            ka, xa = rhs_spatial[i], i + 1
            k_start[ka], k_limit[ka], k_step[ka] = r, r + (t - 1) * s + 1, s
            x_start[xa], x_limit[xa], x_step[xa] = r, r + (m + t - 2) * s + 1, s
        term = lax.conv_general_dilated(
            lax.slice(xp, x_start, x_limit, x_step),
            lax.slice(rhs, k_start, k_limit, k_step),
            (1,) * n,
            ((0, 0),) * n,
            dimension_numbers=dims,
            feature_group_count=groups,
        )
        total = term if total is None else total + term
    return total


def _im2col(x, w, stride, pads, dilation):
    """Patches ``(N, C*prod(K), L)`` by strided slices, then a batched matmul with the
    weight ``(O, C*prod(K))``; the output ``(N, O, L)`` is already NCHW."""
    batch, c = x.shape[:2]
    o, k = w.shape[0], w.shape[2:]
    xp = lax.pad(
        x, jnp.zeros((), x.dtype), [(0, 0, 0), (0, 0, 0), *((lo, hi, 0) for lo, hi in pads)]
    )
    out = tuple(
        (s - d * (kk - 1) - 1) // st + 1
        for s, kk, st, d in zip(xp.shape[2:], k, stride, dilation, strict=True)
    )
    cols = []
    for off in itertools.product(*(range(kk) for kk in k)):
        start = (0, 0, *(i * d for i, d in zip(off, dilation, strict=True)))
        limit = (
            batch,
            c,
            *(s0 + (m - 1) * st + 1 for s0, m, st in zip(start[2:], out, stride, strict=True)),
        )
        cols.append(lax.slice(xp, start, limit, (1, 1, *stride)))
    reduction, length = c * math.prod(k), math.prod(out)
    patches = jnp.stack(cols, axis=2).reshape(batch, reduction, length)
    if reduction <= IM2COL_MAX_REDUCTION:
        # The weight is broadcast over the batch so that the product is one batched matmul
        # [N, O, K] x [N, K, L] -> [N, O, L] in the layout XLA hands to its matmul library.
        wm = jnp.broadcast_to(w.reshape(1, o, -1), (batch, o, reduction))
        y = lax.dot_general(wm, patches, (((2,), (1,)), ((0,), (0,))))
        return y.reshape(batch, o, *out)
    # A large reduction (small feature maps): one plain matmul [N*L, K] x [K, O]; the
    # broadcast weight above would be N copies of a large kernel.
    rows = jnp.transpose(patches, (0, 2, 1)).reshape(batch * length, reduction)
    y = lax.dot_general(rows, w.reshape(o, reduction), (((1,), (1,)), ((), ())))
    return jnp.transpose(y.reshape(batch, length, o), (0, 2, 1)).reshape(batch, o, *out)
