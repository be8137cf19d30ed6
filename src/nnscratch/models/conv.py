"""Convolutional networks, built from an architecture string: the article's "best model for
images".

    net = ConvNetwork("conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-gap-dense64-relu",
                      input_shape=(64, 64, 3), output_activation="sigmoid")
    net.fit(X / 255, y, optimizer="adam", learning_rate=2e-3, lr_schedule="cosine",
            batch_size=32, epochs=80, augment_flip=True)
    net.predict(X_test / 255)

``CAT_RECIPE`` is the cross-validated recipe for the cat images (one such network, predicting
the mean of each image's and its mirror image's logits; ``nnscratch train --model cnn`` trains
it).

A ConvNetwork, like ``Network``, is a ``Sequential`` (``nnscratch.nn.model``) whose layers come
from the string instead of ``layer_dims``: everything else (forward, backward, the fused loss,
fit, predict, gradient checks, model files) is the same machinery. Inputs are images,
channels-last: X (m, H, W, C).

Architecture grammar: tokens joined by "-", applied in order to the input image:

    conv<F>x<K>[s<S>][p<P>]   Conv2D: F filters of K x K, stride S (default 1), padding P:
                              "same" (default), "valid" or an integer     conv16x3, conv32x3s2,
                              conv8x5pvalid, conv8x5p1
    pool<K>[s<S>]             MaxPool2D, K x K windows, stride S (default K)   pool2, pool3s2
    maxpool<K>[s<S>]          the same
    avgpool<K>[s<S>]          AveragePool2D
    gap                       GlobalAveragePool: (H, W, C) -> (C,)
    flatten                   Flatten: (H, W, C) -> (H*W*C,)
    dense<N>                  Dense with N units (a Flatten is inserted first if needed)
    relu | leaky_relu | tanh | sigmoid | identity        an activation
    bn                        batch norm (per channel after a conv, per unit after a dense)
    dropout<P>                inverted dropout with keep probability P (the article's
                              keep_prob): dropout0.5
    shift<N>                  RandomShift: while training, translate each image by up to N
                              pixels (reflect padding), afresh each time; first token: shift4

The output layer is not written: a Dense of ``n_outputs`` units is appended (after a Flatten if
the last shape is still an image), its activation fused with the loss. Layers are numbered like
the article's l: every conv and dense token starts a new l, and the layers after it (activation,
pooling, batch norm, dropout) share it, so parameters are W1, b1 (first conv), gamma1, beta1
(its batch norm), ..., W_L, b_L (the output layer).

Two exact rewrites of the layer list (``_bias_free_before_batch_norm``, ``_pool_before_relu``),
each a saving of work that changes no output and no gradient:

- a conv followed by ``bn`` has no bias: batch norm subtracts the per-channel mean (the
  batch's while training, the running one, which would have learned the bias with it, at
  inference), so a per-channel bias before it cancels exactly (its gradient is 0). Networks
  of model files written before this rule (configs without ``bias_before_bn``) keep theirs.
- ``relu`` followed by a max-pool runs as max-pool then relu: relu is non-decreasing, so
  max(relu(a), relu(b)) = relu(max(a, b)), and the gradient reaches the same input (the
  window's first maximum, or none when the maximum is <= 0), on a quarter of the pixels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from nnscratch.base.validation import check_dtype, check_flag, check_positive, check_seed
from nnscratch.models.architecture import build_layers, parse_tokens
from nnscratch.models.registry import register
from nnscratch.models.trainable import TrainableSequential
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS, get_activation
from nnscratch.nn.initializers import Initializer, get_initializer
from nnscratch.nn.layers import (
    ActivationLayer,
    AveragePool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePool,
    Layer,
    MaxPool2D,
    RandomShift,
    Unflatten,
)
from nnscratch.nn.layers.conv import pad_amounts

#: The cat recipe, chosen by 3-fold cross-validation (x 2 repeats) on the 209 training images
#: only, among 7 trained recipes each scored plain and flip-averaged (``benchmarks/select_cnn.py``,
#: ``benchmarks/results/select_cnn.md``): one network of ``architecture`` trained with the
#: ``fit`` options on images scaled to [0, 1] (x / 255), its predictions averaged over each
#: image and its mirror image (``network``: flip_average). 91.4% cross-validated accuracy, the
#: best of the candidates, tied with the mean of 3 such networks (without flip averaging),
#: which was the recipe until issue 16 asked for at most a minute of training a seed: the
#: single network takes a third of the ensemble's time. Test accuracy, measured after the
#: choice: 90%, 88%, 88% for seeds 0, 1, 2 (the ensemble: 90%, 88%, 90%).
CAT_RECIPE: dict = {
    "architecture": (
        "shift4-conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-conv64x3-bn-relu-pool2"
        "-gap-dense64-relu-dropout0.5"
    ),
    "network": {"flip_average": True},
    "fit": {
        "optimizer": "adam",
        "learning_rate": 2e-3,
        "lr_schedule": "cosine",
        "batch_size": 32,
        "epochs": 80,
        "augment_flip": True,
    },
}
DEFAULT_ARCHITECTURE: str = CAT_RECIPE["architecture"]


@dataclass
class _BuildState:
    """What the token builders read and advance while the layers are laid out."""

    shape: tuple[int, ...]  # the per-sample shape flowing out of the last layer
    index: int  # the article's l of the last conv/dense layer
    init: Initializer
    rng: np.random.Generator  # draws the initial weights
    dtype: np.dtype
    training_rng: np.random.Generator  # dropout masks (``fit`` swaps in its own)


def _flatten_if_image(state: _BuildState) -> list[Layer]:
    return [Flatten(index=state.index)] if len(state.shape) > 1 else []


def _conv(match: re.Match, state: _BuildState) -> list[Layer]:
    if len(state.shape) != 3:
        raise ValueError(f"a conv layer needs an image input (H, W, C); got shape {state.shape}")
    padding = match["padding"] or "same"
    state.index += 1
    return [
        Conv2D(
            state.shape[2],
            int(match["filters"]),
            int(match["kernel"]),
            stride=int(match["stride"] or 1),
            padding=int(padding) if padding.isdigit() else padding,
            init=state.init,
            rng=state.rng,
            dtype=state.dtype,
            index=state.index,
        )
    ]


def _pool(cls: type) -> Callable[[re.Match, _BuildState], list[Layer]]:
    def build(match: re.Match, state: _BuildState) -> list[Layer]:
        size = int(match["size"])
        stride = int(match["stride"]) if match["stride"] else None
        return [cls(size, stride=stride, index=state.index)]

    return build


def _dense_layers(units: int, state: _BuildState) -> list[Layer]:
    """[Flatten] + Dense(units): a Flatten first when the input is still an image."""
    layers = _flatten_if_image(state)
    n_in = int(np.prod(state.shape))
    state.index += 1
    dense = Dense(n_in, units, init=state.init, rng=state.rng, dtype=state.dtype, index=state.index)
    return [*layers, dense]


def _dense(match: re.Match, state: _BuildState) -> list[Layer]:
    return _dense_layers(int(match["units"]), state)


def _activation(match: re.Match, state: _BuildState) -> list[Layer]:
    return [ActivationLayer(get_activation(match[0]), index=state.index)]


def _shift(match: re.Match, state: _BuildState) -> list[Layer]:
    return [RandomShift(int(match["pixels"]), index=state.index, rng=state.training_rng)]


def _batch_norm(match: re.Match, state: _BuildState) -> list[Layer]:
    return [BatchNorm(state.shape[-1], index=state.index, dtype=state.dtype)]


def _dropout(match: re.Match, state: _BuildState) -> list[Layer]:
    return [Dropout(float(match["keep"]), index=state.index, rng=state.training_rng)]


_N = r"[1-9]\d*"
#: The one registry of architecture tokens: pattern (matched in full) -> layer builder.
TOKENS: dict[re.Pattern, Callable[[re.Match, _BuildState], list[Layer]]] = {
    re.compile(
        rf"conv(?P<filters>{_N})x(?P<kernel>{_N})(?:s(?P<stride>{_N}))?"
        r"(?:p(?P<padding>same|valid|\d+))?"
    ): _conv,
    re.compile(rf"(?:max)?pool(?P<size>{_N})(?:s(?P<stride>{_N}))?"): _pool(MaxPool2D),
    re.compile(rf"avgpool(?P<size>{_N})(?:s(?P<stride>{_N}))?"): _pool(AveragePool2D),
    re.compile("gap"): lambda match, state: [GlobalAveragePool(index=state.index)],
    re.compile("flatten"): lambda match, state: [Flatten(index=state.index)],
    re.compile(rf"dense(?P<units>{_N})"): _dense,
    re.compile("|".join(HIDDEN_ACTIVATIONS)): _activation,
    re.compile("bn"): _batch_norm,
    re.compile(rf"shift(?P<pixels>{_N})"): _shift,
    re.compile(r"dropout(?P<keep>\d*\.?\d+)"): _dropout,
}

GRAMMAR = (
    "conv<F>x<K>[s<S>][p<same|valid|N>], pool<K>[s<S>], maxpool<K>[s<S>], avgpool<K>[s<S>], "
    f"gap, flatten, dense<N>, {' | '.join(HIDDEN_ACTIVATIONS)}, bn, dropout<keep_prob>, shift<N>"
)


def parse_architecture(architecture: str) -> list[tuple[re.Match, Callable]]:
    """Split an architecture string into (match, builder) pairs; ValueError names a bad token."""
    return parse_tokens(architecture, TOKENS, GRAMMAR)


def _count_weights(config: dict) -> int | None:
    """How many parameter values ``ConvNetwork(**config)`` would allocate, worked out from the
    architecture string without building anything (a model-file loader can refuse a forged
    description before it allocates); None when the description is not a valid one."""
    try:
        parsed = parse_architecture(config["architecture"])
        H, W, C = _check_input_shape(config.get("input_shape", (64, 64, 3)))
        n_out = int(config.get("n_outputs", 1))
    except (KeyError, TypeError, ValueError):
        return None
    shape: tuple[int, ...] = (H, W, C)
    total = 0
    keep_bias = bool(config.get("bias_before_bn", False))
    for position, (match, builder) in enumerate(parsed):
        if builder is _conv:
            if len(shape) != 3:
                return None
            k, f, s = int(match["kernel"]), int(match["filters"]), int(match["stride"] or 1)
            pad = match["padding"] or "same"
            pad = int(pad) if pad.isdigit() else pad
            H, W = pad_amounts(shape[0], k, s, pad)[2], pad_amounts(shape[1], k, s, pad)[2]
            if H < 1 or W < 1:
                return None
            before_bn = position + 1 < len(parsed) and parsed[position + 1][1] is _batch_norm
            total += k * k * shape[2] * f + (0 if before_bn and not keep_bias else f)
            shape = (H, W, f)
        elif builder is _dense:
            units = int(match["units"])
            total += math.prod(shape) * units + units
            shape = (units,)
        elif builder is _batch_norm:
            total += 2 * shape[-1]
        elif match[0] == "gap" or match[0].startswith(("pool", "maxpool", "avgpool")):
            if len(shape) != 3:
                return None
            if match[0] == "gap":
                shape = (shape[2],)
            else:
                k = int(match["size"])
                s = int(match["stride"]) if match["stride"] else k
                if min(shape[:2]) < k:
                    return None
                shape = ((shape[0] - k) // s + 1, (shape[1] - k) // s + 1, shape[2])
        elif match[0] == "flatten":
            shape = (math.prod(shape),)
    return total + math.prod(shape) * n_out + n_out  # the output layer


#: What a config from a model file written before ``bias_before_bn`` existed means.
_OLD_CONFIG = {"bias_before_bn": True}


def _bias_free_before_batch_norm(layers: list[Layer]) -> None:
    """Leave out the bias of every Conv2D directly followed by a BatchNorm (it cancels)."""
    for layer, after in zip(layers, layers[1:], strict=False):
        if isinstance(layer, Conv2D) and isinstance(after, BatchNorm):
            layer.remove_bias()


def _pool_before_relu(layers: list[Layer]) -> list[Layer]:
    """``layers`` with every relu directly followed by a MaxPool2D swapped with it (the two
    commute exactly; the pool then does the relu's work on a quarter of the pixels)."""
    out = list(layers)
    for i in range(len(out) - 1):
        first, second = out[i], out[i + 1]
        is_relu = isinstance(first, ActivationLayer) and first.activation.name == "relu"
        if is_relu and isinstance(second, MaxPool2D):
            out[i], out[i + 1] = second, first
    return out


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(n) for n in input_shape)
        ok = len(shape) == 3 and all(n >= 1 for n in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"input_shape must be (H, W, C), three integers >= 1; got {input_shape!r}")
    return cast("tuple[int, int, int]", shape)


