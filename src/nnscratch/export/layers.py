"""One exporter per layer kind (and per preprocessor, per activation), ONNX and PyTorch side by
side, in registries keyed by the nnscratch class:

    LAYER_EXPORTERS[Conv2D].onnx(layer, graph, x, shape_in) -> the output tensor's name
    LAYER_EXPORTERS[Conv2D].torch(layer, shape_in) -> [(spec, arrays)], what
        ``nnscratch.export.torch_module`` builds a module from (spec: JSON-able; arrays: its
        state_dict entries by local name, in PyTorch's layout)

``shape_in`` is the layer's per-sample input shape in nnscratch's layout. nnscratch's images are
channels-last (m, H, W, C); ONNX's Conv and PyTorch's Conv2d are channels-first, so inside an
exported model an image tensor is held as (m, C, H, W): the input is transposed once on entry
(or by ``Unflatten``), conv weights (kh, kw, C_in, C_out) become (C_out, C_in, kh, kw), and
``Flatten`` transposes back to (m, H, W, C) before flattening, so that the Dense weights after
it see nnscratch's (channels fastest) feature order unchanged.

Dropout and RandomShift act only while training: they export to nothing (inference mode), and
batch norm exports with its running statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.export.kinds import UnsupportedModelError
from nnscratch.nn.activations import Activation
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
from nnscratch.nn.model import Sequential

#: (m, H, W, C) -> (m, C, H, W) and back
TO_CHANNELS_FIRST, TO_CHANNELS_LAST = [0, 3, 1, 2], [0, 2, 3, 1]

TorchEntries = list[tuple[dict, dict[str, np.ndarray]]]


class Graph(Protocol):
    """What the exporters add nodes through (``onnx_graph.OnnxGraph``, or skl2onnx's scope and
    container behind ``skl2onnx_converter``)."""

    opset: int
    dtype: np.dtype  # the networks' dtype (of the constants that activations add)

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        """Add one node with one output; returns the output's name."""
        ...

    def const(self, hint: str, array: np.ndarray) -> str:
        """Add a constant tensor; returns its name."""
        ...


@dataclass(frozen=True)
class Exporter:
    """One kind's ONNX exporter and PyTorch exporter."""

    onnx: Callable[..., str]
    torch: Callable[..., TorchEntries]


# ---- activations ----------------------------------------------------------------------------
def _act_onnx(op: str | None):
    def build(act: Activation, g: Graph, x: str) -> str:
        return x if op is None else g.node(op, [x])

    return build


def _leaky_relu_onnx(act, g: Graph, x: str) -> str:
    """max(z, slope z) (= z for z > 0, slope z otherwise, as 0 <= slope < 1), with the slope
    in the model's dtype: ONNX's LeakyRelu holds its alpha in float32."""
    slope = g.const("slope", np.array(act.slope, dtype=g.dtype))
    return g.node("Max", [x, g.node("Mul", [x, slope])])


def _act_torch(act: Activation) -> TorchEntries:
    return [({"kind": "activation", **act.config()}, {})]


#: Activation name -> Exporter(onnx(act, graph, x), torch(act)).
ACTIVATION_EXPORTERS: dict[str, Exporter] = {
    "relu": Exporter(_act_onnx("Relu"), _act_torch),
    "leaky_relu": Exporter(_leaky_relu_onnx, _act_torch),
    "tanh": Exporter(_act_onnx("Tanh"), _act_torch),
    "sigmoid": Exporter(_act_onnx("Sigmoid"), _act_torch),
    "identity": Exporter(_act_onnx(None), _act_torch),
    "softmax": Exporter(lambda act, g, x: g.node("Softmax", [x], axis=-1), _act_torch),
}


def activation_exporter(act: Activation) -> Exporter:
    if act.name not in ACTIVATION_EXPORTERS:
        raise _unsupported("activation", act.name, ACTIVATION_EXPORTERS)
    return ACTIVATION_EXPORTERS[act.name]


