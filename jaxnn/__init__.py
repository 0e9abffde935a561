"""jaxnn: torch.nn's vocabulary on JAX."""

from . import functional as functional
from ._random import manual_seed as manual_seed

__version__ = "0.1.0"
