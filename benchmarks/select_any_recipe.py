"""Choose the default recipe for data other than the cat images (``nnscratch.app.recipes_any``)
by 3-fold cross-validation on the training part (the 80% that ``nnscratch train`` keeps,
seed 0) of three shipped scikit-learn data sets, written as ``train`` reads them:

    load_digits          1797 8x8 grayscale PNG files in one folder per class (10 classes)
    load_breast_cancer   a CSV written by pandas (numeric header 0,...,29,y), 2 classes
    load_diabetes        a CSV of the unscaled data (target 25-346): a regression

    python benchmarks/select_any_recipe.py [WORKDIR]

Prints the mean cross-validated accuracy (R2 for diabetes) of each candidate; the test splits
are never scored here.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nnscratch.app.recipes_any import AnyConfig, hold_out, train_any
from nnscratch.app.scores import scores_of
from nnscratch.data.source import load_data

#: The candidates of the last round (an earlier round compared (64,32) without dropout, (32,),
#: keep 0.5, patience 50, L2 1, a smaller learning rate, batches of 64; see docs/data.md).
CANDIDATES = {
    "(64,32)": {"layers": (64, 32), "dropout": None, "l2": 0.0},
    "(64,32) keep 0.8": {"layers": (64, 32), "dropout": 0.8, "l2": 0.0},
    "(128,64) keep 0.8": {"layers": (128, 64), "dropout": 0.8, "l2": 0.0},
    "(128,64) keep 0.8 L2 3": {"layers": (128, 64), "dropout": 0.8, "l2": 3.0},
    "(128,64) keep 0.8 L2 10": {"layers": (128, 64), "dropout": 0.8, "l2": 10.0},
    "(128,64) keep 0.8 L2 30": {"layers": (128, 64), "dropout": 0.8, "l2": 30.0},
}


def write_data(root: Path) -> dict[str, Path]:
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    paths = {
        "digits": root / "digits",
        "breast_cancer": root / "bc.csv",
        "diabetes": root / "d.csv",
    }
    X, y = load_breast_cancer(return_X_y=True)
    pd.DataFrame(X).assign(y=y).to_csv(paths["breast_cancer"], index=False)
    X, y = load_diabetes(return_X_y=True, scaled=False)
    pd.DataFrame(X).assign(y=y).to_csv(paths["diabetes"], index=False)
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = paths["digits"] / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    return paths


def cross_validate(data, changes: dict, k: int = 3) -> list[float]:
    X, y = data.x_train, data.y_train
    take = (lambda idx: X.rows(idx)) if data.kind == "table" else (lambda idx: X[idx])
    folds = np.array_split(np.random.default_rng(1).permutation(len(y)), k)
    scores = []
    for j in range(k):
        fit_idx = np.concatenate([folds[i] for i in range(k) if i != j])
        part = copy.copy(data)
        part.x_train, part.y_train = take(fit_idx), y[fit_idx]
        result = train_any(AnyConfig().replace(**changes), part)
        s = scores_of(data.task, y[folds[j]], result.predict(take(folds[j])), data.classes)
        scores.append(s["r2"] if data.task == "regression" else s["accuracy"])
    return scores


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    for name, path in write_data(root).items():
        data = load_data(path)
        hold_out(data, 0.2, 0)  # the test split train holds out: left out of the choice
        for label, changes in CANDIDATES.items():
            start = time.perf_counter()
            scores = cross_validate(data, changes)
            print(
                f"{name:14s} {label:18s} mean {np.mean(scores):.4f} "
                f"{[round(s, 4) for s in scores]} {time.perf_counter() - start:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
