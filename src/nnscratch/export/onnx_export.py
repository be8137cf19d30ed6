"""``to_onnx(model, path)``: an ONNX model that takes the same raw input as the nnscratch model
and gives the same outputs (names and shapes in ``nnscratch.export.kinds``).

    proto = to_onnx(nnscratch.load("cat.npz"), "cat.onnx")
    session = onnxruntime.InferenceSession("cat.onnx")
    label, probabilities = session.run(None, {"X": images})     # images: (m, 64, 64, 3) uint8

Built with ``onnx.helper`` (the ``export`` extra); the model is checked by ``onnx.checker``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from nnscratch.base.atomic import atomic_write
from nnscratch.base.validation import check_int_at_least
from nnscratch.base.version import __version__
from nnscratch.export._extras import require
from nnscratch.export.graph import build_outputs
from nnscratch.export.kinds import Exportable, UnsupportedModelError, describe
from nnscratch.export.layers import onnx_type

#: The default ONNX opset (onnxruntime 1.14 and later run it); the lowest one supported is 13.
DEFAULT_OPSET = 17
MIN_OPSET = 13
INPUT_NAME = "X"


def _onnx():
    return require("onnx", purpose="export to ONNX")


class OnnxGraph:
    """Nodes and initializers of a graph being built (the ``layers.Graph`` interface); equal
    constants are stored once."""

    def __init__(self, opset: int, dtype):
        self.opset, self.dtype = opset, np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self._consts: dict[tuple, str] = {}
        self._onnx = _onnx()

    def unique(self, hint: str) -> str:
        name, k = hint, 0
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.unique(op.lower())
        self.nodes.append(
            self._onnx.helper.make_node(op, inputs, [out], name=self.unique(f"{op}_node"), **attrs)
        )
        return out

    def const(self, hint: str, array: np.ndarray) -> str:
        array = np.asarray(array)
        if array.dtype.kind in "US":
            array = array.astype(object)
        raw = repr(array.tolist()).encode() if array.dtype == object else array.tobytes()
        key = (array.dtype.str, array.shape, hashlib.sha256(raw).hexdigest())
        if key not in self._consts:
            name = self.unique(hint)
            self.initializers.append(self._onnx.numpy_helper.from_array(array, name))
            self._consts[key] = name
        return self._consts[key]


def _check_input_dtype(ex: Exportable, input_dtype) -> None:
    if input_dtype is None:
        return
    try:
        dtype = np.dtype(input_dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "iuf":
        raise ValueError(f"input_dtype must be an integer or float dtype; got {input_dtype!r}")
    ex.input_dtype = dtype


def to_onnx(
    model,
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    input_dtype=None,
):
    """The ONNX ``ModelProto`` of ``model`` (written atomically to ``path`` when given).

    Args:
        model: a ``Network``, ``ConvNetwork``, ``Ensemble``, ``LoadedModel`` (``nnscratch.load``:
            its preprocessor inside the graph) or fitted ``MLPClassifier``/``MLPRegressor``.
        path: where to write the .onnx file, or None.
        opset: the ONNX opset, from 13 to the installed onnx's newest.
        input_dtype: the element type of the graph's input "X" (shape (N, *input_shape));
            default: the network's dtype, or uint8 for a model file holding images.

    Raises UnsupportedModelError for a model, layer or preprocessor without an exporter,
    MissingExtraError without onnx.
    """
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    opset = check_int_at_least("opset", opset, MIN_OPSET)
    if opset > newest:
        raise ValueError(
            f"opset must be from {MIN_OPSET} to {newest} (onnx {onnx.__version__}); got {opset}"
        )
    ex = describe(model)
    _check_input_dtype(ex, input_dtype)
    g = OnnxGraph(opset, ex.dtype)
    g.unique(INPUT_NAME)
    outputs = build_outputs(g, ex, INPUT_NAME)
    helper = onnx.helper
    value_infos = []
    for name, (tensor, elem_type, shape) in outputs.items():
        g.nodes.append(helper.make_node("Identity", [tensor], [name], name=g.unique(f"{name}_out")))
        value_infos.append(helper.make_tensor_value_info(name, elem_type, shape))
    graph = helper.make_graph(
        g.nodes,
        "nnscratch",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, onnx_type(ex.input_dtype), ["N", *ex.input_shape]
            )
        ],
        value_infos,
        initializer=g.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="nnscratch",
        producer_version=__version__,
        doc_string=f"{ex.name}; outputs: {', '.join(outputs)}",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as err:  # a bug of ours, not the user's
        raise UnsupportedModelError(f"the exported graph of {ex.name} is invalid: {err}") from err
    if path is not None:
        with atomic_write(path) as f:
            f.write(proto.SerializeToString())
    return proto
