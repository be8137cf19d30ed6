"""The embedding layer: token ids -> learned vectors, as PyTorch's ``nn.Embedding``.

    forward:   A[i, t] = W[ids[i, t]]          ids (m, T) integers 0..V-1, W (V, D), A (m, T, D)
    backward:  dW[v] = sum of dA[i, t] over the (i, t) with ids[i, t] == v       (scatter-add)

It is a Dense layer on one-hot inputs (A = onehot(ids) . W) without building the one-hots.
The ids have no gradient: backward returns None for the input. The model hands the ids over
as floats of its dtype (``fit`` converts every X); they must be whole numbers in 0..V-1.
W starts as N(0, 1), as PyTorch's. The output is a (m, T, D) view of time-major (T, m, D)
storage, which the recurrent layer after it reads without a copy (``recurrent.py``).
"""

from __future__ import annotations

import numpy as np

from nnscratch.base.validation import check_dtype, check_positive, check_seed
from nnscratch.nn.layers.base import Layer


class Embedding(Layer):
    """``Embedding(vocab_size, dim, *, seed=0, dtype="float32")``: parameter W (V, D)."""

    def __init__(
        self, vocab_size: int, dim: int, *, seed: int | None = 0, dtype="float32", index: int = 0
    ):
        self.vocab_size = check_positive("vocab_size", vocab_size, integer=True)
        self.dim = check_positive("dim", dim, integer=True)
        self.index = index
        rng = np.random.default_rng(check_seed(seed))
        shape = (self.vocab_size, self.dim)
        self.params = {"W": rng.standard_normal(shape).astype(check_dtype(dtype))}

    def token_ids(self, A_prev: np.ndarray) -> np.ndarray:
        """A_prev (m, T) of whole numbers -> intp ids, checked to be in 0..V-1."""
        ids = A_prev.astype(np.intp)
        if ids.size and (
            ids.min() < 0 or ids.max() >= self.vocab_size or not np.array_equal(ids, A_prev)
        ):
            bad = np.unique(A_prev[(A_prev != ids) | (ids < 0) | (ids >= self.vocab_size)])
            raise ValueError(
                f"token ids must be whole numbers in 0..{self.vocab_size - 1} (the embedding's "
                f"vocabulary); got {bad[:5].tolist()}"
            )
        return ids

    def forward(self, A_prev: np.ndarray, training: bool = False):
        ids = self.token_ids(A_prev)
        if ids.ndim == 2:  # rows gathered time-major, returned as a (m, T, D) view
            return self.params["W"][ids.T].transpose(1, 0, 2), ids
        return self.params["W"][ids], ids

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        ids = cache
        dW = np.zeros_like(self.params["W"])
        np.add.at(dW, ids, dA)
        return None, {"W": dW}

    def output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def config(self) -> dict:
        return {**super().config(), "vocab_size": self.vocab_size, "dim": self.dim}
