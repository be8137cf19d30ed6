"""The one persistence scheme: the JSON encoding (``base.jsonio``), the archive of a JSON header
plus named arrays (``persist.archive``) with its error cases, and files written before it
(tests/data/*_v1.npz, written by the code as it was before the scheme) still loading.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnscratch import ModelFileError, load, save
from nnscratch.base import jsonio
from nnscratch.persist.archive import (
    ArchiveFormat,
    expect,
    read_archive,
    read_npz,
    write_archive,
    write_npz,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
KEY = "__header__"


# ---- the JSON encoding ------------------------------------------------------------------------


def test_dumps_turns_plain_data_into_json():
    value = {
        "f": np.float32(0.5),
        "i": np.int64(3),
        "b": np.bool_(True),
        "a": np.arange(3),
        "t": (1, 2),
        "s": {4},
        "fs": frozenset({5}),
        "p": Path("runs") / "a",
    }
    assert json.loads(jsonio.dumps(value)) == {
        "f": 0.5,
        "i": 3,
        "b": True,
        "a": [0, 1, 2],
        "t": [1, 2],
        "s": [4],
        "fs": [5],
        "p": str(Path("runs") / "a"),
    }


def test_dumps_refuses_nan_unless_allowed_and_unknown_types():
    for bad in (float("nan"), float("inf"), np.float64("-inf")):
        with pytest.raises(ValueError, match="JSON"):
            jsonio.dumps({"cost": bad})
    assert jsonio.dumps({"cost": math.inf}, allow_nan=True) == '{"cost": Infinity}'
    with pytest.raises(ValueError, match="object is not JSON-serialisable"):
        jsonio.dumps({"x": object()})
    circular: list = []
    circular.append(circular)
    with pytest.raises(ValueError, match="JSON"):
        jsonio.dumps(circular)


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\xff\xfe{", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_loads_says_what_is_wrong(data, problem):
    with pytest.raises(ValueError, match=problem):
        jsonio.loads(data)


def test_loads_reads_back_what_dumps_wrote():
    value = {"costs": [0.5, math.inf], "name": "é", "n": 2**100}
    assert jsonio.loads(jsonio.dumps(value, allow_nan=True).encode()) == value


def test_print_json_uses_the_one_encoding(capsys):
    from nnscratch.app.commands._common import print_json

    print_json({"accuracy": np.float32(0.75), "out": Path("runs/a"), "shape": (2, 3)})
    assert json.loads(capsys.readouterr().out) == {
        "accuracy": 0.75,
        "out": str(Path("runs/a")),
        "shape": [2, 3],
    }


# ---- the archive: a JSON header plus named arrays -------------------------------------------


def test_archive_round_trip(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {"x/W": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([True])}
    write_archive(path, KEY, {"n": np.int64(2), "shape": (2, 3)}, arrays)
    header, back = read_archive(path, KEY)
    assert header == {"n": 2, "shape": [2, 3]}
    assert back.keys() == arrays.keys()
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype
        np.testing.assert_array_equal(back[k], a)


def test_unstorable_headers_write_nothing(tmp_path):
    path = tmp_path / "a.npz"
    with pytest.raises(ValueError, match="JSON"):
        write_archive(path, KEY, {"best": float("nan")}, {})
    with pytest.raises(ValueError, match="JSON"):
        write_archive(path, KEY, {"x": object()}, {})
    with pytest.raises(ValueError, match="dict"):
        write_archive(path, KEY, ["not", "a", "dict"], {})
    with pytest.raises(ValueError, match="header"):
        write_archive(path, KEY, {}, {KEY: np.zeros(1, np.uint8)})
    assert not list(tmp_path.iterdir())
    write_archive(path, KEY, {"best": float("inf")}, {}, allow_nan=True)
    assert read_archive(path, KEY)[0] == {"best": math.inf}


def _with_raw_header(path: Path, raw: np.ndarray) -> Path:
    write_npz(path, {KEY: raw, "W": np.zeros(2)})
    return path


@pytest.mark.parametrize(
    "raw, problem",
    [
        (np.frombuffer(b"\xff\xfe{}", dtype=np.uint8), "corrupt: it is not UTF-8"),
        (np.frombuffer(b"{nope", dtype=np.uint8), "corrupt: it is not JSON"),
        (np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8), "nested too deeply"),
        (np.frombuffer(b"[1, 2]", dtype=np.uint8), "a JSON list, not an object"),
        (np.frombuffer(b'"text"', dtype=np.uint8), "a JSON str, not an object"),
        (np.zeros((2, 2), dtype=np.uint8), "not UTF-8 bytes"),
        (np.zeros(3, dtype=np.float32), "not UTF-8 bytes"),
    ],
)
def test_bad_headers_raise_the_callers_error(tmp_path, raw, problem):
    path = _with_raw_header(tmp_path / "h.npz", raw)
    with pytest.raises(ModelFileError, match=problem) as err:
        read_archive(path, KEY, error=ModelFileError, what="a thing")
    assert str(err.value).startswith(f"{path} is not a thing: ")


def test_missing_header_is_named(tmp_path):
    path = tmp_path / "h.npz"
    write_npz(path, {"W": np.zeros(2)})
    with pytest.raises(ModelFileError, match=r"no '__header__' entry \(it holds \['W'\]\)"):
        read_archive(path, KEY, error=ModelFileError, what="a thing")
    assert read_npz(path).keys() == {"W"}  # the plain reader does not ask for a header


THING = ArchiveFormat("thing", 2, KEY, "a thing file")


def test_a_format_stamps_and_checks_its_header(tmp_path):
    path = THING.write(tmp_path / "t.npz", {"n": 1}, {"W": np.ones(2)})
    header, arrays = read_archive(path, KEY)
    assert header["format"] == "thing" and header["format_version"] == 2
    assert "nnscratch_version" in header and header["n"] == 1

    def parse(header, arrays):
        expect(header["n"] == 1, "n must be 1")
        return header["n"], arrays["W"]

    n, W = THING.read(path, parse)
    assert n == 1 and W.tolist() == [1.0, 1.0]

    def reject(header, arrays):
        expect(False, "the content is wrong")

    with pytest.raises(ModelFileError, match=r"is not a thing file: the content is wrong"):
        THING.read(path, reject)


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"format": "other"}, "names format 'other', not 'thing'"),
        ({"format_version": 3}, "newer nnscratch .*version 3.* up to 2"),
        ({"format_version": 0}, "invalid format_version 0"),
        ({"format_version": True}, "invalid format_version True"),
        ({"format_version": "1"}, "invalid format_version '1'"),
    ],
)
def test_a_format_refuses_other_formats_and_versions(tmp_path, change, problem):
    path = tmp_path / "t.npz"
    header = {"format": "thing", "format_version": 1, **change}
    write_archive(path, KEY, header, {})
    with pytest.raises(ModelFileError, match=problem):
        THING.read(path, lambda h, a: h)


def test_older_versions_of_a_format_are_read(tmp_path):
    path = tmp_path / "t.npz"
    write_archive(path, KEY, {"format": "thing", "format_version": 1}, {})
    assert THING.read(path, lambda h, a: h["format_version"]) == 1


# ---- one scheme: the file formats use it, and do no JSON of their own ------------------------


@pytest.mark.parametrize("module", ["modelfile", "checkpoint", "layout"])
def test_file_formats_do_no_json_and_import_no_app(module):
    tree = ast.parse((ROOT / "src" / "nnscratch" / "persist" / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert "json" not in imported
    assert not any(name.startswith("nnscratch.app") for name in imported)


def test_the_layers_contract_ignores_no_import():
    assert "ignore_imports" not in (ROOT / "pyproject.toml").read_text()


# ---- files written before the scheme still load ----------------------------------------------


def _raw(path: Path, key: str) -> tuple[dict, dict]:
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop(key).tobytes()), arrays


def test_model_file_v1_loads_and_saves_back_the_same(tmp_path):
    from nnscratch.persist.modelfile import HEADER_KEY

    model = load(DATA / "model_v1.npz")
    assert model.format_version == 1 and model.classes == ("non-cat", "cat")
    assert model.metadata["lr"] == 0.1 and model.network.buffers  # batch norm's statistics
    assert model.preprocessor.standardize and model.input_shape == (2, 2, 3)
    copy = save(
        model.network,
        tmp_path / "copy.npz",
        preprocessor=model.preprocessor,
        classes=model.classes,
        metadata=model.metadata,
    )
    old_header, old_arrays = _raw(DATA / "model_v1.npz", HEADER_KEY)
    new_header, new_arrays = _raw(copy, HEADER_KEY)
    old_header.pop("nnscratch_version"), new_header.pop("nnscratch_version")
    assert new_header == old_header
    assert new_arrays.keys() == old_arrays.keys()
    for k, a in old_arrays.items():
        assert new_arrays[k].dtype == a.dtype, k
        np.testing.assert_array_equal(new_arrays[k], a, err_msg=k)
    images = np.random.default_rng(5).integers(0, 256, size=(4, 2, 2, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load(copy).predict_proba(images), model.predict_proba(images))


def _v1_run_data():
    """The data and recipe the run in tests/data/checkpoint_v1.npz was interrupted on (in its
    second network, after 3 of 6 updates, with checkpoints every 2)."""
    from nnscratch.app.recipe import TrainConfig

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 4, 4, 3), dtype=np.uint8)
    labels = (images.mean(axis=(1, 2, 3)) > 120).astype(np.int64)
    config = TrainConfig(
        layers=(3,), ensemble=2, iterations=6, batch_size=8, dropout=0.9, flip=True,
        optimizer="adam", learning_rate=0.01, validation_fraction=0.25,
        early_stopping=True, patience=2,
    )  # fmt: skip
    return config, images, labels


def test_checkpoint_v1_loads_saves_back_the_same_and_resumes(tmp_path):
    import shutil

    from nnscratch.app.recipe import train_cats
    from nnscratch.app.runs import RunDirectory, load_run_checkpoint
    from nnscratch.persist.checkpoint import CHECKPOINT_NAME, HEADER_KEY, save_checkpoint

    config, images, labels = _v1_run_data()
    ckpt = load_run_checkpoint(DATA / "checkpoint_v1.npz")
    assert ckpt.config == config and ckpt.settings == config.to_dict()
    assert ckpt.member == 1 and ckpt.iteration == 3 and ckpt.every == 2
    assert len(ckpt.histories) == 1 and not ckpt.finished

    copy = save_checkpoint(tmp_path / "copy.npz", ckpt)
    old_header, old_arrays = _raw(DATA / "checkpoint_v1.npz", HEADER_KEY)
    new_header, new_arrays = _raw(copy, HEADER_KEY)
    old_header.pop("nnscratch_version"), new_header.pop("nnscratch_version")
    assert new_header == old_header
    assert new_arrays.keys() == old_arrays.keys()
    for k, a in old_arrays.items():
        assert new_arrays[k].dtype == a.dtype, k
        np.testing.assert_array_equal(new_arrays[k], a, err_msg=k)

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(DATA / "checkpoint_v1.npz", run_dir / CHECKPOINT_NAME)
    run = RunDirectory.open(run_dir)
    result = run.train(run.checkpoint.config, images, labels)
    plain = train_cats(config, images, labels)
    # the same run; tolerances, not bits, because the file was written on another machine
    for key, a in plain.model.parameters.items():
        np.testing.assert_allclose(result.model.parameters[key], a, rtol=1e-5, err_msg=key)
