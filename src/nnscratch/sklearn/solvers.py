"""The stochastic solvers of the estimators, with scikit-learn's MLP semantics.

A solver updates the network's live parameter dict in place from gradients of the same keys
(``update_params``), hears the end of each epoch (``iteration_ends(t)``, t = samples seen so
far) and decides what to do when the loss stops improving (``trigger_stopping``: stop, or
lower the learning rate and go on). ``learning_rate`` is the current rate, as on
scikit-learn's optimizers (``est._optimizer.learning_rate``).

    sgd    v = momentum v - lr g;  p += v                       (nesterovs_momentum=False)
           v = momentum v - lr g;  p += momentum v - lr g       (nesterovs_momentum=True)
           lr: "constant"; "invscaling": learning_rate_init / (t + 1)^power_t after each
           epoch; "adaptive": divided by 5 when the loss stops improving, stop below 1e-6
    adam   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  k += 1
           lr = learning_rate_init sqrt(1 - b2^k) / (1 - b1^k);  p -= lr m / (sqrt(v) + eps)

These are scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer`` step for step (note the
momentum convention: v accumulates -lr g, unlike ``nnscratch.train.optimizers.Momentum``).
Every other name of ``nnscratch.train.optimizers.OPTIMIZERS`` ("gd", "momentum", "nesterov",
"rmsprop", "adamw") is one of ours, stepped at ``learning_rate`` with sgd's schedules.
``SOLVERS`` is the registry of the stochastic solvers by name ("lbfgs" is not stochastic:
``nnscratch.sklearn.lbfgs``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnscratch.train.optimizers import OPTIMIZERS, get_optimizer

__all__ = ["SOLVERS", "STOCHASTIC_SOLVERS", "AdamSolver", "OptimizerSolver", "SGDSolver"]

Params = dict[str, np.ndarray]


class Solver:
    """Base: a constant learning rate; stop as soon as the loss stops improving."""

    def __init__(self, learning_rate_init: float):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)

    def update_params(self, params: Params, grads: Params) -> None:
        raise NotImplementedError

    def set_base_rate(self, lr: float) -> None:
        """Make ``lr`` the rate the next epoch starts from (an ``lr_schedule``'s value)."""
        self.learning_rate_init = self.learning_rate = float(lr)

    def iteration_ends(self, time_step: int) -> None:
        """The end of an epoch; ``time_step`` = samples seen since the first fit."""

    def trigger_stopping(self, msg: str, verbose) -> bool:
        """The loss stopped improving: True to stop training."""
        if verbose:
            print(msg + " Stopping.")
        return True


class _Scheduled(Solver):
    """scikit-learn's sgd learning-rate schedules: "constant", "invscaling", "adaptive"."""

    def __init__(self, learning_rate_init: float, lr_schedule: str, power_t: float):
        super().__init__(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.power_t = float(power_t)

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose) -> bool:
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False


class SGDSolver(_Scheduled):
    """scikit-learn's sgd: momentum (optionally Nesterov's) with its learning-rate schedules."""

    def __init__(
        self,
        learning_rate_init: float = 0.1,
        lr_schedule: str = "constant",
        momentum: float = 0.9,
        nesterov: bool = True,
        power_t: float = 0.5,
    ):
        super().__init__(learning_rate_init, lr_schedule, power_t)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities: Params = {}

    def update_params(self, params: Params, grads: Params) -> None:
        for key, p in params.items():
            g, dt = grads[key], p.dtype.type
            v = self.velocities.get(key)
            if v is None:
                v = self.velocities[key] = np.zeros_like(p)
            v *= dt(self.momentum)
            v -= dt(self.learning_rate) * g  # v = momentum v - lr g
            if self.nesterov:
                p += dt(self.momentum) * v - dt(self.learning_rate) * g
            else:
                p += v


class AdamSolver(Solver):
    """scikit-learn's adam: the bias correction folded into the step's learning rate."""

    def __init__(
        self,
        learning_rate_init: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        super().__init__(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.t = 0
        self.ms: Params = {}
        self.vs: Params = {}

    def update_params(self, params: Params, grads: Params) -> None:
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        self.learning_rate = self.learning_rate_init * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for key, p in params.items():
            g, dt = grads[key], p.dtype.type
            m = self.ms.setdefault(key, np.zeros_like(p))
            v = self.vs.setdefault(key, np.zeros_like(p))
            m *= dt(b1)
            m += dt(1 - b1) * g
            v *= dt(b2)
            v += dt(1 - b2) * (g * g)
            p -= dt(self.learning_rate) * m / (np.sqrt(v) + dt(self.epsilon))


class OptimizerSolver(_Scheduled):
    """One of nnscratch's optimizers (``nnscratch.train.optimizers``) stepped at the current
    ``learning_rate``, with sgd's schedules; ``options`` are its extra arguments."""

    def __init__(
        self,
        name: str,
        learning_rate_init: float,
        lr_schedule: str = "constant",
        power_t: float = 0.5,
        options: dict | None = None,
    ):
        super().__init__(learning_rate_init, lr_schedule, power_t)
        self.optimizer = get_optimizer(
            name, learning_rate=learning_rate_init, **dict(options or {})
        )

    def update_params(self, params: Params, grads: Params) -> None:
        self.optimizer.step(params, grads, learning_rate=self.learning_rate)


def _sgd(est, options: dict) -> Solver:
    return SGDSolver(
        est.learning_rate_init,
        est.learning_rate,
        est.momentum,
        est.nesterovs_momentum,
        est.power_t,
    )


def _adam(est, options: dict) -> Solver:
    return AdamSolver(est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)


def _ours(name: str) -> Callable[..., Solver]:
    def make(est, options: dict) -> Solver:
        return OptimizerSolver(
            name, est.learning_rate_init, est.learning_rate, est.power_t, options
        )

    return make


#: Stochastic solver name -> factory(estimator, optimizer_options) of a fresh solver.
SOLVERS: dict[str, Callable[..., Solver]] = {
    "sgd": _sgd,
    "adam": _adam,
    **{name: _ours(name) for name in sorted(OPTIMIZERS) if name not in ("sgd", "adam")},
}

STOCHASTIC_SOLVERS = tuple(SOLVERS)
