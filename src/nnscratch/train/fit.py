"""``fit``: a training run's setup, around the loop.

``fit`` checks its arguments, encodes the targets, holds out validation data, spawns the
random streams, builds the optimizer, the learning-rate schedule and the callbacks, restores a
resumed run, then hands over to the loop, whose every step is one ``train_step``:

    step.py             train_step: forward -> cost (+ L2) -> backward -> update, one batch
    gram.py             GramPath: the same step without the first layer's wide products, an
                        exact rewrite chosen where it applies (gd/momentum/nesterov, fixed X)
    loop.py             Loop: epochs of batches, the records, the callbacks, divergence
    batches.py          Batches: the (mini-)batches of an epoch, shuffled and flipped
    state.py            History (what training recorded), TrainingState (where a run stands)
    regularization.py   L2Penalty
    split.py            stratified_split: the validation split
    randomness.py       the run's independent random streams, from one seed

The names of those modules that callers use are importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nnscratch.base.validation import check_positive, check_same_length, check_X
from nnscratch.train.augment import image_view
from nnscratch.train.batches import Batches
from nnscratch.train.callbacks import Callback, EarlyStopping, PrintCost
from nnscratch.train.gram import GramPath, one_blas_thread, why_not
from nnscratch.train.loop import Loop
from nnscratch.train.optimizers import Optimizer, get_optimizer, is_weight
from nnscratch.train.randomness import dropout_rng, training_rngs
from nnscratch.train.regularization import L2Penalty
from nnscratch.train.schedules import get_schedule
from nnscratch.train.split import stratified_split, stratify_labels
from nnscratch.train.state import History, TrainingState
from nnscratch.train.step import train_step

__all__ = ["History", "L2Penalty", "TrainingState", "fit", "stratified_split", "train_step"]

#: Updates when neither iterations nor epochs are given (the article's 2500).
DEFAULT_ITERATIONS = 2500


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
    gram_path: bool = True,
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
        gram_path: take the Gram-matrix fast path where it is exact (``nnscratch.train.gram``:
            gradient descent, momentum or Nesterov, L2 or not, on the fixed training inputs of
            a network whose first layer is dense); False: always the article's products. The
            two give the same parameters to float rounding.

    Raises:
        ValueError: a bad argument (the message names it and what is allowed).
        TrainingDivergedError: the cost became NaN or infinite.
    """
    iterations, epochs = _check_length(iterations, epochs)
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
    rngs = training_rngs(net, seed)
    X, Y, X_val, Y_val = _hold_out(net, X, Y, validation_data, validation_fraction, rngs["split"])
    if augment_flip:
        image_shape = _flip_image_shape(X, image_shape)

    m = X.shape[0]
    B = m if batch_size is None else min(batch_size, m)
    total_steps = iterations if iterations is not None else epochs * math.ceil(m / B)
    classifier = net.output_activation in ("sigmoid", "softmax")
    if eval_train is None:
        eval_train = iterations is None or B < m or X_val is not None
    eval_train = bool(eval_train) and classifier

    if isinstance(optimizer, Optimizer):
        opt = optimizer
    else:
        opt = get_optimizer(optimizer, learning_rate=learning_rate, **(optimizer_options or {}))
    callbacks = list(callbacks)
    if early_stopping:  # first, so that later callbacks see the restored best parameters
        callbacks.insert(0, EarlyStopping(patience))
    if print_every:
        callbacks.append(PrintCost(print_every))

    batches = Batches(X, Y, B, rngs["flip"] if augment_flip else None, image_shape)
    l2_penalty = L2Penalty(l2, m, [k for k in net.parameters if is_weight(k)]) if l2 else None
    loop = Loop(
        net=net,
        batches=batches,
        X_val=X_val,
        Y_val=Y_val,
        total_steps=total_steps,
        shuffle=shuffle and B < m,
        shuffle_rng=rngs["shuffle"],
        l2=l2_penalty,
        optimizer=opt,
        schedule=get_schedule(lr_schedule, opt.learning_rate, total_steps, schedule_options),
        callbacks=callbacks,
        eval_train=eval_train,
        classifier=classifier,
    )
    history = History()
    run_rngs = {name: rngs[name] for name in ("shuffle", "flip", "dropout")}
    state = TrainingState(opt, run_rngs, history, callbacks)
    for cb in callbacks:
        try:
            cb.training_state = state
        except AttributeError:  # a callback with __slots__ does without
            pass
    with dropout_rng(net, rngs["dropout"]):
        if gram_path and why_not(net, batches, opt) is None:
            with one_blas_thread():
                loop.gram = state.fast_path = GramPath(net, X, opt, l2_penalty)
        try:
            for cb in callbacks:
                cb.on_train_begin(net, history)
            if resume is not None:
                _resume(state, resume, m)
            # A diverging run overflows; it is caught by the finiteness checks, with a clear
            # error, instead of a stream of RuntimeWarnings.
            with np.errstate(over="ignore", invalid="ignore"):
                loop.run(history, state)
        finally:  # W1 written back, the network and optimizer plain again
            if loop.gram is not None:
                loop.gram.close()
    if history.best_epoch is None and np.isfinite(history.val_cost).any():
        history.best_epoch = int(np.nanargmin(history.val_cost)) + 1
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history


def _check_length(iterations, epochs) -> tuple[int | None, int | None]:
    """(iterations, epochs), one of them None: how long to train."""
    if iterations is not None and epochs is not None:
        raise ValueError(
            f"give iterations or epochs, not both; got iterations={iterations!r}, epochs={epochs!r}"
        )
    if epochs is not None:
        return None, check_positive("epochs", epochs, integer=True)
    if iterations is not None:
        return check_positive("iterations", iterations, integer=True), None
    return DEFAULT_ITERATIONS, None


def _hold_out(net, X, Y, validation_data, validation_fraction, rng):
    """(X, Y, X_val, Y_val): the training data, and the validation data (None without)
    either held out of (X, Y) (stratified by class) or checked and encoded."""
    if validation_fraction is not None:
        train_idx, val_idx = stratified_split(
            stratify_labels(net.output_activation, Y), validation_fraction, rng, m=X.shape[0]
        )
        return X[train_idx], Y[train_idx], X[val_idx], Y[val_idx]
    if validation_data is None:
        return X, Y, None, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError(
            f"validation_data must be a pair (X_val, y_val); got {type(validation_data)}"
        )
    X_val = check_X(validation_data[0], net.input_shape, net.dtype)
    check_same_length(X_val, validation_data[1])
    Y_val = net.loss.encode_targets(validation_data[1], net.n_outputs, net.dtype)
    return X, Y, X_val, Y_val


def _flip_image_shape(X: np.ndarray, image_shape) -> tuple[int, ...]:
    """(H, W, C) of the images to flip: ``image_shape``, else X's own (m, H, W, C)."""
    if image_shape is None:
        if X.ndim != 4:
            raise ValueError(
                "augment_flip needs image inputs (m, H, W, C) or image_shape=(H, W, C) "
                f"for flattened inputs; got inputs of shape {X.shape} and no image_shape"
            )
        image_shape = X.shape[1:]
    image_view(X[:1], image_shape)  # raises if X are not such images
    return tuple(int(n) for n in image_shape)


def _resume(state: TrainingState, resume: dict, m: int) -> None:
    state.load_state_dict(resume)
    if state.order is not None and state.order.shape != (m,):
        raise ValueError(f"resume state shuffles {state.order.shape[0]} samples; this run has {m}")
