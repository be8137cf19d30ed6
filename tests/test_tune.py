"""Hyperparameter search: the spec syntax, data files, the search itself, ``nnscratch tune`` and
its Dask backend (against a real LocalCluster)."""

from __future__ import annotations

import csv
import json
import socket
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")

from scipy import stats  # noqa: E402

from nnscratch.app.cli import main  # noqa: E402
from nnscratch.base.errors import DataError  # noqa: E402
from nnscratch.sklearn import tune as tuning  # noqa: E402

FAST = {"max_iter": 15, "hidden_layer_sizes": (8,)}


@pytest.fixture(scope="module")
def xy():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=0)
    return X, y


@pytest.fixture()
def npz_file(tmp_path, xy):
    path = tmp_path / "data.npz"
    np.savez(path, X=xy[0], y=xy[1])
    return path


# ---- the spec syntax ---------------------------------------------------------------------
def test_parse_space_lists_of_typed_values():
    space = tuning.parse_space(
        [
            "learning_rate_init=0.001:0.01",
            "hidden_layer_sizes=20,7,5:20,7:7",
            "activation=relu:tanh",
            "max_iter=50:100",
            "solver=adam:momentum",
            "alpha=0:0.1",
            "dropout=none:0.8",
            "batch_size=auto:32",
            "early_stopping=true:false",
            "lr_schedule=none:cosine",
        ]
    )
    assert space["learning_rate_init"] == [0.001, 0.01]
    assert space["hidden_layer_sizes"] == [(20, 7, 5), (20, 7), (7,)]
    assert space["activation"] == ["relu", "tanh"]
    assert space["max_iter"] == [50, 100]
    assert space["solver"] == ["adam", "momentum"]
    assert space["alpha"] == [0.0, 0.1]
    assert space["dropout"] == [None, 0.8]
    assert space["batch_size"] == ["auto", 32]
    assert space["early_stopping"] == [True, False]
    assert space["lr_schedule"] == [None, "cosine"]


def test_depth_and_width_expand_to_hidden_layer_sizes():
    space = tuning.parse_space(["depth=1:2", "width=4:16", "learning_rate_init=0.01"])
    assert space["hidden_layer_sizes"] == [(4,), (16,), (4, 4), (16, 16)]
    assert "depth" not in space and "width" not in space
    assert tuning.parse_space(["depth=3"])["hidden_layer_sizes"] == [(100, 100, 100)]


def test_distributions_for_random_search():
    space = tuning.parse_space(
        [
            "learning_rate_init=loguniform(1e-4,1e-1)",
            "alpha=uniform(0,0.5)",
            "max_iter=randint(10,20)",
        ],
        search="random",
    )
    rng = np.random.default_rng(0)
    lr = space["learning_rate_init"].rvs(1000, random_state=rng)
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    l2 = space["alpha"].rvs(1000, random_state=rng)
    assert l2.min() >= 0 and l2.max() <= 0.5
    iters = space["max_iter"].rvs(1000, random_state=rng)
    assert iters.min() == 10 and iters.max() == 20  # inclusive bounds
    assert isinstance(space["max_iter"].dist, type(stats.randint))


