"""Inverted dropout (the article series' regularisation part): keep each unit with probability
``keep_prob`` and divide by it, so that the expected activation is unchanged and nothing needs
rescaling at predict time.

    forward (training):   D = (U < keep_prob) / keep_prob,  U ~ uniform(0, 1)  (m, n)
                          A = A_prev * D
    backward (training):  dA_prev = dA * D            (the cache is the mask D)
    forward / backward (inference): identity

The mask is drawn from ``rng`` (the network sets it: a seeded generator, so that the same seed
gives the same masks). For gradient checking the mask can be pinned: while ``mask_seed`` is
not None every forward pass draws the same mask from that seed.
"""

from __future__ import annotations

import numpy as np

from nnscratch.base.validation import check_probability
from nnscratch.nn.layers.base import Layer


class Dropout(Layer):
    stochastic = True

    def __init__(self, keep_prob: float, *, index: int, rng: np.random.Generator | None = None):
        self.keep_prob = check_probability("dropout keep probability", keep_prob)
        self.index = index
        self.params = {}
        self.rng = rng if rng is not None else np.random.default_rng()
        self.mask_seed: int | None = None

    def forward(self, A_prev: np.ndarray, training: bool = False):
        if not training or self.keep_prob == 1:
            return A_prev, None
        rng = (
            self.rng
            if self.mask_seed is None
            else np.random.default_rng([self.mask_seed, self.index])
        )
        dt = A_prev.dtype.type
        D = rng.random(A_prev.shape, dtype=A_prev.dtype)  # U (m, n), then the mask in place
        np.less(D, dt(self.keep_prob), out=D, casting="unsafe")  # 1.0 where kept, else 0.0
        D *= dt(1 / self.keep_prob)
        return A_prev * D, D

    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        D = cache
        return (dA if D is None else dA * D), {}

    def config(self) -> dict:
        return {**super().config(), "keep_prob": self.keep_prob}


def check_keep_probs(dropout, n_hidden: int) -> list[float] | None:
    """The network's ``dropout`` argument -> one keep probability per hidden layer, or None.

    ``dropout`` is None (no dropout), one keep probability for every hidden layer, or a
    sequence with one per hidden layer; each must be in (0, 1] (1 keeps every unit).
    """
    if dropout is None:
        return None
    if isinstance(dropout, (int, float, np.integer, np.floating)) and not isinstance(dropout, bool):
        probs = [float(dropout)] * n_hidden
    else:
        try:
            probs = [float(p) for p in dropout]
        except (TypeError, ValueError) as err:
            raise ValueError(
                "dropout must be None, a keep probability in (0, 1], or one per hidden layer; "
                f"got {dropout!r}"
            ) from err
        if len(probs) != n_hidden:
            raise ValueError(
                f"dropout needs one keep probability per hidden layer ({n_hidden}); "
                f"got {len(probs)}: {dropout!r}"
            )
    return [check_probability("dropout keep probability", p) for p in probs]
