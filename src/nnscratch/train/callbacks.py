"""Training callbacks: a small hook so callers (the CLI, notebooks) can watch and steer fit.

``fit`` calls, in order:

    on_train_begin(net, history)
    on_iteration_end(net, iteration, cost, history)   after every update; True stops training
    on_epoch_end(net, epoch, history)                 after every epoch's records; True stops
    on_train_end(net, history)                        also after an early stop

``iteration`` and ``epoch`` count from 1. When ``on_epoch_end`` runs, the epoch's entries of
``history.train_cost`` (and ``train_accuracy``, ``val_cost``, ``val_accuracy`` where recorded)
are already appended. A stop requested by ``on_iteration_end`` still closes the epoch.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


class Callback:
    #: The run's ``TrainingState``, which ``fit`` sets before ``on_train_begin``.
    training_state: Any

    def on_train_begin(self, net, history) -> None:
        pass

    def on_iteration_end(self, net, iteration: int, cost: float, history) -> bool | None:
        return None

    def on_epoch_end(self, net, epoch: int, history) -> bool | None:
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


class EarlyStopping(Callback):
    """Stops when the validation cost has not improved for ``patience`` epochs, then puts back
    the parameters and buffers of the best epoch (``fit(early_stopping=True)`` adds it).

    Sets ``history.best_epoch`` (1-based) and ``history.stopped_early``. An epoch improves on
    the best when its ``val_cost`` is lower by more than ``min_delta``.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, restore_best: bool = True):
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best

    def on_train_begin(self, net, history):
        self.best_cost = np.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None

    def on_epoch_end(self, net, epoch, history):
        if not history.val_cost:
            raise ValueError(
                "early stopping needs validation data (validation_data or validation_fraction)"
            )
        cost = history.val_cost[-1]
        if cost < self.best_cost - self.min_delta:
            self.best_cost, self.best_epoch = cost, epoch
            self.best_state = _snapshot(net, self.best_state)
            history.best_epoch = epoch
        elif epoch - (self.best_epoch or 0) >= self.patience:
            history.stopped_early = True
            return True
        return None

    def state_dict(self) -> dict:
        """What a checkpoint needs to keep watching exactly: {"best_cost", "best_epoch",
        "best.<name>": the best epoch's parameters and buffers} (copies)."""
        d: dict = {"best_cost": float(self.best_cost), "best_epoch": self.best_epoch}
        for key, a in (self.best_state or {}).items():
            d[f"best.{key}"] = a.copy()
        return d

    def load_state_dict(self, d: dict) -> None:
        """Restore what ``state_dict()`` returned."""
        best_epoch = d["best_epoch"]
        self.best_cost = float(d["best_cost"])
        self.best_epoch = None if best_epoch is None else int(best_epoch)
        best = {k[len("best.") :]: np.array(v) for k, v in d.items() if k.startswith("best.")}
        self.best_state = best or None

    def on_train_end(self, net, history):
        if self.restore_best and self.best_state is not None:
            live = {**net.parameters, **net.buffers}
            for key, saved in self.best_state.items():
                np.copyto(live[key], saved)


def _snapshot(net, into: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Copies of the network's parameters and buffers, reusing the arrays of ``into``."""
    live = {**net.parameters, **net.buffers}
    if into is None:
        return {k: a.copy() for k, a in live.items()}
    for k, a in live.items():
        np.copyto(into[k], a)
    return into