@pytest.mark.parametrize(
    ("specs", "search", "match"),
    [
        (["lr=0.1"], "grid", "unknown hyperparameter 'lr'; known: hidden_layer_sizes"),
        (["optimizer=adam"], "grid", "unknown hyperparameter 'optimizer'"),
        (["l2=0.1"], "grid", "unknown hyperparameter 'l2'"),
        (["learning_rate=0.01"], "grid", "unknown learning_rate '0.01'; allowed: constant"),
        (["max_iter=randint(1,10**20)"], "random", "both must be integers written out"),
        (["max_iter=randint(1,100000000000000000000)"], "random", "at most 9223372036854775806"),
        (["random_state=randint(0,4294967296)"], "random", "random_state must be an integer"),
        (["momentum=1.5"], "grid", r"momentum must be a number in \[0, 1\]; got 1.5"),
        (["beta_1=1"], "grid", r"beta_1 must be a number in \[0, 1\)"),
        (["learning_rate_init"], "grid", "NAME=VALUES"),
        (["learning_rate_init="], "grid", "NAME=VALUES"),
        (
            ["learning_rate_init=abc"],
            "grid",
            "learning_rate_init must be a finite number > 0; got 'abc'",
        ),
        (
            ["learning_rate_init=inf"],
            "grid",
            "learning_rate_init must be a finite number > 0; got inf",
        ),
        (
            ["hidden_layer_sizes=3,0"],
            "grid",
            "hidden_layer_sizes must be a sequence of integers >= 1; got 0",
        ),
        (["activation=swish"], "grid", "allowed: identity, logistic, tanh, relu, leaky_relu"),
        (["solver=newton"], "grid", "allowed: lbfgs, sgd, adam"),
        (["learning_rate_init=0.1", "learning_rate_init=0.2"], "grid", "twice"),
        (["learning_rate_init=loguniform(1e-3,1e-1)"], "grid", "need --search random"),
        (["learning_rate_init=loguniform(0,1)"], "random", "low > 0"),
        (["learning_rate_init=uniform(1,1)"], "random", "low < high"),
        (["learning_rate_init=uniform(1)"], "random", "2 bounds"),
        (["activation=uniform(0,1)"], "random", "list of values"),
        (["depth=randint(1,3)"], "random", "list of values"),
        (["depth=0:1"], "grid", "depth must be an integer >= 1; got 0"),
        (["depth=1", "hidden_layer_sizes=3"], "grid", "not both"),
        (["learning_rate_init=0.1"], "bayes", "unknown search 'bayes'; allowed: grid, random"),
    ],
)
def test_parse_space_errors_name_the_problem(specs, search, match):
    with pytest.raises(ValueError, match=match):
        tuning.parse_space(specs, search)


def test_parse_settings_and_format_value():
    settings = tuning.parse_settings(["max_iter=30", "hidden_layer_sizes=4,4", "dropout=none"])
    assert settings == {"max_iter": 30, "hidden_layer_sizes": (4, 4), "dropout": None}
    with pytest.raises(ValueError, match="hidden_layer_sizes instead"):
        tuning.parse_settings(["depth=2"])
    assert tuning.format_value((20, 7, 5)) == "20,7,5"
    assert tuning.format_value(None) == "none"
    assert tuning.format_value(0.001) == "0.001"
    assert tuning.format_value(np.float64(0.5)) == "0.5"


# ---- data files --------------------------------------------------------------------------
def test_load_xy_npz_flattens_images(tmp_path):
    path = tmp_path / "img.npz"
    np.savez(path, x=np.zeros((4, 2, 2, 3), np.uint8), Y=np.array([0, 1, 0, 1]))
    X, y = tuning.load_xy(path)
    assert X.shape == (4, 12) and y.tolist() == [0, 1, 0, 1]


def test_load_xy_csv_with_header_and_text_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,cat\n3,4.5,dog\n5,6,cat\n", encoding="utf-8")
    X, y = tuning.load_xy(path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [5, 6]])
    assert y.tolist() == ["cat", "dog", "cat"]
    path.write_text("1,2,0\n3,4,1\n", encoding="utf-8")
    X, y = tuning.load_xy(path)
    assert X.shape == (2, 2) and y.dtype.kind == "i"
    path.write_text("1,2,0.5\n3,4,1.25\n", encoding="utf-8")
    assert tuning.infer_task(tuning.load_xy(path)[1]) == "regression"


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("d.txt", b"1,2", "must be .npz"),
        ("d.csv", b"1,2,0\n3,0\n", "same number"),
        ("d.csv", b"1,2,0\n3,x,0\n", "must be numbers"),
        ("d.csv", b"a,b\n", "no data rows"),
        ("d.npz", b"not a zip", "cannot read"),
    ],
)
def test_load_xy_errors_are_data_errors(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        tuning.load_xy(path)
    with pytest.raises(DataError, match="does not exist"):
        tuning.load_xy(tmp_path / "missing.npz")


def test_load_xy_npz_needs_X_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((3, 2)))
    with pytest.raises(DataError, match="'X' and 'y'"):
        tuning.load_xy(path)
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match="one label per row"):
        tuning.load_xy(path)


