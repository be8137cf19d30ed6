"""The training loop: mini-batches, epochs, seeds, validation, early stopping, divergence,
callbacks, schedules, multi-class and the cat data end to end."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import Network, TrainingDivergedError
from nnscratch.train.callbacks import Callback
from nnscratch.train.fit import History, stratified_split
from nnscratch.train.optimizers import Adam, GradientDescent


def blobs(m=120, classes=3, seed=0, spread=0.6):
    """Gaussian blobs in 2-D around the corners of a regular polygon: (X (m, 2), y (m,))."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % classes
    angles = 2 * np.pi * y / classes
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 2
    return centres + spread * rng.standard_normal((m, 2)), y


class Recorder(Callback):
    """Copies of the parameters and buffers after every epoch, and every call's arguments."""

    def __init__(self):
        self.calls: list = []
        self.states: list[dict[str, np.ndarray]] = []
        self.after_iteration: list[dict[str, np.ndarray]] = []

    def on_train_begin(self, net, history):
        self.calls.append("begin")
        self.initial = {k: a.copy() for k, a in net.parameters.items()}

    def on_iteration_end(self, net, iteration, cost, history):
        self.calls.append(("iteration", iteration))
        self.after_iteration.append({k: a.copy() for k, a in net.parameters.items()})

    def on_epoch_end(self, net, epoch, history):
        self.calls.append(("epoch", epoch, len(history.train_cost)))
        self.states.append({k: a.copy() for k, a in {**net.parameters, **net.buffers}.items()})

    def on_train_end(self, net, history):
        self.calls.append("end")


# ---- the article's loop is unchanged ------------------------------------------------------
@pytest.mark.core
def test_full_batch_fit_is_plain_gradient_descent():
    X, y = blobs(classes=2)
    net = Network([2, 4, 1], dtype="float64", seed=1)
    twin = Network([2, 4, 1], dtype="float64", seed=1)
    history = net.fit(X, y, 0.1, 20)  # positional learning_rate, iterations, as before
    costs = []
    for _ in range(20):
        cost, grads = twin.cost_and_gradients(X, y)
        costs.append(cost)
        for k, p in twin.parameters.items():
            p -= 0.1 * grads[k]
    assert history.costs == costs
    for k, p in net.parameters.items():
        np.testing.assert_array_equal(p, twin.parameters[k])
    # full-batch iterations: every iteration is an epoch; accuracy is not evaluated
    assert history.train_cost == history.costs and history.train_accuracy == []
    assert history.iterations == history.epochs == 20


def test_default_is_2500_iterations():
    X, y = blobs(m=20, classes=2)
    assert Network([2, 2, 1]).fit(X, y).iterations == 2500


# ---- mini-batches and epochs --------------------------------------------------------------
def test_unshuffled_mini_batches_are_consecutive_slices():
    X, y = blobs(m=12, classes=2)
    net = Network([2, 3, 1], dtype="float64", seed=2)
    twin = Network([2, 3, 1], dtype="float64", seed=2)
    history = net.fit(X, y, learning_rate=0.5, epochs=2, batch_size=5, shuffle=False)
    costs = []
    for _ in range(2):
        for start in (0, 5, 10):  # the last batch has 2 samples
            cost, grads = twin.cost_and_gradients(X[start : start + 5], y[start : start + 5])
            costs.append(cost)
            for k, p in twin.parameters.items():
                p -= 0.5 * grads[k]
    assert history.costs == costs
    for k, p in net.parameters.items():
        np.testing.assert_array_equal(p, twin.parameters[k])
    expected_epoch_cost = (costs[0] * 5 + costs[1] * 5 + costs[2] * 2) / 12
    assert history.train_cost[0] == pytest.approx(expected_epoch_cost, rel=1e-12)


class IdRecordingNetwork(Network):
    """Records which samples (by the id in column 0) each training batch held."""

    def forward(self, X, training=False):
        if training:
            self.batches.append(X[:, 0].astype(int).tolist())
        return super().forward(X, training)


def test_each_epoch_is_a_fresh_permutation():
    X = np.stack([np.arange(10.0), np.zeros(10)], axis=1)
    y = np.arange(10) % 2
    net = IdRecordingNetwork([2, 2, 1])
    net.batches = []
    net.fit(X, y, epochs=3, batch_size=4, seed=0)
    assert [len(b) for b in net.batches] == [4, 4, 2] * 3
    epochs = [sum(net.batches[i : i + 3], []) for i in (0, 3, 6)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]


