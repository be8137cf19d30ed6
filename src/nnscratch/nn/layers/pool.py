"""Pooling layers, channels-last: max and average over windows, and the global average.

Shapes: A_prev (m, H, W, C) -> A (m, H_out, W_out, C) with H_out = (H - k) // s + 1 (windows
that do not fit are dropped, as in PyTorch's default), and GlobalAveragePool's A (m, C).

    max:      A = max over the window           dA_prev gets dA at the window's first maximum
    average:  A = mean over the window          dA_prev gets dA / (kh*kw) at every position
    global:   A = mean over H and W             dA_prev = dA / (H*W), broadcast

The only Python loops run over the kh*kw window offsets. MaxPool2D's forward caches its input
and output; its backward sends each window's gradient to the first input (row-major) equal to
the window's maximum, so ties go to the first maximum, as PyTorch's do.

Fast path (``MaxPool2D.pairs``) for the common 2 x 2 windows with stride 2 on even H and W:
the maximum of a window is taken in two steps of pairs, first along W (neighbouring columns,
A_prev viewed as (m*H, W/2, 2C): the two halves of each last axis), then along H (rows, the
result viewed as (m*H/2, 2, W/2*C): long contiguous rows). Backward works out from the cached
pairs where each step's maximum came from (the first of a tie: the left column, the top row)
and sends dA back through these two masks, rows first. The window's first maximum in
row-major order lies in the top row if the top row holds the maximum, and then in the left
column of that row if that holds it: the same input as the plain path's, ties included.
The pairs' outputs, masks and gradients are work arrays reused from batch to batch
(``buffers.WorkArrays``).
"""

from __future__ import annotations

import numbers

import numpy as np

from nnscratch.nn.layers.base import Layer
from nnscratch.nn.layers.buffers import work_arrays
from nnscratch.nn.layers.conv import window_slices


def _pool_size(name: str, value) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        kh, kw = value
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an integer >= 1 or a pair of them; got {value!r}"
        ) from None
    for k in (kh, kw):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"{name} must be an integer >= 1 or a pair of them; got {value!r}")
    return int(kh), int(kw)


class _WindowPool(Layer):
    """Shared geometry of the windowed pools: window (kh, kw), stride (sh, sw), no padding."""

    def __init__(self, pool_size: int | tuple[int, int] = 2, *, stride=None, index: int = 0):
        self.index = index
        self.pool_size = _pool_size("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else _pool_size("stride", stride)
        self.params = {}

    def _offsets(self, H: int, W: int):
        """(H_out, W_out) and, per window offset (i, j), the input slices it reads."""
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        H_out, W_out = (H - kh) // sh + 1, (W - kw) // sw + 1
        slices = [
            (window_slices(i, sh, H_out), window_slices(j, sw, W_out))
            for i in range(kh)
            for j in range(kw)
        ]
        return H_out, W_out, slices

    def _tiles(self, shape: tuple[int, ...]) -> bool:
        """True when the windows cover an input of ``shape`` exactly once (no overlap, no
        leftover rows or columns)."""
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        return (kh, kw) == (sh, sw) and shape[1] % kh == 0 and shape[2] % kw == 0

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} layer {self.index} expects inputs of shape (m, H, W, C); "
                f"got per-sample shape {input_shape}"
            )
        H, W, C = input_shape
        if H < self.pool_size[0] or W < self.pool_size[1]:
            raise ValueError(
                f"{type(self).__name__} layer {self.index}: window {self.pool_size} does not fit "
                f"in an input of {(H, W)}"
            )
        H_out, W_out, _ = self._offsets(H, W)
        return (H_out, W_out, C)

    def config(self) -> dict:
        return {
            **super().config(),
            "pool_size": list(self.pool_size),
            "stride": list(self.stride),
        }


