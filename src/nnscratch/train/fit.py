"""The training loop: the article's ``L_layer_model``, grown into mini-batch training.

Each iteration: take a batch -> forward -> cost (+ L2 penalty) -> backward -> optimizer update,
with the cost of every iteration recorded in the returned ``History``. An epoch is one pass
over the training data: ceil(m / batch_size) iterations, over a fresh seeded permutation of
the samples (full-batch training, the article's, is one iteration per epoch and does not
shuffle). At the end of each epoch ``fit`` records the epoch's training cost and, where asked
for, accuracy and validation cost/accuracy, then consults the callbacks (early stopping is
one).

A non-finite cost stops training with ``TrainingDivergedError``, which names the iteration and
suggests a smaller learning rate; parameters and buffers are left at the last state whose
cost was finite.

Randomness (validation split, shuffles, flips, dropout masks) comes from independent streams
spawned from ``seed`` (or, without one, from the network's ``training_rng``): the same seed
gives bitwise the same run, and turning flips on does not change the shuffles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from nnscratch.base.errors import TrainingDivergedError
from nnscratch.base.validation import (
    all_finite,
    check_positive,
    check_same_length,
    check_seed,
    check_X,
)
from nnscratch.train.augment import flip_horizontal, image_view
from nnscratch.train.callbacks import Callback, EarlyStopping, PrintCost
from nnscratch.train.optimizers import Optimizer, get_optimizer, is_weight
from nnscratch.train.schedules import Schedule, get_schedule


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


# ---- where a run stands (checkpoints and resume) ----------------------------------------
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

    _COUNTERS = ("step", "epoch", "offset", "seen")

    def state_dict(self) -> dict:
        """Copies, as plain data: counters, ``order``, ``optimizer`` (its ``state_dict()``),
        ``rngs`` (each generator's ``bit_generator.state``), ``history`` (``to_dict()``) and
        ``callbacks`` ({"<position>:<class>": state_dict()} of callbacks that have one)."""
        return {
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


# ---- L2 regularisation ------------------------------------------------------------------
class L2Penalty:
    """The article series' L2 regularisation of the weights (not biases, not gamma/beta):

    cost += lambda / (2 m) * sum_l ||W_l||_F^2          (compute_cost_with_regularization)
    dW_l += lambda / m * W_l                            (backward_propagation_with_regularization)

    m is the size of the training set, also for mini-batches: then each batch's cost is an
    unbiased estimate of the full regularised cost.
    """

    def __init__(self, lam: float, m: int, names: Sequence[str]):
        self.lam, self.m, self.names = float(lam), int(m), list(names)
        self._scratch: dict[str, np.ndarray] = {}

    def cost(self, params: dict[str, np.ndarray]) -> float:
        total = sum(float(np.vdot(params[k], params[k])) for k in self.names)
        return self.lam / (2 * self.m) * total

    def add_gradients(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """grads[W] += lambda / m * W, in place, for every weight."""
        for k in self.names:
            W = params[k]
            buf = self._scratch.get(k)
            if buf is None:
                buf = self._scratch[k] = np.empty_like(W)
            np.multiply(W, W.dtype.type(self.lam / self.m), out=buf)
            grads[k] += buf


# ---- the loop -----------------------------------------------------------------------------
def fit(
    net,
    X,
    y,
    *,
    learning_rate: float = 0.0075,
    iterations: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: str | Optimizer = "gd",
    optimizer_options: dict | None = None,
    lr_schedule: str | None = None,
    schedule_options: dict | None = None,
    l2: float = 0.0,
    validation_data: tuple | None = None,
    validation_fraction: float | None = None,
    early_stopping: bool = False,
    patience: int = 10,
    augment_flip: bool = False,
    image_shape: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    print_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    eval_train: bool | None = None,
    resume: dict | None = None,
) -> History:
    """Train ``net`` on X (m, n_x) (or (m, H, W, C) images for a CNN) and y (m,) (class
    indices, or (m, K) one-hot for softmax). Returns a ``History``.

    Args:
        learning_rate: the base step size (an ``Optimizer`` instance brings its own).
        iterations: number of updates (full-batch or mini-batch steps); or
        epochs: number of passes over the data. Default: 2500 iterations.
        batch_size: samples per update; None (or >= m) trains on the full batch.
        optimizer: "gd", "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw" or an
            ``Optimizer`` instance (its state carries over between fits).
        optimizer_options: the optimizer's options, e.g. {"beta": 0.9} (momentum, nesterov,
            rmsprop), {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8} (adam),
            {"weight_decay": 0.01} (adamw).
        lr_schedule: None (constant), "step", "exponential" or "cosine"; a function of the
            update count (see ``nnscratch.train.schedules``), with ``schedule_options``.
        l2: the L2 penalty lambda: cost += lambda/(2m) sum ||W||^2 (weights only).
        validation_data: (X_val, y_val) evaluated after every epoch; or
        validation_fraction: hold out this fraction of (X, y) for validation (stratified by
            class for classifiers, drawn with the seed).
        early_stopping: stop after ``patience`` epochs without a lower validation cost and
            restore the parameters of the best epoch; uses validation_fraction=0.1 when no
            validation data is given.
        augment_flip: flip each training image left-right with probability 1/2, afresh every
            time it is used; ``image_shape`` = (H, W, C) unflattens (m, n_x) inputs (for the
            cat data (64, 64, 3)).
        shuffle: shuffle the samples every epoch (mini-batches only).
        seed: seed of shuffles, validation split, flips and dropout masks. None: drawn from
            ``net.training_rng``, itself seeded by the network's seed.
        print_every: print "Cost after iteration N: C" every N iterations.
        callbacks: ``Callback`` objects (see ``nnscratch.train.callbacks``).
        eval_train: record ``train_accuracy`` every epoch (one extra inference pass over the
            training data per epoch). None: yes for classifiers trained by epochs,
            mini-batches or with validation data; no for the article's full-batch
            iterations, where every iteration is an epoch.
        resume: a ``TrainingState.state_dict()`` of an earlier run with the same data and
            arguments, taken when the network had the parameters and buffers it has now:
            training continues from there exactly (see ``TrainingState``).

    Raises:
        ValueError: a bad argument (the message names it and what is allowed).
        TrainingDivergedError: the cost became NaN or infinite.
    """
    # ---- arguments --------------------------------------------------------------------
    if iterations is not None and epochs is not None:
        raise ValueError(
            f"give iterations or epochs, not both; got iterations={iterations!r}, epochs={epochs!r}"
        )
    if epochs is not None:
        epochs = check_positive("epochs", epochs, integer=True)
    elif iterations is not None:
        iterations = check_positive("iterations", iterations, integer=True)
    else:
        iterations = 2500
    if not isinstance(optimizer, Optimizer):
        learning_rate = check_positive("learning_rate", learning_rate)
    elif optimizer_options:
        raise ValueError("optimizer_options apply to an optimizer name, not to an instance")
    l2 = check_positive("l2", l2, allow_zero=True)
    patience = check_positive("patience", patience, integer=True)
    if batch_size is not None:
        batch_size = check_positive("batch_size", batch_size, integer=True)
    if print_every:
        print_every = check_positive("print_every", print_every, integer=True)
    if validation_data is not None and validation_fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if early_stopping and validation_data is None and validation_fraction is None:
        validation_fraction = 0.1

    X = check_X(X, net.input_shape, net.dtype)
    check_same_length(X, y)
    Y = net.loss.encode_targets(y, net.n_outputs, net.dtype)  # (m, n_L)
    split_rng, shuffle_rng, flip_rng, dropout_rng = _training_rngs(net, seed)

    X_val = Y_val = None
    if validation_fraction is not None:
        train_idx, val_idx = stratified_split(
            _labels(net, Y), validation_fraction, split_rng, m=X.shape[0]
        )
        X, X_val, Y, Y_val = X[train_idx], X[val_idx], Y[train_idx], Y[val_idx]
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(
                f"validation_data must be a pair (X_val, y_val); got {type(validation_data)}"
            )
        X_val = check_X(validation_data[0], net.input_shape, net.dtype)
        check_same_length(X_val, validation_data[1])
        Y_val = net.loss.encode_targets(validation_data[1], net.n_outputs, net.dtype)

    if augment_flip:
        if image_shape is None:
            if X.ndim != 4:
                raise ValueError(
                    "augment_flip needs image inputs (m, H, W, C) or image_shape=(H, W, C) "
                    f"for flattened inputs; got inputs of shape {X.shape} and no image_shape"
                )
            image_shape = X.shape[1:]
        image_view(X[:1], image_shape)  # raises if X are not such images
        image_shape = tuple(int(n) for n in image_shape)

    m = X.shape[0]
    B = m if batch_size is None else min(batch_size, m)
    steps_per_epoch = math.ceil(m / B)
    total_steps = iterations if iterations is not None else epochs * steps_per_epoch
    classifier = net.output_activation in ("sigmoid", "softmax")
    if eval_train is None:
        eval_train = iterations is None or B < m or X_val is not None
    eval_train = bool(eval_train) and classifier

    if isinstance(optimizer, Optimizer):
        opt = optimizer
    else:
        opt = get_optimizer(optimizer, learning_rate=learning_rate, **(optimizer_options or {}))
    schedule = get_schedule(lr_schedule, opt.learning_rate, total_steps, schedule_options)

    callbacks = list(callbacks)
    if early_stopping:  # first, so that later callbacks see the restored best parameters
        callbacks.insert(0, EarlyStopping(patience))
    if print_every:
        callbacks.append(PrintCost(print_every))

    run = _Run(
        net=net,
        X=X,
        Y=Y,
        X_val=X_val,
        Y_val=Y_val,
        batch_size=B,
        total_steps=total_steps,
        shuffle=shuffle and B < m,
        shuffle_rng=shuffle_rng,
        flip_rng=flip_rng if augment_flip else None,
        image_shape=image_shape,
        l2=L2Penalty(l2, m, [k for k in net.parameters if is_weight(k)]) if l2 else None,
        opt=opt,
        schedule=schedule,
        callbacks=callbacks,
        eval_train=eval_train,
        classifier=classifier,
    )
    history = History()
    state = TrainingState(
        opt, {"shuffle": shuffle_rng, "flip": flip_rng, "dropout": dropout_rng}, history, callbacks
    )
    for cb in callbacks:
        try:
            cb.training_state = state
        except AttributeError:  # a callback with __slots__ does without
            pass
    saved_rng = getattr(net, "training_rng", None)
    _set_training_rng(net, dropout_rng)
    try:
        for cb in callbacks:
            cb.on_train_begin(net, history)
        if resume is not None:
            state.load_state_dict(resume)
            if state.order is not None and state.order.shape != (X.shape[0],):
                raise ValueError(
                    f"resume state shuffles {state.order.shape[0]} samples; this run has "
                    f"{X.shape[0]}"
                )
        # A diverging run overflows; it is caught by the finiteness checks, with a clear
        # error, instead of a stream of RuntimeWarnings.
        with np.errstate(over="ignore", invalid="ignore"):
            run.loop(history, state)
    finally:
        _set_training_rng(net, saved_rng)
    if history.best_epoch is None and np.isfinite(history.val_cost).any():
        history.best_epoch = int(np.nanargmin(history.val_cost)) + 1
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history


@dataclass
class _Run:
    """One training run's fixed inputs; ``loop`` does the work."""

    net: Any  # a Network or ConvNetwork (duck-typed: parameters, buffers, _logits, ...)
    X: np.ndarray  # (m, ...) training inputs, the network's dtype
    Y: np.ndarray  # (m, n_L) encoded targets
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    batch_size: int
    total_steps: int
    shuffle: bool
    shuffle_rng: np.random.Generator
    flip_rng: np.random.Generator | None
    image_shape: Sequence[int] | None  # set when flip_rng is
    l2: L2Penalty | None
    opt: Optimizer
    schedule: Schedule
    callbacks: list
    eval_train: bool
    classifier: bool

    def loop(self, history: History, st: TrainingState) -> None:
        net, X, Y, B = self.net, self.X, self.Y, self.batch_size
        m = X.shape[0]
        params = net.parameters  # the live arrays, updated in place
        state = {**params, **net.buffers}
        last_good = {k: a.copy() for k, a in state.items()}  # the last state with finite cost
        full_batch = B >= m and self.flip_rng is None
        if not full_batch:  # reused batch buffers: no allocation per batch
            X_buf = np.empty((B, *X.shape[1:]), dtype=X.dtype)
            Y_buf = np.empty((B, Y.shape[1]), dtype=Y.dtype)
        # st.offset > 0: inside an epoch (a resumed run), which is finished before the next
        while st.step < self.total_steps or st.offset > 0:
            if st.offset == 0:
                st.epoch += 1
                st.order = self.shuffle_rng.permutation(m) if self.shuffle else None
                st.cost_sum, st.seen = 0.0, 0
            order, stop = st.order, False
            for start in range(st.offset, m, B):
                if st.step >= self.total_steps:
                    break
                n = min(B, m - start)
                if full_batch:
                    Xb, Yb = X, Y
                elif order is not None:
                    idx = order[start : start + n]
                    Xb = np.take(X, idx, axis=0, out=X_buf[:n])
                    Yb = np.take(Y, idx, axis=0, out=Y_buf[:n])
                else:
                    Xb, Yb = X[start : start + n], Y[start : start + n]
                if self.flip_rng is not None:
                    assert self.image_shape is not None
                    which = self.flip_rng.random(n) < 0.5
                    Xb = flip_horizontal(Xb, which, self.image_shape, out=X_buf[:n])

                cost, grads = net._cost_and_gradients(Xb, Yb, training=True)
                if self.l2 is not None:
                    cost += self.l2.cost(params)
                    self.l2.add_gradients(params, grads)
                if not np.isfinite(cost):
                    _restore(state, last_good)
                    raise TrainingDivergedError(st.step + 1, cost, self.opt.learning_rate)
                st.step += 1
                history.costs.append(cost)
                st.cost_sum += cost * n
                st.seen += n
                for k, a in state.items():
                    np.copyto(last_good[k], a)
                self.opt.step(params, grads, learning_rate=self.schedule(st.step - 1))
                del grads  # spent: freed before the next backward pass allocates its own
                st.offset = start + n
                if any([cb.on_iteration_end(net, st.step, cost, history) for cb in self.callbacks]):
                    stop = True
                    break
            st.offset = 0
            history.train_cost.append(st.cost_sum / st.seen)
            self._evaluate(history)
            if any([cb.on_epoch_end(net, st.epoch, history) for cb in self.callbacks]) or stop:
                break
        # a non-finite last update shows in no cost: check the parameters themselves
        if not all(all_finite(p) for p in params.values()):
            _restore(state, last_good)
            raise TrainingDivergedError(st.step + 1, float("nan"), self.opt.learning_rate)

    def _evaluate(self, history: History) -> None:
        """The end-of-epoch records, in inference mode."""
        net = self.net
        if self.eval_train:
            history.train_accuracy.append(_accuracy(net, net._logits(self.X), self.Y))
        if self.X_val is not None:
            assert self.Y_val is not None, "validation inputs come with their targets"
            Z = net._logits(self.X_val)
            history.val_cost.append(float(net.loss.cost(Z, self.Y_val)))
            if self.classifier:
                history.val_accuracy.append(_accuracy(net, Z, self.Y_val))


