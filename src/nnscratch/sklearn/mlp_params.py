"""The estimators' parameters: scikit-learn's MLP parameters (same names, defaults and rules),
then nnscratch's extras, each with the default that keeps scikit-learn's behaviour.

``PARAMETER_CONSTRAINTS`` is in scikit-learn's ``_parameter_constraints`` form, so that a bad
value raises scikit-learn's ``InvalidParameterError`` (a ValueError) with its message, at fit
time. The extras' values are then checked by nnscratch's own rules
(``nnscratch.base.validation``) in ``check_extras``.
"""

from __future__ import annotations

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from nnscratch.base.validation import check_dtype, check_probability
from nnscratch.nn.initializers import INITIALIZERS
from nnscratch.sklearn.names import HIDDEN_ACTIVATIONS, LEARNING_RATES, SOLVER_NAMES
from nnscratch.sklearn.solvers import SOLVERS
from nnscratch.train.schedules import SCHEDULES

__all__ = [
    "PARAMETER_CONSTRAINTS",
    "SKLEARN_DEFAULTS",
    "check_extras",
]

#: scikit-learn's MLP parameters and their defaults, in its order (MLPRegressor has ``loss``
#: first)
SKLEARN_DEFAULTS = {
    "hidden_layer_sizes": (100,),
    "activation": "relu",
    "solver": "adam",
    "alpha": 0.0001,
    "batch_size": "auto",
    "learning_rate": "constant",
    "learning_rate_init": 0.001,
    "power_t": 0.5,
    "max_iter": 200,
    "shuffle": True,
    "random_state": None,
    "tol": 1e-4,
    "verbose": False,
    "warm_start": False,
    "momentum": 0.9,
    "nesterovs_momentum": True,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "n_iter_no_change": 10,
    "max_fun": 15000,
}

PARAMETER_CONSTRAINTS: dict = {
    # scikit-learn's, with nnscratch's further activations and solvers
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
    "solver": [StrOptions(set(SOLVER_NAMES))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(set(LEARNING_RATES))],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # nnscratch's extras
    "dropout": "no_validation",  # nnscratch's keep-probability rule (check_extras, Network)
    "batch_norm": ["boolean"],
    "lr_schedule": [None, StrOptions(set(SCHEDULES))],
    "schedule_options": [None, dict],
    "optimizer_options": [None, dict],
    "init": [None, StrOptions(set(INITIALIZERS))],
    "dtype": "no_validation",  # checked by check_dtype (check_extras)
    "architecture": [None, str],
    "image_shape": [None, "array-like"],
}


def check_extras(est) -> None:
    """nnscratch's rules for the extras that scikit-learn's constraints cannot state."""
    if est.dropout is None or isinstance(est.dropout, numbers.Real):
        check_probability("dropout", est.dropout, allow=(None,))  # one per layer: Network
    if est.dtype is not None:
        check_dtype(est.dtype)
    if est.lr_schedule is not None and est.learning_rate != "constant":
        raise ValueError(
            f"lr_schedule={est.lr_schedule!r} sets the learning rate of every epoch; it needs "
            f"learning_rate='constant', got {est.learning_rate!r}"
        )
    if est.optimizer_options and est.solver in ("lbfgs", "sgd", "adam"):
        raise ValueError(
            f"optimizer_options are for nnscratch's solvers "
            f"({', '.join(s for s in SOLVERS if s not in ('sgd', 'adam'))}); "
            f"solver={est.solver!r} takes scikit-learn's parameters"
        )
