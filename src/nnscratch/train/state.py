"""What a run of ``fit`` records and where it stands.

History         what training recorded: the costs of every iteration and the per-epoch
                training and validation records (returned by ``fit``, saved in model files)
TrainingState   all a checkpoint needs besides the network's arrays to continue a run
                bitwise: counters, the epoch's permutation, the optimizer's and the
                random generators' states, the history and the callbacks' states
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from nnscratch.train.optimizers import Optimizer


@dataclass
class History:
    """What training recorded.

    Attributes:
        costs: one per iteration: ``costs[i]`` is the (mini-)batch cost, L2 penalty included,
            before update i+1.
        train_cost: per epoch, the mean of the epoch's batch costs (weighted by batch size):
            the training-mode cost, L2 penalty included, while the epoch trained.
        train_accuracy: per epoch, the accuracy on the training data after the epoch
            (inference mode); classifiers only, and only when evaluated (see ``fit``'s
            ``eval_train``), else empty.
        val_cost, val_accuracy: per epoch, on the validation data after the epoch (inference
            mode; the cost without L2 penalty); empty without validation data.
        best_epoch: the (1-based) epoch with the lowest validation cost; with early stopping,
            the epoch whose parameters the network holds after training. None without
            validation data.
        stopped_early: True when early stopping ended training.
    """

    costs: list[float] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_cost: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def iterations(self) -> int:
        return len(self.costs)

    @property
    def epochs(self) -> int:
        return len(self.train_cost)

    def to_dict(self) -> dict:
        """JSON-able copy (for model files and metrics)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**d)


@dataclass
class TrainingState:
    """Where a run of ``fit`` stands: besides the network's parameters and buffers, all that
    a checkpoint needs to continue the run exactly. The loop updates it after every update.

    ``fit`` hands it to each callback as ``callback.training_state`` (before
    ``on_train_begin``). ``state_dict()`` taken inside ``on_iteration_end`` (or after
    training) and passed back as ``fit(..., resume=state)``, with the same data and arguments
    and the network's parameters and buffers as they were then, continues the run bitwise as
    if it had never stopped: the optimizer's moments, the random generators (shuffles, flips,
    dropout masks), the position inside the epoch and the epoch's running cost all carry on.

    Attributes:
        step: updates done. epoch: epochs begun (the current one included).
        offset: samples of the current epoch already trained on (0 between epochs).
        order: the current epoch's permutation of the m samples, or None (no shuffling).
        cost_sum, seen: the current epoch's batch costs weighted by batch size, and samples.
        optimizer, rngs ({"shuffle", "flip", "dropout"} generators), history, callbacks: the
        run's live objects.
        fast_path: the run's ``GramPath`` (``nnscratch.train.gram``) or None; its coordinates
        are in the state dict as "fast_path", so that a resumed run goes on bitwise (a state
        without them starts the path again from the network's weights).
    """

    optimizer: Optimizer
    rngs: dict[str, np.random.Generator]
    history: History
    callbacks: list
    step: int = 0
    epoch: int = 0
    offset: int = 0
    order: np.ndarray | None = None
    cost_sum: float = 0.0
    seen: int = 0
    fast_path: Any = None

    _COUNTERS = ("step", "epoch", "offset", "seen")

    def state_dict(self) -> dict:
        """Copies, as plain data: counters, ``order``, ``optimizer`` (its ``state_dict()``),
        ``rngs`` (each generator's ``bit_generator.state``), ``history`` (``to_dict()``) and
        ``callbacks`` ({"<position>:<class>": state_dict()} of callbacks that have one)."""
        d = {
            **{k: getattr(self, k) for k in self._COUNTERS},
            "cost_sum": self.cost_sum,
            "order": None if self.order is None else self.order.copy(),
            "optimizer": self.optimizer.state_dict(),
            "rngs": {name: rng.bit_generator.state for name, rng in self.rngs.items()},
            "history": self.history.to_dict(),
            "callbacks": {
                key: cb.state_dict() for key, cb in _stateful_callbacks(self.callbacks).items()
            },
        }
        if self.fast_path is not None:
            d["fast_path"] = self.fast_path.state_dict()
        return d

    def load_state_dict(self, d: dict) -> None:
        """Restore ``state_dict()``'s content into this run's live objects. Raises ValueError
        when it does not fit this run (other callbacks, generators or sample count)."""
        try:
            counters = {k: int(d[k]) for k in self._COUNTERS}
            cost_sum = float(d["cost_sum"])
            order = None if d["order"] is None else np.array(d["order"], dtype=np.int64)
            rngs, history, cb_states = d["rngs"], d["history"], d["callbacks"]
            restored = History.from_dict(history)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"resume state is incomplete or malformed ({err!r})") from err
        if min(counters.values()) < 0:
            raise ValueError(f"resume state has negative counters: {counters}")
        stateful = _stateful_callbacks(self.callbacks)
        if set(rngs) != set(self.rngs) or set(cb_states) != set(stateful):
            raise ValueError(
                f"resume state is for another run: generators {sorted(rngs)} and callbacks "
                f"{sorted(cb_states)}, this run has {sorted(self.rngs)} and {sorted(stateful)}"
            )
        for name, rng in self.rngs.items():
            rng.bit_generator.state = rngs[name]
        self.optimizer.load_state_dict(d["optimizer"])
        if self.fast_path is not None:  # after the optimizer: it may start from its velocity
            self.fast_path.load_state_dict(d.get("fast_path") or {})
        for key, cb in stateful.items():
            cb.load_state_dict(cb_states[key])
        for f in fields(History):  # in place: callbacks hold this History
            setattr(self.history, f.name, getattr(restored, f.name))
        for k, v in counters.items():
            setattr(self, k, v)
        self.cost_sum, self.order = cost_sum, order


def _stateful_callbacks(callbacks) -> dict:
    """Callbacks with a state to checkpoint, by "<position>:<class name>"."""
    return {
        f"{i}:{type(cb).__name__}": cb
        for i, cb in enumerate(callbacks)
        if hasattr(cb, "state_dict")
    }
