"""Models that leave nnscratch: ONNX and PyTorch export (the ``export`` extra).

    from nnscratch.export import to_onnx, to_torch, save_torch
    to_onnx(model, "model.onnx")           # onnxruntime: session.run(None, {"X": X})
    module = to_torch(model)               # a torch.nn.Module: module(torch.from_numpy(X))
    save_torch(model, "model.pt")          # model.pt (spec + state_dict) and model.py (its module)
    register_skl2onnx()                    # then skl2onnx.convert_sklearn(a Pipeline holding one)

Every model kind exports: ``Network`` (any hidden activation; sigmoid, softmax or identity
output; batch norm with its running statistics; dropout left out), ``ConvNetwork`` (conv, pool,
batch norm, global average pool, flatten, dense; flip averaging), ``Ensemble`` (the mean of the
members' probabilities), a model file (``nnscratch.load``: its preprocessing inside the
exported model) and the fitted scikit-learn estimators. See docs/export.md.
"""

from nnscratch.export._extras import EXPORT_EXTRA, MissingExtraError
from nnscratch.export.kinds import UnsupportedModelError, describe
from nnscratch.export.onnx_export import DEFAULT_OPSET, to_onnx
from nnscratch.export.skl2onnx_converter import register_skl2onnx
from nnscratch.export.torch_export import save_torch, to_torch

__all__ = [
    "DEFAULT_OPSET",
    "EXPORT_EXTRA",
    "MissingExtraError",
    "UnsupportedModelError",
    "describe",
    "register_skl2onnx",
    "save_torch",
    "to_onnx",
    "to_torch",
]
