"""Hyperparameter search: k-fold cross-validated grid or random search over the estimators.

The article ends with "try other learning rates, depths, widths...": this is that advice as a
function (and, on top of it, the ``nnscratch tune`` command).

    space = parse_space(["learning_rate=0.001:0.01", "hidden_layer_sizes=20,7,5:7"])
    result = tune(X, y, space, search="grid", cv=5, seed=0)
    result.best_params, result.best_score, result.rows[0]

Search spaces are written as ``NAME=SPEC`` strings, one per hyperparameter:

    learning_rate=0.001:0.01:0.1         candidate values, separated by ":"
    hidden_layer_sizes=20,7,5:20,7:7     a value that is itself a list uses ","
    depth=1:2:3  width=8:32              shorthand: hidden_layer_sizes = (width,) * depth
    learning_rate=loguniform(1e-4,1e-1)  a distribution (random search only); also
    l2=uniform(0,0.01)  max_iter=randint(50,400)   (randint's bounds are inclusive)
    dropout=none:0.8                     "none" is None

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
import itertools
import math
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .activations import HIDDEN_ACTIVATIONS
from .errors import DataError
from .initializers import INITIALIZERS

__all__ = [
    "TUNABLE",
    "TuneResult",
    "format_value",
    "load_xy",
    "parse_settings",
    "parse_space",
    "plot_scores",
    "tune",
    "write_csv",
]


# ---- values of each hyperparameter ---------------------------------------------------------
def _int(text: str) -> int:
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise ValueError("not a boolean (true/false)")


def _sizes(text: str) -> tuple[int, ...]:
    if text.lower() in ("", "none", "()"):
        return ()  # no hidden layer: logistic / softmax regression
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = (0,)
    if min(sizes) < 1:
        raise ValueError("expected comma-separated layer widths >= 1, e.g. 20,7,5")
    return sizes


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_none(text: str):
        return None if text.lower() == "none" else parse(text)

    return parse_or_none


def _or_auto(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_auto(text: str):
        return "auto" if text.lower() == "auto" else parse(text)

    return parse_or_auto


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse_choice(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"allowed: {', '.join(allowed)}")
        return text

    return parse_choice


def _optimizer_names() -> tuple[str, ...]:
    from .optimizers import OPTIMIZERS

    return tuple(sorted(OPTIMIZERS))


def _schedule(text: str) -> str | None:
    from .schedules import SCHEDULES

    if text.lower() == "none":
        return None
    return _choice(*sorted(SCHEDULES))(text)


#: Hyperparameters that ``parse_space`` / ``parse_settings`` know, each with the function that
#: reads one value from text. ``depth`` and ``width`` are shorthands for hidden_layer_sizes.
TUNABLE: dict[str, Callable[[str], Any]] = {
    "learning_rate": _float,
    "hidden_layer_sizes": _sizes,
    "depth": _int,
    "width": _int,
    "activation": _choice(*HIDDEN_ACTIVATIONS),
    "max_iter": _int,
    "batch_size": _or_auto(_int),
    "optimizer": lambda text: _choice(*_optimizer_names())(text),
    "l2": _float,
    "dropout": _or_none(_float),
    "batch_norm": _bool,
    "early_stopping": _bool,
    "validation_fraction": _float,
    "n_iter_no_change": _int,
    "tol": _float,
    "lr_schedule": _schedule,
    "init": _choice(*sorted(INITIALIZERS)),
    "shuffle": _bool,
    "dtype": _choice("float32", "float64"),
}

_SHORTHANDS = ("depth", "width")
_DISTRIBUTION = re.compile(r"^(loguniform|uniform|randint)\((.*)\)$")


def _known_name(name: str) -> str:
    if name not in TUNABLE:
        raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(TUNABLE)}")
    return name


def _split_assignment(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"expected NAME=VALUES (e.g. learning_rate=0.001:0.01); got {text!r}")
    return _known_name(name.strip()), spec.strip()


def _parse_value(name: str, text: str):
    try:
        return TUNABLE[name](text.strip())
    except ValueError as err:
        raise ValueError(f"bad value {text!r} for {name}: {err}") from err


def _parse_distribution(name: str, kind: str, args: str):
    from scipy import stats

    parts = [p.strip() for p in args.split(",")]
    if len(parts) != 2:
        raise ValueError(f"{kind}() for {name} takes 2 bounds, e.g. {kind}(1,10); got {args!r}")
    try:
        low, high = (int(p) for p in parts) if kind == "randint" else (float(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"bad bounds {args!r} of {kind}() for {name}") from err
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ValueError(
            f"{kind}({args}) for {name} needs low < high"
            + (" and low > 0" if kind == "loguniform" else "")
        )
    if kind == "randint":
        return stats.randint(low, high + 1)  # bounds inclusive, as documented
    if kind == "uniform":
        return stats.uniform(low, high - low)
    return stats.loguniform(low, high)


def parse_space(specs: Sequence[str], search: str = "grid") -> dict[str, Any]:
    """``["NAME=SPEC", ...]`` -> a scikit-learn parameter grid / distributions dict.

    Lists stay lists; distributions (random search only) become scipy.stats objects;
    ``depth``/``width`` become a ``hidden_layer_sizes`` list. Raises ValueError, naming the
    offending text, for unknown names, bad values, repeated names or a distribution in a grid.
    """
    if search not in ("grid", "random"):
        raise ValueError(f"search must be 'grid' or 'random'; got {search!r}")
    space: dict[str, Any] = {}
    for text in specs:
        name, spec = _split_assignment(text)
        if name in space:
            raise ValueError(f"{name} is given twice")
        match = _DISTRIBUTION.match(spec)
        if match:
            if search == "grid":
                raise ValueError(
                    f"{name}={spec}: distributions need --search random; a grid takes "
                    "values separated by ':'"
                )
            if name in _SHORTHANDS or TUNABLE[name] not in (_int, _float):
                raise ValueError(f"{name} takes a list of values, not {match.group(1)}()")
            space[name] = _parse_distribution(name, match.group(1), match.group(2))
        else:
            space[name] = [_parse_value(name, part) for part in spec.split(":")]
    return _expand_shorthands(space)


def _expand_shorthands(space: dict[str, Any]) -> dict[str, Any]:
    if not any(name in space for name in _SHORTHANDS):
        return space
    if "hidden_layer_sizes" in space:
        raise ValueError("give either hidden_layer_sizes or depth/width, not both")
    depths = space.pop("depth", [1])
    widths = space.pop("width", [100])
    for name, values in (("depth", depths), ("width", widths)):
        if any(v < 1 for v in values):
            raise ValueError(f"{name} values must be >= 1; got {values}")
    space["hidden_layer_sizes"] = [(w,) * d for d, w in itertools.product(depths, widths)]
    return space


def parse_settings(assignments: Sequence[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` -> fixed estimator parameters (one value each)."""
    settings: dict[str, Any] = {}
    for text in assignments:
        name, spec = _split_assignment(text)
        if name in _SHORTHANDS:
            raise ValueError(f"{name} is for the search space; set hidden_layer_sizes instead")
        settings[name] = _parse_value(name, spec)
    return settings


