"""L2 regularisation of the weights, the article series' ``compute_cost_with_regularization``
and ``backward_propagation_with_regularization``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class L2Penalty:
    """The L2 penalty of the weights (not biases, not gamma/beta):

    cost += lambda / (2 m) * sum_l ||W_l||_F^2          (compute_cost_with_regularization)
    dW_l += lambda / m * W_l                            (backward_propagation_with_regularization)

    m is the size of the training set, also for mini-batches: then each batch's cost is an
    unbiased estimate of the full regularised cost. ``names`` are the weights' keys in the
    parameter dict ("W1", "W2", ...); each W_l keeps its own shape (n_l, n_{l-1}).
    """

    def __init__(self, lam: float, m: int, names: Sequence[str]):
        self.lam, self.m, self.names = float(lam), int(m), list(names)
        self._scratch: dict[str, np.ndarray] = {}

    def cost(self, params: dict[str, np.ndarray]) -> float:
        """lambda / (2 m) * the sum of the squared weights."""
        total = sum(float(np.vdot(params[k], params[k])) for k in self.names)
        return self.lam / (2 * self.m) * total

    def add_gradients(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """grads[W] += lambda / m * W, in place, for every weight."""
        for k in self.names:
            W = params[k]
            buf = self._scratch.get(k)
            if buf is None:
                buf = self._scratch[k] = np.empty_like(W)
            np.multiply(W, W.dtype.type(self.lam / self.m), out=buf)
            grads[k] += buf
