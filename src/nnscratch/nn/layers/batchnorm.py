"""Batch normalisation (Ioffe & Szegedy, 2015) of a hidden layer's pre-activations Z (m, n).

Images (m, H, W, C) are normalised per channel: every axis but the last counts as samples, so
below m is m * H * W and n is C.

Training mode normalises with the batch's own statistics and updates the running ones:

    mu = mean(Z, axis=0), var = mean((Z - mu)^2, axis=0)                   (n,)
    Z_hat = (Z - mu) / sqrt(var + eps);  out = gamma * Z_hat + beta        (m, n)
    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)   (PyTorch's)

    backward:  dgamma = sum(dout * Z_hat),  dbeta = sum(dout)               (n,)
               dZ = (gamma / sqrt(var + eps)) / m
                    * (m dout - sum(dout) - Z_hat * sum(dout * Z_hat))     (m, n)

Inference mode uses the running statistics instead (they are ``buffers``: not trained, saved
with the model); it is then a fixed affine map and its backward is
dZ = dout * gamma / sqrt(running_var + eps).
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.base import Layer


def column_sums(A: np.ndarray) -> np.ndarray:
    """sum(A, axis=0) for A (m, n), as a product with a vector of ones: for the tall, narrow
    arrays of per-channel statistics this is an order of magnitude faster than A.sum(axis=0)."""
    return np.ones(A.shape[0], dtype=A.dtype) @ A


class BatchNorm(Layer):
    def __init__(
        self,
        n: int,
        *,
        index: int,
        dtype: np.dtype,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ):
        self.index = index
        self.n = n
        self.momentum, self.eps = float(momentum), float(eps)
        self.params = {
            "gamma": np.ones(n, dtype=dtype),  # (n,)
            "beta": np.zeros(n, dtype=dtype),  # (n,)
        }
        self.buffers = {
            "running_mean": np.zeros(n, dtype=dtype),  # (n,)
            "running_var": np.ones(n, dtype=dtype),  # (n,)
        }

    def forward(self, Z: np.ndarray, training: bool = False):
        shape = Z.shape
        Z = Z.reshape(-1, self.n)  # (m, n); (m*H*W, C) for images
        dt = Z.dtype.type
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            m = Z.shape[0]
            mu = column_sums(Z) / dt(m)  # (n,)
            Zc = Z - mu  # (m, n)
            var = column_sums(Zc * Zc) / dt(m)  # (n,), biased
            self._update_running(mu, var, m)
        else:
            Zc = Z - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        inv_std = 1 / np.sqrt(var + dt(self.eps))  # (n,)
        Z_hat = Zc
        Z_hat *= inv_std  # in place: Zc is our own array
        out = Z_hat * gamma
        out += beta
        return out.reshape(shape), (Z_hat, inv_std, training)

    def backward(self, dout: np.ndarray, cache, need_input_grad: bool = True):
        Z_hat, inv_std, training = cache
        shape = dout.shape
        dout = dout.reshape(-1, self.n)
        grads = {
            "gamma": column_sums(dout * Z_hat),  # (n,)
            "beta": column_sums(dout),  # (n,)
        }
        if not need_input_grad:
            return None, grads
        scale = self.params["gamma"] * inv_std  # (n,)
        if not training:
            return (dout * scale).reshape(shape), grads
        m = dout.shape[0]
        dt = dout.dtype.type
        dZ = Z_hat * grads["gamma"]
        dZ += grads["beta"]
        dZ *= dt(1 / m)
        np.subtract(dout, dZ, out=dZ)  # dout - (sum(dout) + Z_hat sum(dout Z_hat)) / m
        dZ *= scale
        return dZ.reshape(shape), grads

    def _update_running(self, mu: np.ndarray, var: np.ndarray, m: int) -> None:
        dt = mu.dtype.type
        mom = dt(self.momentum)
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm *= dt(1) - mom
        rm += mom * mu
        unbiased = var * dt(m / (m - 1)) if m > 1 else var
        rv *= dt(1) - mom
        rv += mom * unbiased

    def output_shape(self, input_shape):
        return input_shape

    def config(self) -> dict:
        return {**super().config(), "n": self.n, "momentum": self.momentum, "eps": self.eps}
