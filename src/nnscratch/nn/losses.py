"""Costs, each fused with the output activation it belongs to.

The article computes ``A_L = sigmoid(Z_L)``, then ``cost = -mean(y log A + (1-y) log(1-A))``,
then starts backward from ``dA_L = -(y/A - (1-y)/(1-A))``: that divides by numbers that reach
zero. For the three canonical pairs below the chain rule collapses to

    dZ_L = (A_L - Y) / m

(sigmoid + binary cross-entropy, softmax + categorical cross-entropy, identity + (half)
squared error), so each loss here owns its output activation, computes its cost from the
logits Z_L (no log(0)), and hands backward dZ_L directly.

Shapes (samples-first): Z_L, A_L and Y are (m, n_L). ``encode_targets`` turns the user's
y into that Y and says what is wrong with y when it cannot.

Sample weights: ``cost`` and ``output_gradient`` take an optional ``sample_weight`` w (m,) of
non-negative numbers. The cost is then the weighted mean  sum_i w_i cost_i / sum_i w, and
dZ_L = (A_L - Y) * w / sum(w), so that w = ones gives the unweighted values (scikit-learn's
rule, ``np.average(..., weights=w)``). Without weights the code path is the plain one.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.activations import Activation, Identity, Sigmoid, Softmax


class Loss:
    """An output activation fused with its cost."""

    name: str = "loss"
    activation: Activation
    #: True for a loss with one target per time step (Z (m, T, K), Y (m, T)); a sequence
    #: model then keeps the time axis up to its output layer
    per_step: bool = False

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Mean cost over the m samples, from the logits Z (m, n_L); the weighted mean
        sum_i w_i cost_i / sum(w) with ``sample_weight`` w (m,)."""
        raise NotImplementedError

    def output_gradient(
        self, A: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """dZ_L = (A_L - Y) / m: where backward starts; (A_L - Y) * w / sum(w) with
        ``sample_weight`` w (m,)."""
        if sample_weight is None:
            return (A - Y) / A.dtype.type(A.shape[0])
        share = (sample_weight / sample_weight.sum()).astype(A.dtype)  # (m,) w_i / sum(w)
        return (A - Y) * share.reshape((-1,) + (1,) * (A.ndim - 1))

    def cost_and_output_gradient(
        self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """(cost, dZ_L): ``cost(Z, Y)`` and ``output_gradient(activation(Z), Y)`` together,
        which a loss may compute from shared intermediate arrays (the same values)."""
        cost = self.cost(Z, Y, sample_weight)
        return cost, self.output_gradient(self.activation.forward(Z), Y, sample_weight)

    def encode_targets(self, y, n_out: int, dtype: np.dtype) -> np.ndarray:
        """Check y and turn it into Y of shape (m, n_out) and the network's dtype."""
        raise NotImplementedError

    def check_output_width(self, n_out: int) -> None:
        """Raise ValueError if this output cannot have n_out units."""

    def count(self, Y: np.ndarray) -> int:
        """How many targets of Y the cost averages over (samples; counted steps for a
        per-step loss): what combines the costs of parts of a batch into the batch's."""
        return Y.shape[0]

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """The labels (or values) that logits Z (m, n_L) predict: the one decision rule that
        every model and estimator uses. (m,) for one output unit or a softmax."""
        raise NotImplementedError

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        """``decide`` for output activations P (m, n_L) that no longer have logits (an
        ensemble's mean probabilities); the same rule, stated on probabilities."""
        raise NotImplementedError


class BinaryCrossEntropy(Loss):
    """Sigmoid output + binary cross-entropy, the article's ``compute_cost``.

    cost = mean over samples and outputs of  max(z, 0) - z*y + log(1 + e^-|z|),
    which equals -[y log sigmoid(z) + (1-y) log(1 - sigmoid(z))] without ever taking log(0).
    """

    name = "binary_cross_entropy"
    activation = Sigmoid()

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """Class 1 where z > 0. On the logit, not on sigmoid(z) >= 0.5: in float32,
        sigmoid(-1e-9) rounds to exactly 0.5, which would call a negative logit a 1."""
        labels = (Z > 0).astype(np.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        labels = (P > 0.5).astype(np.int64)  # z > 0 exactly when sigmoid(z) > 1/2
        return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        per_element = np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
        if sample_weight is not None:
            return _weighted_mean(per_element, sample_weight)
        return float(per_element.sum(dtype=np.float64) / Z.shape[0])

    def encode_targets(self, y, n_out: int, dtype) -> np.ndarray:
        y = _columns(y, n_out, "a sigmoid")
        if not np.all((y == 0) | (y == 1)):
            bad = np.unique(y[(y != 0) & (y != 1)])[:5]
            raise ValueError(f"labels for a sigmoid output must be 0 or 1; got {bad.tolist()}")
        return y.astype(dtype)


class CategoricalCrossEntropy(Loss):
    """Softmax output + categorical cross-entropy over K >= 2 classes.

    cost = mean over samples of  logsumexp(z) - z[y],  i.e. -log softmax(z)[y], from logits.
    """

    name = "categorical_cross_entropy"
    activation = Softmax()

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """The class of the largest logit (softmax keeps the order; the first on ties)."""
        return Z.argmax(axis=1)

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        return P.argmax(axis=1)

    def check_output_width(self, n_out: int) -> None:
        if n_out < 2:
            raise ValueError(f"a softmax output needs at least 2 units; got {n_out}")

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        _, _, logsumexp = _shifted_exponentials(Z)
        return self._cost_from(logsumexp, Z, Y, sample_weight)

    def cost_and_output_gradient(self, Z, Y, sample_weight=None):
        """The cost's exponentials E = e^(z - max z) and their sums s give softmax(Z) = E / s
        too: one exponential per logit instead of two, with the values of ``cost`` and
        ``output_gradient(Softmax().forward(Z), Y)`` to the bit."""
        E, s, logsumexp = _shifted_exponentials(Z)
        cost = self._cost_from(logsumexp, Z, Y, sample_weight)
        A = np.divide(E, s, out=E)  # A_L = softmax(Z)
        return cost, self.output_gradient(A, Y, sample_weight)

    @staticmethod
    def _cost_from(logsumexp, Z, Y, sample_weight) -> float:
        """mean over samples of logsumexp(z) - z[y] (weighted by ``sample_weight``)."""
        if sample_weight is not None:
            return _weighted_mean((logsumexp - Z) * Y, sample_weight)
        return float(((logsumexp - Z) * Y).sum(dtype=np.float64) / Z.shape[0])

    def encode_targets(self, y, n_out: int, dtype) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == n_out:  # one-hot (or soft) targets
            if not (np.all(y >= 0) and np.allclose(y.sum(axis=1), 1)):
                raise ValueError("one-hot targets for a softmax output must be >= 0 and sum to 1")
            return y.astype(dtype)
        if y.ndim != 1:
            raise ValueError(
                f"y for a softmax output of {n_out} classes must be class indices of shape (m,) "
                f"or one-hot of shape (m, {n_out}); got shape {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
            raise ValueError(
                f"class labels for a softmax output must be integers 0..{n_out - 1}; "
                f"got values of dtype {y.dtype}"
            )
        if y.size and (y.min() < 0 or y.max() >= n_out):
            bad = np.unique(y[(y < 0) | (y >= n_out)])[:5]
            raise ValueError(
                f"class labels must be in 0..{n_out - 1} for {n_out} output units; "
                f"got {bad.tolist()}"
            )
        Y = np.zeros((y.shape[0], n_out), dtype=dtype)
        Y[np.arange(y.shape[0]), y.astype(np.intp)] = 1
        return Y


class MeanSquaredError(Loss):
    """Identity output + half squared error, for regression.

    cost = (1 / 2m) * sum over samples and outputs of (a - y)^2, so dZ_L = (A - Y) / m.
    """

    name = "mean_squared_error"
    activation = Identity()

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """The predicted values themselves ((m,) for one output unit)."""
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        return self.decide(P)

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        diff = Z.astype(np.float64) - Y  # (m, n_L): float64 so a diverging run gives inf, not
        if sample_weight is not None:  # an overflow warning
            return 0.5 * _weighted_mean(diff * diff, sample_weight)
        return float(0.5 * (diff * diff).sum() / Z.shape[0])

    def encode_targets(self, y, n_out: int, dtype) -> np.ndarray:
        y = _columns(y, n_out, "an identity")
        if not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"regression targets must be numbers; got dtype {y.dtype}")
        y = y.astype(dtype)
        if not np.all(np.isfinite(y)):
            raise ValueError("regression targets contain NaN or infinity")
        return y


class Exponential(Activation):
    """g(z) = e^z: the inverse of the log link, the output activation of ``PoissonDeviance``
    (counts and rates: always > 0). Not a hidden activation."""

    name = "exp"

    def forward(self, Z: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a diverging run gives inf, then a non-finite error
            return np.exp(Z)

    def derivative_from(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return A


class PoissonDeviance(Loss):
    """Exponential output (log link) + half Poisson deviance, for counts y >= 0.

    cost = mean over samples of the sum over outputs of  y log(y / e^z) - y + e^z
    (y log y = 0 at y = 0; scikit-learn's ``loss="poisson"``), whose gradient with respect to
    the logit z is e^z - y: the fused dZ_L = (A_L - Y) / m again.
    """

    name = "poisson"
    activation = Exponential()

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """The predicted means e^z ((m,) for one output unit)."""
        A = self.activation.forward(Z)
        return A[:, 0] if A.shape[1] == 1 else A

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        return P[:, 0] if P.ndim == 2 and P.shape[1] == 1 else P

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)
        y_log_y = np.where(Y64 > 0, Y64 * np.log(np.where(Y64 > 0, Y64, 1.0)), 0.0)
        with np.errstate(over="ignore"):
            per_element = y_log_y - Y64 * Z64 - Y64 + np.exp(Z64)
        if sample_weight is not None:
            return _weighted_mean(per_element, sample_weight)
        return float(per_element.sum() / Z.shape[0])

    def encode_targets(self, y, n_out: int, dtype) -> np.ndarray:
        y = _columns(y, n_out, "an exponential")
        if not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"Poisson targets must be numbers; got dtype {y.dtype}")
        y = y.astype(dtype)
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise ValueError("Poisson targets must be finite numbers >= 0")
        return y


def _shifted_exponentials(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For logits Z (m, K): E = e^(Z - max_k z) (m, K), no exponent overflowing; s, the sums
    of E's rows (m, 1); and logsumexp(z) = log s + max_k z (m, 1)."""
    zmax = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - zmax)
    s = E.sum(axis=1, keepdims=True)
    return E, s, np.log(s) + zmax


def _weighted_mean(per_element: np.ndarray, sample_weight: np.ndarray) -> float:
    """sum_i w_i * (the sum of row i of per_element (m, n_L)) / sum(w), in float64."""
    w = np.asarray(sample_weight, dtype=np.float64)
    rows = per_element.reshape(per_element.shape[0], -1).sum(axis=1, dtype=np.float64)
    return float(rows @ w / w.sum())


def _columns(y, n_out: int, output: str) -> np.ndarray:
    """y as (m, n_out) for an output of n_out units: (m,) is taken for one unit."""
    y = np.asarray(y)
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_out:
        hint = ""
        if output == "a sigmoid" and y.ndim == 1 and n_out > 1:
            hint = (
                f'; for one class label 0..{n_out - 1} per sample use output_activation="softmax"'
            )
        raise ValueError(
            f"y for {output} output of {n_out} unit(s) must have shape "
            f"{'(m,) or ' if n_out == 1 else ''}(m, {n_out}); got shape {y.shape}{hint}"
        )
    return y


class SequenceCrossEntropy(Loss):
    """A softmax over K classes at every time step + categorical cross-entropy, averaged over
    the counted steps: a language model's next-token loss.

    Z (m, T, K) logits; Y (m, T) class indices, where a negative index (-1) marks a step
    that is not counted (padding after the end of a shorter sequence, as PyTorch's
    ``ignore_index``). With N counted steps:

        cost = (1 / N) * sum over counted (i, t) of  logsumexp(z_it) - z_it[y_it]
        dZ   = (softmax(Z) - onehot(Y)) / N      at counted steps, 0 elsewhere

    exp(cost) is the model's perplexity.
    """

    name = "sequence_cross_entropy"
    activation = Softmax()
    per_step = True

    def decide(self, Z: np.ndarray) -> np.ndarray:
        """The most likely class at every step: (m, T)."""
        return Z.argmax(axis=-1)

    def decide_proba(self, P: np.ndarray) -> np.ndarray:
        return P.argmax(axis=-1)

    def check_output_width(self, n_out: int) -> None:
        if n_out < 2:
            raise ValueError(f"a per-step softmax output needs at least 2 units; got {n_out}")

    def count(self, Y: np.ndarray) -> int:
        return int(np.count_nonzero(Y >= 0))

    def _targets(self, Z: np.ndarray, Y: np.ndarray):
        if Z.shape[:2] != Y.shape:
            raise ValueError(
                f"per-step targets must have shape (m, T) = {Z.shape[:2]}; got {Y.shape}"
            )
        counted = Y >= 0
        return counted, np.where(counted, Y, 0).astype(np.intp), max(self.count(Y), 1)

    def cost(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        _no_sample_weight(sample_weight)
        counted, idx, n = self._targets(Z, Y)
        zmax = Z.max(axis=-1, keepdims=True)
        logsumexp = np.log(np.exp(Z - zmax).sum(axis=-1)) + zmax[..., 0]  # (m, T)
        z_y = np.take_along_axis(Z, idx[..., None], axis=-1)[..., 0]
        return float(np.where(counted, logsumexp - z_y, 0).sum(dtype=np.float64) / n)

    def output_gradient(
        self, A: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        _no_sample_weight(sample_weight)
        counted, idx, n = self._targets(A, Y)
        weight = (counted / A.dtype.type(n)).astype(A.dtype)  # (m, T): 1/N or 0
        dZ = A * weight[..., None]
        np.put_along_axis(
            dZ, idx[..., None], np.take_along_axis(dZ, idx[..., None], -1) - weight[..., None], -1
        )
        return dZ

    def encode_targets(self, y, n_out: int, dtype) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 2:
            raise ValueError(
                "y for a per-step softmax output must be class indices of shape (m, T), "
                f"-1 where a step is not counted; got shape {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
            raise ValueError(
                f"per-step class labels must be integers 0..{n_out - 1} (or -1: not counted); "
                f"got values of dtype {y.dtype}"
            )
        if y.size and y.max() >= n_out:
            bad = np.unique(y[y >= n_out])[:5]
            raise ValueError(
                f"class labels must be in 0..{n_out - 1} for {n_out} output units "
                f"(or -1: not counted); got {bad.tolist()}"
            )
        return np.where(y < 0, -1, y).astype(dtype)


def _no_sample_weight(sample_weight) -> None:
    if sample_weight is not None:
        raise ValueError("a per-step loss takes no sample_weight; mark uncounted steps with -1")


#: The one registry from output activation names to their fused losses.
LOSSES: dict[str, type[Loss]] = {
    "sigmoid": BinaryCrossEntropy,
    "softmax": CategoricalCrossEntropy,
    "identity": MeanSquaredError,
    "exp": PoissonDeviance,
    "sequence_softmax": SequenceCrossEntropy,
}


def get_loss(output_activation: str) -> Loss:
    """The loss that goes with an output activation name."""
    if not isinstance(output_activation, str) or output_activation not in LOSSES:
        raise ValueError(
            f"unknown output_activation {output_activation!r}; allowed: {', '.join(LOSSES)}"
        )
    return LOSSES[output_activation]()
