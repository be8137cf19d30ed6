"""Hyperparameter search: k-fold cross-validated grid or random search over the estimators.

The article ends with "try other learning rates, depths, widths...": this is that advice as a
function (and, on top of it, the ``nnscratch tune`` command).

    space = parse_space(["learning_rate_init=0.001:0.01", "hidden_layer_sizes=20,7,5:7"])
    result = tune(X, y, space, search="grid", cv=5, seed=0)
    result.best_params, result.best_score, result.rows[0]

Search spaces are written as ``NAME=SPEC`` strings, one per hyperparameter (the grammar is in
``nnscratch.sklearn.search_space``), e.g. ``learning_rate_init=0.001:0.01`` or
``depth=1:2 width=8:32``; the names are the estimators' parameters (scikit-learn's MLP names).

The estimator is ``MLPClassifier`` or ``MLPRegressor``; the search is scikit-learn's
``GridSearchCV`` / ``RandomizedSearchCV`` with (stratified) shuffled k-fold splits, all seeded by
``seed``, so a search gives the same results wherever it runs. It runs in parallel on local
cores through joblib (``n_jobs``), or on a Dask distributed cluster (``scheduler``, through
joblib's dask backend).

Needs scikit-learn; a Dask cluster needs dask[distributed] (``pip install 'nnscratch[dask]'``).
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.validation import check_choice, check_int_at_least, check_positive, check_seed
from nnscratch.data.tabular import infer_task, load_xy

# The search space grammar, the data files and the Dask backend live in their own modules; they
# are also reached from here, as ``nnscratch tune`` (the command) uses them together.
from nnscratch.sklearn.dask_backend import SchedulerError, check_scheduler_address, dask_backend
from nnscratch.sklearn.search_space import (
    SEARCHES,
    TUNABLE,
    format_value,
    parse_settings,
    parse_space,
)

__all__ = [
    "TUNABLE",
    "SchedulerError",
    "TuneResult",
    "check_scheduler_address",
    "dask_backend",
    "format_value",
    "infer_task",
    "load_xy",
    "parse_settings",
    "parse_space",
    "plot_scores",
    "tune",
    "write_csv",
]


# ---- the search ------------------------------------------------------------------------
@dataclass
class TuneResult:
    """What ``tune`` found.

    Attributes:
        search: the fitted GridSearchCV / RandomizedSearchCV (``cv_results_`` and all).
        rows: one dict per candidate, best first: rank, mean/std CV score, each searched
            parameter (as its value), per-fold scores and mean fit time.
        param_names: the searched parameters, in the order they were given.
        best_params, best_score: the winner and its mean CV score.
        best_estimator: the winner refitted on all the data, a pipeline when there is a
            preprocessor (None when refit=False); it takes the raw X.
        best_model: its MLPClassifier / MLPRegressor (``best_model.network_``).
        best_preprocessor: its fitted preprocessor, or None.
    """

    search: Any
    rows: list[dict[str, Any]]
    param_names: list[str]
    best_params: dict[str, Any]
    best_score: float
    best_estimator: Any
    best_model: Any = None
    best_preprocessor: Any = None


def make_estimator(task: str, settings: dict[str, Any] | None = None, seed: int = 0):
    """An ``MLPClassifier`` or ``MLPRegressor`` with ``random_state=seed`` and ``settings``
    (a ``random_state`` among them seeds the networks instead)."""
    from nnscratch.sklearn.estimators import MLPClassifier, MLPRegressor

    classes = {"classification": MLPClassifier, "regression": MLPRegressor}
    estimator_class = classes[check_choice("task", task, classes)]
    return estimator_class(
        **{"random_state": check_seed(seed, allow_none=False), **(settings or {})}
    )


def make_search(
    estimator,
    space: dict[str, Any],
    *,
    search: str = "grid",
    n_iter: int = 10,
    cv: int = 5,
    scoring: str | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    refit: bool = True,
):
    """The (unfitted) scikit-learn search object: shuffled k-fold splits seeded by ``seed``
    (stratified for classifiers)."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold

    check_choice("search", search, SEARCHES)
    cv = check_int_at_least("cv", cv, 2)  # folds
    seed = check_seed(seed, allow_none=False)
    if not space:
        raise ValueError("the search space is empty; give at least one NAME=VALUES")
    splitter_class = StratifiedKFold if is_classifier(estimator) else KFold
    splitter = splitter_class(n_splits=cv, shuffle=True, random_state=seed)
    common = dict(scoring=scoring, cv=splitter, n_jobs=n_jobs, refit=refit, error_score=np.nan)
    if search == "grid":
        for name, values in space.items():
            if not isinstance(values, list):
                raise ValueError(f"{name}: a grid search takes lists of values")
        return GridSearchCV(estimator, space, **common)
    n_iter = check_positive("n_iter", n_iter, integer=True)
    return RandomizedSearchCV(estimator, space, n_iter=n_iter, random_state=seed, **common)


