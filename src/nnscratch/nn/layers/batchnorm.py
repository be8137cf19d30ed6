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

Fast path for images (``long_rows``, the same formulas): a (m, H, W, C)
array viewed as (m*H*W, C) has rows of only C (16..64) numbers, and NumPy's per-row overhead
then costs more than the arithmetic. ``_forward_long_rows`` / ``_backward_long_rows`` view it
as (m*H, W*C) instead, with every per-channel vector tiled W times to a row of W*C, so each
element-wise operation runs over rows of W*C numbers; a per-channel sum is the column sum of
the long rows (one BLAS matrix-vector product) folded back over the W positions. Z_hat is
not stored: the cache holds Zc = Z - mu and inv_std, and the affine output and the backward
use per-channel coefficients, so that each pass is one multiply or add (Zc, out and dZ are
work arrays reused from batch to batch, ``buffers.WorkArrays``):

    out = Zc * (gamma inv_std) + beta
    dZ  = (Zc * (-inv_std dgamma / m) + dout - dbeta / m) * (gamma inv_std)
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.base import Layer
from nnscratch.nn.layers.buffers import work_arrays


def column_sums(A: np.ndarray) -> np.ndarray:
    """sum(A, axis=0) for A (m, n), as a product with a vector of ones: for the tall, narrow
    arrays of per-channel statistics this is an order of magnitude faster than A.sum(axis=0)."""
    return np.ones(A.shape[0], dtype=A.dtype) @ A


def _fold(row: np.ndarray, n: int) -> np.ndarray:
    """A (W*n,) row of per-(position, channel) sums -> (n,) per-channel sums."""
    return row.reshape(-1, n).sum(axis=0)


class BatchNorm(Layer):
    """Batch norm of Z (m, n), or per channel of images Z (m, H, W, C) with n = C.

    ``long_rows`` (class attribute, True): images take the long-row fast path (module
    docstring), in training and inference mode; False keeps the plain (m*H*W, C) path.
    """

    long_rows: bool = True

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
        if Z.ndim == 4 and self.long_rows:
            return self._forward_long_rows(Z) if training else self._infer_long_rows(Z)
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
        if len(cache) == 2:  # (Zc, inv_std) of _forward_long_rows
            return self._backward_long_rows(dout, cache, need_input_grad)
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

    # ---- the long-row fast path (images, training mode) ---------------------------------
    def _forward_long_rows(self, Z: np.ndarray):
        """Training-mode forward of images Z (m, H, W, C) on (m*H, W*C) rows."""
        m, H, W, C = Z.shape
        R = np.ascontiguousarray(Z).reshape(m * H, W * C)
        dt = R.dtype.type
        count = m * H * W
        ones = self._ones(m * H, R.dtype)
        mu = _fold(ones @ R, C) / dt(count)  # (C,)
        work = work_arrays(self)
        Zc = np.subtract(R, np.tile(mu, W), out=work.get("Zc", R.shape, R.dtype))  # (m*H, W*C)
        var = _fold(np.einsum("ij,ij->j", Zc, Zc), C) / dt(count)  # (C,), biased
        self._update_running(mu, var, count)
        inv_std = 1 / np.sqrt(var + dt(self.eps))  # (C,)
        out = work.get("out", R.shape, R.dtype)
        np.multiply(Zc, np.tile(self.params["gamma"] * inv_std, W), out=out)
        out += np.tile(self.params["beta"], W)
        return out.reshape(Z.shape), (Zc.reshape(Z.shape), inv_std)

    def _infer_long_rows(self, Z: np.ndarray):
        """Inference-mode forward of images Z (m, H, W, C) on (m*H, W*C) rows, with the plain
        path's cache (Z_hat (m*H*W, C), inv_std, False)."""
        m, H, W, C = Z.shape
        R = np.ascontiguousarray(Z).reshape(m * H, W * C)
        dt = R.dtype.type
        inv_std = 1 / np.sqrt(self.buffers["running_var"] + dt(self.eps))  # (C,)
        work = work_arrays(self)
        Z_hat = work.get("Z_hat", R.shape, R.dtype)
        np.subtract(R, np.tile(self.buffers["running_mean"], W), out=Z_hat)
        Z_hat *= np.tile(inv_std, W)
        out = work.get("out", R.shape, R.dtype)
        np.multiply(Z_hat, np.tile(self.params["gamma"], W), out=out)
        out += np.tile(self.params["beta"], W)
        return out.reshape(Z.shape), (Z_hat.reshape(-1, C), inv_std, False)

    def _backward_long_rows(self, dout: np.ndarray, cache, need_input_grad: bool):
        """The backward of ``_forward_long_rows``: dout (m, H, W, C) -> dZ, grads."""
        Zc4, inv_std = cache
        m, H, W, C = Zc4.shape
        Zc = Zc4.reshape(m * H, W * C)
        D = np.ascontiguousarray(dout).reshape(m * H, W * C)
        dt = D.dtype.type
        count = m * H * W
        dbeta = _fold(self._ones(m * H, D.dtype) @ D, C)  # sum(dout)
        dgamma = _fold(np.einsum("ij,ij->j", D, Zc), C) * inv_std  # sum(dout * Z_hat)
        grads = {"gamma": dgamma, "beta": dbeta}
        if not need_input_grad:
            return None, grads
        # dZ = gamma inv_std (dout - (dbeta + Z_hat dgamma) / m), four passes in one array
        dZ = work_arrays(self).get("dZ", D.shape, D.dtype)
        np.multiply(Zc, np.tile(-inv_std * dgamma / dt(count), W), out=dZ)
        dZ += D
        dZ += np.tile(-dbeta / dt(count), W)
        dZ *= np.tile(self.params["gamma"] * inv_std, W)
        return dZ.reshape(m, H, W, C), grads

    def _ones(self, n: int, dtype) -> np.ndarray:
        """A reused vector of n ones (read-only use)."""
        ones = getattr(self, "_ones_buf", None)
        if ones is None or ones.shape[0] != n or ones.dtype != dtype:
            ones = self._ones_buf = np.ones(n, dtype=dtype)
        return ones

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
