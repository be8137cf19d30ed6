"""``to_torch(model)`` and ``save_torch(model, path)``: the model as a ``torch.nn.Module``
(``nnscratch.export.torch_module.NnscratchModel``) with the same outputs.

The module is built from a spec, the JSON-able list of what each layer is (from the layer
exporters of ``nnscratch.export.layers``), and a state_dict of the parameters and buffers in
PyTorch's layout. torch is needed at run time only; it is not a dependency of nnscratch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.atomic import atomic_write
from nnscratch.export._extras import require_torch
from nnscratch.export.kinds import Exportable, describe
from nnscratch.export.layers import layer_exporter, layer_inputs, preprocessor_exporter
from nnscratch.nn.model import Sequential

FORMAT, FORMAT_VERSION = "nnscratch-torch", 1


def _member_spec(net: Sequential, prefix: str, state: dict[str, np.ndarray]) -> dict:
    layers: list[dict] = []
    for layer, shape_in in layer_inputs(net):
        for spec, arrays in layer_exporter(layer).torch(layer, shape_in):
            for name, array in arrays.items():
                state[f"{prefix}.layers.{len(layers)}.{name}"] = array
            layers.append(spec)
    return {
        "input_shape": list(net.input_shape),
        "image_shape": list(getattr(net, "image_shape", net.input_shape)),
        "flip_average": bool(getattr(net, "flip_average", False)),
        "layers": layers,
    }


def _classes(ex: Exportable) -> list | None:
    return (
        None if ex.classes is None else [c.item() if hasattr(c, "item") else c for c in ex.classes]
    )


def torch_spec(model) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec, state): the JSON-able spec of ``model``'s module and its state_dict as numpy
    arrays (no torch needed)."""
    ex = describe(model)
    state: dict[str, np.ndarray] = {}
    pre_specs: list[dict] = []
    for pre in ex.preprocessors:
        for pre_spec, arrays in preprocessor_exporter(pre).torch(pre):
            for name, array in arrays.items():
                state[f"preprocess.{len(pre_specs)}.{name}"] = array
            pre_specs.append(pre_spec)
    members = [_member_spec(net, f"members.{k}", state) for k, net in enumerate(ex.members)]
    spec: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dtype": ex.dtype.name,
        "input_shape": list(ex.input_shape),
        "preprocessors": pre_specs,
        "members": members,
        "output_activation": ex.output_activation,
        "head": ex.head,
        "mean_probabilities": ex.mean_probabilities,
        "classes": _classes(ex),
        "description": ex.name,
    }
    return spec, state


def to_torch(model):
    """A ``torch.nn.Module`` (in eval mode) computing what ``model`` computes: ``module(x)``
    gives ``predict_proba``'s values (a regressor's or identity output's: its predictions),
    ``module.predict(x)`` the labels; x is the raw input (as nnscratch takes it) as a tensor.

    Raises UnsupportedModelError for a model, layer or preprocessor without an exporter,
    MissingExtraError without torch."""
    torch = require_torch()
    from nnscratch.export import torch_module

    spec, state = torch_spec(model)
    tensors = {name: torch.from_numpy(np.array(a, copy=True)) for name, a in state.items()}
    return torch_module.build(spec, tensors)


def save_torch(model, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``model``'s module to ``path`` (``torch.save`` of {"spec", "state_dict"}, readable
    with ``torch.load(path, weights_only=True)``) and its module definition, a copy of
    ``nnscratch/export/torch_module.py`` (torch only), beside it as ``<stem>.py``; both atomic.

        from model import load; module = load("model.pt")

    Returns (state path, module path)."""
    torch = require_torch()
    path = Path(path)
    module_path = path.with_suffix(".py")
    if path.suffix == ".py":
        raise ValueError(f"the state file must not end in .py (the module goes there); got {path}")
    module = to_torch(model)
    from nnscratch.export import torch_module

    with atomic_write(path) as f:
        torch.save({"spec": module.spec, "state_dict": module.state_dict()}, f)
    source = Path(torch_module.__file__).read_bytes()
    with atomic_write(module_path) as f:
        f.write(source)
    return path, module_path