# ---- layers ---------------------------------------------------------------------------------
def _dense_onnx(layer: Dense, g: Graph, x: str, shape_in) -> str:
    W = g.const(f"W{layer.index}", layer.params["W"])  # (n_l, n_{l-1})
    b = g.const(f"b{layer.index}", layer.params["b"])
    return g.node("Gemm", [x, W, b], transB=1)  # x W^T + b


def _dense_torch(layer: Dense, shape_in) -> TorchEntries:
    spec = {"kind": "linear", "n_in": layer.n_in, "n_out": layer.n_out}
    return [(spec, {"weight": layer.params["W"], "bias": layer.params["b"]})]


def _conv_pads(layer: Conv2D, shape_in) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zeros for an input of per-sample shape (H, W, C)."""
    (kh, kw), s = layer.kernel_size, layer.stride
    top, bottom, _ = pad_amounts(shape_in[0], kh, s, layer.padding)
    left, right, _ = pad_amounts(shape_in[1], kw, s, layer.padding)
    return top, bottom, left, right


#: The dtypes onnxruntime's CPU Conv and AveragePool kernels take; other ones (float64) run
#: these ops in float32 inside the graph, cast back after (within ~1e-7 relative of nnscratch).
ORT_FLOAT_ONLY = np.dtype(np.float32)


def _in_float32(g: Graph, x: str, op: str, inputs: list[str], **attrs: Any) -> str:
    """``op(x, *inputs)``, computed in float32 when the graph's dtype is not float32."""
    if g.dtype == ORT_FLOAT_ONLY:
        return g.node(op, [x, *inputs], **attrs)
    x32 = g.node("Cast", [x], to=onnx_type(ORT_FLOAT_ONLY))
    return g.node("Cast", [g.node(op, [x32, *inputs], **attrs)], to=onnx_type(g.dtype))


def _conv_bias(layer: Conv2D) -> np.ndarray:
    """The conv's bias (C_out,): zeros when the layer has none (a conv followed by batch norm
    leaves its bias out, since the batch norm cancels it)."""
    b = layer.params.get("b")
    return np.zeros(layer.filters, dtype=layer.params["W"].dtype) if b is None else b


def _conv_onnx(layer: Conv2D, g: Graph, x: str, shape_in) -> str:
    top, bottom, left, right = _conv_pads(layer, shape_in)
    W = layer.params["W"].transpose(3, 2, 0, 1).astype(ORT_FLOAT_ONLY)  # (C_out, C_in, kh, kw)
    W_name = g.const(f"W{layer.index}", np.ascontiguousarray(W))
    b = g.const(f"b{layer.index}", _conv_bias(layer).astype(ORT_FLOAT_ONLY))
    return _in_float32(
        g,
        x,
        "Conv",
        [W_name, b],
        kernel_shape=list(layer.kernel_size),
        strides=[layer.stride, layer.stride],
        pads=[top, left, bottom, right],
    )


def _conv_torch(layer: Conv2D, shape_in) -> TorchEntries:
    spec = {
        "kind": "conv2d",
        "in_channels": layer.in_channels,
        "filters": layer.filters,
        "kernel_size": list(layer.kernel_size),
        "stride": layer.stride,
        "pads": list(_conv_pads(layer, shape_in)),  # top, bottom, left, right
    }
    weight = np.ascontiguousarray(layer.params["W"].transpose(3, 2, 0, 1))  # (C_out, C_in, kh, kw)
    return [(spec, {"weight": weight, "bias": _conv_bias(layer)})]


def _pool_onnx(op: str, *, float32_only: bool):
    def build(layer, g: Graph, x: str, shape_in) -> str:
        attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.stride)}
        return _in_float32(g, x, op, [], **attrs) if float32_only else g.node(op, [x], **attrs)

    return build


