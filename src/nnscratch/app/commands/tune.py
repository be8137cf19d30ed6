"""``nnscratch tune``: k-fold cross-validated hyperparameter search (grid or random).

    nnscratch tune --param learning_rate_init=0.001:0.01 --param hidden_layer_sizes=20,7,5:7 \\
        --cv 5 --out tune-results
    nnscratch tune --search random --n-iter 20 --param 'learning_rate_init=loguniform(1e-4,1e-1)' \\
        --param depth=1:2:3 --param width=8:32:128 --scheduler tcp://10.0.0.5:8786

Data: the cat data set by default (train split, images flattened and scaled to [0, 1]; the
refitted best model is also scored on the test split), or ``--data-file`` (.npz with X and y,
or .csv with the label in the last column). Inputs are standardised per feature inside each
fold, on the fold's training part (``--no-standardize``: not). Writes into ``--out``:
``results.csv`` (one row per candidate, best first), ``scores.png`` (mean CV score against
each hyperparameter), ``best_model.npz`` (the best candidate refitted on all the training
data, with its preprocessing; ``nnscratch evaluate/predict`` read it) and
``best_params.json``; prints the top rows.

The value syntax of ``--param`` / ``--set`` is in ``nnscratch.sklearn.tune``.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from functools import partial
from pathlib import Path

from nnscratch.app.commands._common import add_data_option, flag_type, seed_type, staged_directory
from nnscratch.base import jsonio
from nnscratch.base.errors import UsageError
from nnscratch.base.validation import check_int_at_least, check_positive

DEFAULT_SPACE = ("hidden_layer_sizes=7:20,7,5", "learning_rate_init=0.001:0.0075")

EPILOG = """\
--param NAME=SPEC (repeatable) adds a hyperparameter to search:
  learning_rate_init=0.001:0.01:0.1   values separated by ':'
  hidden_layer_sizes=20,7,5:20,7:7    a list-valued value uses ','
  depth=1:2:3 --param width=8:32      shorthand for hidden_layer_sizes=(width,)*depth
  learning_rate_init=loguniform(1e-4,1e-1)  distributions (--search random): loguniform(a,b),
  alpha=uniform(0,0.01)               uniform(a,b), randint(a,b) (bounds inclusive)
  dropout=none:0.8                    'none' is None
  random_state=0:1:2                  the networks' seeds (the folds keep --seed)
names: scikit-learn's MLP parameters (hidden_layer_sizes, activation, solver, alpha,
  batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle, random_state,
  tol, momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
  epsilon, n_iter_no_change, max_fun, loss), depth, width, and nnscratch's dropout,
  batch_norm, lr_schedule, init, dtype
