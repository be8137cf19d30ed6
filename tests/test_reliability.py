"""The catalogue of bad inputs: each gets a clear message, the right exit status and no
traceback, and leaves no partial output behind.

Exit status: 2 for usage errors (a bad flag or value; argparse's or ``UsageError``), 1 for
data, model-file, disk and training errors, 130 for Ctrl-C (see test_resume.py).

"Cannot be written" is simulated with an --out path below a regular file (``file/sub``):
the tests run as root, for whom a read-only (chmod) directory is still writable. A full disk
is simulated by making ``os.fsync`` (or ``numpy.savez`` half-way through) fail with ENOSPC.

Most cases run ``nnscratch.app.cli.main`` in-process on a tiny valid data set written here (12
training and 6 test images), so that they take milliseconds; a few run ``python -m
nnscratch`` to check what a real user sees.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnscratch import ModelFileError, Network, load, save
from nnscratch.app.cli import main
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.persist.checkpoint import CHECKPOINT_NAME, load_checkpoint

h5py = pytest.importorskip("h5py")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

TINY = ["--layers", "2", "--iterations", "2", "--ensemble", "1", "--print-every", "0"]


# ---- helpers ------------------------------------------------------------------------------------


def _write_split(path: Path, split: str, x, y, classes=(b"non-cat", b"cat"), keys=None) -> None:
    x_key, y_key = keys or (f"{split}_set_x", f"{split}_set_y")
    with h5py.File(path, "w") as f:
        f[x_key] = x
        f[y_key] = y
        if classes is not None:
            f["list_classes"] = np.array(classes)


def _images(m: int, seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(m, size, size, 3), dtype=np.uint8)


def _labels(m: int) -> np.ndarray:
    return np.arange(m, dtype=np.int64) % 2


def _data_dir(root: Path, name: str = "data", seed: int = 0, **train_overrides) -> Path:
    """A valid small data set (12 train, 6 test images); ``train_overrides`` spoil the train
    file: x, y, classes or keys."""
    d = root / name
    d.mkdir()
    train = {"x": _images(12, seed), "y": _labels(12), **train_overrides}
    _write_split(d / "train_catvnoncat.h5", "train", **train)
    _write_split(d / "test_catvnoncat.h5", "test", _images(6, seed + 1), _labels(6))
    return d


def _cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check(code, err, expected_code, *fragments) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment.lower() in err.lower(), err


@pytest.fixture
def data(tmp_path) -> Path:
    return _data_dir(tmp_path)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A model trained by the CLI on the tiny data (module-wide: copy it before spoiling)."""
    root = tmp_path_factory.mktemp("model")
    out = root / "trained"
    assert main(["train", "--data", str(_data_dir(root)), *TINY, "--out", str(out)]) == 0
    return out / "model.npz"


# ---- data files (exit 1) ------------------------------------------------------------------------

BAD_DATA = {
    # name: (how to spoil the data directory, what the message must say)
    "missing directory": (lambda d: _rmtree(d), "lacks"),
    "missing train file": (lambda d: (d / "train_catvnoncat.h5").unlink(), "lacks"),
    "empty file": (lambda d: (d / "train_catvnoncat.h5").write_bytes(b""), "not a valid HDF5"),
    "truncated file": (lambda d: _truncate(d / "train_catvnoncat.h5"), "train_catvnoncat.h5"),
    "corrupt file": (lambda d: _corrupt(d / "train_catvnoncat.h5"), "train_catvnoncat.h5"),
    "text file": (lambda d: (d / "train_catvnoncat.h5").write_text("hello"), "not a valid HDF5"),
    "wrong keys": (
        lambda d: _write_split(
            d / "train_catvnoncat.h5", "train", _images(4, 0), _labels(4), keys=("x", "y")
        ),
        "lacks dataset",
    ),
    "image/label count mismatch": (
        lambda d: _write_split(d / "train_catvnoncat.h5", "train", _images(10, 0), _labels(9)),
        "10 images but",
    ),
    "labels outside {0, 1}": (
        lambda d: _write_split(
            d / "train_catvnoncat.h5", "train", _images(4, 0), np.array([0, 1, 2, 1])
        ),
        "labels [2]",
    ),
    "images of another size": (
        lambda d: _write_split(d / "train_catvnoncat.h5", "train", _images(4, 0, 32), _labels(4)),
        "(m, 64, 64, 3)",
    ),
    "no class names": (
        lambda d: _write_split(
            d / "train_catvnoncat.h5", "train", _images(4, 0), _labels(4), classes=None
        ),
        "list_classes",
    ),
}


