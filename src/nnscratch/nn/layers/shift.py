"""Random translations of input images, as a layer that only acts while training.

    forward (training):  P = reflect-pad A_prev by ``max_shift`` on every side   (m, H+2s, W+2s, C)
                         A[n] = P[n, dy_n : dy_n + H, dx_n : dx_n + W]            (m, H, W, C)
                         with dy_n, dx_n drawn uniformly from 0..2s, per image
    backward:            dP[n, dy_n : dy_n + H, dx_n : dx_n + W] = dA[n], then each padded
                         border row/column is added back onto the row/column it mirrors
    inference:           identity

Both directions are slices, one per image (m small copies of H x W x C, no index arrays);
the reflect padding is written into a reused work array by slices too (``reflect_pad``).

Shifting each image by a few pixels, afresh every time it is used, is the classic augmentation
for small image data sets (with ``fit(augment_flip=True)`` for mirror images). The shifts come
from ``rng``, which ``fit`` points at its seeded generator (as it does for dropout masks, through
``mask_seed``/``rng``), so the same seed gives the same run.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.base import Layer
from nnscratch.nn.layers.buffers import work_arrays


def reflect_pad(A: np.ndarray, s: int, out: np.ndarray | None = None) -> np.ndarray:
    """``np.pad(A, ((0, 0), (s, s), (s, s), (0, 0)), mode="reflect")`` for A (m, H, W, C) with
    H, W > s, by slices into ``out`` (m, H+2s, W+2s, C) when given: padded row s-1-k copies
    padded row s+1+k at the top, row s+H+k copies row s+H-2-k at the bottom (k = 0..s-1),
    the same for columns; rows last, so that the corners are reflected twice."""
    m, H, W, C = A.shape
    if out is None:
        out = np.empty((m, H + 2 * s, W + 2 * s, C), dtype=A.dtype)
    out[:, s : s + H, s : s + W] = A
    inner = out[:, s : s + H]
    inner[:, :, s - 1 :: -1] = inner[:, :, s + 1 : 2 * s + 1]
    inner[:, :, s + W :] = inner[:, :, s + W - 2 : W - 2 : -1]
    out[:, s - 1 :: -1] = out[:, s + 1 : 2 * s + 1]
    out[:, s + H :] = out[:, s + H - 2 : H - 2 : -1]
    return out


class RandomShift(Layer):
    """Translate each image by up to ``max_shift`` pixels along H and W (training only)."""

    stochastic = True

    def __init__(self, max_shift: int, *, index: int = 0, rng: np.random.Generator | None = None):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)):
            raise ValueError(f"max_shift must be an integer >= 1; got {max_shift!r}")
        if max_shift < 1:
            raise ValueError(f"max_shift must be an integer >= 1; got {max_shift!r}")
        self.max_shift = int(max_shift)
        self.index = index
        self.params = {}
        self.rng = rng if rng is not None else np.random.default_rng()
        self.mask_seed: int | None = None  # pins the shifts, like Dropout's masks

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or min(input_shape[:2]) <= self.max_shift:
            raise ValueError(
                f"RandomShift({self.max_shift}) needs images (H, W, C) larger than the shift; "
                f"got per-sample shape {input_shape}"
            )
        return input_shape

    def forward(self, A_prev: np.ndarray, training: bool = False):
        if not training:
            return A_prev, None
        m, H, W, _ = A_prev.shape
        s = self.max_shift
        rng = self.rng if self.mask_seed is None else np.random.default_rng([self.mask_seed, 7])
        dy, dx = rng.integers(0, 2 * s + 1, size=(2, m))
        P = reflect_pad(A_prev, s, self._padded_buffer(A_prev, s))
        A = work_arrays(self).get("A", A_prev.shape, A_prev.dtype)
        for n in range(m):
            A[n] = P[n, dy[n] : dy[n] + H, dx[n] : dx[n] + W]
        return A, (dy, dx, P.shape)

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        if cache is None or not need_input_grad:
            return (dA if need_input_grad else None), {}
        dy, dx, padded_shape = cache
        m, H, W, _ = dA.shape
        s = self.max_shift
        dP = np.zeros(padded_shape, dtype=dA.dtype)
        for n in range(m):
            dP[n, dy[n] : dy[n] + H, dx[n] : dx[n] + W] = dA[n]
        # fold the reflected borders back onto the rows they copy (numpy's "reflect": padded
        # row s-1-k copies padded row s+1+k at the top; padded row -s+k-1 copies padded row
        # -s-k-1 at the bottom, k = 0..s-1), first along H, then along W
        dP[:, s + 1 : 2 * s + 1] += dP[:, s - 1 :: -1]
        dP[:, -2 * s - 1 : -s - 1] += dP[:, -1 : -s - 1 : -1]
        dP[:, :, s + 1 : 2 * s + 1] += dP[:, :, s - 1 :: -1]
        dP[:, :, -2 * s - 1 : -s - 1] += dP[:, :, -1 : -s - 1 : -1]
        return dP[:, s:-s, s:-s], {}

    def _padded_buffer(self, A: np.ndarray, s: int) -> np.ndarray:
        """The work array of the padded images, reused between forward passes (nothing keeps
        it after forward returns: the shifted images are copied out of it)."""
        m, H, W, C = A.shape
        shape = (m, H + 2 * s, W + 2 * s, C)
        buf = getattr(self, "_pad", None)
        if buf is None or buf.shape != shape or buf.dtype != A.dtype:
            buf = self._pad = np.empty(shape, dtype=A.dtype)
        return buf

    def config(self) -> dict:
        return {**super().config(), "max_shift": self.max_shift}
