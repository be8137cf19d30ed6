"""Sample weights in the fused losses, and the Poisson loss (exponential output).

A weighted cost is sum_i w_i cost_i / sum(w) and dZ_L = (A_L - Y) w / sum(w): weights of one
equal the unweighted path, integer weights equal repeated rows, and the gradients of the whole
network agree with finite differences of the weighted cost.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch.models.network import Network
from nnscratch.nn.losses import LOSSES, PoissonDeviance, get_loss
from nnscratch.nn.model import cost_and_gradients

RNG = np.random.default_rng(0)
M, K = 7, 3


def _targets(output: str, m: int = M) -> np.ndarray:
    if output == "softmax":
        return np.eye(K)[RNG.integers(0, K, m)]
    if output == "sigmoid":
        return RNG.integers(0, 2, (m, K)).astype(float)
    if output == "exp":
        return RNG.poisson(2.0, (m, K)).astype(float)
    return RNG.normal(size=(m, K))


OUTPUTS = ["sigmoid", "softmax", "identity", "exp"]


@pytest.mark.parametrize("output", OUTPUTS)
def test_unit_weights_equal_the_unweighted_path(output):
    loss = get_loss(output)
    Z, Y = RNG.normal(size=(M, K)), _targets(output)
    A = loss.activation.forward(Z)
    assert loss.cost(Z, Y, np.ones(M)) == pytest.approx(loss.cost(Z, Y), rel=1e-12)
    np.testing.assert_allclose(loss.output_gradient(A, Y, np.ones(M)), loss.output_gradient(A, Y))


@pytest.mark.parametrize("output", OUTPUTS)
def test_integer_weights_equal_repeated_rows(output):
    loss = get_loss(output)
    Z, Y = RNG.normal(size=(M, K)), _targets(output)
    w = np.array([0, 1, 2, 3, 1, 0, 2])
    Zr, Yr = np.repeat(Z, w, axis=0), np.repeat(Y, w, axis=0)
    assert loss.cost(Z, Y, w) == pytest.approx(loss.cost(Zr, Yr), rel=1e-12)
    dZ = loss.output_gradient(loss.activation.forward(Z), Y, w)
    dZr = loss.output_gradient(loss.activation.forward(Zr), Yr)
    np.testing.assert_allclose(dZ.sum(axis=0), dZr.sum(axis=0), atol=1e-14)


@pytest.mark.parametrize("output", OUTPUTS)
def test_weighted_network_gradients_match_finite_differences(output):
    net = Network(
        [4, 5, K], hidden_activation="tanh", output_activation=output, seed=1, dtype="float64"
    )
    X, Y = RNG.normal(size=(M, 4)), _targets(output)
    w = RNG.uniform(0.1, 3, M)
    _, grads = cost_and_gradients(net, X, Y, True, w)
    eps = 1e-6
    for key, p in net.parameters.items():
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = cost_and_gradients(net, X, Y, True, w)[0]
            p[idx] = old - eps
            down = cost_and_gradients(net, X, Y, True, w)[0]
            p[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_poisson_deviance_is_scikit_learns_half_deviance():
    loss = PoissonDeviance()
    Z = RNG.normal(size=(M, 1))
    y = RNG.poisson(2.0, (M, 1)).astype(float)
    mu = np.exp(Z)
    y_log = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0)
    assert loss.cost(Z, y) == pytest.approx(float(np.mean(y_log - y + mu)), rel=1e-12)
    assert LOSSES["exp"] is PoissonDeviance and loss.activation.name == "exp"
    np.testing.assert_allclose(loss.decide(Z), mu[:, 0])
    with pytest.raises(ValueError, match=">= 0"):
        loss.encode_targets(-y, 1, np.float64)


def test_a_per_step_loss_refuses_sample_weights():
    loss = get_loss("sequence_softmax")
    with pytest.raises(ValueError, match="no sample_weight"):
        loss.cost(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.ones(2))
