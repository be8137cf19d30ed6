"""MLPClassifier / MLPRegressor: scikit-learn's own estimator checks, equality with
scikit-learn's MLP step for step, and what neither covers (views of the network, sample
weights and routing, sparse input, nnscratch's extras, meta-estimators). scikit-learn's own
test_mlp.py runs in tests/test_sklearn_mlp_suite.py."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_blobs, make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor  # noqa: E402
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
    defaults = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0, learning_rate_init=0.01)
    defaults.update(params)
    return cls(**defaults)


# ---- the same as scikit-learn's MLP, step for step ----------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_fits_like_scikit_learns_mlp_classifier(blobs3, solver, activation):
    X, y = blobs3
    params = dict(
        hidden_layer_sizes=(8, 5),
        solver=solver,
        activation=activation,
        max_iter=15,
        random_state=3,
        batch_size=40,
        learning_rate_init=0.01,
    )
    ours, theirs = MLPClassifier(**params).fit(X, y), SklearnMLPClassifier(**params).fit(X, y)
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_ and ours.loss_ == pytest.approx(theirs.loss_)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
        assert ours.t_ == theirs.t_


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_fits_like_scikit_learns_mlp_regressor_with_sample_weights(loss):
    X, y = make_regression(n_samples=60, n_features=3, noise=1, random_state=0)
    y = np.exp(y / y.std()) if loss == "poisson" else y / y.std()
    w = np.random.default_rng(0).uniform(0.2, 2, 60)
    params = dict(loss=loss, hidden_layer_sizes=(6,), max_iter=12, random_state=1, batch_size=25)
    ours = MLPRegressor(**params).fit(X, y, sample_weight=w)
    theirs = SklearnMLPRegressor(**params).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.out_activation_ == theirs.out_activation_


def test_early_stopping_on_the_validation_score_like_scikit_learn():
    X, y = make_classification(n_samples=200, n_features=8, flip_y=0.2, random_state=0)
    params = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        n_iter_no_change=4,
        random_state=0,
        learning_rate_init=0.01,
    )
    ours, theirs = MLPClassifier(**params).fit(X, y), SklearnMLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    assert ours.best_validation_score_ == theirs.best_validation_score_
    assert ours.best_loss_ is None and ours.n_iter_ == theirs.n_iter_ < 200
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)


# ---- fitted attributes: views of the network ----------------------------------------------
def test_coefs_and_intercepts_are_views_of_the_network(blobs3):
    X, y = blobs3
    clf = small(max_iter=5).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(2, 16), (16, 3)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (3,)]
    assert clf.n_layers_ == 3 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    assert isinstance(clf.network_, Network) and clf.network_.layer_dims == [2, 16, 3]
    np.testing.assert_array_equal(clf.coefs_[0], clf.network_.parameters["W1"].T)
    clf.coefs_[1][:] = 0  # writing through the view writes the network
    clf.intercepts_[1][:] = [0, 5, 0]
    assert (clf.predict(X) == 1).all()
    clf.coefs_ = [np.ones((2, 16)), np.zeros((16, 3))]
    assert (clf.network_.parameters["W1"] == 1).all()
    assert clf.n_iter_ == len(clf.loss_curve_) == 5 and clf.loss_ == clf.loss_curve_[-1]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert not hasattr(MLPClassifier(), "coefs_")


def test_binary_uses_one_sigmoid_unit_and_string_labels_round_trip(blobs2):
    X, y = blobs2
    labels = np.array(["dog", "cat"])[y]
    clf = small().fit(X, labels)
    assert clf.network_.output_activation == "sigmoid" and clf.out_activation_ == "logistic"
    assert list(clf.classes_) == ["cat", "dog"]
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= {"cat", "dog"}
    assert clf.score(X, labels) > 0.9
    P = clf.predict_proba(X)
    d = clf.decision_function(X)
    np.testing.assert_array_equal(clf.classes_[(d > 0).astype(int)], pred)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-10)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))


def test_multilabel_targets_get_one_sigmoid_per_label():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=60, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == Y.shape[1]
    assert clf.predict(X).shape == Y.shape and clf.predict_proba(X).shape == Y.shape
    assert clf.score(X, Y) > 0.9


# ---- inputs ------------------------------------------------------------------------------
def test_sparse_input_equals_dense(blobs3):
    from scipy import sparse

    X, y = blobs3
    X = np.where(np.abs(X) > 0.5, X, 0)
    dense = small(max_iter=8, batch_size=32).fit(X, y)
    sparse_fit = small(max_iter=8, batch_size=32).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(sparse_fit.coefs_[0], dense.coefs_[0], rtol=1e-12)
    np.testing.assert_allclose(
        dense.predict_proba(sparse.csc_matrix(X)), dense.predict_proba(X), rtol=1e-12
    )


def test_integer_sample_weights_equal_repeated_rows_with_lbfgs(blobs3):
    X, y = blobs3
    w = np.random.default_rng(0).integers(0, 3, len(y))
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6)
    ones = MLPClassifier(**params).fit(X, y, sample_weight=np.ones(len(y)))
    plain = MLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(ones.coefs_[0], plain.coefs_[0], rtol=1e-9)


def test_sample_weight_is_routed_by_metadata_routing(blobs2):
    import sklearn
    from sklearn.pipeline import Pipeline

    X, y = blobs2
    w = np.where(y == 1, 5.0, 0.1)
    direct = small(max_iter=20).fit(X, y, sample_weight=w)
    with sklearn.config_context(enable_metadata_routing=True):
        est = small(max_iter=20).set_fit_request(sample_weight=True)
        routed = Pipeline([("mlp", est)]).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(routed.predict_proba(X), direct.predict_proba(X))
    assert not np.allclose(small(max_iter=20).fit(X, y).predict_proba(X), direct.predict_proba(X))


def test_non_finite_input_and_bad_parameters_get_scikit_learns_errors(blobs2):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = blobs2
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        small().fit(bad, y)
    with pytest.raises(InvalidParameterError, match="'solver' parameter of MLPClassifier"):
        small(solver="newton").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'learning_rate_init' parameter"):
        small(learning_rate_init=0.0).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        small(hidden_layer_sizes=(10, 0)).fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        small(dtype="float16").fit(X, y)
    with pytest.raises(ValueError, match="needs learning_rate='constant'"):
        small(lr_schedule="cosine", learning_rate="adaptive").fit(X, y)
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        small(solver="lbfgs").partial_fit  # noqa: B018


# ---- nnscratch's extras ------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "rmsprop", "adamw"])
def test_each_of_our_solvers_trains(blobs3, solver):
    X, y = blobs3
    lr = 0.5 if solver in ("gd", "momentum", "nesterov") else 0.01
    clf = small(solver=solver, learning_rate_init=lr, max_iter=40).fit(X, y)
    assert clf.score(X, y) > 0.85
    assert clf._optimizer.optimizer.name == solver


def test_optimizer_options_reach_our_optimizer(blobs2):
    clf = small(solver="momentum", optimizer_options={"beta": 0.5}, max_iter=2).fit(*blobs2)
    assert clf._optimizer.optimizer.config()["beta"] == 0.5
    with pytest.raises(ValueError, match="optimizer_options are for nnscratch's solvers"):
        small(optimizer_options={"beta": 0.5}).fit(*blobs2)


def test_dropout_and_batch_norm_build_the_network_and_train(blobs3):
    X, y = blobs3
    clf = small(dropout=0.8, batch_norm=True, hidden_layer_sizes=(16, 8), max_iter=60)
    clf.fit(X, y)
    assert clf.network_.batch_norm and clf.network_.dropout is not None
    assert {"gamma1", "beta1"} <= set(clf.network_.parameters)
    assert clf.score(X, y) > 0.85
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    lbfgs = small(dropout=0.8, solver="lbfgs", max_iter=30).fit(X, y)  # masks held fixed
    assert lbfgs.score(X, y) > 0.85


def test_lr_schedule_sets_each_epochs_rate(blobs2):
    clf = small(lr_schedule="cosine", learning_rate_init=0.05, max_iter=60).fit(*blobs2)
    assert clf.score(*blobs2) > 0.8
    assert clf._optimizer.learning_rate_init < 0.05  # the cosine's value at the last epoch


def test_init_none_is_scikit_learns_draw_and_others_are_ours(blobs3):
    X, y = blobs3
    ours = small(max_iter=1, learning_rate_init=1e-12, hidden_layer_sizes=(300,))
    theirs = SklearnMLPClassifier(
        max_iter=1, learning_rate_init=1e-12, hidden_layer_sizes=(300,), random_state=0
    )
    ours.fit(X, y), theirs.fit(X, y)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-9)
    xavier = small(init="xavier", max_iter=1, learning_rate_init=1e-12).fit(X, y)
    assert np.abs(xavier.intercepts_[0]).max() < 1e-9  # our initialisers: zero biases


def test_dtype_rules(blobs3):
    X, y = blobs3
    f32 = small(max_iter=5).fit(X.astype(np.float32), y)
    assert f32.network_.dtype == np.float32 and f32.coefs_[0].dtype == np.float32
    assert f32.predict_proba(X).dtype == np.float32
    assert small(max_iter=5).fit(np.round(10 * X).astype(np.int64), y).coefs_[0].dtype == (
        np.float64
    )
    assert small(max_iter=5, dtype="float32").fit(X, y).network_.dtype == np.float32
    f32.partial_fit(X, y)  # training goes on in the network's dtype
    assert f32.network_.dtype == np.float32


def test_no_hidden_layer_is_logistic_regression(blobs2):
    X, y = blobs2
    clf = small(hidden_layer_sizes=(), learning_rate_init=0.1, max_iter=100).fit(X, y)
    assert clf.network_.layer_dims == [2, 1] and clf.n_layers_ == 2
    assert clf.score(X, y) > 0.9


# ---- convergence, reproducibility, partial_fit, warm start -------------------------------
def test_same_random_state_same_model_and_pickle(blobs3):
    X, y = blobs3
    a = small(max_iter=10, random_state=3).fit(X, y)
    b = small(max_iter=10, random_state=3).fit(X, y)
    c = small(max_iter=10, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.predict_proba(X), a.predict_proba(X))
    again.partial_fit(X, y)


def test_partial_fit_is_one_epoch_and_keeps_the_solver_state(blobs3):
    X, y = blobs3
    clf = small(batch_size=50)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:60], y[:60], classes=np.unique(y))
    opt = clf._optimizer
    assert clf.n_iter_ == 1 and opt.t == 2 and clf.t_ == 60  # 60 samples in batches of 50
    for _ in range(20):
        clf.partial_fit(X, y)
    assert clf._optimizer is opt and opt.t == 2 + 20 * 3
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 21 and clf.t_ == 60 + 20 * 150
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :1], y)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_warm_start_continues_from_the_previous_weights(blobs3):
    X, y = blobs3
    clf = small(max_iter=5, warm_start=True).fit(X, y)
    net, loss = clf.network_, clf.loss_
    clf.fit(X, y)
    assert clf.network_ is net and clf.n_iter_ == 5 and clf.loss_ < loss
    assert len(clf.loss_curve_) == 10


# ---- regression --------------------------------------------------------------------------
def test_regressor_single_and_multi_output():
    X, y = make_regression(n_samples=200, n_features=4, n_targets=2, noise=1, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = y / y.std(axis=0)
    reg = small(MLPRegressor, hidden_layer_sizes=(32,), max_iter=200).fit(X, y)
    assert reg.predict(X).shape == (200, 2) and reg.n_outputs_ == 2
    assert reg.score(X, y) > 0.9
    one = small(MLPRegressor, max_iter=50).fit(X, y[:, 0])
    assert one.predict(X).shape == (200,) and one.out_activation_ == "identity"
    assert not hasattr(one, "predict_proba") and not hasattr(one, "classes_")
    with pytest.raises(ValueError, match="output"):
        one.partial_fit(X, y)


def test_poisson_regressor_predicts_positive_rates():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (200, 2))
    y = rng.poisson(np.exp(1 + X[:, 0] - X[:, 1]))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    reg.fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    with pytest.raises(ValueError, match="y >= 0"):
        MLPRegressor(loss="poisson").fit(X, -y - 1.0)


# ---- inside scikit-learn's meta-estimators -----------------------------------------------
def test_pipeline_cross_val_score_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), small(max_iter=100))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(
        pipe,
        {
            "mlpclassifier__hidden_layer_sizes": [(4,), (16, 8)],
            "mlpclassifier__learning_rate_init": [0.001, 0.01],
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


@pytest.mark.slow  # a few seconds of CPU: the slow tier (CI runs it)
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
