"""The one model core (``nnscratch.nn.model.Sequential``) and the one decision rule.

- Network and ConvNetwork are both a Sequential: one forward, one backward, no copies.
- The backward walk computes only what a gradient needs: no input gradient for the first
  layer with parameters, no backward at all for the parameter-free layers before it.
- Every predict (Network, ConvNetwork, Ensemble, MLPClassifier, a loaded model file) takes its
  labels from the output's ``Loss.decide`` / ``decide_proba``: a float32 logit of -1e-9, whose
  float32 sigmoid rounds to exactly 0.5, is a 0, and +1e-9 is a 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import ConvNetwork, Ensemble, Network
from nnscratch.models import network as network_module
from nnscratch.models.trainable import TrainableSequential
from nnscratch.nn import metrics
from nnscratch.nn.activations import get_activation
from nnscratch.nn.initializers import get_initializer
from nnscratch.nn.layers import (
    ActivationLayer,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    RandomShift,
    Unflatten,
)
from nnscratch.nn.model import PREDICT_BATCH_SIZE, Model, Sequential
from nnscratch.persist.modelfile import load, save

#: output logits and the labels they must give
TINY = [(-1e-9, 0), (1e-9, 1)]
CNN = "conv2x3-relu-pool2-gap-dense3-relu"


def _set_output_logit(model, logit: float) -> None:
    """Zero the output layer's weights and set its bias, so that every sample's logit is
    exactly ``logit`` (in the model's dtype)."""
    out = model.layers[-1]
    out.params["W"][...] = 0
    out.params["b"][...] = logit


def _rows(n_x: int, m: int = 5) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((m, n_x)).astype(np.float32)


def _images(m: int = 4, shape=(6, 6, 2)) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((m, *shape)).astype(np.float32)


# ---- the tiny-logit decision ----------------------------------------------------------------
def test_float32_sigmoid_of_a_tiny_negative_logit_is_exactly_one_half():
    # the reason for deciding on the logit: on probabilities, -1e-9 would be called a 1
    net = Network([3, 2, 1], seed=0)
    _set_output_logit(net, -1e-9)
    assert net.logits(_rows(3))[0, 0] < 0
    assert np.all(net.predict_proba(_rows(3)) == np.float32(0.5))


@pytest.mark.parametrize("logit, label", TINY)
def test_network_predicts_by_the_sign_of_the_logit(logit, label):
    net = Network([3, 4, 1], seed=0)
    _set_output_logit(net, logit)
    np.testing.assert_array_equal(net.predict(_rows(3)), np.full(5, label))


@pytest.mark.parametrize("flip_average", [False, True])
@pytest.mark.parametrize("logit, label", TINY)
def test_conv_network_predicts_by_the_sign_of_the_logit(logit, label, flip_average):
    net = ConvNetwork(CNN, input_shape=(6, 6, 2), seed=0, flip_average=flip_average)
    _set_output_logit(net, logit)
    np.testing.assert_array_equal(net.predict(_images()), np.full(4, label))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("logit, label", TINY)
def test_ensemble_predicts_by_the_mean_probability_in_float64(logit, label, k):
    ens = Ensemble.of(k, layer_dims=[3, 4, 1], seed=0)
    for net in ens.members:
        _set_output_logit(net, logit)
    np.testing.assert_array_equal(ens.predict(_rows(3)), np.full(5, label))
    assert ens.predict_proba(_rows(3)).dtype == np.float32


def test_ensemble_of_conv_networks_predicts_by_the_sign_of_the_logit():
    ens = Ensemble.of(2, network_class=ConvNetwork, architecture=CNN, input_shape=(6, 6, 2))
    for logit, label in TINY:
        for net in ens.members:
            _set_output_logit(net, logit)
        np.testing.assert_array_equal(ens.predict(_images()), np.full(4, label))


def test_ensemble_tie_of_mean_probabilities_is_class_zero():
    # logits +a and -a average to exactly 1/2: not above 1/2, so class 0 (as z = 0 is for
    # one network: decide says class 1 only where z > 0)
    ens = Ensemble.of(2, layer_dims=[3, 2, 1], seed=0)
    _set_output_logit(ens.members[0], 0.75)
    _set_output_logit(ens.members[1], -0.75)
    np.testing.assert_array_equal(ens.predict(_rows(3)), np.zeros(5))
    single = Network([3, 2, 1], seed=0)
    _set_output_logit(single, 0.0)
    np.testing.assert_array_equal(single.predict(_rows(3)), np.zeros(5))


def test_ensemble_probabilities_are_the_mean_of_the_members():
    ens = Ensemble.of(3, layer_dims=[3, 5, 4], output_activation="softmax", seed=1)
    X = _rows(3, m=20)
    members = [net.predict_proba(X).astype(np.float64) for net in ens.members]
    np.testing.assert_allclose(ens.predict_proba(X), np.mean(members, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(ens.predict(X), ens.predict_proba(X).argmax(axis=1))


@pytest.mark.parametrize("logit, label", TINY)
def test_mlp_classifier_predicts_by_the_network_rule(logit, label):
    pytest.importorskip("sklearn")
    from nnscratch.sklearn.estimators import MLPClassifier

    X = _rows(3, m=20)
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning after two epochs
        clf.fit(X, y)
    assert clf.network_.dtype == np.float32
    _set_output_logit(clf.network_, logit)
    np.testing.assert_array_equal(clf.predict(X), np.full(20, clf.classes_[label]))
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[clf.network_.predict(X)])
    P = clf.predict_proba(X)
    np.testing.assert_array_equal(P[:, 1], clf.network_.predict_proba(X))
    np.testing.assert_array_equal(P[:, 0], 1 - P[:, 1])


@pytest.mark.parametrize("logit, label", TINY)
def test_loaded_model_predicts_by_the_network_rule(tmp_path, logit, label):
    net = Network([3, 4, 1], seed=0)
    _set_output_logit(net, logit)
    save(net, tmp_path / "m.npz")
    model = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(model.predict(_rows(3)), np.full(5, label))
    assert model.accuracy(_rows(3), np.full(5, label)) == 1.0
    assert model.accuracy(_rows(3), np.full(5, 1 - label)) == 0.0


def test_loaded_ensemble_predicts_by_the_mean_probability(tmp_path):
    ens = Ensemble.of(3, layer_dims=[3, 4, 1], seed=0)
    for net in ens.members:
        _set_output_logit(net, -1e-9)
    save(ens, tmp_path / "e.npz")
    np.testing.assert_array_equal(load(tmp_path / "e.npz").predict(_rows(3)), np.zeros(5))


# ---- one forward, one backward ------------------------------------------------------------
@pytest.mark.parametrize("cls", [Network, ConvNetwork])
def test_network_classes_share_the_one_core(cls):
    assert issubclass(cls, Sequential) and issubclass(cls, TrainableSequential)
    for name in ("forward", "backward", "_cost_and_gradients", "predict", "predict_proba"):
        assert name not in vars(cls), f"{cls.__name__} defines its own {name}"
        assert getattr(cls, name) is getattr(Sequential, name)


def _spy_backward(monkeypatch, cls, calls: list, *, forbid: bool = False):
    original = cls.backward

    def spy(self, dA, cache, need_input_grad=True):
        if forbid:
            raise AssertionError(f"{cls.__name__}.backward must not run")
        calls.append((type(self).__name__, self.index, need_input_grad))
        return original(self, dA, cache, need_input_grad)

    monkeypatch.setattr(cls, "backward", spy)


@pytest.mark.parametrize("flat_input", [False, True])
def test_cnn_backward_never_runs_the_parameter_free_layers_in_front(monkeypatch, flat_input):
    net = ConvNetwork(
        "shift1-conv2x3-relu-pool2-gap-dense3-relu",
        input_shape=(6, 6, 2),
        flat_input=flat_input,
        dtype="float64",
    )
    front = [type(layer) for layer in net.layers[: 2 if flat_input else 1]]
    assert front == ([Unflatten, RandomShift] if flat_input else [RandomShift])
    for cls in (Unflatten, RandomShift):
        _spy_backward(monkeypatch, cls, [], forbid=True)
    conv_calls: list = []
    _spy_backward(monkeypatch, Conv2D, conv_calls)
    X = _images().reshape(4, -1) if flat_input else _images()
    cost, grads = net.cost_and_gradients(X.astype(np.float64), np.array([0, 1, 1, 0]))
    assert conv_calls == [("Conv2D", 1, False)]  # no col2im for an input nothing uses
    assert set(grads) == set(net.parameters)


def test_dense_backward_skips_only_the_input_gradient(monkeypatch):
    # the rule for a dense net: every layer runs backward, only the first Dense without dA_prev
    net = Network([4, 5, 3, 1], dropout=0.8, batch_norm=True, seed=0)
    calls: list = []
    for cls in {type(layer) for layer in net.layers}:
        _spy_backward(monkeypatch, cls, calls)
    net.cost_and_gradients(_rows(4, m=8), np.array([0, 1] * 4))
    expected = [(type(layer).__name__, layer.index, True) for layer in reversed(net.layers)]
    expected[-1] = ("Dense", 1, False)
    assert calls == expected


def test_backward_of_a_model_without_parameters_in_front_of_the_head():
    # a Sequential built by hand: Flatten first (no parameters), so Dense 1 needs no dA_prev
    rng = np.random.default_rng(0)
    init = get_initializer("he")
    layers: list[Layer] = [
        Flatten(index=0),
        Dense(12, 3, init=init, rng=rng, dtype=np.dtype(np.float64), index=1),
        ActivationLayer(get_activation("tanh"), index=1),
        Dense(3, 1, init=init, rng=rng, dtype=np.dtype(np.float64), index=2),
    ]
    model = Sequential(layers, input_shape=(2, 3, 2), dtype="float64")
    assert model.n_outputs == 1 and model.layer_shapes == [(12,), (3,), (3,), (1,)]
    X = np.random.default_rng(1).standard_normal((5, 2, 3, 2))
    y = np.array([0, 1, 1, 0, 1])
    from nnscratch.nn.gradcheck import gradient_check

    assert gradient_check(model, X, y).passed()


# ---- the Sequential itself ----------------------------------------------------------------
def _dense(n_in: int, n: int, index: int) -> Dense:
    return Dense(
        n_in,
        n,
        init=get_initializer("he"),
        rng=np.random.default_rng(0),
        dtype=np.dtype(np.float32),
        index=index,
    )


def test_sequential_checks_its_layer_list():
    with pytest.raises(ValueError, match=r"Dense layer 2 expects inputs of shape \(m, 4\)"):
        Sequential([_dense(3, 5, 1), _dense(4, 1, 2)], input_shape=(3,))
    with pytest.raises(ValueError, match="same name"):
        Sequential([_dense(3, 3, 1), _dense(3, 1, 1)], input_shape=(3,))
    with pytest.raises(ValueError, match=r"logits of shape \(m, n_L\); got per-sample shape"):
        Sequential([Unflatten((2, 2, 1))], input_shape=(4,))
    with pytest.raises(ValueError, match="at least 2 units; got 1"):
        Sequential([_dense(3, 1, 1)], input_shape=(3,), output_activation="softmax")


def test_sequential_sets_the_training_rng_of_its_stochastic_layers():
    drop = Dropout(0.5, index=1)
    rng = np.random.default_rng(5)
    model = Sequential([_dense(3, 4, 1), drop, _dense(4, 1, 2)], input_shape=(3,), training_rng=rng)
    assert drop.rng is rng and model.training_rng is rng
    other = np.random.default_rng(6)
    model.set_training_rng(other)
    assert drop.rng is other


def test_predict_batch_size_is_the_core_one():
    assert network_module.PREDICT_BATCH_SIZE is PREDICT_BATCH_SIZE


def test_logits_are_batched_and_checked():
    net = Network([3, 4, 2], output_activation="softmax", seed=0)
    X = _rows(3, m=25)
    np.testing.assert_allclose(net.logits(X, batch_size=7), net.forward(X)[0], rtol=1e-6)
    np.testing.assert_array_equal(net.predict(X), net.loss.decide(net.logits(X)))
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        net.logits(X[:, :2])


# ---- the Model protocol and accuracy ------------------------------------------------------
def test_network_conv_network_and_ensemble_are_models():
    models = [
        Network([3, 2, 1]),
        ConvNetwork(CNN, input_shape=(6, 6, 2)),
        Ensemble.of(2, layer_dims=[3, 2, 1]),
    ]
    for model in models:
        assert isinstance(model, Model), type(model).__name__
    # a bare Sequential is a model core, not a storable model: it has no config()
    assert not isinstance(Sequential([_dense(3, 1, 1)], input_shape=(3,)), Model)


def test_ensemble_loss_is_the_members_output():
    ens = Ensemble.of(2, layer_dims=[3, 2, 4], output_activation="softmax")
    assert type(ens.loss) is type(ens.members[0].loss)


@pytest.mark.parametrize("model_kind", ["network", "ensemble"])
def test_accuracy_is_the_metric_of_the_predictions(model_kind):
    X = _rows(3, m=30)
    y = np.random.default_rng(2).integers(0, 3, 30)
    if model_kind == "network":
        model = Network([3, 4, 3], output_activation="softmax", seed=0)
    else:
        model = Ensemble.of(2, layer_dims=[3, 4, 3], output_activation="softmax")
    expected = metrics.accuracy(model.predict(X), y)
    assert model.accuracy(X, y) == expected
    assert model.accuracy(X, np.eye(3)[y]) == expected  # one-hot labels too


def test_label_accuracy_is_gone():
    assert not hasattr(network_module, "label_accuracy")


def test_accuracy_of_a_regression_network_is_refused():
    net = Network([3, 2, 1], output_activation="identity")
    with pytest.raises(ValueError, match="accuracy is for classifiers.*identity output"):
        net.accuracy(_rows(3), np.zeros(5))


def test_batch_norm_network_still_has_buffers_and_layer_shapes():
    net = Network([3, 4, 1], batch_norm=True)
    assert set(net.buffers) == {"running_mean1", "running_var1"}
    assert any(isinstance(layer, BatchNorm) for layer in net.layers)
    assert net.layer_shapes[-1] == (1,)
