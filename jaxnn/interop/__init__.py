"""Interop: torch conversion and checkpoints. The only package code that touches torch."""

from ._torch import from_torch as from_torch
from ._torch import load_torch as load_torch
from ._torch import to_torch as to_torch
from ._torch import to_torch_state_dict as to_torch_state_dict
from .checkpoint import CheckpointError as CheckpointError
from .checkpoint import load as load
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save as save
from .checkpoint import save_checkpoint as save_checkpoint
