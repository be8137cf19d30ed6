"""The fully connected (linear) layer: the article's ``linear_forward`` / ``linear_backward``.

The article keeps features first: Z = W . A_prev + b with A_prev (n_{l-1}, m). The public API
of nnscratch is samples-first, so every array here is the transpose of the article's:

    forward:   Z = A_prev . W^T + b              A_prev (m, n_{l-1}), W (n_l, n_{l-1}), Z (m, n_l)
    backward:  dW = dZ^T . A_prev                 (n_l, n_{l-1})   (1/m is already in dZ_L)
               db = sum of dZ over samples        (n_l,)
               dA_prev = dZ . W                   (m, n_{l-1}), skipped for the input layer
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.initializers import Initializer
from nnscratch.nn.layers.base import Layer


class Dense(Layer):
    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        init: Initializer,
        rng: np.random.Generator,
        dtype: np.dtype,
        index: int,
    ):
        self.index = index
        self.n_in, self.n_out = n_in, n_out
        self.params = {
            "W": init(rng, (n_out, n_in), n_in, n_out, dtype),  # (n_l, n_{l-1})
            "b": np.zeros(n_out, dtype=dtype),  # (n_l,)
        }

    def forward(self, A_prev: np.ndarray, training: bool = False):
        Z = A_prev @ self.params["W"].T  # (m, n_l)
        Z += self.params["b"]
        return Z, A_prev  # cache: the layer's input, for dW

    def backward(self, dZ: np.ndarray, cache: np.ndarray, need_input_grad: bool = True):
        A_prev = cache
        grads = {
            "W": dZ.T @ A_prev,  # (n_l, n_{l-1})
            "b": dZ.sum(axis=0),  # (n_l,)
        }
        dA_prev = dZ @ self.params["W"] if need_input_grad else None  # (m, n_{l-1})
        return dA_prev, grads

    def output_shape(self, input_shape):
        if input_shape != (self.n_in,):
            raise ValueError(
                f"Dense layer {self.index} expects inputs of shape (m, {self.n_in}); "
                f"got per-sample shape {input_shape}"
            )
        return (self.n_out,)

    def config(self) -> dict:
        return {**super().config(), "n_in": self.n_in, "n_out": self.n_out}
