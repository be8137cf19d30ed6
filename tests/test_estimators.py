"""MLPClassifier / MLPRegressor: scikit-learn's own estimator checks, and what they do not cover
(label encoding, partial_fit keeping optimizer state, the training options, meta-estimators)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_blobs, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nnscratch import MLPClassifier, MLPRegressor, Network  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---- scikit-learn's check_estimator, in full, with the defaults --------------------------
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---- data --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blobs3():
    X, y = make_blobs(n_samples=150, centers=3, cluster_std=1.0, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def blobs2():
    X, y = make_blobs(n_samples=120, centers=2, cluster_std=1.5, random_state=1)
    return StandardScaler().fit_transform(X), y


def small(cls=MLPClassifier, **params):
    """A quick-to-train estimator for the tests below."""
    defaults = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0, learning_rate=0.01)
    defaults.update(params)
    return cls(**defaults)


# ---- labels and outputs ------------------------------------------------------------------
def test_binary_uses_one_sigmoid_unit_and_string_labels_round_trip(blobs2):
    X, y = blobs2
    labels = np.array(["dog", "cat"])[y]
    clf = small().fit(X, labels)
    assert clf.network_.output_activation == "sigmoid" and clf.network_.n_outputs == 1
    assert list(clf.classes_) == ["cat", "dog"]
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= {"cat", "dog"}
    assert clf.score(X, labels) > 0.9
    P = clf.predict_proba(X)
    assert P.shape == (X.shape[0], 2)
    np.testing.assert_allclose(P.sum(axis=1), 1)
    d = clf.decision_function(X)
    assert d.shape == (X.shape[0],)
    np.testing.assert_array_equal(clf.classes_[(d > 0).astype(int)], pred)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-10)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))


def test_multiclass_uses_softmax_and_any_label_type(blobs3):
    X, y = blobs3
    labels = np.array([-5, 10, 7])[y]
    clf = small().fit(X, labels)
    assert clf.network_.output_activation == "softmax" and clf.network_.n_outputs == 3
    np.testing.assert_array_equal(clf.classes_, [-5, 7, 10])
    assert clf.score(X, labels) > 0.9
    P = clf.predict_proba(X)
    assert P.shape == (150, 3)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    assert clf.decision_function(X).shape == (150, 3)


def test_fitted_attributes(blobs3):
    X, y = blobs3
    clf = small(max_iter=15).fit(X, y)
    assert clf.n_features_in_ == 2
    assert clf.n_iter_ == len(clf.loss_curve_) == 15
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert isinstance(clf.network_, Network)
    assert clf.network_.layer_dims == [2, 16, 3]
    assert clf.validation_loss_curve_ is None


def test_one_class_and_unknown_partial_fit_labels_are_clear_errors(blobs2):
    X, y = blobs2
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        small().fit(X, np.zeros(len(X)))
    clf = small().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.full(len(X), 3))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
        ({"max_iter": 0}, "max_iter"),
        ({"batch_size": "big"}, "batch_size"),
        ({"tol": -1.0}, "tol"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"activation": "swish"}, "swish"),
        ({"optimizer": "lbfgs"}, "lbfgs"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(blobs2, params, match):
    X, y = blobs2
    with pytest.raises(ValueError, match=match):
        small(**params).fit(X, y)


# ---- convergence, reproducibility --------------------------------------------------------
def test_stops_when_loss_stops_improving_and_warns_at_max_iter(blobs2):
    X, y = blobs2
    clf = small(max_iter=500, tol=1e-2, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ < 500
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        small(max_iter=3).fit(X, y)


def test_same_random_state_same_model_and_different_states_differ(blobs3):
    X, y = blobs3
    a = small(max_iter=10, random_state=3).fit(X, y)
    b = small(max_iter=10, random_state=3).fit(X, y)
    c = small(max_iter=10, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_pickle_round_trip(blobs3):
    X, y = blobs3
    clf = small(max_iter=5).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


# ---- partial_fit -------------------------------------------------------------------------
def test_partial_fit_is_one_epoch_and_keeps_the_optimizer_state(blobs3):
    X, y = blobs3
    clf = small(batch_size=50)
    with pytest.raises(ValueError, match="classes="):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:60], y[:60], classes=np.unique(y))
    opt = clf._optimizer
    steps = opt.t
    assert clf.n_iter_ == 1 and steps == 2  # 60 samples in batches of 50
    for _ in range(20):
        clf.partial_fit(X, y)
    assert clf._optimizer is opt and opt.t == steps + 20 * 3
    assert clf.n_iter_ == 21 and len(clf.loss_curve_) == 21
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :1], y)
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_partial_fit_continues_where_fit_stopped(blobs3):
    """Steps after fit continue Adam's moments: the result is the same as training longer."""
    X, y = blobs3
    long = small(max_iter=12, shuffle=False, tol=0.0, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        long.fit(X, y)
        short = clone(long).set_params(max_iter=10).fit(X, y)
    short.partial_fit(X, y).partial_fit(X, y)
    assert short._optimizer.t == long._optimizer.t
    np.testing.assert_allclose(short.predict_proba(X), long.predict_proba(X), rtol=1e-10)


def test_partial_fit_refuses_early_stopping(blobs2):
    X, y = blobs2
    with pytest.raises(ValueError, match="early_stopping"):
        small(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_warm_start_continues_from_the_previous_weights(blobs3):
    X, y = blobs3
    clf = small(max_iter=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        net = clf.network_
        loss = clf.loss_
        clf.fit(X, y)
    assert clf.network_ is net and clf.n_iter_ == 10 and clf.loss_ < loss


# ---- the training options reach Network.fit and do something ------------------------------
def test_early_stopping_restores_the_best_and_records_validation():
    X, y = make_classification(
        n_samples=200, n_features=20, n_informative=3, flip_y=0.2, random_state=0
    )  # noisy labels: a wide network soon overfits
    clf = small(early_stopping=True, hidden_layer_sizes=(64,), max_iter=300, n_iter_no_change=5)
    clf.fit(X, y)
    best = int(np.argmin(clf.validation_loss_curve_)) + 1
    assert clf.n_iter_ == best + 5 < 300
    assert len(clf.validation_loss_curve_) == clf.n_iter_
    history = clf.network_.history_
    assert history.stopped_early and history.best_epoch == best  # its weights were put back
    assert clf.score(X, y) > 0.6


def test_l2_shrinks_the_weights(blobs3):
    X, y = blobs3

    def weight_norm(l2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = small(l2=l2, max_iter=150).fit(X, y)
        return sum(float((w**2).sum()) for k, w in clf.network_.parameters.items() if k[0] == "W")

    assert weight_norm(5.0) < 0.5 * weight_norm(0.0)


@pytest.mark.parametrize(
    "optimizer", ["gd", "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]
)
def test_every_optimizer_trains(blobs3, optimizer):
    X, y = blobs3
    lr = 0.5 if optimizer in ("gd", "sgd", "momentum", "nesterov") else 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(optimizer=optimizer, learning_rate=lr, max_iter=40).fit(X, y)
    assert clf.score(X, y) > 0.85


def test_optimizer_options_reach_the_optimizer(blobs2):
    X, y = blobs2
    clf = small(optimizer="momentum", optimizer_options={"beta": 0.5}, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf._optimizer.config()["beta"] == 0.5


def test_dropout_and_batch_norm_build_the_network_and_train(blobs3):
    X, y = blobs3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(dropout=0.8, batch_norm=True, hidden_layer_sizes=(16, 8), max_iter=60)
        clf.fit(X, y)
    assert clf.network_.batch_norm and clf.network_.dropout is not None
    assert {"gamma1", "beta1"} <= set(clf.network_.parameters)
    assert clf.score(X, y) > 0.85
    # dropout is off at predict time: two calls agree
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_lr_schedule_is_accepted(blobs2):
    X, y = blobs2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(lr_schedule="cosine", learning_rate=0.05, max_iter=60).fit(X, y)
    assert clf.score(X, y) > 0.8


def test_float32_dtype(blobs3):
    X, y = blobs3
    clf = small(dtype="float32", max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.network_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32


def test_dtype_none_keeps_float32_input_and_makes_any_other_float64(blobs3):
    X, y = blobs3
    f32 = small(max_iter=5).fit(X.astype(np.float32), y)
    assert f32.dtype is None and f32.network_.dtype == np.float32
    assert all(p.dtype == np.float32 for p in f32.network_.parameters.values())
    assert f32.predict_proba(X).dtype == np.float32  # float64 input to a float32 model
    for other in (X, np.round(10 * X).astype(np.int64)):
        assert small(max_iter=5).fit(other, y).network_.dtype == np.float64
    assert small(max_iter=5, dtype="float64").fit(X.astype(np.float32), y).network_.dtype == (
        np.float64
    )
    f32.partial_fit(X, y)  # training goes on in the network's dtype, whatever the input's
    assert f32.network_.dtype == np.float32 and f32.n_iter_ == 6


def test_float32_and_float64_fits_agree(blobs3):
    X, y = blobs3
    a = small(max_iter=20).fit(X.astype(np.float32), y)
    b = small(max_iter=20).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-3)


def test_default_init_is_scikit_learns_glorot_uniform_with_drawn_biases(blobs3):
    from nnscratch.nn.initializers import glorot_uniform

    X, y = blobs3
    # a learning rate so small that the fitted parameters are the initial ones
    params = small(hidden_layer_sizes=(300,), learning_rate=1e-12, max_iter=1).fit(X, y)
    params = params.network_.parameters
    for l, (fan_in, fan_out) in enumerate([(2, 300), (300, 3)], start=1):  # noqa: E741
        bound = np.sqrt(6 / (fan_in + fan_out))
        for p in (params[f"W{l}"], params[f"b{l}"]):
            assert 0 < np.abs(p).max() <= bound
            assert p.size < 300 or np.abs(p).max() > 0.95 * bound  # many draws span U(-b, b)
    W = params["W1"]  # 600 draws of U(-b, b): variance b^2 / 3 = 2 / (fan_in + fan_out)
    assert abs(W.var() / (2 / 302) - 1) < 0.2
    xavier = small(init="xavier", learning_rate=1e-12, max_iter=1).fit(X, y).network_
    assert np.abs(xavier.parameters["b1"]).max() < 1e-9  # other initialisers: zero biases
    W = glorot_uniform(np.random.default_rng(0), (400, 600), 600, 400, np.float32)
    assert W.dtype == np.float32 and np.abs(W).max() <= np.sqrt(6 / 1000)
    assert abs(W.var() / (2 / 1000) - 1) < 0.02


def test_no_hidden_layer_is_logistic_regression(blobs2):
    X, y = blobs2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small(hidden_layer_sizes=(), learning_rate=0.1, max_iter=100).fit(X, y)
    assert clf.network_.layer_dims == [2, 1]
    assert clf.score(X, y) > 0.9


# ---- regression --------------------------------------------------------------------------
def test_regressor_single_and_multi_output():
    X, y = make_regression(n_samples=200, n_features=4, n_targets=2, noise=1, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = y / y.std(axis=0)
    reg = small(MLPRegressor, hidden_layer_sizes=(32,), max_iter=200).fit(X, y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, y) > 0.9
    one = small(MLPRegressor, max_iter=50).fit(X, y[:, 0])
    assert one.predict(X).shape == (200,)
    assert one.network_.output_activation == "identity"
    assert not hasattr(one, "predict_proba") and not hasattr(one, "classes_")


def test_regressor_partial_fit():
    X, y = make_regression(n_samples=100, n_features=3, noise=0.1, random_state=0)
    y = y / y.std()
    reg = small(MLPRegressor, learning_rate=0.03)
    for _ in range(30):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 30 and reg.score(X, y) > 0.9
    with pytest.raises(ValueError, match="output"):
        reg.partial_fit(X, np.c_[y, y])


# ---- inside scikit-learn's meta-estimators -----------------------------------------------
def test_pipeline_cross_val_score_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), small(max_iter=100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        assert scores.mean() > 0.85
        grid = GridSearchCV(
            pipe,
            {
                "mlpclassifier__hidden_layer_sizes": [(4,), (16, 8)],
                "mlpclassifier__learning_rate": [0.001, 0.01],
            },
            cv=3,
        ).fit(X, y)
    assert grid.best_score_ > 0.85
    assert len(grid.cv_results_["params"]) == 4


# ---- optional dependency -----------------------------------------------------------------
def test_import_nnscratch_works_without_scikit_learn():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn' (blocked)")
sys.meta_path.insert(0, Block())
import nnscratch
nnscratch.Network([2, 1])
try:
    nnscratch.MLPClassifier
except ImportError as err:
    print("ImportError:", err)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'nnscratch[sklearn]'" in out.stdout


def test_sklearn_array_api_check_with_scipy_array_api_set():
    """parametrize_with_checks skips check_array_api_input unless SCIPY_ARRAY_API=1 is set
    before SciPy is first imported: run it in a fresh interpreter that sets it."""
    code = """
from sklearn.utils.estimator_checks import check_array_api_input
from nnscratch import MLPClassifier, MLPRegressor
for est in (MLPClassifier(), MLPRegressor()):
    check_array_api_input(type(est).__name__, est, array_namespace="numpy",
                          expect_only_array_outputs=False)
print("ok")
"""
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_verbose_prints_each_epoch_loss(blobs2, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(max_iter=3, verbose=True).fit(*blobs2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]


def test_lazy_export_is_the_estimators_module_class():
    import nnscratch
    import nnscratch.sklearn.estimators

    assert nnscratch.MLPClassifier is nnscratch.sklearn.estimators.MLPClassifier
    with pytest.raises(AttributeError, match="no attribute 'MLPClassifer'"):
        nnscratch.MLPClassifer  # noqa: B018


def test_preprocessor_step_fits_a_copy_per_fit():
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.sklearn.estimators import PreprocessorStep

    pre = ImagePreprocessor(scale=1.0, standardize=True, dtype="float64")
    step = PreprocessorStep(pre)
    X = np.arange(12.0).reshape(4, 3)
    out = step.fit_transform(X)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    assert pre.mean_ is None  # the given one stays unfitted: each clone fits its own copy
    np.testing.assert_array_equal(clone(step).fit(X[:2]).fitted_.mean_, X[:2].mean(axis=0))
    with pytest.raises(ValueError, match="fit and transform"):
        PreprocessorStep().fit(X)
