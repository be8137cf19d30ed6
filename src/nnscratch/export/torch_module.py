"""An exported nnscratch model as a PyTorch module; this file needs only torch (not nnscratch).

``nnscratch.export.save_torch(model, "model.pt")`` writes ``model.pt`` (a dict: "spec", the
JSON-able description of the layers, and "state_dict") and a copy of this file as ``model.py``:

    from model import load                 # or: from nnscratch.export.torch_module import load
    module = load("model.pt")              # an NnscratchModel in eval mode
    probabilities = module(torch.from_numpy(X))
    labels = module.predict(torch.from_numpy(X))

``NnscratchModel(spec)`` is the documented constructor: it builds the modules the spec lists
(their parameters uninitialised); ``load_state_dict`` fills them. The module takes the raw input
of the nnscratch model (images channels-last, (m, H, W, C), as nnscratch's ``predict`` does) and
returns what its ``predict_proba`` returns (an estimator's: (m, K); a regressor's or an identity
output's: its predictions). Inside, an image tensor is held channels-first (m, C, H, W).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "nnscratch-torch"
FORMAT_VERSION = 1
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _activation(spec: dict, dtype) -> nn.Module:
    name = spec["name"]
    if name == "leaky_relu":
        return nn.LeakyReLU(spec["slope"])
    return ACTIVATIONS[name]()


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
    "softmax": lambda: nn.Softmax(dim=-1),
}


class _Conv(nn.Conv2d):
    """Zero padding (top, bottom, left, right: nnscratch's "same" puts the odd one at the
    bottom/right), then a stride-s convolution; its state is nn.Conv2d's."""

    def __init__(self, spec: dict, dtype):
        super().__init__(
            spec["in_channels"],
            spec["filters"],
            tuple(spec["kernel_size"]),
            stride=spec["stride"],
            dtype=dtype,
        )
        self.pads = tuple(spec["pads"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = self.pads
        if any(self.pads):
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _batchnorm(spec: dict, dtype) -> nn.Module:
    cls = nn.BatchNorm2d if spec["image"] else nn.BatchNorm1d
    return cls(spec["n"], eps=spec["eps"], dtype=dtype)


class _ImagePreprocessor(nn.Module):
    """Flatten, cast, multiply by ``scale``, optionally standardise (ImagePreprocessor)."""

    def __init__(self, spec: dict, dtype):
        super().__init__()
        self.scale, self.standardize = spec["scale"], spec["standardize"]
        self.out_dtype = _DTYPES[spec["dtype"]]
        if self.standardize:
            n = spec["n_features"]
            self.register_buffer("mean", torch.zeros(n, dtype=self.out_dtype))
            self.register_buffer("std", torch.ones(n, dtype=self.out_dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).to(self.out_dtype) * self.scale
        if self.standardize:
            x = (x - self.get_buffer("mean")) / self.get_buffer("std")
        return x


def _unflatten(spec: dict) -> nn.Module:
    shape = tuple(spec["shape"])
    if len(shape) == 3:
        return _Lambda(lambda x: x.reshape(-1, *shape).permute(0, 3, 1, 2))
    return _Lambda(lambda x: x.reshape(-1, *shape))


#: spec "kind" -> module builder(spec, dtype)
LAYERS: dict[str, Callable[[dict, torch.dtype], nn.Module]] = {
    "linear": lambda s, dt: nn.Linear(s["n_in"], s["n_out"], dtype=dt),
    "activation": _activation,
    "conv2d": _Conv,
    "maxpool": lambda s, dt: nn.MaxPool2d(tuple(s["pool_size"]), stride=tuple(s["stride"])),
    "avgpool": lambda s, dt: nn.AvgPool2d(tuple(s["pool_size"]), stride=tuple(s["stride"])),
    "gap": lambda s, dt: _Lambda(lambda x: x.mean(dim=(2, 3))),
    "flatten": lambda s, dt: _Lambda(
        (lambda x: x.permute(0, 2, 3, 1).flatten(1)) if s["image"] else (lambda x: x.flatten(1))
    ),
    "unflatten": lambda s, dt: _unflatten(s),
    "batchnorm": _batchnorm,
    "image_preprocessor": _ImagePreprocessor,
}


class Member(nn.Module):
    """One network: the logits Z_L (m, n_L), flip-averaged when the network was."""

    def __init__(self, spec: dict, dtype):
        super().__init__()
        self.dtype = dtype
        self.image_input = len(spec["input_shape"]) == 3
        self.input_shape = tuple(spec["input_shape"])
        self.image_shape = tuple(spec["image_shape"])
        self.flip_average = spec["flip_average"]
        self.layers = nn.ModuleList(LAYERS[s["kind"]](s, dtype) for s in spec["layers"])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_input:
            x = x.permute(0, 3, 1, 2)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self._logits(x)
        if self.flip_average:
            mirrored = torch.flip(x.reshape(-1, *self.image_shape), dims=[2]).reshape(x.shape)
            z = (z + self._logits(mirrored)) * 0.5
        return z


class NnscratchModel(nn.Module):
    """The exported model: preprocessors, member networks, output activation and head.

    ``forward(x)`` returns the probabilities (or values) and ``predict(x)`` the label indices
    (or values) of the nnscratch model; ``classes`` holds an estimator's class labels, which
    ``predict`` indexes.
    """

    def __init__(self, spec: dict):
        super().__init__()
        if spec.get("format") != FORMAT or spec.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"not an {FORMAT} spec of version <= {FORMAT_VERSION}: "
                f"{spec.get('format')!r} {spec.get('format_version')!r}"
            )
        self.spec = spec
        dtype = _DTYPES[spec["dtype"]]
        self.dtype = dtype
        self.preprocess = nn.ModuleList(LAYERS[s["kind"]](s, dtype) for s in spec["preprocessors"])
        self.members = nn.ModuleList(Member(m, dtype) for m in spec["members"])
        self.output = spec["output_activation"]
        self.head = spec["head"]
        self.mean_probabilities = spec["mean_probabilities"]
        self.classes = spec.get("classes")
        self.activation = _activation({"name": self.output}, dtype)

    def _outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(P, Z): the output activations (m, n_L) and, for one network, its logits."""
        for step in self.preprocess:
            x = step(x)
        x = x.to(self.dtype)
        if not self.mean_probabilities:
            z = self.members[0](x)
            return self.activation(z), z
        total = sum(self.activation(m(x).double()) for m in self.members)
        return total / len(self.members), None  # float64, as nnscratch decides on it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        P = self._outputs(x)[0].to(self.dtype)
        if self.head == "classifier" and self.output == "sigmoid" and P.shape[1] == 1:
            return torch.cat([1 - P, P], dim=1)
        if self.head != "classifier" and P.shape[1] == 1:
            return P[:, 0]
        return P

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Labels by the nnscratch decision rule (class indices; an estimator's classes are
        ``classes[index]``), or the values of an identity output."""
        P, z = self._outputs(x)
        if self.output == "softmax":
            labels = P.argmax(dim=1)
        elif self.output == "sigmoid":  # z > 0 (sigmoid(z) > 1/2 for an ensemble's mean)
            labels = (z > 0 if z is not None else P > 0.5).to(torch.int64)
        else:
            labels = P.to(self.dtype)
        return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels


def build(spec: dict, state_dict: dict | None = None) -> NnscratchModel:
    """``NnscratchModel(spec)`` in eval mode, with ``state_dict`` loaded when given."""
    module = NnscratchModel(spec)
    if state_dict is not None:
        module.load_state_dict(state_dict)
    return module.eval()


def load(path) -> NnscratchModel:
    """The module saved by ``nnscratch.export.save_torch`` (read with weights_only=True)."""
    saved = torch.load(path, weights_only=True)
    return build(saved["spec"], saved["state_dict"])
