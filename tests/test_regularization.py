"""Regularisation: L2, inverted dropout and batch norm (gradient checks in float64), and
random horizontal flips."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import Network, gradient_check
from nnscratch.nn.layers import BatchNorm, Dropout
from nnscratch.train.augment import flip_horizontal, random_flip
from nnscratch.train.fit import L2Penalty


def data(m=12, n_x=5, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x))
    y = rng.integers(0, classes, m)
    y[:classes] = np.arange(classes)
    return X, y


class Objective:
    """What gradient_check needs (``parameters``, ``cost_and_gradients``) for a cost that
    ``Network.cost_and_gradients`` does not compute: with L2, or in inference mode."""

    def __init__(self, net, l2: float = 0.0, training: bool = True):
        self.net, self.l2, self.training = net, l2, training

    @property
    def parameters(self):
        return self.net.parameters

    def cost_and_gradients(self, X, y):
        Y = self.net.loss.encode_targets(y, self.net.n_outputs, self.net.dtype)
        X = np.asarray(X, dtype=self.net.dtype)
        cost, grads = self.net._cost_and_gradients(X, Y, training=self.training)
        if self.l2:
            penalty = L2Penalty(self.l2, X.shape[0], [k for k in grads if k.startswith("W")])
            cost += penalty.cost(self.net.parameters)
            penalty.add_gradients(self.net.parameters, grads)
        return cost, grads


# ---- L2 ------------------------------------------------------------------------------------
def test_l2_cost_adds_the_squared_weights_only():
    X, y = data()
    net = Network([5, 4, 3, 1], hidden_activation="tanh", dtype="float64", seed=1)
    plain, _ = net.cost_and_gradients(X, y)
    with_l2, _ = Objective(net, l2=0.7).cost_and_gradients(X, y)
    P = net.parameters
    expected = 0.7 / (2 * 12) * sum((P[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    assert with_l2 - plain == pytest.approx(expected, rel=1e-12)


def test_l2_gradient_check():
    X, y = data()
    net = Network([5, 4, 3, 1], hidden_activation="tanh", dtype="float64", seed=1)
    result = gradient_check(Objective(net, l2=0.7), X, y)
    assert result.difference < 1e-7, result


def test_l2_in_fit_is_the_regularised_gradient_step():
    X, y = data()
    net = Network([5, 4, 1], hidden_activation="tanh", dtype="float64", seed=2)
    before = {k: p.copy() for k, p in net.parameters.items()}
    cost, grads = net.cost_and_gradients(X, y)
    history = net.fit(X, y, learning_rate=0.1, iterations=1, l2=0.5)
    for k, p in net.parameters.items():
        decay = 0.5 / 12 * before[k] if k.startswith("W") else 0
        np.testing.assert_allclose(p, before[k] - 0.1 * (grads[k] + decay), rtol=1e-12)
    penalty = 0.5 / 24 * sum((before[k] ** 2).sum() for k in ("W1", "W2"))
    assert history.costs[0] == pytest.approx(cost + penalty, rel=1e-12)


# ---- dropout -------------------------------------------------------------------------------
def test_dropout_layers_and_config():
    net = Network([5, 4, 3, 1], dropout=[0.8, 1.0], seed=0)
    drops = [layer for layer in net.layers if isinstance(layer, Dropout)]
    assert [(d.index, d.keep_prob) for d in drops] == [(1, 0.8)]  # keep 1.0: no layer
    assert net.config()["dropout"] == [0.8, 1.0]
    rebuilt = Network.from_config(net.config())
    assert [type(layer).__name__ for layer in rebuilt.layers] == [
        type(layer).__name__ for layer in net.layers
    ]
    assert Network([5, 4, 3, 1], dropout=0.5).dropout == [0.5, 0.5]


@pytest.mark.parametrize(
    "dropout, match",
    [
        (0.0, r"\(0, 1\]"),
        (1.5, r"\(0, 1\]"),
        ([0.5], "one keep probability per hidden layer \\(2\\)"),
        ("half", "dropout must be None"),
        (True, "dropout must be None"),
    ],
)
def test_dropout_argument_errors(dropout, match):
    with pytest.raises(ValueError, match=match):
        Network([5, 4, 3, 1], dropout=dropout)


def test_dropout_gradient_check_with_fixed_masks():
    X, y = data()
    net = Network([5, 6, 4, 1], hidden_activation="tanh", dtype="float64", dropout=0.6, seed=3)
    with net.fixed_dropout_masks(seed=7):
        result = gradient_check(net, X, y)
        dropped, _ = net.cost_and_gradients(X, y)
    assert result.difference < 1e-7, result
    # the masks really drop units: the training cost differs from the inference cost
    assert dropped != pytest.approx(net.cost(X, y))
    # outside the block, masks are random again
    assert net.cost_and_gradients(X, y)[0] != net.cost_and_gradients(X, y)[0]


def test_dropout_is_off_at_predict_time_and_unbiased():
    X, _ = data(m=20)
    plain = Network([5, 8, 1], seed=4)
    dropped = Network([5, 8, 1], seed=4, dropout=0.5)
    np.testing.assert_array_equal(plain.predict_proba(X), dropped.predict_proba(X))
    layer = Dropout(0.8, index=1, rng=np.random.default_rng(0))
    A = np.ones((400, 500), dtype=np.float32)
    out, mask = layer.forward(A, training=True)
    assert out.dtype == np.float32 and mask.dtype == np.float32
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.8)}
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # inverted dropout keeps the mean
    assert np.mean(out == 0) == pytest.approx(0.2, abs=0.01)
    dA, _ = layer.backward(np.ones_like(A), mask)
    np.testing.assert_array_equal(dA, mask)


# ---- batch norm ----------------------------------------------------------------------------
def test_batch_norm_names_parameters_and_buffers():
    net = Network([5, 4, 3, 1], batch_norm=True, seed=0)
    assert list(net.parameters) == [
        "W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"
    ]  # fmt: skip
    assert sorted(net.buffers) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    assert Network.from_config(net.config()).batch_norm is True
    with pytest.raises(ValueError, match="batch_norm must be True or False"):
        Network([5, 4, 1], batch_norm="yes")


def test_batch_norm_gradient_check_training_mode():
    X, y = data(m=16)
    net = Network([5, 6, 4, 1], hidden_activation="tanh", dtype="float64", batch_norm=True)
    rng = np.random.default_rng(5)
    for k, p in net.parameters.items():  # move gamma and beta off 1 and 0
        if k.startswith(("gamma", "beta")):
            p += 0.3 * rng.standard_normal(p.shape)
    result = gradient_check(net, X, y)
    assert result.difference < 1e-7, result


def test_batch_norm_gradient_check_inference_mode():
    X, y = data(m=16)
    net = Network([5, 6, 4, 1], hidden_activation="tanh", dtype="float64", batch_norm=True)
    rng = np.random.default_rng(6)
    for key, buf in net.buffers.items():
        buf[...] = rng.uniform(0.5, 2.0, buf.shape) if "var" in key else rng.normal(size=buf.shape)
    result = gradient_check(Objective(net, training=False), X, y)
    assert result.difference < 1e-7, result


def test_batch_norm_modes():
    rng = np.random.default_rng(7)
    layer = BatchNorm(3, index=1, dtype=np.dtype("float64"))
    layer.params["gamma"][:] = [1.0, 2.0, 0.5]
    layer.params["beta"][:] = [0.0, 1.0, -1.0]
    Z = rng.normal(3.0, 2.0, (50, 3))
    out, _ = layer.forward(Z, training=True)  # batch statistics
    np.testing.assert_allclose(out.mean(axis=0), [0.0, 1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1.0, 2.0, 0.5], rtol=1e-5)
    # running statistics moved 10% of the way, with the unbiased variance (PyTorch's rule)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * Z.mean(axis=0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * Z.var(axis=0, ddof=1))
    # inference mode uses the running statistics, not the batch's
    layer.buffers["running_mean"][:] = [1.0, 2.0, 3.0]
    layer.buffers["running_var"][:] = [4.0, 1.0, 0.25]
    out, _ = layer.forward(Z, training=False)
    expected = (Z - [1, 2, 3]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5) * [1, 2, 0.5]
    np.testing.assert_allclose(out, expected + [0.0, 1.0, -1.0], rtol=1e-12)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, 2.0, 3.0])  # unchanged


def test_batch_norm_normalises_images_per_channel():
    Z = np.random.default_rng(8).normal(2.0, 3.0, (4, 5, 5, 3))
    out, cache = BatchNorm(3, index=1, dtype=np.dtype("float64")).forward(Z, training=True)
    assert out.shape == Z.shape
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    dZ, grads = BatchNorm(3, index=1, dtype=np.dtype("float64")).backward(out, cache)
    assert dZ.shape == Z.shape and grads["gamma"].shape == (3,)


@pytest.mark.torch
def test_batch_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    Z = rng.standard_normal((8, 4))
    dout = rng.standard_normal((8, 4))
    layer = BatchNorm(4, index=1, dtype=np.dtype("float64"))
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 4)
    layer.params["beta"][:] = rng.standard_normal(4)
    tbn = torch.nn.BatchNorm1d(4, eps=1e-5, momentum=0.1).double()
    with torch.no_grad():
        tbn.weight[:] = torch.tensor(layer.params["gamma"])
        tbn.bias[:] = torch.tensor(layer.params["beta"])
    tZ = torch.tensor(Z, requires_grad=True)
    tout = tbn(tZ)
    tout.backward(torch.tensor(dout))
    out, cache = layer.forward(Z, training=True)
    dZ, grads = layer.backward(dout, cache)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dZ, tZ.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["gamma"], tbn.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(grads["beta"], tbn.bias.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.buffers["running_mean"], tbn.running_mean.numpy())
    np.testing.assert_allclose(layer.buffers["running_var"], tbn.running_var.numpy())
    tbn.eval()
    np.testing.assert_allclose(
        layer.forward(Z, training=False)[0], tbn(torch.tensor(Z)).detach().numpy(), rtol=1e-10
    )


def test_batch_norm_network_trains_and_predicts_with_running_statistics():
    X, y = data(m=64, seed=10)
    net = Network([5, 8, 1], batch_norm=True, seed=0)
    net.fit(X, y, epochs=5, batch_size=16, optimizer="adam", learning_rate=0.01, seed=0)
    assert not np.allclose(net.buffers["running_mean1"], 0)
    # a single sample predicts the same alone as in a batch: inference uses no batch statistics
    np.testing.assert_allclose(net.predict_proba(X[:1]), net.predict_proba(X)[:1], rtol=1e-6)


# ---- flips ---------------------------------------------------------------------------------
def test_flip_horizontal_reverses_the_width_axis():
    images = np.arange(2 * 2 * 3 * 2).reshape(2, 2, 3, 2)  # (m, H, W, C)
    out = flip_horizontal(images, np.array([True, False]), (2, 3, 2))
    np.testing.assert_array_equal(out[0], images[0, :, ::-1, :])
    np.testing.assert_array_equal(out[1], images[1])
    flat = images.reshape(2, -1)
    out_flat = flip_horizontal(flat, np.array([True, False]), (2, 3, 2))
    np.testing.assert_array_equal(out_flat, out.reshape(2, -1))
    assert not np.shares_memory(out_flat, flat)
    own = flat.copy()
    flip_horizontal(own, np.array([True, True]), (2, 3, 2), out=own)  # in place
    np.testing.assert_array_equal(own.reshape(images.shape), images[:, :, ::-1, :])


def test_random_flip_flips_about_half():
    X = np.arange(1000 * 4, dtype=float).reshape(1000, 1, 4, 1)
    out = random_flip(X, np.random.default_rng(0), (1, 4, 1))
    flipped = (out[:, 0, 0, 0] != X[:, 0, 0, 0]).mean()
    assert 0.45 < flipped < 0.55
    with pytest.raises(ValueError, match="not images of shape"):
        random_flip(np.zeros((2, 5)), np.random.default_rng(0), (2, 2, 1))


def test_fit_with_flips_needs_an_image_shape():
    X, y = data(m=8, n_x=12)
    net = Network([12, 3, 1])
    with pytest.raises(ValueError, match="image_shape"):
        net.fit(X, y, iterations=1, augment_flip=True)
    with pytest.raises(ValueError, match="not images of shape"):
        net.fit(X, y, iterations=1, augment_flip=True, image_shape=(2, 2, 2))
    history = net.fit(X, y, iterations=3, augment_flip=True, image_shape=(2, 2, 3))
    assert history.iterations == 3
