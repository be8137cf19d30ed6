"""The 2-D convolution layer, channels-last, by im2col and one matrix product.

Shapes (samples-first, channels-last, as the image files store them):

    A_prev (m, H, W, C_in)   W (kh, kw, C_in, C_out)   b (C_out,)   Z (m, H_out, W_out, C_out)

forward (cross-correlation, as every deep-learning library computes it):

    cols[n, y, x, i, j, c] = A_pad[n, y*s + i, x*s + j, c]        (im2col: one strided copy)
    Z = cols . W + b        as a (m*H_out*W_out, kh*kw*C_in) x (kh*kw*C_in, C_out) product

backward (cols is cached by forward; with ``blocks``, below, rebuilt block by block):

    dW = cols^T . dZ                      (kh*kw*C_in, C_out) -> (kh, kw, C_in, C_out)
    db = sum of dZ over n, y, x           (C_out,)  (as ones . dZ: BLAS sums faster than numpy)
    dcols[..., i, j, :] = dZ . W[i, j]^T  (m, H_out, W_out, C_in) for each kernel offset (i, j)
    dA_prev[n, y*s + i - top, x*s + j - left, c] += dcols[n, y, x, i, j, c]
                                          (col2im: kh*kw slice adds, padding positions left out)

im2col is a ``sliding_window_view`` copied once; the only Python loop (col2im) runs over the
kh*kw kernel offsets, never over pixels or samples. cols (or its block), Z, dA_prev and
col2im's block are work arrays reused from batch to batch (``buffers.WorkArrays``: a fresh
10-20 MB array per batch costs more in page faults than the copy; an array still held, e.g.
by the cache of an earlier pass, is never handed out again).
PyTorch stores the same weights as (C_out, C_in, kh, kw): ``W.transpose(3, 2, 0, 1)``.

Fast path (``Conv2D.planes``) for inputs of few channels (an RGB image: C_in = 3): the plain
im2col copy moves runs of only C_in numbers, three times slower than the product after it.
``_window_view`` copies the padded input once to channel planes (C_in, m, H, W) and their
windows into cols^T (kh, kw, C_in, m, H_out, W_out), in runs of W_out numbers; cols is the
transposed view of that array, the same matrix, and forward and backward use it unchanged.

Fast path (``Conv2D.blocks``): im2col and the product run a block of images at a time
(``BLOCK_BYTES`` of cols: one to a few images), each block copied into one small work array
and multiplied while it is still in the cache, instead of the whole 10-20 MB cols being
written out to memory and read back. The cache then holds the input instead of cols, and
backward rebuilds cols block by block for dW = sum over blocks of cols_block^T . dZ_block.

Padding: "valid" (none), "same" (H_out = ceil(H / stride), the extra row or column going to the
bottom/right as in TensorFlow), or an int p (p zeros on every side).
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnscratch.nn.initializers import Initializer
from nnscratch.nn.layers.base import Layer
from nnscratch.nn.layers.buffers import work_arrays

PADDINGS = ("same", "valid")
#: ``Conv2D.planes`` builds im2col from channel planes for inputs of at most this many channels
PLANES_MAX_CHANNELS = 4
#: ``Conv2D.blocks``: im2col and the products run on blocks of images of about this many bytes
#: of cols, so that each block is multiplied while it is still in the cache
BLOCK_BYTES = 1 << 20  # 1 MiB: one image of the recipe's conv2, three of conv3
_WORK_ARRAYS = ("_pad", "_pad_planes", "_ones_buf")  # reused between passes, never saved


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_padding(padding) -> str | int:
    """Return "same", "valid" or an int >= 0; anything else raises ValueError."""
    if isinstance(padding, str):
        if padding not in PADDINGS:
            raise ValueError(
                f"padding must be one of {', '.join(PADDINGS)} or an integer >= 0; got {padding!r}"
            )
        return padding
    return _check_int("padding", padding, 0)


def pad_amounts(size: int, kernel: int, stride: int, padding: str | int) -> tuple[int, int, int]:
    """(pad_before, pad_after, output size) along one spatial axis of length ``size``."""
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        out = -(-size // stride)  # ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = int(padding)
    out = (size + before + after - kernel) // stride + 1
    return before, after, out


def _overlap(shift: int, stride: int, out: int, size: int) -> tuple[slice, slice]:
    """For one kernel offset: the output positions y whose input position y*stride + shift
    lies inside 0..size-1 (not in the padding), and those input positions."""
    first = max(0, -(shift // stride))  # ceil(-shift / stride)
    last = min(out - 1, (size - 1 - shift) // stride)
    if last < first:
        return slice(0, 0), slice(0, 0)
    return (
        slice(first, last + 1),
        slice(first * stride + shift, last * stride + shift + 1, stride),
    )


def window_slices(offset: int, stride: int, out: int) -> slice:
    """The input rows (or columns) that kernel offset ``offset`` meets, one per output row."""
    return slice(offset, offset + stride * (out - 1) + 1, stride)


class Conv2D(Layer):
    """C_out filters of kh x kw over C_in channels, with a bias per filter (``remove_bias``
    leaves it out).

    Args:
        in_channels: C_in, the number of channels of the input.
        filters: C_out, the number of output channels.
        kernel_size: k or (kh, kw).
        stride: the step between windows, the same along both axes.
        padding: "same", "valid" or an int (zeros on every side).
        init: the weight initialiser, called with fan_in = kh*kw*C_in and
            fan_out = kh*kw*C_out (He: N(0, 2 / (kh*kw*C_in))).

    ``planes`` (class attribute, True): inputs of at most ``PLANES_MAX_CHANNELS`` channels
    (an RGB image) build the same im2col matrix from channel planes (``_window_view``),
    where the plain copy would move runs of only C_in numbers; False keeps the plain im2col.
    ``blocks`` (class attribute, True): im2col and the products run a few images at a time
    (``BLOCK_BYTES``), forward and backward; False does the whole batch's im2col, caches it
    and multiplies once.
    """

    planes: bool = True
    blocks: bool = True

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        padding: str | int = "same",
        init: Initializer,
        rng: np.random.Generator,
        dtype: np.dtype,
        index: int,
    ):
        self.index = index
        self.in_channels = _check_int("in_channels", in_channels, 1)
        self.filters = _check_int("filters", filters, 1)
        if isinstance(kernel_size, (int, numbers.Integral)):
            kernel_size = (kernel_size, kernel_size)
        kh, kw = (_check_int("kernel_size", k, 1) for k in kernel_size)
        self.kernel_size = (kh, kw)
        self.stride = _check_int("stride", stride, 1)
        self.padding = check_padding(padding)
        fan_in, fan_out = kh * kw * self.in_channels, kh * kw * self.filters
        shape = (kh, kw, self.in_channels, self.filters)
        self.params = {
            "W": init(rng, shape, fan_in, fan_out, dtype),  # (kh, kw, C_in, C_out)
            "b": np.zeros(self.filters, dtype=dtype),  # (C_out,)
        }

    def remove_bias(self) -> None:
        """Leave the bias out (Z = cols . W): for a conv followed by batch norm, which cancels
        any per-channel constant (``ConvNetwork`` does this)."""
        self.params.pop("b", None)

    def _geometry(self, H: int, W: int):
        kh, kw = self.kernel_size
        top, bottom, H_out = pad_amounts(H, kh, self.stride, self.padding)
        left, right, W_out = pad_amounts(W, kw, self.stride, self.padding)
        return (top, bottom, left, right), H_out, W_out

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.in_channels:
            raise ValueError(
                f"Conv2D layer {self.index} expects inputs of shape (m, H, W, {self.in_channels});"
                f" got per-sample shape {input_shape}"
            )
        _, H_out, W_out = self._geometry(input_shape[0], input_shape[1])
        if H_out < 1 or W_out < 1:
            raise ValueError(
                f"Conv2D layer {self.index}: kernel {self.kernel_size} with padding "
                f"{self.padding!r} does not fit in an input of {input_shape[:2]}"
            )
        return (H_out, W_out, self.filters)

    def forward(self, A_prev: np.ndarray, training: bool = False):
        m, H, W, C = A_prev.shape
        pads, H_out, W_out = self._geometry(H, W)
        K = self.kernel_size[0] * self.kernel_size[1] * C
        W2 = self.params["W"].reshape(K, self.filters)
        Z = work_arrays(self).get("Z", (m * H_out * W_out, self.filters), A_prev.dtype)
        cache: tuple[np.ndarray | None, np.ndarray]
        if self.blocks:  # im2col and Z = cols . W a block of images at a time
            for rows, cols_block in self._im2col_blocks(A_prev, pads, H_out, W_out):
                np.matmul(cols_block, W2, out=Z[rows])
            cache = (None, A_prev)  # backward rebuilds cols block by block
        else:
            cols = self._im2col(A_prev, pads, H_out, W_out)  # (m*H_out*W_out, kh*kw*C_in)
            np.matmul(cols, W2, out=Z)  # (m*H_out*W_out, C_out)
            cache = (cols, A_prev)
        if "b" in self.params:
            Z += self.params["b"]
        return Z.reshape(m, H_out, W_out, self.filters), cache

    def _uses_planes(self, C: int) -> bool:
        return self.planes and C <= PLANES_MAX_CHANNELS

    def _im2col(self, A_prev: np.ndarray, pads, H_out: int, W_out: int) -> np.ndarray:
        """cols (m*H_out*W_out, kh*kw*C_in): one row per output position, its window in W's
        (kh, kw, C_in) order; a work array, or with ``planes`` the transposed view of one."""
        m, _, _, C = A_prev.shape
        kh, kw = self.kernel_size
        windows = self._window_view(A_prev, pads, H_out, W_out)
        if self._uses_planes(C):
            cols_T = work_arrays(self).get("cols", (kh, kw, C, m, H_out, W_out), A_prev.dtype)
            np.copyto(cols_T, windows)
            return cols_T.reshape(kh * kw * C, -1).T
        cols = work_arrays(self).get("cols", (m, H_out, W_out, kh, kw, C), A_prev.dtype)
        np.copyto(cols, windows)  # im2col: the one copy
        return cols.reshape(-1, kh * kw * C)

    def _im2col_blocks(self, A_prev: np.ndarray, pads, H_out: int, W_out: int):
        """Yield (rows, cols[rows]) for blocks of about ``BLOCK_BYTES`` of cols (at least one
        image each), copied in turn into one small work array: each block is multiplied while
        it is still in the cache (the fast path ``blocks``; cols[rows] is only valid until the
        next block)."""
        m, _, _, C = A_prev.shape
        kh, kw = self.kernel_size
        K = kh * kw * C
        windows = self._window_view(A_prev, pads, H_out, W_out)
        per_image = H_out * W_out * K  # numbers of cols per image
        step = max(1, min(m, BLOCK_BYTES // (per_image * A_prev.itemsize)))
        flat = work_arrays(self).get("cols_block", (step * per_image,), A_prev.dtype)
        planes = self._uses_planes(C)
        for first in range(0, m, step):
            n = min(step, m - first)
            rows = slice(first * H_out * W_out, (first + n) * H_out * W_out)
            if planes:
                block = flat[: n * per_image].reshape(kh, kw, C, n, H_out, W_out)
                np.copyto(block, windows[:, :, :, first : first + n])
                yield rows, block.reshape(K, -1).T
            else:
                block = flat[: n * per_image].reshape(n, H_out, W_out, kh, kw, C)
                np.copyto(block, windows[first : first + n])
                yield rows, block.reshape(-1, K)

    def _window_view(self, A_prev: np.ndarray, pads, H_out: int, W_out: int) -> np.ndarray:
        """A read-only view of every window of the zero-padded input, in the order im2col
        copies it: (m, H_out, W_out, kh, kw, C_in); with ``planes`` (few channels) the windows
        of channel planes (C_in, m, H, W) instead, as (kh, kw, C_in, m, H_out, W_out)."""
        m, H, W, C = A_prev.shape
        kh, kw = self.kernel_size
        s = self.stride
        top, bottom, left, right = pads
        Hp, Wp = H + top + bottom, W + left + right
        if self._uses_planes(C):
            P = self._padded_buffer((C, m, Hp, Wp), A_prev.dtype, name="_pad_planes")
            P[:, :, top : top + H, left : left + W] = A_prev.transpose(3, 0, 1, 2)
            windows = sliding_window_view(P, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]
            return windows[:, :, :H_out, :W_out].transpose(4, 5, 0, 1, 2, 3)
        if top or bottom or left or right:
            A_pad = self._padded_buffer((m, Hp, Wp, C), A_prev.dtype)
            A_pad[:, top : top + H, left : left + W, :] = A_prev
        else:
            A_pad = A_prev
        # (m, H_out, W_out, C, kh, kw) -> (m, H_out, W_out, kh, kw, C): each window in W's order
        windows = sliding_window_view(A_pad, (kh, kw), axis=(1, 2))[:, ::s, ::s]
        return windows[:, :H_out, :W_out].transpose(0, 1, 2, 4, 5, 3)

    def backward(self, dZ: np.ndarray, cache, need_input_grad: bool = True):
        cols, A_prev = cache  # cols (m*H_out*W_out, kh*kw*C_in), or None with ``blocks``
        m, H, W, C = A_prev.shape
        kh, kw = self.kernel_size
        s = self.stride
        dZ2 = np.ascontiguousarray(dZ).reshape(-1, self.filters)  # (m*H_out*W_out, C_out)
        if cols is not None:
            dW = cols.T @ dZ2  # (kh*kw*C_in, C_out)
        else:  # the same sum, block by block, over the rebuilt cols
            pads, H_out, W_out = self._geometry(H, W)
            dW = np.zeros((kh * kw * C, self.filters), dtype=dZ2.dtype)
            for rows, cols_block in self._im2col_blocks(A_prev, pads, H_out, W_out):
                dW += cols_block.T @ dZ2[rows]
        grads = {"W": dW.reshape(self.params["W"].shape)}
        if "b" in self.params:
            # a matrix-vector product sums over the rows far faster than dZ2.sum(axis=0)
            grads["b"] = self._ones(dZ2.shape[0], dZ2.dtype) @ dZ2
        if not need_input_grad:
            return None, grads
        # col2im, one kernel offset (i, j) at a time: dcols[..., i, j, :] = dZ . W[i, j]^T is
        # computed as its own contiguous (m*H_out*W_out, C_in) block and added to the inputs
        # it came from, padding rows and columns left out (long contiguous runs, unlike a
        # scatter of dcols' columns). With stride 1 and "same" padding the centre offset
        # meets every input once: its block is written straight into dA_prev, no zeroing.
        (top, _, left, _), H_out, W_out = self._geometry(H, W)
        W_ = self.params["W"]
        centre = (top, left) if (s, H_out, W_out) == (1, H, W) else None
        work = work_arrays(self)
        dA_prev = work.get("dA_prev", (m, H, W, C), dZ.dtype)
        if centre is not None:
            np.matmul(dZ2, W_[centre].T, out=dA_prev.reshape(-1, C))
        else:
            dA_prev[...] = 0
        block = work.get("block", (dZ2.shape[0], C), dZ.dtype)
        block4 = block.reshape(m, H_out, W_out, C)
        for i in range(kh):
            out_rows, in_rows = _overlap(i - top, s, H_out, H)
            for j in range(kw):
                if (i, j) == centre:
                    continue
                out_cols, in_cols = _overlap(j - left, s, W_out, W)
                np.matmul(dZ2, W_[i, j].T, out=block)
                dA_prev[:, in_rows, in_cols, :] += block4[:, out_rows, out_cols, :]
        return dA_prev, grads

    def _ones(self, n: int, dtype) -> np.ndarray:
        """A reused vector of n ones (read-only use)."""
        ones = getattr(self, "_ones_buf", None)
        if ones is None or ones.shape[0] != n or ones.dtype != dtype:
            ones = self._ones_buf = np.ones(n, dtype=dtype)
        return ones

    def __getstate__(self) -> dict:
        """Pickles and copies leave the work arrays out (they are rebuilt on first use)."""
        return {k: v for k, v in self.__dict__.items() if k not in _WORK_ARRAYS}

    def _padded_buffer(self, shape: tuple[int, ...], dtype, name: str = "_pad") -> np.ndarray:
        """A zero-bordered work array for the padded input, reused by every im2col (forward,
        and backward's rebuilt blocks): only the interior is ever written, from the input at
        hand, and nothing keeps it between calls."""
        buf = getattr(self, name, None)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype=dtype)
            setattr(self, name, buf)
        return buf

    def config(self) -> dict:
        return {
            **super().config(),
            "in_channels": self.in_channels,
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": self.stride,
            "padding": self.padding,
            "bias": "b" in self.params,
        }
