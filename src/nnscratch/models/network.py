"""The L-layer network: the article's ``L_model_forward``, ``L_model_backward`` and friends.

    net = Network([12288, 20, 7, 5, 1], hidden_activation="relu", output_activation="sigmoid")

Data flows data in -> layers (forward) -> loss -> layers (backward) -> optimizer, with each
piece in its own module:

    activations.py   g and g' pairs          layers/       Dense and ActivationLayer
    initializers.py  weight initialisers     losses.py     costs fused with output activations
    optimizers.py    parameter updates       training.py   the loop (fit)

Shapes are samples-first: X is (m, n_x); W of layer l is (n_l, n_{l-1}) as in the article.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from nnscratch.base.validation import (
    check_dtype,
    check_flag,
    check_layer_dims,
    check_positive,
    check_same_length,
    check_seed,
    check_X,
)
from nnscratch.models.registry import register
from nnscratch.nn.activations import (
    HIDDEN_ACTIVATIONS,
    Activation,
    activation_from_config,
    get_activation,
)
from nnscratch.nn.initializers import get_initializer
from nnscratch.nn.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from nnscratch.nn.layers.dropout import check_keep_probs
from nnscratch.nn.losses import get_loss
from nnscratch.train import fit as training

#: Samples per batch of inference (predict, evaluate): large inputs go through the network this
#: many at a time, so memory stays bounded. 512-2048 measured fastest on the cat network and on
#: a [784, 256, 128, 10] one (benchmarks/); much larger batches fall out of the CPU caches.
PREDICT_BATCH_SIZE = 1024


@register
class Network:
    """A deep fully connected network trained by backpropagation.

    Args:
        layer_dims: [n_x, n_1, ..., n_L]: the input width, then each layer's units.
        hidden_activation: one of "relu", "leaky_relu", "tanh", "sigmoid", "identity", or an
            ``Activation`` instance (e.g. ``LeakyReLU(slope=0.2)``).
        output_activation: "sigmoid" (binary cross-entropy), "softmax" (categorical
            cross-entropy) or "identity" (squared error).
        init: "he", "xavier"/"glorot", "glorot_uniform"/"xavier_uniform", "sqrt_n_prev"/"lecun",
            or "normal"/"random" (the article's scaled normal, scaled by ``init_scale``).
        seed: seed of the numpy Generator that draws the initial weights; the training
            generator (``training_rng``: dropout masks, and shuffles and flips when ``fit`` gets
            no seed) is derived from it too.
        dtype: "float32" (default) or "float64"; every array of the network has it.
        dropout: keep probability of the hidden layers' units (the article's keep_prob;
            inverted dropout after each hidden activation, off at predict time): one float
            for all hidden layers or one per hidden layer; None (or 1) means no dropout.
        batch_norm: batch normalisation after each hidden Dense layer, before its
            activation; parameters ``gamma{l}``/``beta{l}``, buffers
            ``running_mean{l}``/``running_var{l}``.
    """

    def __init__(
        self,
        layer_dims,
        hidden_activation: str | Activation = "relu",
        output_activation: str = "sigmoid",
        init: str = "he",
        seed: int | None = 0,
        dtype="float32",
        init_scale: float = 0.01,
        dropout=None,
        batch_norm: bool = False,
    ):
        self.layer_dims = check_layer_dims(layer_dims)
        self.dtype = check_dtype(dtype)
        self.loss = get_loss(output_activation)
        self.loss.check_output_width(self.layer_dims[-1])
        self.output_activation = output_activation
        if isinstance(hidden_activation, str) and hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"unknown hidden_activation {hidden_activation!r}; "
                f"allowed: {', '.join(HIDDEN_ACTIVATIONS)}"
            )
        self.hidden_activation = get_activation(hidden_activation)
        self.init, self.init_scale, self.seed = init, init_scale, check_seed(seed)
        initializer = get_initializer(init, init_scale)
        rng = np.random.default_rng(seed)
        L = len(self.layer_dims) - 1
        self.dropout = check_keep_probs(dropout, L - 1)
        self.batch_norm = check_flag("batch_norm", batch_norm)
        # dropout masks (and fit's shuffles and flips when it gets no seed) come from here
        self.training_rng = np.random.default_rng(None if seed is None else [seed, 1])

        layers: list[Layer] = []
        for l in range(1, L + 1):  # noqa: E741 (the article's l)
            n_prev, n = self.layer_dims[l - 1], self.layer_dims[l]
            layers.append(Dense(n_prev, n, init=initializer, rng=rng, dtype=self.dtype, index=l))
            if l < L:  # the output activation is fused with the loss
                if self.batch_norm:
                    layers.append(BatchNorm(n, index=l, dtype=self.dtype))
                layers.append(ActivationLayer(self.hidden_activation, index=l))
                if self.dropout is not None and self.dropout[l - 1] < 1:
                    layers.append(Dropout(self.dropout[l - 1], index=l, rng=self.training_rng))
        self.layers = layers
        self.input_shape: tuple[int, ...] = (self.layer_dims[0],)
        self.n_outputs = self.layer_dims[-1]

    # ---- parameters ---------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays under the article's names: {"W1": (n_1, n_x), "b1": (n_1,),
        ...}. Modifying an array in place modifies the network."""
        return {
            f"{name}{layer.index}": array
            for layer in self.layers
            for name, array in layer.params.items()
        }

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Copy ``values`` (same keys and shapes as ``parameters``) into the network."""
        params = self.parameters
        if set(values) != set(params):
            raise ValueError(f"parameters must have keys {sorted(params)}; got {sorted(values)}")
        for key, p in params.items():
            v = np.asarray(values[key])
            if v.shape != p.shape:
                raise ValueError(f"parameter {key} must have shape {p.shape}; got {v.shape}")
            np.copyto(p, v, casting="same_kind")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state that inference needs (e.g. batch norm's running statistics),
        named like ``parameters`` ("running_mean2"); saved in model files beside them."""
        return {
            f"{name}{layer.index}": array
            for layer in self.layers
            for name, array in getattr(layer, "buffers", {}).items()
        }

    def config(self) -> dict:
        """JSON-able constructor arguments: ``Network.from_config(net.config())`` rebuilds the
        same architecture (parameters are copied separately with ``set_parameters``)."""
        return {
            "layer_dims": list(self.layer_dims),
            "hidden_activation": self.hidden_activation.config(),
            "output_activation": self.output_activation,
            "init": self.init,
            "init_scale": self.init_scale,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
        }

    @classmethod
    def from_config(cls, config: dict) -> Network:
        """Inverse of ``config()``. (To rebuild a network of any class from a saved
        ``{"class": name, "config": ...}`` pair, use ``registry.model_from_config``.)"""
        config = dict(config)
        hidden = config.get("hidden_activation")
        if isinstance(hidden, dict):
            config["hidden_activation"] = activation_from_config(hidden)
        return cls(**config)

    @classmethod
    def count_weights(cls, config: dict) -> int | None:
        """Weights and biases ``Network(**config)`` would allocate (None: not a valid
        description); batch norm's few per-unit values are left out."""
        dims = config.get("layer_dims")
        if not isinstance(dims, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in dims
        ):
            return None
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))

    # ---- randomness of training --------------------------------------------------------
    def set_training_rng(self, rng: np.random.Generator) -> None:
        """Make ``rng`` the generator of dropout masks (``fit`` does this with its seed)."""
        self.training_rng = rng
        for layer in self.layers:
            if layer.stochastic:
                layer.rng = rng

    @contextlib.contextmanager
    def fixed_dropout_masks(self, seed: int = 0) -> Iterator[Network]:
        """Within this block every training-mode forward pass draws the same dropout masks
        (from ``seed``), so that the cost is a deterministic function of the parameters and can
        be gradient-checked::

            with net.fixed_dropout_masks():
                result = gradient_check(net, X, y)
        """
        layers = [layer for layer in self.layers if layer.stochastic]
        saved = [layer.mask_seed for layer in layers]
        for layer in layers:
            layer.mask_seed = seed
        try:
            yield self
        finally:
            for layer, old in zip(layers, saved, strict=True):
                layer.mask_seed = old

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.parameters.values())

    # ---- forward and backward -----------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> tuple[np.ndarray, list]:
        """The article's ``L_model_forward``: X (m, n_x) -> (Z_L (m, n_L), caches).

        Returns the output layer's logits Z_L (the loss applies the output activation) and
        one cache per layer, in order: backward consumes exactly these.
        """
        A = X
        caches = []
        for layer in self.layers:
            A, cache = layer.forward(A, training)
            caches.append(cache)
        return A, caches

    def backward(self, dZ_L: np.ndarray, caches: list) -> dict[str, np.ndarray]:
        """The article's ``L_model_backward``: from dZ_L (m, n_L) to every parameter's gradient.

        The input layer's dA is never computed: nothing uses it.
        """
        assert len(caches) == len(self.layers), "one cache per layer"
        grads: dict[str, np.ndarray] = {}
        dA: np.ndarray | None = dZ_L
        for position in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[position]
            assert dA is not None, "every layer above the input layer returns its dA_prev"
            dA, layer_grads = layer.backward(dA, caches[position], need_input_grad=position > 0)
            for name, g in layer_grads.items():
                grads[f"{name}{layer.index}"] = g
        return grads

    def _cost_and_gradients(self, X: np.ndarray, Y: np.ndarray, training: bool = True):
        """Checked inputs: X of the network's dtype, Y encoded (m, n_L)."""
        Z_L, caches = self.forward(X, training)
        cost = self.loss.cost(Z_L, Y)
        A_L = self.loss.activation.forward(Z_L)
        grads = self.backward(self.loss.output_gradient(A_L, Y), caches)
        return cost, grads

    def cost_and_gradients(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """The cost on (X, y) and its gradient for every parameter (same keys and shapes)."""
        X = check_X(X, self.input_shape, self.dtype)
        check_same_length(X, y)
        Y = self.loss.encode_targets(y, self.n_outputs, self.dtype)
        return self._cost_and_gradients(X, Y)

    def cost(self, X, y) -> float:
        """The cost on (X, y) in inference mode."""
        X = np.asarray(X)
        Z = self._checked_logits(X, PREDICT_BATCH_SIZE)
        check_same_length(X, y)
        Y = self.loss.encode_targets(y, self.n_outputs, self.dtype)
        return self.loss.cost(Z, Y)

    # ---- training -----------------------------------------------------------------------
    def fit(self, X, y, learning_rate: float = 0.0075, iterations: int | None = None, **kwargs):
        """Train on X (m, n_x), y (m,); see ``nnscratch.train.fit.fit`` for the keywords
        (epochs, batch_size, optimizer, l2, validation, early stopping, ...). Without
        ``iterations`` or ``epochs``: 2500 full-batch iterations. Returns a History."""
        self.history_ = training.fit(
            self, X, y, learning_rate=learning_rate, iterations=iterations, **kwargs
        )
        return self.history_

    # ---- prediction ---------------------------------------------------------------------
    def _logits(self, X: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Z_L for checked X, computed ``batch_size`` samples at a time so that memory stays
        bounded for large inputs."""
        m = X.shape[0]
        if m <= batch_size:
            return self.forward(X)[0]
        Z = np.empty((m, self.n_outputs), dtype=self.dtype)
        for start in range(0, m, batch_size):
            Z[start : start + batch_size] = self.forward(X[start : start + batch_size])[0]
        return Z

    def _checked_logits(self, X, batch_size: int) -> np.ndarray:
        """Z_L (m, n_L) for the caller's X, checked and converted to the network's dtype one
        batch at a time: beyond X and Z_L, memory stays at one batch even when X is a large
        uint8 or float64 array (no full-size converted copy, no full-size finiteness mask)."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        X = np.asarray(X)
        if X.shape[1:] != self.input_shape or X.shape[0] <= batch_size:
            # one batch; a wrongly shaped X is reported with its whole shape
            return self._logits(check_X(X, self.input_shape, self.dtype), batch_size)
        Z = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_size):
            batch = check_X(X[start : start + batch_size], self.input_shape, self.dtype)
            Z[start : start + batch_size] = self._logits(batch, batch_size)
        return Z

    def predict_proba(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Output activations: (m,) probabilities of class 1 for a one-unit sigmoid output,
        (m, K) class probabilities for softmax, (m, n_L) otherwise; identity outputs return
        the regression predictions ((m,) when n_L == 1). X goes through the network
        ``batch_size`` samples at a time."""
        A = self.loss.activation.forward(self._checked_logits(X, batch_size))
        return A[:, 0] if A.shape[1] == 1 and self.output_activation != "softmax" else A

    def predict(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Labels: 0/1 for sigmoid (threshold 0.5), class indices for softmax, values for
        identity."""
        P = self.predict_proba(X, batch_size)
        if self.output_activation == "sigmoid":
            return (P >= 0.5).astype(np.int64)
        if self.output_activation == "softmax":
            return P.argmax(axis=1)
        return P

    def accuracy(self, X, y) -> float:
        """Fraction of correct labels (classification outputs only)."""
        if self.output_activation == "identity":
            raise ValueError("accuracy is for classifiers; this network has an identity output")
        return label_accuracy(self.predict(X), y, self.output_activation)

    def __repr__(self) -> str:
        return (
            f"Network({self.layer_dims}, hidden_activation={self.hidden_activation!r}, "
            f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r})"
        )


def label_accuracy(pred: np.ndarray, y, output_activation: str) -> float:
    """Fraction of predicted labels ``pred`` (m,) equal to y (m,) (or one-hot (m, K) for a
    softmax output)."""
    y = np.asarray(y)
    if output_activation == "softmax" and y.ndim == 2:
        y = y.argmax(axis=1)
    check_same_length(pred, y)
    return float(np.mean(pred == y.reshape(pred.shape)))
