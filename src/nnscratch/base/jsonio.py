"""The package's one JSON encoding: what model files, checkpoints and the command line write.

    text = dumps({"accuracy": np.float32(0.75), "shape": (64, 64, 3)})  # '{"accuracy": 0.75, ...'
    value = loads(raw_bytes)                   # ValueError saying why the bytes are not JSON

``dumps`` turns the values the package's plain data hold into JSON: numpy scalars become Python
numbers, numpy arrays nested lists (keep them small: large arrays belong in an archive's
arrays, not its header), tuples, sets and frozensets lists, paths strings. NaN and infinities
are refused unless ``allow_nan=True``, which writes Python's ``NaN`` / ``Infinity`` (not
standard JSON, but ``loads`` reads them back). ``is_int`` and ``is_number`` test the values
``loads`` returns (JSON's true and false are Python bools, which are ints to ``isinstance``).
"""

from __future__ import annotations

import json
import os
from typing import Any, TypeGuard

import numpy as np

__all__ = ["dumps", "is_int", "is_number", "jsonable", "loads"]


def jsonable(value: Any) -> Any:
    """``json.dumps``' ``default``: ``value`` as a value JSON can hold, or TypeError."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def dumps(obj: Any, *, allow_nan: bool = False, indent: int | None = None) -> str:
    """``obj`` as JSON text (see the module docstring). Raises ValueError naming the problem
    for a value that cannot be written: an unknown type, NaN or an infinity without
    ``allow_nan``, a circular reference or nesting too deep for the encoder."""
    try:
        return json.dumps(obj, default=jsonable, allow_nan=allow_nan, indent=indent)
    except (TypeError, ValueError) as err:  # unknown type; NaN refused; circular reference
        raise ValueError(f"cannot be written as JSON: {err}") from None
    except RecursionError:
        raise ValueError("cannot be written as JSON: it is nested too deeply") from None


def loads(data: bytes) -> Any:
    """The value of the UTF-8 JSON ``data``. Raises ValueError saying which rule the bytes
    break: not UTF-8, not JSON, or nested too deeply to parse."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"it is not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"it is not JSON ({err.msg} at character {err.pos})") from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise ValueError(f"it is not JSON the reader accepts ({err})") from None
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def is_int(value: Any) -> TypeGuard[int]:
    """True for a JSON integer (an int, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for a JSON number (an int or a float, not a bool); NaN and infinities included."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