@pytest.mark.parametrize(
    "kwargs, n_costs, n_epochs, n_accuracies",
    [
        ({"epochs": 3, "batch_size": 5}, 9, 3, 3),
        ({"iterations": 7, "batch_size": 5}, 7, 3, 3),  # 3 + 3 + 1: the last epoch is partial
        ({"epochs": 4}, 4, 4, 4),
        # a batch larger than m is the full batch: the article's iterations, no accuracy
        ({"iterations": 4, "batch_size": 100}, 4, 4, 0),
        ({"iterations": 4, "eval_train": True}, 4, 4, 4),
        ({"epochs": 4, "batch_size": 5, "eval_train": False}, 12, 4, 0),
    ],
)
def test_iterations_and_epochs(kwargs, n_costs, n_epochs, n_accuracies):
    X, y = blobs(m=12, classes=2)
    history = Network([2, 3, 1]).fit(X, y, **kwargs)
    assert history.iterations == n_costs
    assert len(history.train_cost) == n_epochs
    assert len(history.train_accuracy) == n_accuracies


@pytest.mark.core
def test_same_seed_same_run_bitwise():
    X, y = blobs(m=48, classes=2)
    X = np.tile(X, (1, 6))  # 12 features, seen as 2 x 2 x 3 images for the flips

    def run(seed):
        net = Network([12, 8, 6, 1], dropout=0.7, batch_norm=True, seed=3)
        history = net.fit(
            X,
            y,
            epochs=4,
            batch_size=8,
            optimizer="adam",
            learning_rate=0.01,
            validation_fraction=0.25,
            augment_flip=True,
            image_shape=(2, 2, 3),
            seed=seed,
        )
        return history, {**net.parameters, **net.buffers}

    (h1, s1), (h2, s2), (h3, _) = run(5), run(5), run(6)
    assert h1 == h2
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
    assert h1.costs != h3.costs


def test_no_seed_takes_randomness_from_the_network_seed():
    X, y = blobs(m=24, classes=2)

    def run(net_seed):
        net = Network([2, 6, 1], dropout=0.5, seed=net_seed)
        return net.fit(X, y, epochs=3, batch_size=5).costs

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_float32_end_to_end_in_place():
    X, y = blobs(classes=2)
    net = Network([2, 5, 1], batch_norm=True)
    before = net.parameters
    opt = Adam(0.01)
    net.fit(X, y, epochs=2, batch_size=16, optimizer=opt, l2=0.1, lr_schedule="cosine")
    after = net.parameters
    assert all(after[k] is before[k] and after[k].dtype == np.float32 for k in after)
    assert all(b.dtype == np.float32 for b in net.buffers.values())
    assert all(a.dtype == np.float32 for k, a in opt.state_dict().items() if k != "t")


# ---- optimizers and schedules through fit -------------------------------------------------
class LrRecorder(GradientDescent):
    def step(self, params, grads, learning_rate=None):
        self.rates = [*getattr(self, "rates", []), learning_rate]
        super().step(params, grads, learning_rate)


def test_schedule_drives_the_learning_rate():
    X, y = blobs(m=20, classes=2)
    opt = LrRecorder(0.1)
    Network([2, 3, 1]).fit(
        X, y, optimizer=opt, iterations=8, lr_schedule="step", schedule_options={"step_size": 3}
    )
    assert opt.rates == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2)


