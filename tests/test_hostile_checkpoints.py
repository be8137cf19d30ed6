"""Edited checkpoints on ``--resume``: every field is checked for its type and range and
against the run it resumes; an edit is a one-line ModelFileError (exit 1) or, where the edit
is harmless, a run that resumes; never a traceback, never an edit written into the model."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnscratch.app.cli import main
from nnscratch.app.interrupts import InterruptFlag
from nnscratch.app.recipe import TrainConfig
from nnscratch.app.runs import RunDirectory
from nnscratch.base.errors import ModelFileError
from nnscratch.data.cats import load_cats
from nnscratch.persist.archive import read_archive, write_archive
from nnscratch.train.callbacks import Callback

KEY = "__checkpoint__"


class _StopAfter(Callback):
    def __init__(self, flag: InterruptFlag, n: int):
        self.flag, self.n = flag, n

    def on_iteration_end(self, net, iteration, cost, history):
        self.n -= 1
        if self.n == 0:
            self.flag.requested = True


@pytest.fixture(scope="module")
def checkpoint(cat_data_dir, tmp_path_factory) -> tuple[dict, dict]:
    """The header and arrays of a real checkpoint: an ensemble of 2, stopped in member 1."""
    data = load_cats(cat_data_dir)
    run_dir = tmp_path_factory.mktemp("ckpt") / "run"
    config = TrainConfig(layers=(3,), iterations=6, ensemble=2, optimizer="adam")
    flag = InterruptFlag()
    run = RunDirectory.create(run_dir)
    with pytest.raises(KeyboardInterrupt):
        run.train(
            config, data.x_train, data.y_train, every=2, callbacks=[_StopAfter(flag, 9)],
            interrupt=flag,
        )  # fmt: skip
    return read_archive(run_dir / "checkpoint.npz", KEY)


def _write(tmp_path: Path, header: dict, arrays: dict) -> Path:
    run = tmp_path / "edited"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    write_archive(run / "checkpoint.npz", KEY, header, arrays, allow_nan=True)
    return run


def _set(header: dict, path: tuple, value) -> None:
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


#: edits the issue found ending in a traceback or accepted silently, and the message now
EDITS = {
    "layers emptied": (("train_config", "layers"), [], "settings"),
    "a layer of 10**30": (("train_config", "layers", 0), 10**30, "settings"),
    "ensemble of 10**30": (("train_config", "ensemble"), 10**30, "above the limit"),
    "a CNN's settings": (("train_config", "model"), "cnn", "settings"),
    "batch_norm switched on": (("train_config", "batch_norm"), True, "settings"),
    "standardize switched on": (("train_config", "standardize"), True, "preprocessor"),
    "a negative scale": (("preprocessor", "scale"), -1, "preprocessor"),
    "a scale of 1e300": (("preprocessor", "scale"), 1e300, "preprocessor"),
    'standardize "yes"': (("preprocessor", "standardize"), "yes", "preprocessor"),
    "eps of 1e300": (("preprocessor", "eps"), 1e300, "preprocessor"),
    "a negative cost": (("histories", 0, "costs", 0), -1, "outside [0, inf]"),
    "a NaN cost": (("histories", 0, "costs", 1), float("nan"), "outside [0, inf]"),
    "best_epoch -1": (("histories", 0, "best_epoch"), -1, "invalid best_epoch"),
    "stopped early": (("histories", 0, "stopped_early"), True, "stopped early"),
    "epoch of 10**30": (("progress", "epoch"), 10**30, "exceeds its step"),
    "a negative cost_sum": (("progress", "cost_sum"), -1, "invalid cost_sum"),
    "has_uint32 -1": (("progress", "rngs", "shuffle", "has_uint32"), -1, "invalid PCG64 state"),
    "a bool as the state": (("progress", "rngs", "flip", "state", "inc"), True, "invalid PCG64"),
    "a member beyond the ensemble": (("member",), 7, "invalid member"),
    "elapsed NaN": (("elapsed",), float("nan"), "invalid elapsed"),
    "checkpoint_every 0": (("checkpoint_every",), 0, "invalid checkpoint_every"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_checkpoint_fields_are_refused(edit, checkpoint, cat_data_dir, tmp_path, capsys):
    path, value, message = EDITS[edit]
    header, arrays = checkpoint
    header = copy.deepcopy(header)
    _set(header, path, value)
    run = _write(tmp_path, header, arrays)
    code = main(["train", "--data", str(cat_data_dir), "--resume", str(run)])
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (run / "model.npz").exists()


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key not in ("format", "format_version", "nnscratch_version"):
                yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:2]):
            yield from _paths(value, (*prefix, i))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_field_edit_opens_or_is_a_model_file_error(data, checkpoint, tmp_path):
    """Opening an edited checkpoint to resume it: the run, or a ModelFileError (one line)."""
    header, arrays = checkpoint
    paths = sorted(_paths(header), key=json.dumps)
    path = data.draw(st.sampled_from(paths))
    edited = copy.deepcopy(header)
    _set(edited, path, data.draw(_VALUES))
    run = _write(tmp_path, edited, arrays)
    try:
        RunDirectory.open(run)
    except ModelFileError as err:
        assert "\n" not in str(err)
