"""The Gram-matrix path (nnscratch.train.gram) equals the article's path (train_step): the same
parameters to float rounding over whole runs, chosen only where exact, W1 true whenever read,
and a run resumed from its state bitwise the run never interrupted."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import Network
from nnscratch.base.errors import TrainingDivergedError
from nnscratch.train.batches import Batches
from nnscratch.train.callbacks import Callback
from nnscratch.train.gram import gram_matrix, why_not
from nnscratch.train.optimizers import get_optimizer

N_X = 128  # wide enough against m + 2 n_1 for the path to be chosen


def _data(m=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, N_X))
    y = (X[:, 0] + 0.3 * rng.normal(size=m) > 0).astype(int)
    return X, y


def _net(dtype="float64", **kwargs):
    return Network([N_X, 5, 3, 1], seed=2, dtype=dtype, **kwargs)


def _run(gram: bool, dtype="float64", callbacks=(), net_kwargs=None, **fit):
    X, y = _data()
    net = _net(dtype, **(net_kwargs or {}))
    history = net.fit(X, y, gram_path=gram, callbacks=list(callbacks), **fit)
    return net, history


CASES = {
    "gd": dict(iterations=60, learning_rate=0.05),
    "momentum": dict(iterations=60, learning_rate=0.05, optimizer="momentum"),
    "nesterov": dict(
        iterations=60, learning_rate=0.05, optimizer="nesterov", optimizer_options={"beta": 0.8}
    ),
    "l2": dict(iterations=60, learning_rate=0.05, l2=0.7),
    "momentum_l2_minibatch": dict(
        epochs=15, batch_size=5, learning_rate=0.05, optimizer="momentum", l2=0.3, seed=4
    ),
    "minibatch_in_order_schedule": dict(
        epochs=15, batch_size=4, shuffle=False, learning_rate=0.05, lr_schedule="cosine"
    ),
    "hidden_dropout_validation": dict(
        epochs=30, batch_size=4, learning_rate=0.05, validation_fraction=0.25, seed=1
    ),
}


def test_the_path_is_chosen_for_these_cases():
    X, y = _data()
    Y = y.reshape(-1, 1).astype(float)
    net = _net()
    for name in ("gd", "momentum", "nesterov", "sgd"):
        assert why_not(net, Batches(X, Y, 4), get_optimizer(name)) is None, name


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-9, 1e-12), ("float32", 1e-3, 1e-5)])
def test_both_paths_give_the_same_run(case, dtype, rtol, atol):
    net_kwargs = {"dropout": 0.8} if "dropout" in case else None
    fast, h_fast = _run(True, dtype, net_kwargs=net_kwargs, **CASES[case])
    plain, h_plain = _run(False, dtype, net_kwargs=net_kwargs, **CASES[case])
    for key, p in plain.parameters.items():
        np.testing.assert_allclose(fast.parameters[key], p, rtol=rtol, atol=atol, err_msg=key)
        assert fast.parameters[key].dtype == p.dtype
    np.testing.assert_allclose(h_fast.costs, h_plain.costs, rtol=rtol, atol=atol)
    np.testing.assert_allclose(h_fast.val_cost, h_plain.val_cost, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "fit, why",
    [
        (dict(optimizer="adam"), "not linear"),
        (dict(optimizer="rmsprop"), "not linear"),
        (dict(optimizer="adamw"), "not linear"),
        (dict(optimizer_options={"clip_norm": 1.0}), "clipping"),
        (dict(augment_flip=True, image_shape=(8, 16, 1)), "flips"),
    ],
)
def test_the_articles_path_elsewhere(fit, why):
    X, y = _data()
    Y = y.reshape(-1, 1).astype(float)
    opt = get_optimizer(fit.get("optimizer", "gd"), **fit.get("optimizer_options", {}))
    flips = np.random.default_rng(0) if fit.get("augment_flip") else None
    assert why in why_not(_net(), Batches(X, Y, 4, flips, (8, 16, 1)), opt)
    run = dict(iterations=8, batch_size=4, learning_rate=0.01, seed=0, **fit)
    fast, _ = _run(True, **run)
    plain, _ = _run(False, **run)
    for key, p in plain.parameters.items():  # the same code ran: bitwise
        np.testing.assert_array_equal(fast.parameters[key], p, err_msg=key)


def test_not_chosen_where_no_cheaper_or_not_dense():
    X, y = _data(m=40)
    Y = y.reshape(-1, 1).astype(float)
    assert "no cheaper" in why_not(_net(), Batches(X, Y, 40), get_optimizer("gd"))
    from nnscratch.models.conv import ConvNetwork

    conv = ConvNetwork(architecture="conv2x3-relu-gap", input_shape=(4, 4, 1))
    Xc = np.zeros((3, 4, 4, 1))
    assert "not Dense" in why_not(conv, Batches(Xc, Y[:3], 3), get_optimizer("gd"))


class _Watch(Callback):
    """Records W1 and the optimizer's velocity of W1 after every iteration."""

    training_state = None

    def __init__(self):
        self.W1, self.v = [], []

    def on_iteration_end(self, net, iteration, cost, history):
        self.W1.append(net.parameters["W1"].copy())
        state = self.training_state.optimizer.state_dict()
        self.v.append(state.get("v.W1"))


