"""Gradient checking by central finite differences (the article series' gradient-checking part).

For every parameter coordinate theta_i (or a random sample of them):

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

    difference = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

A difference below about 1e-7 (float64) means backpropagation is right; above 1e-3 it is
wrong. Works on any network that has ``parameters`` and ``cost_and_gradients`` (run it in
float64: float32 round-off alone gives differences near 1e-3).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np


@dataclass
class GradientCheckResult:
    difference: float  # the article's relative difference over all checked coordinates
    max_abs_error: float
    per_parameter: dict[str, float]  # the same relative difference, per parameter
    n_checked: int

    def passed(self, threshold: float = 1e-7) -> bool:
        return self.difference < threshold


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def gradient_check(
    net,
    X,
    y,
    epsilon: float = 1e-6,
    max_per_parameter: int | None = None,
    seed: int = 0,
) -> GradientCheckResult:
    """Compare ``net.cost_and_gradients`` with finite differences of ``net.cost_and_gradients``'s
    cost, perturbing parameters in place (and restoring them).

    Args:
        max_per_parameter: check at most this many randomly chosen coordinates of each
            parameter array (all of them when None).
    """
    # Dropout draws new masks on every training-mode pass; fix them so the cost is a
    # deterministic function of the parameters.
    fixed = getattr(net, "fixed_dropout_masks", None)
    with fixed(seed) if fixed else nullcontext():
        return _check(net, X, y, epsilon, max_per_parameter, seed)


def _check(net, X, y, epsilon, max_per_parameter, seed) -> GradientCheckResult:
    _, grads = net.cost_and_gradients(X, y)
    rng = np.random.default_rng(seed)
    analytic, numeric, per_parameter = [], [], {}
    for key, p in net.parameters.items():
        flat = p.reshape(-1)  # a view: writing to it perturbs the network
        idx = np.arange(flat.size)
        if max_per_parameter is not None and flat.size > max_per_parameter:
            idx = rng.choice(flat.size, size=max_per_parameter, replace=False)
        approx = np.empty(idx.size)
        for j, i in enumerate(idx):
            original = flat[i]
            flat[i] = original + epsilon
            plus, _ = net.cost_and_gradients(X, y)
            flat[i] = original - epsilon
            minus, _ = net.cost_and_gradients(X, y)
            flat[i] = original
            approx[j] = (plus - minus) / (2 * epsilon)
        exact = grads[key].reshape(-1)[idx].astype(np.float64)
        per_parameter[key] = _relative_difference(exact, approx)
        analytic.append(exact)
        numeric.append(approx)
    a, n = np.concatenate(analytic), np.concatenate(numeric)
    return GradientCheckResult(
        difference=_relative_difference(a, n),
        max_abs_error=float(np.max(np.abs(a - n))) if a.size else 0.0,
        per_parameter=per_parameter,
        n_checked=int(a.size),
    )
