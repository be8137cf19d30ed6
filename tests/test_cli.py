"""The command line: nnscratch train / evaluate / predict / plot / experiments.

Most tests call ``nnscratch.app.cli.main`` in-process with tiny iteration counts; a few run
``python -m nnscratch`` to check real exit codes and that no traceback reaches the user.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnscratch import load
from nnscratch.app.cli import main
from nnscratch.app.commands.evaluate import binary_metrics
from nnscratch.app.progress import ProgressBar
from nnscratch.app.recipe import TrainConfig

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

QUICK = ["--iterations", "3", "--ensemble", "1", "--print-every", "1"]


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cat_data_dir) -> Path:
    """A tiny model trained by the CLI (module-wide, read-only)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    rc = main(["train", "--data", str(cat_data_dir), *QUICK, "--ensemble", "2", "--out", str(out)])
    assert rc == 0
    return out


# ---- train ----------------------------------------------------------------------------------


def test_train_writes_model_metrics_and_plots(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out), "--json"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "Cost after iteration 3:" in stdout
    assert "Train accuracy:" in stdout and "Test accuracy:" in stdout
    summary = _last_json(stdout)
    for key in ("train_accuracy", "test_accuracy", "iterations", "seconds", "model"):
        assert key in summary
    assert summary["iterations"] == 3
    assert Path(summary["model"]) == out / "model.npz"
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_curve.png",
        "metrics.json",
        "misclassified.png",
        "model.npz",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == summary["test_accuracy"]
    assert metrics["config"]["iterations"] == 3
    model = load(out / "model.npz")
    assert model.classes == ("non-cat", "cat")
    assert model.input_shape == (64, 64, 3)
    assert model.metadata["recipe"]["layers"] == list(TrainConfig().layers)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp dirs left"


def test_train_default_out_is_a_timestamped_run_dir(cat_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(cat_data_dir), *QUICK, "--json"]) == 0
    model = Path(_last_json(capsys.readouterr().out)["model"])
    assert model.parent.parent == Path("runs") and (tmp_path / model).is_file()


def test_no_options_is_the_recipe():
    from nnscratch.app.commands.train import config_from_args

    parser = _train_parser()
    assert config_from_args(parser.parse_args([])) == TrainConfig()
    cfg = config_from_args(parser.parse_args(["--epochs", "4"]))
    assert cfg.epochs == 4 and cfg.iterations is None
    cfg = config_from_args(parser.parse_args(["--early-stopping"]))
    assert cfg.early_stopping and cfg.validation_fraction == 0.2


def _train_parser():
    import argparse

    from nnscratch.app.commands import train

    sub = argparse.ArgumentParser().add_subparsers()
    return train.add_parser(sub)


