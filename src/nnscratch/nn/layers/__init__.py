"""Layers: each one a forward/backward pair over samples-first arrays.

A layer maps A_prev -> A in ``forward`` and returns the cache its ``backward`` needs;
``backward`` maps dA -> dA_prev and the gradients of the layer's own parameters. The model core
(``nnscratch.nn.model.Sequential``) chains them: that chain is the article's ``L_model_forward`` and
``L_model_backward``.
"""

from nnscratch.nn.layers.activation import ActivationLayer
from nnscratch.nn.layers.base import Layer
from nnscratch.nn.layers.batchnorm import BatchNorm
from nnscratch.nn.layers.conv import Conv2D
from nnscratch.nn.layers.dense import Dense
from nnscratch.nn.layers.dropout import Dropout
from nnscratch.nn.layers.embedding import Embedding
from nnscratch.nn.layers.flatten import Flatten, Unflatten
from nnscratch.nn.layers.gru import GRU
from nnscratch.nn.layers.lstm import LSTM
from nnscratch.nn.layers.pool import AveragePool2D, GlobalAveragePool, MaxPool2D
from nnscratch.nn.layers.recurrent import Recurrent
from nnscratch.nn.layers.rnn import RNN
from nnscratch.nn.layers.shift import RandomShift
from nnscratch.nn.layers.timedistributed import TimeDistributed

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
    "Recurrent",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "TimeDistributed",
]