def _pool_torch(kind: str):
    def build(layer, shape_in) -> TorchEntries:
        spec = {"kind": kind, "pool_size": list(layer.pool_size), "stride": list(layer.stride)}
        return [(spec, {})]

    return build


def _gap_onnx(layer, g: Graph, x: str, shape_in) -> str:
    """The mean over H and W of (m, C, H, W): (m, C). ReduceMean (float64 too, unlike
    onnxruntime's GlobalAveragePool) takes its axes as an input from opset 18."""
    if g.opset >= 18:
        return g.node("ReduceMean", [x, g.const("hw_axes", np.array([2, 3]))], keepdims=0)
    return g.node("ReduceMean", [x], axes=[2, 3], keepdims=0)


def _flatten_onnx(layer, g: Graph, x: str, shape_in) -> str:
    if len(shape_in) == 3:  # back to nnscratch's channels-last order first
        x = g.node("Transpose", [x], perm=TO_CHANNELS_LAST)
    return g.node("Flatten", [x], axis=1)


def _unflatten_onnx(layer: Unflatten, g: Graph, x: str, shape_in) -> str:
    shape = g.const("unflatten_shape", np.array([-1, *layer.shape], dtype=np.int64))
    x = g.node("Reshape", [x, shape])
    return g.node("Transpose", [x], perm=TO_CHANNELS_FIRST) if len(layer.shape) == 3 else x


def _batchnorm_onnx(layer: BatchNorm, g: Graph, x: str, shape_in) -> str:
    l = layer.index  # noqa: E741 (the article's l)
    inputs = [
        g.const(f"gamma{l}", layer.params["gamma"]),
        g.const(f"beta{l}", layer.params["beta"]),
        g.const(f"running_mean{l}", layer.buffers["running_mean"]),
        g.const(f"running_var{l}", layer.buffers["running_var"]),
    ]
    return g.node("BatchNormalization", [x, *inputs], epsilon=layer.eps)


def _batchnorm_torch(layer: BatchNorm, shape_in) -> TorchEntries:
    spec = {"kind": "batchnorm", "n": layer.n, "eps": layer.eps, "image": len(shape_in) == 3}
    arrays = {
        "weight": layer.params["gamma"],
        "bias": layer.params["beta"],
        "running_mean": layer.buffers["running_mean"],
        "running_var": layer.buffers["running_var"],
        "num_batches_tracked": np.array(0, dtype=np.int64),
    }
    return [(spec, arrays)]


def _identity_onnx(layer, g: Graph, x: str, shape_in) -> str:
    return x


def _nothing_torch(layer, shape_in) -> TorchEntries:
    return []


#: The one registry of layer exporters: nnscratch layer class -> Exporter(onnx, torch).
LAYER_EXPORTERS: dict[type[Layer], Exporter] = {
    Dense: Exporter(_dense_onnx, _dense_torch),
    ActivationLayer: Exporter(
        lambda layer, g, x, shape_in: activation_exporter(layer.activation).onnx(
            layer.activation, g, x
        ),
        lambda layer, shape_in: activation_exporter(layer.activation).torch(layer.activation),
    ),
    Conv2D: Exporter(_conv_onnx, _conv_torch),
    MaxPool2D: Exporter(_pool_onnx("MaxPool", float32_only=False), _pool_torch("maxpool")),
    AveragePool2D: Exporter(_pool_onnx("AveragePool", float32_only=True), _pool_torch("avgpool")),
    GlobalAveragePool: Exporter(_gap_onnx, lambda layer, shape_in: [({"kind": "gap"}, {})]),
    Flatten: Exporter(
        _flatten_onnx,
        lambda layer, shape_in: [({"kind": "flatten", "image": len(shape_in) == 3}, {})],
    ),
    Unflatten: Exporter(
        _unflatten_onnx,
        lambda layer, shape_in: [({"kind": "unflatten", "shape": list(layer.shape)}, {})],
    ),
    BatchNorm: Exporter(_batchnorm_onnx, _batchnorm_torch),
    Dropout: Exporter(_identity_onnx, _nothing_torch),  # inference: identity
    RandomShift: Exporter(_identity_onnx, _nothing_torch),  # inference: identity
}