def format_value(value) -> str:
    """A parameter value written as the spec syntax reads it: (20, 7) -> "20,7"."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "()"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# ---- data ------------------------------------------------------------------------------
def load_xy(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """X (m, n) and y (m,) from a data file.

    - ``.npz``: arrays ``X`` and ``y`` (or ``x``/``Y``); X may be images (m, H, W, C),
      which are flattened.
    - ``.csv``: numbers separated by commas, one sample a row, the label in the last column;
      a first row that is not numeric is a header. Labels may be text.

    Raises DataError when the file is missing, unreadable or holds something else.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _load_npz(path)
    elif suffix == ".csv":
        X, y = _load_csv(path)
    else:
        raise DataError(f"data file {path} must be .npz (arrays X, y) or .csv; got {suffix!r}")
    if X.ndim < 2 or X.shape[0] == 0:
        raise DataError(f"{path}: X must be (m, n_features) with m >= 1; got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(
            f"{path}: y must be (m,) with one label per row of X ({X.shape[0]}); "
            f"got shape {y.shape}"
        )
    X = X.reshape(X.shape[0], -1)
    if X.dtype.kind not in "biuf" or not np.isfinite(X.astype(np.float64)).all():
        raise DataError(f"{path}: X must hold finite numbers; got dtype {X.dtype}")
    return X, y


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_key = next((k for k in ("X", "x") if k in keys), None)
            y_key = next((k for k in ("y", "Y") if k in keys), None)
            if x_key is None or y_key is None:
                raise DataError(f"{path} must hold arrays 'X' and 'y'; it holds {sorted(keys)}")
            return archive[x_key], archive[y_key]
    except DataError:
        raise
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {path} as .npz: {err}") from err


