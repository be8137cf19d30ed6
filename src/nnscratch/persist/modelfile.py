"""Model files: ``save(net, path)`` and ``load(path)``, one .npz that never runs code.

    nnscratch.save(net, "cat.npz", preprocessor=pre, classes=("non-cat", "cat"))
    model = nnscratch.load("cat.npz")
    model.network            # the rebuilt network, parameters and buffers exact
    model.predict(images)    # raw images through the saved preprocessor, then the network

Layout of the archive (a plain ``numpy.savez`` zip, read with ``allow_pickle=False``):

    __nnscratch__          uint8 (n,): UTF-8 JSON header (format, format_version, network class
                           and config, array names, preprocessor scalars, classes, metadata)
    param/<name>           one array per ``net.parameters`` entry ("param/W1", "param/b1", ...)
    buffer/<name>          one array per ``net.buffers`` entry (batch norm's running statistics)
    preprocessor/<key>     the arrays of the preprocessor's ``get_state()`` (mean, std, ...)

Writes are atomic: a temporary file in the target's directory is written, fsynced and renamed
over ``path``, so a crash never leaves a half-written model behind. Any file that is not a
complete model of a format this version knows (corrupt, truncated, foreign, newer) raises
``ModelFileError`` saying which.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.batching import in_batches
from nnscratch.base.errors import ModelFileError
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.network import Network, label_accuracy
from nnscratch.models.registry import check_model_size, class_name_of, model_from_config
from nnscratch.persist.archive import read_npz, write_npz

__all__ = ["FORMAT", "FORMAT_VERSION", "PREPROCESSORS", "LoadedModel", "load", "save"]

FORMAT = "nnscratch-model"
#: Bumped whenever a change makes files unreadable to older versions; ``load`` refuses newer.
FORMAT_VERSION = 1

HEADER_KEY = "__nnscratch__"
_PARAM, _BUFFER, _PRE = "param/", "buffer/", "preprocessor/"

#: What building objects from a forged description can raise; each becomes ModelFileError.
_DESCRIPTION_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    MemoryError,
)

#: Preprocessor classes by the ``kind`` their ``get_state()`` records.
PREPROCESSORS: dict[str, type[Any]] = {"ImagePreprocessor": ImagePreprocessor}


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

    def transform(self, X) -> np.ndarray:
        """Raw inputs -> what the network takes (identity when there is no preprocessor)."""
        return X if self.preprocessor is None else self.preprocessor.transform(X)

    def predict_proba(self, X) -> np.ndarray:
        return self._through("predict_proba", X)

    def predict(self, X) -> np.ndarray:
        return self._through("predict", X)

    def accuracy(self, X, y) -> float:
        if self.network.output_activation == "identity":
            return self.network.accuracy(self.transform(X), y)  # its error: not a classifier
        return label_accuracy(self.predict(X), y, self.network.output_activation)

    def _through(self, method: str, X) -> np.ndarray:
        """``network.<method>`` of the preprocessed X, ``RAW_BATCH_SIZE`` raw samples at a
        time (a float32 copy of 5,000 images would be 246 MB)."""
        predict = getattr(self.network, method)
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


def _jsonable(value: Any) -> Any:
    """``json.dumps`` default: numpy scalars and small arrays become Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _check_array_name(kind: str, name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{kind} name {name!r} cannot be stored in a model file")


def save(
    net,
    path: str | os.PathLike[str],
    *,
    preprocessor=None,
    classes: Sequence[str] | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write ``net`` (architecture, parameters, buffers) and what goes with it to ``path``.

    Args:
        net: a network whose class is registered in ``nnscratch.models.registry``.
        path: the file to write, exactly as given (``numpy.savez`` would add ".npz"; this does
            not). An existing file is replaced atomically.
        preprocessor: a fitted step with ``get_state()`` (e.g. ``ImagePreprocessor``), or None.
        classes: class names indexed by label, e.g. ("non-cat", "cat").
        metadata: any JSON-able dict (training options, metrics, dates).

    Returns the path written. Raises ValueError for arguments that cannot be stored.
    """
    path = Path(path)
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": {"class": class_name_of(net), "config": net.config()},
    }
    arrays: dict[str, np.ndarray] = {}
    for kind, prefix, source in (
        ("parameters", _PARAM, net.parameters),
        ("buffers", _BUFFER, net.buffers),
    ):
        header[kind] = list(source)
        for name, array in source.items():
            _check_array_name(kind[:-1], name)
            arrays[prefix + name] = np.asarray(array)

    if preprocessor is not None:
        if not hasattr(preprocessor, "get_state"):
            raise ValueError(
                f"preprocessor must have get_state() (e.g. ImagePreprocessor); "
                f"got {type(preprocessor).__name__}"
            )
        scalars: dict[str, Any] = {}
        for key, value in preprocessor.get_state().items():
            if isinstance(value, np.ndarray):
                _check_array_name("preprocessor array", key)
                arrays[_PRE + key] = value
            else:
                scalars[key] = value
        header["preprocessor"] = {"state": scalars}
    else:
        header["preprocessor"] = None

    if classes is not None:
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be a sequence of strings; got {classes!r}")
        classes = list(classes)
    header["classes"] = classes
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict; got {type(metadata).__name__}")
    header["metadata"] = metadata or {}
    from nnscratch.base.version import __version__

    header["nnscratch_version"] = __version__

    try:
        text = json.dumps(header, default=_jsonable, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot store the model's description as JSON: {err}") from err
    arrays[HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    write_npz(path, arrays)  # atomic: temp file, fsync, os.replace
    return path


# ---------------------------------------------------------------------------------------------
# load


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and every array of the file, or ModelFileError saying what is wrong."""
    what = "an nnscratch model file"
    # read_npz checks everything against the file's real size and the zip CRCs, and allows
    # numeric arrays only (see nnscratch.persist.archive): no pickle, no huge allocations.
    arrays = read_npz(path, error=ModelFileError, what=what)
    if HEADER_KEY not in arrays:
        raise ModelFileError(
            f"{path} is a .npz archive but not {what} "
            f"(it has no {HEADER_KEY!r} entry; it holds {sorted(arrays)[:5]})"
        )
    raw = arrays.pop(HEADER_KEY)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: the {HEADER_KEY!r} entry is not UTF-8 JSON bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ModelFileError(f"{path}: the model description is corrupt ({err})") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is not an nnscratch model file (its header names format "
            f"{header.get('format') if isinstance(header, dict) else None!r}, not {FORMAT!r})"
        )
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer nnscratch (model format version {version}, "
            f"written by nnscratch {header.get('nnscratch_version', '?')}); this version reads "
            f"format versions up to {FORMAT_VERSION}. Upgrade nnscratch to load it."
        )
    return header, arrays


def _copy_into(path: Path, kind: str, live: dict[str, np.ndarray], names, arrays, prefix):
    """Copy the stored arrays into the network's live ones, exactly (same shape and dtype)."""
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or set(names) != set(live)
    ):
        raise ModelFileError(
            f"{path}: the file's {kind} {names!r} do not match the network's {sorted(live)}"
        )
    for name, target in live.items():
        stored = arrays.get(prefix + name)
        if stored is None:
            raise ModelFileError(f"{path}: {kind[:-1]} {name!r} is missing from the file")
        if stored.shape != target.shape or stored.dtype != target.dtype:
            raise ModelFileError(
                f"{path}: {kind[:-1]} {name!r} is {stored.dtype} {stored.shape}; the network "
                f"needs {target.dtype} {target.shape}"
            )
        np.copyto(target, stored)


def load(path: str | os.PathLike[str]) -> LoadedModel:
    """Read a model file written by ``save``; never runs code from the file.

    Returns a ``LoadedModel`` with the rebuilt ``network`` (parameters and buffers exactly as
    saved), its ``preprocessor``, ``classes`` and ``metadata``. Raises ``ModelFileError`` for a
    missing, corrupt, truncated, foreign or newer-format file.
    """
    path = Path(path)
    header, arrays = _read_archive(path)
    try:
        net_desc = header["network"]
        class_name, config = net_desc["class"], net_desc["config"]
    except (KeyError, TypeError) as err:
        raise ModelFileError(f"{path}: the header lacks the network description") from err
    stored = sum(a.size for name, a in arrays.items() if name.startswith(_PARAM))
    try:
        check_model_size(class_name, config, stored)
        net = model_from_config(class_name, config)
    except _DESCRIPTION_ERRORS as err:
        raise ModelFileError(f"{path}: cannot rebuild the network ({err})") from err
    _copy_into(path, "parameters", net.parameters, header.get("parameters"), arrays, _PARAM)
    _copy_into(path, "buffers", net.buffers, header.get("buffers", []), arrays, _BUFFER)

    preprocessor = None
    pre_desc = header.get("preprocessor")
    if pre_desc is not None:
        try:
            state = dict(pre_desc["state"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{path}: the preprocessor description is corrupt") from err
        state.update({k[len(_PRE) :]: v for k, v in arrays.items() if k.startswith(_PRE)})
        kind = state.get("kind")
        if not isinstance(kind, str) or kind not in PREPROCESSORS:
            raise ModelFileError(
                f"{path}: unknown preprocessor kind {kind!r}; known: {', '.join(PREPROCESSORS)}"
            )
        try:
            preprocessor = PREPROCESSORS[kind].from_state(state)
        except _DESCRIPTION_ERRORS as err:
            raise ModelFileError(f"{path}: bad preprocessor state ({err})") from err

    classes = header.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ModelFileError(f"{path}: 'classes' is {classes!r}; expected a list of names")
        classes = tuple(classes)
    metadata = header.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: 'metadata' is not a JSON object")
    return LoadedModel(
        network=net,
        preprocessor=preprocessor,
        classes=classes,
        metadata=metadata,
        format_version=header["format_version"],
    )
