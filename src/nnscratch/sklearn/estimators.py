"""scikit-learn estimators around ``Network``: ``MLPClassifier`` and ``MLPRegressor``.

    from nnscratch import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(20, 7, 5), random_state=0).fit(X_train, y_train)
    clf.score(X_test, y_test)

They follow scikit-learn's conventions (every hyperparameter a constructor argument, fitted
attributes end in ``_``, ``clone``/``Pipeline``/``GridSearchCV`` work) and pass its
``check_estimator``. The training itself is ``Network.fit``: each epoch is one pass of
mini-batches over the data, and training stops, as scikit-learn's MLP does, when the epoch's
training loss has not improved by ``tol`` for ``n_iter_no_change`` epochs in a row (or, with
``early_stopping``, when the validation cost stops improving), else after ``max_iter`` epochs.

Arrays are samples-first: X (n_samples, n_features); y (n_samples,) labels of any type for the
classifier (two classes: one sigmoid output; more: softmax), (n_samples,) or
(n_samples, n_outputs) numbers for the regressor (identity output, squared error).

Needs scikit-learn (``pip install 'nnscratch[sklearn]'``).
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nnscratch.base.validation import (
    check_choice,
    check_dtype,
    check_flag,
    check_fraction,
    check_layer_widths,
    check_positive,
    check_probability,
)
from nnscratch.base.validation import (
    check_random_state as check_random_state_param,
)
from nnscratch.models.network import Network
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS
from nnscratch.nn.initializers import INITIALIZERS, get_initializer, glorot_uniform
from nnscratch.train.callbacks import Callback, EarlyStopping
from nnscratch.train.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from nnscratch.train.schedules import SCHEDULES

__all__ = ["MLPClassifier", "MLPRegressor", "PreprocessorStep"]

_MAX_SEED = 2**31 - 1


class _EpochMonitor(Callback):
    """Records the training loss of every epoch and stops training the way scikit-learn's MLP
    does: after more than ``n_iter_no_change`` consecutive epochs whose loss is not below the
    best loss so far minus ``tol``.

    The epoch's loss is ``History.train_cost``: the mean of its mini-batch costs (weighted by
    batch size) before each update, L2 penalty included.
    """

    def __init__(self, tol: float, n_iter_no_change: int, check_convergence: bool, verbose):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.check_convergence = check_convergence
        self.verbose = verbose
        self.losses: list[float] = []
        self.converged = False
        self._no_improvement = 0
        self._best = np.inf

    def on_epoch_end(self, net, epoch, history):
        loss = float(history.train_cost[-1])
        self.losses.append(loss)
        if self.verbose:
            print(f"Iteration {len(self.losses)}, loss = {loss:.8f}")
        if not self.check_convergence:
            return None
        self._no_improvement = self._no_improvement + 1 if loss > self._best - self.tol else 0
        self._best = min(self._best, loss)
        if self._no_improvement > self.n_iter_no_change:
            self.converged = True
            if self.verbose:
                print(
                    f"Training loss did not improve more than tol={self.tol} for "
                    f"{self.n_iter_no_change} consecutive epochs. Stopping."
                )
            return True
        return None


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, checks and the fit loop."""

    _output_activation_for_regression = "identity"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        optimizer="adam",
        learning_rate=0.001,
        optimizer_options=None,
        lr_schedule=None,
        schedule_options=None,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        l2=1e-4,
        dropout=None,
        batch_norm=False,
        architecture=None,
        image_shape=None,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        init="glorot_uniform",
        dtype=None,
        warm_start=False,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_options = optimizer_options
        self.lr_schedule = lr_schedule
        self.schedule_options = schedule_options
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.l2 = l2
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.architecture = architecture
        self.image_shape = image_shape
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.init = init
        self.dtype = dtype
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ---- checks of the hyperparameters (at fit time, as scikit-learn requires) ------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)  # one hidden layer (a bool is then refused by the rule)
        return list(check_layer_widths("hidden_layer_sizes", sizes))

    def _check_params(self) -> None:
        """Every hyperparameter by its rule in nnscratch.base.validation (the rules of the
        networks, the recipe, the search space and the command line)."""
        if self.architecture is None:
            self._hidden_sizes()
            check_choice("activation", self.activation, HIDDEN_ACTIVATIONS)
            if self.dropout is None or isinstance(self.dropout, numbers.Real):
                check_probability("dropout", self.dropout, allow=(None,))  # one per layer: Network
            check_flag("batch_norm", self.batch_norm)
        if not isinstance(self.optimizer, Optimizer):
            check_choice("optimizer", self.optimizer, sorted(OPTIMIZERS))
        check_positive("learning_rate", self.learning_rate)
        check_choice("lr_schedule", self.lr_schedule, (None, *sorted(SCHEDULES)))
        check_positive("batch_size", self.batch_size, integer=True, allow=("auto",))
        check_positive("max_iter", self.max_iter, integer=True)
        check_positive("n_iter_no_change", self.n_iter_no_change, integer=True)
        check_positive("tol", self.tol, allow_zero=True)
        check_positive("l2", self.l2, allow_zero=True)
        check_flag("early_stopping", self.early_stopping)
        check_fraction("validation_fraction", self.validation_fraction)
        check_flag("shuffle", self.shuffle)
        check_choice("init", self.init, sorted(INITIALIZERS))
        check_flag("warm_start", self.warm_start)
        check_random_state_param(self.random_state)
        if self.optimizer_options is not None and not isinstance(self.optimizer_options, dict):
            raise ValueError(
                f"optimizer_options must be a dict or None; got {self.optimizer_options!r}"
            )

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str):
            # "auto": at most 200 samples a batch, as scikit-learn's MLP, but in batches of
            # equal size (209 samples: 105 + 104, not 200 + a noisy step on 9)
            n_batches = -(-n_samples // 200)
            return -(-n_samples // n_batches)
        if self.batch_size > n_samples:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_samples} samples; "
                f"using {n_samples}",
                UserWarning,
                stacklevel=5,  # the caller of fit / partial_fit
            )
        return min(int(self.batch_size), n_samples)

    # ---- building and training ----------------------------------------------------------
    def _new_network(
        self, n_features: int, n_outputs: int, output_activation: str, seed: int, dtype
    ):
        if self.architecture is not None:  # a convolutional network on flattened images
            from nnscratch.models.conv import ConvNetwork

            shape = self.image_shape
            if shape is None or int(np.prod(shape)) != n_features:
                raise ValueError(
                    f"architecture needs image_shape=(H, W, C) with H*W*C == n_features "
                    f"({n_features}); got image_shape={shape!r}"
                )
            return ConvNetwork(
                self.architecture,
                input_shape=tuple(shape),
                n_outputs=n_outputs,
                output_activation=output_activation,
                init=self.init,
                seed=seed,
                dtype=dtype,
                flat_input=True,
            )
        net = Network(
            [n_features, *self._hidden_sizes(), n_outputs],
            hidden_activation=self.activation,
            output_activation=output_activation,
            init=self.init,
            seed=seed,
            dtype=dtype,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
        )
        if get_initializer(self.init) is glorot_uniform:
            _draw_glorot_uniform_biases(net, np.random.default_rng([seed, 2]))
        return net

    def _new_optimizer(self):
        return get_optimizer(
            self.optimizer, learning_rate=self.learning_rate, **(self.optimizer_options or {})
        )

    def _train(self, X, Y, *, epochs: int, incremental: bool) -> None:
        """Run ``Network.fit`` for up to ``epochs`` epochs on checked X and encoded targets Y,
        with this estimator's optimizer instance (its state survives between calls), and
        record the epoch losses."""
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        monitor = _EpochMonitor(
            tol=float(self.tol),
            n_iter_no_change=int(self.n_iter_no_change),
            check_convergence=not incremental and not self.early_stopping,
            verbose=self.verbose,
        )
        callbacks: list[Callback] = [monitor]
        options = {}
        if self.early_stopping:
            # fit's early stopping, with scikit-learn's tol: an epoch improves on the best
            # validation cost only when lower by more than tol
            callbacks.insert(0, EarlyStopping(int(self.n_iter_no_change), min_delta=self.tol))
            options = {"validation_fraction": float(self.validation_fraction)}
        n_train = X.shape[0]
        if self.early_stopping:
            n_train = X.shape[0] - int(np.ceil(self.validation_fraction * X.shape[0]))
        history = self.network_.fit(
            X,
            Y,
            epochs=epochs,
            batch_size=self._batch_size(max(n_train, 1)),
            optimizer=self._optimizer,
            # a schedule spans one fit; partial_fit's single epochs keep the base rate
            lr_schedule=None if incremental else self.lr_schedule,
            schedule_options=None if incremental else self.schedule_options,
            l2=float(self.l2),
            shuffle=bool(self.shuffle),
            seed=int(self._rng.randint(_MAX_SEED)),
            callbacks=callbacks,
            eval_train=False,
            **options,
        )
        self.loss_curve_ = [*getattr(self, "loss_curve_", []), *monitor.losses]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        self.n_iter_ = getattr(self, "n_iter_", 0) + len(monitor.losses)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else float("nan")
        if self.early_stopping:
            self.validation_loss_curve_: list[float] | None = list(history.val_cost)
        elif not hasattr(self, "validation_loss_curve_"):
            self.validation_loss_curve_ = None
        if (
            not incremental
            and not monitor.converged
            and not history.stopped_early
            and len(monitor.losses) >= epochs
        ):
            warnings.warn(
                f"{type(self).__name__}: the maximum number of epochs (max_iter={epochs}) was "
                "reached and the training loss has not converged yet",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit
            )

    def _input_dtypes(self, reuse: bool):
        """The dtype(s) X may keep (``validate_data`` converts any other to the first): the
        fitted network's when training continues; else ``dtype``'s; for None, float32 input
        stays float32 and any other becomes float64, as in scikit-learn's MLP."""
        if reuse:
            return self.network_.dtype
        if self.dtype is None:
            return [np.float64, np.float32]
        return check_dtype(self.dtype)

    def _fit(self, X, y, *, incremental: bool, classes=None):
        self._check_params()
        reuse = hasattr(self, "network_") and (incremental or self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            reset=not reuse,
            dtype=self._input_dtypes(reuse),
            order="C",
            multi_output=self._multi_output,
            y_numeric=not self._is_classifier,
        )
        Y, n_outputs, output_activation = self._encode_targets(y, first=not reuse, classes=classes)
        if not reuse:
            self._rng = check_random_state(self.random_state)
            self.network_ = self._new_network(
                X.shape[1], n_outputs, output_activation, int(self._rng.randint(_MAX_SEED)), X.dtype
            )
            self._optimizer = self._new_optimizer()
            for name in ("loss_curve_", "n_iter_", "validation_loss_curve_"):
                self.__dict__.pop(name, None)
        elif not incremental:  # warm start: a new optimizer, the network's weights kept
            self._optimizer = self._new_optimizer()
        self._train(X, Y, epochs=1 if incremental else int(self.max_iter), incremental=incremental)
        return self

    def _checked_X(self, X) -> np.ndarray:
        """New X (n_samples, n_features) checked against the fitted one, in the network's
        dtype."""
        check_is_fitted(self, "network_")
        return validate_data(self, X, reset=False, dtype=self.network_.dtype, order="C")

    def _logits(self, X) -> np.ndarray:
        """Z_L (n_samples, n_outputs) for new X, in inference mode, a batch at a time."""
        X = self._checked_X(X)  # first: an unfitted estimator has no network_
        return self.network_.logits(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A deep fully connected classifier trained by backpropagation (``nnscratch.Network``).

    Two classes get one sigmoid output unit and binary cross-entropy; K > 2 classes get K
    softmax units and categorical cross-entropy. Labels may be of any type (ints, strings...):
    they are encoded as indices into ``classes_`` and decoded by ``predict``.

    Parameters:
        hidden_layer_sizes: units of each hidden layer, e.g. ``(20, 7, 5)``; ``()`` for none
            (logistic / softmax regression).
        activation: hidden activation, "relu", "leaky_relu", "tanh", "sigmoid" or "identity".
        optimizer: "adam" (default), "adamw", "gd", "sgd", "momentum", "nesterov", "rmsprop".
        learning_rate: the optimizer's step size.
        optimizer_options: extra optimizer arguments, e.g. ``{"beta1": 0.9}``; see
            ``nnscratch.train.optimizers``.
        lr_schedule, schedule_options: learning-rate schedule (None, "step", "exponential",
            "cosine") and its options, as ``Network.fit`` takes them.
        batch_size: samples per mini-batch; "auto": the fewest batches of at most 200 samples,
            of equal size (min(200, n_samples) when n_samples <= 200).
        max_iter: the most epochs (passes over the data) to train.
        tol, n_iter_no_change: stop when the epoch's training loss has not dropped below the
            best so far minus ``tol`` for ``n_iter_no_change`` consecutive epochs.
        l2: L2 penalty lambda on the weights (cost += lambda / (2 m) * sum ||W||^2).
        dropout: keep probability of hidden units (a float, or one per hidden layer); None for
            no dropout.
        batch_norm: batch normalisation after each hidden layer's linear part.
        architecture, image_shape: a convolutional network instead (``nnscratch.ConvNetwork``,
            e.g. "conv16x3-bn-relu-pool2-gap-dense32-relu") on rows of X that are images of
            ``image_shape`` (H, W, C) flattened row-major; hidden_layer_sizes, activation,
            dropout and batch_norm are then unused (the string says it all).
        early_stopping: hold out ``validation_fraction`` of the training data (stratified) and
            stop when its cost has not dropped by more than ``tol`` for ``n_iter_no_change``
            epochs, restoring the best weights.
        shuffle: reshuffle the samples every epoch.
        init: weight initialiser: "glorot_uniform" (default, scikit-learn's MLP's: weights
            and biases of each layer from U(-b, b), b = sqrt(6 / (fan_in + fan_out))), or, with
            zero biases, "xavier" (Glorot normal: same variance, yet 0.001 less accurate on
            digits, paired over 30 seeds), "he", "lecun", "normal".
        dtype: the precision of the network: None (default) keeps float32 input in float32
            and makes any other float64, as scikit-learn's MLP does; "float32" (about twice
            as fast on large data) or "float64" force one.
        warm_start: ``fit`` continues from the previous solution instead of starting again.
        random_state: seed (int), ``numpy.random.RandomState`` or None: the initial weights,
            the shuffling and dropout masks all come from it.
        verbose: print each epoch's loss.

    Fitted attributes:
        classes_: (n_classes,) the class labels. n_features_in_: number of input features.
        network_: the trained ``nnscratch.Network`` (save it with ``nnscratch.persist.modelfile``).
        loss_curve_: training loss of each epoch; loss_, best_loss_: the last and the best.
        n_iter_: epochs trained. validation_loss_curve_: per-epoch validation cost with
        ``early_stopping`` (else None).
    """

    _is_classifier = True
    _multi_output = False

    def _encode_targets(self, y, *, first: bool, classes):
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if labels.shape[0] < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                    f"({labels[0]!r})"
                    if labels.shape[0] == 1
                    else f"{type(self).__name__} needs at least 2 classes; got none"
                )
            self.classes_ = labels
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={list(np.unique(classes))!r} differs from the classes of the first "
                f"partial_fit call, {list(self.classes_)!r}"
            )
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, self.classes_.shape[0] - 1)
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise ValueError(
                f"y holds labels not among the classes {list(self.classes_)!r}: "
                f"{list(np.unique(np.asarray(y)[unknown])[:5])!r}"
            )
        if self.classes_.shape[0] == 2:
            return index, 1, "sigmoid"
        return index, self.classes_.shape[0], "softmax"

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and labels y (n_samples,). Returns self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One more epoch of training on (X, y), keeping the weights and the optimizer's state.

        The first call must name every class with ``classes`` (later batches may lack some).
        """
        if not hasattr(self, "network_") and classes is None:
            raise ValueError(
                "the first call to partial_fit needs classes=, the list of all class labels"
            )
        return self._fit(X, y, incremental=True, classes=classes)

    def decision_function(self, X) -> np.ndarray:
        """The output logits: (n_samples,) for two classes (> 0 means ``classes_[1]``),
        (n_samples, n_classes) for more."""
        Z = self._logits(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) class probabilities, columns in the order of ``classes_``."""
        X = self._checked_X(X)
        P = self.network_.predict_proba(X)
        if P.ndim == 1:  # one sigmoid unit: the probability of classes_[1]
            return np.column_stack([1 - P, P])
        return P

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """(n_samples,) predicted labels, taken from ``classes_`` by the network's decision
        rule (``loss.decide``: logit > 0 for two classes, the largest logit for more)."""
        X = self._checked_X(X)
        return self.classes_[self.network_.predict(X)]


class MLPRegressor(MultiOutputMixin, RegressorMixin, _BaseMLP):
    """A deep fully connected regressor trained by backpropagation (``nnscratch.Network``).

    Identity output and (half) squared error; y may be (n_samples,) or (n_samples, n_outputs).
    The parameters are those of ``MLPClassifier``; the fitted attributes too, less
    ``classes_``. Targets are not rescaled: standardise large targets first (e.g. with
    ``sklearn.compose.TransformedTargetRegressor``).
    """

    _is_classifier = False
    _multi_output = True

    def _encode_targets(self, y, *, first: bool, classes):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self._y_ndim = y.ndim
        elif Y.shape[1] != self.network_.n_outputs:
            raise ValueError(
                f"y has {Y.shape[1]} output(s), but this regressor was fitted with "
                f"{self.network_.n_outputs}"
            )
        return Y, Y.shape[1], "identity"

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One more epoch of training on (X, y), keeping the weights and optimizer state."""
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """(n_samples,) predictions, or (n_samples, n_outputs) for several outputs."""
        X = self._checked_X(X)
        return self.network_.predict(X)


