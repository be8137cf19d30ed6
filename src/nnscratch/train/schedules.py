"""Learning-rate schedules: pure functions of the step.

Each schedule is ``f(step, base_lr, *, total_steps, **options) -> learning rate`` where
``step`` counts optimizer updates from 0 (with mini-batches an epoch is ceil(m / batch_size)
steps) and ``total_steps`` is the length of the run; nothing is stored between calls, so a
resumed run picks up the same rate from the step count alone.

    constant      base_lr
    step          base_lr * gamma ** (step // step_size)            (step_size: total_steps // 4)
    exponential   base_lr * decay_rate ** (step / decay_steps)      (decay_steps: total_steps)
    cosine        linear warm-up over warmup_steps, then
                  min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2

``SCHEDULES`` is the registry; ``get_schedule`` binds one to a run and checks its options.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial

from nnscratch.base.validation import check_positive

Schedule = Callable[[int], float]


def constant(step: int, base_lr: float, *, total_steps: int) -> float:
    return base_lr


def step_decay(
    step: int,
    base_lr: float,
    *,
    total_steps: int,
    step_size: int | None = None,
    gamma: float = 0.5,
) -> float:
    """Multiply the rate by ``gamma`` every ``step_size`` steps (default: a quarter of the run,
    so three drops)."""
    size = step_size if step_size is not None else max(1, total_steps // 4)
    return base_lr * gamma ** (step // size)


def exponential_decay(
    step: int,
    base_lr: float,
    *,
    total_steps: int,
    decay_rate: float = 0.1,
    decay_steps: int | None = None,
) -> float:
    """Smooth decay by a factor ``decay_rate`` every ``decay_steps`` steps (default: the whole
    run, so the rate ends at ``base_lr * decay_rate``)."""
    steps = decay_steps if decay_steps is not None else max(1, total_steps)
    return base_lr * decay_rate ** (step / steps)


def cosine_decay(
    step: int,
    base_lr: float,
    *,
    total_steps: int,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
) -> float:
    """Half a cosine from ``base_lr`` down to ``min_lr`` over the run, after an optional linear
    warm-up from 0 (as in nanoGPT's ``get_lr``)."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


#: The one registry from names to schedules.
SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "step": step_decay,
    "exponential": exponential_decay,
    "cosine": cosine_decay,
}

# option -> (integer?, allow zero?) for validation
_OPTION_KINDS = {
    "step_size": (True, False),
    "gamma": (False, False),
    "decay_rate": (False, False),
    "decay_steps": (True, False),
    "min_lr": (False, True),
    "warmup_steps": (True, True),
}


def schedule_options(name: str) -> tuple[str, ...]:
    """The keyword options a schedule takes besides ``total_steps``."""
    params = inspect.signature(SCHEDULES[name]).parameters
    return tuple(k for k in params if k not in ("step", "base_lr", "total_steps"))


def get_schedule(
    name: str | None, base_lr: float, total_steps: int, options: dict | None = None
) -> Schedule:
    """The schedule ``name`` (None: constant) bound to ``base_lr`` and ``total_steps``:
    a function step -> learning rate. Unknown names or options raise ValueError."""
    name = "constant" if name is None else name
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(
            f"unknown lr_schedule {name!r}; allowed: None, {', '.join(sorted(SCHEDULES))}"
        )
    options = dict(options or {})
    allowed = schedule_options(name)
    unknown = sorted(k for k in options if k not in allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for lr_schedule {name!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    for key, value in options.items():
        if value is not None:
            integer, allow_zero = _OPTION_KINDS[key]
            options[key] = check_positive(key, value, integer=integer, allow_zero=allow_zero)
    return partial(_bound, SCHEDULES[name], base_lr, total_steps, options)


def _bound(fn, base_lr: float, total_steps: int, options: dict, step: int) -> float:
    return fn(step, base_lr, total_steps=total_steps, **options)