# ---- the search --------------------------------------------------------------------------
def test_grid_search_results_rows_and_refit(xy):
    X, y = xy
    space = tuning.parse_space(["learning_rate_init=0.001:0.03", "depth=1:2", "width=4"])
    result = tuning.tune(X, y, space, settings={"max_iter": 15}, cv=3, n_jobs=1)
    assert len(result.rows) == 4
    assert [r["rank"] for r in result.rows] == sorted(r["rank"] for r in result.rows)
    best = result.rows[0]
    assert best["mean_score"] == pytest.approx(result.best_score)
    assert {best["learning_rate_init"], best["hidden_layer_sizes"]} == set(
        result.best_params.values()
    )
    assert {"fold0_score", "fold2_score", "std_score", "mean_fit_time_s", "depth"} <= set(best)
    assert best["depth"] == len(best["hidden_layer_sizes"]) and best["width"] == 4
    assert result.best_estimator.n_features_in_ == X.shape[1]
    assert result.best_estimator.score(X, y) > 0.5


def test_preprocessor_is_fitted_inside_the_folds_and_kept_with_the_best(xy):
    from sklearn.pipeline import Pipeline

    from nnscratch.data.preprocessing import ImagePreprocessor

    X, y = xy
    X = X * 100 + 50  # far from standardised
    space = tuning.parse_space(["learning_rate_init=0.003:0.03"])
    pre = ImagePreprocessor(scale=1.0, standardize=True, dtype="float64")
    result = tuning.tune(X, y, space, settings=FAST, cv=3, n_jobs=1, preprocessor=pre)
    assert isinstance(result.best_estimator, Pipeline)
    assert set(result.best_params) == {"learning_rate_init"}
    assert {r["learning_rate_init"] for r in result.rows} == {0.003, 0.03}
    assert type(result.best_model).__name__ == "MLPClassifier"
    np.testing.assert_allclose(result.best_preprocessor.mean_, X.mean(axis=0))  # refit: all X
    Z = result.best_preprocessor.transform(X)
    np.testing.assert_array_equal(result.best_model.predict(Z), result.best_estimator.predict(X))


def test_random_search_is_reproducible_and_seed_dependent(xy):
    X, y = xy
    space = tuning.parse_space(
        ["learning_rate_init=loguniform(1e-3,1e-1)", "alpha=0:0.01"], "random"
    )
    run = lambda seed: tuning.tune(  # noqa: E731
        X, y, space, search="random", n_iter=3, cv=2, seed=seed, settings=FAST, n_jobs=1
    )
    a, b, c = run(0), run(0), run(1)
    assert [r["learning_rate_init"] for r in a.rows] == [r["learning_rate_init"] for r in b.rows]
    assert [r["mean_score"] for r in a.rows] == [r["mean_score"] for r in b.rows]
    assert {r["learning_rate_init"] for r in a.rows} != {r["learning_rate_init"] for r in c.rows}


def test_regression_task_uses_the_regressor():
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=80, n_features=3, noise=1, random_state=0)
    y = y / y.std()
    space = tuning.parse_space(["learning_rate_init=0.01:0.03"])
    result = tuning.tune(X, y, space, task="regression", settings=FAST, cv=2, n_jobs=1)
    assert type(result.best_estimator).__name__ == "MLPRegressor"
    assert np.isfinite(result.best_score)


def test_make_search_rejects_bad_arguments():
    est = tuning.make_estimator("classification")
    with pytest.raises(ValueError, match="cv must be"):
        tuning.make_search(est, {"alpha": [0.0]}, cv=1)
    with pytest.raises(ValueError, match="empty"):
        tuning.make_search(est, {})
    with pytest.raises(ValueError, match="n_iter"):
        tuning.make_search(est, {"alpha": [0.0]}, search="random", n_iter=0)
    with pytest.raises(ValueError, match="task"):
        tuning.make_estimator("clustering")


