"""What is exported: any model kind reduced to one ``Exportable`` description.

    ex = describe(model)    # Network, ConvNetwork, Ensemble, LoadedModel or a fitted estimator
    ex.preprocessors        # steps applied to the raw input first (a model file's)
    ex.members              # the networks (Sequential); several for an ensemble
    ex.head                 # "network", "classifier" or "regressor": what the outputs are

The model kinds are one registry (``MODEL_KINDS``: a test and a describer per kind, tried in
order); ``describe`` raises ``UnsupportedModelError`` naming what it got and what is allowed.
The ONNX and PyTorch backends both build from an ``Exportable``, so both export the same model.

Outputs, by head (m samples, n_L output units, K classes):

    network     sigmoid/softmax: "label" (m,) or (m, n_L) int64 by the loss's decision rule,
                "probabilities" as ``predict_proba`` ((m,) for one sigmoid unit, else (m, n_L));
                identity: "predictions" as ``predict`` ((m,) for one unit, else (m, n_L))
    classifier  "label" (m,) from ``classes_``, "probabilities" (m, K) as the estimator's
                ``predict_proba`` (two classes: [1 - p, p])
    regressor   "predictions" as the estimator's ``predict`` ((m,) for one output)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnscratch.models.ensemble import Ensemble
from nnscratch.nn.model import Sequential
from nnscratch.persist.modelfile import LoadedModel

#: The output activations an export reproduces (the per-step losses of sequence models are not).
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "identity")


class UnsupportedModelError(ValueError):
    """The model (or one of its layers, preprocessors or outputs) has no exporter."""


@dataclass
class Exportable:
    """A model reduced to what the exporters need.

    Attributes:
        members: the networks; their logits (one member) or the mean of their output
            activations (``mean_probabilities``, an ensemble) make the output.
        output_activation: "sigmoid", "softmax" or "identity".
        head: "network", "classifier" (``classes`` set) or "regressor".
        preprocessors: fitted steps applied to the raw input before the first member.
        input_shape: the per-sample shape of the raw input.
        input_dtype: the dtype of the raw input the exported model takes.
        dtype: the dtype of the networks' computation.
        classes: the estimator's ``classes_`` (classifier head only).
        name: what the model is, for the graph's doc string.
    """

    members: list[Sequential]
    output_activation: str
    head: str
    input_shape: tuple[int, ...]
    input_dtype: np.dtype
    dtype: np.dtype
    preprocessors: list[Any] = field(default_factory=list)
    mean_probabilities: bool = False
    classes: np.ndarray | None = None
    name: str = "model"

    @property
    def n_outputs(self) -> int:
        return self.members[0].n_outputs


def _network(model: Sequential) -> Exportable:
    return Exportable(
        members=[model],
        output_activation=model.output_activation,
        head="network",
        input_shape=tuple(model.input_shape),
        input_dtype=model.dtype,
        dtype=model.dtype,
        name=repr(model),
    )


def _ensemble(model: Ensemble) -> Exportable:
    ex = _network(model.members[0])
    ex.members = list(model.members)
    ex.mean_probabilities = True
    ex.name = repr(model)
    return ex


def _loaded(model: LoadedModel) -> Exportable:
    ex = describe(model.network)
    if model.preprocessor is not None:
        from nnscratch.export.layers import preprocessor_exporter

        preprocessor_exporter(model.preprocessor)  # a table's encoding has none: refused here
        ex.preprocessors = [model.preprocessor]
        ex.input_shape = tuple(model.input_shape)
        # raw images are uint8 pixels; other raw features come in the preprocessor's dtype
        image = len(ex.input_shape) == 3
        ex.input_dtype = np.dtype(np.uint8) if image else np.dtype(model.preprocessor.dtype)
    ex.name = f"model file of {ex.name}"
    return ex


def _estimator(model: Any) -> Exportable:
    net = getattr(model, "network_", None)
    if not isinstance(net, Sequential):
        raise UnsupportedModelError(
            f"{type(model).__name__} is not fitted (it has no network_); fit it before exporting"
        )
    ex = _network(net)
    classes = getattr(model, "classes_", None)
    if classes is not None:
        ex.head, ex.classes = "classifier", np.asarray(classes)
    else:
        ex.head = "regressor"
    ex.name = f"{type(model).__name__} of {ex.name}"
    return ex


def _is_estimator(model: Any) -> bool:
    """A scikit-learn estimator (fitted or not), duck-typed."""
    return hasattr(model, "get_params") and hasattr(model, "fit")


#: Model kinds in the order they are tried: (name, test, describer).
MODEL_KINDS: list[tuple[str, Callable[[Any], bool], Callable[[Any], Exportable]]] = [
    ("Ensemble", lambda m: isinstance(m, Ensemble), _ensemble),
    ("LoadedModel (nnscratch.load)", lambda m: isinstance(m, LoadedModel), _loaded),
    (
        "fitted estimator (network_)",
        lambda m: hasattr(m, "network_") or _is_estimator(m),
        _estimator,
    ),
    ("Network / ConvNetwork", lambda m: isinstance(m, Sequential), _network),
]


def describe(model: Any) -> Exportable:
    """The ``Exportable`` of ``model``; UnsupportedModelError for any other object, for an
    output activation other than sigmoid/softmax/identity, and (through ``check_layers``)
    for a layer without an exporter."""
    from nnscratch.export.layers import check_layers

    for _, test, describer in MODEL_KINDS:
        if test(model):
            ex = describer(model)
            break
    else:
        allowed = ", ".join(name for name, _, _ in MODEL_KINDS)
        raise UnsupportedModelError(
            f"cannot export a {type(model).__name__}; exportable: {allowed}"
        )
    if ex.output_activation not in OUTPUT_ACTIVATIONS or ex.members[0].loss.per_step:
        raise UnsupportedModelError(
            f"cannot export {ex.name}: its output {ex.output_activation!r} is not one of "
            f"{', '.join(OUTPUT_ACTIVATIONS)} on (m, n_L) logits"
        )
    for net in ex.members:
        check_layers(net)
    return ex
