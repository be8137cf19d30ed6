"""X and y arrays from a table file (``nnscratch.sklearn.tune``'s ``load_xy``), read by
``nnscratch.data.tables`` (its header, cell and target rules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.data.tables import infer_task, read_table

__all__ = ["infer_task", "load_xy"]


def load_xy(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """X (m, n) float64 and y (m,) from a table file whose feature columns are all numbers
    and complete, the target in the last column: y is int64 for whole numbers, float64 for
    other numbers, str for text. Raises DataError naming what is wrong."""
    table = read_table(path)
    features = table.features()
    for name, col in zip(features.names, features.columns, strict=True):
        if col.dtype.kind != "f":
            raise DataError(
                f"{path}: feature column {name!r} must be numbers; it holds text such as "
                f"{next(v for v in col if v is not None)!r}"
            )
        if np.isnan(col).any():
            line = table.line(int(np.flatnonzero(np.isnan(col))[0]))
            raise DataError(f"{path}: column {name!r} has a missing value at line {line}")
    X = np.column_stack(features.columns)
    y = table.columns[-1]
    if y.dtype.kind != "f":
        if any(v is None for v in y):
            raise DataError(f"{path}: the target column has missing values")
        return X, y.astype(str)
    if np.isnan(y).any():
        raise DataError(f"{path}: the target column has missing values")
    return X, (y.astype(np.int64) if np.all(y == np.round(y)) else y)