def test_write_csv_and_plot(tmp_path, xy):
    X, y = xy
    space = tuning.parse_space(["learning_rate_init=0.001:0.01:0.1", "activation=relu:tanh"])
    result = tuning.tune(X, y, space, settings=FAST, cv=2, n_jobs=1, refit=False)
    assert result.best_estimator is None
    path = tuning.write_csv(result.rows, tmp_path / "r.csv")
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 6 and table[0]["rank"] == "1"
    assert float(table[0]["mean_score"]) == result.rows[0]["mean_score"]
    png = tuning.plot_scores(result.rows, result.param_names, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the command -------------------------------------------------------------------------
def test_cli_writes_table_plot_model_and_prints_top_rows(tmp_path, npz_file, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "tune",
            "--data-file",
            str(npz_file),
            "--param",
            "learning_rate_init=0.003:0.03",
            "--param",
            "hidden_layer_sizes=8:8,4",
            "--set",
            "max_iter=15",
            "--cv",
            "3",
            "--n-jobs",
            "1",
            "--top",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rank" in printed and "mean accuracy" in printed and "best:" in printed
    table_lines = [line for line in printed.splitlines() if line.strip()[:1].isdigit()]
    assert len(table_lines) == 2  # --top 2
    with (out / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and {"learning_rate_init", "hidden_layer_sizes"} <= set(rows[0])
    assert (out / "scores.png").stat().st_size > 1000
    summary = json.loads((out / "best_params.json").read_text())
    assert set(summary["best_params"]) == {"learning_rate_init", "hidden_layer_sizes"}
    assert summary["best_cv_score"] == pytest.approx(float(rows[0]["mean_score"]))

    from nnscratch.persist import modelfile as io

    model = io.load(out / "best_model.npz")
    X = np.load(npz_file)["X"]
    assert model.preprocessor.standardize  # the default: standardised in each fold
    assert model.predict(X).shape == (X.shape[0],)
    assert model.metadata["tune"]["best_params"] == summary["best_params"]


def test_cli_random_search_on_a_csv(tmp_path, xy, capsys):
    X, y = xy
    path = tmp_path / "d.csv"
    labels = np.array(["no", "yes"])[y]
    rows = (",".join([*map(str, x), lab]) for x, lab in zip(X, labels, strict=True))
    path.write_text("\n".join(rows))
    code = main(
        [
            "tune",
            "--data-file",
            str(path),
            "--search",
            "random",
            "--n-iter",
            "2",
            "--param",
            "learning_rate_init=loguniform(1e-3,1e-1)",
            "--no-standardize",
            "--set",
            "max_iter=10",
            "--cv",
            "2",
            "--n-jobs",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 0
    assert "2 candidates" in capsys.readouterr().out
    from nnscratch.persist import modelfile as io

    model = io.load(tmp_path / "o" / "best_model.npz")
    assert model.classes == ("no", "yes")
    # --no-standardize: the columns as they are, through the table encoding that lets
    # predict and evaluate read the same CSV
    assert model.input_kind == "table" and not model.preprocessor.standardize


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--param", "lr=0.1"], "unknown hyperparameter 'lr'"),
        (["--param", "learning_rate_init=loguniform(1e-3,1)"], "need --search random"),
        (["--search", "random", "--param", "max_iter=randint(1,10**20)"], "integers written out"),
        (
            ["--search", "random", "--param", "max_iter=randint(1,100000000000000000000)"],
            "bounds must be at most",
        ),
        (["--set", "max_iter=abc"], "max_iter must be an integer >= 1; got 'abc'"),
        (["--param", "alpha=0:1", "--set", "alpha=0"], "both searched"),
        (["--scheduler", "localhost:8786"], "tcp://HOST:PORT"),
        (["--scoring", "nope"], "unknown --scoring"),
        (["--cv", "1"], "argument --cv"),
        (["--search", "bayes"], "argument --search"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(npz_file, tmp_path, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--data-file", str(npz_file), "--out", str(tmp_path / "o"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_data_errors_exit_1(tmp_path, capsys):
    assert main(["tune", "--data-file", str(tmp_path / "none.npz")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_all_fits_failing_exits_1_with_the_cause(npz_file, tmp_path, capsys):
    code = main(
        [
            "tune",
            "--data-file",
            str(npz_file),
            "--param",
            "learning_rate_init=0.01:0.1",
            "--set",
            "early_stopping=true",
            "--set",
            "validation_fraction=0.99",
            "--cv",
            "2",
            "--n-jobs",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "All the 4 fits failed" in err
    assert "the resulting train set will be empty" in err  # the cause, from the first failure


def test_cli_some_fits_failing_is_a_note_not_a_traceback(npz_file, tmp_path, capsys):
    code = main(
        ["tune", "--data-file", str(npz_file), "--param", "validation_fraction=0.2:0.99",
         "--set", "early_stopping=true", "--set", "max_iter=5", "--cv", "2", "--n-jobs", "1",
         "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "note: 1 candidate(s) scored nan" in captured.out
    assert "the resulting train set will be empty" in captured.out
    assert "Traceback" not in captured.err and "Warning" not in captured.err


def test_cli_cat_data_by_default(cat_data_dir, tmp_path, capsys):
    code = main(
        [
            "tune",
            "--data",
            str(cat_data_dir),
            "--param",
            "hidden_layer_sizes=4:4,3",
            "--set",
            "max_iter=3",
            "--cv",
            "2",
            "--n-jobs",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "o" / "best_params.json").read_text())
    assert 0 <= summary["test_score"] <= 1
    from nnscratch.data.cats import load_cats
    from nnscratch.persist import modelfile as io

    model = io.load(tmp_path / "o" / "best_model.npz")
    assert model.classes == ("non-cat", "cat")
    images = load_cats(cat_data_dir).x_test
    assert model.predict(images).shape == (50,)  # raw images through the saved preprocessor


# ---- Dask ----------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_quick_one_line_error(npz_file, tmp_path, capsys):
    pytest.importorskip("distributed")
    start = time.monotonic()
    code = main(
        [
            "tune",
            "--data-file",
            str(npz_file),
            "--set",
            "max_iter=5",
            "--scheduler",
            f"tcp://127.0.0.1:{_closed_port()}",
            "--connect-timeout",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    elapsed = time.monotonic() - start
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot connect to the Dask scheduler" in err
    assert "Traceback" not in err
    assert elapsed < 15
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)  # a scheduler and two worker processes
def test_dask_local_cluster_gives_the_single_process_results(xy):
    """A real cluster: two worker processes on 127.0.0.1; same seed, same results."""
    distributed = pytest.importorskip("distributed")
    X, y = xy
    space = tuning.parse_space(
        ["learning_rate_init=loguniform(1e-3,1e-1)", "depth=1:2", "width=4:8"], "random"
    )
    options = dict(search="random", n_iter=4, cv=3, seed=7, settings={"max_iter": 20})
    local = tuning.tune(X, y, space, n_jobs=1, **options)
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = tuning.tune(X, y, space, scheduler=cluster.scheduler_address, **options)
        with distributed.Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
    keys = [
        "rank",
        "mean_score",
        "std_score",
        "learning_rate_init",
        "hidden_layer_sizes",
        "fold0_score",
        "fold1_score",
        "fold2_score",
    ]
    assert [[r[k] for k in keys] for r in remote.rows] == [[r[k] for k in keys] for r in local.rows]
    assert remote.best_params == local.best_params
    np.testing.assert_array_equal(
        remote.best_estimator.predict_proba(X), local.best_estimator.predict_proba(X)
    )


@pytest.mark.slow
@pytest.mark.timeout(600)  # two joblib worker processes
def test_local_joblib_workers_give_the_single_process_results(xy):
    X, y = xy
    space = tuning.parse_space(["learning_rate_init=0.003:0.03", "alpha=0:0.1"])
    one = tuning.tune(X, y, space, settings=FAST, cv=3, n_jobs=1)
    two = tuning.tune(X, y, space, settings=FAST, cv=3, n_jobs=2)
    assert [r["mean_score"] for r in one.rows] == [r["mean_score"] for r in two.rows]
