"""Flatten: (m, H, W, C) -> (m, H*W*C) in C order (channels fastest), and back in backward.

It joins the convolutional part of a network to its Dense layers. ``Unflatten`` is its
inverse, for networks fed flattened images.
"""

from __future__ import annotations

import math

import numpy as np

from nnscratch.nn.layers.base import Layer


class Flatten(Layer):
    """A_prev (m, d1, d2, ...) -> A (m, d1*d2*...); backward reshapes dA to A_prev's shape."""

    def __init__(self, *, index: int = 0):
        self.index = index
        self.params = {}

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, A_prev: np.ndarray, training: bool = False):
        return A_prev.reshape(A_prev.shape[0], -1), A_prev.shape

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        return dA.reshape(cache), {}


class Unflatten(Layer):
    """A_prev (m, H*W*C) -> A (m, H, W, C): images flattened row-major (as ``ImagePreprocessor``
    and scikit-learn hand them over) back to images; backward flattens dA again."""

    def __init__(self, shape: tuple[int, ...], *, index: int = 0):
        self.shape = tuple(int(n) for n in shape)
        self.index = index
        self.params = {}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (math.prod(self.shape),):
            raise ValueError(
                f"Unflatten to {self.shape} expects inputs of shape (m, {math.prod(self.shape)}); "
                f"got per-sample shape {input_shape}"
            )
        return self.shape

    def forward(self, A_prev: np.ndarray, training: bool = False):
        return A_prev.reshape(A_prev.shape[0], *self.shape), None

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        return (dA.reshape(dA.shape[0], -1) if need_input_grad else None), {}

    def config(self) -> dict:
        return {**super().config(), "shape": list(self.shape)}
