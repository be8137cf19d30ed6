"""skl2onnx converters for nnscratch's ``MLPClassifier`` and ``MLPRegressor``, so that a
scikit-learn Pipeline holding one converts with ``skl2onnx.convert_sklearn``:

    register_skl2onnx()
    onx = convert_sklearn(Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier())]),
                          initial_types=[("X", FloatTensorType([None, n_features]))],
                          options={MLPClassifier: {"zipmap": False}})

The converter reuses the graph builder of ``to_onnx`` (``nnscratch.export.graph``) through
skl2onnx's scope and container. Outputs follow skl2onnx's conventions: a classifier gives
"label" (N,) and "probabilities" (N, K) (a ZipMap of them unless ``zipmap`` is False), a
regressor "variable" (N, n_outputs); the classifier's option ``nocl=True`` makes the labels
class indices. All outputs are cast to the type skl2onnx declares for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnscratch.export._extras import require
from nnscratch.export.graph import build_outputs
from nnscratch.export.kinds import describe
from nnscratch.export.layers import ONNX_STRING, onnx_type


class _Skl2OnnxGraph:
    """The ``layers.Graph`` interface on skl2onnx's scope (names) and container (nodes)."""

    def __init__(self, scope, container, dtype):
        self.scope, self.container = scope, container
        opset = container.target_opset
        self.opset = int(opset.get("", max(opset.values())) if isinstance(opset, dict) else opset)
        self.dtype = np.dtype(dtype)

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.scope.get_unique_variable_name(op.lower())
        name = self.scope.get_unique_operator_name(f"Nnscratch{op}")
        self.container.add_node(op, inputs, [out], name=name, **attrs)
        return out

    def const(self, hint: str, array: np.ndarray) -> str:
        onnx = require("onnx", purpose="export to ONNX")
        array = np.asarray(array)
        name = self.scope.get_unique_variable_name(hint)
        kind = onnx_type(array.dtype)
        if kind == ONNX_STRING:
            content = [str(v).encode("utf-8") for v in array.ravel()]
            self.container.add_initializer(name, kind, list(array.shape), content)
        else:
            self.container.add_initializer(
                name, kind, list(array.shape), onnx.numpy_helper.from_array(array)
            )
        return name


def _convert(names: tuple[str, ...]):
    def convert(scope, operator, container) -> None:
        from skl2onnx.common.data_types import guess_proto_type

        model = operator.raw_operator
        ex = describe(model)
        if ex.classes is not None and scope.get_options(model, {"nocl": False})["nocl"]:
            ex.classes = np.arange(len(ex.classes))  # labels as class indices
        g = _Skl2OnnxGraph(scope, container, ex.dtype)
        outputs = build_outputs(g, ex, operator.inputs[0].full_name, squeeze=False)
        for key, variable in zip(names, operator.outputs, strict=False):
            tensor, elem_type, _ = outputs[key]
            wanted = guess_proto_type(variable.type)
            if wanted != elem_type and elem_type != ONNX_STRING:
                tensor = g.node("Cast", [tensor], to=wanted)
            container.add_node(
                "Identity",
                [tensor],
                [variable.full_name],
                name=scope.get_unique_operator_name("NnscratchOutput"),
            )

    return convert


def _regressor_shape(operator) -> None:
    """(N, n_features) float or double -> (N, n_outputs) of the same type."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    inp = operator.inputs[0].type
    cls = DoubleTensorType if isinstance(inp, DoubleTensorType) else FloatTensorType
    n_outputs = describe(operator.raw_operator).n_outputs
    operator.outputs[0].type = cls([inp.shape[0] if inp.shape else None, n_outputs])


def register_skl2onnx() -> None:
    """Register the converters of ``nnscratch.MLPClassifier`` / ``MLPRegressor`` with skl2onnx
    (idempotent). Needs skl2onnx (the ``export`` extra) and scikit-learn."""
    skl2onnx = require("skl2onnx", purpose="converting pipelines with skl2onnx")
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    from nnscratch.sklearn.estimators import MLPClassifier, MLPRegressor

    skl2onnx.update_registered_converter(
        MLPClassifier,
        "NnscratchMLPClassifier",
        calculate_linear_classifier_output_shapes,
        _convert(("label", "probabilities")),
        options={"zipmap": [True, False, "columns"], "nocl": [False, True]},
    )
    skl2onnx.update_registered_converter(
        MLPRegressor, "NnscratchMLPRegressor", _regressor_shape, _convert(("predictions",))
    )