@register
class ConvNetwork(TrainableSequential):
    """A convolutional network on images X (m, H, W, C), built from an architecture string.

    Args:
        architecture: the hidden layers, e.g. "conv16x3-relu-pool2-gap-dense32-relu" (grammar
            in the module docstring); the output Dense layer is appended.
        input_shape: (H, W, C) of one image, e.g. (64, 64, 3).
        n_outputs: units of the output layer (1 for a sigmoid; K classes for softmax).
        output_activation: "sigmoid", "softmax" or "identity", fused with its loss.
        init: initialiser of every conv and dense weight ("he" suits ReLU).
        seed: seed of the Generator that draws the initial weights.
        dtype: "float32" (default, and fastest) or "float64" (for gradient checks).
        predict_batch_size: at most this many images go through the network at once in
            ``predict`` / ``predict_proba`` / ``cost`` (bounds im2col's memory; small batches
            stay in cache and are fastest).
        flip_average: at inference, average the output logits of each image and of its mirror
            image (test-time augmentation; twice the prediction time). Training is unchanged.
        flat_input: take the images flattened row-major, X (m, H*W*C), as ``ImagePreprocessor``
            and scikit-learn give them (the attribute ``input_shape`` is then (H*W*C,); an
            ``Unflatten`` layer comes first).
        bias_before_bn: keep the (cancelled) bias of a conv followed by batch norm, as model
            files written before it was left out have it; False (the default) leaves it out.

    Class attribute ``pool_before_relu`` (True): run "relu-pool" as max-pool then relu (module
    docstring); False keeps the written order (the plain path the tests compare it with).

    Attributes:
        image_shape: (H, W, C) of one image.
        input_shape: the per-sample shape of X: ``image_shape``, or (H*W*C,) with
            ``flat_input``.
        layer_shapes: the per-sample output shape of each layer of ``layers``.
    """

    pool_before_relu: bool = True

    def __init__(
        self,
        architecture: str = DEFAULT_ARCHITECTURE,
        input_shape: Sequence[int] = (64, 64, 3),
        n_outputs: int = 1,
        output_activation: str = "sigmoid",
        init: str = "he",
        seed: int | None = 0,
        dtype="float32",
        predict_batch_size: int = 32,
        flip_average: bool = False,
        flat_input: bool = False,
        bias_before_bn: bool = False,
    ):
        self.image_shape = _check_input_shape(input_shape)
        self.flip_average = check_flag("flip_average", flip_average)
        self.flat_input = check_flag("flat_input", flat_input)
        self.bias_before_bn = check_flag("bias_before_bn", bias_before_bn)
        dtype = check_dtype(dtype)
        n_outputs = check_positive("n_outputs", n_outputs, integer=True)
        self.init, self.seed = init, check_seed(seed)
        self.predict_batch_size = check_positive(
            "predict_batch_size", predict_batch_size, integer=True
        )
        parsed = parse_architecture(architecture)
        # dropout masks and shifts (and fit's shuffles and flips when it gets no seed) come
        # from here, seeded like Network's
        training_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.architecture = "-".join(match[0] for match, _ in parsed)

        state = _BuildState(
            shape=self.image_shape,
            index=0,
            init=get_initializer(init),
            rng=np.random.default_rng(seed),
            dtype=dtype,
            training_rng=training_rng,
        )
        layers: list[Layer] = [Unflatten(self.image_shape)] if flat_input else []
        hidden = build_layers(self.architecture, parsed, state)
        if not self.bias_before_bn:
            _bias_free_before_batch_norm(hidden)
        layers += _pool_before_relu(hidden) if self.pool_before_relu else hidden
        layers += _dense_layers(n_outputs, state)  # the output layer
        super().__init__(
            layers,
            input_shape=(math.prod(self.image_shape),) if flat_input else self.image_shape,
            output_activation=output_activation,
            dtype=dtype,
            training_rng=training_rng,
        )

    # ---- description ------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "architecture": self.architecture,
            "input_shape": list(self.image_shape),
            "n_outputs": self.n_outputs,
            "output_activation": self.output_activation,
            "init": self.init,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "predict_batch_size": self.predict_batch_size,
            "flip_average": self.flip_average,
            "flat_input": self.flat_input,
            "bias_before_bn": self.bias_before_bn,
        }

    @classmethod
    def from_config(cls, config: dict) -> ConvNetwork:
        return cls(**{**_OLD_CONFIG, **config})

    @classmethod
    def count_weights(cls, config: dict) -> int | None:
        return _count_weights({**_OLD_CONFIG, **config})

    def __repr__(self) -> str:
        return (
            f"ConvNetwork({self.architecture!r}, input_shape={self.image_shape}, "
            f"n_outputs={self.n_outputs}, output_activation={self.output_activation!r}, "
            f"dtype={self.dtype.name!r})"
        )

    # ---- training -----------------------------------------------------------------------
    def fit(self, X, y, *args, **kwargs):
        """``TrainableSequential.fit``; at its end (or on an error) the layers' work arrays
        are released: a trained network keeps no batch-sized arrays."""
        try:
            return super().fit(X, y, *args, **kwargs)
        finally:
            self.release_work_arrays()

    def _checked_logits(self, X, batch_size: int) -> np.ndarray:
        """The public inference calls (``logits``, ``predict_proba``, ``predict``,
        ``accuracy``, ``cost``) release the work arrays when they return, as ``fit`` does;
        ``fit``'s own evaluations between epochs keep them for the next epoch."""
        try:
            return super()._checked_logits(X, batch_size)
        finally:
            self.release_work_arrays()

    def release_work_arrays(self) -> None:
        """Drop every layer's reused work arrays (``nn.layers.buffers``: a batch's worth of
        outputs and gradients, about 130 MB for the recipe's network at batch 32, reused from
        one batch to the next); the next pass makes new ones. ``fit`` and the public
        inference calls do it when they end."""
        for layer in self.layers:
            work = layer.__dict__.get("_work")
            if work is not None:
                work.clear()

    def _fit_kwargs(self, kwargs: dict) -> dict:
        """With ``flat_input``, ``augment_flip`` gets ``image_shape`` from the network."""
        if self.flat_input and kwargs.get("augment_flip") and kwargs.get("image_shape") is None:
            kwargs = {**kwargs, "image_shape": self.image_shape}
        return kwargs

    # ---- inference: predict_batch_size and flip averaging ------------------------------
    def _logits(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """``Sequential._logits``, at most ``predict_batch_size`` images at a time (fewer if
        ``batch_size`` says so); with ``flip_average``, the mean of the logits of X and of its
        mirror images (W reversed)."""
        if batch_size is None or batch_size > self.predict_batch_size:
            batch_size = self.predict_batch_size
        Z = super()._logits(X, batch_size)
        if self.flip_average:
            mirrored = X.reshape(-1, *self.image_shape)[:, :, ::-1].reshape(X.shape)
            Z += super()._logits(mirrored, batch_size)
            Z *= Z.dtype.type(0.5)
        return Z
