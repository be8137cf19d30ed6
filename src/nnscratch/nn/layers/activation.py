"""An activation applied as a layer: the article's ``linear_activation_forward`` is a Dense
layer followed by one of these."""

from __future__ import annotations

import numpy as np

from nnscratch.nn.activations import Activation
from nnscratch.nn.layers.base import Layer


class ActivationLayer(Layer):
    """A = g(Z) element-wise; backward dZ = dA * g'(Z), reading Z and A from the cache."""

    def __init__(self, activation: Activation, *, index: int):
        self.activation = activation
        self.index = index
        self.params = {}

    def forward(self, Z: np.ndarray, training: bool = False):
        A = self.activation.forward(Z)
        return A, (Z, A)

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        Z, A = cache
        return self.activation.backward(dA, Z, A), {}

    def config(self) -> dict:
        return {**super().config(), "activation": self.activation.config()}
