"""How often predicted labels are right: the one accuracy of the library.

Every model's ``accuracy``, the training loop's per-epoch records and the command line go
through ``accuracy``, with labels from the output's own decision rule (``Loss.decide``).
"""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, y) -> float:
    """Fraction of predicted labels ``pred`` (m,) equal to y: labels (m,) or one-hot /
    probability rows (m, K), which are read as their argmax.

    >>> accuracy(np.array([0, 1, 1]), [0, 1, 0])
    0.6666666666666666
    """
    pred = np.asarray(pred)
    y = np.asarray(y)
    if y.ndim == 2 and pred.ndim == 1 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    if np.shape(y)[:1] != pred.shape[:1]:
        raise ValueError(
            f"y must have one entry per sample ({pred.shape[0]}); got y of shape {np.shape(y)}"
        )
    return float(np.mean(pred == y.reshape(pred.shape)))
