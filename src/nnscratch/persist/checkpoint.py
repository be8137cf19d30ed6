"""Checkpoint files of a training run: what resuming one exactly where it stopped needs.

``save_checkpoint`` writes a ``Checkpoint`` atomically and ``load_checkpoint`` reads one back;
``nnscratch.app.runs.RunDirectory`` writes them while it trains and resumes from them. A
checkpoint holds everything the run depends on:

- the run's settings (a JSON object given by the caller: the application stores its training
  configuration there and validates it on loading) and a sha256 fingerprint of the training
  data (a resume with other data is refused);
- the fitted preprocessor and every network's parameters and buffers (an ensemble's members,
  finished or not);
- which member is training, the histories of the finished ones, and the training member's
  ``TrainingState``: update and epoch counters, position in the epoch and its shuffle,
  optimizer state, the random generators' states (their ``bit_generator.state`` as JSON, no
  pickle) and the early-stopping state;
- the seconds spent so far.

Resuming rebuilds all of that and continues the training loop from the same update, so the
final parameters are bitwise those of the run that was never interrupted (same machine and
thread settings). A checkpoint is an archive of the one scheme of ``nnscratch.persist.archive``
with the model laid out as in a model file (``nnscratch.persist.layout``), so loading one is
as safe as loading a model file: any malformed file raises ``ModelFileError``.

Layout of the archive:

    __checkpoint__                   uint8: UTF-8 JSON of everything that is not an array (the
                                     settings under "train_config"; NaN and infinities allowed,
                                     as early stopping starts from an infinite best cost)
    param/<name>, buffer/<name>      the model's arrays ("m0.W1" for ensemble members)
    preprocessor/<key>               the preprocessor's arrays (mean, std, input_shape)
    progress/order                   the training member's current epoch permutation
    progress/optimizer/<slot>.<p>    its optimizer's state ("v.W1", "m_sum.W1", ...)
    progress/callbacks/<key>/<name>  arrays of callback states (early stopping's best weights)
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.jsonio import is_int, is_number
from nnscratch.models.ensemble import Ensemble
from nnscratch.persist.archive import ArchiveFormat, Malformed, expect
from nnscratch.persist.layout import (
    DESCRIPTION_ERRORS,
    PRE,
    put_model,
    put_state,
    take_model,
    take_preprocessor,
    take_state,
)
from nnscratch.train.callbacks import EarlyStopping
from nnscratch.train.fit import History

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
CHECKPOINT_FILE = ArchiveFormat(
    FORMAT, FORMAT_VERSION, HEADER_KEY, "an nnscratch checkpoint", allow_nan=True
)
_ORDER, _OPT, _CB = "progress/order", "progress/optimizer/", "progress/callbacks/"
_FAST = "progress/fast_path/"  # a training fast path's coordinates (nnscratch.train.gram)
#: the random generators ``fit`` keeps, and the only bit generator it uses
_RNG_NAMES = ("shuffle", "flip", "dropout")
_BIT_GENERATOR = "PCG64"
#: callbacks whose state a checkpoint may hold, by class name
_STATEFUL_CALLBACKS = {"EarlyStopping": EarlyStopping}
_COUNTERS = ("step", "epoch", "offset", "seen")


# ---------------------------------------------------------------------------------------------
# the checkpoint itself


@dataclass
class Checkpoint:
    """What a checkpoint file holds (see the module docstring).

    ``member`` is the index of the network in training (``len(members)`` once all are
    trained); ``histories`` are the finished members'; ``progress`` is the training member's
    ``TrainingState.state_dict()``, or None when it has not started. ``settings`` is
    whatever the caller needs to rebuild the run (``nnscratch.app.runs`` stores its
    ``TrainConfig.to_dict()`` and checks it on loading); the checkpoint only requires a JSON
    object.
    """

    model: Any  # Network, Ensemble, ...: parameters and buffers as checkpointed
    settings: dict  # the run's settings, a JSON object of the caller's (e.g. a TrainConfig's)
    preprocessor: Any  # a fitted step of nnscratch.data.preprocessing.PREPROCESSORS
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


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (the old file stays until the new one is whole).
    Raises ValueError when its settings or states cannot be stored."""
    header: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    put_model(ckpt.model, header, arrays)
    progress = None
    if ckpt.progress is not None:
        p = ckpt.progress
        progress = {k: p[k] for k in (*_COUNTERS, "cost_sum", "rngs", "history")}
        if p["order"] is not None:
            arrays[_ORDER] = np.asarray(p["order"], dtype=np.int64)
        progress["optimizer"] = put_state(p["optimizer"], _OPT, arrays)
        progress["callbacks"] = {
            key: put_state(state, f"{_CB}{key}/", arrays) for key, state in p["callbacks"].items()
        }
        if p.get("fast_path") is not None:
            progress["fast_path"] = put_state(p["fast_path"], _FAST, arrays)
    if not isinstance(ckpt.settings, dict):
        raise ValueError(f"a checkpoint's settings are a dict; got {type(ckpt.settings).__name__}")
    header.update(
        train_config=ckpt.settings,
        data_sha256=ckpt.data_sha256,
        preprocessor=put_state(ckpt.preprocessor.get_state(), PRE, arrays),
        member=ckpt.member,
        histories=[h.to_dict() for h in ckpt.histories],
        progress=progress,
        elapsed=float(ckpt.elapsed),
        checkpoint_every=ckpt.every,
    )
    return CHECKPOINT_FILE.write(path, header, arrays)


