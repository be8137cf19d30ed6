"""How a model and a fitted state lie in an archive; model files and checkpoints share it.

    header, arrays = {}, {}
    put_model(net, header, arrays)       # header: "network", "parameters", "buffers";
                                         # arrays: param/<name>, buffer/<name>
    header["preprocessor"] = put_state(pre.get_state(), PRE, arrays)
    net = take_model(header, arrays)     # size-checked, rebuilt, arrays copied in exactly
    pre = take_preprocessor(header["preprocessor"], arrays)

A flat state dict (a preprocessor's ``get_state()``, an optimizer's ``state_dict()``) is split
by ``put_state``: its arrays go into the archive under a prefix, the rest (JSON-able scalars)
into the header; ``take_state`` joins them again. The ``take_*`` functions raise
``Malformed`` (``nnscratch.persist.archive``) for anything that does not fit, which the
format's reader turns into a ``ModelFileError`` naming the file.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnscratch.base.limits import MAX_INPUT_VALUES
from nnscratch.base.validation import check_fraction, check_seed
from nnscratch.data import table_encoding as _table_encoding  # noqa: F401 (registers it)
from nnscratch.data.preprocessing import preprocessor_from_state
from nnscratch.models.registry import check_model_size, class_name_of, model_from_config
from nnscratch.persist.archive import Malformed, expect

__all__ = [
    "BUFFER",
    "DESCRIPTION_ERRORS",
    "PARAM",
    "PRE",
    "check_data_description",
    "prefixed",
    "put_model",
    "put_state",
    "take_model",
    "take_preprocessor",
    "take_state",
]

PARAM, BUFFER, PRE = "param/", "buffer/", "preprocessor/"

#: What building objects from a forged description can raise; each becomes ``Malformed``.
DESCRIPTION_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,  # OverflowError among them
    RecursionError,
    MemoryError,
)

_KINDS = (("parameters", PARAM), ("buffers", BUFFER))


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"{what} name {name!r} cannot be stored in an archive")


def prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix``, by the rest of their names."""
    return {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}


# ---- a model ---------------------------------------------------------------------------------


