"""nnscratch's MLPClassifier / MLPRegressor against scikit-learn's, default hyperparameters.

    python benchmarks/bench_sklearn.py                   # digits, breast_cancer, diabetes
    python benchmarks/bench_sklearn.py --only digits,iris --seeds 5 --threads 1

For each data set and seed s: a 75/25 train/test split with ``random_state=s`` (stratified for
classification; the cat data keeps its own train and test files), the same preprocessing for
both sides, then scikit-learn's estimator and nnscratch's, both with
``random_state=1000 + s`` and otherwise default hyperparameters, are fitted one after the other
(their order alternates with the seed, so machine load hits both alike) and scored on the
held-out part (accuracy; R^2 for the regression set ``diabetes``).

nnscratch's estimators are drop-in: the same random_state draws the same initial weights from
the same RandomState stream, and training follows scikit-learn's epoch loop, solver and
stopping rule step for step, so the paired differences are those of floating-point rounding
(the forward and backward passes are nnscratch's own). The fit times compare the two
implementations of the same computation.

Prints one Markdown table: held-out score (mean +- standard deviation over seeds), the paired
difference nnscratch - scikit-learn (mean over seeds +- its standard error: same split, same
model seed), fit time (median over seeds), time per epoch and epochs trained (medians).
``--float32`` adds nnscratch with ``dtype="float32"`` on every data set.

Preprocessing: pixel data scaled to [0, 1] (digits / 16, cat images / 255: the article's), tabular
data standardised with the training part's mean and standard deviation (the diabetes target
too, so that the default learning rate fits it within 200 epochs); ``cats_std`` is the cat
data standardised that way too. The cat data (12288 features) is given to both sides as
float32: both keep float32 input in float32.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: the models get random_state=MODEL_SEED + s for split s (see above)
MODEL_SEED = 1000
DATASETS = (
    "digits",
    "breast_cancer",
    "diabetes",
    "iris",
    "wine",
    "classification",
    "cats",
    "cats_std",
)
DEFAULT = ("digits", "breast_cancer", "diabetes")
REGRESSION = ("diabetes",)
REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds (splits and inits) per set")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated data sets among {', '.join(DATASETS)}",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: NumPy's own choice)"
    )
    parser.add_argument(
        "--float32",
        action="store_true",
        help='add a third side: nnscratch with dtype="float32"',
    )
    parser.add_argument(
        "--sklearn-batch-size",
        type=int,
        default=None,
        metavar="N",
        help="batch_size for scikit-learn's MLP instead of its default 'auto' (min(200, n)): "
        "105 gives it the cat data in two equal batches, as nnscratch cuts it",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="directory of the cat data files (default: ../shared/data, "
        "$NNSCRATCH_DATA, or the cache)",
    )
    args = parser.parse_args(argv)
    if args.sklearn_batch_size is not None and args.sklearn_batch_size < 1:
        parser.error(f"--sklearn-batch-size must be at least 1, got {args.sklearn_batch_size}")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; allowed: {', '.join(DATASETS)}")
    args.names = names
    return args


def load(name: str, seed: int, data_dir):
    """(X_train, X_test, y_train, y_test) ready for both classifiers."""
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name in ("cats", "cats_std"):
        from nnscratch.data.cats import load_cats

        data = load_cats(data_dir, progress=False)
        flat = lambda x: x.reshape(x.shape[0], -1).astype(np.float32) / np.float32(255)  # noqa: E731
        X_train, X_test = flat(data.x_train), flat(data.x_test)
        if name == "cats_std":
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        return X_train, X_test, data.y_train, data.y_test
    if name == "classification":
        X, y = datasets.make_classification(
            n_samples=2000,
            n_features=20,
            n_informative=10,
            n_redundant=4,
            n_classes=3,
            class_sep=1.0,
            random_state=0,
        )
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=None if name in REGRESSION else y, random_state=seed
    )
    if name == "digits":
        return X_train / 16, X_test / 16, y_train, y_test
    if name in REGRESSION:  # the target standardised too, by the training part's statistics
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def run_one(make, X_train, X_test, y_train, y_test):
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    clf = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return clf.score(X_test, y_test), seconds, clf.n_iter_


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    data_dir = args.data
    if data_dir is None and (REPO.parent / "shared" / "data" / "train_catvnoncat.h5").is_file():
        data_dir = REPO.parent / "shared" / "data"

    import platform
    import statistics

    import numpy as np
    import sklearn
    from sklearn import neural_network

    import nnscratch

    def estimators(name: str):
        kind = "MLPRegressor" if name in REGRESSION else "MLPClassifier"
        sk_class, nn_class = getattr(neural_network, kind), getattr(nnscratch, kind)
        batch = args.sklearn_batch_size or "auto"
        sides = {
            "sklearn": lambda seed: lambda: sk_class(random_state=seed, batch_size=batch),
            "nnscratch": lambda seed: lambda: nn_class(random_state=seed),
        }
        if args.float32:
            sides["nnscratch f32"] = lambda seed: (
                lambda: nn_class(random_state=seed, dtype="float32")
            )
        return sides

    sides = estimators("digits")
    print(
        f"scikit-learn {sklearn.__version__} vs nnscratch {nnscratch.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, BLAS threads {args.threads or 'default'}; "
        f"{args.seeds} seeds; default hyperparameters on every side"
        + (
            f" but scikit-learn's batch_size={args.sklearn_batch_size}"
            if args.sklearn_batch_size
            else ""
        )
        + "\n",
        flush=True,
    )
    names = " / ".join(sides)
    header = (
        f"| data set | train x features | classes | accuracy or R^2 ({names}) "
        f"| accuracy nn - sk (or R^2) "
        f"| fit s ({names}) | fit time nn/sk | ms per epoch ({names}) | epochs ({names}) |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    totals = {side: [] for side in sides}
    for name in args.names:
        sides = estimators(name)
        results = {side: {"acc": [], "time": [], "iter": []} for side in sides}
        try:
            splits = [load(name, seed, data_dir) for seed in range(args.seeds)]
        except Exception as err:  # e.g. the cat data missing and no network
            print(f"| {name} | skipped: {err} |" + " |" * 7)
            continue
        for seed, (X_train, X_test, y_train, y_test) in enumerate(splits):
            order = list(sides) if seed % 2 == 0 else list(reversed(sides))
            for side in order:
                model = sides[side](MODEL_SEED + seed)
                acc, sec, n_iter = run_one(model, X_train, X_test, y_train, y_test)
                results[side]["acc"].append(acc)
                results[side]["time"].append(sec)
                results[side]["iter"].append(n_iter)
        X_train, _, y_train, _ = splits[0]
        medians = {side: statistics.median(results[side]["time"]) for side in sides}
        for side in sides:
            totals[side].append(medians[side])
        per_epoch = {
            side: statistics.median(
                t / n for t, n in zip(results[side]["time"], results[side]["iter"], strict=True)
            )
            for side in sides
        }
        diff = np.subtract(results["nnscratch"]["acc"], results["sklearn"]["acc"])
        diff_se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else 0.0
        cells = [
            name,
            f"{X_train.shape[0]} x {X_train.shape[1]}",
            "R^2" if name in REGRESSION else str(len(np.unique(y_train))),
            " / ".join(
                f"{np.mean(results[s]['acc']):.3f} +- {np.std(results[s]['acc']):.3f}"
                for s in sides
            ),
            f"{diff.mean():+.4f} +- {diff_se:.4f}",
            " / ".join(f"{medians[s]:.2f}" for s in sides),
            f"{medians['nnscratch'] / medians['sklearn']:.2f}",
            " / ".join(f"{1000 * per_epoch[s]:.1f}" for s in sides),
            " / ".join(f"{statistics.median(results[s]['iter']):.0f}" for s in sides),
        ]
        print("| " + " | ".join(cells) + " |", flush=True)
    if all(totals.values()):
        print(
            "\ntotal of the median fit times: "
            + ", ".join(f"{side} {sum(totals[side]):.2f} s" for side in sides)
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
