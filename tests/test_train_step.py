"""One step of gradient descent on a [2, 2, 1] network, worked out by hand.

The numbers are chosen so that every intermediate value is a short decimal: both output
logits are 0 (so A_L = sigmoid(0) = 1/2 and the cost is log 2), and one hidden unit is off
(ReLU at z = -1) for the first sample, so the ReLU mask matters.

    X = [[1,  2],      y = [1, 0]     W1 = [[1,  1],   b1 = [0, 0]    W2 = [[1, 0.25]]
         [3, -1]]                           [1, -1]]                  b2 = [-3]

Forward (samples-first, Z = A_prev W^T + b):
    Z1 = [[3, -1], [2, 4]]        A1 = relu(Z1) = [[3, 0], [2, 4]]
    Z2 = A1 W2^T + b2 = [[3 + 0 - 3], [2 + 1 - 3]] = [[0], [0]]      A2 = [[0.5], [0.5]]
    cost = -mean(y log A2 + (1 - y) log(1 - A2)) = log 2
Backward (m = 2):
    dZ2 = (A2 - Y) / m = [[-0.25], [0.25]]
    dW2 = dZ2^T A1 = -0.25 [3, 0] + 0.25 [2, 4] = [[-0.25, 1]]        db2 = [0]
    dA1 = dZ2 W2 = [[-0.25, -0.0625], [0.25, 0.0625]]
    dZ1 = dA1 * (Z1 > 0) = [[-0.25, 0], [0.25, 0.0625]]
    dW1 = dZ1^T X = [[-0.25 + 0.75, -0.5 - 0.25], [0.1875, -0.0625]]
        = [[0.5, -0.75], [0.1875, -0.0625]]                          db1 = [0, 0.0625]
Update, learning rate 0.1 (p -= 0.1 dp):
    W1 = [[0.95, 1.075], [0.98125, -0.99375]]    b1 = [0, -0.00625]
    W2 = [[1.025, 0.15]]                          b2 = [-3]
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnscratch import Network
from nnscratch.train import loop
from nnscratch.train.fit import L2Penalty, train_step
from nnscratch.train.optimizers import GradientDescent

X = np.array([[1.0, 2.0], [3.0, -1.0]])
y = np.array([1, 0])
START = {
    "W1": np.array([[1.0, 1.0], [1.0, -1.0]]),
    "b1": np.array([0.0, 0.0]),
    "W2": np.array([[1.0, 0.25]]),
    "b2": np.array([-3.0]),
}
AFTER_ONE_STEP = {
    "W1": np.array([[0.95, 1.075], [0.98125, -0.99375]]),
    "b1": np.array([0.0, -0.00625]),
    "W2": np.array([[1.025, 0.15]]),
    "b2": np.array([-3.0]),
}


def _net() -> Network:
    net = Network([2, 2, 1], hidden_activation="relu", output_activation="sigmoid", dtype="float64")
    net.set_parameters(START)
    return net


def _Y(net: Network) -> np.ndarray:
    return net.loss.encode_targets(y, net.n_outputs, net.dtype)  # (2, 1)


def _assert_parameters(net: Network, expected: dict) -> None:
    assert set(net.parameters) == set(expected)
    for k, p in net.parameters.items():
        np.testing.assert_allclose(p, expected[k], rtol=0, atol=1e-15, err_msg=k)


def test_one_gradient_descent_step_by_hand():
    net = _net()
    cost = train_step(net, X, _Y(net), GradientDescent(learning_rate=0.1))
    assert isinstance(cost, float)
    assert cost == pytest.approx(math.log(2), rel=1e-15)  # the cost before the update
    _assert_parameters(net, AFTER_ONE_STEP)


def test_the_step_takes_the_schedules_learning_rate():
    net = _net()
    train_step(net, X, _Y(net), GradientDescent(learning_rate=5.0), learning_rate=0.1)
    _assert_parameters(net, AFTER_ONE_STEP)


def test_one_step_with_an_l2_penalty_by_hand():
    # lambda = 0.4, m = 2: cost += 0.4 / 4 * (1 + 1 + 1 + 1 + 1 + 0.0625) = 0.50625, and
    # dW += 0.2 W, so each weight moves a further 0.1 * 0.2 W = 0.02 W; biases as before.
    net = _net()
    penalty = L2Penalty(0.4, 2, ["W1", "W2"])
    cost = train_step(net, X, _Y(net), GradientDescent(learning_rate=0.1), l2=penalty)
    assert cost == pytest.approx(math.log(2) + 0.50625, rel=1e-15)
    expected = dict(AFTER_ONE_STEP)
    expected["W1"] = np.array([[0.93, 1.055], [0.96125, -0.97375]])
    expected["W2"] = np.array([[1.005, 0.145]])
    _assert_parameters(net, expected)


def test_a_non_finite_cost_updates_nothing():
    net = _net()
    X_bad = X.copy()
    X_bad[0, 0] = np.inf  # Z2 = inf for sample 1, whose label is 1: inf - inf = NaN
    with np.errstate(all="ignore"):
        cost = train_step(net, X_bad, _Y(net), GradientDescent(learning_rate=0.1))
    assert math.isnan(cost)
    _assert_parameters(net, START)


def test_fit_takes_the_same_step_through_train_step(monkeypatch):
    calls = []

    def counting_train_step(*args, **kwargs):
        calls.append(args[1].shape)
        return train_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", counting_train_step)
    net = _net()
    history = net.fit(X, y, learning_rate=0.1, iterations=1)
    assert calls == [(2, 2)]  # one full-batch step
    assert history.costs == [pytest.approx(math.log(2), rel=1e-15)]
    _assert_parameters(net, AFTER_ONE_STEP)
