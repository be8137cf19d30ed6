"""Optimizers: how parameters move given their gradients.

An optimizer takes ``step(params, grads)``, both dicts keyed by the parameter's public name
("W1", "b1", ...), and updates ``params`` in place. Any state (velocities, moments) is its
own, keyed by the same names. ``OPTIMIZERS`` is the registry by name.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_positive


class Optimizer:
    name = "optimizer"

    def __init__(self, learning_rate: float = 0.0075):
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.t = 0  # number of steps taken

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name, "learning_rate": self.learning_rate}


class GradientDescent(Optimizer):
    """The article's ``update_parameters``: W := W - learning_rate * dW."""

    name = "gd"

    def step(self, params, grads):
        self.t += 1
        for key, p in params.items():
            # in place: no new array per step; the scalar keeps p's dtype
            p -= p.dtype.type(self.learning_rate) * grads[key]


#: The one registry from names to optimizer classes.
OPTIMIZERS: dict[str, type[Optimizer]] = {"gd": GradientDescent, "sgd": GradientDescent}


def get_optimizer(name: str | Optimizer, **kwargs) -> Optimizer:
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name](**kwargs)