each value is checked by the parameter's rule, as MLPClassifier checks it.
--set NAME=VALUE (repeatable) fixes a parameter of every candidate (e.g. --set max_iter=100).
default search: --param hidden_layer_sizes=7:20,7,5 --param learning_rate_init=0.001:0.0075
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tune",
        help="cross-validated hyperparameter search (grid or random), locally or on Dask",
        description="k-fold cross-validated grid or random search over MLPClassifier / "
        "MLPRegressor hyperparameters; writes a results table, a plot and the best model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = p.add_mutually_exclusive_group()
    add_data_option(source)
    source.add_argument(
        "--data-file",
        metavar="FILE",
        help="a data set instead of the cat data: .npz with arrays X and y, or .csv with the "
        "label in the last column (an optional header row)",
    )
    p.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="standardise each input feature with the mean and standard deviation of the "
        "training part of each fold (default); --no-standardize feeds the cat images scaled "
        "to [0, 1] only, as the article does, and other data as it is",
    )
    p.add_argument(
        "--search",
        choices=("grid", "random"),
        default="grid",
        help="every combination (grid, default) or --n-iter random draws",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="a hyperparameter to search and its values (repeatable; see below)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="settings",
        help="a fixed parameter of every candidate (repeatable)",
    )
    p.add_argument(
        "--n-iter",
        type=flag_type(partial(check_positive, "n_iter", integer=True)),
        default=10,
        metavar="N",
        help="candidates drawn by --search random (default 10)",
    )
    p.add_argument(
        "--cv",
        type=flag_type(partial(check_int_at_least, "cv", minimum=2)),
        default=5,
        metavar="K",
        help="number of cross-validation folds (default 5)",
    )
    p.add_argument(
        "--scoring",
        default=None,
        metavar="NAME",
        help="a scikit-learn scorer, e.g. accuracy, roc_auc, f1, neg_log_loss, r2 "
        "(default: accuracy for classification, R^2 for regression)",
    )
    p.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: regression when the labels are non-integer numbers",
    )
    p.add_argument(
        "--seed",
        type=seed_type,
        default=0,
        metavar="S",
        help="seeds folds, random draws and networks (default 0; a random_state in --param "
        "or --set seeds the networks instead)",
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        metavar="N",
        help="parallel local workers via joblib (default -1: all cores)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the fits on this Dask distributed scheduler's workers",
    )
    p.add_argument(
        "--connect-timeout",
        type=flag_type(partial(check_positive, "connect_timeout")),
        default=10.0,
        metavar="S",
        help="seconds to wait for the Dask scheduler (default 10)",
    )
    p.add_argument(
        "--top",
        type=flag_type(partial(check_positive, "top", integer=True)),
        default=5,
        metavar="N",
        help="rows of the results table to print (default 5)",
    )
    p.add_argument(
        "--out",
        default="tune-results",
        metavar="DIR",
        help="output directory (default tune-results)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    try:
        from nnscratch.sklearn import tune as tuning
        from nnscratch.sklearn.estimators import MLPClassifier  # noqa: F401 (scikit-learn is importable)
    except ImportError as err:
        print(
            f"nnscratch tune: error: {err}; install it with: pip install 'nnscratch[sklearn]'",
            file=sys.stderr,
        )
        return 1

    # ---- everything the user typed, checked before any data is read -------------------
    try:
        space = tuning.parse_space(args.param or list(DEFAULT_SPACE), args.search)
        settings = tuning.parse_settings(args.settings)
        if args.scheduler:
            tuning.check_scheduler_address(args.scheduler)
    except ValueError as err:
        raise UsageError(str(err)) from None
    clash = sorted(set(space) & set(settings))
    if clash:
        raise UsageError(f"{', '.join(clash)} is both searched (--param) and fixed (--set)")
    if args.scoring is not None:
        from sklearn.metrics import get_scorer_names

        if args.scoring not in get_scorer_names():
            raise UsageError(
                f"unknown --scoring {args.scoring!r}; e.g. accuracy, balanced_accuracy, f1, "
                "roc_auc, neg_log_loss, r2, neg_mean_squared_error (see "
                "sklearn.metrics.get_scorer_names())"
            )
    out = Path(args.out)
    try:
        with staged_directory(out) as staging:  # locked, empty and writable before the search
            status = _search_and_write(args, space, settings, tuning, out, staging)
            if status:
                raise _Failed(status)  # nothing is committed: no --out appears
    except _Failed as failed:
        return failed.status
    return 0


class _Failed(Exception):
    """The search failed (its message printed): leave the staged outputs uncommitted."""

    def __init__(self, status: int):
        self.status = status


def _search_and_write(args, space, settings, tuning, out: Path, staging: Path) -> int:
    """The search, then its outputs written into ``staging`` (renamed onto ``out`` by the
    caller's ``staged_directory`` when everything is written: all files or none)."""
    from sklearn.exceptions import FitFailedWarning

    from nnscratch.sklearn.dask_backend import local_workers

    # ---- data ---------------------------------------------------------------------------
    X, y, X_test, y_test, class_names, preprocessor, table = _load(args)
    if table is not None:
        task = table["task"]  # the table reader's rule, printed by _load
    else:
        task = tuning.infer_task(y) if args.task == "auto" else args.task
    if task == "classification":
        import numpy as np

        n_classes = np.unique(y).shape[0]
        if n_classes < 2:
            print(
                "nnscratch tune: error: the labels hold a single class; classification "
                "needs at least 2",
                file=sys.stderr,
            )
            return 1

    # ---- search -------------------------------------------------------------------------
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"n_jobs={args.n_jobs}"
    n_candidates = _count(space, args.search, args.n_iter)
    print(
        f"tune: {args.search} search, {n_candidates} candidates x {args.cv} folds of "
        f"{X.shape[0]} samples ({task}), on {where}",
        flush=True,
    )
    try:
        with local_workers(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitFailedWarning)
            result = tuning.tune(
                X,
                y,
                space,
                task=task,
                settings=settings,
                search=args.search,
                n_iter=args.n_iter,
                cv=args.cv,
                scoring=args.scoring,
                seed=args.seed,
                n_jobs=args.n_jobs,
                scheduler=args.scheduler,
                connect_timeout=args.connect_timeout,
                preprocessor=preprocessor,
            )
    except tuning.SchedulerError as err:
        print(f"nnscratch tune: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # e.g. every fit failed, or too few samples for the folds
        print(f"nnscratch tune: error: {_one_line(err)}", file=sys.stderr)
        return 1
    fit_failures = []
    for w in caught:  # FitFailedWarning's tracebacks become one line below; others pass on
        if issubclass(w.category, FitFailedWarning):
            fit_failures.append(_one_line(w.message))
        elif "test scores are non-finite" not in str(w.message):  # the note says it
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    # ---- outputs, staged: all of them appear in --out at once, or none -------------------
    try:
        _write_outputs(
            args, result, task, settings, tuning, fit_failures,
            (X_test, y_test, class_names, table), out, staging,
        )  # fmt: skip
    except OSError as err:
        raise OSError(
            err.errno, f"cannot write the outputs into {out}: {err.strerror or err}"
        ) from err
    return 0


def _write_outputs(
    args, result, task, settings, tuning, fit_failures, test, out: Path, staging: Path
) -> None:
    """results.csv, scores.png, best_model.npz and best_params.json into ``staging``."""
    X_test, y_test, class_names, table = test
    csv_path = out / tuning.write_csv(result.rows, staging / "results.csv").name
    score_name = args.scoring or ("accuracy" if task == "classification" else "R^2")
    plot_path = (
        out
        / tuning.plot_scores(
            result.rows,
            result.param_names,
            staging / "scores.png",
            score_label=f"mean CV {score_name}",
        ).name
    )
    _print_table(result, args.top, score_name)
    summary = {
        "best_params": {k: tuning.format_value(v) for k, v in result.best_params.items()},
        "best_cv_score": result.best_score,
        "scoring": score_name,
        "cv": args.cv,
        "search": args.search,
        "seed": args.seed,
        "settings": {k: tuning.format_value(v) for k, v in settings.items()},
    }
    if X_test is not None:
        summary["test_score"] = float(result.best_estimator.score(X_test, y_test))
    model_path = (
        out
        / _save_model(
            result.best_model,
            staging / "best_model.npz",
            result.best_preprocessor,
            class_names,
            summary,
            table,
        ).name
    )
    (staging / "best_params.json").write_text(
        jsonio.dumps(summary, allow_nan=True, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"best: {summary['best_params']}  mean CV {score_name} {result.best_score:.4f}"
        + (f"  test {score_name} {summary['test_score']:.4f}" if X_test is not None else "")
    )
    failed = sum(1 for r in result.rows if r["mean_score"] != r["mean_score"])
    if failed or fit_failures:
        cause = f" {fit_failures[0]}" if fit_failures else ""
        print(f"note: {failed} candidate(s) scored nan: some of their fits failed.{cause}")
    print(f"wrote {csv_path}, {plot_path}, {model_path}, {out / 'best_params.json'}")


def _one_line(err: Exception | str) -> str:
    """scikit-learn's "All the N fits failed" carries the fits' tracebacks: keep its first line
    and the last error of the first traceback."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    cause = next(
        (line for line in lines[1:] if re.match(r"^[\w.]+(Error|Exception)\b.*:", line)), None
    )
    return f"{lines[0]} The first error: {cause}" if cause else lines[0]


def _count(space: dict, search: str, n_iter: int) -> int:
    if not all(isinstance(v, list) for v in space.values()):
        return n_iter
    total = 1
    for v in space.values():
        total *= len(v)
    return total if search == "grid" else min(total, n_iter)


def _load(args):
    """(X, y, X_test, y_test, class names, unfitted preprocessor or None, table or None): the
    raw data (cat images stay (m, 64, 64, 3) uint8) and the preprocessing each fold fits for
    itself. A ``--data-file`` is read by ``nnscratch.data.tables`` (header, categorical
    columns one-hot, task rule); ``table`` then holds its encoder, columns, target and task."""
    from nnscratch.data.preprocessing import ImagePreprocessor

    if args.data is not None and not args.data_file:
        from nnscratch.base.errors import UsageError
        from nnscratch.data.source import kind_of

        kind = kind_of(args.data)
        if kind == "table":  # --data FILE.csv is --data-file FILE.csv
            args.data_file = args.data
        elif kind != "cats":
            raise UsageError(
                f"tune reads the cat data or a table (.npz, .csv); --data {args.data} is "
                f"{kind} data (train and evaluate read image folders)"
            )
    if args.data_file:
        from nnscratch.data.table_encoding import TablePreprocessor
        from nnscratch.data.tables import read_table

        data = read_table(args.data_file)
        target = data.target(None, None if args.task == "auto" else args.task)
        features = data.features()
        print(
            f"{args.data_file}: target {target.name!r}: {target.task} ({target.reason})",
            flush=True,
        )
        encoder = TablePreprocessor(standardize=False).fit(features)
        X = encoder.transform(features)
        table = {"encoder": encoder, "columns": features.names, "target": target.name,
                 "task": target.task}  # fmt: skip
        pre = ImagePreprocessor(scale=1.0, standardize=True, dtype="float64")
        return (
            X,
            target.labels,
            None,
            None,
            target.classes,
            pre if args.standardize else None,
            table,
        )
    from nnscratch.data.cats import load_cats

    cats = load_cats(args.data)
    pre = ImagePreprocessor(scale=1 / 255, standardize=args.standardize, dtype="float64")
    return cats.x_train, cats.y_train, cats.x_test, cats.y_test, cats.classes, pre, None


def _print_table(result, top: int, score_name: str) -> None:
    from nnscratch.sklearn.search_space import format_value

    names = result.param_names
    header = ["rank", f"mean {score_name}", "std", *names, "fit s"]
    lines = [header]
    for row in result.rows[:top]:
        lines.append(
            [
                str(row["rank"]),
                f"{row['mean_score']:.4f}",
                f"{row['std_score']:.4f}",
                *[format_value(row[n]) for n in names],
                f"{row['mean_fit_time_s']:.2f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def _save_model(best, path: Path, preprocessor, class_names, summary, table=None) -> Path:
    """The refitted best network as a model file (``nnscratch.persist.modelfile.save``). A
    table's model records its columns, target and task, with the table encoder carrying the
    best candidate's standardisation, so that ``predict`` and ``evaluate`` take the table."""
    from nnscratch.persist import modelfile as io

    classes = None
    if hasattr(best, "classes_"):
        if class_names is not None:
            classes = [str(class_names[int(c)]) for c in best.classes_]
        else:
            classes = [str(c) for c in best.classes_]
    data = None
    if table is not None:
        encoder = table["encoder"]
        if preprocessor is not None and preprocessor.standardize:
            encoder.standardize = True
            encoder.mean_ = preprocessor.mean_.astype("float64")
            encoder.std_ = preprocessor.std_.astype("float64")
        preprocessor = encoder
        data = {"kind": "table", "columns": list(table["columns"]), "target": table["target"],
                "task": table["task"]}  # fmt: skip
    return io.save(
        best.network_, path, preprocessor=preprocessor, classes=classes, data=data,
        metadata={"tune": summary},
    )  # fmt: skip
