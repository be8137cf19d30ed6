"""The ONNX graph of an ``Exportable``, through the ``Graph`` interface of
``nnscratch.export.layers`` (so the same builder serves ``to_onnx`` and the skl2onnx converter).

    outputs = build_outputs(graph, describe(model), "X")   # {"probabilities": (name, type, shape)}

The raw input goes through the preprocessors, is cast to the networks' dtype, through each
member's layers (an image transposed to channels-first on entry), then the output activation;
an ensemble averages its members' activations in float64, as ``Ensemble.predict_proba`` does.
The heads (``HEADS``) turn logits and probabilities into the named outputs of ``kinds``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnscratch.export.kinds import Exportable
from nnscratch.export.layers import (
    TO_CHANNELS_FIRST,
    Graph,
    activation_exporter,
    layer_exporter,
    layer_inputs,
    onnx_type,
    preprocessor_exporter,
)
from nnscratch.nn.activations import get_activation
from nnscratch.nn.model import Sequential

#: An output: (tensor name, ONNX element type, shape with "N" for the samples)
Output = tuple[str, int, list]
INT64 = onnx_type(np.int64)
_INT64_MIN = np.iinfo(np.int64).min


def cast(g: Graph, x: str, dtype) -> str:
    return g.node("Cast", [x], to=onnx_type(dtype))


def _run_layers(g: Graph, net: Sequential, x: str) -> str:
    if len(net.input_shape) == 3:
        x = g.node("Transpose", [x], perm=TO_CHANNELS_FIRST)
    for layer, shape_in in layer_inputs(net):
        x = layer_exporter(layer).onnx(layer, g, x, shape_in)
    return x


def _mirrored(g: Graph, net: Sequential, x: str) -> str:
    """X with each image's W axis reversed (ConvNetwork's flip averaging); flat inputs are
    unflattened for it and flattened back."""
    image_shape = tuple(getattr(net, "image_shape", net.input_shape))
    flat = tuple(net.input_shape) != image_shape
    if flat:
        x = g.node("Reshape", [x, g.const("image_shape", np.array([-1, *image_shape]))])
    x = g.node(
        "Slice",
        [
            x,
            g.const("starts", np.array([-1])),
            g.const("ends", np.array([_INT64_MIN])),
            g.const("axes", np.array([2])),
            g.const("steps", np.array([-1])),
        ],
    )
    if flat:
        x = g.node("Reshape", [x, g.const("flat_shape", np.array([-1, *net.input_shape]))])
    return x


def member_logits(g: Graph, net: Sequential, x: str) -> str:
    """Z_L (m, n_L) of one network in inference mode, flip-averaged where the network is."""
    Z = _run_layers(g, net, x)
    if getattr(net, "flip_average", False):
        Z2 = _run_layers(g, net, _mirrored(g, net, x))
        Z = g.node("Mul", [g.node("Add", [Z, Z2]), g.const("half", np.array(0.5, net.dtype))])
    return Z


def _activate(g: Graph, name: str, Z: str) -> str:
    act = get_activation(name)
    return activation_exporter(act).onnx(act, g, Z)


def _decide(g: Graph, output: str, T: str, *, on_probabilities: bool, dtype) -> str | None:
    """The loss's decision rule (``Loss.decide`` / ``decide_proba``) as int64 labels."""
    if output == "softmax":
        return g.node("ArgMax", [T], axis=1, keepdims=0)
    if output == "sigmoid":  # z > 0, i.e. sigmoid(z) > 1/2
        threshold = g.const("threshold", np.array(0.5 if on_probabilities else 0.0, dtype))
        return cast(g, g.node("Greater", [T, threshold]), np.int64)
    return None


def _squeeze(g: Graph, x: str) -> str:
    """(m, 1) -> (m,)"""
    return g.node("Reshape", [x, g.const("to_vector", np.array([-1]))])


class Computed:
    """The tensors the heads choose from: P (m, n_L) activations, labels by the decision
    rule ((m,) for softmax, (m, n_L) for sigmoid), both before any squeezing."""

    def __init__(self, P: str, label: str | None):
        self.P, self.label = P, label