def test_every_training_flag_works(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "all"
    argv = [
        "train",
        "--data",
        str(cat_data_dir),
        "--layers",
        "6,3",
        "--activation",
        "tanh",
        "--init",
        "xavier",
        "--learning-rate",
        "0.01",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--optimizer",
        "momentum",
        "--l2",
        "0.5",
        "--dropout",
        "0.9",
        "--batch-norm",
        "--early-stopping",
        "--patience",
        "1",
        "--validation-fraction",
        "0.25",
        "--flip",
        "--no-standardize",
        "--ensemble",
        "2",
        "--seed",
        "3",
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    summary = _last_json(capsys.readouterr().out)
    model = load(summary["model"])
    cfg = model.metadata["recipe"]
    assert cfg["layers"] == [6, 3] and cfg["optimizer"] == "momentum" and cfg["flip"]
    assert cfg["batch_norm"] and cfg["dropout"] == 0.9 and not cfg["standardize"]
    member = model.network.members[0]
    assert member.layer_dims == [12288, 6, 3, 1]
    assert model.network.buffers, "batch norm's running statistics are saved"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layers", "20,x"], "layers must be a sequence of integers >= 1; got 'x' in (20, 'x')"),
        (["--layers", "20,0"], "layers must be a sequence of integers >= 1; got 0 in (20, 0)"),
        (["--layers", ""], "layers must be a sequence of integers >= 1; got '' in ('',)"),
        (["--learning-rate", "0"], "learning_rate must be a finite number > 0; got 0"),
        (["--learning-rate", "-1"], "learning_rate must be a finite number > 0; got -1"),
        (["--learning-rate", "nan"], "must be a finite number > 0; got nan"),
        (["--learning-rate", "inf"], "must be a finite number > 0; got inf"),
        (["--learning-rate", "fast"], "must be a finite number > 0; got 'fast'"),
        (["--iterations", "0"], "iterations must be an integer >= 1; got 0"),
        (["--iterations", "2.5"], "iterations must be an integer >= 1; got 2.5"),
        (["--seed", "-1"], "seed must be an integer from 0 to 4294967295; got -1"),
        (["--dropout", "0"], "dropout must be a number in (0, 1]; got 0"),
        (["--validation-fraction", "1"], "validation_fraction must be a number in (0, 1); got 1"),
        (["--l2", "-0.1"], "l2 must be a finite number >= 0; got -0.1"),
        (["--activation", "swish"], "invalid choice"),
        (["--optimizer", "lion"], "invalid choice"),
        (["--ensemble", "0"], "ensemble must be an integer >= 1; got 0"),
        (["--iterations", "5", "--epochs", "5"], "not both"),
    ],
)
def test_bad_train_flags_exit_2_with_a_clear_message(argv, message, tmp_path, capsys):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(tmp_path), "--out", str(out), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_out_that_is_not_empty_is_refused(cat_data_dir, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_missing_data_exits_1(tmp_path, capsys):
    rc = main(["train", "--data", str(tmp_path), *QUICK, "--out", str(tmp_path / "o")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "train_catvnoncat.h5" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_failure_after_training_leaves_no_half_written_out(
    cat_data_dir, tmp_path, monkeypatch, capsys
):
    from nnscratch.app import plots

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(plots, "plot_misclassified", broken)
    out = tmp_path / "run"
    assert main(["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)]) == 1
    assert "disk full" in capsys.readouterr().err
    # no half-written output, but the trained run is kept: --resume writes the outputs
    assert [p.name for p in out.iterdir()] == ["checkpoint.npz"]
    monkeypatch.undo()
    assert main(["train", "--data", str(cat_data_dir), "--resume", str(out)]) == 0
    assert {"model.npz", "metrics.json", "misclassified.png"} <= {p.name for p in out.iterdir()}
    assert not (out / "checkpoint.npz").exists()


def test_divergence_exits_1(cat_data_dir, tmp_path, capsys):
    argv = ["train", "--data", str(cat_data_dir), "--out", str(tmp_path / "o")]
    argv += [
        "--optimizer",
        "gd",
        "--learning-rate",
        "1e10",
        "--iterations",
        "20",
        "--ensemble",
        "1",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


# ---- evaluate -------------------------------------------------------------------------------


def test_evaluate_prints_metrics_and_confusion_matrix(trained, cat_data_dir, capsys):
    rc = main(["evaluate", str(trained / "model.npz"), "--data", str(cat_data_dir), "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    for word in ("accuracy", "precision", "recall", "F1", "confusion matrix", "non-cat"):
        assert word in out
    metrics = _last_json(out)
    assert metrics["n"] == 50 and sum(map(sum, metrics["confusion_matrix"])) == 50
    train_metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(train_metrics["test_accuracy"])


def test_evaluate_bad_model_file_exits_1(tmp_path, cat_data_dir, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    assert main(["evaluate", str(bad), "--data", str(cat_data_dir)]) == 1
    err = capsys.readouterr().err
    assert "not an nnscratch model file" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 1


def test_binary_metrics():
    m = binary_metrics([1, 1, 1, 0, 0], [1, 0, 1, 1, 0])
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert binary_metrics([0, 0], [0, 0])["f1"] == 0.0


# ---- predict --------------------------------------------------------------------------------


def test_predict_reads_png_and_jpeg_of_any_size(trained, cat_data_dir, tmp_path, capsys):
    from PIL import Image

    from nnscratch.data.cats import load_cats

    data = load_cats(cat_data_dir)
    png, jpg = tmp_path / "cat.png", tmp_path / "big.jpg"
    Image.fromarray(data.x_test[1]).save(png)
    Image.fromarray(data.x_test[1]).resize((200, 150)).convert("L").save(jpg)  # grey, any size
    model_path = trained / "model.npz"
    assert main(["predict", str(model_path), str(png), str(jpg), "--json"]) == 0
    out = capsys.readouterr().out
    result = _last_json(out)
    assert [r["image"] for r in result["predictions"]] == [str(png), str(jpg)]
    p_png = result["predictions"][0]["probability"]
    expected = float(load(model_path).predict_proba(data.x_test[1:2])[0])
    assert p_png == pytest.approx(expected, abs=1e-6), "a PNG of a test image predicts as it"
    assert f"{png}: " in out and "probability of 'cat'" in out


def test_predict_unreadable_file_exits_1_naming_it(trained, tmp_path, capsys):
    from PIL import Image

    good = tmp_path / "ok.png"
    Image.new("RGB", (64, 64), (200, 100, 50)).save(good)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    rc = main(
        ["predict", str(trained / "model.npz"), str(good), str(text), str(tmp_path / "x.jpg")]
    )
    assert rc == 1
    captured = capsys.readouterr()
    assert f"{good}: " in captured.out
    assert str(text) in captured.err and "x.jpg" in captured.err
    assert "Traceback" not in captured.err


# ---- plot and experiments -------------------------------------------------------------------


def test_plot_activations_and_samples(tmp_path, cat_data_dir, capsys):
    act, samples = tmp_path / "act.png", tmp_path / "samples.png"
    assert main(["plot", "activations", "--out", str(act)]) == 0
    assert main(["plot", "samples", "--data", str(cat_data_dir), "--out", str(samples)]) == 0
    for path in (act, samples):
        assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as exc:
        main(["plot", "histogram"])
    assert exc.value.code == 2


def test_experiments_prints_a_markdown_table(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "table.md"
    argv = ["experiments", "--data", str(cat_data_dir), "--iterations", "2", "--out", str(out)]
    argv += ["--only", "article-tanh", "--only", "reference", "--seeds", "0,1", "--json"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "| run | configuration | seeds | train acc | test acc | seconds |" in stdout
    assert "| article-tanh | [12288, 5, 5, 1] tanh" in stdout
    assert "| reference | [12288, 20, 7, 5, 1] relu" in stdout
    rows = _last_json(stdout)["rows"]
    assert [len(r["test_accuracy"]) for r in rows] == [2, 2]
    assert "| article-tanh |" in out.read_text()


# ---- progress -------------------------------------------------------------------------------


def test_progress_plain_lines_when_not_a_terminal():
    buf = io.StringIO()
    bar = ProgressBar(total=250, runs=2, every=100, file=buf)
    for _ in range(2):
        bar.on_train_begin(None, None)
        for i in range(1, 251):
            bar.on_iteration_end(None, i, 1.0 / i, None)
        bar.on_train_end(None, None)
    lines = buf.getvalue().splitlines()
    assert lines == [
        "Training network 1/2",
        "Cost after iteration 100: 0.010000",
        "Cost after iteration 200: 0.005000",
        "Training network 2/2",
        "Cost after iteration 100: 0.010000",
        "Cost after iteration 200: 0.005000",
    ]


def test_progress_bar_shows_live_cost():
    buf = io.StringIO()
    bar = ProgressBar(total=20, every=10, file=buf, bar=True)
    bar.on_train_begin(None, None)
    for i in range(1, 21):
        bar.on_iteration_end(None, i, 0.5, None)
    bar.on_train_end(None, None)
    text = buf.getvalue()
    assert "cost=0.5000" in text and "Cost after iteration 20: 0.500000" in text


# ---- real processes -------------------------------------------------------------------------


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "nnscratch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.timeout(600)  # a real process; _run gives up after 300 s
def test_usage_error_in_a_real_process_is_one_line_exit_2(tmp_path):
    proc = _run("train", "--layers", "20,x", "--data", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no usage block
    assert "layers must be a sequence of integers >= 1; got 'x'" in proc.stderr


@pytest.mark.timeout(600)  # a real process; _run gives up after 300 s
def test_model_error_in_a_real_process_exits_1(tmp_path):
    proc = _run("predict", str(tmp_path / "missing.npz"), "cat.jpg")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "missing.npz" in proc.stderr


@pytest.mark.timeout(600)  # a real process; _run gives up after 300 s
def test_train_in_a_real_process(cat_data_dir, tmp_path):
    proc = _run(
        "train", "--data", str(cat_data_dir), *QUICK, "--out", str(tmp_path / "r"), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(summary["model"]).is_file()
    assert np.isfinite(summary["test_accuracy"])


# ---- the recipe -----------------------------------------------------------------------------


def test_balance_with_mirrors_equalises_classes_with_mirror_images():
    from nnscratch.app.recipe import balance_with_mirrors

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 4, 5, 3), dtype=np.uint8)
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 0])
    x, y = balance_with_mirrors(images, labels, seed=0)
    assert np.bincount(y).tolist() == [7, 7]
    np.testing.assert_array_equal(x[:10], images)  # the originals first, unchanged
    originals = {images[i].tobytes() for i in np.flatnonzero(labels == 1)}
    for extra in x[10:]:
        assert extra[:, ::-1].tobytes() in originals  # each extra is a mirrored cat
    assert len({e.tobytes() for e in x[10:]}) == 3, "no duplicates while there are enough"
    same = balance_with_mirrors(images, np.zeros(10, int))
    assert same[0] is images


def test_experiment_baselines_are_the_published_runs():
    from nnscratch.app.commands.experiments import experiment_configs

    runs = experiment_configs()
    for name in ("article-tanh", "article-relu", "reference"):
        cfg = runs[name]
        assert cfg.optimizer == "gd" and cfg.ensemble == 1 and cfg.l2 == 0
        assert not (cfg.balance or cfg.standardize or cfg.flip) and cfg.dropout is None
    assert runs["article-tanh"].layers == (5, 5) and runs["article-tanh"].init == "normal"
    assert runs["reference"].describe().startswith("[12288, 20, 7, 5, 1] relu, sqrt_n_prev")
    assert runs["default recipe"] == TrainConfig()
