"""Tables in: CSV, ``.npz`` and Parquet files read into named columns, and the task a target
column asks for (``nnscratch.data.table_encoding`` encodes the feature columns).

    table = read_table("houses.csv")                  # Table: names, columns, lines
    target = table.target("price")                    # a TargetColumn (task by the rule below)
    features = table.features("price")                # the other columns, a Table

The rules every caller gets (``nnscratch train/evaluate/predict/tune --data FILE.csv``):

- **Header**: the first row is a header when one of its cells is not a number while the rest
  of its column is numbers, when it is the run ``0,1,...,n-1`` that pandas writes for a
  frame's default column names, or when all its cells are text that none of the rows below
  repeats in the same column. Without a header the columns are named ``0, 1, ...``.
- **Cells**: a feature column holds numbers (finite, at most ``MAX_ABS`` in size) or text (a
  categorical column, one-hot encoded with its categories sorted); a column that mixes both
  is refused naming the line and the value. Empty cells and ``NA``/``NaN``/``null``/``?`` are
  missing values: refused with their line and column, or filled (``impute="mean"`` or
  ``"median"`` for numbers, the most common category for text).
- **Target** (default: the last column): text is a classification; numbers must be finite and
  at most ``MAX_ABS``; whole numbers with at most ``MAX_AUTO_CLASSES`` distinct values are
  a classification, any other numbers a regression; ``infer_task`` says why, and the caller
  can override it (a regression target that is text, or a classification with fractional
  labels, is refused).

CSV is parsed by the ``csv`` module (quotes, embedded commas and newlines; a row of another
length is refused, never padded); Parquet needs pandas and pyarrow (the ``tables`` extra).
Every failure is a ``DataError`` naming the file.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.base.limits import MAX_DATA_BYTES, check_declared_size

__all__ = [
    "IMPUTE",
    "MAX_ABS",
    "MAX_AUTO_CLASSES",
    "TABLE_SUFFIXES",
    "TASKS",
    "Table",
    "TargetColumn",
    "infer_task",
    "read_table",
]

#: What ``--impute`` may name (None: missing values are refused).
IMPUTE = ("mean", "median")
#: The tasks a target can be learnt as.
TASKS = ("classification", "regression")
#: Whole-number targets with at most this many distinct values are classes by default.
MAX_AUTO_CLASSES = 20
#: The most classes a classification may have (``--task classification`` included).
MAX_CLASSES = 1000
#: The largest magnitude of a number in a table: beyond it squares overflow float64 sums.
MAX_ABS = 1e15
#: The largest table file read (bytes), and the most cells (rows x columns) of a CSV file:
#: each cell is a Python string while the file is parsed (about 60 bytes).
MAX_TABLE_BYTES = 256 * 2**20
MAX_CELLS = 5_000_000
#: The most categories of one text column (more: an identifier or free text, not a category).
MAX_CATEGORIES = 1000
#: The most memory the encoded features (float64) may take.
MAX_ENCODED_BYTES = 2 * 2**30
#: The longest .npy header of an array in a .npz table (a real one is about 100 bytes).
MAX_NPY_HEADER = 10_000
#: Cells that mean "missing" (compared after stripping spaces; case-insensitive).
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
#: File suffixes read as tables (lower case).
TABLE_SUFFIXES = (".csv", ".tsv", ".npz", ".parquet", ".pq")


# ---- the table ------------------------------------------------------------------------------


@dataclass
class Table:
    """Named columns of equal length m, as read from ``path``.

    ``columns[j]`` is float64 (m,) for a numeric column (NaN where missing) or an object
    array (m,) of str (None where missing) for a text column. ``first_line`` is the file line
    of the first data row (2 after a header); ``lines`` (m,) int, when known, the file line of
    each row (a CSV's blank lines and multi-line cells, and rows taken by ``rows``), so
    ``line(i)`` names row i's line in a message.
    """

    path: str
    names: list[str]
    columns: list[np.ndarray]
    first_line: int = 1
    lines: np.ndarray | None = None

    def line(self, i: int) -> int:
        """The file line of row ``i`` (``first_line + i`` when the lines are not recorded)."""
        return int(self.lines[i]) if self.lines is not None else self.first_line + int(i)

    @property
    def m(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __len__(self) -> int:
        return self.m

    def index_of(self, name: str | None) -> int:
        """The column named ``name`` (None: the last); DataError listing the names."""
        if name is None:
            return len(self.names) - 1
        if name in self.names:
            return self.names.index(name)
        raise DataError(
            f"{self.path} has no column {name!r}; its columns are {_listing(self.names)}"
        )

    def features(self, target: str | None = None, *, has_target: bool = True) -> Table:
        """The table without its target column (``has_target=False``: the table whole)."""
        if not has_target:
            return self
        j = self.index_of(target)
        keep = [k for k in range(len(self.names)) if k != j]
        if not keep:
            raise DataError(f"{self.path} holds only the target column; it needs features too")
        return Table(
            self.path, [self.names[k] for k in keep], [self.columns[k] for k in keep],
            self.first_line, self.lines,
        )  # fmt: skip

    def select(self, names: Sequence[str]) -> Table:
        """The columns ``names`` in that order (a model's feature columns), by name when the
        table has them all, else by position when it has as many columns; else DataError."""
        if all(n in self.names for n in names):
            cols = [self.columns[self.names.index(n)] for n in names]
        elif len(self.names) == len(names) and self.names == [str(k) for k in range(len(names))]:
            cols = list(self.columns)  # a headerless file: by position
        else:
            missing = [n for n in names if n not in self.names]
            raise DataError(
                f"{self.path} lacks the column(s) {_listing(missing)} the model takes; it has "
                f"{_listing(self.names)}"
            )
        return Table(self.path, list(names), cols, self.first_line, self.lines)

    def target(self, name: str | None = None, task: str | None = None) -> TargetColumn:
        """The target column, its task (``infer_task`` unless ``task`` is given) and labels."""
        j = self.index_of(name)
        return TargetColumn.of(self.columns[j], self.names[j], self, task)

    def rows(self, idx: np.ndarray) -> Table:
        """The rows ``idx``, each keeping its file line."""
        lines = self.lines if self.lines is not None else self.first_line + np.arange(self.m)
        return Table(
            self.path, list(self.names), [c[idx] for c in self.columns], self.first_line,
            lines[idx],
        )  # fmt: skip


def read_table(path: str | os.PathLike[str], *, header: bool | None = None) -> Table:
    """The table in ``path`` (.csv, .tsv, .npz with arrays X and y, .parquet). ``header``:
    None detects it (module docstring), True/False forces it (CSV only)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"data file {path} does not exist") from None
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise DataError(f"data file {path} is not a regular file")
    if st.st_size > MAX_TABLE_BYTES:
        raise DataError(
            f"data file {path} is {st.st_size / 2**20:.0f} MiB; tables up to "
            f"{MAX_TABLE_BYTES / 2**20:.0f} MiB are read"
        )
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise DataError(
            f"data file {path} must be .npz (arrays X and y), .csv, .tsv or .parquet (or an "
            f"image folder); got {suffix or 'no suffix'!r}"
        )
    table = reader(path, header)
    if table.m == 0:
        raise DataError(f"{path} holds no data rows")
    if len(table.names) < 2:
        raise DataError(f"{path} needs at least 2 columns (features and a target)")
    return table


# ---- CSV ------------------------------------------------------------------------------------


def _read_csv(path: Path, header: bool | None) -> Table:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows, lines = _csv_rows(path, delimiter)
    if not rows:
        raise DataError(f"{path} holds no data rows")
    width = len(rows[0])
    for k, row in enumerate(rows):
        if len(row) != width:
            raise DataError(
                f"{path}: line {lines[k]} has {len(row)} fields; line {lines[0]} has {width} "
                "(every row needs the same number of columns)"
            )
    cells = np.array(rows, dtype=object)  # (rows, width) of str
    if header is None:
        header = _looks_like_header(cells)
    if header:
        names = [str(v).strip() for v in cells[0]]
        cells, lines = cells[1:], lines[1:]
        _check_names(path, names)
    else:
        names = [str(k) for k in range(width)]
    first = int(lines[0]) if len(lines) else 2
    columns = [_parse_column(path, names[j], cells[:, j], lines) for j in range(width)]
    return Table(str(path), names, columns, first, lines)


def _csv_rows(path: Path, delimiter: str) -> tuple[list[list[str]], np.ndarray]:
    """Every non-blank line's fields as strings, by the ``csv`` module (pandas' parser fills
    a short row with empty cells, which would hide it), and (rows,) int the file line each
    row starts on."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"cannot read {path} as CSV: it is not UTF-8 text ({err.reason})") from None
    if "\x00" in text:
        raise DataError(f"cannot read {path} as CSV: it holds NUL bytes (a binary file?)")
    rows: list[list[str]] = []
    starts: list[int] = []
    cells = 0
    try:
        # newline="": lines end at \n, \r\n or a lone \r (old Mac files), as csv expects
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        start = 1
        for row in reader:
            if row:
                rows.append(row)
                starts.append(start)
                cells += len(row)
                if cells > MAX_CELLS:
                    raise DataError(
                        f"{path} holds more than {MAX_CELLS:,} cells (rows x columns); "
                        "tables up to that size are read"
                    )
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(f"cannot read {path} as CSV: {err}") from None
    return rows, np.array(starts, dtype=np.int64)


def _number(text: str) -> float | None:
    """The number a cell writes in ASCII decimal or exponent notation (as CSV writers and
    pandas write them), else None: Python's ``float`` also takes "1_000" and non-ASCII digits
    ("\u0661\u0662"), which no table writer means as numbers."""
    if not isinstance(text, str) or "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _is_missing(text) -> bool:
    return text is None or str(text).strip().lower() in MISSING


def _looks_like_header(cells: np.ndarray) -> bool:
    """The module's header rule on the (rows, width) cells of a CSV file."""
    first, rest = cells[0], cells[1:]
    numbers = [_number(v) for v in first]
    if all(x is not None for x in numbers):
        return [float(k) for k in range(len(first))] == numbers  # pandas' 0,1,...,n-1
    if len(rest) == 0:
        return True  # one row of text: names without data (then "no data rows")
    for j in range(len(first)):
        below = [v for v in rest[:, j] if not _is_missing(v)]
        if numbers[j] is None and below and all(_number(v) is not None for v in below):
            return True  # text over numbers
    text = [j for j in range(len(first)) if numbers[j] is None]
    return len(text) == len(first) and all(first[j] not in set(rest[:, j]) for j in text)


def _check_names(path: Path, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            raise DataError(f"{path}: the header's column {j + 1} has no name")
        if name in seen:
            raise DataError(
                f"{path}: the header names two columns {name!r} (columns {seen[name] + 1} and "
                f"{j + 1})"
            )
        seen[name] = j


def _line_at(first_line: int | np.ndarray, i) -> int:
    """Row ``i``'s file line: ``first_line + i``, or ``first_line[i]`` given each row's line."""
    if isinstance(first_line, np.ndarray):
        return int(first_line[i])
    return first_line + int(i)


def _parse_column(path, name: str, cells: np.ndarray, first_line: int | np.ndarray) -> np.ndarray:
    """A column of text cells as float64 (NaN: missing) or, when no cell is a number, as an
    object array of stripped str (None: missing). Mixed numbers and text: DataError.
    ``first_line``: the first row's file line, or (m,) every row's."""
    cells = np.asarray(cells, dtype=object)
    missing = np.array([_is_missing(v) for v in cells], dtype=bool)
    values = np.full(cells.shape, np.nan)
    text_at = []
    for i in np.flatnonzero(~missing):
        x = _number(cells[i])
        if x is None:
            text_at.append(i)
        else:
            values[i] = x
    if not text_at:
        _check_finite(path, name, values, first_line)
        return values
    if len(text_at) == int((~missing).sum()):
        out = np.empty(cells.shape, dtype=object)
        out[~missing] = [str(v).strip() for v in cells[~missing]]
        return out
    numeric = np.flatnonzero(~missing & ~np.isin(np.arange(len(cells)), text_at))
    i = text_at[0] if text_at[0] > numeric[0] else numeric[0]
    raise DataError(
        f"{path}: column {name!r} must be numbers or text (a categorical column), not both: "
        f"line {_line_at(first_line, i)} holds {cells[i]!r} and line "
        f"{_line_at(first_line, numeric[0])} the "
        f"number {cells[numeric[0]]!r}"
    )


def _check_finite(path, name: str, values: np.ndarray, first_line: int | np.ndarray) -> None:
    bad = np.flatnonzero(~np.isnan(values) & ~(np.abs(values) <= MAX_ABS))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: column {name!r}, line {_line_at(first_line, i)}: {float(values[i])!r} is "
            f"not a finite number of at most {MAX_ABS:g} in size"
        )


# ---- .npz and Parquet -----------------------------------------------------------------------


def _read_npz(path: Path, header: bool | None) -> Table:
    """Arrays X (m, ...) (flattened) and y (m,) (or x / Y); columns x0, x1, ..., y."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_key = next((k for k in ("X", "x") if k in keys), None)
            y_key = next((k for k in ("y", "Y") if k in keys), None)
            if x_key is None or y_key is None:
                raise DataError(f"{path} must hold arrays 'X' and 'y'; it holds {sorted(keys)}")
            X = _npz_array(path, archive, members, x_key)
            y = _npz_array(path, archive, members, y_key)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"cannot read {path} as .npz: {err}") from None
    if X.ndim < 1 or X.shape[0] == 0:
        raise DataError(f"{path}: X must be (m, n_features) with m >= 1; got shape {X.shape}")
    X = X.reshape(X.shape[0], -1)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(
            f"{path}: y must be (m,) with one label per row of X ({X.shape[0]}); got shape "
            f"{y.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X must hold numbers; got dtype {X.dtype}")
    columns: list[np.ndarray] = []
    for j in range(X.shape[1]):
        col = X[:, j].astype(np.float64)
        _check_finite(path, f"x{j}", col, 0)
        columns.append(col)
    y_col = _typed_column(path, "y", y)
    names = [f"x{j}" for j in range(X.shape[1])] + ["y"]
    return Table(str(path), names, [*columns, y_col], 0)


def _npz_array(path, archive, members: dict, key: str) -> np.ndarray:
    """``archive[key]`` once its declared size fits what the member holds (no allocation
    from a forged header)."""
    info = members.get(key + ".npy") or members.get(key)  # np.load takes both names
    if info is None:
        raise DataError(f"cannot read {path}: it has no member for the array {key!r}")
    with zipfile.ZipFile(path) as zf, zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        length = int.from_bytes(member.read(2 if version == (1, 0) else 4), "little")
        if length > MAX_NPY_HEADER:  # checked before numpy reads that many bytes
            raise DataError(
                f"cannot read {path}: the header of array {key!r} declares {length:,} bytes; "
                f"a .npy header of at most {MAX_NPY_HEADER:,} bytes is read"
            )
    with zipfile.ZipFile(path) as zf, zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        try:
            shape, _, dtype = read_header(member, max_header_size=MAX_NPY_HEADER)
        except ValueError as err:
            raise DataError(
                f"cannot read {path}: the header of array {key!r} is not a .npy header of "
                f"at most {MAX_NPY_HEADER:,} bytes ({str(err).splitlines()[0]})"
            ) from None
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise DataError(
            f"cannot read {path}: array {key!r} declares shape {shape} ({declared} bytes) "
            f"but its member holds {info.file_size} bytes"
        )
    # every column becomes float64: the declared array costs 8 bytes a value at least
    check_declared_size(
        f"{path}: array {key!r} of shape {shape}", math.prod(shape),
        max(dtype.itemsize, 8), MAX_DATA_BYTES, error=DataError,
    )  # fmt: skip
    return np.asarray(archive[key])


def _typed_column(path, name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        col = values.astype(np.float64)
        _check_finite(path, name, col, 0)
        return col
    if values.dtype.kind == "S":
        try:
            values = np.char.decode(values, "utf-8")
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path}: column {name!r} holds bytes that are not UTF-8 text ({err.reason})"
            ) from None
    if values.dtype.kind == "U":
        text = values.astype(str)
        return _parse_column(path, name, text.astype(object), 0)
    raise DataError(f"{path}: column {name!r} has dtype {values.dtype}; expected numbers or text")


def _read_parquet(path: Path, header: bool | None) -> Table:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise DataError(
            f"reading Parquet files needs {err.name or 'pandas and pyarrow'} (the tables extra): "
            f"pip install 'nnscratch[tables]'"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises its own ArrowInvalid and OSError kinds
        raise DataError(f"cannot read {path} as Parquet: {err}") from None
    names = [str(n) for n in frame.columns]
    _check_names(path, names)
    columns = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "biuf":
            col = series.to_numpy(dtype=np.float64, na_value=np.nan)
            _check_finite(path, str(name), col, 1)
            columns.append(col)
        else:
            cells = np.array([None if v is None or v != v else str(v) for v in series], object)
            columns.append(_parse_column(path, str(name), cells, 1))
    return Table(str(path), names, columns, 1)


_READERS = {
    ".csv": _read_csv,
    ".tsv": _read_csv,
    ".npz": _read_npz,
    ".parquet": _read_parquet,
    ".pq": _read_parquet,
}


# ---- the target and the task ----------------------------------------------------------------


def infer_task(y) -> str:
    """The task a target asks for (the rule of the module docstring), without the reason."""
    return _task_and_reason(np.asarray(y))[0]


def _task_and_reason(y: np.ndarray) -> tuple[str, str]:
    if y.dtype.kind not in "biuf":
        return "classification", "the target is text"
    values = y.astype(np.float64)
    if not np.isfinite(values).all():
        return "regression", "the target holds non-finite numbers"
    if np.all(values == np.round(values)):
        k = np.unique(values).size
        if k <= MAX_AUTO_CLASSES:
            return "classification", f"the target holds {k} distinct whole numbers"
        return "regression", (
            f"the target holds {k} distinct whole numbers (more than {MAX_AUTO_CLASSES}, so "
            "treated as a quantity; pass --task classification for classes)"
        )
    return "regression", "the target holds fractional numbers"


@dataclass
class TargetColumn:
    """A target column read for a task.

    ``labels`` are class indices (m,) int64 into ``classes`` for a classification, the values
    (m,) float64 for a regression. ``reason`` says why the task was inferred (or "given").
    """

    name: str
    task: str
    labels: np.ndarray
    classes: tuple[str, ...] | None
    reason: str

    @classmethod
    def of(
        cls, column: np.ndarray, name: str, table: Table, task: str | None, *, fitting: bool = True
    ) -> TargetColumn:
        """The target ``column`` of ``table`` for ``task`` (None: inferred). ``fitting``
        (training data) also requires 2 to ``MAX_CLASSES`` classes."""
        missing = (
            np.isnan(column) if column.dtype.kind == "f" else np.array([v is None for v in column])
        )
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{table.path}: the target column {name!r} is missing at line "
                f"{table.line(i)}; every row needs a target"
            )
        inferred, reason = _task_and_reason(column)
        if task is None:
            task = inferred
        else:
            if task not in TASKS:
                raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
            reason = "given"
        if task == "regression":
            if column.dtype.kind != "f":
                raise DataError(
                    f"{table.path}: a regression needs a numeric target; column {name!r} holds "
                    f"text such as {column[0]!r}"
                )
            return cls(name, task, column.astype(np.float64), None, reason)
        if column.dtype.kind == "f":
            frac = np.flatnonzero(column != np.round(column))
            if frac.size:
                i = int(frac[0])
                raise DataError(
                    f"{table.path}: a classification needs class labels; the target {name!r} "
                    f"holds {column[i]!r} at line {table.line(i)} (use --task regression)"
                )
            names, labels = np.unique(column, return_inverse=True)
            classes = tuple(str(int(v)) for v in names)
        else:
            names, labels = np.unique(column.astype(str), return_inverse=True)
            classes = tuple(str(v) for v in names)
        if fitting and len(classes) < 2:
            raise DataError(
                f"{table.path}: the target {name!r} holds a single class ({classes[0]!r}); a "
                "classification needs at least 2"
            )
        if len(classes) > MAX_CLASSES:
            raise DataError(
                f"{table.path}: the target {name!r} holds {len(classes)} classes; at most "
                f"{MAX_CLASSES} are allowed (a quantity? use --task regression)"
            )
        return cls(name, task, labels.astype(np.int64), classes, reason)

    def encode(self, column: np.ndarray, table: Table) -> np.ndarray:
        """Another table's target column (test data) in this target's terms."""
        other = TargetColumn.of(column, self.name, table, self.task, fitting=False)
        if self.task == "regression":
            return other.labels
        assert self.classes is not None and other.classes is not None
        unknown = sorted(set(other.classes) - set(self.classes))
        if unknown:
            raise DataError(
                f"{table.path}: the target {self.name!r} holds class(es) {_listing(unknown)} "
                f"that the training data lack ({_listing(self.classes)})"
            )
        lookup = np.array([self.classes.index(c) for c in other.classes], dtype=np.int64)
        return lookup[other.labels]


def _listing(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
