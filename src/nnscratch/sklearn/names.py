"""The estimators' vocabularies of names, importable without scikit-learn (the search space
of ``nnscratch tune`` reads them before scikit-learn is imported).

    HIDDEN_ACTIVATIONS   scikit-learn's ``activation`` names (and ours) -> nnscratch's
    OUTPUT_ACTIVATIONS   scikit-learn's ``out_activation_`` names -> nnscratch's losses
    LEARNING_RATES       scikit-learn's ``learning_rate`` schedules
    SOLVER_NAMES         "lbfgs" and the stochastic solvers (``nnscratch.sklearn.solvers``)
    REGRESSION_LOSSES    MLPRegressor's ``loss`` names
"""

from __future__ import annotations

from nnscratch.sklearn.solvers import SOLVERS

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "LEARNING_RATES",
    "OUTPUT_ACTIVATIONS",
    "REGRESSION_LOSSES",
    "SOLVER_NAMES",
]

HIDDEN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
}

OUTPUT_ACTIVATIONS = {
    "logistic": "sigmoid",
    "softmax": "softmax",
    "identity": "identity",
    "exp": "exp",
}

LEARNING_RATES = ("constant", "invscaling", "adaptive")

SOLVER_NAMES = ("lbfgs", *SOLVERS)

REGRESSION_LOSSES = ("squared_error", "poisson")
