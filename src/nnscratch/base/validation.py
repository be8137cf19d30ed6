"""Checks of user arguments. Each raises ValueError naming what it got and what is allowed."""

from __future__ import annotations

import numbers
from typing import cast

import numpy as np

DTYPES = ("float32", "float64")


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}") from err
    if dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return dt


#: The largest seed: numpy's SeedSequence takes any integer >= 0, scikit-learn's random_state
#: any below 2**32; one rule for both, everywhere a seed is taken.
MAX_SEED = 2**32 - 1


def check_seed(seed, name: str = "seed", *, allow_none: bool = True) -> int | None:
    """The one rule for a seed, used by every entry point (networks, fit, ensembles, the
    recipe, estimators, the search space, the command line): an integer in 0..2**32-1, or
    None (fresh randomness) where ``allow_none``."""
    if seed is None and allow_none:
        return None
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not (0 <= int(seed) <= MAX_SEED)
    ):
        allowed = f"an integer from 0 to {MAX_SEED}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}; got {seed!r}")
    return int(seed)


def check_flag(name: str, value) -> bool:
    """A True/False option (numpy booleans too; not 0/1 or strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_layer_dims(layer_dims) -> list[int]:
    try:
        dims = list(layer_dims)
    except TypeError as err:
        raise ValueError(
            f"layer_dims must be a list of at least 2 positive integers; got {layer_dims!r}"
        ) from err
    if len(dims) < 2:
        raise ValueError(
            f"layer_dims needs at least 2 sizes (inputs and outputs); got {layer_dims!r}"
        )
    for n in dims:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"layer sizes must be integers >= 1; got {n!r} in {dims!r}")
    return [int(n) for n in dims]


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False):
    kind = "an integer" if integer else "a finite number"
    bound = ">= 0" if allow_zero else (">= 1" if integer else "> 0")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind} {bound}; got {value!r}")
    if integer and not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {kind} {bound}; got {value!r}")
    value = cast(float, value)  # a numbers.Real, whose stubs lack arithmetic
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {kind} {bound}; got {value!r}")
    return int(value) if integer else float(value)


def check_X(X, input_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """X (m, *input_shape) -> a C-contiguous array of the network's dtype, checked finite."""
    X = np.asarray(X)
    if X.dtype == object or not (
        np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.bool_)
    ):
        raise ValueError(f"X must hold numbers; got dtype {X.dtype}")
    if X.ndim != 1 + len(input_shape) or X.shape[1:] != tuple(input_shape):
        expected = "(m, " + ", ".join(str(n) for n in input_shape) + ")"
        raise ValueError(f"X must have shape {expected} for this network; got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X holds no samples (shape[0] == 0)")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not all_finite(X):
        raise ValueError("X contains NaN or infinity; all inputs must be finite")
    return X


#: rows of X checked at a time by ``all_finite``: its boolean temporary stays near 1 MB
FINITE_CHECK_BYTES = 1 << 20


def all_finite(X: np.ndarray) -> bool:
    """Whether every entry of X (m, ...) is finite, without an (m, ...) boolean temporary.

    The sum is finite for almost every finite X (it is one pass, no copy); only when it is not
    (a NaN or infinity, or an overflow of large finite values) are the rows checked in blocks.
    """
    if X.dtype.kind not in "fc":
        return True  # integers and booleans are always finite
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum()):
            return True
    rows = max(1, FINITE_CHECK_BYTES // max(1, X[:1].size))
    return all(np.isfinite(X[i : i + rows]).all() for i in range(0, X.shape[0], rows))


def check_same_length(X: np.ndarray, y) -> None:
    n = np.shape(y)[0] if np.ndim(y) else None
    if n != X.shape[0]:
        raise ValueError(
            f"y must have one entry per sample of X ({X.shape[0]}); got y of shape {np.shape(y)}"
        )
