"""The one vocabulary of argument rules, and checks of input arrays.

Every entry point checks its arguments with these rules: the models' constructors, ``fit``, the
recipe (``TrainConfig``), the scikit-learn estimators, the search space of ``nnscratch tune``
and the command line, whose argparse types are made from them
(``nnscratch.app.commands._common.flag_type``), so that one value is refused everywhere with
the same message. Each rule takes the value and the name it is known by, returns the value
normalised (an int, a float, a tuple) and raises ValueError naming the name, what is allowed
and what it got:

    check_seed(-1)   ValueError: seed must be an integer from 0 to 4294967295 or None; got -1

``allow`` lists the values a parameter takes besides the rule's own (None, "auto", ...): they
are returned as they are, and the message names them.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Literal, overload

import numpy as np

DTYPES = ("float32", "float64")

#: The largest seed: numpy's SeedSequence takes any integer >= 0, scikit-learn's random_state
#: any below 2**32; one rule for both, everywhere a seed is taken.
MAX_SEED = 2**32 - 1
_SEEDS = f"an integer from 0 to {MAX_SEED}"


def _refuse(name: str, allowed: str, value, allow: Iterable = ()) -> ValueError:
    """The rules' one message: "<name> must be <allowed>[ or <allow>...]; got <value>"."""
    also = "".join(f" or {a!r}" if isinstance(a, str) else f" or {a}" for a in allow)
    return ValueError(f"{name} must be {allowed}{also}; got {value!r}")


def _is_allowed(value, allow: Iterable) -> bool:
    """Whether ``value`` is one of the extra values ``allow`` (None by identity, strings by
    equality; a number is never taken for a string or the reverse)."""
    return any(
        value is a or (isinstance(a, str) and isinstance(value, str) and value == a) for a in allow
    )


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_finite_number(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and bool(np.isfinite(float(value)))
    )


