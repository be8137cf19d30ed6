"""Lost or clobbered work: stops after training, two runs on one directory, staging left by a
killed process, tune's outputs, writes onto links and devices, reads from FIFOs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnscratch
from nnscratch.app.cli import main
from nnscratch.base.atomic import lock_directory, staged_directory
from nnscratch.base.errors import ModelFileError, UsageError

QUICK = ["--layers", "2", "--iterations", "2", "--ensemble", "1", "--print-every", "0"]
OUTPUTS = {"model.npz", "metrics.json", "loss_curve.png", "misclassified.png"}


def _names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, 143), pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
    ids=["SIGTERM", "Ctrl-C"],
)
def test_a_stop_while_the_outputs_are_written_keeps_the_run(
    signum, status, cat_data_dir, tmp_path, monkeypatch, capsys
):
    """The signal arrives while the plots are drawn (the ~1.4 s after training): exit 130 or
    143 with the resume hint, the trained run's checkpoint kept, no partial output and no
    staging left; --resume writes the outputs without training again."""
    from nnscratch.app import plots

    real = plots.plot_misclassified

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_misclassified", stopped)
    out = tmp_path / "run"
    assert main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)]) == status
    err = capsys.readouterr().err
    assert f"resume with: nnscratch train --resume {out}" in err and "Traceback" not in err
    assert _names(out) == {"checkpoint.npz"}
    monkeypatch.undo()
    assert main(["train", "--data", str(cat_data_dir), "--resume", str(out)]) == 0
    assert _names(out) == OUTPUTS
    assert "Training" in capsys.readouterr().out


def test_a_second_run_on_a_locked_directory_fails_at_once(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with lock_directory(out):  # what a running `nnscratch train --out run` holds
        with pytest.raises(SystemExit) as exc:
            main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "is in use by another nnscratch process" in err and "Traceback" not in err
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_two_train_processes_on_one_out_directory(cat_data_dir, tmp_path):
    """Really at the same time: one succeeds, the other fails with the lock's message."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "nnscratch.app.cli", "train", "--data", str(cat_data_dir)]
    argv += ["--layers", "2", "--iterations", "300", "--ensemble", "1", "--out", str(out)]
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errors = " ".join(err for _, err in results)
    assert codes == [0, 2], errors
    assert "in use by another nnscratch process" in errors or "not an empty directory" in errors
    assert OUTPUTS <= _names(out)


def test_staging_left_by_a_killed_run_blocks_nothing(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    stale = out / ".outputs.k1ll3d.tmp"
    stale.mkdir(parents=True)
    (stale / "model.npz").write_bytes(b"half")
    assert main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)]) == 0
    assert _names(out) == OUTPUTS, "reused --out, and the stale staging is gone"


def test_staging_left_by_a_killed_run_does_not_block_resume(
    cat_data_dir, tmp_path, monkeypatch, capsys
):
    from nnscratch.app import plots

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_loss_curve", killed)
    out = tmp_path / "run"
    assert main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)]) == 130
    monkeypatch.undo()
    (out / ".outputs.k1ll3d.tmp").mkdir()  # as SIGKILL would leave it
    assert main(["train", "--data", str(cat_data_dir), "--resume", str(out)]) == 0
    assert _names(out) == OUTPUTS


# ---- the one staging mechanism -------------------------------------------------------------


def test_staged_directory_is_all_or_nothing(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        with staged_directory(final) as tmp:
            (tmp / "a.csv").write_text("1")
            raise OSError("disk full")
    assert list(tmp_path.iterdir()) == [], "no partial file, no staging, no empty --out"
    with staged_directory(final) as tmp:
        (tmp / "a.csv").write_text("1")
        with pytest.raises(UsageError, match="in use by another nnscratch process"):
            with staged_directory(final):
                pass
    assert _names(final) == {"a.csv"}
    with pytest.raises(UsageError, match="not empty"):
        with staged_directory(final):
            pass
    assert _names(final) == {"a.csv"}


@pytest.fixture
def npz_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=(X[:, 0] > 0).astype(int))
    return path


