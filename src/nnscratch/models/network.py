"""The L-layer network of the article: dense layers from ``layer_dims``.

    net = Network([12288, 20, 7, 5, 1], hidden_activation="relu", output_activation="sigmoid")

A ``Network`` only lays out its layers; it is a ``Sequential`` (``nnscratch.nn.model``, the one
model core: forward = the article's ``L_model_forward``, backward = ``L_model_backward``, the
fused loss, predict) with ``fit`` (``nnscratch.train.fit``). Data flows in -> layers (forward)
-> loss -> layers (backward) -> optimizer, with each piece in its own module:

    nn/activations.py   g and g' pairs          nn/layers/   Dense, ActivationLayer, ...
    nn/initializers.py  weight initialisers     nn/losses.py costs fused with output activations
    train/optimizers.py parameter updates       train/fit.py the loop (fit)

Shapes are samples-first: X is (m, n_x); W of layer l is (n_l, n_{l-1}) as in the article.
"""

from __future__ import annotations

import numpy as np

from nnscratch.base.validation import check_dtype, check_flag, check_layer_dims, check_seed
from nnscratch.models.registry import register
from nnscratch.models.trainable import TrainableSequential
from nnscratch.nn.activations import (
    HIDDEN_ACTIVATIONS,
    Activation,
    activation_from_config,
    get_activation,
)
from nnscratch.nn.initializers import get_initializer
from nnscratch.nn.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from nnscratch.nn.layers.dropout import check_keep_probs
from nnscratch.nn.model import PREDICT_BATCH_SIZE

__all__ = ["PREDICT_BATCH_SIZE", "Network"]


@register
class Network(TrainableSequential):
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
        dtype = check_dtype(dtype)
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
        training_rng = np.random.default_rng(None if seed is None else [seed, 1])

        layers: list[Layer] = []
        for l in range(1, L + 1):  # noqa: E741 (the article's l)
            n_prev, n = self.layer_dims[l - 1], self.layer_dims[l]
            layers.append(Dense(n_prev, n, init=initializer, rng=rng, dtype=dtype, index=l))
            if l < L:  # the output activation is fused with the loss
                if self.batch_norm:
                    layers.append(BatchNorm(n, index=l, dtype=dtype))
                layers.append(ActivationLayer(self.hidden_activation, index=l))
                if self.dropout is not None and self.dropout[l - 1] < 1:
                    layers.append(Dropout(self.dropout[l - 1], index=l, rng=training_rng))
        super().__init__(
            layers,
            input_shape=(self.layer_dims[0],),
            output_activation=output_activation,
            dtype=dtype,
            training_rng=training_rng,
        )

    # ---- description ------------------------------------------------------------------
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

    def __repr__(self) -> str:
        return (
            f"Network({self.layer_dims}, hidden_activation={self.hidden_activation!r}, "
            f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r})"
        )