def from_text(text: str):
    """A value typed as text (a flag, a search-space entry) as the rules take it: an int when
    the text is an integer, a float when it is a number, else the text itself, which every
    numeric rule then refuses, naming it."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


# ---- the rules ---------------------------------------------------------------------------
@overload
def check_seed(seed, name: str = ..., *, allow_none: Literal[False]) -> int: ...
@overload
def check_seed(seed, name: str = ..., *, allow_none: bool = ...) -> int | None: ...
def check_seed(seed, name: str = "seed", *, allow_none: bool = True) -> int | None:
    """The one rule for a seed, used by every entry point (networks, fit, ensembles, the
    recipe, estimators, the search space, the command line): an integer in 0..2**32-1, or
    None (fresh randomness) where ``allow_none``."""
    if seed is None and allow_none:
        return None
    if not _is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise _refuse(name, _SEEDS, seed, (None,) if allow_none else ())
    return int(seed)


def check_random_state(value, name: str = "random_state"):
    """scikit-learn's ``random_state``: a seed (``check_seed``'s range), a
    ``numpy.random.RandomState`` (used as it is) or None."""
    if value is None or isinstance(value, np.random.RandomState):
        return value
    if not _is_integer(value) or not 0 <= value <= MAX_SEED:
        raise _refuse(name, f"{_SEEDS}, a numpy.random.RandomState", value, (None,))
    return int(value)


def check_flag(name: str, value) -> bool:
    """A True/False option (numpy booleans too; not 0/1 or strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_int_at_least(name: str, value, minimum: int, *, allow: Iterable = ()):
    """An integer >= ``minimum`` (e.g. iterations >= 1, folds >= 2); not a bool or a float."""
    if _is_allowed(value, allow):
        return value
    if not _is_integer(value) or value < minimum:
        raise _refuse(name, f"an integer >= {minimum}", value, allow)
    return int(value)


def check_positive(
    name: str, value, *, integer: bool = False, allow_zero: bool = False, allow: Iterable = ()
):
    """A finite number > 0 (>= 0 with ``allow_zero``), e.g. a learning rate or an L2 strength;
    with ``integer`` an integer >= 1 (>= 0), as ``check_int_at_least``."""
    if integer:
        return check_int_at_least(name, value, 0 if allow_zero else 1, allow=allow)
    if _is_allowed(value, allow):
        return value
    if not _is_finite_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise _refuse(name, f"a finite number {'>= 0' if allow_zero else '> 0'}", value, allow)
    return float(value)


def check_probability(name: str, value, *, allow: Iterable = ()):
    """A probability in (0, 1], e.g. a keep probability (1 keeps every unit)."""
    if _is_allowed(value, allow):
        return value
    if not _is_finite_number(value) or not 0 < value <= 1:
        raise _refuse(name, "a number in (0, 1]", value, allow)
    return float(value)


def check_fraction(name: str, value, *, allow: Iterable = ()):
    """A fraction strictly between 0 and 1, e.g. the share of samples held out."""
    if _is_allowed(value, allow):
        return value
    if not _is_finite_number(value) or not 0 < value < 1:
        raise _refuse(name, "a number in (0, 1)", value, allow)
    return float(value)


def check_decay(name: str, value) -> float:
    """A decay rate in [0, 1), e.g. an optimizer's beta (0: no memory of the past)."""
    if not _is_finite_number(value) or not 0 <= value < 1:
        raise _refuse(name, "a number in [0, 1)", value, ())
    return float(value)


def check_choice(name: str, value, allowed: Iterable):
    """One of the names ``allowed`` (a registry's keys, a tuple; None may be one of them)."""
    allowed = tuple(allowed)
    if not any(value is a or (isinstance(value, str) and value == a) for a in allowed):
        names = ", ".join(str(a) for a in allowed)
        raise ValueError(f"unknown {name} {value!r}; allowed: {names}")
    return value


def check_layer_widths(name: str, widths) -> tuple[int, ...]:
    """Layer widths, e.g. the hidden layers (20, 7, 5): a sequence of integers >= 1; () for
    none."""
    allowed = "a sequence of integers >= 1"
    if isinstance(widths, (str, bytes)):
        raise _refuse(name, allowed, widths)
    try:
        items = tuple(widths)
    except TypeError:
        raise _refuse(name, allowed, widths) from None
    for n in items:
        if not _is_integer(n) or n < 1:
            raise ValueError(f"{name} must be {allowed}; got {n!r} in {widths!r}")
    return tuple(int(n) for n in items)


def check_layer_dims(layer_dims) -> list[int]:
    """A network's layer sizes, inputs to outputs: at least 2 widths (``check_layer_widths``)."""
    if isinstance(layer_dims, (str, bytes)) or not isinstance(layer_dims, Iterable):
        raise ValueError(
            f"layer_dims must be a list of at least 2 positive integers; got {layer_dims!r}"
        )
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(
            f"layer_dims needs at least 2 sizes (inputs and outputs); got {layer_dims!r}"
        )
    return list(check_layer_widths("layer_dims", dims))


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}") from err
    if dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return dt


# ---- input arrays ------------------------------------------------------------------------
def check_X(X, input_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """X (m, *input_shape) -> a C-contiguous array of the network's dtype, checked finite."""
    X = np.asarray(X)
    if X.dtype == object or not (
        np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.bool_)
    ):
        raise ValueError(f"X must hold numbers; got dtype {X.dtype}")
    if X.ndim != 1 + len(input_shape) or X.shape[1:] != tuple(input_shape):
        expected = "(m, " + ", ".join(str(n) for n in input_shape) + ")"
        hint = ""
        if X.ndim == 2 and len(input_shape) == 1 and X.shape[0] == input_shape[0]:
            hint = " (features-first, like the article's (n_x, m)? transposed? use X.T)"
        raise ValueError(
            f"X must have shape {expected} for this network; got shape {X.shape}{hint}"
        )
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
        hint = ""
        if np.ndim(y) == 2 and np.shape(y)[0] == 1 and np.shape(y)[1] == X.shape[0]:
            hint = " (a row, like the article's (1, m) Y? transposed? use y.T or y.ravel())"
        raise ValueError(
            f"y must have one entry per sample of X ({X.shape[0]}); got y of shape "
            f"{np.shape(y)}{hint}"
        )