def tune(
    X,
    y,
    space: dict[str, Any],
    *,
    task: str = "classification",
    settings: dict[str, Any] | None = None,
    search: str = "grid",
    n_iter: int = 10,
    cv: int = 5,
    scoring: str | None = None,
    seed: int = 0,
    n_jobs: int | None = -1,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    refit: bool = True,
    preprocessor=None,
) -> TuneResult:
    """Cross-validated search of ``space`` (see ``parse_space``) on X (m, ...), y (m,).

    Args:
        task: "classification" (MLPClassifier, default score accuracy) or "regression"
            (MLPRegressor, R^2).
        settings: fixed estimator parameters (e.g. ``{"max_iter": 100}``).
        search: "grid" (every combination) or "random" (``n_iter`` draws, seeded).
        cv: number of folds; scoring: a scikit-learn scorer name, None for the estimator's.
        seed: seeds the folds, the random draws and every network (``random_state``, unless
            ``settings`` or ``space`` give one): the same seed gives the same results with
            any n_jobs or scheduler.
        n_jobs: joblib workers on this machine (-1: all cores); ignored with ``scheduler``.
        scheduler: "tcp://HOST:PORT" of a Dask scheduler: the fits run on its workers
            (they need nnscratch installed).
        refit: refit the best candidate on all of X, y (``best_estimator``).
        preprocessor: an unfitted preprocessor (e.g. ``ImagePreprocessor(standardize=True)``)
            fitted inside each fold, on the fold's training part only, before the network.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    from nnscratch.sklearn.estimators import PreprocessorStep

    model = make_estimator(task, settings, seed)
    estimator, prefix = model, ""
    if preprocessor is not None:
        steps = [("preprocess", PreprocessorStep(preprocessor)), ("model", model)]
        estimator, prefix = Pipeline(steps), "model__"
    searcher = make_search(
        estimator,
        {prefix + name: values for name, values in space.items()},
        search=search,
        n_iter=n_iter,
        cv=cv,
        scoring=scoring,
        seed=seed,
        n_jobs=None if scheduler else n_jobs,
        refit=refit,
    )
    backend = dask_backend(scheduler, connect_timeout) if scheduler else contextlib.nullcontext()
    with backend, warnings.catch_warnings():
        # each candidate that stops at max_iter would warn; the table shows the scores
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*total space of parameters.*")
        searcher.fit(X, y)
    param_names = list(space)
    best = getattr(searcher, "best_estimator_", None)
    return TuneResult(
        search=searcher,
        rows=result_rows(searcher, param_names, prefix),
        param_names=param_names,
        best_params={k.removeprefix(prefix): v for k, v in searcher.best_params_.items()},
        best_score=float(searcher.best_score_),
        best_estimator=best,
        best_model=best["model"] if best is not None and prefix else best,
        best_preprocessor=best["preprocess"].fitted_ if best is not None and prefix else None,
    )


def result_rows(searcher, param_names: Sequence[str], prefix: str = "") -> list[dict[str, Any]]:
    """One dict per candidate from ``cv_results_``, best (rank 1) first; ``prefix`` is what
    the search put before each parameter name (a pipeline's "model__")."""
    res = searcher.cv_results_
    n_splits = searcher.n_splits_
    rows = []
    for i in range(len(res["params"])):
        row: dict[str, Any] = {
            "rank": int(res["rank_test_score"][i]),
            "mean_score": float(res["mean_test_score"][i]),
            "std_score": float(res["std_test_score"][i]),
        }
        for name in param_names:
            row[name] = res["params"][i][prefix + name]
        if "hidden_layer_sizes" in param_names:  # derived, for the table and the plot
            sizes = row["hidden_layer_sizes"]
            row["depth"] = len(sizes)
            row["width"] = max(sizes, default=0)
        for k in range(n_splits):
            row[f"fold{k}_score"] = float(res[f"split{k}_test_score"][i])
        row["mean_fit_time_s"] = float(res["mean_fit_time"][i])
        rows.append(row)
    rows.sort(key=lambda r: (r["rank"], -_nan_to_low(r["mean_score"])))
    return rows


def _nan_to_low(value: float) -> float:
    return -np.inf if np.isnan(value) else value


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """The rows of ``result_rows`` as CSV, parameter values in the spec syntax."""
    path = Path(path)
    if not rows:
        raise ValueError("no results to write")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return path


def _csv_cell(value) -> str:
    if isinstance(value, float):
        return repr(float(value))  # full precision; also for numpy floats
    return format_value(value)


def _plot_axis_values(name: str, values: list) -> tuple[list, list[str] | None, bool]:
    """x positions for ``values``, category labels (None when numeric), and log scale?"""
    numeric = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None for v in values
    )
    if numeric:
        positive = [v for v in values if v > 0]
        log = len(positive) == len(values) and max(positive) / min(positive) >= 10
        return list(values), None, log
    labels = sorted({format_value(v) for v in values}, key=_natural_key)
    index = {label: i for i, label in enumerate(labels)}
    return [index[format_value(v)] for v in values], labels, False


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def plot_scores(
    rows: Sequence[dict[str, Any]],
    param_names: Sequence[str],
    path: str | Path,
    *,
    score_label: str = "mean CV score",
) -> Path:
    """A PNG with one panel per hyperparameter: every candidate's mean CV score against that
    hyperparameter's value (points), and the best score reached at each value (line).
    ``hidden_layer_sizes`` also gets panels for depth and width when they vary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(param_names)
    for derived in ("depth", "width"):
        if derived not in names and len({r.get(derived) for r in rows}) > 1:
            names.append(derived)
    n = len(names)
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    scores = np.array([r["mean_score"] for r in rows], dtype=float)
    for ax, name in zip(axes.flat, names, strict=False):
        x, labels, log = _plot_axis_values(name, [r[name] for r in rows])
        x_arr = np.asarray(x, dtype=float)
        ok = np.isfinite(scores)
        ax.scatter(x_arr[ok], scores[ok], alpha=0.6, s=22, color="tab:blue", label="candidate")
        if (~ok).any():
            low = np.nanmin(scores) if ok.any() else 0.0
            ax.scatter(
                x_arr[~ok], np.full((~ok).sum(), low), marker="x", color="tab:red", label="failed"
            )
        distinct = sorted(set(x_arr[ok].tolist()))
        if 1 < len(distinct) <= 30:
            best = [scores[ok][x_arr[ok] == v].max() for v in distinct]
            ax.plot(distinct, best, color="tab:orange", marker="o", label="best at value")
        if log:
            ax.set_xscale("log")
        if labels is not None:
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=30 if len(labels) > 3 else 0, fontsize=8)
        elif len(set(x)) <= 8:  # a grid's few values: tick exactly those
            ticks = sorted(set(x))
            ax.set_xticks(ticks)
            ax.set_xticklabels([format_value(v) for v in ticks], fontsize=8)
            ax.minorticks_off()
        ax.set_xlabel(name)
        ax.set_ylabel(score_label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{score_label} by hyperparameter ({len(rows)} candidates)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
