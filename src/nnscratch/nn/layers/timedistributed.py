"""A per-sample layer applied to every step of a sequence: (m, T, F) -> (m, T, F').

    forward:   A[:, t] = layer(A_prev[:, t])  for every t, as one call on (T*m, F) rows
    backward:  the wrapped layer's backward on the (T*m, F') rows of dA; its parameter
               gradients are sums over all steps

Rows are laid out time-major, (T, m, F) -> (T*m, F): the recurrent layers store their outputs
that way, so the reshape is a view, and the (m, T, F') result is a view of (T, m, F') storage.
The wrapper's ``params`` and ``index`` are the wrapped layer's own (live arrays).
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.base import Layer


class TimeDistributed(Layer):
    def __init__(self, layer: Layer):
        self.layer = layer
        self.index = layer.index
        self.params = layer.params

    def forward(self, A_prev: np.ndarray, training: bool = False):
        m, T = A_prev.shape[:2]
        rows = A_prev.transpose(1, 0, *range(2, A_prev.ndim)).reshape(T * m, -1)
        Z, cache = self.layer.forward(rows, training)
        return Z.reshape(T, m, *Z.shape[1:]).swapaxes(0, 1), (cache, m, T)

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        inner, m, T = cache
        rows = dA.swapaxes(0, 1).reshape(T * m, *dA.shape[2:])
        dX, grads = self.layer.backward(rows, inner, need_input_grad)
        if dX is not None:
            dX = dX.reshape(T, m, *dX.shape[1:]).swapaxes(0, 1)
        return dX, grads

    def output_shape(self, input_shape):
        return (input_shape[0], *self.layer.output_shape(tuple(input_shape[1:])))

    def config(self) -> dict:
        return {**super().config(), "layer": self.layer.config()}
