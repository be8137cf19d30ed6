"""Classical baselines for the sequence tasks: what a recurrent network has to beat.

    NgramLanguageModel(order=3, smoothing=0.1)   next token from the n-1 tokens before it
    LinearAutoregressive(order=9)                next value as a linear function of the last p

Both take the arrays ``SequenceNetwork`` takes (``nnscratch.data.sequences`` makes them):
token inputs X (m, T) with per-step targets y (m, T) (-1: not counted), or windows
X (m, T, 1) with next values y (m,).
"""

from __future__ import annotations

import math

import numpy as np

from nnscratch.base.validation import check_positive, check_seed


class NgramLanguageModel:
    """P(y_t | the n-1 tokens up to x_t) from counts with add-k smoothing:

        P(v | context) = (count(context, v) + k) / (count(context) + k V')

    over the V' = V - 1 tokens other than ``padding``, which is never a target (it gets
    probability 0). The context of step t is (x_{t-n+2}, ..., x_t), the steps before the
    first one read as token ``boundary`` (the start of a text). order=2 is a bigram model,
    3 a trigram.
    """

    def __init__(
        self, vocab_size: int, order: int = 2, smoothing: float = 0.1, boundary=1, padding=0
    ):
        self.vocab_size = check_positive("vocab_size", vocab_size, integer=True)
        self.order = check_positive("order", order, integer=True)
        self.smoothing = check_positive("smoothing", smoothing)
        self.boundary, self.padding = int(boundary), int(padding)
        self.counts = np.zeros((self.vocab_size,) * self.order, dtype=np.float64)

    def _contexts(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """n-1 arrays (m, T): the context tokens of every step, oldest first (the last is X
        itself: x_t is the token before target y_t)."""
        X = np.asarray(X, dtype=np.int64)
        lead = np.full((X.shape[0], self.order - 1), self.boundary, dtype=np.int64)
        padded = np.concatenate([lead, X], axis=1)
        T = X.shape[1]
        return tuple(padded[:, k : k + T] for k in range(1, self.order))

    def fit(self, X, y) -> NgramLanguageModel:
        y = np.asarray(y, dtype=np.int64)
        counted = y >= 0
        index = tuple(c[counted] for c in self._contexts(X)) + (y[counted],)
        np.add.at(self.counts, index, 1)
        return self

    def log_proba(self) -> np.ndarray:
        """log P(v | context) for every context and v: (V,) * order."""
        k = np.full(self.vocab_size, self.smoothing)
        k[self.padding] = 0
        totals = self.counts.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):  # log 0 = -inf for the padding token
            return np.log(self.counts + k) - np.log(totals + k.sum())

    def cost(self, X, y) -> float:
        """Mean negative log-likelihood per counted target (nats)."""
        y = np.asarray(y, dtype=np.int64)
        counted = y >= 0
        index = tuple(c[counted] for c in self._contexts(X)) + (y[counted],)
        return float(-self.log_proba()[index].mean())

    def perplexity(self, X, y) -> float:
        return math.exp(self.cost(X, y))

    def sample(self, n: int, seed: int | None = None, end=1, max_length: int = 50):
        """n token sequences, each drawn until ``end`` (left out) or ``max_length``."""
        rng = np.random.default_rng(check_seed(seed))
        P = np.exp(self.log_proba())
        out = []
        for _ in range(check_positive("n", n, integer=True)):
            context, drawn = [self.boundary] * (self.order - 1), []
            for _ in range(max_length):
                v = int(rng.choice(self.vocab_size, p=P[tuple(context)] / P[tuple(context)].sum()))
                if v == end:
                    break
                drawn.append(v)
                context = (context + [v])[1:]
            out.append(np.array(drawn, dtype=np.int64))
        return out


class LinearAutoregressive:
    """AR(p) by least squares: y = b + sum_{j=1..p} a_j x_{T-j}, on the last p values of each
    window X (m, T, 1) (p <= T); ``ridge`` adds lambda ||a||^2."""

    def __init__(self, order: int, ridge: float = 0.0):
        self.order = check_positive("order", order, integer=True)
        self.ridge = check_positive("ridge", ridge, allow_zero=True)
        self.coef_: np.ndarray | None = None

    def _design(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[2] != 1 or X.shape[1] < self.order:
            raise ValueError(
                f"AR({self.order}) needs windows (m, T >= {self.order}, 1); got {X.shape}"
            )
        lags = X[:, -self.order :, 0]
        return np.concatenate([np.ones((X.shape[0], 1)), lags], axis=1)

    def fit(self, X, y) -> LinearAutoregressive:
        A = self._design(X)
        penalty = self.ridge * np.eye(A.shape[1])
        penalty[0, 0] = 0  # the intercept is not shrunk
        self.coef_ = np.linalg.solve(A.T @ A + penalty, A.T @ np.asarray(y, dtype=np.float64))
        return self

    def predict(self, X) -> np.ndarray:
        if self.coef_ is None:
            raise ValueError("fit the model first")
        return self._design(X) @ self.coef_
