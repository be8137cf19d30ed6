"""Recurrent networks on sequences, built from an architecture string like the CNN's.

    # a character-level language model: token ids in, a distribution over the next token
    # at every step out
    lm = SequenceNetwork("embed32-lstm128", input_shape=(T,), vocab_size=V, n_outputs=V,
                         output_activation="sequence_softmax")
    lm.fit(X, Y, optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=30,
           optimizer_options={"clip_norm": 1.0})
    lm.perplexity(X_val, Y_val); lm.sample(10, temperature=0.8, seed=0)

    # forecasting: windows of a series in, the next value out (from the last step)
    net = SequenceNetwork("lstm32", input_shape=(T, 1), n_outputs=1, output_activation="identity")

A SequenceNetwork is a ``Sequential`` (the model core) whose layers come from the string and
whose inputs are sequences: X (m, T) token ids (with an ``embed`` token first) or X (m, T, F)
features. It trains with the same ``fit`` (optimizers, schedules, early stopping, callbacks,
resume), and saves and loads like every model (``nnscratch.save`` / ``nnscratch.load``).

Architecture grammar: tokens joined by "-", applied in order:

    embed<D>                  Embedding of the ``vocab_size`` token ids into D dimensions
                              (first token; token inputs need it)               embed32
    rnn<H> | lstm<H> | gru<H> a recurrent layer of H units                      lstm128
    dense<N>                  Dense with N units, at every step while the data is a sequence
    relu | leaky_relu | tanh | sigmoid | identity        an activation
    dropout<P>                inverted dropout with keep probability P          dropout0.8

Every recurrent layer returns its whole sequence of states, except the last one when the
output is one per sequence: then it returns its last state. The output layer is not written:
a Dense of ``n_outputs`` units is appended, its activation fused with the loss:

    output_activation="sequence_softmax"   one softmax per step (targets Y (m, T), -1 where
                                           a step is not counted): language models
    "softmax" | "sigmoid" | "identity"     one output per sequence, from the last step

Layers are numbered like the article's l: every embed, recurrent and dense token starts a new
l, so the parameters of "embed32-lstm128" + output are W1 (the embedding), weight_ih2,
weight_hh2, bias_ih2, bias_hh2 (the LSTM, laid out as PyTorch's) and W3, b3.

Sequences of unequal length: pad them to one length T. With ``padding`` set, the steps whose
input equals it (a token id; for features, every feature of the step equal to it) are masked:
the recurrent states carry over them unchanged and their outputs are zero (see
``nnscratch.nn.layers.recurrent``), so a per-sequence output reads the state after each
sequence's last real step, wherever the padding is. A per-step output needs no mask when the
padding is at the end and its targets are -1 (nothing after a sequence's end reaches its
counted steps): the language model of ``examples/char_lm.py`` pads that way.

Truncated backpropagation through time (``bptt=k``): each batch is run in chunks of k steps,
the states passed on from chunk to chunk but the gradient stopped at chunk boundaries; the
chunks' gradients are summed into one update. Memory is that of k steps, whatever T. With one
output per sequence only the last chunk's steps get a gradient (the earlier ones only warm the
state up).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nnscratch.base.validation import (
    check_dtype,
    check_positive,
    check_same_length,
    check_seed,
    check_X,
)
from nnscratch.models.architecture import build_layers, parse_tokens
from nnscratch.models.registry import register
from nnscratch.models.trainable import TrainableSequential
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS, get_activation
from nnscratch.nn.initializers import Initializer, get_initializer
from nnscratch.nn.layers import (
    GRU,
    LSTM,
    RNN,
    ActivationLayer,
    Dense,
    Dropout,
    Embedding,
    Layer,
    Recurrent,
    TimeDistributed,
)
from nnscratch.nn.losses import get_loss
from nnscratch.nn.metrics import accuracy
from nnscratch.nn.model import PREDICT_BATCH_SIZE, Sequential

#: recurrent layer classes by architecture token
RECURRENT: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@dataclass
class _BuildState:
    """What the token builders read and advance while the layers are laid out."""

    shape: tuple[int, ...]  # per-sample shape out of the last layer: (T,), (T, F) or (F,)
    index: int  # the article's l of the last embed/recurrent/dense layer
    init: Initializer
    rng: np.random.Generator  # draws the initial weights (and the layers' seeds)
    dtype: np.dtype
    training_rng: np.random.Generator  # dropout masks (``fit`` swaps in its own)
    vocab_size: int | None
    recurrent_left: int  # recurrent tokens still to build
    per_step: bool  # the output is one per step (the last recurrent layer keeps the sequence)


def _layer_seed(state: _BuildState) -> int:
    return int(state.rng.integers(2**32))


def _check_not_tokens(state: _BuildState, what: str) -> None:
    if state.vocab_size is not None and len(state.shape) == 1 and state.index == 0:
        raise ValueError(f"{what} needs vectors; token inputs start with embed<D>")


def _embed(match: re.Match, state: _BuildState) -> list[Layer]:
    if state.vocab_size is None or state.index != 0:
        raise ValueError(
            "embed<D> must be the first token, for token inputs (input_shape (T,) and a vocab_size)"
        )
    state.index += 1
    dim = int(match["units"])
    layer = Embedding(
        state.vocab_size, dim, seed=_layer_seed(state), dtype=state.dtype, index=state.index
    )
    return [layer]


def _recurrent(match: re.Match, state: _BuildState) -> list[Layer]:
    _check_not_tokens(state, "a recurrent layer")
    if len(state.shape) != 2:
        raise ValueError(f"a recurrent layer needs sequences (T, F); got shape {state.shape}")
    state.recurrent_left -= 1
    state.index += 1
    cls = RECURRENT[match["kind"]]
    return [
        cls(
            state.shape[1],
            int(match["units"]),
            return_sequences=state.per_step or state.recurrent_left > 0,
            seed=_layer_seed(state),
            dtype=state.dtype,
            index=state.index,
        )
    ]


def _dense_layer(units: int, state: _BuildState) -> Layer:
    """Dense(units) on vectors (F,), or at every step of sequences (T, F)."""
    _check_not_tokens(state, "a dense layer")
    state.index += 1
    dense = Dense(
        state.shape[-1],
        units,
        init=state.init,
        rng=state.rng,
        dtype=state.dtype,
        index=state.index,
    )
    return TimeDistributed(dense) if len(state.shape) == 2 else dense


def _dense(match: re.Match, state: _BuildState) -> list[Layer]:
    return [_dense_layer(int(match["units"]), state)]


def _activation(match: re.Match, state: _BuildState) -> list[Layer]:
    _check_not_tokens(state, "an activation")
    return [ActivationLayer(get_activation(match[0]), index=state.index)]


def _dropout(match: re.Match, state: _BuildState) -> list[Layer]:
    _check_not_tokens(state, "dropout")
    return [Dropout(float(match["keep"]), index=state.index, rng=state.training_rng)]


_N = r"[1-9]\d*"
#: The one registry of architecture tokens: pattern (matched in full) -> layer builder.
TOKENS: dict[re.Pattern, Callable[[re.Match, _BuildState], list[Layer]]] = {
    re.compile(rf"embed(?P<units>{_N})"): _embed,
    re.compile(rf"(?P<kind>{'|'.join(RECURRENT)})(?P<units>{_N})"): _recurrent,
    re.compile(rf"dense(?P<units>{_N})"): _dense,
    re.compile("|".join(HIDDEN_ACTIVATIONS)): _activation,
    re.compile(r"dropout(?P<keep>\d*\.?\d+)"): _dropout,
}

GRAMMAR = (
    f"embed<D>, {' | '.join(f'{k}<H>' for k in RECURRENT)}, dense<N>, "
    f"{' | '.join(HIDDEN_ACTIVATIONS)}, dropout<keep_prob>"
)


def parse_architecture(architecture: str) -> list[tuple[re.Match, Callable]]:
    """Split an architecture string into (match, builder) pairs; ValueError names a bad token."""
    return parse_tokens(architecture, TOKENS, GRAMMAR)


def _check_input_shape(input_shape, vocab_size) -> tuple[int, ...]:
    """(T,) for token ids (with a vocab_size) or (T, F) for features."""
    try:
        shape = tuple(int(n) for n in input_shape)
        ok = len(shape) == (1 if vocab_size is not None else 2) and all(n >= 1 for n in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        want = "(T,) for token ids" if vocab_size is not None else "(T, F) for features"
        raise ValueError(f"input_shape must be {want}, integers >= 1; got {input_shape!r}")
    return shape


def _check_padding(padding, vocab_size) -> float | None:
    """None, or a finite number (a token id 0..V-1 for token inputs)."""
    if padding is None:
        return None
    ok = (
        isinstance(padding, numbers.Real)
        and not isinstance(padding, bool)
        and math.isfinite(padding)
    )
    if ok and vocab_size is not None:
        ok = padding == int(padding) and 0 <= padding < vocab_size
    if not ok:
        allowed = f"a token id 0..{vocab_size - 1}" if vocab_size is not None else "a number"
        raise ValueError(f"padding must be None or {allowed}; got {padding!r}")
    return float(padding)


def _count_weights(config: dict) -> int | None:
    """How many parameter values ``SequenceNetwork(**config)`` would allocate, from its
    description alone (a model-file loader refuses a forged one before allocating); None
    when the description is not a valid one."""
    try:
        parsed = parse_architecture(config["architecture"])
        vocab = config.get("vocab_size")
        vocab = None if vocab is None else check_positive("vocab_size", vocab, integer=True)
        shape = _check_input_shape(config["input_shape"], vocab)
        n_out = check_positive("n_outputs", config.get("n_outputs", 1), integer=True)
        per_step = get_loss(config.get("output_activation", "identity")).per_step
    except (KeyError, TypeError, ValueError):
        return None
    if not per_step and not any(builder is _recurrent for _, builder in parsed):
        return None  # an output per sequence needs a recurrent layer
    width = None if vocab is not None else shape[1]  # features per step (None: token ids)
    total = 0
    for match, builder in parsed:
        if builder is _embed:
            if vocab is None or width is not None:
                return None
            width = int(match["units"])
            total += vocab * width
        elif builder is _recurrent or builder is _dense:
            if width is None:
                return None
            units = int(match["units"])
            gates = RECURRENT[match["kind"]].gates if builder is _recurrent else None
            total += gates * units * (width + units + 2) if gates else (width + 1) * units
            width = units
        elif width is None:
            return None
    if width is None:
        return None
    return total + (width + 1) * n_out  # the output layer


@register
class SequenceNetwork(TrainableSequential):
    """A recurrent network on sequences, built from an architecture string.

    Args:
        architecture: the hidden layers, e.g. "embed32-lstm128" or "lstm32-dense16-relu"
            (grammar in the module docstring); the output Dense layer is appended.
        input_shape: (T,) for token ids (then give ``vocab_size``), (T, F) for F features
            per step. ``fit`` takes sequences of this length T; ``predict``, ``cost`` and
            ``sample`` take any length.
        n_outputs: units of the output layer (the vocabulary size for a language model,
            K classes for softmax, 1 for a sigmoid or a regression).
        output_activation: "sequence_softmax" (one distribution per step), or "softmax",
            "sigmoid", "identity" (one output per sequence, from the last step).
        vocab_size: V, the number of token ids 0..V-1 (token inputs only).
        padding: None, or the input value that marks padded steps (masked; see the module
            docstring): a token id, or for features the value of every feature of a step.
        bptt: None (backpropagate through all T steps) or k: truncated backpropagation
            through time in chunks of k steps.
        init: initialiser of the dense layers' weights (the recurrent and embedding layers
            draw theirs as PyTorch does).
        seed: seed of the generator that draws the initial weights.
        dtype: "float32" (default) or "float64" (for gradient checks).

    Attributes:
        layer_shapes: the per-sample output shape of each layer of ``layers``.
    """

    def __init__(
        self,
        architecture: str = "lstm64",
        input_shape: Sequence[int] = (32, 1),
        n_outputs: int = 1,
        output_activation: str = "identity",
        vocab_size: int | None = None,
        padding: float | None = None,
        bptt: int | None = None,
        init: str = "glorot_uniform",
        seed: int | None = 0,
        dtype="float32",
    ):
        self.vocab_size = (
            None if vocab_size is None else check_positive("vocab_size", vocab_size, integer=True)
        )
        self.input_shape = _check_input_shape(input_shape, self.vocab_size)
        self.dtype = check_dtype(dtype)
        self.loss = get_loss(output_activation)
        self.output_activation = output_activation
        self.n_outputs = check_positive("n_outputs", n_outputs, integer=True)
        self.loss.check_output_width(self.n_outputs)
        self.padding = _check_padding(padding, self.vocab_size)
        self.bptt = None if bptt is None else check_positive("bptt", bptt, integer=True)
        self.init, self.seed = init, check_seed(seed)
        parsed = parse_architecture(architecture)
        self.architecture = "-".join(match[0] for match, _ in parsed)
        # dropout masks (and fit's shuffles when it gets no seed) come from here, seeded like
        # Network's
        self.training_rng = np.random.default_rng(None if seed is None else [seed, 1])

        state = _BuildState(
            shape=self.input_shape,
            index=0,
            init=get_initializer(init),
            rng=np.random.default_rng(seed),
            dtype=self.dtype,
            training_rng=self.training_rng,
            vocab_size=self.vocab_size,
            recurrent_left=sum(builder is _recurrent for _, builder in parsed),
            per_step=self.loss.per_step,
        )
        layers: list[Layer] = build_layers(self.architecture, parsed, state)
        _check_not_tokens(state, "the output layer")
        if not self.loss.per_step and len(state.shape) != 1:
            raise ValueError(
                f"architecture {self.architecture!r}: an output per sequence "
                f"({output_activation!r}) needs a recurrent layer (its last state feeds the "
                f"output); for an output per step use 'sequence_softmax'"
            )
        output = _dense_layer(self.n_outputs, state)
        state.shape = output.output_shape(state.shape)
        layers.append(output)
        Sequential.__init__(
            self,
            layers,
            input_shape=self.input_shape,
            output_activation=output_activation,
            dtype=self.dtype,
            training_rng=self.training_rng,
        )

    # ---- description ------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "architecture": self.architecture,
            "input_shape": list(self.input_shape),
            "n_outputs": self.n_outputs,
            "output_activation": self.output_activation,
            "vocab_size": self.vocab_size,
            "padding": self.padding,
            "bptt": self.bptt,
            "init": self.init,
            "seed": self.seed,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> SequenceNetwork:
        return cls(**config)

    @classmethod
    def count_weights(cls, config: dict) -> int | None:
        return _count_weights(config)

    def _layer_label(self, layer: Layer) -> str:
        if isinstance(layer, TimeDistributed):
            return f"{type(layer.layer).__name__} (every step) {layer.index}"
        return super()._layer_label(layer)

    def __repr__(self) -> str:
        vocab = "" if self.vocab_size is None else f", vocab_size={self.vocab_size}"
        return (
            f"SequenceNetwork({self.architecture!r}, input_shape={self.input_shape}{vocab}, "
            f"n_outputs={self.n_outputs}, output_activation={self.output_activation!r}, "
            f"dtype={self.dtype.name!r})"
        )

    # ---- forward and backward -----------------------------------------------------------
    def _mask(self, X: np.ndarray) -> np.ndarray | None:
        """(m, T) True at real steps, from the ``padding`` rule; None without padding."""
        if self.padding is None:
            return None
        pad = X == X.dtype.type(self.padding)
        return ~(pad if X.ndim == 2 else pad.all(axis=2))

    def _run(self, X: np.ndarray, training: bool, states: dict | None = None):
        """X (m, T[, F]) -> (Z, caches, final states by layer position). ``states`` gives
        the recurrent layers' initial states by position (None: zeros)."""
        mask = self._mask(X)
        A, caches, finals = X, [], {}
        for position, layer in enumerate(self.layers):
            if isinstance(layer, Recurrent):
                initial = None if states is None else states.get(position)
                A, cache = layer.forward(A, training, mask=mask, initial_state=initial)
                finals[position] = layer.final_state(cache)
            else:
                A, cache = layer.forward(A, training)
            caches.append(cache)
        return A, caches, finals

    def forward(self, X: np.ndarray, training: bool = False) -> tuple[np.ndarray, list]:
        """X (m, T) ids or (m, T, F) -> (logits Z, caches): Z (m, T, n_outputs) for a
        per-step output, else (m, n_outputs)."""
        Z, caches, _ = self._run(X, training)
        return Z, caches

    def _cost_and_gradients(self, X: np.ndarray, Y: np.ndarray, training: bool = True):
        """Checked inputs: X of the network's dtype, Y encoded by the loss."""
        k, T = self.bptt, X.shape[1]
        if k is None or k >= T:
            return self._chunk_cost_and_gradients(X, Y, training, None)[:2]
        per_step = self.loss.per_step
        total = self.loss.count(Y)
        cost, grads, states = 0.0, None, None
        for start in range(0, T, k):
            last = start + k >= T
            Xc = X[:, start : start + k]
            if not per_step and not last:  # warm-up: the state only, no gradient
                states = self._run(Xc, training, states)[2]
                continue
            Yc = Y[:, start : start + k] if per_step else Y
            share = self.loss.count(Yc) / max(total, 1)
            c, g, states = self._chunk_cost_and_gradients(Xc, Yc, training, states, share)
            cost += c
            if grads is None:
                grads = g
            else:
                for name, array in g.items():
                    grads[name] += array
        return cost, grads

    def _chunk_cost_and_gradients(self, X, Y, training, states, share: float = 1.0):
        """Cost and gradients of one chunk of steps, weighted by ``share`` (its part of the
        batch's counted targets), and its final states."""
        Z, caches, finals = self._run(X, training, states)
        cost = self.loss.cost(Z, Y)
        dZ = self.loss.output_gradient(self.loss.activation.forward(Z), Y)
        if share != 1.0:
            dZ *= dZ.dtype.type(share)
        return cost * share, self.backward(dZ, caches), finals

    # ---- inputs -------------------------------------------------------------------------
    def _check_inputs(self, X) -> np.ndarray:
        """X (m, T') of token ids or (m, T', F), any length T' >= 1 -> the network's dtype."""
        X = np.asarray(X)
        if X.ndim != len(self.input_shape) + 1 or X.ndim < 2:
            return check_X(X, self.input_shape, self.dtype)  # its error names the shape
        return check_X(X, (X.shape[1], *self.input_shape[1:]), self.dtype)

    def cost_and_gradients(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """The cost on (X, y) and its gradient for every parameter (same keys and shapes)."""
        X = self._check_inputs(X)
        check_same_length(X, y)
        Y = self.loss.encode_targets(y, self.n_outputs, self.dtype)
        return self._cost_and_gradients(X, Y)

    def cost(self, X, y) -> float:
        """The cost on (X, y) in inference mode (for a language model the mean next-token
        cross-entropy; ``perplexity`` is its exp)."""
        X = self._check_inputs(X)
        check_same_length(X, y)
        Y = self.loss.encode_targets(y, self.n_outputs, self.dtype)
        return self.loss.cost(self._logits(X), Y)

    def perplexity(self, X, y) -> float:
        """exp(cost): a language model's perplexity per counted token."""
        if not self.loss.per_step:
            raise ValueError("perplexity is for per-step (sequence_softmax) outputs")
        return math.exp(self.cost(X, y))

    # ---- prediction ---------------------------------------------------------------------
    def _logits(self, X: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Logits for checked X, ``batch_size`` sequences at a time."""
        m = X.shape[0]
        if m <= batch_size:
            return self.forward(X)[0]
        parts = [self.forward(X[s : s + batch_size])[0] for s in range(0, m, batch_size)]
        return np.concatenate(parts)

    def predict_proba(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Output activations: (m, T, V) per-step distributions, (m, K) class probabilities,
        (m,) for one sigmoid or identity unit, else (m, n_outputs)."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        A = self.loss.activation.forward(self._logits(self._check_inputs(X), batch_size))
        return A[:, 0] if A.ndim == 2 and A.shape[1] == 1 else A

    def predict(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """The output's decision (``Loss.decide``): (m, T) next tokens, (m,) labels, or the
        predicted values."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        return self.loss.decide(self._logits(self._check_inputs(X), batch_size))

    def accuracy(self, X, y) -> float:
        """Fraction of correct labels; for a per-step output, of correct next tokens over
        the counted steps."""
        if self.output_activation == "identity":
            raise ValueError("accuracy is for classifiers; this network has an identity output")
        pred = self.predict(X)
        if not self.loss.per_step:
            return accuracy(pred, y)
        y = np.asarray(y)
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape}; got {y.shape}")
        counted = y >= 0
        return float(np.mean(pred[counted] == y[counted])) if counted.any() else float("nan")

    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        seed: int | None = None,
        *,
        start_id: int = 1,
        end_id: int = 1,
        max_length: int = 50,
    ) -> list[np.ndarray]:
        """Draw n sequences from a language model, one token at a time.

        Each starts from ``start_id`` and ends before the first ``end_id`` drawn (or after
        ``max_length`` tokens); the token at each step is drawn from softmax(z / temperature)
        (below 1: likelier tokens, above 1: more varied). The defaults follow
        ``nnscratch.data.sequences.CharVocabulary`` (id 1 starts and ends a name). Returns
        one int64 array of token ids per sequence, ``start_id`` and ``end_id`` left out.
        """
        if not (self.loss.per_step and self.vocab_size == self.n_outputs):
            raise ValueError(
                "sample needs a language model: token inputs and a sequence_softmax output "
                "over the same vocabulary"
            )
        n = check_positive("n", n, integer=True)
        temperature = check_positive("temperature", temperature)
        max_length = check_positive("max_length", max_length, integer=True)
        for name, value in (("start_id", start_id), ("end_id", end_id)):
            if not 0 <= check_positive(name, value, integer=True, allow_zero=True) < self.n_outputs:
                raise ValueError(f"{name} must be a token id below {self.n_outputs}; got {value}")
        rng = np.random.default_rng(check_seed(seed))
        tokens = np.full((n, 1), start_id, dtype=self.dtype)
        drawn = np.empty((n, max_length), dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        states = None
        for step in range(max_length):
            Z, _, states = self._run(tokens, False, states)
            z = Z[:, 0].astype(np.float64) / temperature
            P = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(P, axis=1)
            u = rng.random((n, 1)) * cdf[:, -1:]
            ids = np.minimum((cdf < u).sum(axis=1), self.n_outputs - 1)
            drawn[:, step] = ids
            done |= ids == end_id
            if done.all():
                break
            tokens[:, 0] = ids
        out = []
        for row in drawn[:, : step + 1]:
            ends = np.flatnonzero(row == end_id)
            out.append(row[: ends[0]] if ends.size else row)
        return out

    # ---- training -----------------------------------------------------------------------
    def fit(self, X, y, learning_rate: float = 0.0075, iterations: int | None = None, **kwargs):
        """Train on X (m, T) token ids or (m, T, F) and y: (m, T) per-step targets (-1: not
        counted) or (m,) per sequence; see ``nnscratch.train.fit.fit`` for the keywords.
        Gradient clipping: ``optimizer_options={"clip_norm": c}``."""
        return super().fit(X, y, learning_rate=learning_rate, iterations=iterations, **kwargs)
