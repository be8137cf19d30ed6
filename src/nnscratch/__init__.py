"""nnscratch: deep neural networks from scratch in NumPy, with hand-written backpropagation.

>>> from nnscratch import Network
>>> net = Network([4, 5, 1], hidden_activation="tanh", seed=0)
>>> sorted(net.parameters)
['W1', 'W2', 'b1', 'b2']
"""

from .activations import ACTIVATIONS, LeakyReLU, get_activation
from .callbacks import Callback, EarlyStopping, PrintCost
from .cnn import ConvNetwork
from .ensemble import Ensemble
from .errors import DataError, ModelFileError, TrainingDivergedError
from .gradcheck import GradientCheckResult, gradient_check
from .initializers import INITIALIZERS
from .io import LoadedModel, load, save
from .losses import LOSSES
from .network import Network
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .schedules import SCHEDULES
from .training import History

__version__ = "0.1.0"

#: Exported on first use, so that ``import nnscratch`` works without scikit-learn (the optional
#: extra ``nnscratch[sklearn]``).
_LAZY_SKLEARN = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    if name in _LAZY_SKLEARN:
        try:
            from . import estimators
        except ImportError as err:
            raise ImportError(
                f"nnscratch.{name} needs scikit-learn: pip install 'nnscratch[sklearn]' ({err})"
            ) from err
        return getattr(estimators, name)
    raise AttributeError(f"module 'nnscratch' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Callback",
    "ConvNetwork",
    "DataError",
    "EarlyStopping",
    "Ensemble",
    "GradientCheckResult",
    "History",
    "LeakyReLU",
    "LoadedModel",
    "ModelFileError",
    "Network",
    "Optimizer",
    "PrintCost",
    "TrainingDivergedError",
    "get_activation",
    "get_optimizer",
    "gradient_check",
    "load",
    "save",
]
