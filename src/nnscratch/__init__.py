"""nnscratch: deep neural networks from scratch in NumPy, with hand-written backpropagation.

>>> from nnscratch import Network
>>> net = Network([4, 5, 1], hidden_activation="tanh", seed=0)
>>> sorted(net.parameters)
['W1', 'W2', 'b1', 'b2']
"""

# the command line's Ctrl-C while these imports run: one line and status 130, no traceback
# ruff: noqa: E402
from nnscratch._startup import quiet_startup_interrupt as _quiet_startup_interrupt

_quiet_startup_interrupt()

from nnscratch.base.errors import DataError, ModelFileError, TrainingDivergedError, UsageError
from nnscratch.base.version import __version__
from nnscratch.models.conv import ConvNetwork
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.network import Network
from nnscratch.models.sequence import SequenceNetwork
from nnscratch.nn.activations import ACTIVATIONS, LeakyReLU, get_activation
from nnscratch.nn.gradcheck import GradientCheckResult, gradient_check
from nnscratch.nn.initializers import INITIALIZERS
from nnscratch.nn.layers import GRU, LSTM, RNN, Embedding
from nnscratch.nn.losses import LOSSES
from nnscratch.persist.modelfile import LoadedModel, load, save
from nnscratch.train.callbacks import Callback, EarlyStopping, PrintCost
from nnscratch.train.fit import History
from nnscratch.train.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from nnscratch.train.schedules import SCHEDULES

#: Exported on first use, so that ``import nnscratch`` works without scikit-learn (the optional
#: extra ``nnscratch[sklearn]``).
_LAZY_SKLEARN = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    if name in _LAZY_SKLEARN:
        try:
            from nnscratch.sklearn import estimators
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
    "Embedding",
    "Ensemble",
    "GRU",
    "GradientCheckResult",
    "History",
    "LSTM",
    "LeakyReLU",
    "LoadedModel",
    "ModelFileError",
    "Network",
    "Optimizer",
    "PrintCost",
    "RNN",
    "SequenceNetwork",
    "TrainingDivergedError",
    "UsageError",
    "__version__",
    "get_activation",
    "get_optimizer",
    "gradient_check",
    "load",
    "save",
]
