"""SequenceNetwork: the architecture grammar, gradient checks of whole models (masks, both
output kinds), truncated BPTT, config and model files, fit with resume, prediction and
sampling; gradient clipping on the optimizers."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch
from nnscratch import Callback, SequenceNetwork, gradient_check
from nnscratch.models.registry import MODEL_CLASSES, model_from_config
from nnscratch.models.sequence import parse_architecture
from nnscratch.train.optimizers import get_optimizer, is_weight, optimizer_from_config


def lm(architecture="embed4-lstm5", T=6, V=7, **kwargs):
    kwargs = {"dtype": "float64", "seed": 1, **kwargs}
    return SequenceNetwork(
        architecture,
        input_shape=(T,),
        vocab_size=V,
        n_outputs=V,
        output_activation="sequence_softmax",
        **kwargs,
    )


def lm_data(rng, m=5, T=6, V=7, ignored=0.2):
    X = rng.integers(0, V, (m, T))
    y = np.where(rng.random((m, T)) < ignored, -1, rng.integers(0, V, (m, T)))
    return X, y


# ---- the grammar -------------------------------------------------------------------------
def test_layers_and_parameter_names_follow_the_grammar():
    net = lm("embed4-lstm5-dropout0.9-gru3-dense6-relu")
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == [
        "Embedding",
        "LSTM",
        "Dropout",
        "GRU",
        "TimeDistributed",
        "ActivationLayer",
        "TimeDistributed",
    ]
    assert net.layer_shapes == [(6, 4), (6, 5), (6, 5), (6, 3), (6, 6), (6, 6), (6, 7)]
    assert set(net.parameters) == {
        "W1",
        *(f"{k}{n}" for n in (2, 3) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
        "W4",
        "b4",
        "W5",
        "b5",
    }
    assert net.parameters["weight_ih2"].shape == (20, 4)  # 4 LSTM gates of 5 units
    assert net.parameters["weight_hh3"].shape == (9, 3)  # 3 GRU gates of 3 units
    assert all(layer.return_sequences for layer in net.layers[1:4:2])


def test_one_output_per_sequence_comes_from_the_last_recurrent_layer():
    net = SequenceNetwork(
        "rnn4-gru3-dense2-tanh", input_shape=(5, 2), n_outputs=3, output_activation="softmax"
    )
    assert [getattr(layer, "return_sequences", None) for layer in net.layers[:2]] == [True, False]
    assert net.layer_shapes[-1] == (3,) and type(net.layers[2]).__name__ == "Dense"
    assert net.forward(np.zeros((4, 5, 2), dtype=np.float32))[0].shape == (4, 3)


@pytest.mark.parametrize(
    ("architecture", "kwargs", "match"),
    [
        ("lstm4-conv3x3", {}, "unknown architecture token 'conv3x3'"),
        ("lstm4", {"vocab_size": 5, "input_shape": (6,)}, "token inputs start with embed"),
        ("embed4", {}, "embed<D> must be the first token"),
        ("lstm4-embed3", {"vocab_size": 5, "input_shape": (6,)}, "token inputs start"),
        ("dense4", {}, "needs a recurrent layer"),
        ("lstm4", {"input_shape": (6,)}, r"input_shape must be \(T, F\)"),
        ("embed4-lstm4", {"vocab_size": 5, "input_shape": (6, 1)}, r"must be \(T,\)"),
        ("lstm4", {"padding": float("nan")}, "padding must be None or a number"),
        ("embed4-lstm4", {"vocab_size": 5, "input_shape": (6,), "padding": 5}, "token id 0..4"),
        ("lstm4", {"bptt": 0}, "bptt must be an integer >= 1"),
        ("lstm4", {"output_activation": "tanh"}, "unknown output_activation"),
        ("", {}, "non-empty string"),
    ],
)
def test_bad_descriptions_are_refused_by_name(architecture, kwargs, match):
    kwargs = {"input_shape": (6, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        SequenceNetwork(architecture, **kwargs)


# ---- gradients of whole models --------------------------------------------------------------
CASES = [
    # (architecture, constructor arguments, data maker)
    ("embed4-lstm5", {}, "lm"),
    ("embed3-gru4-dense5-tanh", {}, "lm"),
    ("embed3-rnn4-lstm3", {"padding": 0}, "lm"),
    ("lstm4-dropout0.7-gru3", {"output_activation": "identity", "n_outputs": 2}, "series"),
    (
        "gru4-rnn3-dense3-relu",
        {"output_activation": "softmax", "n_outputs": 3, "padding": 0.0},
        "padded series",
    ),
    ("rnn3", {"output_activation": "sigmoid", "n_outputs": 1}, "series"),
]


def case(architecture, kwargs, data, rng):
    if data == "lm":
        X, y = lm_data(rng)
        if kwargs.get("padding") == 0:  # right and left padding, masked
            X[0, :2] = 0
            X[1, -3:] = 0
        return lm(architecture, **kwargs), X, y
    kwargs = {"input_shape": (5, 2), "dtype": "float64", "seed": 2, **kwargs}
    net = SequenceNetwork(architecture, **kwargs)
    X = rng.standard_normal((6, 5, 2))
    if data == "padded series":
        X[np.arange(5)[None] >= rng.integers(1, 6, 6)[:, None]] = 0  # right padding
    y = {
        "identity": lambda: rng.standard_normal((6, kwargs["n_outputs"])),
        "softmax": lambda: rng.integers(0, 3, 6),
        "sigmoid": lambda: rng.integers(0, 2, 6),
    }[kwargs["output_activation"]]()
    return net, X, y


@pytest.mark.parametrize(("architecture", "kwargs", "data"), CASES)
def test_gradient_check_sequence_networks(architecture, kwargs, data):
    net, X, y = case(architecture, kwargs, data, np.random.default_rng(0))
    result = gradient_check(net, X, y)
    assert result.passed(1e-6), result.per_parameter


def test_padding_masks_steps_wherever_they_are():
    """A masked model gives a padded sequence the output of its real steps alone."""
    net = SequenceNetwork("lstm4-gru3", input_shape=(7, 2), padding=-1.0, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 2))
    padded = np.full((1, 7, 2), -1.0)
    padded[0, [0, 2, 3, 5]] = x[0]
    np.testing.assert_allclose(net.predict(padded), net.predict(x), rtol=1e-12)


def test_bptt_keeps_the_cost_and_covering_chunks_the_gradient():
    rng = np.random.default_rng(2)
    X, y = lm_data(rng, T=9)
    full = lm("embed4-lstm5-gru3", T=9)
    chunked = lm("embed4-lstm5-gru3", T=9, bptt=4)
    whole = lm("embed4-lstm5-gru3", T=9, bptt=9)
    cost, grads = full.cost_and_gradients(X, y)
    assert chunked.cost_and_gradients(X, y)[0] == pytest.approx(cost, rel=1e-12)
    assert not np.allclose(chunked.cost_and_gradients(X, y)[1]["weight_hh2"], grads["weight_hh2"])
    for key, g in whole.cost_and_gradients(X, y)[1].items():
        np.testing.assert_allclose(g, grads[key], rtol=1e-12)


def test_bptt_with_one_output_per_sequence_trains_the_last_chunk_only():
    rng = np.random.default_rng(3)
    net = SequenceNetwork("lstm3", input_shape=(8, 1), bptt=3, dtype="float64")
    X, y = rng.standard_normal((4, 8, 1)), rng.standard_normal(4)
    reference = SequenceNetwork("lstm3", input_shape=(8, 1), dtype="float64")
    cost, grads = net.cost_and_gradients(X, y)
    assert cost == pytest.approx(reference.cost(X, y), rel=1e-12)
    # the last two steps alone, from the state the first six leave
    layer = net.layers[0]
    _, cache = layer.forward(X[:, :6])
    A, cache = layer.forward(X[:, 6:], initial_state=layer.final_state(cache))
    dZ = (net.layers[1].forward(A)[0] - y[:, None]) / 4
    dA, _ = net.layers[1].backward(dZ, net.layers[1].forward(A)[1])
    _, expected = layer.backward(dA, cache, need_input_grad=False)
    np.testing.assert_allclose(grads["weight_hh1"], expected["weight_hh"], rtol=1e-10)


# ---- description and model files ------------------------------------------------------------
@pytest.mark.parametrize(("architecture", "kwargs", "data"), CASES)
def test_count_weights_and_config_round_trip(architecture, kwargs, data):
    net, X, _ = case(architecture, kwargs, data, np.random.default_rng(0))
    assert SequenceNetwork.count_weights(net.config()) == net.n_parameters
    assert MODEL_CLASSES["SequenceNetwork"] is SequenceNetwork
    twin = model_from_config("SequenceNetwork", net.config())
    assert twin.config() == net.config()
    for key, p in net.parameters.items():  # the same seed draws the same weights
        np.testing.assert_array_equal(twin.parameters[key], p)


@pytest.mark.parametrize(
    "config",
    [
        {"architecture": "lstm4-conv3", "input_shape": [5, 2]},
        {"architecture": "embed4-lstm4", "input_shape": [5, 2]},
        {"architecture": "lstm4", "input_shape": [5]},
        {"architecture": "embed4", "input_shape": [5], "vocab_size": 3},
        {"input_shape": [5, 2]},
    ],
)
def test_count_weights_refuses_invalid_descriptions(config):
    assert SequenceNetwork.count_weights(config) is None


def test_count_weights_of_a_forged_huge_description_without_building():
    config = {"architecture": "lstm100000", "input_shape": [5, 1]}
    assert SequenceNetwork.count_weights(config) == 4 * 100000 * (100000 + 1 + 2) + 100001


def test_model_file_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    net = lm("embed4-gru5", dtype="float32", padding=0)
    X, y = lm_data(rng)
    net.fit(X, y, optimizer="adam", learning_rate=0.01, epochs=2, batch_size=2)
    path = nnscratch.save(net, tmp_path / "lm.npz", classes=[str(i) for i in range(7)])
    loaded = nnscratch.load(path)
    assert type(loaded.network) is SequenceNetwork
    assert loaded.network.config() == net.config()
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    assert loaded.classes == tuple(str(i) for i in range(7))


# ---- training ---------------------------------------------------------------------------
class _Stop(Callback):
    """Snapshots the training state and the parameters at update ``at``, then stops."""

    def __init__(self, at):
        self.at, self.snapshot = at, None

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration == self.at:
            params = {k: a.copy() for k, a in net.parameters.items()}
            self.snapshot = (self.training_state.state_dict(), params)
            raise KeyboardInterrupt


FIT = dict(
    epochs=6, batch_size=4, optimizer="adam", learning_rate=0.02, seed=3,
    validation_fraction=0.25, early_stopping=True, patience=2, lr_schedule="cosine", l2=0.01,
    optimizer_options={"clip_norm": 0.5},
)  # fmt: skip


def _task():
    rng = np.random.default_rng(4)
    X = rng.integers(1, 7, (16, 6))
    y = np.roll(X, -1, axis=1)
    y[:, -1] = -1
    return X, y


def test_fit_learns_and_resumes_bitwise():
    X, y = _task()

    def net():
        return lm("embed4-lstm8-dropout0.8", dtype="float32", bptt=4)

    reference = net()
    history = reference.fit(X, y, **FIT)
    assert history.val_cost and history.train_cost[-1] < history.train_cost[0]
    n = len(history.costs)
    for at in (1, 5, n):
        stopper = _Stop(at)
        with pytest.raises(KeyboardInterrupt):
            net().fit(X, y, callbacks=[stopper], **FIT)
        state, arrays = stopper.snapshot
        resumed = net()
        resumed.set_parameters(arrays)
        again = resumed.fit(X, y, resume=state, **FIT)
        assert again.to_dict() == history.to_dict(), at
        for key, a in reference.parameters.items():
            np.testing.assert_array_equal(resumed.parameters[key], a, err_msg=f"{key} at {at}")


def test_forecaster_fits_a_sine_better_than_guessing():
    t = np.arange(200) * 0.3
    series = np.sin(t).astype(np.float32)
    X = np.stack([series[i : i + 10] for i in range(180)])[:, :, None]
    y = series[10:190]
    net = SequenceNetwork("gru8", input_shape=(10, 1), n_outputs=1, output_activation="identity")
    net.fit(X, y, optimizer="adam", learning_rate=0.02, epochs=40, batch_size=32, seed=0)
    error = np.sqrt(np.mean((net.predict(X) - y) ** 2))
    assert net.predict(X).shape == (180,)
    assert error < 0.1 * y.std()


# ---- prediction and sampling ---------------------------------------------------------------
def test_predictions_take_any_length_and_have_the_documented_shapes():
    net = lm(dtype="float32")
    X = np.random.default_rng(0).integers(0, 7, (3, 11))  # trained length is 6
    assert net.predict_proba(X).shape == (3, 11, 7)
    np.testing.assert_allclose(net.predict_proba(X).sum(axis=-1), 1, rtol=1e-6)
    assert net.predict(X).shape == (3, 11)
    np.testing.assert_array_equal(net.predict(X, batch_size=2), net.predict(X))
    y = np.roll(X, -1, axis=1)
    assert net.perplexity(X, y) == pytest.approx(np.exp(net.cost(X, y)))
    assert 0 <= net.accuracy(X, y) <= 1
    with pytest.raises(ValueError, match="token ids must be whole numbers in 0..6"):
        net.predict(X + 7)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 6\)"):
        net.predict(X[..., None])


def test_sample_is_seeded_and_stops_at_the_end_token():
    net = lm("embed4-lstm6", V=5)
    a = net.sample(20, temperature=0.9, seed=1, start_id=1, end_id=2, max_length=12)
    b = net.sample(20, temperature=0.9, seed=1, start_id=1, end_id=2, max_length=12)
    assert len(a) == 20 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(len(x) <= 12 and not np.any(x == 2) for x in a)
    assert any(len(x) < 12 for x in a)  # some drew the end token
    assert all(x.dtype == np.int64 and x.min(initial=0) >= 0 and x.max(initial=0) < 5 for x in a)
    greedy = net.sample(3, temperature=1e-6, seed=0, start_id=1, end_id=2, max_length=5)
    assert all(np.array_equal(greedy[0], g) for g in greedy)  # all the most likely sequence
    forecaster = SequenceNetwork("lstm3", input_shape=(4, 1))
    with pytest.raises(ValueError, match="sample needs a language model"):
        forecaster.sample(2)
    with pytest.raises(ValueError, match="start_id must be a token id below 5"):
        net.sample(2, start_id=5)


# ---- gradient clipping, for every optimizer ------------------------------------------------
@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_optimizer_takes_clip_norm(name):
    opt = get_optimizer(name, learning_rate=0.1, clip_norm=1.0)
    assert opt.config()["clip_norm"] == 1.0
    assert optimizer_from_config(opt.config()).config() == opt.config()
    assert "clip_norm" not in get_optimizer(name).config()
    p = {"W1": np.zeros(3)}
    g = {"W1": np.array([30.0, 40.0, 0.0])}
    get_optimizer("gd", learning_rate=1.0, clip_norm=1.0).step(p, g)
    np.testing.assert_allclose(p["W1"], [-0.6, -0.8, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="clip_norm must be a finite number > 0"):
        get_optimizer(name, clip_norm=0)


def test_l2_and_weight_decay_reach_recurrent_weights_only():
    assert is_weight("weight_ih2") and is_weight("weight_hh12") and is_weight("W3")
    assert not is_weight("bias_ih2") and not is_weight("b3")


def test_grammar_tokens_are_parsed_case_insensitively():
    assert [m[0] for m, _ in parse_architecture("Embed8-LSTM16-Dropout0.5")] == [
        "embed8",
        "lstm16",
        "dropout0.5",
    ]