@pytest.mark.parametrize("name", ["gd", "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_optimizer_lowers_the_cost(name):
    X, y = blobs(classes=2)
    lr = 0.5 if name in ("gd", "sgd", "momentum", "nesterov") else 0.01
    history = Network([2, 6, 1], seed=0).fit(
        X, y, optimizer=name, learning_rate=lr, epochs=15, batch_size=16, seed=0
    )
    assert history.train_cost[-1] < 0.5 * history.train_cost[0]


def test_optimizer_instance_keeps_its_state_between_fits():
    X, y = blobs(m=20, classes=2)
    net, opt = Network([2, 3, 1]), Adam(0.01)
    net.fit(X, y, optimizer=opt, epochs=2, batch_size=10)
    net.fit(X, y, optimizer=opt, epochs=1, batch_size=10)
    assert opt.t == 6


# ---- validation and early stopping --------------------------------------------------------
def test_validation_data_is_evaluated_every_epoch():
    X, y = blobs(classes=3)
    Xv, yv = blobs(m=30, classes=3, seed=1)
    net = Network([2, 8, 3], output_activation="softmax")
    history = net.fit(X, y, validation_data=(Xv, yv), epochs=5, batch_size=20, optimizer="adam")
    assert len(history.val_cost) == len(history.val_accuracy) == 5
    assert history.val_cost[-1] == pytest.approx(net.cost(Xv, yv), rel=1e-6)
    assert history.val_accuracy[-1] == net.accuracy(Xv, yv)
    assert history.train_accuracy[-1] == net.accuracy(X, y)
    assert history.best_epoch == int(np.argmin(history.val_cost)) + 1
    assert not history.stopped_early


def test_stratified_split_keeps_class_shares():
    labels = np.array([1] * 72 + [0] * 137)
    train, val = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert len(val) == 42 and len(train) == 167  # ceil(0.2 * 209), as scikit-learn
    assert sorted(np.concatenate([train, val])) == list(range(209))
    assert abs(labels[val].mean() - 72 / 209) < 0.02
    with pytest.raises(ValueError, match=r"validation_fraction must be a number in \(0, 1\)"):
        stratified_split(labels, 1.0, np.random.default_rng(0))


def test_validation_fraction_holds_out_samples():
    X, y = blobs(m=40, classes=2)
    history = Network([2, 3, 1]).fit(X, y, validation_fraction=0.25, epochs=2, batch_size=10)
    assert len(history.val_cost) == 2
    assert history.iterations == 2 * 3  # 30 training samples in batches of 10


def test_early_stopping_restores_the_best_epoch():
    # validation labels disagree with the training labels in part: the validation cost
    # first falls, then rises as the network fits the training data
    X, y = blobs(m=60, classes=2, spread=1.0)
    Xv, yv = blobs(m=60, classes=2, seed=1, spread=1.0)
    yv = np.where(np.arange(60) % 3 == 0, 1 - yv, yv)
    net = Network([2, 16, 16, 1], batch_norm=True, seed=0)
    recorder = Recorder()
    history = net.fit(
        X,
        y,
        validation_data=(Xv, yv),
        early_stopping=True,
        patience=3,
        epochs=200,
        batch_size=10,
        optimizer="adam",
        learning_rate=0.003,
        seed=0,
        callbacks=[recorder],
    )
    assert history.stopped_early
    best = history.best_epoch
    assert best == int(np.argmin(history.val_cost)) + 1
    assert 1 < best < len(history.val_cost) == best + 3
    state = {**net.parameters, **net.buffers}
    for k, saved in recorder.states[best - 1].items():
        np.testing.assert_array_equal(state[k], saved)
    # the callbacks' on_train_end saw the restored parameters (early stopping runs first)
    assert recorder.calls[-1] == "end"


def test_early_stopping_without_validation_data_holds_out_a_tenth():
    X, y = blobs(m=50, classes=2)
    history = Network([2, 3, 1]).fit(X, y, early_stopping=True, epochs=3, batch_size=15)
    assert len(history.val_cost) == 3
    assert history.iterations == 3 * 3  # 45 training samples


# ---- divergence ---------------------------------------------------------------------------
def test_divergence_on_mini_batches_names_the_iteration_and_keeps_the_last_finite_state():
    X, y = blobs(m=40, classes=2)
    net = Network([2, 8, 1], output_activation="identity", seed=0)
    recorder = Recorder()
    with pytest.raises(TrainingDivergedError, match="smaller learning rate than 50") as info:
        net.fit(X, y, learning_rate=50.0, epochs=100, batch_size=8, callbacks=[recorder])
    err = info.value
    assert f"iteration {err.iteration}" in str(err) and err.iteration > 2
    # the state kept is the one whose cost was finite: after update err.iteration - 2
    expected = recorder.after_iteration[err.iteration - 3]
    for k, p in net.parameters.items():
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, expected[k])
    assert np.isfinite(net.cost(X, y))


# ---- callbacks ----------------------------------------------------------------------------
def test_callback_order_and_stop_at_epoch_end():
    X, y = blobs(m=10, classes=2)

    class StopAfterTwo(Callback):
        def on_epoch_end(self, net, epoch, history):
            return epoch == 2

    recorder = Recorder()
    history = Network([2, 2, 1]).fit(
        X, y, epochs=5, batch_size=5, callbacks=[recorder, StopAfterTwo()]
    )
    assert recorder.calls == [
        "begin",
        ("iteration", 1),
        ("iteration", 2),
        ("epoch", 1, 1),
        ("iteration", 3),
        ("iteration", 4),
        ("epoch", 2, 2),
        "end",
    ]
    assert history.epochs == 2


def test_stop_at_an_iteration_closes_the_epoch():
    X, y = blobs(m=10, classes=2)

    class StopAtThree(Callback):
        def on_iteration_end(self, net, iteration, cost, history):
            return iteration == 3

    history = Network([2, 2, 1]).fit(X, y, epochs=5, batch_size=4, callbacks=[StopAtThree()])
    assert history.iterations == 3 and history.epochs == 1


def test_print_every(capsys):
    X, y = blobs(m=10, classes=2)
    Network([2, 2, 1]).fit(X, y, iterations=4, print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Cost after iteration 2",
        "Cost after iteration 4",
    ]


def test_history_round_trips_through_a_dict():
    X, y = blobs(m=10, classes=2)
    history = Network([2, 2, 1]).fit(X, y, epochs=2, validation_fraction=0.2)
    assert History.from_dict(history.to_dict()) == history


# ---- argument errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"iterations": 5, "epochs": 5}, "iterations or epochs, not both"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'"),
        ({"optimizer": "adam", "optimizer_options": {"beta": 0.9}}, "unknown option"),
        ({"optimizer": Adam(), "optimizer_options": {"beta1": 0.9}}, "not to an instance"),
        ({"lr_schedule": "linear"}, "unknown lr_schedule"),
        ({"l2": -1.0}, "l2 must be"),
        ({"validation_fraction": 0.2, "validation_data": ([[0, 0]], [0])}, "not both"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"validation_data": ([[0, 0]],)}, "validation_data must be a pair"),
        ({"patience": 0}, "patience"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_argument_errors(kwargs, match):
    X, y = blobs(m=10, classes=2)
    with pytest.raises(ValueError, match=match):
        Network([2, 2, 1]).fit(X, y, **kwargs)


# ---- multi-class --------------------------------------------------------------------------
@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_three_classes_end_to_end(one_hot):
    X, y = blobs(m=300, classes=3, seed=4)
    targets = np.eye(3)[y] if one_hot else y
    net = Network([2, 16, 3], output_activation="softmax", seed=0)
    history = net.fit(
        X, targets, epochs=30, batch_size=32, optimizer="adam", learning_rate=0.01, seed=0
    )
    assert history.train_accuracy[-1] > 0.95
    X_test, y_test = blobs(m=300, classes=3, seed=5)
    assert net.accuracy(X_test, y_test) > 0.95
    assert net.predict_proba(X_test).shape == (300, 3)


def test_regression_records_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = X @ [1.0, -2.0]
    history = Network([2, 8, 1], output_activation="identity").fit(
        X, y, epochs=5, batch_size=10, validation_fraction=0.25, optimizer="adam"
    )
    assert len(history.val_cost) == 5 and history.train_accuracy == history.val_accuracy == []


# ---- the cat data -------------------------------------------------------------------------
def load_cat_train(cat_data_dir):
    h5py = pytest.importorskip("h5py")
    with h5py.File(cat_data_dir / "train_catvnoncat.h5", "r") as f:
        X = f["train_set_x"][:].reshape(209, -1).astype(np.float32) / 255
        y = f["train_set_y"][:].astype(np.int64)
    return X, y


class CostBelow(Callback):
    """Stops at the first epoch whose cost on the whole training set is below a threshold."""

    def __init__(self, X, y, threshold):
        self.X, self.y, self.threshold = X, y, threshold
        self.epoch = None

    def on_epoch_end(self, net, epoch, history):
        if net.cost(self.X, self.y) < self.threshold:
            self.epoch = epoch
            return True
        return None


@pytest.mark.slow  # a few seconds of CPU: the slow tier (CI runs it)
def test_adam_on_mini_batches_beats_gradient_descent_on_the_cat_data(cat_data_dir):
    X, y = load_cat_train(cat_data_dir)
    threshold = 0.4
    adam = CostBelow(X, y, threshold)
    Network([12288, 20, 7, 5, 1], seed=1).fit(
        X,
        y,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=150,
        seed=0,
        callbacks=[adam],
        eval_train=False,
    )
    assert adam.epoch is not None, "Adam did not reach the threshold in 150 epochs"
    # plain full-batch gradient descent, with the article's learning rate, for as many epochs
    gd = Network([12288, 20, 7, 5, 1], seed=1)
    gd.fit(X, y, learning_rate=0.0075, epochs=adam.epoch)
    assert gd.cost(X, y) > threshold
