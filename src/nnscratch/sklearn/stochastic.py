"""Training by mini-batches: scikit-learn's MLP epoch loop, on the network's own gradients.

Each call (a ``fit``, or one epoch of ``partial_fit``) runs up to ``max_iter`` epochs: shuffle
the sample indices (``sklearn.utils.shuffle`` with the estimator's RandomState), then one
solver step per batch of ``batch_size`` ("auto": min(200, n)). After each epoch:

- ``loss_`` = the batch losses weighted by batch size (each batch's loss before its step, L2
  penalty included), appended to ``loss_curve_``; ``t_`` += samples of the epoch;
- with ``early_stopping``: the validation score (accuracy / R^2 of the held-out
  ``validation_fraction``) is appended to ``validation_scores_``, and the best-scoring
  parameters are kept (restored at the end); no improvement means a score below the best
  score + tol; else no improvement means a loss above the best loss - tol;
- after more than ``n_iter_no_change`` epochs without improvement the solver decides
  (``trigger_stopping``): stop, or (adaptive) lower the learning rate and go on.

``n_iter_`` counts this call's epochs, as scikit-learn counts them (so 1 after a
``partial_fit``); reaching ``max_iter`` warns with ConvergenceWarning.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, shuffle

from nnscratch.sklearn.objective import loss_and_gradients
from nnscratch.train.schedules import get_schedule

__all__ = ["fit_stochastic"]


def _split(est, X, Y, sample_weight):
    """(X_train, X_val, Y_train, y_val, w_train, w_val): scikit-learn's held-out split,
    stratified for a classifier of one output unit (two classes), on the binarized targets, as
    scikit-learn does."""
    stratify = Y if is_classifier(est) and Y.shape[1] == 1 else None
    arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
    parts = train_test_split(
        *arrays,
        random_state=est._random_state,
        test_size=est.validation_fraction,
        stratify=stratify,
    )
    X_train, X_val, Y_train, Y_val = parts[:4]
    w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' or the size of "
            "your dataset."
        )
    return X_train, X_val, Y_train, est._decode_targets(Y_val), w_train, w_val


def _batch_size(est, n_samples: int) -> int:
    if est.batch_size == "auto":
        return min(200, n_samples)
    if est.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
            stacklevel=5,
        )
    return int(np.clip(est.batch_size, 1, n_samples))


def _no_improvement(est, early_stopping: bool, X_val, y_val, w_val) -> None:
    if early_stopping:
        score = est._score_on(X_val, y_val, w_val)
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_state = est._copy_state()
    else:
        loss = est.loss_curve_[-1]
        if loss > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        est.best_loss_ = min(est.best_loss_, loss)


def fit_stochastic(est, net, X, Y: np.ndarray, sample_weight, incremental: bool) -> None:
    """Train ``net`` (``est.network_``) on X (n, n_features), encoded Y (n, n_outputs)."""
    if not incremental or not hasattr(est, "_optimizer"):
        est._optimizer = est._new_solver()
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = bool(est.early_stopping)
    if early_stopping:
        X_train, X_val, Y_train, y_val, w_train, w_val = _split(est, X, Y, sample_weight)
    else:
        X_train, Y_train, w_train = X, Y, sample_weight
        X_val = y_val = w_val = None
    n_samples = X_train.shape[0]
    sample_idx = np.arange(n_samples, dtype=int)
    batch_size = _batch_size(est, n_samples)
    schedule = None
    if est.lr_schedule is not None and not incremental:
        schedule = get_schedule(
            est.lr_schedule, est.learning_rate_init, int(est.max_iter), est.schedule_options
        )
    params = net.parameters
    try:
        est.n_iter_ = 0
        for epoch in range(int(est.max_iter)):
            if schedule is not None:
                est._optimizer.set_base_rate(schedule(epoch))
            if est.shuffle:
                sample_idx = shuffle(sample_idx, random_state=est._random_state)
            accumulated_loss = 0.0
            for batch in gen_batches(n_samples, batch_size):
                idx = sample_idx[batch] if est.shuffle else batch
                w_batch = None if w_train is None else w_train[idx]
                batch_loss, grads = loss_and_gradients(
                    net, X_train[idx], Y_train[idx], w_batch, est.alpha
                )
                accumulated_loss += batch_loss * (batch.stop - batch.start)
                est._optimizer.update_params(params, grads)
            est.n_iter_ += 1
            est.loss_ = accumulated_loss / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
            _no_improvement(est, early_stopping, X_val, y_val, w_val)
            est._optimizer.iteration_ends(est.t_)
            if est._no_improvement_count > est.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                msg = (
                    f"{what} did not improve more than tol={est.tol:f} for "
                    f"{est.n_iter_no_change} consecutive epochs."
                )
                if est._optimizer.trigger_stopping(msg, est.verbose):
                    break
                est._no_improvement_count = 0
            if incremental:
                break
            if est.n_iter_ == est.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=4)
    if early_stopping:
        est._restore_state(est._best_state)
