"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, drop-in, on nnscratch's networks.

    from nnscratch import MLPClassifier          # instead of sklearn.neural_network's
    clf = MLPClassifier(hidden_layer_sizes=(20, 7, 5), random_state=0).fit(X_train, y_train)
    clf.score(X_test, y_test), clf.coefs_, clf.loss_curve_

The constructor, its defaults, the fitted attributes and the training semantics are
scikit-learn's (its own ``test_mlp.py`` runs on these classes, tests/test_sklearn_mlp_suite.py):
the same initial weights for the same ``random_state``, the same epoch loop, solvers
("lbfgs" through scipy, "sgd", "adam"), L2 scaling, stopping rules, early stopping on the
validation score, ``sample_weight`` (with metadata routing), sparse input, multilabel targets,
multi-output and Poisson regression, dtypes, error messages and ConvergenceWarnings. The
forward and backward passes are nnscratch's (``network_``, an ``nnscratch.Network`` or
``ConvNetwork``); ``coefs_`` / ``intercepts_`` are views of its weights in scikit-learn's
(n_in, n_out) layout (our W is (n_out, n_in)), so they always agree with the network.

nnscratch's extras (keyword-only, defaults keep scikit-learn's behaviour): the activation
"leaky_relu", the solvers "gd", "momentum", "nesterov", "rmsprop", "adamw" (with
``optimizer_options``), ``dropout``, ``batch_norm``, ``lr_schedule`` / ``schedule_options``,
``init`` (None: scikit-learn's Glorot-uniform draw), ``dtype``, and ``architecture`` /
``image_shape`` for a convolutional network on flattened images.

Arrays are samples-first: X (n_samples, n_features), dense or scipy.sparse (densified one
batch at a time); y (n_samples,) labels of any type or an (n_samples, n_labels) indicator
matrix for the classifier; (n_samples,) or (n_samples, n_outputs) numbers for the regressor.

Needs scikit-learn (``pip install 'nnscratch[sklearn]'``).
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from nnscratch.base.validation import check_dtype
from nnscratch.models.network import Network
from nnscratch.nn.layers import Dense
from nnscratch.nn.model import PREDICT_BATCH_SIZE
from nnscratch.sklearn.lbfgs import fit_lbfgs
from nnscratch.sklearn.mlp_params import PARAMETER_CONSTRAINTS, check_extras
from nnscratch.sklearn.names import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, REGRESSION_LOSSES
from nnscratch.sklearn.objective import dense_batch
from nnscratch.sklearn.solvers import SOLVERS
from nnscratch.sklearn.stochastic import fit_stochastic

__all__ = ["MLPClassifier", "MLPRegressor", "PreprocessorStep"]

_MAX_SEED = 2**31 - 1


def _stochastic(est) -> bool:
    if est.solver not in SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
            "stochastic."
        )
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, initialisation, the fit."""

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        *,
        dropout=None,
        batch_norm=False,
        lr_schedule=None,
        schedule_options=None,
        optimizer_options=None,
        init=None,
        dtype=None,
        architecture=None,
        image_shape=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr_schedule = lr_schedule
        self.schedule_options = schedule_options
        self.optimizer_options = optimizer_options
        self.init = init
        self.dtype = dtype
        self.architecture = architecture
        self.image_shape = image_shape

    # ---- scikit-learn's fitted attributes, views of the network ------------------------
    def _dense_layers(self) -> list[Dense]:
        layers = [layer for layer in self.network_.layers if isinstance(layer, Dense)]
        if len(layers) != len(self.network_.layers) and self.architecture is not None:
            raise AttributeError(
                "coefs_ and intercepts_ are the weights of a dense network; this one was built "
                f"from architecture={self.architecture!r}: see network_.parameters"
            )
        return layers

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Each dense layer's weights, (n_in, n_out): a view of the network's W (n_out, n_in)."""
        return [layer.params["W"].T for layer in self._dense_layers()]

    @coefs_.setter
    def coefs_(self, values) -> None:
        for layer, value in zip(self._dense_layers(), values, strict=True):
            np.copyto(layer.params["W"].T, np.asarray(value), casting="same_kind")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Each dense layer's biases, (n_out,): the network's own arrays."""
        return [layer.params["b"] for layer in self._dense_layers()]

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        for layer, value in zip(self._dense_layers(), values, strict=True):
            np.copyto(layer.params["b"], np.asarray(value), casting="same_kind")

    # ---- building ---------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(n) for n in sizes]

    def _input_dtypes(self, reuse: bool):
        """The dtype(s) X may keep (``validate_data`` converts any other to the first): the
        fitted network's when training continues; else ``dtype``'s; for None, float32 input
        stays float32 and any other becomes float64, as in scikit-learn's MLP."""
        if reuse:
            return self.network_.dtype
        if self.dtype is None:
            return (np.float64, np.float32)
        return check_dtype(self.dtype)

    def _seed(self) -> int:
        return int(self._random_state.randint(_MAX_SEED))

    def _new_network(self, layer_units: list[int], dtype):
        output = OUTPUT_ACTIVATIONS[self.out_activation_]
        if self.architecture is not None:  # a convolutional network on flattened images
            from nnscratch.models.conv import ConvNetwork

            shape = self.image_shape
            if shape is None or int(np.prod(shape)) != layer_units[0]:
                raise ValueError(
                    f"architecture needs image_shape=(H, W, C) with H*W*C == n_features "
                    f"({layer_units[0]}); got image_shape={shape!r}"
                )
            return ConvNetwork(
                self.architecture,
                input_shape=tuple(shape),
                n_outputs=layer_units[-1],
                output_activation=output,
                init=self.init or "glorot_uniform",
                seed=self._seed(),
                dtype=dtype,
                flat_input=True,
            )
        net = Network(
            layer_units,
            hidden_activation=HIDDEN_ACTIVATIONS[self.activation],
            output_activation=output,
            init=self.init or "glorot_uniform",
            seed=0 if self.init is None else self._seed(),
            dtype=dtype,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
        )
        if self.init is None:
            self._draw_sklearn_init(layer_units)(net)
        if any(layer.stochastic for layer in net.layers):
            net.set_training_rng(np.random.default_rng(self._seed()))
        return net

    def _draw_sklearn_init(self, layer_units: list[int]):
        """scikit-learn's initialisation, drawn from the estimator's RandomState in its order:
        per layer, weights (n_in, n_out) then biases from U(-b, b), b = sqrt(f / (n_in +
        n_out)), f = 2 for logistic hidden units, else 6."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        draws = []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:], strict=True):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            draws.append((coef, intercept))

        def write(net) -> None:
            dense = [layer for layer in net.layers if isinstance(layer, Dense)]
            for layer, (coef, intercept) in zip(dense, draws, strict=True):
                np.copyto(layer.params["W"], coef.T, casting="unsafe")
                np.copyto(layer.params["b"], intercept, casting="unsafe")

        return write

    def _initialize(self, Y: np.ndarray, layer_units: list[int], dtype) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self.network_ = self._new_network(layer_units, dtype)
        self._best_state = self._copy_state()
        self.__dict__.pop("_optimizer", None)
        if self.solver in SOLVERS:
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _new_solver(self):
        return SOLVERS[self.solver](self, self.optimizer_options or {})

    def _copy_state(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer of the network (early stopping's best)."""
        net = self.network_
        return {k: a.copy() for k, a in {**net.parameters, **net.buffers}.items()}

    def _restore_state(self, state: dict[str, np.ndarray]) -> None:
        for k, a in {**self.network_.parameters, **self.network_.buffers}.items():
            np.copyto(a, state[k])

    # ---- fitting -----------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        check_extras(self)
        hidden = [] if self.architecture is not None else self._hidden_sizes()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        Y = y.reshape((-1, 1)) if y.ndim == 1 else y
        layer_units = [X.shape[1], *hidden, Y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} output(s), but this estimator was fitted with "
                f"{self.n_outputs_}"
            )
        if self.solver in SOLVERS:
            fit_stochastic(self, self.network_, X, Y, sample_weight, incremental)
        else:
            fit_lbfgs(self, self.network_, X, Y, sample_weight)
        if not all(np.isfinite(p).all() for p in self.network_.parameters.values()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )
        return self

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and y; ``sample_weight`` (n_samples,)
        weighs each sample's loss. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    # ---- predicting --------------------------------------------------------------------
    def _logits(self, X, check_input: bool = True) -> np.ndarray:
        """Z_L (n_samples, n_outputs) for new X, in inference mode, a batch at a time."""
        if check_input:
            check_is_fitted(self, "network_")
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], reset=False, dtype=self.network_.dtype
            )
        if not hasattr(X, "toarray"):
            return self.network_.logits(np.asarray(X, dtype=self.network_.dtype))
        Z = np.empty((X.shape[0], self.network_.n_outputs), dtype=self.network_.dtype)
        for start in range(0, X.shape[0], PREDICT_BATCH_SIZE):
            batch = dense_batch(X[start : start + PREDICT_BATCH_SIZE], self.network_.dtype)
            Z[start : start + PREDICT_BATCH_SIZE] = self.network_.logits(batch)
        return Z

    def _score_on(self, X, y, sample_weight) -> float:
        """The validation score of early stopping (accuracy or R^2); NaN for non-finite
        predictions."""
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(self._score_function(y, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on an nnscratch
    network (see the module's docstring and scikit-learn's documentation of each parameter).

    Two classes or multilabel indicator targets: sigmoid output units and binary
    cross-entropy ("logistic"); more classes: softmax and categorical cross-entropy.

    nnscratch's extras, keyword-only:
        dropout: keep probability of hidden units (one float, or one per hidden layer).
        batch_norm: batch normalisation after each hidden layer's linear part.
        lr_schedule, schedule_options: a per-epoch learning-rate schedule of
            ``nnscratch.train.schedules`` ("step", "exponential", "cosine") from
            ``learning_rate_init`` (needs learning_rate="constant"; not for lbfgs).
        optimizer_options: arguments of nnscratch's solvers ("gd", "momentum", "nesterov",
            "rmsprop", "adamw"), e.g. ``{"beta": 0.9}``.
        init: None (scikit-learn's Glorot-uniform weights and biases from ``random_state``)
            or an initialiser of ``nnscratch.nn.initializers`` ("he", "xavier", ...).
        dtype: None (float32 input stays float32, any other becomes float64), "float32" or
            "float64".
        architecture, image_shape: a convolutional network (``nnscratch.ConvNetwork``, e.g.
            "conv16x3-bn-relu-pool2-gap-dense32-relu") on rows of X that are images of
            ``image_shape`` (H, W, C) flattened row-major; hidden_layer_sizes, activation,
            dropout and batch_norm are then unused, and so are coefs_ / intercepts_.

    Fitted attributes (scikit-learn's): classes_, coefs_, intercepts_, n_layers_, n_outputs_,
    out_activation_, t_, loss_, best_loss_, loss_curve_, validation_scores_,
    best_validation_score_, n_iter_, n_features_in_, feature_names_in_; and network_, the
    trained nnscratch network.
    """

    _score_function = staticmethod(accuracy_score)

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=self._input_dtypes(not reset),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _decode_targets(self, Y: np.ndarray):
        return self._label_binarizer.inverse_transform(Y)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch of training on (X, y), keeping the weights and the solver's state.
        The first call needs ``classes``, every label of the whole data."""
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and getattr(self, "classes_", None) is not None:
            if not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                    f"was: {self.classes_!r}"
                )
        elif classes is not None:  # the first call
            self.classes_ = unique_labels(classes)
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        labels = self.network_.loss.decide(self._logits(X, check_input))
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return labels
        if len(self.classes_) == 1:  # trained on one class: it is the only answer
            return self.classes_[np.zeros_like(labels)]
        return self.classes_[labels]

    def predict(self, X) -> np.ndarray:
        """(n_samples,) labels from ``classes_`` by the network's decision rule (logit > 0 for
        one sigmoid unit, the largest logit for softmax); (n_samples, n_labels) for
        multilabel targets."""
        check_is_fitted(self, "network_")
        return self._predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "network_")
        P = self.network_.loss.activation.forward(self._logits(X))
        if P.shape[1] == 1:
            return np.column_stack([1 - P[:, 0], P[:, 0]])
        return P

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of ``predict_proba``."""
        P = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(P, out=P)

    def decision_function(self, X) -> np.ndarray:
        """The output logits: (n_samples,) for one output unit, else (n_samples, n_outputs)."""
        check_is_fitted(self, "network_")
        Z = self._logits(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(MultiOutputMixin, RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on an nnscratch
    network. ``loss``: "squared_error" (identity output, half squared error) or "poisson"
    (exponential output, half Poisson deviance, y >= 0). The other parameters and the fitted
    attributes are those of ``MLPClassifier``, less ``classes_``. Targets are not rescaled.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }
    _score_function = staticmethod(r2_score)

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        *,
        dropout=None,
        batch_norm=False,
        lr_schedule=None,
        schedule_options=None,
        optimizer_options=None,
        init=None,
        dtype=None,
        architecture=None,
        image_shape=None,
    ):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            batch_norm=batch_norm,
            lr_schedule=lr_schedule,
            schedule_options=schedule_options,
            optimizer_options=optimizer_options,
            init=init,
            dtype=dtype,
            architecture=architecture,
            image_shape=image_shape,
        )

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=self._input_dtypes(not reset),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs targets y >= 0; got negative values in y")
        return X, y.astype(X.dtype, copy=False)

    def _decode_targets(self, Y: np.ndarray):
        return Y[:, 0] if Y.shape[1] == 1 else Y

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of training on (X, y), keeping the weights and the solver's state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        return self.network_.loss.decide(self._logits(X, check_input))

    def predict(self, X) -> np.ndarray:
        """(n_samples,) predictions, or (n_samples, n_outputs) for several outputs."""
        check_is_fitted(self, "network_")
        return self._predict(X)


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
