"""The training loop: the article's ``L_layer_model``.

Each iteration: forward -> cost -> backward -> update, with the cost of every iteration
recorded in the returned ``History``. A non-finite cost stops training with
``TrainingDivergedError`` and leaves the parameters at the last state whose cost was finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_positive, check_same_length, check_X
from .callbacks import Callback, PrintCost
from .errors import TrainingDivergedError
from .optimizers import Optimizer, get_optimizer


@dataclass
class History:
    """What training recorded: ``costs[i]`` is the cost before update i+1."""

    costs: list[float] = field(default_factory=list)

    @property
    def iterations(self) -> int:
        return len(self.costs)


def fit(
    net,
    X,
    y,
    *,
    learning_rate: float = 0.0075,
    iterations: int = 2500,
    optimizer: str | Optimizer = "gd",
    print_every: int | None = None,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Full-batch training of ``net`` on X (m, n_x) and y (m,) for ``iterations`` steps."""
    iterations = check_positive("iterations", iterations, integer=True)
    learning_rate = check_positive("learning_rate", learning_rate)
    X = check_X(X, net.input_shape, net.dtype)
    check_same_length(X, y)
    Y = net.loss.encode_targets(y, net.n_outputs, net.dtype)
    opt = get_optimizer(optimizer, learning_rate=learning_rate)
    callbacks = list(callbacks)
    if print_every:
        callbacks.append(PrintCost(check_positive("print_every", print_every, integer=True)))

    history = History()
    params = net.parameters  # the live arrays, updated in place
    last_good = {k: p.copy() for k, p in params.items()}  # state whose cost was finite
    for cb in callbacks:
        cb.on_train_begin(net, history)
    # A diverging run overflows; it is caught by the finiteness checks below, with a clear
    # error, instead of a stream of RuntimeWarnings.
    with np.errstate(over="ignore", invalid="ignore"):
        _loop(net, X, Y, opt, iterations, learning_rate, params, last_good, history, callbacks)
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history


def _loop(net, X, Y, opt, iterations, learning_rate, params, last_good, history, callbacks):
    for i in range(1, iterations + 1):
        cost, grads = net._cost_and_gradients(X, Y, training=True)
        if not np.isfinite(cost):
            _restore(params, last_good)
            raise TrainingDivergedError(i, cost, learning_rate)
        history.costs.append(cost)
        for k, p in params.items():
            np.copyto(last_good[k], p)
        opt.step(params, grads)
        if any([cb.on_iteration_end(net, i, cost, history) for cb in callbacks]):
            break
    if not all(np.isfinite(p).all() for p in params.values()):
        _restore(params, last_good)
        raise TrainingDivergedError(len(history.costs) + 1, float("nan"), learning_rate)


def _restore(params: dict[str, np.ndarray], saved: dict[str, np.ndarray]) -> None:
    for k, p in params.items():
        np.copyto(p, saved[k])
