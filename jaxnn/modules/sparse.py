"""Lookup tables: Embedding and EmbeddingBag.

Both initialise ``weight`` from N(0, 1) with the ``padding_idx`` row zeroed, as torch.
``max_norm`` renormalises the looked-up rows in the output; torch also writes them back
into ``weight`` in place, which a JAX array cannot do, so ``weight`` is left unchanged (see
``jaxnn.functional.embedding``). ``sparse`` is accepted and printed; JAX gradients are dense.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from .. import functional as F
from .. import init
from .._module import Module, _to_array
from ._utils import check_positive_int, factory_dtype, place, split_key

__all__ = ["Embedding", "EmbeddingBag"]

_MODES = ("sum", "mean", "max")


def _padding_index(padding_idx: int | None, num_embeddings: int, cls: str) -> int | None:
    """torch's check: within ``[-num_embeddings, num_embeddings)``; negative wraps."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"{cls}: padding_idx must be within num_embeddings, got padding_idx={padding_idx} for "
            f"num_embeddings={num_embeddings}; pass a value in [{-num_embeddings}, {num_embeddings - 1}]."
        )
    return padding_idx % num_embeddings


def _initial_weight(
    cls: str,
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: int | None,
    _weight: Any,
    device: Any,
    dtype: Any,
    key: jax.Array | None,
) -> jax.Array:
    """``_weight`` as given (shape-checked), else N(0, 1) with the padding row zeroed."""
    if _weight is not None:
        weight = _to_array(_weight, "_weight")
        if tuple(weight.shape) != (num_embeddings, embedding_dim):
            raise ValueError(
                f"{cls}: Shape of weight does not match num_embeddings and embedding_dim: got "
                f"{tuple(weight.shape)}, expected ({num_embeddings}, {embedding_dim})."
            )
        return place(weight, device)
    (wkey,) = split_key(key, 1)
    weight = init.normal_((num_embeddings, embedding_dim), key=wkey, dtype=factory_dtype(dtype))
    if padding_idx is not None:
        weight = weight.at[padding_idx].set(0)
    return place(weight, device)


def _check_pretrained(embeddings: Any) -> jax.Array:
    embeddings = _to_array(embeddings, "embeddings")
    if embeddings.ndim != 2:
        raise ValueError(
            f"Embeddings parameter is expected to be 2-dimensional (num_embeddings, embedding_dim), "
            f"got shape {tuple(embeddings.shape)}."
        )
    return embeddings