def _tune(npz_file, out, *extra):
    return main(
        ["tune", "--data-file", str(npz_file), "--param", "learning_rate_init=0.01:0.03"]
        + ["--set", "max_iter=5", "--set", "hidden_layer_sizes=4", "--cv", "2", "--n-jobs", "1"]
        + ["--out", str(out), *extra]
    )


@pytest.mark.slow
def test_tune_outputs_are_staged(npz_file, tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    from nnscratch.app.commands import tune as command

    out = tmp_path / "tuned"

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command, "_save_model", full_disk)
    assert _tune(npz_file, out) == 1
    err = capsys.readouterr().err
    assert f"cannot write the outputs into {out}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [npz_file], "no partial files, no empty --out"
    monkeypatch.undo()
    assert _tune(npz_file, out) == 0
    assert _names(out) == {"results.csv", "scores.png", "best_model.npz", "best_params.json"}
    with pytest.raises(SystemExit) as exc:  # a non-empty --out, refused before the search
        _tune(npz_file, out)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "not empty" in captured.err and "candidates" not in captured.out.split("best:")[-1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_tune_into_a_read_only_place_fails_before_the_search(npz_file, tmp_path, capsys):
    pytest.importorskip("sklearn")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert _tune(npz_file, locked / "out") == 1
    finally:
        locked.chmod(0o700)
    assert "tune:" not in capsys.readouterr().out


# ---- writing only regular files, reading only regular files ---------------------------------


def test_save_refuses_links_devices_fifos_and_directories(tmp_path):
    net = nnscratch.Network([4, 3, 1], seed=0)
    target = nnscratch.save(net, tmp_path / "real.npz")
    before = target.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    cases = {link: "a symbolic link", fifo: "a FIFO", tmp_path: "a directory"}
    if Path("/dev/full").exists():
        cases[Path("/dev/full")] = "a character device"
    for path, kind in cases.items():
        with pytest.raises(OSError, match=f"refusing to write {path}: it is {kind}"):
            nnscratch.save(net, path)
    assert target.read_bytes() == before and link.is_symlink()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.timeout(60)
def test_model_and_image_fifos_are_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        nnscratch.load(fifo)
    from nnscratch.data.preprocessing import ImagePreprocessor

    pre = ImagePreprocessor().fit(np.zeros((2, 64, 64, 3), np.uint8))
    net = nnscratch.Network([64 * 64 * 3, 2, 1], seed=0)
    model = nnscratch.save(net, tmp_path / "m.npz", preprocessor=pre, classes=("no", "yes"))
    assert main(["predict", str(fifo), str(fifo)]) == 1
    assert "not a regular file" in capsys.readouterr().err
    assert main(["predict", str(model), str(fifo)]) == 1
    err = capsys.readouterr().err
    assert "FIFO" in err and "Traceback" not in err


@pytest.mark.timeout(60)
def test_a_data_directory_of_fifos_is_refused_without_blocking(tmp_path, capsys):
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        os.mkfifo(tmp_path / name)
    assert main(["train", "--data", str(tmp_path), *QUICK, "--out", str(tmp_path / "o")]) == 1
    assert "Traceback" not in capsys.readouterr().err


# ---- signals to the processes themselves ------------------------------------------------------


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_a_stop_during_start_up_is_one_line(signum, status, delay, cat_data_dir, tmp_path):
    """Ctrl-C or SIGTERM while the command is still importing its modules (or just after):
    exit 130/143 with one line, no traceback, nothing written."""
    import time

    out = tmp_path / "o"
    argv = [sys.executable, "-m", "nnscratch.app.cli", "train", "--data", str(cat_data_dir)]
    # long enough (a few seconds) that the latest signal still finds it running
    long_run = [*QUICK[:2], "--iterations", "20000", *QUICK[4:]]
    proc = subprocess.Popen(
        [*argv, *long_run, "--out", str(out)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0 or (out / "model.npz").exists():
        # finished; Python resets signal handlers while it shuts down, so a signal then ends
        # the process by the signal itself, after every output was written
        pytest.skip("the run finished before the signal")
    assert proc.returncode == status, err
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err
    assert not out.exists() or (out / "checkpoint.npz").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_tune_workers_exit_when_tune_is_killed(tmp_path):
    """SIGKILL of tune, whose clean-up then never runs: its joblib workers still exit within
    seconds (each watches its parent), instead of lingering for minutes."""
    import time

    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, X=rng.normal(size=(400, 20)), y=np.arange(400) % 2)
    argv = [sys.executable, "-m", "nnscratch.app.cli", "tune", "--data-file", str(data)]
    argv += ["--param", "learning_rate_init=0.001:0.002:0.003:0.004", "--set", "max_iter=3000"]
    argv += ["--cv", "2", "--n-jobs", "2", "--out", str(tmp_path / "o")]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.5)
        workers = [pid for pid in _children(proc.pid) if _alive(pid)]
    if proc.poll() is not None or not workers:
        proc.kill()
        pytest.skip("no worker processes started in time")
    time.sleep(1.0)
    workers = [pid for pid in _children(proc.pid) if _alive(pid)]
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.25)
    lingering = [pid for pid in workers if _alive(pid)]
    for pid in lingering:  # only the test's own leftovers
        os.kill(pid, signal.SIGKILL)
    assert not lingering, f"workers {lingering} outlived tune by 20 s"


