"""Data files other than the cat data set: X and y from .npz or .csv (``nnscratch tune --data``)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnscratch.base.errors import DataError

__all__ = ["infer_task", "load_xy"]


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
