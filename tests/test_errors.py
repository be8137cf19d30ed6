"""One test per bad argument: each raises ValueError naming what it got and what is allowed."""

import numpy as np
import pytest

from nnscratch import Network

X = np.zeros((3, 4))
y = np.array([0, 1, 0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer_dims": [4]}, r"at least 2 sizes.*\[4\]"),
        ({"layer_dims": []}, r"at least 2 sizes"),
        ({"layer_dims": 5}, r"list of at least 2 positive integers; got 5"),
        ({"layer_dims": [4, 0, 1]}, r"integers >= 1; got 0"),
        ({"layer_dims": [4, -2, 1]}, r"integers >= 1; got -2"),
        ({"layer_dims": [4, 2.5, 1]}, r"integers >= 1; got 2.5"),
        ({"layer_dims": [4, 3, 1], "hidden_activation": "swish"}, r"'swish'.*allowed: sigmoid"),
        ({"layer_dims": [4, 3, 1], "hidden_activation": "softmax"}, r"'softmax'.*allowed"),
        ({"layer_dims": [4, 3, 1], "output_activation": "relu"}, r"'relu'.*sigmoid, softmax"),
        ({"layer_dims": [4, 3, 1], "output_activation": "softmax"}, r"at least 2 units; got 1"),
        ({"layer_dims": [4, 3, 1], "init": "zeros"}, r"unknown init 'zeros'.*he"),
        ({"layer_dims": [4, 3, 1], "init": "normal", "init_scale": 0}, r"init_scale.*got 0"),
        ({"layer_dims": [4, 3, 1], "dtype": "float16"}, r"float32, float64; got 'float16'"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Network(**kwargs)


@pytest.mark.parametrize(
    "X_, y_, message",
    [
        (np.zeros((3, 5)), y, r"shape \(m, 4\).*got shape \(3, 5\)"),
        (np.zeros(4), y, r"shape \(m, 4\).*got shape \(4,\)"),
        (np.zeros((0, 4)), y[:0], r"no samples"),
        (np.array([[0, 0, np.nan, 0]] * 3), y, r"NaN or infinity"),
        (np.array([[0, 0, np.inf, 0]] * 3), y, r"NaN or infinity"),
        (np.array([["a"] * 4] * 3), y, r"must hold numbers"),
        (X, np.array([0, 1]), r"one entry per sample of X \(3\).*\(2,\)"),
        (X, np.array([0, 1, 2]), r"must be 0 or 1; got \[2\]"),
        (X, np.array([0, 1, -1]), r"must be 0 or 1; got \[-1\]"),
    ],
)
def test_bad_data(X_, y_, message):
    with pytest.raises(ValueError, match=message):
        Network([4, 3, 1]).cost_and_gradients(X_, y_)


def test_softmax_labels_out_of_range():
    net = Network([4, 3, 3], output_activation="softmax")
    with pytest.raises(ValueError, match=r"in 0..2 .*got \[3\]"):
        net.cost_and_gradients(X, np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"integers 0..2"):
        net.cost_and_gradients(X, np.array([0.5, 1, 2]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": 0}, r"learning_rate must be a finite number > 0; got 0"),
        ({"learning_rate": -0.1}, r"learning_rate.*got -0.1"),
        ({"learning_rate": float("nan")}, r"learning_rate.*got nan"),
        ({"learning_rate": float("inf")}, r"learning_rate.*got inf"),
        ({"iterations": 0}, r"iterations must be an integer >= 1; got 0"),
        ({"iterations": -5}, r"iterations.*got -5"),
        ({"iterations": 2.5}, r"iterations.*got 2.5"),
    ],
)
def test_bad_fit_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Network([4, 3, 1]).fit(X, y, **{"learning_rate": 0.1, "iterations": 1, **kwargs})


def test_set_parameters_checks_keys_and_shapes():
    net = Network([4, 3, 1])
    with pytest.raises(ValueError, match="keys"):
        net.set_parameters({"W1": np.zeros((3, 4))})
    bad = {k: v.copy() for k, v in net.parameters.items()}
    bad["W1"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"W1 must have shape \(3, 4\); got \(4, 3\)"):
        net.set_parameters(bad)