def put_model(model, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Describe ``model`` (its registered class and ``config()``) and list its parameter and
    buffer names in ``header``; put the arrays into ``arrays`` ("param/W1", "buffer/..."). Raises
    ValueError for a name that cannot be an archive entry."""
    header["network"] = {"class": class_name_of(model), "config": model.config()}
    for kind, prefix in _KINDS:
        source = getattr(model, kind)
        header[kind] = list(source)
        for name, array in source.items():
            _check_name(kind[:-1], name)
            arrays[prefix + name] = np.asarray(array)


def take_model(header: dict, arrays: dict[str, np.ndarray]):
    """The model ``put_model`` described, rebuilt from its class and config once
    ``check_model_size`` has found the stored parameters enough for it, with its parameters
    and buffers copied in exactly (same names, shapes and dtypes, or ``Malformed``)."""
    desc = header.get("network")
    if not (isinstance(desc, dict) and "class" in desc and "config" in desc):
        raise Malformed("its header lacks the network description")
    stored = sum(a.size for a in prefixed(arrays, PARAM).values())
    try:
        check_model_size(desc["class"], desc["config"], stored)
        model = model_from_config(desc["class"], desc["config"])
    except DESCRIPTION_ERRORS as err:
        raise Malformed(f"cannot rebuild the network ({err})") from None
    for kind, prefix in _KINDS:
        _copy_into(kind, getattr(model, kind), header.get(kind, []), prefixed(arrays, prefix))
    return model


def _copy_into(kind: str, live: dict[str, np.ndarray], names, stored: dict[str, np.ndarray]):
    expect(
        isinstance(names, list)
        and all(isinstance(n, str) for n in names)
        and set(names) == set(live),
        f"the file's {kind} {names!r} do not match the network's {sorted(live)}",
    )
    for name, target in live.items():
        array = stored.get(name)
        if array is None:
            raise Malformed(f"{kind[:-1]} {name!r} is missing from the file")
        expect(
            array.shape == target.shape and array.dtype == target.dtype,
            f"{kind[:-1]} {name!r} is {array.dtype} {array.shape}; the network needs "
            f"{target.dtype} {target.shape}",
        )
        _check_finite(kind[:-1], name, array)
        np.copyto(target, array)


def _check_finite(what: str, name: str, array: np.ndarray) -> None:
    """``Malformed`` when a stored float array holds NaN or an infinity: such weights would
    load and predict "probability nan"."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise Malformed(f"{what} {name!r} holds {bad} NaN or infinite value(s)")


# ---- flat states -----------------------------------------------------------------------------


def put_state(state: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """The scalars of the flat ``state`` (returned, for the header); its arrays go into
    ``arrays`` under ``prefix``. Raises ValueError for a name that cannot be an entry."""
    scalars = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            _check_name("state array", key)
            arrays[prefix + key] = value
        else:
            scalars[key] = value
    return scalars


def take_state(scalars, prefix: str, arrays: dict[str, np.ndarray], what: str) -> dict:
    """The flat state ``put_state`` split: ``scalars`` (a JSON object, or ``Malformed``
    naming ``what``) with the arrays under ``prefix``."""
    expect(isinstance(scalars, dict), f"its {what} is not a JSON object")
    return {**scalars, **prefixed(arrays, prefix)}


def take_preprocessor(scalars, arrays: dict[str, np.ndarray]):
    """The preprocessor whose ``get_state()`` ``put_state(..., PRE, ...)`` stored, rebuilt
    through the registry of preprocessor classes (``nnscratch.data.preprocessing``)."""
    state = take_state(scalars, PRE, arrays, "preprocessor state")
    try:
        pre = preprocessor_from_state(state)
    except DESCRIPTION_ERRORS as err:
        raise Malformed(f"bad preprocessor state ({err})") from None
    _check_preprocessor_is_finite(pre)
    return pre


def _check_preprocessor_is_finite(pre) -> None:
    """``Malformed`` when the preprocessor's stored arrays hold NaN or infinities, or it maps
    the largest pixel value (255) to one (a forged ``scale`` of 1e300): a dry run on one
    example, when its input shape is declared and of a bounded size."""
    marks_with_nan = getattr(pre, "NAN_MARKS", ())  # arrays where NaN means "none"
    for key, value in vars(pre).items():
        if not isinstance(value, np.ndarray):
            continue
        if key in marks_with_nan:
            if value.dtype.kind in "fc" and np.isinf(value).any():
                raise Malformed(f"preprocessor array {key!r} holds infinite values")
            continue
        _check_finite("preprocessor array", key.rstrip("_"), value)
    shape = getattr(pre, "input_shape_", None)
    if not shape or math.prod(shape) > MAX_INPUT_VALUES:
        return  # the model file's input-size check says what is wrong with a huge one
    with np.errstate(all="ignore"):
        try:
            out = pre.transform(np.full((1, *shape), 255, dtype=np.uint8))
        except DESCRIPTION_ERRORS:
            return  # a preprocessor of other inputs than pixels: its own checks apply
    if not np.isfinite(np.asarray(out, dtype=np.float64)).all():
        raise Malformed("its preprocessor maps pixel values to NaN or infinite values")


# ---- what a model knows about its data -------------------------------------------------------

#: The input kinds a model file's "data" description may name, with the keys each needs.
DATA_KINDS = {"images": ("image_size", "color"), "table": ("columns", "target")}
_TASKS = ("classification", "regression")
_MAX_COLUMNS = 100_000


def check_data_description(desc) -> dict | None:
    """A model file's "data" description checked (``Malformed`` for anything else): None, or
    {"kind": "images", "image_size": [H, W], "color": "rgb"|"grayscale", ...} or
    {"kind": "table", "columns": [names], "target": name, ...}, with "task" and, for a
    regression, "target_scale" {"mean": m, "std": s} (finite, std > 0)."""
    if desc is None:
        return None
    expect(isinstance(desc, dict), "its data description is not a JSON object")
    kind = desc.get("kind")
    expect(kind in DATA_KINDS, f"its data kind {kind!r} is not one of {', '.join(DATA_KINDS)}")
    missing = [k for k in DATA_KINDS[kind] if k not in desc]
    expect(not missing, f"its {kind} data description lacks {missing}")
    expect(
        desc.get("task", "classification") in _TASKS, f"its task {desc.get('task')!r} is unknown"
    )
    if kind == "images":
        size = desc["image_size"]
        expect(
            isinstance(size, list) and len(size) == 2
            and all(type(v) is int and 1 <= v <= 4096 for v in size),
            f"its image_size {size!r} is not [H, W] of 1..4096",
        )  # fmt: skip
        expect(desc["color"] in ("rgb", "grayscale"), f"its color {desc['color']!r} is unknown")
    else:
        cols = desc["columns"]
        expect(
            isinstance(cols, list) and 0 < len(cols) <= _MAX_COLUMNS
            and all(isinstance(c, str) for c in cols) and isinstance(desc["target"], str),
            "its table columns are not a list of names",
        )  # fmt: skip
    split = desc.get("split")
    if split is not None:
        expect(isinstance(split, dict), "its data split is not a JSON object")
        try:
            check_fraction("its split's test_fraction", split.get("test_fraction"))
            check_seed(split.get("seed"), "its split's seed", allow_none=False)
        except ValueError as err:
            raise Malformed(str(err)) from None
        expect(isinstance(split.get("source"), str), "its split's source is not a path")
    scale = desc.get("target_scale")
    if scale is not None:
        expect(
            isinstance(scale, dict)
            and all(isinstance(scale.get(k), int | float) for k in ("mean", "std"))
            and bool(np.isfinite([scale["mean"], scale["std"]]).all()) and scale["std"] > 0,
            f"its target_scale {scale!r} is not finite mean and std > 0",
        )  # fmt: skip
    return desc