def test_every_reader_sees_the_true_W1_and_velocity():
    fit = CASES["momentum_l2_minibatch"]
    fast_watch, plain_watch = _Watch(), _Watch()
    _run(True, callbacks=[fast_watch], **fit)
    _run(False, callbacks=[plain_watch], **fit)
    assert len(fast_watch.W1) == len(plain_watch.W1) > 0
    for a, b in zip(fast_watch.W1, plain_watch.W1, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    for a, b in zip(fast_watch.v, plain_watch.v, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_reading_does_not_change_the_run():
    fit = CASES["momentum"]
    read, _ = _run(True, callbacks=[_Watch()], **fit)
    unread, _ = _run(True, **fit)
    for key, p in unread.parameters.items():
        np.testing.assert_array_equal(read.parameters[key], p, err_msg=key)


class _Shrink(Callback):
    """Halves W1 and predicts at iteration 10: a writer and an inference reader mid-run."""

    def __init__(self, X):
        self.X, self.predictions = X, None

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration == 10:
            self.predictions = net.predict_proba(self.X)
            net.set_parameters({**net.parameters, "W1": net.parameters["W1"] * 0.5})


def test_a_callback_that_writes_W1_is_followed():
    X, _ = _data()
    fast_cb, plain_cb = _Shrink(X), _Shrink(X)
    fast, _ = _run(True, callbacks=[fast_cb], **CASES["momentum"])
    plain, _ = _run(False, callbacks=[plain_cb], **CASES["momentum"])
    np.testing.assert_allclose(fast_cb.predictions, plain_cb.predictions, rtol=1e-9)
    for key, p in plain.parameters.items():
        np.testing.assert_allclose(fast.parameters[key], p, rtol=1e-9, atol=1e-12, err_msg=key)


def test_early_stopping_restores_the_true_best_weights():
    fit = dict(
        epochs=60, batch_size=4, learning_rate=0.3, optimizer="momentum", seed=0,
        validation_fraction=0.25, early_stopping=True, patience=2,
    )  # fmt: skip
    fast, h_fast = _run(True, **fit)
    plain, h_plain = _run(False, **fit)
    assert h_fast.stopped_early and h_fast.best_epoch == h_plain.best_epoch
    for key, p in plain.parameters.items():
        np.testing.assert_allclose(fast.parameters[key], p, rtol=1e-9, atol=1e-12, err_msg=key)


class _Stop(Callback):
    training_state = None

    def __init__(self, at):
        self.at, self.snapshot = at, None

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration == self.at:
            arrays = {k: a.copy() for k, a in net.parameters.items()}
            self.snapshot = (self.training_state.state_dict(), arrays)
            raise KeyboardInterrupt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_resume_on_the_fast_path_is_bitwise(dtype):
    fit = CASES["momentum_l2_minibatch"]
    reference, history = _run(True, dtype, **fit)
    for at in (1, 7, 30):
        stopper = _Stop(at)
        with pytest.raises(KeyboardInterrupt):
            _run(True, dtype, callbacks=[stopper], **fit)
        state, arrays = stopper.snapshot
        assert "fast_path" in state
        X, y = _data()
        resumed = _net(dtype)
        resumed.set_parameters(arrays)
        again = resumed.fit(X, y, resume=state, **fit)
        assert again.to_dict() == history.to_dict(), at
        for key, p in reference.parameters.items():
            np.testing.assert_array_equal(resumed.parameters[key], p, err_msg=f"{key} at {at}")


def test_resume_without_the_fast_state_starts_again_from_the_weights():
    fit = CASES["momentum"]
    reference, _ = _run(True, **fit)
    stopper = _Stop(20)
    with pytest.raises(KeyboardInterrupt):
        _run(True, callbacks=[stopper], **fit)
    state, arrays = stopper.snapshot
    del state["fast_path"]  # a checkpoint file keeps only the network's own arrays
    X, y = _data()
    resumed = _net()
    resumed.set_parameters(arrays)
    resumed.fit(X, y, resume=state, **fit)
    for key, p in reference.parameters.items():
        np.testing.assert_allclose(resumed.parameters[key], p, rtol=1e-9, atol=1e-12)


def test_divergence_leaves_the_same_finite_weights():
    fit = dict(epochs=100, batch_size=4, learning_rate=2.0, optimizer="momentum", seed=0)
    nets, errors = [], []
    for gram in (True, False):
        X, y = _data()
        net = _net(output_activation="identity", hidden_activation="identity")
        with pytest.raises(TrainingDivergedError) as info:
            net.fit(X, y, gram_path=gram, **fit)
        nets.append(net)
        errors.append(info.value.iteration)
    assert errors[0] == errors[1]
    for key, p in nets[1].parameters.items():
        assert np.isfinite(nets[0].parameters[key]).all()
        np.testing.assert_allclose(nets[0].parameters[key], p, rtol=1e-6, err_msg=key)


def test_the_gram_matrix_is_reused_only_for_the_same_inputs():
    X, _ = _data()
    G = gram_matrix(X)
    np.testing.assert_allclose(G, X @ X.T, rtol=1e-12)
    X2 = X.copy()
    X2[0, 0] += 1.0
    np.testing.assert_allclose(gram_matrix(X2), X2 @ X2.T, rtol=1e-12)
    assert not G.flags.writeable  # shared: the cache cannot be changed through it
    np.testing.assert_allclose(gram_matrix(X), X @ X.T, rtol=1e-12)


def test_a_checkpointed_and_resumed_run_of_the_gd_recipe_is_bitwise(tmp_path):
    """The default recipe's kind of run (full-batch GD, an ensemble) on the Gram path,
    checkpointed to files, interrupted and resumed from the file: bitwise the plain run."""
    pytest.importorskip("h5py")
    from nnscratch.app.interrupts import InterruptFlag
    from nnscratch.app.recipe import TrainConfig, train_cats
    from nnscratch.app.runs import RunDirectory, TrainingInterrupted

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(24, 16, 16, 3), dtype=np.uint8)
    y = (np.arange(24) % 3 == 0).astype(np.int64)
    recipe = TrainConfig(layers=(6, 3), ensemble=2, iterations=30, optimizer="momentum", l2=0.1)
    plain = train_cats(recipe, x, y)
    run = RunDirectory.create(tmp_path / "run")
    checkpointed = run.train(recipe, x, y, every=4)  # reads W1 every 4 updates
    for key, a in plain.model.parameters.items():
        np.testing.assert_array_equal(checkpointed.model.parameters[key], a, err_msg=key)

    interrupt = InterruptFlag()

    class CtrlC(Callback):
        calls = 0

        def on_iteration_end(self, net, iteration, cost, history):
            CtrlC.calls += 1
            interrupt.requested = CtrlC.calls == 41  # inside the second network

    run = RunDirectory.create(tmp_path / "again")
    with pytest.raises(TrainingInterrupted):
        run.train(recipe, x, y, callbacks=[CtrlC()], interrupt=interrupt)
    resumed = RunDirectory.open(tmp_path / "again")
    result = resumed.train(resumed.checkpoint.config, x, y)
    for key, a in plain.model.parameters.items():
        np.testing.assert_array_equal(result.model.parameters[key], a, err_msg=key)
