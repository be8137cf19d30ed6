"""Training callbacks: a small hook so callers (the CLI, notebooks) can watch and steer fit.

``fit`` calls, in order: ``on_train_begin(net, history)``, then after every iteration
``on_iteration_end(net, iteration, cost, history)``, and ``on_train_end(net, history)``.
A callback that returns True from ``on_iteration_end`` stops training after that iteration.
"""

from __future__ import annotations

import sys


class Callback:
    def on_train_begin(self, net, history) -> None:
        pass

    def on_iteration_end(self, net, iteration: int, cost: float, history) -> bool | None:
        return None

    def on_train_end(self, net, history) -> None:
        pass


class PrintCost(Callback):
    """Prints "Cost after iteration N: C" every ``every`` iterations, as the article does."""

    def __init__(self, every: int = 100, file=None):
        self.every = every
        self.file = file

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration % self.every == 0:
            print(f"Cost after iteration {iteration}: {cost:.6f}", file=self.file or sys.stdout)