def compute(g: Graph, ex: Exportable, x: str) -> Computed:
    for pre in ex.preprocessors:
        x = preprocessor_exporter(pre).onnx(pre, g, x)
    x = cast(g, x, ex.dtype)
    if not ex.mean_probabilities:
        Z = member_logits(g, ex.members[0], x)
        label = _decide(g, ex.output_activation, Z, on_probabilities=False, dtype=ex.dtype)
        return Computed(_activate(g, ex.output_activation, Z), label)
    total = None
    for net in ex.members:  # each member's activation in float64, then the mean
        P = _activate(g, ex.output_activation, cast(g, member_logits(g, net, x), np.float64))
        total = P if total is None else g.node("Add", [total, P])
    assert total is not None
    mean = g.node("Div", [total, g.const("n_members", np.array(len(ex.members), np.float64))])
    label = _decide(g, ex.output_activation, mean, on_probabilities=True, dtype=np.float64)
    return Computed(cast(g, mean, ex.dtype), label)


def _shape(ex: Exportable, squeezed: bool, width: int | None = None) -> list:
    return ["N"] if squeezed else ["N", width or ex.n_outputs]


def _network_head(g: Graph, ex: Exportable, c: Computed, squeeze: bool) -> dict[str, Output]:
    one = squeeze and ex.n_outputs == 1
    P = _squeeze(g, c.P) if one else c.P
    shape = _shape(ex, one)
    if c.label is None:  # identity: the values
        return {"predictions": (P, onnx_type(ex.dtype), shape)}
    softmax = ex.output_activation == "softmax"
    label = _squeeze(g, c.label) if one else c.label
    label_shape = ["N"] if softmax or one else shape
    return {"label": (label, INT64, label_shape), "probabilities": (P, onnx_type(ex.dtype), shape)}


def _classifier_head(g: Graph, ex: Exportable, c: Computed, squeeze: bool) -> dict[str, Output]:
    assert ex.classes is not None and c.label is not None
    classes = ex.classes
    if classes.dtype.kind in "iub":
        classes = classes.astype(np.int64)
    elif classes.dtype.kind in "US":
        classes = classes.astype(object)
    if ex.output_activation == "sigmoid" and ex.n_outputs == 1:  # [1 - p, p]
        one = g.const("one", np.array(1, ex.dtype))
        P = g.node("Concat", [g.node("Sub", [one, c.P]), c.P], axis=1)
        index = _squeeze(g, c.label)
    elif ex.output_activation == "sigmoid":  # multilabel: the indicator matrix
        P = c.P
        return {
            "label": (c.label, INT64, ["N", ex.n_outputs]),
            "probabilities": (P, onnx_type(ex.dtype), ["N", ex.n_outputs]),
        }
    else:
        P, index = c.P, c.label
    label = g.node("Gather", [g.const("classes", classes), index], axis=0)
    return {
        "label": (label, onnx_type(classes.dtype), ["N"]),
        "probabilities": (P, onnx_type(ex.dtype), ["N", len(ex.classes)]),
    }


def _regressor_head(g: Graph, ex: Exportable, c: Computed, squeeze: bool) -> dict[str, Output]:
    one = squeeze and ex.n_outputs == 1
    P = _squeeze(g, c.P) if one else c.P
    return {"predictions": (P, onnx_type(ex.dtype), _shape(ex, one))}


#: Exportable.head -> the named outputs (see ``nnscratch.export.kinds``).
HEADS: dict[str, Callable[[Graph, Exportable, Computed, bool], dict[str, Output]]] = {
    "network": _network_head,
    "classifier": _classifier_head,
    "regressor": _regressor_head,
}


def build_outputs(g: Graph, ex: Exportable, x: str, *, squeeze: bool = True) -> dict[str, Output]:
    """Add ``ex``'s computation on input tensor ``x`` to ``g``; returns its named outputs.
    ``squeeze=False`` keeps one-unit outputs (m, 1) (skl2onnx's convention)."""
    return HEADS[ex.head](g, ex, compute(g, ex, x), squeeze)
