"""The training loop: epochs of (mini-)batches, one ``train_step`` per batch.

An epoch is one pass over the training data: ceil(m / batch_size) steps, over a fresh
permutation of the samples when shuffling (the article's full-batch training is one step per
epoch, unshuffled). After every step the loop records the cost and asks the callbacks
whether to stop; at the end of every epoch it records the epoch's training cost and, where
asked for, accuracy and validation cost and accuracy (in inference mode), and asks the
callbacks again.

Each step is the article's ``train_step``, or, where ``fit`` found it exact, the same step in
Gram coordinates (``GramPath.step``, ``nnscratch.train.gram``): an algebraic rewrite that
avoids the first layer's wide products and gives the same parameters to float rounding.

A non-finite cost stops training with ``TrainingDivergedError``, which names the iteration
and suggests a smaller learning rate; parameters and buffers are put back to the last state
whose cost was finite (see ``Rollback``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from nnscratch.base.errors import TrainingDivergedError
from nnscratch.base.validation import all_finite
from nnscratch.nn.metrics import accuracy
from nnscratch.nn.model import Sequential
from nnscratch.train.batches import Batches
from nnscratch.train.gram import GramPath, one_blas_thread
from nnscratch.train.optimizers import Optimizer
from nnscratch.train.regularization import L2Penalty
from nnscratch.train.schedules import Schedule
from nnscratch.train.state import History, TrainingState
from nnscratch.train.step import train_step


@dataclass
class Loop:
    """One training run's fixed inputs (checked by ``fit``); ``run`` does the work.

    X_val (m_val, ...) and Y_val (m_val, n_L) are the validation data, or None; ``shuffle``
    draws each epoch's order from ``shuffle_rng``; ``eval_train`` records the training
    accuracy every epoch; ``classifier`` records accuracies at all.
    """

    net: Sequential
    batches: Batches
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    total_steps: int
    shuffle: bool
    shuffle_rng: np.random.Generator
    l2: L2Penalty | None
    optimizer: Optimizer
    schedule: Schedule
    callbacks: list
    eval_train: bool
    classifier: bool
    gram: GramPath | None = None  # the fast path of the steps, or None: train_step

    def _rollback(self) -> Rollback:
        """The divergence backup: the parameters (for the Gram path, W1's coordinates in
        place of W1) and buffers."""
        params = self.net.parameters
        if self.gram is not None:
            params = {k: p for k, p in params.items() if k != self.gram.wkey}
            params.update(self.gram.rollback_arrays())
        return Rollback(params, self.net.buffers)

    def _restore(self, rollback: Rollback) -> None:
        rollback.restore()
        if self.gram is not None:
            self.gram.moved()

    def run(self, history: History, st: TrainingState) -> None:
        """Train until ``total_steps`` steps are done or a callback stops it, updating the
        network in place and ``history`` and ``st`` as it goes (a resumed ``st`` carries on
        where it stood)."""
        with one_blas_thread() if self.gram is not None else contextlib.nullcontext():
            self._run(history, st)

    def _run(self, history: History, st: TrainingState) -> None:
        rollback = self._rollback()
        # st.offset > 0: inside an epoch (a resumed run), which is finished before the next
        while st.step < self.total_steps or st.offset > 0:
            if st.offset == 0:
                st.epoch += 1
                st.order = self.shuffle_rng.permutation(self.batches.m) if self.shuffle else None
                st.cost_sum, st.seen = 0.0, 0
            stop = self._train_epoch(history, st, rollback)
            st.offset = 0
            history.train_cost.append(st.cost_sum / st.seen)
            self._evaluate(history)
            if any([cb.on_epoch_end(self.net, st.epoch, history) for cb in self.callbacks]) or stop:
                break
        # a non-finite last update shows in no cost: check the parameters themselves
        if not all(all_finite(p) for p in self.net.parameters.values()):
            self._restore(rollback)
            raise TrainingDivergedError(st.step + 1, float("nan"), self.optimizer.learning_rate)

    def _train_epoch(self, history: History, st: TrainingState, rollback: Rollback) -> bool:
        """The current epoch's batches from ``st.offset`` on, one step each, until the
        epoch or the run's steps end. True when a callback asked to stop."""
        for start in self.batches.starts(st.offset):
            if st.step >= self.total_steps:
                return False
            rollback.save()
            lr = self.schedule(st.step)
            if self.gram is not None:  # the same step in Gram coordinates
                idx, Yb = self.batches.indices(st.order, start)
                cost = self.gram.step(idx, Yb, lr)
            else:
                Xb, Yb = self.batches.batch(st.order, start)
                cost = train_step(self.net, Xb, Yb, self.optimizer, learning_rate=lr, l2=self.l2)
            if not np.isfinite(cost):
                self._restore(rollback)
                raise TrainingDivergedError(st.step + 1, cost, self.optimizer.learning_rate)
            rollback.keep()
            n = Yb.shape[0]
            st.step += 1
            st.offset = start + n
            st.cost_sum += cost * n
            st.seen += n
            history.costs.append(cost)
            if any(
                [cb.on_iteration_end(self.net, st.step, cost, history) for cb in self.callbacks]
            ):
                return True
        return False

    def _evaluate(self, history: History) -> None:
        """The end-of-epoch records, in inference mode, with the output's decision rule."""
        net = self.net
        if self.eval_train:
            Z = net._logits(self.batches.X)
            history.train_accuracy.append(accuracy(net.loss.decide(Z), self.batches.Y))
        if self.X_val is not None:
            assert self.Y_val is not None, "validation inputs come with their targets"
            Z = net._logits(self.X_val)
            history.val_cost.append(float(net.loss.cost(Z, self.Y_val)))
            if self.classifier:
                history.val_accuracy.append(accuracy(net.loss.decide(Z), self.Y_val))


class Rollback:
    """The state to go back to when a cost is not finite: the parameters as they were before
    the last update whose cost was finite, with the buffers (batch norm's running statistics)
    that step's forward pass left: the last state whose cost was finite.

    Per step: ``save()`` before it, then ``keep()`` once its cost is known to be finite, or
    ``restore()``. Two sets of copies, swapped, so each step copies the arrays once.
    """

    def __init__(self, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
        self.params, self.buffers = params, buffers
        live = {**params, **buffers}
        self.good = {k: a.copy() for k, a in live.items()}
        self.pending = {k: a.copy() for k, a in live.items()}

    def save(self) -> None:
        """Before a step: its parameters."""
        for k, a in self.params.items():
            np.copyto(self.pending[k], a)

    def keep(self) -> None:
        """After a step whose cost was finite (its forward pass has updated the buffers)."""
        for k, a in self.buffers.items():
            np.copyto(self.pending[k], a)
        self.good, self.pending = self.pending, self.good

    def restore(self) -> None:
        for k, a in {**self.params, **self.buffers}.items():
            np.copyto(a, self.good[k])
