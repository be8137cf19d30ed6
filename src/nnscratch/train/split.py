"""Holding out validation data: a split that keeps every class's share."""

from __future__ import annotations

import math

import numpy as np

from nnscratch.base.validation import check_fraction


def stratify_labels(output_activation: str, Y: np.ndarray) -> np.ndarray | None:
    """Class labels (m,) of encoded targets Y (m, n_L) to stratify by, or None (regression,
    multi-label outputs)."""
    if output_activation == "softmax":
        return Y.argmax(axis=1)
    if output_activation == "sigmoid" and Y.shape[1] == 1:
        return Y[:, 0].astype(np.int64)
    return None


def stratified_split(
    labels: np.ndarray | None, fraction: float, rng: np.random.Generator, m: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), each sorted, holding out ceil(fraction * m) samples.

    With ``labels`` (m,) every class keeps its share in both parts (largest remainders
    settle the rounding); with None (then give ``m``) the split is plain random.
    """
    m = len(labels) if labels is not None else m
    fraction = check_fraction("validation_fraction", fraction)
    if m is None:
        raise TypeError("stratified_split needs labels or the number of samples m; got neither")
    n_val = math.ceil(fraction * m)
    if n_val >= m:
        raise ValueError(f"validation_fraction={fraction!r} of {m} samples leaves none to train on")
    if labels is None:
        val = rng.permutation(m)[:n_val]
    else:
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        quotas = counts * (n_val / m)
        take = np.floor(quotas).astype(np.int64)
        remainder = quotas - take
        for c in np.argsort(-remainder, kind="stable")[: n_val - int(take.sum())]:
            take[c] += 1
        val = np.concatenate(
            [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
        )
    is_val = np.zeros(m, dtype=np.bool_)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