def _accuracy(net, Z: np.ndarray, Y: np.ndarray) -> float:
    """Accuracy of logits Z (m, n_L) against encoded targets Y, with ``predict``'s rule."""
    P = net.loss.activation.forward(Z)
    if net.output_activation == "softmax":
        return float(np.mean(P.argmax(axis=1) == Y.argmax(axis=1)))
    return float(np.mean((P >= 0.5) == (Y >= 0.5)))


def _labels(net, Y: np.ndarray) -> np.ndarray | None:
    """Class labels (m,) to stratify by, or None (regression, multi-label outputs)."""
    if net.output_activation == "softmax":
        return Y.argmax(axis=1)
    if net.output_activation == "sigmoid" and Y.shape[1] == 1:
        return Y[:, 0].astype(np.int64)
    return None


def stratified_split(
    labels: np.ndarray | None, fraction: float, rng: np.random.Generator, m: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), each sorted, holding out ceil(fraction * m) samples.

    With ``labels`` (m,) every class keeps its share in both parts (largest remainders
    settle the rounding); with None (then give ``m``) the split is plain random.
    """
    if labels is not None:
        m = len(labels)
    elif m is None:
        raise ValueError("stratified_split needs labels or the number of samples m")
    fraction = check_positive("validation_fraction", fraction)
    if fraction >= 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {fraction!r}")
    n_val = math.ceil(fraction * m)
    if n_val >= m:
        raise ValueError(f"validation_fraction={fraction!r} of {m} samples leaves none to train on")
    if labels is None:
        val = rng.permutation(m)[:n_val]
    else:
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        quotas = counts * (n_val / m)
        take = np.floor(quotas).astype(np.int64)
        remainder = quotas - take
        for c in np.argsort(-remainder, kind="stable")[: n_val - int(take.sum())]:
            take[c] += 1
        val = np.concatenate(
            [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
        )
    is_val = np.zeros(m, dtype=bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _training_rngs(net, seed) -> list[np.random.Generator]:
    """Four independent generators: validation split, shuffles, flips, dropout masks."""
    if seed is None:
        rng = getattr(net, "training_rng", None)
        if rng is None:  # a network class without its own training generator
            net_seed = getattr(net, "seed", None)
            rng = np.random.default_rng(None if net_seed is None else [net_seed, 1])
            net.training_rng = rng
        entropy = rng.integers(0, 2**63, size=4)
    else:
        entropy = check_seed(seed)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(4)]


def _set_training_rng(net, rng: np.random.Generator | None) -> None:
    """Point the network's dropout layers at ``rng``."""
    if rng is None:
        return
    setter = getattr(net, "set_training_rng", None)
    if setter is not None:
        setter(rng)
    else:
        for layer in net.layers:
            if layer.stochastic:
                layer.rng = rng


def _restore(live: dict[str, np.ndarray], saved: dict[str, np.ndarray]) -> None:
    for k, a in live.items():
        np.copyto(a, saved[k])
