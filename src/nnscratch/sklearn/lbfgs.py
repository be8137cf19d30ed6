"""Training by L-BFGS: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the network's own
gradients, as scikit-learn's MLP does with ``solver="lbfgs"``.

All parameters are packed into one float64 vector theta in scikit-learn's order: each dense
layer's weights in its (n_in, n_out) layout (``coefs_``: the transpose of our (n_out, n_in)
W), then each layer's biases (``intercepts_``), then any other parameters (batch norm's gamma
and beta) by name. ``unpack`` writes theta back into the live arrays, in the network's dtype.
Dropout masks are held fixed during the search, so that the objective is a function.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from nnscratch.sklearn.objective import dense_batch, loss_and_gradients

__all__ = ["Packing", "fit_lbfgs"]


class Packing:
    """The layout of theta over ``net``'s parameters (keys in scikit-learn's order)."""

    def __init__(self, params: dict[str, np.ndarray]):
        weights = [k for k in params if k.startswith("W") and params[k].ndim == 2]
        biases = [k for k in params if k.startswith("b") and k[1:].isdigit()]
        rest = [k for k in params if k not in weights and k not in biases]
        self.keys = [*weights, *biases, *rest]
        self._transposed = set(weights)

    def _view(self, key: str, array: np.ndarray) -> np.ndarray:
        return array.T if key in self._transposed else array

    def pack(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The arrays (parameters or their gradients) as one float64 vector."""
        return np.concatenate(
            [np.ravel(self._view(k, arrays[k])).astype(np.float64) for k in self.keys]
        )

    def unpack(self, theta: np.ndarray, params: dict[str, np.ndarray]) -> None:
        """Copy theta into the live parameter arrays (cast to their dtype)."""
        start = 0
        for k in self.keys:
            view = self._view(k, params[k])
            end = start + view.size
            np.copyto(view, theta[start:end].reshape(view.shape), casting="unsafe")
            start = end


def fit_lbfgs(est, net, X, Y: np.ndarray, sample_weight) -> None:
    """Minimise the regularised loss over all of (X, Y) from the network's current weights;
    sets ``est.n_iter_`` (this call's iterations) and ``est.loss_``. Warns with
    ConvergenceWarning, as scikit-learn does, when L-BFGS stops before converging (max_iter,
    max_fun, or a failed line search)."""
    X = dense_batch(X, net.dtype)
    params = net.parameters
    packing = Packing(params)

    def objective(theta: np.ndarray):
        packing.unpack(theta, params)
        loss, grads = loss_and_gradients(net, X, Y, sample_weight, est.alpha)
        return loss, packing.pack(grads)

    options = {"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol}
    with net.fixed_dropout_masks(), np.errstate(over="ignore", invalid="ignore"):
        result = scipy.optimize.minimize(
            objective, packing.pack(params), method="L-BFGS-B", jac=True, options=options
        )
    packing.unpack(result.x, params)
    if result.status != 0:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}):\n{message}.\n\nIncrease the number of iterations to "
            f"improve the convergence (max_iter={est.max_iter}).\nYou might also want to "
            "scale the data as shown in:\n    "
            "https://scikit-learn.org/stable/modules/preprocessing.html",
            ConvergenceWarning,
            stacklevel=4,  # the caller of fit
        )
    est.n_iter_ = min(int(result.nit), int(est.max_iter))
    est.loss_ = float(result.fun)
