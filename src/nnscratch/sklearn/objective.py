"""The function the estimators minimise: the network's cost plus scikit-learn's L2 penalty.

    loss = cost(X, Y; w) + alpha / (2 s) * sum_l ||W_l||^2,    s = sum(w) (= m unweighted)

the penalty on the weights only (not biases, not batch norm's gamma and beta), scaled by the
batch's total sample weight exactly as scikit-learn's MLP scales it. The cost and every
gradient are the network's own (``nnscratch.nn.model.cost_and_gradients``: its hand-written
backward), the penalty's are ``nnscratch.train.regularization.L2Penalty``'s.

Shapes: X (m, n_features) (a scipy.sparse batch is made dense here, one batch at a time), Y
(m, n_outputs) encoded targets, sample_weight (m,) or None.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.model import cost_and_gradients
from nnscratch.train.optimizers import is_weight
from nnscratch.train.regularization import L2Penalty

__all__ = ["dense_batch", "loss_and_gradients"]


def dense_batch(X, dtype) -> np.ndarray:
    """X (m, n) as a C-ordered ndarray of ``dtype``; a sparse matrix is densified."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


def loss_and_gradients(
    net, X, Y: np.ndarray, sample_weight: np.ndarray | None, alpha: float
) -> tuple[float, dict[str, np.ndarray]]:
    """The regularised loss on one batch (training mode) and its gradient for every
    parameter of ``net`` (same keys and shapes as ``net.parameters``)."""
    X = dense_batch(X, net.dtype)
    Y = np.asarray(Y, dtype=net.dtype)  # a classifier's targets are kept as bools
    cost, grads = cost_and_gradients(net, X, Y, True, sample_weight)
    total_weight = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    params = net.parameters
    penalty = L2Penalty(alpha / total_weight, 1, [k for k in params if is_weight(k)])
    penalty.add_gradients(params, grads)
    return cost + penalty.cost(params), grads