class Embedding(Module):
    """A lookup table: ``out[..., :] = weight[input[...], :]``.

    Args:
        num_embeddings: the size of the dictionary.
        embedding_dim: the size of each embedding vector.
        padding_idx: this row gets no gradient and starts at zeros; negative counts from the
            end (stored wrapped, as torch).
        max_norm: rows looked up with a ``norm_type``-norm above it are scaled to it in the
            output (torch also rescales ``weight`` in place; we cannot, see the module note).
        norm_type: the p of that norm. Default 2.
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: accepted, no effect (JAX gradients are dense).
        _weight: an initial ``(num_embeddings, embedding_dim)`` weight (torch's private
            argument, used by ``from_pretrained``).
        _freeze: mark ``weight`` frozen (``requires_grad_(False)``).
        device, dtype: where and in which floating type ``weight`` is made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape:
        - Input: :math:`(*)` integer indices; Output: :math:`(*, \\text{embedding\\_dim})`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb(jnp.array([[0, 2, 0, 5]])).shape
    (1, 4, 3)
    >>> emb.weight[0]
    Array([0., 0., 0.], dtype=float32)
    """

    weight: jax.Array
    num_embeddings: int = eqx.field(static=True)
    embedding_dim: int = eqx.field(static=True)
    padding_idx: int | None = eqx.field(static=True)
    max_norm: float | None = eqx.field(static=True)
    norm_type: float = eqx.field(static=True)
    scale_grad_by_freq: bool = eqx.field(static=True)
    sparse: bool = eqx.field(static=True)

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", allow_zero=True)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", allow_zero=True)
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "Embedding")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.weight = _initial_weight(
            "Embedding",
            num_embeddings,
            embedding_dim,
            self.padding_idx,
            _weight,
            device,
            dtype,
            key,
        )
        if _freeze:
            self.requires_grad_(False)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding ``embeddings`` (2-d; numpy, jax or torch).

        ``freeze=True`` (default) marks the weight frozen: ``jaxnn.trainable`` leaves it out,
        as torch's ``requires_grad = False``.

        >>> import jaxnn as nn, jax.numpy as jnp
        >>> emb = nn.Embedding.from_pretrained(jnp.array([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]]))
        >>> emb(jnp.array([1]))
        Array([[4. , 5.1, 6.3]], dtype=float32)
        >>> emb.parameter_requires_grad("weight")
        False
        """
        embeddings = _check_pretrained(embeddings)
        rows, cols = embeddings.shape
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without materialising each bag.

    Bags are the rows of a 2-d ``input``, or slices ``input[offsets[b]:offsets[b+1]]`` of
    a 1-d one. Entries equal to ``padding_idx`` are left out of the reduction.

    Args:
        num_embeddings: the size of the dictionary.
        embedding_dim: the size of each embedding vector.
        max_norm: rows with a ``norm_type``-norm above it are scaled to it (in the output only).
        norm_type: the p of that norm. Default 2.
        scale_grad_by_freq: divide each row's gradient by its index's count (not with ``'max'``).
        mode: ``'sum'``, ``'mean'`` (default) or ``'max'``.
        sparse: accepted, no effect (JAX gradients are dense).
        _weight: an initial ``(num_embeddings, embedding_dim)`` weight.
        include_last_offset: ``offsets`` has one more entry, the end of the last bag (CSR).
        padding_idx: this row is excluded from the bags, gets no gradient and starts at zeros.
        device, dtype: where and in which floating type ``weight`` is made.
        key: PRNG key for the initialisation (default: the global stream).

    Shape:
        - Input: :math:`(B, N)`, or :math:`(N)` with ``offsets`` :math:`(B)`;
          ``per_sample_weights`` as ``input``; Output: :math:`(B, \\text{embedding\\_dim})`.

    >>> import jaxnn as nn, jax.numpy as jnp
    >>> bag = nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag(jnp.array([1, 2, 4, 5, 4, 3, 2, 9]), jnp.array([0, 4])).shape
    (2, 3)
    """

    weight: jax.Array
    num_embeddings: int = eqx.field(static=True)
    embedding_dim: int = eqx.field(static=True)
    max_norm: float | None = eqx.field(static=True)
    norm_type: float = eqx.field(static=True)
    scale_grad_by_freq: bool = eqx.field(static=True)
    padding_idx: int | None = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    sparse: bool = eqx.field(static=True)
    include_last_offset: bool = eqx.field(static=True)

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", allow_zero=True)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", allow_zero=True)
        if mode not in _MODES:
            raise ValueError(f"EmbeddingBag: mode={mode!r} is not valid; choose one of {_MODES!r}.")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "EmbeddingBag")
        self.weight = _initial_weight(
            "EmbeddingBag",
            num_embeddings,
            embedding_dim,
            self.padding_idx,
            _weight,
            device,
            dtype,
            key,
        )
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def forward(
        self,
        input: jax.Array,
        offsets: jax.Array | None = None,
        per_sample_weights: jax.Array | None = None,
    ) -> jax.Array:
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings!r}, {self.embedding_dim!r}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag holding ``embeddings`` (2-d); ``freeze=True`` marks it frozen.

        >>> import jaxnn as nn, jax.numpy as jnp
        >>> bag = nn.EmbeddingBag.from_pretrained(jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        >>> bag(jnp.array([[1, 0]]))
        Array([[2.5, 3.5, 4.5]], dtype=float32)
        """
        embeddings = _check_pretrained(embeddings)
        rows, cols = embeddings.shape
        bag = cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            mode=mode,
            sparse=sparse,
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        return bag.requires_grad_(not freeze)
