"""The fitted encoding of a table's feature columns, as a model file stores it.

    pre = TablePreprocessor(impute="median").fit(table.features("price"))
    X = pre.transform(table.features("price"))   # (m, n_features) float64, standardised
    pre.feature_names                             # ["rooms", "colour=blue", "colour=red", ...]

Numbers stay as they are (missing ones filled by ``impute``, else refused naming the line and
column), text columns are one-hot encoded by the categories ``fit`` saw (sorted; at most
``MAX_CATEGORIES``; an unseen category is refused naming it), then each feature is
standardised with its training mean and standard deviation. The state is plain arrays and
JSON-able names (``get_state`` / ``from_state``), registered in
``nnscratch.data.preprocessing.PREPROCESSORS`` as "TablePreprocessor".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.data.preprocessing import PREPROCESSORS, _scalar
from nnscratch.data.tables import (
    IMPUTE,
    MAX_CATEGORIES,
    MAX_ENCODED_BYTES,
    Table,
    _is_missing,
    _listing,
    _parse_column,
)

__all__ = ["TablePreprocessor"]

_STATE_KIND = "TablePreprocessor"
_STATE_VERSION = 1


class TablePreprocessor:
    """Feature columns -> (m, n_features) float64: numbers as they are (missing ones filled by
    ``impute``), text one-hot encoded by the categories seen in ``fit``, then (``standardize``)
    each feature minus its training mean over its training standard deviation.

    ``fit`` / ``transform`` take a ``Table`` of the feature columns, or a 2-D array (m, n) of
    cells (numbers, or strings as a CSV holds them) in the order of ``columns``.
    """

    #: arrays in which NaN is a value of its own (a column with no fill value), not damage
    NAN_MARKS = ("fill",)

    def __init__(self, *, impute: str | None = None, standardize: bool = True) -> None:
        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"impute must be one of {', '.join(IMPUTE)} or None; got {impute!r}")
        self.impute = impute
        self.standardize = bool(standardize)
        self.columns: list[str] = []
        self.categories: list[list[str] | None] = []
        self.fill: np.ndarray | None = None  # (n_columns,): numbers' fill values (NaN: none)
        self.fill_category: list[str | None] = []
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.input_shape_: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        return f"TablePreprocessor(impute={self.impute!r}, standardize={self.standardize!r})"

    @property
    def n_features_(self) -> int:
        return sum(1 if c is None else len(c) for c in self.categories)

    @property
    def feature_names(self) -> list[str]:
        names = []
        for name, cats in zip(self.columns, self.categories, strict=True):
            names.extend([name] if cats is None else [f"{name}={c}" for c in cats])
        return names

    def fit(self, table: Table) -> TablePreprocessor:
        self.columns = list(table.names)
        self.categories, self.fill_category = [], []
        fill = np.full(len(table.names), np.nan)
        for j, (name, col) in enumerate(zip(table.names, table.columns, strict=True)):
            if col.dtype.kind == "f":
                self.categories.append(None)
                self.fill_category.append(None)
                present = col[~np.isnan(col)]
                if self.impute is not None and present.size:
                    fill[j] = float(
                        np.mean(present) if self.impute == "mean" else np.median(present)
                    )
            else:
                present = [v for v in col if v is not None]
                cats = sorted(set(present))
                if len(cats) > MAX_CATEGORIES:
                    raise DataError(
                        f"{table.path}: the text column {name!r} holds {len(cats)} distinct "
                        f"values; a categorical column may have at most {MAX_CATEGORIES} (an "
                        "identifier or free text? leave the column out)"
                    )
                self.categories.append(cats)
                common = max(cats, key=present.count) if cats and self.impute else None
                self.fill_category.append(common)
        self.fill = fill
        need = table.m * self.n_features_ * 8
        if need > MAX_ENCODED_BYTES:
            raise DataError(
                f"{table.path}: {table.m} rows of {self.n_features_} encoded features take "
                f"{need / 2**20:.0f} MiB; at most {MAX_ENCODED_BYTES / 2**20:.0f} MiB"
            )
        self.input_shape_ = (len(self.columns),)
        self.mean_ = self.std_ = None
        if self.standardize:
            Z = self._encode(table)
            self.mean_ = Z.mean(axis=0)
            self.std_ = np.maximum(Z.std(axis=0), 1e-12)
        return self

    def transform(self, table) -> np.ndarray:
        """(m, n_features_) float64; DataError naming the line and column of a missing value
        (without ``impute``) or of a category ``fit`` never saw."""
        Z = self._encode(table)
        if self.standardize:
            assert self.mean_ is not None and self.std_ is not None
            Z -= self.mean_
            Z /= self.std_
        return Z

    def fit_transform(self, table: Table) -> np.ndarray:
        return self.fit(table).transform(table)

    def _as_table(self, table) -> Table:
        if isinstance(table, Table):
            if table.names != self.columns:
                table = table.select(self.columns)
            return table
        cells = np.asarray(table, dtype=object)
        if cells.ndim != 2 or cells.shape[1] != len(self.columns):
            raise ValueError(
                f"transform expects (m, {len(self.columns)}) cells (columns "
                f"{_listing(self.columns)}); got shape {cells.shape}"
            )
        columns = []
        for j, name in enumerate(self.columns):
            col = cells[:, j]
            if self.categories[j] is None:
                parsed = _parse_column("input", name, np.array([_text(v) for v in col], object), 1)
                if parsed.dtype.kind != "f":
                    parsed = _parse_column("input", name, col, 1)  # says which cell is text
            else:
                parsed = np.array([None if _is_missing(v) else str(v).strip() for v in col], object)
            columns.append(parsed)
        return Table("input", list(self.columns), columns, 1)

    def _encode(self, table) -> np.ndarray:
        if self.fill is None:
            raise RuntimeError("this TablePreprocessor is not fitted yet; call fit(table) first")
        table = self._as_table(table)
        m = table.m
        Z = np.empty((m, self.n_features_), dtype=np.float64)
        k = 0
        for j, (name, cats) in enumerate(zip(self.columns, self.categories, strict=True)):
            col = table.columns[j]
            if cats is None:
                if col.dtype.kind != "f":
                    raise DataError(
                        f"{table.path}: column {name!r} holds text such as {_first(col)!r}; the "
                        "model takes numbers there"
                    )
                values = col.copy()
                gaps = np.isnan(values)
                if gaps.any():
                    if math.isnan(self.fill[j]):
                        _refuse_missing(table, name, gaps)
                    values[gaps] = self.fill[j]
                Z[:, k] = values
                k += 1
                continue
            if col.dtype.kind == "f":  # numbers in a categorical column: read as their text
                col = np.array([None if math.isnan(v) else _text(v) for v in col], object)
            gaps = np.array([v is None for v in col], dtype=bool)
            if gaps.any():
                if self.fill_category[j] is None:
                    _refuse_missing(table, name, gaps)
                col = np.where(gaps, self.fill_category[j], col)
            index = {c: i for i, c in enumerate(cats)}
            codes = np.array([index.get(v, -1) for v in col], dtype=np.int64)
            if (codes < 0).any():
                i = int(np.flatnonzero(codes < 0)[0])
                raise DataError(
                    f"{table.path}: column {name!r}, line {table.line(i)}: category "
                    f"{col[i]!r} was not in the training data ({_listing(cats)})"
                )
            block = np.zeros((m, len(cats)))
            block[np.arange(m), codes] = 1.0
            Z[:, k : k + len(cats)] = block
            k += len(cats)
        return Z

    # ---- state (the model file) --------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The fitted encoding as a flat dict: JSON-able names and categories, and arrays
        "fill" (n_columns,), "mean", "std" (n_features,) when standardising."""
        if self.fill is None:
            raise RuntimeError("this TablePreprocessor is not fitted yet")
        state: dict[str, Any] = {
            "kind": _STATE_KIND,
            "version": _STATE_VERSION,
            "impute": self.impute,
            "standardize": self.standardize,
            "columns": list(self.columns),
            "categories": [None if c is None else list(c) for c in self.categories],
            "fill_category": list(self.fill_category),
            "fill": np.array(self.fill, dtype=np.float64),
            "input_shape": np.asarray(self.input_shape_, dtype=np.int64),
        }
        if self.standardize:
            state["mean"] = np.array(self.mean_, dtype=np.float64)
            state["std"] = np.array(self.std_, dtype=np.float64)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TablePreprocessor:
        """Rebuild from ``get_state()``; ValueError naming what is inconsistent."""
        if _scalar(state.get("kind")) != _STATE_KIND:
            raise ValueError(f"preprocessor state is not of kind {_STATE_KIND!r}")
        version = _scalar(state.get("version"))
        if not isinstance(version, int) or version > _STATE_VERSION:
            raise ValueError(f"table preprocessor state version {version!r} is not readable")
        impute = _scalar(state.get("impute"))
        step = cls(impute=impute, standardize=bool(_scalar(state.get("standardize"))))
        columns, categories = state.get("columns"), state.get("categories")
        fill_category = state.get("fill_category")
        if not (
            isinstance(columns, list)
            and all(isinstance(c, str) for c in columns)
            and isinstance(categories, list)
            and isinstance(fill_category, list)
            and len(categories) == len(columns) == len(fill_category)
            and all(
                c is None or (isinstance(c, list) and all(isinstance(v, str) for v in c))
                for c in categories
            )
            and all(v is None or isinstance(v, str) for v in fill_category)
        ):
            raise ValueError("table preprocessor state: columns and categories do not match")
        step.columns, step.categories = (
            list(columns),
            [None if c is None else list(c) for c in categories],
        )
        step.fill_category = list(fill_category)
        fill = np.asarray(state.get("fill"))
        if fill.shape != (len(columns),) or fill.dtype != np.float64:
            raise ValueError(f"table preprocessor state 'fill' is {fill.dtype} {fill.shape}")
        step.fill = np.array(fill)
        step.input_shape_ = (len(columns),)
        if step.standardize:
            n = step.n_features_
            for key in ("mean", "std"):
                value = np.asarray(state.get(key))
                if value.shape != (n,) or value.dtype != np.float64 or not np.isfinite(value).all():
                    raise ValueError(
                        f"table preprocessor state {key!r} is not ({n},) finite float64"
                    )
            step.mean_, step.std_ = np.array(state["mean"]), np.array(state["std"])
            if not (step.std_ > 0).all():
                raise ValueError("table preprocessor state 'std' holds values <= 0")
        return step


PREPROCESSORS[_STATE_KIND] = TablePreprocessor


def _refuse_missing(table: Table, name: str, gaps: np.ndarray) -> None:
    i = int(np.flatnonzero(gaps)[0])
    raise DataError(
        f"{table.path}: column {name!r} has a missing value at line {table.line(i)} "
        f"({int(gaps.sum())} in all); fill them in, or pass --impute mean|median"
    )


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _first(col) -> Any:
    return next((v for v in col if v is not None), None)