# ---- loading: every field checked, any problem is a ModelFileError -------------------------


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; never runs code from the file.

    Raises ``ModelFileError`` naming the file and the problem for a missing, corrupt,
    truncated, foreign, newer-format or inconsistent checkpoint. The settings are returned as
    stored (a JSON object); checking them is the caller's.
    """
    return CHECKPOINT_FILE.read(path, _parse)


def _parse(header: dict, arrays: dict[str, np.ndarray]) -> Checkpoint:
    settings = header.get("train_config")
    if not isinstance(settings, dict):
        raise Malformed("its settings ('train_config') are not a JSON object")
    sha = header.get("data_sha256")
    if not (isinstance(sha, str) and len(sha) == 64):
        raise Malformed("it lacks the data fingerprint")

    model = take_model(header, arrays)
    preprocessor = take_preprocessor(header.get("preprocessor"), arrays)
    members = members_of(model)
    member = header.get("member")
    if not (is_int(member) and 0 <= member <= len(members)):
        raise Malformed(f"invalid member {member!r}")
    histories = header.get("histories")
    if not (isinstance(histories, list) and len(histories) == member):
        raise Malformed("invalid histories")
    histories = [_parse_history(h) for h in histories]
    progress = header.get("progress")
    if progress is not None:
        expect(member < len(members), "it has progress but every network is trained")
        progress = _parse_progress(progress, arrays, members[member])
    elapsed = header.get("elapsed", 0.0)
    expect(is_number(elapsed) and math.isfinite(elapsed) and elapsed >= 0, "invalid elapsed")
    every = header.get("checkpoint_every")
    expect(every is None or (is_int(every) and every >= 1), "invalid checkpoint_every")
    return Checkpoint(
        model, settings, preprocessor, sha, member, histories, progress, elapsed, every
    )


def _parse_history(d) -> History:
    names = {f.name for f in fields(History)}
    expect(isinstance(d, dict) and set(d) <= names, "a history is malformed")
    for key in ("costs", "train_cost", "train_accuracy", "val_cost", "val_accuracy"):
        values = d.get(key, [])
        expect(
            isinstance(values, list) and all(is_number(v) for v in values),
            f"history {key!r} is not a list of numbers",
        )
        high = 1.0 if key.endswith("accuracy") else math.inf
        expect(
            all(math.isfinite(v) and 0 <= v <= high for v in values),
            f"history {key!r} holds values outside [0, {high:g}] (costs and accuracies of a "
            "training run are finite and not negative)",
        )
    recorded = max(len(d.get(key, [])) for key in ("costs", "train_cost", "val_cost"))
    best = d.get("best_epoch")
    expect(
        best is None or (is_int(best) and 0 <= best <= recorded),
        f"invalid best_epoch {best!r}",
    )
    expect(isinstance(d.get("stopped_early", False), bool), "invalid stopped_early")
    return History.from_dict(d)


def _check_generator_state(name: str, state: dict) -> None:
    """A PCG64 state exactly as numpy writes it: 128-bit ``state`` and ``inc`` (``inc`` odd),
    ``has_uint32`` 0 or 1 and a 32-bit ``uinteger`` (numpy itself would take a bool or an
    out-of-range value and silently reduce it)."""
    inner = state.get("state")
    expect(
        set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and all(is_int(inner[k]) and 0 <= inner[k] < 1 << 128 for k in ("state", "inc"))
        and inner["inc"] % 2 == 1
        and state["has_uint32"] in (0, 1)
        and is_int(state["has_uint32"])
        and is_int(state["uinteger"])
        and 0 <= state["uinteger"] < 1 << 32,
        f"generator {name!r} has an invalid {_BIT_GENERATOR} state",
    )


def _parse_progress(p, arrays: dict[str, np.ndarray], net) -> dict:
    expect(isinstance(p, dict), "progress is malformed")
    counters = {k: p.get(k) for k in _COUNTERS}
    expect(all(is_int(v) and v >= 0 for v in counters.values()), f"invalid counters {counters}")
    expect(counters["epoch"] <= counters["step"], f"epoch {counters['epoch']} exceeds its step")
    cost_sum = p.get("cost_sum")
    expect(is_number(cost_sum) and math.isfinite(cost_sum) and cost_sum >= 0, "invalid cost_sum")
    history = _parse_history(p.get("history"))
    expect(len(history.costs) == counters["step"], "its history does not match its step")

    order = arrays.get(_ORDER)
    if order is not None:
        expect(order.dtype == np.int64 and order.ndim == 1, "progress/order is malformed")
        expect(
            np.array_equal(np.sort(order), np.arange(order.size)),
            "progress/order is not a permutation",
        )
        expect(counters["offset"] <= order.size, "offset lies beyond the epoch")
        expect(
            counters["seen"] <= order.size * (counters["epoch"] + 1),
            "it has seen more samples than its epochs hold",
        )

    rngs = p.get("rngs")
    expect(isinstance(rngs, dict) and set(rngs) == set(_RNG_NAMES), "invalid generator states")
    for name, state in rngs.items():
        expect(
            isinstance(state, dict) and state.get("bit_generator") == _BIT_GENERATOR,
            f"generator {name!r} is not a {_BIT_GENERATOR}",
        )
        _check_generator_state(name, state)
        try:
            np.random.PCG64().state = state
        except DESCRIPTION_ERRORS as err:
            raise Malformed(f"generator {name!r} has an invalid state ({err})") from None

    live = net.parameters
    opt_state = take_state(p.get("optimizer"), _OPT, arrays, "optimizer state")
    for key, value in opt_state.items():
        if key == "t":
            expect(is_int(value) and value >= 0, "invalid optimizer step count")
            continue
        _, _, name = key.partition(".")
        expect(
            isinstance(value, np.ndarray)
            and name in live
            and value.shape == live[name].shape
            and value.dtype == live[name].dtype,
            f"optimizer state {key!r} does not match the network",
        )
    expect("t" in opt_state, "the optimizer state lacks its step count 't'")

    cb_scalars = p.get("callbacks")
    expect(isinstance(cb_scalars, dict), "no callback states")
    live_state = {**live, **net.buffers}
    callbacks = {}
    for key, scalars in cb_scalars.items():
        state = take_state(scalars, f"{_CB}{key}/", arrays, f"callback state {key!r}")
        for name, value in state.items():
            if isinstance(value, np.ndarray):  # early stopping's best weights
                target = live_state.get(name.partition(".")[2])
                expect(
                    target is not None
                    and value.shape == target.shape
                    and value.dtype == target.dtype,
                    f"callback state {key!r}/{name!r} does not match the network",
                )
        _, _, class_name = key.partition(":")
        expect(class_name in _STATEFUL_CALLBACKS, f"unknown callback state {key!r}")
        try:  # a dry run on a fresh callback checks every field
            _STATEFUL_CALLBACKS[class_name]().load_state_dict(state)
        except DESCRIPTION_ERRORS as err:
            raise Malformed(f"callback state {key!r} is malformed ({err!r})") from None
        callbacks[key] = state
    fast = None
    if p.get("fast_path") is not None:
        fast = take_state(p["fast_path"], _FAST, arrays, "fast-path state")
        expect(
            all(isinstance(v, np.ndarray) and v.dtype.kind == "f" for v in fast.values()),
            "its fast-path state is malformed",
        )
    return {
        **counters,
        "cost_sum": float(cost_sum),
        "order": order,
        "optimizer": opt_state,
        "rngs": rngs,
        "history": history.to_dict(),
        "callbacks": callbacks,
        "fast_path": fast,
    }
