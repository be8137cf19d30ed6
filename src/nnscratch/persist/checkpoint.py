"""Checkpoint files of a training run: what resuming one exactly where it stopped needs.

``save_checkpoint`` writes a ``Checkpoint`` atomically and ``load_checkpoint`` reads one back;
``nnscratch.app.runs.RunDirectory`` writes them while it trains and resumes from them. A
checkpoint holds everything the run depends on:

- the ``TrainConfig`` and a sha256 fingerprint of the training data (a resume with other data
  is refused);
- the fitted preprocessor and every network's parameters and buffers (an ensemble's members,
  finished or not);
- which member is training, the histories of the finished ones, and the training member's
  ``TrainingState``: update and epoch counters, position in the epoch and its shuffle,
  optimizer state, the random generators' states (their ``bit_generator.state`` as JSON, no
  pickle) and the early-stopping state;
- the seconds spent so far.

Resuming rebuilds all of that and continues the training loop from the same update, so the
final parameters are bitwise those of the run that was never interrupted (same machine and
thread settings). Loading a checkpoint is as safe as loading a model file (``_npzfile``):
any malformed file raises ``ModelFileError``.

Layout of the archive:

    __checkpoint__                   uint8: UTF-8 JSON of everything that is not an array
    param/<name>, buffer/<name>      the model's arrays ("m0.W1" for ensemble members)
    preprocessor/<key>               the preprocessor's arrays (mean, std, input_shape)
    progress/order                   the training member's current epoch permutation
    progress/optimizer/<slot>.<p>    its optimizer's moments ("m.W1", "v.W1", ...)
    progress/callbacks/<key>/<name>  arrays of callback states (early stopping's best weights)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.app.recipe import TrainConfig
from nnscratch.base.errors import ModelFileError
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.registry import check_model_size, class_name_of, model_from_config
from nnscratch.persist.archive import read_npz, write_npz
from nnscratch.train.callbacks import EarlyStopping
from nnscratch.train.fit import History
from nnscratch.train.fit import fit as _fit
from nnscratch.train.optimizers import get_optimizer

__all__ = [
    "CHECKPOINT_NAME",
    "Checkpoint",
    "data_fingerprint",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "nnscratch-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"
HEADER_KEY = "__checkpoint__"
_PARAM, _BUFFER, _PRE = "param/", "buffer/", "preprocessor/"
_ORDER, _OPT, _CB = "progress/order", "progress/optimizer/", "progress/callbacks/"
#: the random generators ``fit`` keeps, and the only bit generator it uses
_RNG_NAMES = ("shuffle", "flip", "dropout")
_BIT_GENERATOR = "PCG64"
#: callbacks whose state a checkpoint may hold, by class name
_STATEFUL_CALLBACKS = {"EarlyStopping": EarlyStopping}
_FIT_OPTIONS = frozenset(inspect.signature(_fit).parameters) - {"net", "X", "y", "resume"}


# ---------------------------------------------------------------------------------------------
# the checkpoint itself


@dataclass
class Checkpoint:
    """What a checkpoint file holds (see the module docstring).

    ``member`` is the index of the network in training (``len(members)`` once all are
    trained); ``histories`` are the finished members'; ``progress`` is the training member's
    ``TrainingState.state_dict()``, or None when it has not started.
    """

    model: Any  # Network, Ensemble, ...: parameters and buffers as checkpointed
    config: TrainConfig
    preprocessor: ImagePreprocessor
    data_sha256: str
    member: int = 0
    histories: list[History] = field(default_factory=list)
    progress: dict | None = None
    elapsed: float = 0.0
    every: int | None = None  # the run's checkpoint interval, which a resume keeps

    @property
    def members(self) -> list:
        return members_of(self.model)

    @property
    def finished(self) -> bool:
        """True when every network is trained (only the outputs may be missing)."""
        return self.member >= len(self.members)

    @property
    def iteration(self) -> int:
        """Updates done by the member in training."""
        return int(self.progress["step"]) if self.progress else 0


def members_of(model) -> list:
    """The networks a model trains one after another: an ensemble's members, or itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def data_fingerprint(x, y) -> str:
    """sha256 of the training images and labels (shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for a in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.data.cast("B"))
    return digest.hexdigest()


def _split_flat(d: dict, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """A flat state dict's scalars (returned) and arrays (into ``arrays`` under ``prefix``)."""
    scalars = {}
    for key, value in d.items():
        if isinstance(value, np.ndarray):
            arrays[prefix + key] = value
        else:
            scalars[key] = value.item() if isinstance(value, np.generic) else value
    return scalars


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):  # e.g. MT19937's key; fit's PCG64 has none
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (the old file stays until the new one is whole)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for prefix, source in ((_PARAM, ckpt.model.parameters), (_BUFFER, ckpt.model.buffers)):
        for name, a in source.items():
            arrays[prefix + name] = np.asarray(a)
    pre_scalars = _split_flat(ckpt.preprocessor.get_state(), _PRE, arrays)
    progress = None
    if ckpt.progress is not None:
        p = ckpt.progress
        progress = {k: p[k] for k in ("step", "epoch", "offset", "seen", "cost_sum")}
        progress["rngs"] = p["rngs"]
        progress["history"] = p["history"]
        if p["order"] is not None:
            arrays[_ORDER] = np.asarray(p["order"], dtype=np.int64)
        progress["optimizer"] = _split_flat(p["optimizer"], _OPT, arrays)
        progress["callbacks"] = {
            key: _split_flat(state, f"{_CB}{key}/", arrays) for key, state in p["callbacks"].items()
        }
    from nnscratch.base.version import __version__

    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nnscratch_version": __version__,
        "network": {"class": class_name_of(ckpt.model), "config": ckpt.model.config()},
        "parameters": list(ckpt.model.parameters),
        "buffers": list(ckpt.model.buffers),
        "train_config": ckpt.config.to_dict(),
        "data_sha256": ckpt.data_sha256,
        "preprocessor": pre_scalars,
        "member": ckpt.member,
        "histories": [h.to_dict() for h in ckpt.histories],
        "progress": progress,
        "elapsed": float(ckpt.elapsed),
        "checkpoint_every": ckpt.every,
    }
    # Infinity/NaN are allowed (early stopping starts from an infinite best cost); Python's
    # json reads them back.
    text = json.dumps(header, default=_json_default)
    arrays[HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    write_npz(path, arrays)
    return path


# ---- loading: every field checked, any problem is a ModelFileError -------------------------


class _Bad(Exception):
    """One field of the checkpoint is wrong; the message says which."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _Bad(message)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix``, by the rest of their names."""
    return {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; never runs code from the file.

    Raises ``ModelFileError`` naming the file and the problem for a missing, corrupt,
    truncated, foreign, newer-format or inconsistent checkpoint.
    """
    path = Path(path)
    arrays = read_npz(path, error=ModelFileError, what="an nnscratch checkpoint")
    try:
        return _parse(arrays)
    except _Bad as err:
        raise ModelFileError(f"{path} is not an nnscratch checkpoint: {err}") from None


def _parse(arrays: dict[str, np.ndarray]) -> Checkpoint:
    raw = arrays.pop(HEADER_KEY, None)
    if raw is None:
        raise _Bad(f"it has no {HEADER_KEY!r} entry")
    _expect(raw.dtype == np.uint8 and raw.ndim == 1, f"{HEADER_KEY!r} is not UTF-8 JSON bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError
        raise _Bad(f"its description is not UTF-8 JSON ({type(err).__name__})") from None
    _expect(isinstance(header, dict), "its description is not a JSON object")
    _expect(header.get("format") == FORMAT, f"its format is {header.get('format')!r}")
    version = header.get("format_version")
    _expect(_is_int(version) and version >= 1, f"invalid format_version {version!r}")
    _expect(
        version <= FORMAT_VERSION,
        f"it has format version {version} (written by nnscratch "
        f"{header.get('nnscratch_version', '?')}); this version reads up to {FORMAT_VERSION}",
    )
    try:
        config = TrainConfig(**header["train_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise _Bad(f"its training configuration is invalid ({err})") from None
    unknown = set(getattr(config, "extra_fit_options", None) or {}) - _FIT_OPTIONS
    _expect(not unknown, f"its training configuration has unknown fit options {unknown}")
    sha = header.get("data_sha256")
    _expect(isinstance(sha, str) and len(sha) == 64, "it lacks the data fingerprint")

    model = _parse_model(header, arrays)
    preprocessor = _parse_preprocessor(header, arrays)
    members = members_of(model)
    member = header.get("member")
    _expect(_is_int(member) and 0 <= member <= len(members), f"invalid member {member!r}")
    histories = header.get("histories")
    _expect(isinstance(histories, list) and len(histories) == member, "invalid histories")
    histories = [_parse_history(h) for h in histories]
    progress = header.get("progress")
    if progress is not None:
        _expect(member < len(members), "it has progress but every network is trained")
        progress = _parse_progress(progress, arrays, members[member], config)
    elapsed = header.get("elapsed", 0.0)
    _expect(_is_number(elapsed) and math.isfinite(elapsed) and elapsed >= 0, "invalid elapsed")
    every = header.get("checkpoint_every")
    _expect(every is None or (_is_int(every) and every >= 1), "invalid checkpoint_every")
    return Checkpoint(model, config, preprocessor, sha, member, histories, progress, elapsed, every)


def _parse_model(header: dict, arrays: dict[str, np.ndarray]):
    net = header.get("network")
    if not (isinstance(net, dict) and "class" in net and "config" in net):
        raise _Bad("no network")
    stored = sum(a.size for k, a in arrays.items() if k.startswith(_PARAM))
    try:
        check_model_size(net["class"], net["config"], stored)
        model = model_from_config(net["class"], net["config"])
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        raise _Bad(f"cannot rebuild the network ({err})") from None
    for kind, prefix, live in (
        ("parameters", _PARAM, model.parameters),
        ("buffers", _BUFFER, model.buffers),
    ):
        names = header.get(kind)
        _expect(
            isinstance(names, list)
            and all(isinstance(n, str) for n in names)
            and set(names) == set(live),
            f"its {kind} do not match the network's",
        )
        for name, target in live.items():
            stored_array = arrays.get(prefix + name)
            if stored_array is None:
                raise _Bad(f"{kind[:-1]} {name!r} is missing")
            _expect(
                stored_array.shape == target.shape and stored_array.dtype == target.dtype,
                f"{kind[:-1]} {name!r} is {stored_array.dtype} {stored_array.shape}; the "
                f"network needs {target.dtype} {target.shape}",
            )
            np.copyto(target, stored_array)
    return model


def _parse_preprocessor(header: dict, arrays: dict[str, np.ndarray]) -> ImagePreprocessor:
    scalars = header.get("preprocessor")
    if not isinstance(scalars, dict):
        raise _Bad("no preprocessor")
    state = {**scalars, **_prefixed(arrays, _PRE)}
    try:
        return ImagePreprocessor.from_state(state)
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise _Bad(f"bad preprocessor state ({err})") from None


def _parse_history(d) -> History:
    names = {f.name for f in fields(History)}
    _expect(isinstance(d, dict) and set(d) <= names, "a history is malformed")
    for key in ("costs", "train_cost", "train_accuracy", "val_cost", "val_accuracy"):
        values = d.get(key, [])
        _expect(
            isinstance(values, list) and all(_is_number(v) for v in values),
            f"history {key!r} is not a list of numbers",
        )
    _expect(d.get("best_epoch") is None or _is_int(d["best_epoch"]), "invalid best_epoch")
    _expect(isinstance(d.get("stopped_early", False), bool), "invalid stopped_early")
    return History.from_dict(d)


def _parse_progress(p, arrays: dict[str, np.ndarray], net, config: TrainConfig) -> dict:
    _expect(isinstance(p, dict), "progress is malformed")
    counters = {k: p.get(k) for k in ("step", "epoch", "offset", "seen")}
    _expect(all(_is_int(v) and v >= 0 for v in counters.values()), f"invalid counters {counters}")
    cost_sum = p.get("cost_sum")
    _expect(_is_number(cost_sum) and math.isfinite(cost_sum), "invalid cost_sum")
    history = _parse_history(p.get("history"))
    _expect(len(history.costs) == counters["step"], "its history does not match its step")

    order = arrays.get(_ORDER)
    if order is not None:
        _expect(order.dtype == np.int64 and order.ndim == 1, "progress/order is malformed")
        _expect(
            np.array_equal(np.sort(order), np.arange(order.size)),
            "progress/order is not a permutation",
        )
        _expect(counters["offset"] <= order.size, "offset lies beyond the epoch")

    rngs = p.get("rngs")
    _expect(isinstance(rngs, dict) and set(rngs) == set(_RNG_NAMES), "invalid generator states")
    for name, state in rngs.items():
        _expect(
            isinstance(state, dict) and state.get("bit_generator") == _BIT_GENERATOR,
            f"generator {name!r} is not a {_BIT_GENERATOR}",
        )
        try:
            np.random.PCG64().state = state
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            raise _Bad(f"generator {name!r} has an invalid state ({err})") from None

    live = net.parameters
    opt_state = p.get("optimizer")
    _expect(isinstance(opt_state, dict), "no optimizer state")
    opt_state = {**opt_state, **_prefixed(arrays, _OPT)}
    for key, value in opt_state.items():
        if key == "t":
            _expect(_is_int(value) and value >= 0, "invalid optimizer step count")
            continue
        _, _, name = key.partition(".")
        _expect(
            isinstance(value, np.ndarray)
            and name in live
            and value.shape == live[name].shape
            and value.dtype == live[name].dtype,
            f"optimizer state {key!r} does not match the network",
        )
    try:
        get_optimizer(config.optimizer, learning_rate=config.learning_rate).load_state_dict(
            opt_state
        )
    except (ValueError, TypeError) as err:
        raise _Bad(f"invalid optimizer state ({err})") from None

    cb_scalars = p.get("callbacks")
    _expect(isinstance(cb_scalars, dict), "no callback states")
    live_state = {**live, **net.buffers}
    callbacks = {}
    for key, scalars in cb_scalars.items():
        _expect(isinstance(key, str) and isinstance(scalars, dict), "invalid callback state")
        prefix = f"{_CB}{key}/"
        state = {**scalars, **_prefixed(arrays, prefix)}
        for name, value in state.items():
            if isinstance(value, np.ndarray):  # early stopping's best weights
                target = live_state.get(name.partition(".")[2])
                _expect(
                    target is not None
                    and value.shape == target.shape
                    and value.dtype == target.dtype,
                    f"callback state {key!r}/{name!r} does not match the network",
                )
        _, _, class_name = key.partition(":")
        _expect(class_name in _STATEFUL_CALLBACKS, f"unknown callback state {key!r}")
        try:  # a dry run on a fresh callback checks every field
            _STATEFUL_CALLBACKS[class_name]().load_state_dict(state)
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise _Bad(f"callback state {key!r} is malformed ({err!r})") from None
        callbacks[key] = state
    return {
        **counters,
        "cost_sum": float(cost_sum),
        "order": order,
        "optimizer": opt_state,
        "rngs": rngs,
        "history": history.to_dict(),
        "callbacks": callbacks,
    }
