"""Finite-difference gradient checks: every hidden activation x every output/cost, on random
shapes and depths (hypothesis), in float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch import LeakyReLU, Network, gradient_check
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS

pytestmark = pytest.mark.core

OUTPUTS = ("sigmoid", "softmax", "identity")


def random_problem(rng, output, n_x, n_out, m):
    X = rng.standard_normal((m, n_x))
    if output == "sigmoid":
        y = rng.integers(0, 2, size=(m,) if n_out == 1 else (m, n_out))
    elif output == "softmax":
        y = rng.integers(0, n_out, m)
    else:
        y = rng.standard_normal((m, n_out))
    return X, y


@settings(max_examples=8, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    n_x=st.integers(1, 5),
    m=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_backprop_matches_finite_differences(hidden, output, widths, n_x, m, seed):
    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(2, 4)) if output == "softmax" else int(rng.integers(1, 3))
    net = Network(
        [n_x, *widths, n_out],
        hidden_activation=hidden,
        output_activation=output,
        init="xavier",
        seed=seed,
        dtype="float64",
    )
    for b in (p for k, p in net.parameters.items() if k.startswith("b")):
        b[...] = rng.standard_normal(b.shape) * 0.1  # nonzero biases exercise db fully
    X, y = random_problem(rng, output, n_x, n_out, m)
    # keep relu/leaky relu inputs away from the kink at 0, where the derivative jumps
    result = gradient_check(net, X, y, epsilon=1e-6)
    assert result.difference < 1e-6, result.per_parameter


def test_leaky_relu_custom_slope_gradients():
    rng = np.random.default_rng(0)
    net = Network([3, 5, 4, 1], hidden_activation=LeakyReLU(0.3), dtype="float64", seed=1)
    X, y = random_problem(rng, "sigmoid", 3, 1, 6)
    assert gradient_check(net, X, y).difference < 1e-7


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    rng = np.random.default_rng(0)
    net = Network([3, 4, 1], hidden_activation="tanh", dtype="float64")
    X, y = random_problem(rng, "sigmoid", 3, 1, 5)
    original = Network.cost_and_gradients

    def broken(self, X, y):
        cost, grads = original(self, X, y)
        grads["W1"] = grads["W1"] * 1.1
        return cost, grads

    # on the class: gradient_check works on a (float64) copy of the network
    monkeypatch.setattr(Network, "cost_and_gradients", broken)
    result = gradient_check(net, X, y)
    assert result.difference > 1e-3
    assert result.per_parameter["W1"] > 1e-3 > result.per_parameter["W2"]


def test_gradient_check_sampling_and_restores_parameters():
    rng = np.random.default_rng(0)
    net = Network([10, 8, 1], dtype="float64")
    before = {k: p.copy() for k, p in net.parameters.items()}
    X, y = random_problem(rng, "sigmoid", 10, 1, 4)
    result = gradient_check(net, X, y, max_per_parameter=5)
    assert result.n_checked == 5 + 5 + 5 + 1
    assert result.passed()
    for k, p in net.parameters.items():
        np.testing.assert_array_equal(p, before[k])
