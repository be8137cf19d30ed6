"""nnscratch: deep neural networks from scratch in NumPy, with hand-written backpropagation.

>>> from nnscratch import Network
>>> net = Network([4, 5, 1], hidden_activation="tanh", seed=0)
>>> sorted(net.parameters)
['W1', 'W2', 'b1', 'b2']
"""

from .activations import ACTIVATIONS, LeakyReLU, get_activation
from .errors import DataError, ModelFileError, TrainingDivergedError
from .gradcheck import GradientCheckResult, gradient_check
from .initializers import INITIALIZERS
from .losses import LOSSES
from .network import Network
from .optimizers import OPTIMIZERS
from .training import History

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "DataError",
    "GradientCheckResult",
    "History",
    "LeakyReLU",
    "ModelFileError",
    "Network",
    "TrainingDivergedError",
    "get_activation",
    "gradient_check",
]
