"""Model files: ``save(net, path)`` and ``load(path)``, one .npz that never runs code.

    nnscratch.save(net, "cat.npz", preprocessor=pre, classes=("non-cat", "cat"))
    model = nnscratch.load("cat.npz")
    model.network            # the rebuilt network, parameters and buffers exact
    model.predict(images)    # raw images through the saved preprocessor, then the network

An archive of the one scheme of ``nnscratch.persist.archive`` (a JSON header plus numeric
arrays, read without pickle), laid out as ``nnscratch.persist.layout`` lays out a model:

    __nnscratch__          uint8 (n,): UTF-8 JSON header (format, format_version,
                           nnscratch_version, network class and config, parameter and buffer
                           names, {"state": preprocessor scalars} or null, classes, metadata)
    param/<name>           one array per ``net.parameters`` entry ("param/W1", "param/b1", ...)
    buffer/<name>          one array per ``net.buffers`` entry (batch norm's running statistics)
    preprocessor/<key>     the arrays of the preprocessor's ``get_state()`` (mean, std, ...)

Writes are atomic: a temporary file in the target's directory is written, fsynced and renamed
over ``path``, so a crash never leaves a half-written model behind. Any file that is not a
complete model of a format this version knows (corrupt, truncated, foreign, newer) raises
``ModelFileError`` saying which.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.batching import in_batches
from nnscratch.base.limits import MAX_INPUT_VALUES, check_count
from nnscratch.data.preprocessing import PREPROCESSORS
from nnscratch.data.tables import Table
from nnscratch.models.network import Network
from nnscratch.nn import metrics
from nnscratch.persist.archive import ArchiveFormat, Malformed, expect
from nnscratch.persist.layout import (
    PRE,
    check_data_description,
    put_model,
    put_state,
    take_model,
    take_preprocessor,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PREPROCESSORS",
    "LoadedModel",
    "check_classes",
    "classes_needed",
    "load",
    "save",
]

FORMAT = "nnscratch-model"
#: Bumped whenever a change makes files unreadable to older versions; ``load`` refuses newer.
FORMAT_VERSION = 1
HEADER_KEY = "__nnscratch__"
MODEL_FILE = ArchiveFormat(FORMAT, FORMAT_VERSION, HEADER_KEY, "an nnscratch model file")


@dataclass
class LoadedModel:
    """What ``load`` returns: the network and everything saved beside it.

    ``predict_proba`` / ``predict`` / ``accuracy`` take raw inputs (e.g. (m, 64, 64, 3) uint8
    images) and pass them through ``preprocessor`` first when the file holds one.
    """

    network: Network
    preprocessor: Any | None = None
    classes: tuple[str, ...] | None = None
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: what the model takes and predicts (``layout.check_data_description``); None: the
    #: cat classifier's files, which predate it (RGB images of ``input_shape``)
    data: dict | None = None

    @property
    def task(self) -> str:
        """ "classification" or "regression" (an identity output without a description)."""
        if self.data is not None:
            return self.data.get("task", "classification")
        return "regression" if self.network.output_activation == "identity" else "classification"

    @property
    def input_kind(self) -> str:
        """ "images" or "table": what ``predict`` takes."""
        return self.data["kind"] if self.data is not None else "images"

    def transform(self, X) -> np.ndarray:
        """Raw inputs -> what the network takes (identity when there is no preprocessor)."""
        return X if self.preprocessor is None else self.preprocessor.transform(X)

    def predict_proba(self, X) -> np.ndarray:
        return self._through("predict_proba", X)

    def predict(self, X) -> np.ndarray:
        """The network's labels (its ``loss.decide``) for raw X; for a regression the values,
        scaled back to the target's units when the file records a target scaling."""
        out = self._through("predict", X)
        scale = (self.data or {}).get("target_scale")
        if scale is not None:
            out = np.asarray(out, dtype=np.float64) * scale["std"] + scale["mean"]
        return out

    def accuracy(self, X, y) -> float:
        """Fraction of correct labels for raw X (classification outputs only)."""
        if self.network.output_activation == "identity":
            return self.network.accuracy(self.transform(X), y)  # its error: not a classifier
        return metrics.accuracy(self.predict(X), y)

    def _through(self, method: str, X) -> np.ndarray:
        """``network.<method>`` of the preprocessed X, ``RAW_BATCH_SIZE`` raw samples at a
        time (a float32 copy of 5,000 images would be 246 MB)."""
        predict = getattr(self.network, method)
        if isinstance(X, Table):  # named columns (a table model): encoded whole, rows are small
            return predict(self.transform(X))
        return in_batches(
            lambda batch: predict(self.transform(batch)), X, input_shape=self.input_shape
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example shape of the raw inputs: (64, 64, 3) for the cat classifier."""
        if self.preprocessor is not None and getattr(self.preprocessor, "input_shape_", None):
            return tuple(self.preprocessor.input_shape_)
        return tuple(self.network.input_shape)


# ---------------------------------------------------------------------------------------------
# save


def save(
    net,
    path: str | os.PathLike[str],
    *,
    preprocessor=None,
    classes: Sequence[str] | None = None,
    metadata: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write ``net`` (architecture, parameters, buffers) and what goes with it to ``path``.

    Args:
        net: a network whose class is registered in ``nnscratch.models.registry``, or a fitted
            estimator holding one as ``network_`` (``MLPClassifier``: its ``classes_``, as
            strings, are saved as ``classes`` unless given).
        path: the file to write, exactly as given (``numpy.savez`` would add ".npz"; this does
            not). An existing file is replaced atomically.
        preprocessor: a fitted step with ``get_state()`` (e.g. ``ImagePreprocessor``), or None.
        classes: class names indexed by label, e.g. ("non-cat", "cat").
        metadata: any JSON-able dict (training options, metrics, dates; see
            ``nnscratch.base.jsonio``), without NaN or infinities.
        data: what the model takes and predicts (``layout.check_data_description``): input
            kind (image size and colour, or table columns and target), task, target scaling.

    Returns the path written. Raises ValueError for arguments that cannot be stored.
    """
    net, classes = _unwrap_estimator(net, classes)
    header: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    put_model(net, header, arrays)
    if preprocessor is not None:
        if not hasattr(preprocessor, "get_state"):
            raise ValueError(
                f"preprocessor must have get_state() (e.g. ImagePreprocessor); "
                f"got {type(preprocessor).__name__}"
            )
        header["preprocessor"] = {"state": put_state(preprocessor.get_state(), PRE, arrays)}
    else:
        header["preprocessor"] = None
    if classes is not None:
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be a sequence of strings; got {classes!r}")
        classes = list(classes)
        check_classes(net, classes)
    header["classes"] = classes
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict; got {type(metadata).__name__}")
    header["metadata"] = metadata or {}
    if data is not None:
        from nnscratch.persist.archive import Malformed

        try:
            header["data"] = check_data_description(dict(data))
        except Malformed as err:
            raise ValueError(f"data cannot be stored: {err}") from None
    return MODEL_FILE.write(path, header, arrays)


def _unwrap_estimator(net, classes):
    """A fitted estimator (duck-typed: it has ``network_``) -> (its network, the classes to
    save: ``classes`` if given, else its ``classes_`` as strings); anything else unchanged."""
    inner = getattr(net, "network_", None)
    if inner is None:
        return net, classes
    if classes is None and getattr(net, "classes_", None) is not None:
        classes = [str(c) for c in net.classes_]
    return inner, classes


# ---------------------------------------------------------------------------------------------
# load


def load(path: str | os.PathLike[str]) -> LoadedModel:
    """Read a model file written by ``save``; never runs code from the file.

    Returns a ``LoadedModel`` with the rebuilt ``network`` (parameters and buffers exactly as
    saved), its ``preprocessor``, ``classes`` and ``metadata``. Raises ``ModelFileError`` for a
    missing, corrupt, truncated, foreign or newer-format file.
    """
    return MODEL_FILE.read(path, _parse)


def _parse(header: dict, arrays: dict[str, np.ndarray]) -> LoadedModel:
    net = take_model(header, arrays)
    preprocessor = None
    pre_desc = header.get("preprocessor")
    if pre_desc is not None:
        expect(isinstance(pre_desc, dict), "its preprocessor description is not a JSON object")
        preprocessor = take_preprocessor(pre_desc.get("state"), arrays)
    classes = header.get("classes")
    if classes is not None:
        expect(
            isinstance(classes, list) and all(isinstance(c, str) for c in classes),
            f"'classes' is {classes!r}; expected a list of names",
        )
        try:
            check_classes(net, classes)
        except ValueError as err:
            raise Malformed(str(err)) from None
        classes = tuple(classes)
    metadata = header.get("metadata") or {}
    expect(isinstance(metadata, dict), "'metadata' is not a JSON object")
    loaded = LoadedModel(
        network=net,
        preprocessor=preprocessor,
        classes=classes,
        metadata=metadata,
        format_version=header["format_version"],
        data=check_data_description(header.get("data")),
    )
    _check_input_size(loaded)
    _check_data_agrees(loaded)
    return loaded


def _check_data_agrees(model: LoadedModel) -> None:
    """``Malformed`` when the data description contradicts the network or the preprocessor:
    a "regression" task needs an identity output and a "classification" one a sigmoid or
    softmax output (else predict prints "probabilities" of a regression, or scores of a
    classifier as quantities); an image description's size and colour must be the
    preprocessor's input shape (H, W, 3 for rgb or 1 for grayscale)."""
    desc = model.data
    if desc is None:
        return
    task = desc.get("task", "classification")
    identity = classes_needed(model.network) == 0
    expect(
        identity == (task == "regression"),
        f"its task is {task!r} but its output is "
        f"{getattr(model.network, 'output_activation', '?')!r} (a regression has an identity "
        "output; a classification a sigmoid or softmax one)",
    )
    if desc["kind"] == "images" and model.preprocessor is not None:
        try:
            shape = tuple(int(n) for n in model.input_shape)
        except (TypeError, ValueError, AttributeError):
            return
        h, w = desc["image_size"]
        declared = (h, w, 1 if desc["color"] == "grayscale" else 3)
        expect(
            shape == declared,
            f"its data description says {h}x{w} {desc['color']} images {declared} but its "
            f"preprocessor takes {shape}",
        )


def classes_needed(net) -> int | None:
    """How many class names the model's output has: 2 for one sigmoid unit (labels 0 and 1),
    n for a softmax of n units, 0 for a regression (identity) output; None when it is not
    one list of classes (several sigmoid units)."""
    activation = getattr(net, "output_activation", None)
    n_outputs = getattr(net, "n_outputs", None)
    if activation == "identity":
        return 0
    if activation == "sigmoid" and n_outputs == 1:
        return 2
    if activation == "softmax" and isinstance(n_outputs, int):
        return n_outputs
    return None


def check_classes(net, classes: Sequence[str]) -> None:
    """ValueError unless ``classes`` names each of the model's labels once (a binary model
    needs 2 names, a softmax of n units n names, a regression none)."""
    needed = classes_needed(net)
    if needed is None or len(classes) == needed:
        return
    if needed == 0:
        raise ValueError(
            f"classes {list(classes)!r} given for a regression model (identity output), "
            "which has no classes"
        )
    raise ValueError(
        f"classes {list(classes)!r} name {len(classes)} label(s); this model's output has "
        f"{needed} ({getattr(net, 'output_activation', '?')} of {net.n_outputs} unit(s))"
    )


def _check_input_size(model: LoadedModel) -> None:
    """``Malformed`` when the model declares an input example of more than
    ``MAX_INPUT_VALUES`` values (a preprocessor's ``input_shape`` of 12000 x 12000 would make
    every predicted image a 3 GB array)."""
    try:
        shape = tuple(int(n) for n in model.input_shape)
    except (TypeError, ValueError, AttributeError):
        return  # no declared input shape: the network's own checks apply
    check_count(
        f"values per input example (shape {shape})", math.prod(shape), MAX_INPUT_VALUES,
        error=Malformed,
    )  # fmt: skip
