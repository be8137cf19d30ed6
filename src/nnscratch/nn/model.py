"""The one model core: a list of layers and the loss fused with the output activation.

    model = Sequential([Dense(4, 3, ...), ActivationLayer(relu, index=1), Dense(3, 1, ...)],
                       input_shape=(4,), output_activation="sigmoid")
    Z_L, caches = model.forward(X, training=True)      # the article's L_model_forward
    grads = model.backward(dZ_L, caches)              # the article's L_model_backward
    model.predict(X)                                   # labels: model.loss.decide(Z_L)

``Network`` (dense layers from ``layer_dims``) and ``ConvNetwork`` (layers from an
architecture string) in ``nnscratch.models`` are a ``Sequential`` each: they only build the
layer list. Everything else (parameters, the one forward and the one backward, costs and
gradients, batched inference, the decision rule, accuracy, the randomness of training) is
here, once.

Shapes are samples-first: X is (m, *input_shape) ((m, n_x) for a dense network, (m, H, W, C)
for images); the last layer outputs the logits Z_L (m, n_L), whose activation the loss applies.

``Model`` is the protocol that ensembles, model files and checkpoints rely on; ``Network``,
``ConvNetwork`` and ``Ensemble`` implement it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nnscratch.base.validation import check_dtype, check_positive, check_same_length, check_X
from nnscratch.nn import metrics
from nnscratch.nn.layers.base import Layer
from nnscratch.nn.losses import Loss, get_loss

#: Samples per batch of inference (predict, evaluate): large inputs go through the model this
#: many at a time, so memory stays bounded. 512-2048 measured fastest on the cat network and on
#: a [784, 256, 128, 10] one (benchmarks/); much larger batches fall out of the CPU caches.
PREDICT_BATCH_SIZE = 1024


@runtime_checkable
class Model(Protocol):
    """What ensembles, model files and checkpoints rely on in a model.

    Attributes:
        input_shape: the per-sample shape of X ((n_x,) or (H, W, C)).
        n_outputs: n_L, the width of the output.
        dtype: the dtype of every array of the model (float32 or float64).
        output_activation: "sigmoid", "softmax" or "identity": the name of ``loss``.
        loss: the output activation fused with its cost; its ``decide`` / ``decide_proba``
            turn outputs into labels.
        parameters / buffers: the live arrays by name ("W1", "running_mean2", "m0.W1").
    """

    input_shape: tuple[int, ...]
    n_outputs: int
    dtype: np.dtype
    output_activation: str
    loss: Loss

    @property
    def parameters(self) -> dict[str, np.ndarray]: ...

    @property
    def buffers(self) -> dict[str, np.ndarray]: ...

    def config(self) -> dict:
        """JSON-able constructor arguments (``from_config`` rebuilds the architecture)."""
        ...

    @classmethod
    def from_config(cls, config: dict) -> Model: ...

    @classmethod
    def count_weights(cls, config: dict) -> int | None:
        """How many parameter values ``from_config(config)`` would allocate (None: cannot
        tell), worked out without building anything."""
        ...

    def predict_proba(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Output activations: (m,) for one sigmoid or identity unit, else (m, n_L)."""
        ...

    def predict(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Labels (or values, for an identity output) by ``loss``'s decision rule."""
        ...


def cost_and_gradients(
    model,
    X: np.ndarray,
    Y: np.ndarray,
    training: bool = True,
    sample_weight: np.ndarray | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """The article's forward -> compute_cost -> backward chain, for any model with
    ``forward``, ``backward`` and a fused ``loss``; every gradient in the library (training
    steps, gradient checks) comes from here.

        Z_L, caches = model.forward(X)           L_model_forward       Z_L (m, n_L)
        cost = loss.cost(Z_L, Y)                 compute_cost          a float
        dZ_L = (A_L - Y) / m                     the fused output gradient
        grads = model.backward(dZ_L, caches)     L_model_backward      {"W1": (n_1, n_x), ...}

    X (m, ...) must already be of the model's dtype and Y encoded (m, n_L); ``sample_weight``
    (m,) makes the cost a weighted mean (see ``nnscratch.nn.losses``).
    """
    Z_L, caches = model.forward(X, training)
    # compute_cost and dZ_L = (A_L - Y) / m, from the same exponentials where they share them
    cost, dZ_L = model.loss.cost_and_output_gradient(Z_L, Y, sample_weight)
    del Z_L  # spent: freed before backward allocates the gradients
    return cost, model.backward(dZ_L, caches)


class Sequential:
    """Layers applied in order, then the loss fused with the output activation.

    Args:
        layers: the layers, the last one producing the logits Z_L (m, n_L); every layer's
            ``output_shape`` must accept the previous one's (checked here).
        input_shape: the per-sample shape of X, e.g. (n_x,) or (H, W, C).
        output_activation: "sigmoid" (binary cross-entropy), "softmax" (categorical
            cross-entropy) or "identity" (squared error); see ``nnscratch.nn.losses``.
        dtype: "float32" or "float64", the dtype the layers were built with.
        training_rng: the generator of the stochastic layers (dropout masks, random shifts);
            ``fit`` replaces it through ``set_training_rng``. None: a fresh unseeded one.

    Attributes:
        layers, loss, output_activation, input_shape, dtype, training_rng as given;
        n_outputs: n_L, from the last layer's output shape;
        layer_shapes: the per-sample output shape of each layer.
    """

    #: Called before ``parameters`` and ``forward`` read the layers' arrays: a training fast
    #: path that holds a parameter in other coordinates (``nnscratch.train.gram``) writes it
    #: back here, so every reader sees the true values. None: nothing to do.
    _before_parameters_read: Callable[[], None] | None = None

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        input_shape: Sequence[int],
        output_activation: str = "sigmoid",
        dtype="float32",
        training_rng: np.random.Generator | None = None,
    ):
        self.layers: list[Layer] = list(layers)
        self.input_shape: tuple[int, ...] = tuple(int(n) for n in input_shape)
        self.dtype = check_dtype(dtype)
        self.loss = get_loss(output_activation)
        self.output_activation = output_activation
        shape = self.input_shape
        self.layer_shapes: list[tuple[int, ...]] = []
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
            self.layer_shapes.append(shape)
        per_step = self.loss.per_step  # a sequence output: logits (m, T, n_L)
        if len(shape) != (2 if per_step else 1):
            expected = "(m, T, n_L)" if per_step else "(m, n_L)"
            raise ValueError(
                f"the last layer must output logits of shape {expected}; got per-sample shape "
                f"{shape}"
            )
        self.n_outputs = shape[-1]
        self.loss.check_output_width(self.n_outputs)
        names = [f"{name}{layer.index}" for layer in self.layers for name in layer.params]
        if len(names) != len(set(names)):
            raise ValueError(
                "two layers with the same index l give parameters the same name (e.g. two "
                f"batch norms after one layer); parameters: {names}"
            )
        self.set_training_rng(np.random.default_rng() if training_rng is None else training_rng)

    # ---- description --------------------------------------------------------------------
    def summary(self) -> str:
        """One line per layer: its type and index l, output shape and number of parameters."""
        lines = [f"{'layer':<28}{'output shape':<20}{'parameters':>10}"]
        lines.append(f"{'input':<28}{str(self.input_shape):<20}{0:>10}")
        for layer, shape in zip(self.layers, self.layer_shapes, strict=True):
            n = sum(p.size for p in layer.params.values())
            lines.append(f"{self._layer_label(layer):<28}{str(shape):<20}{n:>10}")
        lines.append(f"total parameters: {self.n_parameters}")
        return "\n".join(lines)

    def _layer_label(self, layer: Layer) -> str:
        return f"{type(layer).__name__} {layer.index}"

    # ---- parameters ---------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays under the article's names: {"W1": (n_1, n_x), "b1": (n_1,),
        ...}. Modifying an array in place modifies the model."""
        if self._before_parameters_read is not None:
            self._before_parameters_read()
        return {
            f"{name}{layer.index}": array
            for layer in self.layers
            for name, array in layer.params.items()
        }

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Copy ``values`` (same keys and shapes as ``parameters``) into the model."""
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
            for name, array in layer.buffers.items()
        }

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.parameters.values())

    # ---- randomness of training --------------------------------------------------------
    def set_training_rng(self, rng: np.random.Generator) -> None:
        """Make ``rng`` the generator of the stochastic layers (``fit`` does this with its
        seed)."""
        self.training_rng = rng
        for layer in self.layers:
            if layer.stochastic:
                layer.rng = rng

    @contextlib.contextmanager
    def fixed_dropout_masks(self, seed: int = 0) -> Iterator[Any]:
        """Within this block every training-mode forward pass draws the same random numbers
        in every stochastic layer (dropout masks, shifts), from ``seed``, so that the cost is
        a deterministic function of the parameters and can be gradient-checked::

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

    # ---- forward and backward -----------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> tuple[np.ndarray, list]:
        """The article's ``L_model_forward``: X (m, *input_shape) -> (Z_L (m, n_L), caches).

        Returns the output layer's logits Z_L (the loss applies the output activation) and
        one cache per layer, in order: ``backward`` consumes exactly these.
        """
        if self._before_parameters_read is not None:
            self._before_parameters_read()
        A = X
        caches = []
        for layer in self.layers:
            A, cache = layer.forward(A, training)
            caches.append(cache)
        return A, caches

    def backward(self, dZ_L: np.ndarray, caches: list) -> dict[str, np.ndarray]:
        """The article's ``L_model_backward``: from dZ_L (m, n_L) to every parameter's gradient
        (same keys and shapes as ``parameters``).

        Only what a gradient needs is computed: a layer's input gradient dA_prev only when an
        earlier layer has parameters, and the walk stops at the first layer with parameters.
        So the input layer's dA is never computed, and layers before the first one with
        parameters (an ``Unflatten`` or ``RandomShift`` at the front) never run backward.
        """
        assert len(caches) == len(self.layers), "one cache per layer"
        first = next((i for i, layer in enumerate(self.layers) if layer.params), len(self.layers))
        grads: dict[str, np.ndarray] = {}
        dA: np.ndarray | None = dZ_L
        for position in range(len(self.layers) - 1, first - 1, -1):
            layer = self.layers[position]
            assert dA is not None, "each layer after the first with parameters gives dA_prev"
            dA, layer_grads = layer.backward(dA, caches[position], need_input_grad=position > first)
            for name, g in layer_grads.items():
                grads[f"{name}{layer.index}"] = g
        return grads

    def _cost_and_gradients(self, X: np.ndarray, Y: np.ndarray, training: bool = True):
        """Checked inputs: X (m, *input_shape) of the model's dtype, Y encoded (m, n_L)."""
        return cost_and_gradients(self, X, Y, training)

    def cost_and_gradients(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """The cost on (X, y) in training mode and its gradient for every parameter (same
        keys and shapes)."""
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

    # ---- inference ----------------------------------------------------------------------
    def _logits(self, X: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Z_L (m, n_L) in inference mode for checked X (m, *input_shape), computed
        ``batch_size`` samples at a time so that memory stays bounded for large inputs. The
        hook a model overrides to change its inference (``ConvNetwork``: flip averaging)."""
        m = X.shape[0]
        if m <= batch_size:
            return self.forward(X)[0]
        Z = np.empty((m, self.n_outputs), dtype=self.dtype)
        for start in range(0, m, batch_size):
            Z[start : start + batch_size] = self.forward(X[start : start + batch_size])[0]
        return Z

    def _checked_logits(self, X, batch_size: int) -> np.ndarray:
        """Z_L (m, n_L) for the caller's X, checked and converted to the model's dtype one
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

    def logits(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """The output logits Z_L (m, n_L) for X (m, *input_shape), in inference mode,
        ``batch_size`` samples at a time."""
        return self._checked_logits(X, batch_size)

    def predict_proba(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Output activations: (m,) probabilities of class 1 for a one-unit sigmoid output,
        (m, K) class probabilities for softmax, (m, n_L) otherwise; identity outputs return
        the regression predictions ((m,) when n_L == 1). X goes through the model
        ``batch_size`` samples at a time."""
        A = self.loss.activation.forward(self._checked_logits(X, batch_size))
        return A[:, 0] if A.shape[1] == 1 else A

    def predict(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """``loss.decide`` of the logits: 0/1 for sigmoid (class 1 where z > 0), class
        indices for softmax (argmax), values for identity; (m,) for one output unit."""
        return self.loss.decide(self._checked_logits(X, batch_size))

    def accuracy(self, X, y) -> float:
        """Fraction of correct labels (classification outputs only)."""
        if self.output_activation == "identity":
            raise ValueError(
                f"accuracy is for classifiers; this {type(self).__name__} has an identity output"
            )
        return metrics.accuracy(self.predict(X), y)

    def __repr__(self) -> str:
        return (
            f"Sequential({len(self.layers)} layers, input_shape={self.input_shape}, "
            f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r})"
        )
