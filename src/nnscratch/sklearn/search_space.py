"""Search spaces for ``nnscratch tune``: the ``NAME=SPEC`` grammar, one string per hyperparameter.

    learning_rate_init=0.001:0.01:0.1    candidate values, separated by ":"
    hidden_layer_sizes=20,7,5:20,7:7     a value that is itself a list uses ","
    depth=1:2:3  width=8:32              shorthand: hidden_layer_sizes = (width,) * depth
    learning_rate_init=loguniform(1e-4,1e-1)  a distribution (random search only); also
    alpha=uniform(0,0.01)  max_iter=randint(50,400)   (randint's bounds are inclusive)
    solver=adam:sgd:lbfgs  learning_rate=constant:adaptive   scikit-learn's names
    dropout=none:0.8                     "none" is None
    random_state=0:1:2                   the networks' seeds (the folds keep the search's)

The names are the estimators' parameters (scikit-learn's MLP names, then nnscratch's extras).

``parse_space`` turns such strings into a scikit-learn parameter grid (or distributions for a
random search), ``parse_settings`` into fixed estimator parameters, and ``format_value`` writes a
value back in the same syntax. Each value (and each bound of a distribution) is checked by its
parameter's rule in ``nnscratch.base.validation``, the rule the estimators, the recipe and the
command line apply: every error is a ValueError that names the parameter and the offending value.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from nnscratch.base.validation import (
    DTYPES,
    check_choice,
    check_decay,
    check_flag,
    check_fraction,
    check_layer_widths,
    check_positive,
    check_probability,
    check_seed,
    from_text,
)
from nnscratch.nn.initializers import INITIALIZERS
from nnscratch.sklearn.names import (
    HIDDEN_ACTIVATIONS,
    LEARNING_RATES,
    REGRESSION_LOSSES,
    SOLVER_NAMES,
)
from nnscratch.train.schedules import SCHEDULES

__all__ = ["TUNABLE", "format_value", "parse_settings", "parse_space"]


# ---- reading one value's text (the rules of nnscratch.base.validation then check it) -------
def _flag_text(text: str):
    words = {"true": True, "yes": True, "1": True, "on": True}
    words.update({"false": False, "no": False, "0": False, "off": False})
    return words.get(text.lower(), text)


def _sizes_text(text: str):
    if text.lower() in ("", "none", "()"):
        return ()  # no hidden layer: logistic / softmax regression
    return tuple(from_text(part.strip()) for part in text.split(","))


def _or_none(read: Callable[[str], Any]) -> Callable[[str], Any]:
    def read_or_none(text: str):
        return None if text.lower() == "none" else read(text)

    return read_or_none


def _or_auto(read: Callable[[str], Any]) -> Callable[[str], Any]:
    def read_or_auto(text: str):
        return "auto" if text.lower() == "auto" else read(text)

    return read_or_auto


@dataclass(frozen=True)
class _Param:
    """A tunable hyperparameter: ``check(name, value)`` is its rule (from
    nnscratch.base.validation), ``read`` turns one value's text into what the rule checks,
    ``numeric`` says whether it takes a distribution (uniform, loguniform, randint)."""

    check: Callable[[str, Any], Any]
    read: Callable[[str], Any] = from_text
    numeric: bool = False


def _number(check: Callable[..., Any], **options) -> _Param:
    return _Param(partial(check, **options), numeric=True)


def _choice(allowed, read: Callable[[str], Any] = str) -> _Param:
    return _Param(lambda name, value: check_choice(name, value, allowed), read=read)


def _unit_interval(name: str, value):
    """A number in [0, 1] (scikit-learn's rule for momentum)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")
    return float(value)


def _below_one(name: str, value):
    """A number in [0, 1) (scikit-learn's rule for validation_fraction)."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    return check_fraction(name, value)


_PARAMS: dict[str, _Param] = {
    # scikit-learn's MLP parameters
    "hidden_layer_sizes": _Param(check_layer_widths, read=_sizes_text),
    "depth": _number(check_positive, integer=True),
    "width": _number(check_positive, integer=True),
    "activation": _choice(tuple(HIDDEN_ACTIVATIONS)),
    "solver": _choice(SOLVER_NAMES),
    "alpha": _number(check_positive, allow_zero=True),
    "batch_size": _Param(
        partial(check_positive, integer=True, allow=("auto",)), read=_or_auto(from_text)
    ),
    "learning_rate": _choice(LEARNING_RATES),
    "learning_rate_init": _number(check_positive),
    "power_t": _number(check_positive, allow_zero=True),
    "max_iter": _number(check_positive, integer=True),
    "shuffle": _Param(check_flag, read=_flag_text),
    "random_state": _number(lambda name, value: check_seed(value, name, allow_none=False)),
    "tol": _number(check_positive, allow_zero=True),
    "momentum": _number(_unit_interval),
    "nesterovs_momentum": _Param(check_flag, read=_flag_text),
    "early_stopping": _Param(check_flag, read=_flag_text),
    "validation_fraction": _number(_below_one),
    "beta_1": _number(check_decay),
    "beta_2": _number(check_decay),
    "epsilon": _number(check_positive),
    "n_iter_no_change": _number(check_positive, integer=True),
    "max_fun": _number(check_positive, integer=True),
    "loss": _choice(REGRESSION_LOSSES),
    # nnscratch's extras
    "dropout": _Param(partial(check_probability, allow=(None,)), read=_or_none(from_text)),
    "batch_norm": _Param(check_flag, read=_flag_text),
    "lr_schedule": _choice((None, *sorted(SCHEDULES)), read=_or_none(str)),
    "init": _choice((None, *sorted(INITIALIZERS)), read=_or_none(str)),
    "dtype": _choice(DTYPES),
}

#: randint's bounds must fit scipy's int64 draws (its high is exclusive: bound + 1)
_RANDINT_MAX = 2**63 - 2


def _reader(name: str, param: _Param) -> Callable[[str], Any]:
    def read_and_check(text: str):
        return param.check(name, param.read(text))

    read_and_check.__name__ = f"read_{name}"
    return read_and_check


#: Hyperparameters that ``parse_space`` / ``parse_settings`` know, each with the function that
#: reads one value from text and checks it by the parameter's rule (ValueError naming it).
#: ``depth`` and ``width`` are shorthands for hidden_layer_sizes.
TUNABLE: dict[str, Callable[[str], Any]] = {
    name: _reader(name, param) for name, param in _PARAMS.items()
}

#: ``search``: every combination of a grid, or ``n_iter`` random draws (distributions too)
SEARCHES = ("grid", "random")

_SHORTHANDS = ("depth", "width")
_DISTRIBUTION = re.compile(r"^(loguniform|uniform|randint)\((.*)\)$")


def _known_name(name: str) -> str:
    if name not in TUNABLE:
        raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(TUNABLE)}")
    return name


def _split_assignment(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"expected NAME=VALUES (e.g. learning_rate_init=0.001:0.01); got {text!r}")
    return _known_name(name.strip()), spec.strip()


def _parse_value(name: str, text: str):
    return TUNABLE[name](text.strip())


def _parse_distribution(name: str, kind: str, args: str):
    """``kind(low,high)`` for ``name``: both bounds are values of ``name``, by its rule."""
    from scipy import stats

    parts = [p.strip() for p in args.split(",")]
    if len(parts) != 2:
        raise ValueError(f"{kind}() for {name} takes 2 bounds, e.g. {kind}(1,10); got {args!r}")
    read = int if kind == "randint" else float
    try:
        low, high = (read(p) for p in parts)
    except ValueError:
        kind_of = "integers" if kind == "randint" else "numbers"
        raise ValueError(
            f"bad bounds {args!r} of {kind}() for {name}: both must be {kind_of} written out, "
            f"e.g. {kind}(1,10)"
        ) from None
    if kind == "randint" and max(abs(low), abs(high)) > _RANDINT_MAX:
        raise ValueError(
            f"randint({args}) for {name}: bounds must be at most {_RANDINT_MAX} (2**63 - 2), "
            "what scipy's integer draws hold"
        )
    if kind != "randint" and not all(math.isfinite(b) for b in (low, high)):
        raise ValueError(f"{kind}({args}) for {name}: bounds must be finite numbers")
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ValueError(
            f"{kind}({args}) for {name} needs low < high"
            + (" and low > 0" if kind == "loguniform" else "")
        )
    try:
        for bound in (low, high):
            _PARAMS[name].check(name, bound)
    except ValueError as err:
        raise ValueError(f"{kind}({args}) for {name}: {err}") from None
    if kind == "randint":
        return stats.randint(low, high + 1)  # bounds inclusive, as documented
    if kind == "uniform":
        return stats.uniform(low, high - low)
    return stats.loguniform(low, high)


def parse_space(specs: Sequence[str], search: str = "grid") -> dict[str, Any]:
    """``["NAME=SPEC", ...]`` -> a scikit-learn parameter grid / distributions dict.

    Lists stay lists; distributions (random search only) become scipy.stats objects;
    ``depth``/``width`` become a ``hidden_layer_sizes`` list. Raises ValueError, naming the
    offending text, for unknown names, bad values, repeated names or a distribution in a grid.
    """
    check_choice("search", search, SEARCHES)
    space: dict[str, Any] = {}
    for text in specs:
        name, spec = _split_assignment(text)
        if name in space:
            raise ValueError(f"{name} is given twice")
        match = _DISTRIBUTION.match(spec)
        if match:
            if search == "grid":
                raise ValueError(
                    f"{name}={spec}: distributions need --search random; a grid takes "
                    "values separated by ':'"
                )
            if name in _SHORTHANDS or not _PARAMS[name].numeric:
                raise ValueError(f"{name} takes a list of values, not {match.group(1)}()")
            space[name] = _parse_distribution(name, match.group(1), match.group(2))
        else:
            space[name] = [_parse_value(name, part) for part in spec.split(":")]
    return _expand_shorthands(space)


def _expand_shorthands(space: dict[str, Any]) -> dict[str, Any]:
    if not any(name in space for name in _SHORTHANDS):
        return space
    if "hidden_layer_sizes" in space:
        raise ValueError("give either hidden_layer_sizes or depth/width, not both")
    depths = space.pop("depth", [1])  # each checked (an integer >= 1) when it was read
    widths = space.pop("width", [100])
    space["hidden_layer_sizes"] = [(w,) * d for d, w in itertools.product(depths, widths)]
    return space


def parse_settings(assignments: Sequence[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` -> fixed estimator parameters (one value each)."""
    settings: dict[str, Any] = {}
    for text in assignments:
        name, spec = _split_assignment(text)
        if name in _SHORTHANDS:
            raise ValueError(f"{name} is for the search space; set hidden_layer_sizes instead")
        settings[name] = _parse_value(name, spec)
    return settings


def format_value(value) -> str:
    """A parameter value written as the spec syntax reads it: (20, 7) -> "20,7"."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "()"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
