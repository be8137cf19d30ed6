"""Search spaces for ``nnscratch tune``: the ``NAME=SPEC`` grammar, one string per hyperparameter.

    learning_rate=0.001:0.01:0.1         candidate values, separated by ":"
    hidden_layer_sizes=20,7,5:20,7:7     a value that is itself a list uses ","
    depth=1:2:3  width=8:32              shorthand: hidden_layer_sizes = (width,) * depth
    learning_rate=loguniform(1e-4,1e-1)  a distribution (random search only); also
    l2=uniform(0,0.01)  max_iter=randint(50,400)   (randint's bounds are inclusive)
    dropout=none:0.8                     "none" is None

``parse_space`` turns such strings into a scikit-learn parameter grid (or distributions for a
random search), ``parse_settings`` into fixed estimator parameters, and ``format_value`` writes a
value back in the same syntax. Every error is a ValueError that names the offending text.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from nnscratch.nn.activations import HIDDEN_ACTIVATIONS
from nnscratch.nn.initializers import INITIALIZERS

__all__ = ["TUNABLE", "format_value", "parse_settings", "parse_space"]


def _int(text: str) -> int:
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise ValueError("not a boolean (true/false)")


def _sizes(text: str) -> tuple[int, ...]:
    if text.lower() in ("", "none", "()"):
        return ()  # no hidden layer: logistic / softmax regression
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = (0,)
    if min(sizes) < 1:
        raise ValueError("expected comma-separated layer widths >= 1, e.g. 20,7,5")
    return sizes


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_none(text: str):
        return None if text.lower() == "none" else parse(text)

    return parse_or_none


def _or_auto(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_auto(text: str):
        return "auto" if text.lower() == "auto" else parse(text)

    return parse_or_auto


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse_choice(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"allowed: {', '.join(allowed)}")
        return text

    return parse_choice


def _optimizer_names() -> tuple[str, ...]:
    from nnscratch.train.optimizers import OPTIMIZERS

    return tuple(sorted(OPTIMIZERS))


def _schedule(text: str) -> str | None:
    from nnscratch.train.schedules import SCHEDULES

    if text.lower() == "none":
        return None
    return _choice(*sorted(SCHEDULES))(text)


#: Hyperparameters that ``parse_space`` / ``parse_settings`` know, each with the function that
#: reads one value from text. ``depth`` and ``width`` are shorthands for hidden_layer_sizes.
TUNABLE: dict[str, Callable[[str], Any]] = {
    "learning_rate": _float,
    "hidden_layer_sizes": _sizes,
    "depth": _int,
    "width": _int,
    "activation": _choice(*HIDDEN_ACTIVATIONS),
    "max_iter": _int,
    "batch_size": _or_auto(_int),
    "optimizer": lambda text: _choice(*_optimizer_names())(text),
    "l2": _float,
    "dropout": _or_none(_float),
    "batch_norm": _bool,
    "early_stopping": _bool,
    "validation_fraction": _float,
    "n_iter_no_change": _int,
    "tol": _float,
    "lr_schedule": _schedule,
    "init": _choice(*sorted(INITIALIZERS)),
    "shuffle": _bool,
    "dtype": _choice("float32", "float64"),
}

_SHORTHANDS = ("depth", "width")
_DISTRIBUTION = re.compile(r"^(loguniform|uniform|randint)\((.*)\)$")


def _known_name(name: str) -> str:
    if name not in TUNABLE:
        raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(TUNABLE)}")
    return name


def _split_assignment(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"expected NAME=VALUES (e.g. learning_rate=0.001:0.01); got {text!r}")
    return _known_name(name.strip()), spec.strip()


def _parse_value(name: str, text: str):
    try:
        return TUNABLE[name](text.strip())
    except ValueError as err:
        raise ValueError(f"bad value {text!r} for {name}: {err}") from err


def _parse_distribution(name: str, kind: str, args: str):
    from scipy import stats

    parts = [p.strip() for p in args.split(",")]
    if len(parts) != 2:
        raise ValueError(f"{kind}() for {name} takes 2 bounds, e.g. {kind}(1,10); got {args!r}")
    try:
        low, high = (int(p) for p in parts) if kind == "randint" else (float(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"bad bounds {args!r} of {kind}() for {name}") from err
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ValueError(
            f"{kind}({args}) for {name} needs low < high"
            + (" and low > 0" if kind == "loguniform" else "")
        )
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
    if search not in ("grid", "random"):
        raise ValueError(f"search must be 'grid' or 'random'; got {search!r}")
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
            if name in _SHORTHANDS or TUNABLE[name] not in (_int, _float):
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
    depths = space.pop("depth", [1])
    widths = space.pop("width", [100])
    for name, values in (("depth", depths), ("width", widths)):
        if any(v < 1 for v in values):
            raise ValueError(f"{name} values must be >= 1; got {values}")
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