def layer_exporter(layer: Layer) -> Exporter:
    """The exporter of ``layer``'s class; UnsupportedModelError naming it otherwise."""
    exporter = LAYER_EXPORTERS.get(type(layer))
    if exporter is None:
        raise _unsupported("layer", f"{type(layer).__name__} {layer.index}", LAYER_EXPORTERS)
    if isinstance(layer, ActivationLayer):
        activation_exporter(layer.activation)
    return exporter


def check_layers(net: Sequential) -> None:
    """UnsupportedModelError for the first layer of ``net`` that has no exporter."""
    for layer in net.layers:
        layer_exporter(layer)


def layer_inputs(net: Sequential):
    """(layer, per-sample input shape) for each layer of ``net``, in order."""
    shapes = [tuple(net.input_shape), *net.layer_shapes[:-1]]
    return zip(net.layers, shapes, strict=True)


# ---- preprocessors --------------------------------------------------------------------------
def _image_pre_onnx(pre: ImagePreprocessor, g: Graph, x: str) -> str:
    dtype = np.dtype(pre.dtype)
    x = g.node("Flatten", [x], axis=1)  # (m, n_features), row-major as numpy's reshape
    x = g.node("Cast", [x], to=onnx_type(dtype))
    x = g.node("Mul", [x, g.const("scale", np.array(pre.scale, dtype=dtype))])
    if pre.standardize:
        x = g.node("Sub", [x, g.const("mean", np.asarray(pre.mean_, dtype=dtype))])
        x = g.node("Div", [x, g.const("std", np.asarray(pre.std_, dtype=dtype))])
    return x


def _image_pre_torch(pre: ImagePreprocessor) -> TorchEntries:
    spec = {
        "kind": "image_preprocessor",
        "scale": pre.scale,
        "standardize": pre.standardize,
        "dtype": pre.dtype,
        "n_features": pre.n_features_,
    }
    arrays = {"mean": np.asarray(pre.mean_), "std": np.asarray(pre.std_)} if pre.standardize else {}
    return [(dict(spec), arrays)]


#: Preprocessing class (``data.preprocessing.PREPROCESSORS``) -> Exporter(onnx(pre, graph, x),
#: torch(pre)).
PREPROCESSOR_EXPORTERS: dict[type, Exporter] = {
    ImagePreprocessor: Exporter(_image_pre_onnx, _image_pre_torch),
}


def preprocessor_exporter(pre: Any) -> Exporter:
    exporter = PREPROCESSOR_EXPORTERS.get(type(pre))
    if exporter is None:
        raise _unsupported("preprocessor", type(pre).__name__, PREPROCESSOR_EXPORTERS)
    return exporter


# ---- helpers --------------------------------------------------------------------------------
#: numpy dtype -> ONNX TensorProto element type (the values of onnx.TensorProto's enum).
_ONNX_TYPES = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.uint16): 4,
    np.dtype(np.int16): 5,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
    np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10,
    np.dtype(np.float64): 11,
    np.dtype(np.uint32): 12,
    np.dtype(np.uint64): 13,
}
ONNX_STRING = 8


def onnx_type(dtype) -> int:
    """The ONNX element type of a numpy dtype (strings: ONNX_STRING)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return ONNX_STRING
    if dtype not in _ONNX_TYPES:
        raise UnsupportedModelError(f"no ONNX element type for dtype {dtype}")
    return _ONNX_TYPES[dtype]


def _unsupported(what: str, name: str, registry: dict) -> Exception:
    known = ", ".join(sorted(k if isinstance(k, str) else k.__name__ for k in registry))
    return UnsupportedModelError(f"cannot export {what} {name}: no exporter; exportable: {known}")