def _rmtree(d: Path) -> None:
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:2048] = np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_files_exit_1(case, tmp_path, data, capsys):
    spoil, message = BAD_DATA[case]
    spoil(data)
    out = tmp_path / "out"
    before = _listing(tmp_path)
    code, stdout, err = _cli(["train", "--data", data, *TINY, "--out", out], capsys)
    _check(code, err, 1, message)
    assert "Cost after" not in stdout
    assert _listing(tmp_path) == before, "nothing written"


def test_bad_data_for_evaluate_exits_1(tmp_path, model_file, capsys):
    bad = _data_dir(tmp_path, "bad", y=np.full(12, 7))
    code, _, err = _cli(["evaluate", model_file, "--data", bad], capsys)
    _check(code, err, 1, "labels [7]")


# ---- model files and images (exit 1) ------------------------------------------------------------


def _model_for_32px_images(path: Path) -> Path:
    pre = ImagePreprocessor(standardize=True).fit(_images(4, 0, 32))
    return save(Network([32 * 32 * 3, 2, 1]), path, preprocessor=pre, classes=["no", "yes"])


BAD_MODELS = {
    "missing": (lambda p: None, "does not exist"),
    "empty": (lambda p: p.write_bytes(b""), "not an nnscratch model file"),
    "text": (lambda p: p.write_text("hello"), "not an nnscratch model file"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-100]), "not an nnscratch model"),
    "foreign npz": (lambda p: np.savez(str(p), W1=np.zeros(3)), "not an nnscratch model"),
    "no preprocessor": (lambda p: save(Network([12, 2, 1]), p), "RGB images"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_bad_model_files_exit_1(command, case, tmp_path, data, model_file, capsys):
    spoil, message = BAD_MODELS[case]
    path = tmp_path / "bad.npz"
    if case != "missing":
        path.write_bytes(model_file.read_bytes())
        spoil(path)
    image = tmp_path / "cat.png"
    _png(image, 64)
    argv = [command, path, image] if command == "predict" else [command, path, "--data", data]
    code, _, err = _cli(argv, capsys)
    if case == "no preprocessor" and command == "evaluate":
        message = "no image preprocessor"
    _check(code, err, 1, message)


def _png(path: Path, size: int) -> None:
    from PIL import Image

    Image.fromarray(_images(1, 3, size)[0]).save(path)


def test_images_of_another_size_at_predict_time(tmp_path, data, model_file, capsys):
    # the command line resizes any image to the model's input ...
    small = tmp_path / "small.png"
    _png(small, 17)
    code, stdout, err = _cli(["predict", model_file, small], capsys)
    _check(code, err, 0)
    assert f"{small}: " in stdout
    # ... and evaluating a model of another input size on the 64 x 64 data is refused
    other = _model_for_32px_images(tmp_path / "m32.npz")
    code, _, err = _cli(["evaluate", other, "--data", data], capsys)
    _check(code, err, 1, "takes inputs of shape (32, 32, 3)")
    # the library says which shape it got and which it needs
    with pytest.raises(ValueError, match=r"\(64, 64, 3\).*expected \(32, 32, 3\)"):
        load(other).predict(_images(2, 0, 64))


@pytest.mark.parametrize("case", ["text", "missing", "directory", "truncated png"])
def test_unreadable_or_non_image_files_exit_1(case, tmp_path, model_file, capsys):
    bad = tmp_path / "bad.png"
    if case == "text":
        bad.write_text("not an image")
    elif case == "directory":
        bad.mkdir()
    elif case == "truncated png":
        _png(bad, 64)
        bad.write_bytes(bad.read_bytes()[:200])
    good = tmp_path / "good.png"
    _png(good, 64)
    code, stdout, err = _cli(["predict", model_file, good, bad], capsys)
    _check(code, err, 1, f"cannot read image {bad}")
    assert f"{good}: " in stdout, "the readable image is still classified"


# ---- usage errors (exit 2) ----------------------------------------------------------------------

BAD_FLAGS = [
    (["--layers", "20,,5"], "layers must be a sequence of integers >= 1; got '' in (20, '', 5)"),
    (["--layers", "a,b"], "layers must be a sequence of integers >= 1; got 'a'"),
    (["--layers", "20;7"], "layers must be a sequence of integers >= 1; got '20;7'"),
    (["--layers", ""], "layers must be a sequence of integers >= 1; got ''"),
    (["--layers", "0"], "layers must be a sequence of integers >= 1; got 0"),
    (["--layers=5,-1"], "layers must be a sequence of integers >= 1; got -1"),
    (["--layers=-3"], "layers must be a sequence of integers >= 1; got -3"),
    (["--learning-rate", "0"], "> 0"),
    (["--learning-rate=-0.1"], "> 0"),
    (["--learning-rate", "nan"], "finite"),
    (["--learning-rate", "inf"], "finite"),
    (["--learning-rate", "1e999"], "finite"),
    (["--learning-rate", "fast"], "must be a finite number > 0; got 'fast'"),
    (["--iterations", "0"], "iterations must be an integer >= 1; got 0"),
    (["--iterations=-5"], "iterations must be an integer >= 1; got -5"),
    (["--iterations", "1.5"], "iterations must be an integer >= 1; got 1.5"),
    (["--activation", "swish"], "invalid choice: 'swish'"),
    (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["--checkpoint-every", "0"], "checkpoint_every must be an integer >= 1; got 0"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS)
def test_bad_flags_exit_2(argv, message, tmp_path, data, capsys):
    out = tmp_path / "out"
    before = _listing(tmp_path)
    code, _, err = _cli(["train", "--data", data, "--out", out, *argv], capsys)
    _check(code, err, 2, message)
    assert _listing(tmp_path) == before


def test_out_that_is_not_empty_exits_2(tmp_path, data, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, err = _cli(["train", "--data", data, *TINY, "--out", out], capsys)
    _check(code, err, 2, "not an empty directory")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_resume_usage_errors_exit_2(tmp_path, data, capsys):
    code, _, err = _cli(["train", "--resume", tmp_path / "nope"], capsys)
    _check(code, err, 2, "not a run directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _cli(["train", "--resume", empty], capsys)
    _check(code, err, 2, f"holds no {CHECKPOINT_NAME}")
    code, _, err = _cli(["train", "--resume", empty, "--layers", "3", "--out", "x"], capsys)
    _check(code, err, 2, "drop --layers, --out")


# ---- runs that cannot be saved or resumed (exit 1) ----------------------------------------------


def test_unwritable_out_fails_before_training(tmp_path, data, capsys):
    """--out below a regular file: no directory can ever be made there (also as root)."""
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    before = _listing(tmp_path)
    code, stdout, err = _cli(
        ["train", "--data", data, *TINY, "--out", blocker / "sub" / "run"], capsys
    )
    _check(code, err, 1, f"cannot write to the output directory {blocker / 'sub' / 'run'}")
    assert "Not a directory" in err
    assert "Training" not in stdout, "refused before any training"
    assert _listing(tmp_path) == before


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_saving_the_model(tmp_path, data, monkeypatch, capsys):
    monkeypatch.setattr(os, "fsync", _enospc)
    out = tmp_path / "out"
    before = _listing(tmp_path)
    code, _, err = _cli(["train", "--data", data, *TINY, "--out", out], capsys)
    # the trained run's checkpoint is the first file written after training
    _check(code, err, 1, "no space left on the device to write", "checkpoint.npz")
    assert _listing(tmp_path) == before, "no partial output, no temporary files"


def test_full_disk_keeps_the_old_model_file(tmp_path, monkeypatch):
    """numpy.savez fails half-way (after writing some bytes): the old file stays whole."""
    path = save(Network([12, 3, 1], seed=0), tmp_path / "m.npz")
    old = path.read_bytes()
    real_savez = np.savez

    def savez_then_full(f, **arrays):
        real_savez(f, **{k: arrays[k] for k in list(arrays)[:1]})  # some bytes reach the file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", savez_then_full)
    with pytest.raises(OSError, match="no space left on the device to write .*m.npz"):
        save(Network([12, 3, 1], seed=1), path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    monkeypatch.undo()
    assert load(path).network.layer_dims == [12, 3, 1]


def test_full_disk_mid_run_keeps_the_last_checkpoint(tmp_path, data, monkeypatch, capsys):
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync_until_full(fd):
        calls["n"] += 1
        if calls["n"] > 3:  # the first checkpoints succeed (each fsyncs file and directory)
            _enospc()
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    out = tmp_path / "out"
    argv = ["train", "--data", data, *TINY, "--iterations", "6", "--checkpoint-every", "1"]
    code, _, err = _cli([*argv, "--out", out], capsys)
    _check(code, err, 1, "no space left on the device to write", CHECKPOINT_NAME)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME]
    assert load_checkpoint(out / CHECKPOINT_NAME).iteration <= 1
    # and the run goes on once there is space again
    code, _, err = _cli(["train", "--resume", out, "--data", data], capsys)
    _check(code, err, 0)
    assert (out / "model.npz").is_file() and not (out / CHECKPOINT_NAME).exists()


def test_failed_outputs_keep_the_checkpoint_and_resume_writes_them(tmp_path, data, monkeypatch,
                                                                  capsys):  # fmt: skip
    from nnscratch.app import plots

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "the plot could not be written")

    monkeypatch.setattr(plots, "plot_misclassified", broken)
    out = tmp_path / "out"
    argv = ["train", "--data", data, *TINY, "--checkpoint-every", "1", "--out", out]
    code, _, err = _cli(argv, capsys)
    _check(code, err, 1, "the plot could not be written")
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME], "no partial outputs"
    assert load_checkpoint(out / CHECKPOINT_NAME).finished
    monkeypatch.undo()
    code, stdout, err = _cli(["train", "--resume", out, "--data", data, "--print-every", "1"],
                             capsys)  # fmt: skip
    _check(code, err, 0)
    assert "Cost after" not in stdout, "nothing is trained again"
    assert {"model.npz", "metrics.json"} <= {p.name for p in out.iterdir()}


def test_corrupt_checkpoint_exits_1(tmp_path, data, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    code, _, err = _cli(["train", "--resume", run, "--data", data], capsys)
    _check(code, err, 1, "not an nnscratch checkpoint")
    with pytest.raises(ModelFileError):
        load_checkpoint(run / CHECKPOINT_NAME)


def test_ctrl_c_inside_a_checkpoint_save_keeps_the_previous_one(tmp_path, data, monkeypatch,
                                                               capsys):  # fmt: skip
    out = tmp_path / "out"
    argv = ["train", "--data", data, *TINY, "--iterations", "3", "--checkpoint-every", "1"]
    monkeypatch.setattr(os, "fsync", _interrupt_on_third_call())
    code, _, err = _cli([*argv, "--out", out], capsys)
    monkeypatch.undo()
    _check(code, err, 130, f"interrupted; resume with: nnscratch train --resume {out}")
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME], "no temporary file left"
    assert load_checkpoint(out / CHECKPOINT_NAME).iteration == 0  # the one before the save
    code, _, err = _cli(["train", "--resume", out, "--data", data], capsys)
    _check(code, err, 0)


def test_resume_with_other_data_exits_1(tmp_path, data, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = ["train", "--data", data, *TINY, "--iterations", "3", "--checkpoint-every", "1"]
    monkeypatch.setattr(os, "fsync", _interrupt_on_third_call())
    code, _, err = _cli([*argv, "--out", out], capsys)
    monkeypatch.undo()
    assert code == 130, err
    other = _data_dir(tmp_path, "other", seed=5)
    code, _, err = _cli(["train", "--resume", out, "--data", other], capsys)
    _check(code, err, 1, "training data differ")
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME], "checkpoint untouched"


def _interrupt_on_third_call():
    """An os.fsync that raises KeyboardInterrupt once (a Ctrl-C landing inside a save)."""
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_fsync(fd)

    return fsync


def test_divergence_exits_1_and_writes_nothing_partial(tmp_path, data, capsys):
    out = tmp_path / "out"
    argv = ["train", "--data", data, *TINY, "--layers", "8,8", "--optimizer", "gd"]
    argv += ["--learning-rate", "1e12"]  # the activations overflow within a few updates
    code, _, err = _cli([*argv, "--iterations", "20", "--out", out], capsys)
    _check(code, err, 1, "training diverged", "smaller learning rate")
    assert not out.exists()
    # with checkpoints, the last good one stays and no model is written
    code, _, err = _cli([*argv, "--iterations", "20", "--checkpoint-every", "1", "--out", out],
                        capsys)  # fmt: skip
    _check(code, err, 1, "training diverged")
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME]
    assert load_checkpoint(out / CHECKPOINT_NAME).iteration >= 0  # whole and loadable


# ---- what a real user sees ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["train", "--layers", "20,,5"], 2, "layers must be a sequence of integers >= 1; got ''"),
        (["train", "--learning-rate", "-1"], 2, "> 0"),
        (["train", "--data", "{corrupt}", *TINY, "--out", "{tmp}/o"], 1, "not a valid HDF5"),
        (["predict", "{tmp}/nope.npz", "x.png"], 1, "does not exist"),
        (["evaluate", "{garbage}"], 1, "not an nnscratch model file"),
    ],
)
def test_subprocess_exit_codes_and_no_traceback(argv, code, message, tmp_path):
    corrupt = _data_dir(tmp_path, "corrupt")
    (corrupt / "train_catvnoncat.h5").write_bytes(os.urandom(4096))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(1000))
    argv = [a.format(tmp=tmp_path, corrupt=corrupt, garbage=garbage) for a in argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "nnscratch", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()
