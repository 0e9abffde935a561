"""``jaxnn.functional``: torch.nn.functional as pure, jittable JAX functions.

Same names, argument names, defaults and layouts (NCHW) as ``torch.nn.functional``; the
modules in ``jaxnn.modules`` call these and nothing else for their maths. Each family lives
in its own file and lists its public names in ``__all__``.
"""

from ._activation import *
from ._activation_random import *
from ._attention import *
from ._attention_mha import *
from ._conv import *
from ._conv_tbc import *
from ._distance import *
from ._dropout import *
from ._grouped_mm import *
from ._linear import *
from ._loss import *
from ._loss_linear import *
from ._normalization import *
from ._pooling import *
from ._pooling_fractional import *
from ._sparse import *
from ._vision import *
