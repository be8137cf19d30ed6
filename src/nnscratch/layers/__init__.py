"""Layers: each one a forward/backward pair over samples-first arrays.

A layer maps A_prev -> A in ``forward`` and returns the cache its ``backward`` needs;
``backward`` maps dA -> dA_prev and the gradients of the layer's own parameters. The network
(``nnscratch.network``) chains them: that chain is the article's ``L_model_forward`` and
``L_model_backward``.
"""

from .activation import ActivationLayer
from .base import Layer
from .batchnorm import BatchNorm
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .pool import AveragePool2D, GlobalAveragePool, MaxPool2D
from .shift import RandomShift

__all__ = [
    "Layer",
    "Dense",
    "ActivationLayer",
    "Conv2D",
    "MaxPool2D",
    "AveragePool2D",
    "GlobalAveragePool",
    "Flatten",
    "Unflatten",
    "RandomShift",
    "BatchNorm",
    "Dropout",
]
