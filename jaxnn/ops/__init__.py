"""``jaxnn.ops``: torch's tensor functions and methods as pure, jittable JAX functions.

``torch.flatten(x, 1)`` is ``ops.flatten(x, 1)``; the method ``x.view(n, -1)`` is
``ops.view(x, n, -1)`` (the tensor first, then the method's arguments). Names, argument
order, defaults and results follow torch 2.13, including where they differ from
``jax.numpy``: ``squeeze`` of a dimension that is not 1 is a no-op, ``chunk`` may return
fewer pieces, ``max(x, dim)`` returns ``(values, indices)``, ``var`` is unbiased,
``div`` takes ``rounding_mode``, integer sums are integers.

``jaxnn.from_torch`` replays a traced torch ``forward`` with these functions (and
``jaxnn.functional`` for ``torch.nn.functional``), so a hand-written jaxnn twin of a
torch model can call the very same names:

>>> import jax.numpy as jnp, jaxnn.ops as ops
>>> x = jnp.ones((2, 3, 4, 4))
>>> ops.flatten(ops.mean(x, (2, 3), keepdim=True), 1).shape
(2, 3)

What is deliberately different (JAX has immutable, stride-less arrays): ``view`` never
fails on non-contiguous input, ``contiguous``/``clone`` return their input, in-place
methods (``add_``, ``masked_fill_``) do not exist (use the out-of-place op), ``empty``
gives zeros, and random ops take ``key=``. int64 is JAX's default integer (int32
unless ``jax_enable_x64``).
"""

from ._create import *
from ._create import __all__ as _create_all
from ._math import *
from ._math import __all__ as _math_all
from ._shape import *
from ._shape import __all__ as _shape_all

__all__ = [*_shape_all, *_math_all, *_create_all]