def _image_model(tmp_path: Path) -> tuple[Path, Path]:
    """A 4x4 RGB image model file and one PNG it can classify."""
    from PIL import Image

    from nnscratch.data.preprocessing import ImagePreprocessor

    pre = ImagePreprocessor().fit(np.zeros((2, 4, 4, 3), np.uint8))
    net = nnscratch.Network([4 * 4 * 3, 2, 1], seed=0)
    model = nnscratch.save(net, tmp_path / "m.npz", preprocessor=pre, classes=("no", "yes"))
    image = tmp_path / "a.png"
    Image.new("RGB", (4, 4), (9, 9, 9)).save(image)
    return model, image


def test_predict_out_onto_its_model_or_an_input_is_refused(tmp_path, capsys):
    # before: --out MODEL replaced the model file with the predictions' CSV, exit 0
    model, image = _image_model(tmp_path)
    before = model.read_bytes(), image.read_bytes()
    alias = tmp_path / "sub" / ".." / "a.png"
    (tmp_path / "sub").mkdir()
    hard = tmp_path / "hard.npz"
    os.link(model, hard)
    for out in (model, image, alias, hard):
        with pytest.raises(SystemExit, match="2"):
            main(["predict", str(model), str(image), "--out", str(out)])
        err = capsys.readouterr().err
        assert "which this command reads; write to another file" in err
        assert len(err.strip().splitlines()) == 1
    assert (model.read_bytes(), image.read_bytes()) == before
    assert main(["predict", str(model), str(image), "--out", str(tmp_path / "p.csv")]) == 0


def test_export_out_onto_its_model_is_refused(tmp_path, capsys):
    model, _ = _image_model(tmp_path)
    before = model.read_bytes()
    with pytest.raises(SystemExit, match="2"):
        main(["export", str(model), "--out", str(model)])
    assert "which this command reads" in capsys.readouterr().err
    # --format torch writes OUT and OUT with .py: neither may be the model
    py_model = tmp_path / "m.py"
    os.link(model, py_model)
    with pytest.raises(SystemExit, match="2"):
        main(["export", str(model), "--format", "torch", "--out", str(tmp_path / "m.pt")])
    assert "m.py is" in capsys.readouterr().err
    assert model.read_bytes() == before


def test_export_of_a_table_model_is_one_line(tmp_path, capsys):
    # before: AttributeError: 'TablePreprocessor' object has no attribute 'dtype'
    from nnscratch.data.table_encoding import TablePreprocessor
    from nnscratch.data.tables import Table

    table = Table("t.csv", ["a", "b"], [np.arange(4.0), np.array(list("xyxy"), object)])
    pre = TablePreprocessor().fit(table)
    net = nnscratch.Network([pre.n_features_, 2, 1], seed=0)
    model = nnscratch.save(net, tmp_path / "t.npz", preprocessor=pre, classes=("0", "1"))
    assert main(["export", str(model), "--out", str(tmp_path / "t.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "cannot export preprocessor TablePreprocessor: no exporter" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "t.onnx").exists()
