"""AdaptiveLogSoftmaxWithLoss (Grave et al., 2016), torch.nn's, with static shapes.

torch gathers the rows of each cluster with ``nonzero`` (a data-dependent shape); here
every tail cluster is computed for every row and the rows are selected by mask, so the
module runs under ``jax.jit`` with torch's numbers and gradients (rows outside a cluster
get exactly zero gradient through it). Target values are checked against
``[0, n_classes)`` when they are concrete; under ``jit`` they cannot raise, and an
out-of-range target picks no cluster.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._container import ModuleList, Sequential
from .._module import Module
from ..functional._loss_common import concrete
from ._utils import split_key
from .linear import Linear

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation for many classes: a head over the frequent classes
    and one cluster token per tail cluster, each cluster with a down-projected classifier.

    ``forward(input, target)`` returns ``(output, loss)``: ``output`` is the log-probability
    of each target, ``loss`` the mean negative of it. ``log_prob(input)`` gives the full
    ``(N, n_classes)`` log-distribution, ``predict(input)`` its argmax.

    Args:
        in_features: size of each input sample.
        n_classes: the number of classes.
        cutoffs: increasing cut points in ``[1, n_classes - 1]`` between the clusters.
        div_value: cluster ``i`` projects to ``in_features // div_value ** (i + 1)``.
            Default 4.0.
        head_bias: the head learns a bias. Default False.
        device, dtype: where and in which floating type the parameters are made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape:
        - input: ``(N, in_features)`` or ``(in_features,)``; target: ``(N,)`` or ``()``;
          output: like the target; loss: scalar.

    >>> import jax.numpy as jnp, jaxnn as nn
    >>> m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4])
    >>> out, loss = m(jnp.ones((3, 8)), jnp.array([0, 5, 9]))
    >>> out.shape, loss.shape, m.log_prob(jnp.ones((3, 8))).shape
    ((3,), (), (3, 10))
    """

    in_features: int = eqx.field(static=True)
    n_classes: int = eqx.field(static=True)
    cutoffs: tuple[int, ...] = eqx.field(static=True)
    div_value: float = eqx.field(static=True)
    head_bias: bool = eqx.field(static=True)
    shortlist_size: int = eqx.field(static=True)
    n_clusters: int = eqx.field(static=True)
    head_size: int = eqx.field(static=True)
    head: Linear
    tail: ModuleList

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an "
                "increasing order, where each value is between 1 and n_classes-1 (got "
                f"cutoffs={cutoffs}, n_classes={n_classes})"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = (*(int(c) for c in cutoffs), n_classes)
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        keys = split_key(key, 1 + 2 * self.n_clusters)
        factory = dict(device=device, dtype=dtype)
        self.head = Linear(in_features, self.head_size, bias=head_bias, **factory, key=keys[0])
        tail = []
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tail.append(
                Sequential(
                    Linear(in_features, hsz, bias=False, **factory, key=keys[1 + 2 * i]),
                    Linear(hsz, osz, bias=False, **factory, key=keys[2 + 2 * i]),
                )
            )
        self.tail = ModuleList(tail)

    def forward(self, input_: jax.Array, target_: jax.Array) -> _ASMoutput:
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise ValueError(
                    "Input and target should have the same size in the batch dimension "
                    f"({input_.shape[0]} vs {target_.shape[0]})."
                )
            if input_.ndim != 2:
                raise ValueError(
                    f"1D target tensor expects 2D input tensors, but found inputs with size "
                    f"{list(input_.shape)}"
                )
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise ValueError(
                    f"0D target tensor expects 1D input tensors, but found inputs with size "
                    f"{list(input_.shape)}"
                )
        else:
            raise ValueError("0D or 1D target tensor expected, multi-target not supported")
        values = concrete(target_)
        if values is not None and values.size and ((values < 0) | (values >= self.n_classes)).any():
            raise ValueError(
                f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                f"[{int(np.min(values))}, {int(np.max(values))}] were found."
            )
        batched = target_.ndim > 0
        input = input_ if batched else input_[None]
        target = target_ if batched else target_[None]
        output, loss = _output_and_loss(self, input, target)
        return _ASMoutput(output if batched else output[0], loss)

    def _get_full_log_prob(self, input: jax.Array, head_output: jax.Array) -> jax.Array:
        head_logprob = jax.nn.log_softmax(head_output, axis=1)
        parts = [head_logprob[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = jax.nn.log_softmax(self.tail[i](input), axis=1)
            token = head_logprob[:, self.shortlist_size + i][:, None]
            parts.append(cluster_logprob + token)
        return jnp.concatenate(parts, axis=1)

    def log_prob(self, input: jax.Array) -> jax.Array:
        """Log-probabilities of all ``n_classes`` classes: ``(N, in_features) -> (N, n_classes)``."""
        return _log_prob(self, input)

    def predict(self, input: jax.Array) -> jax.Array:
        """The most probable class of each row: ``(N, in_features) -> (N,)``.

        torch's rule: the head's argmax when it is a shortlist class, else the argmax of
        the full distribution (equal to ``log_prob(input).argmax(1)`` up to ties).
        """
        return _predict(self, input)


# One compiled program per call (eagerly, op-by-op dispatch of the per-cluster loop would
# dominate); the module is a pytree, its static fields part of the cache key.
@jax.jit
def _output_and_loss(m: AdaptiveLogSoftmaxWithLoss, input: jax.Array, target: jax.Array) -> Any:
    target = target.astype(jnp.int32)
    head_logprob = jax.nn.log_softmax(m.head(input), axis=1)
    # The head index of each row: its class in the shortlist, else its cluster's token.
    gather = jnp.where(target < m.shortlist_size, target, 0)
    output = jnp.zeros(target.shape, head_logprob.dtype)
    for i in range(m.n_clusters):
        low, high = m.cutoffs[i], m.cutoffs[i + 1]
        mask = (target >= low) & (target < high)
        gather = jnp.where(mask, m.shortlist_size + i, gather)
        cluster_logprob = jax.nn.log_softmax(m.tail[i](input), axis=1)
        relative = jnp.clip(target - low, 0, high - low - 1)
        local = jnp.take_along_axis(cluster_logprob, relative[:, None], axis=1)[:, 0]
        output = output + jnp.where(mask, local, 0)
    output = output + jnp.take_along_axis(head_logprob, gather[:, None], axis=1)[:, 0]
    return output, jnp.mean(-output)


@jax.jit
def _log_prob(m: AdaptiveLogSoftmaxWithLoss, input: jax.Array) -> jax.Array:
    return m._get_full_log_prob(input, m.head(input))


@jax.jit
def _predict(m: AdaptiveLogSoftmaxWithLoss, input: jax.Array) -> jax.Array:
    head_output = m.head(input)
    output = jnp.argmax(head_output, axis=1)
    full = jnp.argmax(m._get_full_log_prob(input, head_output), axis=1)
    return jnp.where(output >= m.shortlist_size, full, output)