def _draw_glorot_uniform_biases(net: Network, rng: np.random.Generator) -> None:
    """Draw each layer's biases from the U(-b, b), b = sqrt(6 / (fan_in + fan_out)), that
    ``glorot_uniform`` draws its weights from, as scikit-learn's MLP initialises them (zero
    biases make every first-layer ReLU start with its kink through the origin)."""
    params = net.parameters
    for l in range(1, len(net.layer_dims)):  # noqa: E741 (the article's l)
        fan_in, fan_out = net.layer_dims[l - 1], net.layer_dims[l]
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        params[f"b{l}"][...] = rng.uniform(-bound, bound, fan_out)


class PreprocessorStep(TransformerMixin, BaseEstimator):
    """An nnscratch preprocessor (``fit``/``transform``, e.g. ``ImagePreprocessor``) as a
    scikit-learn pipeline step, so that each cross-validation fold fits its own statistics:

        Pipeline([("preprocess", PreprocessorStep(ImagePreprocessor(standardize=True))),
                  ("model", MLPClassifier())])

    ``fitted_`` is a fitted copy of ``preprocessor`` (what ``nnscratch.save`` stores).
    """

    def __init__(self, preprocessor=None):
        self.preprocessor = preprocessor

    def fit(self, X, y=None):
        if self.preprocessor is None or not hasattr(self.preprocessor, "transform"):
            raise ValueError(f"preprocessor must have fit and transform; got {self.preprocessor!r}")
        self.fitted_ = copy.deepcopy(self.preprocessor).fit(X)
        return self

    def transform(self, X):
        check_is_fitted(self, "fitted_")
        return self.fitted_.transform(X)
