"""examples/l_layer_model.py, the article's L_layer_model written with the library's pieces,
runs on the cat data and trains exactly what ``Network.fit`` trains for the same seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nnscratch import Network

pytest.importorskip("h5py")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "l_layer_model.py"
ITERATIONS = 100


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("l_layer_model_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def cat_env(cat_data_dir, monkeypatch):
    monkeypatch.setenv("NNSCRATCH_DATA", str(cat_data_dir))


@pytest.mark.slow  # a few seconds of CPU: the slow tier (CI runs it)
def test_the_example_trains_what_network_fit_trains(example, cat_env):
    X_train, y_train, X_test, y_test = example.load_data()
    assert X_train.shape == (209, 12288) and X_train.dtype == np.float32
    model, costs = example.L_layer_model(
        X_train, y_train, example.LAYERS_DIMS, num_iterations=ITERATIONS, seed=0
    )
    net = Network(example.LAYERS_DIMS, init="sqrt_n_prev", seed=0)  # ReLU, sigmoid output
    # the article's path, bitwise; fit's default here, the Gram-matrix path
    # (nnscratch.train.gram), is the same run to float rounding
    history = net.fit(
        X_train, y_train, learning_rate=0.0075, iterations=ITERATIONS, gram_path=False
    )
    fast = Network(example.LAYERS_DIMS, init="sqrt_n_prev", seed=0)
    fast_history = fast.fit(X_train, y_train, learning_rate=0.0075, iterations=ITERATIONS)
    np.testing.assert_allclose(fast_history.costs, costs, rtol=1e-5)

    assert costs == history.costs
    assert costs[-1] < costs[0]
    assert set(model.parameters) == set(net.parameters)
    for k, p in net.parameters.items():
        np.testing.assert_array_equal(model.parameters[k], p, err_msg=k)
    for X, y in ((X_train, y_train), (X_test, y_test)):
        np.testing.assert_array_equal(model.predict(X), net.predict(X))
        assert example.accuracy(model.predict(X), y) == net.accuracy(X, y)


@pytest.mark.slow  # a few seconds of CPU: the slow tier (CI runs it)
def test_the_example_script_prints_the_cost_every_100_iterations(example, cat_env, capsys):
    result = example.main(["--iterations", "201"])
    lines = capsys.readouterr().out.splitlines()
    printed = [line for line in lines if line.startswith("Cost after iteration")]
    assert [line.split(":")[0] for line in printed] == [
        f"Cost after iteration {i}" for i in (0, 100, 200)
    ]
    assert lines[-2:] == [
        f"Train accuracy: {result['train_accuracy']:.4f}",
        f"Test accuracy: {result['test_accuracy']:.4f}",
    ]
    assert 0.5 < result["train_accuracy"] <= 1