class MaxPool2D(_WindowPool):
    """The maximum of each kh x kw window (default 2 x 2, stride = window).

    ``pairs`` (class attribute, True): 2 x 2 windows of stride 2 on even H and W take the
    two-step fast path (module docstring); False keeps the plain path everywhere.
    """

    pairs: bool = True

    def forward(self, A_prev: np.ndarray, training: bool = False):
        m, H, W, C = A_prev.shape
        if self.pairs and self.pool_size == self.stride == (2, 2) and H % 2 == W % 2 == 0:
            return self._forward_pairs(A_prev)
        H_out, W_out, slices = self._offsets(H, W)
        rows, cols = slices[0]
        A = A_prev[:, rows, cols, :].copy()  # (m, H_out, W_out, C)
        for rows, cols in slices[1:]:
            np.maximum(A, A_prev[:, rows, cols, :], out=A)
        return A, (A_prev, A)  # A_prev is alive anyway (the previous layer's output)

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        if len(cache) == 3:  # the masks of _forward_pairs
            return self._backward_pairs(dA, cache), {}
        A_prev, A = cache
        H_out, W_out, slices = self._offsets(A_prev.shape[1], A_prev.shape[2])
        tiled = self._tiles(A_prev.shape)  # every input in exactly one window: write, not add
        dA_prev = (np.empty if tiled else np.zeros)(A_prev.shape, dtype=dA.dtype)
        # Offsets in row-major order; ``rest`` is dA where the window's maximum has not been
        # met yet, so a tie goes to the first maximum, and the last offset takes what is left.
        rest = dA.copy()
        part = np.empty_like(dA)
        for n, (rows, cols) in enumerate(slices):
            window = A_prev[:, rows, cols, :]
            target = dA_prev[:, rows, cols, :]
            if n == len(slices) - 1:
                part = rest
            else:
                np.multiply(rest, window == A, out=part)
                rest -= part
            if tiled:
                target[...] = part
            else:
                target += part
        return dA_prev, {}

    def _forward_pairs(self, A_prev: np.ndarray):
        """2 x 2, stride 2, even H and W: A (m, H/2, W/2, C) and the two masks."""
        m, H, W, C = A_prev.shape
        pairs = np.ascontiguousarray(A_prev).reshape(m * H, W // 2, 2 * C)
        left, right = pairs[:, :, :C], pairs[:, :, C:]
        work = work_arrays(self)
        # (m*H, W/2, C): the maximum of each column pair
        columns = np.maximum(left, right, out=work.get("columns", left.shape, A_prev.dtype))
        rows = columns.reshape(m * H // 2, 2, W // 2 * C)
        A = np.maximum(rows[:, 0], rows[:, 1], out=work.get("A", rows[:, 0].shape, A_prev.dtype))
        return A.reshape(m, H // 2, W // 2, C), (pairs, rows, A_prev.shape)

    def _backward_pairs(self, dA: np.ndarray, cache) -> np.ndarray:
        """dA (m, H/2, W/2, C) -> dA_prev (m, H, W, C) through the masks, rows then columns."""
        pairs, rows, shape = cache
        m, H, W, C = shape
        work = work_arrays(self)
        left, right = pairs[:, :, :C], pairs[:, :, C:]
        # the first of a tie: the left one, the top one
        left_wins = np.greater_equal(left, right, out=work.get("left_wins", left.shape, bool))
        top_wins = np.greater_equal(
            rows[:, 0], rows[:, 1], out=work.get("top_wins", rows[:, 0].shape, bool)
        )
        D = np.ascontiguousarray(dA).reshape(m * H // 2, W // 2 * C)
        d_columns = work.get("d_columns", (m * H // 2, 2, W // 2 * C), dA.dtype)
        # the loser of each pair gets d - d * mask: exactly d where the mask is 0, 0 where 1
        np.multiply(D, top_wins, out=d_columns[:, 0])
        np.subtract(D, d_columns[:, 0], out=d_columns[:, 1])
        d_columns = d_columns.reshape(m * H, W // 2, C)
        dA_prev = work.get("dA_prev", (m * H, W // 2, 2 * C), dA.dtype)
        np.multiply(d_columns, left_wins, out=dA_prev[:, :, :C])
        np.subtract(d_columns, dA_prev[:, :, :C], out=dA_prev[:, :, C:])
        return dA_prev.reshape(shape)


class AveragePool2D(_WindowPool):
    """The mean of each kh x kw window (default 2 x 2, stride = window)."""

    def forward(self, A_prev: np.ndarray, training: bool = False):
        m, H, W, C = A_prev.shape
        H_out, W_out, slices = self._offsets(H, W)
        rows, cols = slices[0]
        A = A_prev[:, rows, cols, :].copy()
        for rows, cols in slices[1:]:
            A += A_prev[:, rows, cols, :]
        A *= A.dtype.type(1.0 / len(slices))
        return A, A_prev.shape

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        shape = cache
        H_out, W_out, slices = self._offsets(shape[1], shape[2])
        share = dA * dA.dtype.type(1.0 / len(slices))
        tiled = self._tiles(shape)
        dA_prev = (np.empty if tiled else np.zeros)(shape, dtype=dA.dtype)
        for rows, cols in slices:
            if tiled:
                dA_prev[:, rows, cols, :] = share
            else:
                dA_prev[:, rows, cols, :] += share
        return dA_prev, {}


class GlobalAveragePool(Layer):
    """The mean of each channel over the whole image: (m, H, W, C) -> (m, C)."""

    def __init__(self, *, index: int = 0):
        self.index = index
        self.params = {}

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"GlobalAveragePool layer {self.index} expects inputs of shape (m, H, W, C); "
                f"got per-sample shape {input_shape}"
            )
        return (input_shape[2],)

    def forward(self, A_prev: np.ndarray, training: bool = False):
        return A_prev.mean(axis=(1, 2), dtype=A_prev.dtype), A_prev.shape

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        m, H, W, C = cache
        dA_prev = np.empty(cache, dtype=dA.dtype)
        dA_prev[...] = (dA * dA.dtype.type(1.0 / (H * W)))[:, None, None, :]
        return dA_prev, {}
