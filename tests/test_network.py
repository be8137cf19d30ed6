"""Network: the public contract, shapes, dtype, reproducibility, a hand-worked step."""

import numpy as np
import pytest

from nnscratch import Network, TrainingDivergedError


def data(m=12, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def test_parameter_names_and_shapes():
    net = Network([4, 5, 3, 1])
    shapes = {k: v.shape for k, v in net.parameters.items()}
    assert shapes == {"W1": (5, 4), "b1": (5,), "W2": (3, 5), "b2": (3,), "W3": (1, 3), "b3": (1,)}
    assert all(np.all(net.parameters[f"b{l}"] == 0) for l in (1, 2, 3))  # noqa: E741
    assert net.n_parameters == 20 + 5 + 15 + 3 + 3 + 1


@pytest.mark.core
def test_gradients_have_the_parameters_keys_and_shapes():
    X, y = data()
    net = Network([4, 5, 3, 1])
    cost, grads = net.cost_and_gradients(X, y)
    assert isinstance(cost, float)
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in net.parameters.items()}


def test_forward_returns_one_cache_per_layer():
    X, _ = data()
    net = Network([4, 5, 3, 1])
    Z_L, caches = net.forward(X.astype(np.float32))
    assert Z_L.shape == (12, 1)
    assert len(caches) == len(net.layers) == 5  # 3 Dense + 2 hidden activations


def test_input_layer_dA_is_not_computed(monkeypatch):
    X, y = data()
    net = Network([4, 5, 1])
    seen = []
    first = net.layers[0]
    original = first.backward

    def spy(dA, cache, need_input_grad=True):
        seen.append(need_input_grad)
        return original(dA, cache, need_input_grad)

    monkeypatch.setattr(first, "backward", spy)
    net.cost_and_gradients(X, y)
    assert seen == [False]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_dtype_end_to_end(dtype):
    X, y = data()
    net = Network([4, 5, 3, 1], hidden_activation="tanh", dtype=dtype)
    assert all(p.dtype == dtype for p in net.parameters.values())
    _, grads = net.cost_and_gradients(X, y)  # X is float64: converted once, explicitly
    assert all(g.dtype == dtype for g in grads.values())
    net.fit(X, y, learning_rate=0.1, iterations=3)
    assert all(p.dtype == dtype for p in net.parameters.values())
    assert net.predict_proba(X).dtype == dtype


def test_same_seed_same_network_and_run():
    X, y = data()
    a, b = Network([4, 6, 1], seed=3), Network([4, 6, 1], seed=3)
    state = np.random.get_state()  # noqa: NPY002 (checking the legacy global state)
    ha = a.fit(X, y, learning_rate=0.1, iterations=20)
    hb = b.fit(X, y, learning_rate=0.1, iterations=20)
    assert ha.costs == hb.costs
    for k in a.parameters:
        np.testing.assert_array_equal(a.parameters[k], b.parameters[k])
    assert np.all(np.random.get_state()[1] == state[1])  # noqa: NPY002 (untouched)
    c = Network([4, 6, 1], seed=4)
    assert not np.array_equal(Network([4, 6, 1], seed=3).parameters["W1"], c.parameters["W1"])


@pytest.mark.core
def test_hand_worked_single_gradient_descent_step():
    # One sample, network [2, 1] with a sigmoid output: z = w.x + b, a = sigmoid(z).
    # dZ = a - y, dW = dZ * x, db = dZ; W := W - lr * dW.
    net = Network([2, 1], dtype="float64")
    net.set_parameters({"W1": np.array([[0.5, -0.25]]), "b1": np.array([0.1])})
    x, y = np.array([[2.0, 4.0]]), np.array([1])
    z = 0.5 * 2 - 0.25 * 4 + 0.1  # = 0.1
    a = 1 / (1 + np.exp(-z))
    cost = -np.log(a)
    history = net.fit(x, y, learning_rate=0.5, iterations=1)
    assert history.costs == [pytest.approx(cost, rel=1e-12)]
    np.testing.assert_allclose(
        net.parameters["W1"], [[0.5 - 0.5 * (a - 1) * 2, -0.25 - 0.5 * (a - 1) * 4]]
    )
    np.testing.assert_allclose(net.parameters["b1"], [0.1 - 0.5 * (a - 1)])


def test_fit_learns_and_records_every_cost(capsys):
    X, y = data(m=64)
    net = Network([4, 8, 1], seed=0)
    history = net.fit(X, y, learning_rate=0.5, iterations=200, print_every=100)
    assert len(history.costs) == 200
    assert history.costs[-1] < history.costs[0] / 2
    assert net.accuracy(X, y) > 0.9
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"Cost after iteration 100: {history.costs[99]:.6f}",
        f"Cost after iteration 200: {history.costs[199]:.6f}",
    ]


def test_predict_shapes_per_output():
    X, _ = data()
    assert Network([4, 3, 1]).predict_proba(X).shape == (12,)
    assert set(np.unique(Network([4, 3, 1]).predict(X))) <= {0, 1}
    soft = Network([4, 3, 3], output_activation="softmax")
    assert soft.predict_proba(X).shape == (12, 3)
    np.testing.assert_allclose(soft.predict_proba(X).sum(axis=1), 1, rtol=1e-5)
    assert soft.predict(X).shape == (12,)
    reg = Network([4, 3, 2], output_activation="identity")
    assert reg.predict(X).shape == (12, 2)


def test_predict_in_batches_equals_all_at_once():
    X, _ = data(m=50)
    net = Network([4, 6, 1], dtype="float64")
    np.testing.assert_allclose(net.predict_proba(X, batch_size=7), net.predict_proba(X))


def test_softmax_accepts_indices_and_one_hot():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    net = Network([4, 5, 3], output_activation="softmax", dtype="float64")
    c1, g1 = net.cost_and_gradients(X, y)
    c2, g2 = net.cost_and_gradients(X, np.eye(3)[y])
    assert c1 == pytest.approx(c2)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k])


def test_regression_learns():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (100, 2))
    y = X @ np.array([1.5, -2.0]) + 0.5
    net = Network([2, 8, 1], hidden_activation="tanh", output_activation="identity", seed=0)
    history = net.fit(X, y, learning_rate=0.1, iterations=500)
    assert history.costs[-1] < 0.01


def test_divergence_stops_with_iteration_and_keeps_finite_state():
    X, y = data(m=40)
    X = X * 1e3
    net = Network([4, 16, 16, 1], output_activation="identity", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"iteration \d+.*smaller learning rate"):
        net.fit(X, y * 1e3, learning_rate=10.0, iterations=100)
    assert all(np.isfinite(p).all() for p in net.parameters.values())


def test_config_round_trip():
    net = Network([4, 5, 1], hidden_activation="leaky_relu", init="xavier", seed=7)
    twin = Network.from_config(net.config())
    for k in net.parameters:
        np.testing.assert_array_equal(net.parameters[k], twin.parameters[k])
    assert twin.hidden_activation == net.hidden_activation