def _load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path} as CSV: {err}") from err
    if rows and not _all_numbers(rows[0][:-1]):
        rows = rows[1:]  # a header
    if not rows:
        raise DataError(f"{path} holds no data rows")
    width = len(rows[0])
    if width < 2 or any(len(row) != width for row in rows):
        raise DataError(f"{path}: every row needs the same number (>= 2) of columns")
    try:
        X = np.array([[float(v) for v in row[:-1]] for row in rows])
    except ValueError as err:
        raise DataError(f"{path}: feature columns must be numbers: {err}") from err
    labels = [row[-1].strip() for row in rows]
    y: np.ndarray = np.array(labels)
    if _all_numbers(labels):
        numbers = np.array([float(v) for v in labels])
        y = numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers
    return X, y


def _all_numbers(values: Sequence[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def infer_task(y: np.ndarray) -> str:
    """ "regression" for non-integer numbers, "classification" otherwise."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return "regression"
    return "classification"


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
    """An ``MLPClassifier`` or ``MLPRegressor`` with ``random_state=seed`` and ``settings``."""
    from .estimators import MLPClassifier, MLPRegressor

    classes = {"classification": MLPClassifier, "regression": MLPRegressor}
    if task not in classes:
        raise ValueError(f"task must be one of {', '.join(classes)}; got {task!r}")
    return classes[task](random_state=seed, **(settings or {}))


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

    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2 (the number of folds); got {cv!r}")
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
    if search == "random":
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
            raise ValueError(f"n_iter must be an integer >= 1; got {n_iter!r}")
        return RandomizedSearchCV(estimator, space, n_iter=n_iter, random_state=seed, **common)
    raise ValueError(f"search must be 'grid' or 'random'; got {search!r}")


class SchedulerError(OSError):
    """The Dask scheduler could not be reached."""


_SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+(:\d+)?$")


def check_scheduler_address(address: str) -> str:
    """Raise ValueError unless ``address`` looks like ``tcp://HOST:PORT``."""
    if not _SCHEDULER_ADDRESS.match(address):
        raise ValueError(
            f"scheduler address must look like tcp://HOST:PORT (or tls://...); got {address!r}"
        )
    return address


@contextlib.contextmanager
def dask_backend(address: str, connect_timeout: float = 10.0) -> Iterator[Any]:
    """Connect to the Dask scheduler at ``address`` and make joblib run on its workers.

    Raises ``SchedulerError`` (an OSError) within about ``connect_timeout`` seconds when no
    scheduler answers there; ImportError when dask[distributed] is not installed.
    """
    check_scheduler_address(address)
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError(
            "running on a Dask cluster needs dask[distributed]: pip install 'nnscratch[dask]'"
        ) from err
    import joblib

    try:
        with _quiet_distributed_logs():
            client = Client(address, timeout=connect_timeout, set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, or garbage from a non-Dask server
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SchedulerError(
            f"cannot connect to the Dask scheduler at {address} within {connect_timeout:g} s "
            f"({detail}); is `dask scheduler` running there and reachable?"
        ) from None
    try:
        with client.as_current(), joblib.parallel_config(backend="dask", n_jobs=-1):
            yield client
    finally:
        client.close()


@contextlib.contextmanager
def _quiet_distributed_logs() -> Iterator[None]:
    """distributed logs each failed connection attempt; the error we raise says it all."""
    import logging

    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


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
        seed: seeds the folds, the random draws and every network (``random_state``): the
            same seed gives the same results with any n_jobs or scheduler.
        n_jobs: joblib workers on this machine (-1: all cores); ignored with ``scheduler``.
        scheduler: "tcp://HOST:PORT" of a Dask scheduler: the fits run on its workers
            (they need nnscratch installed).
        refit: refit the best candidate on all of X, y (``best_estimator``).
        preprocessor: an unfitted preprocessor (e.g. ``ImagePreprocessor(standardize=True)``)
            fitted inside each fold, on the fold's training part only, before the network.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    from .estimators import PreprocessorStep

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
