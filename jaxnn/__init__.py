"""jaxnn: torch.nn's vocabulary on JAX.

``import jaxnn as nn`` gives torch.nn's modules as Equinox pytrees, ``jaxnn.functional``
gives torch.nn.functional as pure functions, and everything is jittable.
"""

from . import functional as functional
from . import init as init
from . import parallel as parallel
from ._container import ModuleDict as ModuleDict
from ._container import ModuleList as ModuleList
from ._container import ParameterDict as ParameterDict
from ._container import ParameterList as ParameterList
from ._container import Sequential as Sequential
from ._fields import buffer as buffer
from ._fields import parameter as parameter
from ._module import Module as Module
from ._module import Parameter as Parameter
from ._module import trainable as trainable
from ._pack import Packed as Packed
from ._pack import pack as pack
from ._random import manual_seed as manual_seed
from ._state import BufferUpdateDroppedWarning as BufferUpdateDroppedWarning
from ._state import forward as forward
from ._state import functional_call as functional_call
from ._summary import Summary as Summary
from ._summary import summary as summary
from ._train import Optimizer as Optimizer
from ._train import TrainStep as TrainStep
from ._transforms import checkpoint as checkpoint
from ._transforms import cond as cond
from ._transforms import scan as scan
from ._transforms import vmap as vmap
from ._uninitialized import UninitializedBuffer as UninitializedBuffer
from ._uninitialized import UninitializedParameter as UninitializedParameter
from .interop import CheckpointError as CheckpointError
from .interop import from_torch as from_torch
from .interop import load as load
from .interop import load_checkpoint as load_checkpoint
from .interop import load_torch as load_torch
from .interop import save as save
from .interop import save_checkpoint as save_checkpoint
from .interop import to_torch as to_torch
from .interop import to_torch_state_dict as to_torch_state_dict
from .modules.activation import CELU as CELU
from .modules.activation import ELU as ELU
from .modules.activation import GELU as GELU
from .modules.activation import GLU as GLU
from .modules.activation import SELU as SELU
from .modules.activation import Hardshrink as Hardshrink
from .modules.activation import Hardsigmoid as Hardsigmoid
from .modules.activation import Hardswish as Hardswish
from .modules.activation import Hardtanh as Hardtanh
from .modules.activation import LeakyReLU as LeakyReLU
from .modules.activation import LogSigmoid as LogSigmoid
from .modules.activation import LogSoftmax as LogSoftmax
from .modules.activation import Mish as Mish
from .modules.activation import PReLU as PReLU
from .modules.activation import ReLU as ReLU
from .modules.activation import ReLU6 as ReLU6
from .modules.activation import Sigmoid as Sigmoid
from .modules.activation import SiLU as SiLU
from .modules.activation import Softmax as Softmax
from .modules.activation import Softmin as Softmin
from .modules.activation import Softplus as Softplus
from .modules.activation import Softshrink as Softshrink
from .modules.activation import Softsign as Softsign
from .modules.activation import Tanh as Tanh
from .modules.activation import Tanhshrink as Tanhshrink
from .modules.activation import Threshold as Threshold
from .modules.activation_random import *
from .modules.adaptive import *
from .modules.attention import *
from .modules.conv import *
from .modules.dropout import *
from .modules.lazy import *
from .modules.linear import Bilinear as Bilinear
from .modules.linear import Flatten as Flatten
from .modules.linear import Identity as Identity
from .modules.linear import Lambda as Lambda
from .modules.linear import Linear as Linear
from .modules.linear import Unflatten as Unflatten
from .modules.loss import *
from .modules.loss_binary import *
from .modules.loss_embedding import *
from .modules.loss_linear import *
from .modules.loss_margin import *
from .modules.loss_regression import *
from .modules.normalization import *
from .modules.normalization_extra import *
from .modules.padding import *
from .modules.pooling import *
from .modules.pooling_fractional import *
from .modules.recurrent import *
from .modules.shape import *
from .modules.sparse import *
from .modules.transformer import *
from .modules.transformer_decoder import *
from .modules.transformer_encoder import *

__version__ = "0.1.0"
