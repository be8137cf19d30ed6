"""gradient_check never false-fails a correct network (any activation x output, float32 or
float64, kinks at 0, tiny gradients) and still catches a wrong derivative, naming the
parameter."""

import numpy as np
import pytest

from nnscratch import Network, gradient_check
from nnscratch.nn import activations
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS

OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}


def problem(rng, output, n_x, m):
    X = rng.standard_normal((m, n_x))
    if output == "sigmoid":
        y = rng.integers(0, 2, m)
    elif output == "softmax":
        y = rng.integers(0, 3, m)
    else:
        y = rng.standard_normal((m, 2))
    return X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_every_correct_network_passes(hidden, output, dtype):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        net = Network(
            [4, 5, 3, OUTPUTS[output]],
            hidden_activation=hidden,
            output_activation=output,
            seed=seed,
            dtype=dtype,
        )
        X, y = problem(rng, output, 4, 6)
        result = gradient_check(net, X, y)
        assert result.passed(), result.report()
        assert result.failed_parameters() == []


def test_the_network_itself_is_untouched():
    net = Network([4, 5, 1], dtype="float32", seed=3)
    before = {k: p.copy() for k, p in net.parameters.items()}
    X, y = problem(np.random.default_rng(0), "sigmoid", 4, 5)
    assert gradient_check(net, X, y).passed()
    assert net.dtype == np.float32
    for k, p in net.parameters.items():
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, before[k])


def test_a_default_float32_network_passes():
    """The case that reported 0.126 and "failed" when the check ran in float32."""
    rng = np.random.default_rng(0)
    net = Network([12, 6, 4, 1])  # float32, he init
    X = rng.random((10, 12))
    y = rng.integers(0, 2, 10)
    result = gradient_check(net, X, y)
    assert result.difference < 1e-7, result.report()


def test_relu_inputs_exactly_at_the_kink_are_skipped_not_failed():
    """A zero input row with zero biases puts every first-layer z exactly at ReLU's kink:
    moving b1 by +-eps crosses it, so those coordinates cannot be checked there."""
    net = Network([3, 4, 1], hidden_activation="relu", dtype="float64", seed=0)
    X = np.array([[0.0, 0.0, 0.0], [1.0, -0.5, 0.3], [0.2, 0.7, -1.0]])
    y = np.array([1, 0, 1])
    result = gradient_check(net, X, y)
    assert result.passed(), result.report()
    assert result.skipped.get("b1"), result.skipped
    assert "skipped" in result.report()
    assert result.n_checked == net.n_parameters


def test_a_kink_close_to_a_probe_is_stepped_around():
    """z within eps of 0: the smaller step keeps the coordinate (nothing skipped)."""
    net = Network([2, 3, 1], hidden_activation="leaky_relu", dtype="float64", seed=1)
    X = np.array([[1.0, 0.5], [-0.3, 0.8]])
    W1, b1 = net.parameters["W1"], net.parameters["b1"]
    b1[:] = -(X[0] @ W1.T) + 3e-7  # sample 0's z are 3e-7 above the kink
    result = gradient_check(net, X, np.array([1, 0]), epsilon=1e-6)
    assert result.passed(), result.report()
    assert result.n_skipped == 0


def test_tiny_gradients_pass():
    """The article's x0.01 init in a deep tanh network: the first layers' gradients are
    ~1e-10, near the finite differences' noise."""
    rng = np.random.default_rng(0)
    net = Network(
        [6, 5, 5, 5, 5, 1], hidden_activation="tanh", init="normal", dtype="float64", seed=0
    )
    X, y = problem(rng, "sigmoid", 6, 8)
    result = gradient_check(net, X, y)
    assert float(np.abs(net.cost_and_gradients(X, y)[1]["W1"]).max()) < 1e-7
    assert result.passed(), result.report()
    assert result.failed_parameters() == []


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_wrong_activation_derivative_is_caught_and_named(monkeypatch, activation, dtype):
    cls = type(activations.get_activation(activation))
    correct = cls.backward

    def wrong_backward(self, dA, Z, A):
        return correct(self, dA, Z, A) * 1.1  # g'(z) 10% too large

    monkeypatch.setattr(cls, "backward", wrong_backward)
    rng = np.random.default_rng(0)
    net = Network([3, 4, 1], hidden_activation=activation, dtype=dtype, seed=0)
    X, y = problem(rng, "sigmoid", 3, 5)
    result = gradient_check(net, X, y)
    assert not result.passed()
    assert set(result.failed_parameters(1e-3)) == {"W1", "b1"}  # before the wrong g'
    assert result.per_parameter["W2"] < 1e-7  # after it: still right
    worst = result.worst[result.failed_parameters()[0]]
    assert worst.layer == 1 and worst.name in ("W", "b")
    assert worst.error == pytest.approx(abs(worst.analytic - worst.numeric))
    report = result.report()
    assert "FAILED" in report and "W1 (layer 1)" in report and "backprop" in report


def test_sampling_counts_the_probed_coordinates():
    net = Network([10, 8, 1], hidden_activation="sigmoid", dtype="float32")
    X, y = problem(np.random.default_rng(1), "sigmoid", 10, 4)
    result = gradient_check(net, X, y, max_per_parameter=5)
    assert result.n_checked == 5 + 5 + 5 + 1
    assert result.passed(), result.report()
