"""Raw inputs through a preprocessor and a model a batch at a time.

A model file's preprocessor turns (m, 64, 64, 3) uint8 images into (m, 12288) float32 rows:
four times the bytes of the images. ``in_batches`` runs such a pipeline ``batch_size`` samples
at a time, so that beyond the input and the result, memory stays at one batch whatever m is
(5,000 images: 61 MB of uint8, but at most 256 x 12288 x 4 bytes = 12.6 MB of float32 rows
at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: raw samples preprocessed and predicted at a time
RAW_BATCH_SIZE = 256


def in_batches(
    fn: Callable[[np.ndarray], np.ndarray],
    X,
    *,
    input_shape: Sequence[int] | None = None,
    batch_size: int = RAW_BATCH_SIZE,
) -> np.ndarray:
    """``fn(X)`` computed ``batch_size`` samples at a time: fn maps (b, ...) to (b, ...) and
    the results are concatenated along the first axis.

    When ``input_shape`` is given and X's samples have another shape, fn gets X whole, so that
    its error names X's own shape rather than a batch's.
    """
    X = np.asarray(X)
    if X.ndim == 0 or X.shape[0] <= batch_size:
        return fn(X)
    if input_shape is not None and X.shape[1:] != tuple(input_shape):
        return fn(X)
    parts = [fn(X[start : start + batch_size]) for start in range(0, X.shape[0], batch_size)]
    return np.concatenate(parts)
