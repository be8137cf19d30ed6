"""A new user's first steps: the article's runs in one command, --init-scale, --layers with the
article's layers_dims, a missing optional dependency, the progress bar on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnscratch.app import article
from nnscratch.app.cli import EXTRAS, main, missing_extra

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


# ---- experiments --article -------------------------------------------------------------------
def test_article_command_prints_per_seed_and_mean_and_one_json_object(cat_data_dir, capsys):
    argv = ["experiments", "--article", "--data", str(cat_data_dir), "--iterations", "3"]
    assert main([*argv, "--seeds", "0,1", "--json"]) == 0
    stdout = capsys.readouterr().out
    assert "| tanh | 0 |" in stdout and "| relu | 1 |" in stdout
    assert "| tanh | mean of 2 |" in stdout and "| relu | mean of 2 |" in stdout
    assert "dtype float64, BLAS threads" in stdout and "oscillates" in stdout
    runs = _last_json(stdout)["runs"]
    assert [(r["activation"], r["seed"]) for r in runs] == [
        ("tanh", 0), ("tanh", 1), ("relu", 0), ("relu", 1)
    ]  # fmt: skip
    keys = ["activation", "seed", "dtype", "layers", "learning_rate", "iterations", "init",
            "init_scale", "train_accuracy", "test_accuracy"]  # fmt: skip
    for r in runs:
        assert list(r) == keys
        assert r["layers"] == [12288, 5, 5, 1] and r["dtype"] == "float64"
        assert (r["learning_rate"], r["iterations"], r["init"], r["init_scale"]) == (
            0.03, 3, "normal", 0.01
        )  # fmt: skip
        assert 0 <= r["test_accuracy"] <= 1


def test_article_runs_are_the_article_network_trained_by_plain_gradient_descent():
    """train_article equals the article's loop written out: X / 255 in float64, N(0,1)*0.01
    weights, full-batch gradient descent (here 4 updates on 6 tiny images)."""
    rng = np.random.default_rng(0)

    class Data:
        x_train = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
        y_train = np.array([0, 1, 1, 0, 1, 0])
        x_test, y_test = x_train, y_train

    net, run = article.train_article("tanh", 3, Data, iterations=4)
    X = Data.x_train.reshape(6, -1) / 255.0
    ref = article.article_network("tanh", 3, n_x=48)
    assert ref.parameters["W1"].std() == pytest.approx(0.01, rel=0.2)
    for _ in range(4):
        _, grads = ref.cost_and_gradients(X, Data.y_train)
        for key, p in ref.parameters.items():
            p -= 0.03 * grads[key]
    for key, p in net.parameters.items():
        np.testing.assert_allclose(p, ref.parameters[key], rtol=1e-12, atol=1e-15)
    assert run.layers == [48, 5, 5, 1] and run.dtype == "float64"


def test_article_runs_take_the_articles_products_not_the_gram_rewrite():
    """Where fit would take the Gram-matrix path (192 features, 6 images), the article's runs
    still multiply by X as the article does: bitwise the run of fit(gram_path=False)."""
    from nnscratch.train.batches import Batches
    from nnscratch.train.gram import why_not
    from nnscratch.train.optimizers import get_optimizer

    rng = np.random.default_rng(1)

    class Data:
        x_train = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
        y_train = np.array([0, 1, 1, 0, 1, 0])
        x_test, y_test = x_train, y_train

    X = article.article_inputs(Data.x_train)
    ref = article.article_network("relu", 2, n_x=X.shape[1])
    assert why_not(ref, Batches(X, Data.y_train.reshape(-1, 1), 6), get_optimizer("gd")) is None
    ref.fit(X, Data.y_train, learning_rate=0.03, iterations=5, gram_path=False)
    net, _ = article.train_article("relu", 2, Data, iterations=5)
    for key, p in net.parameters.items():
        np.testing.assert_array_equal(p, ref.parameters[key])


def test_article_refuses_only(cat_data_dir):
    with pytest.raises(SystemExit) as exc:
        main(["experiments", "--article", "--only", "reference", "--data", str(cat_data_dir)])
    assert exc.value.code == 2


# ---- train: --init-scale and --layers ----------------------------------------------------------
def test_init_scale_reaches_the_network():
    from nnscratch.app.cli import build_parser
    from nnscratch.app.commands.train import config_from_args

    args = build_parser().parse_args(["train", "--init", "normal", "--init-scale", "0.05"])
    config = config_from_args(args)
    assert config.init_scale == 0.05
    net = config.replace(ensemble=1).build_model(12)
    assert net.parameters["W1"].std() == pytest.approx(0.05, rel=0.3)
    assert "normal(0.05) init" in config.describe()


@pytest.mark.parametrize(
    ("argv", "got"), [([], "--init sqrt_n_prev (the default)"), (["--init", "he"], "--init he")]
)
def test_init_scale_without_init_normal_is_refused_not_ignored(argv, got, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--init-scale", "0.01", "--layers", "5,5", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--init-scale scales --init normal only; got {got}: add --init normal" in err


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "x"])
def test_init_scale_is_checked(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--init-scale", bad])
    assert exc.value.code == 2
    assert "init_scale must be" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "advice"),
    [
        ("12288,5,5,1", "give the hidden widths only: --layers 5,5 (the input width 12288 and "
                        "the output width 1 come from the data)"),
        ("12288,20,7,5", "--layers 20,7,5 "),
        ("20,7,5,1", "--layers 20,7,5 "),
        ("12288", "give the hidden widths only (the input"),
    ],
)  # fmt: skip
def test_layers_with_the_input_or_output_width_are_refused(given, advice, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--layers", given])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert advice in err and err.count("\n") == 1


def test_hidden_widths_are_accepted():
    from nnscratch.app.cli import build_parser

    assert build_parser().parse_args(["train", "--layers", "5,5"]).layers == (5, 5)
    assert build_parser().parse_args(["train", "--layers", "1"]).layers == (1,)


# ---- a missing optional dependency --------------------------------------------------------------
def _without(module: str, *argv: str, cwd) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter in which ``import module`` fails."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from nnscratch.app.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, cwd=cwd,
        timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("matplotlib", ["plot", "activations", "--out", "a.png"]),
        ("h5py", ["plot", "samples", "--out", "s.png"]),
        ("PIL", ["predict", "m.npz", "x.png"]),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(module, argv, tmp_path, cat_data_dir):
    if argv[0] == "plot" and argv[1] == "samples":
        argv = [*argv, "--data", str(cat_data_dir)]
    if argv[0] == "predict":
        from nnscratch import Network
        from nnscratch.data.preprocessing import ImagePreprocessor
        from nnscratch.persist import modelfile

        images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
        pre = ImagePreprocessor().fit(images)
        modelfile.save(Network([12288, 2, 1]), tmp_path / "m.npz", preprocessor=pre)
        (tmp_path / "x.png").write_bytes(b"\x89PNG not really")
    result = _without(module, *argv, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{module!r}" in result.stderr and "pip install 'nnscratch[app]'" in result.stderr


def test_train_says_a_missing_extra_before_it_trains(tmp_path, cat_data_dir):
    result = _without(
        "matplotlib", "train", "--data", str(cat_data_dir), "--out", "run", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "pip install 'nnscratch[app]'" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_missing_extra_rule():
    try:
        import nnscratch_no_such_module  # noqa: F401
    except ImportError as err:
        assert missing_extra(err) is None
    for module, extra in EXTRAS.items():
        err = ModuleNotFoundError(f"No module named {module!r}", name=f"{module}.sub")
        wrapped = ImportError("needs it")
        wrapped.__cause__ = err
        assert missing_extra(wrapped) == (module, extra)


# ---- the progress bar ---------------------------------------------------------------------------
_FIT = (
    "import numpy as np\n"
    "from nnscratch import Network\n"
    "from nnscratch.app.progress import ProgressBar\n"
    "net = Network([3, 2, 1])\n"
    "net.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), iterations=200,\n"
    "        callbacks=[ProgressBar(200, every=100)])\n"
)


def _run_in_pty(code: str) -> bytes:
    pty = pytest.importorskip("pty")
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a pseudo-terminal without a window size, like a bare pty
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out


def test_progress_bar_on_a_terminal():
    out = _run_in_pty(_FIT)
    assert b"Cost after iteration 200" in out
    assert b"it/s" in out or b"/200" in out, out  # tqdm's bar


def test_no_progress_bar_when_piped():
    env = {**os.environ, "PYTHONPATH": SRC}
    result = subprocess.run(
        [sys.executable, "-c", _FIT], capture_output=True, text=True, env=env, timeout=60
    )
    assert "Cost after iteration 200" in result.stdout
    assert "/200" not in result.stdout + result.stderr
    assert "\r" not in result.stdout


# ---- hints in the shape errors --------------------------------------------------------------
def test_a_features_first_X_gets_a_transpose_hint():
    from nnscratch import Network

    net = Network([4, 3, 1])
    X = np.random.default_rng(0).random((6, 4))
    for call in (lambda: net.fit(X.T, np.zeros(6), iterations=1), lambda: net.predict(X.T)):
        with pytest.raises(ValueError, match=r"got shape \(4, 6\).*transposed\? use X\.T"):
            call()
    with pytest.raises(ValueError) as exc:  # not transposed, just wrong: no hint
        net.predict(X[:, :3])
    assert "transposed" not in str(exc.value)


def test_a_row_y_gets_a_transpose_hint():
    from nnscratch import Network

    net = Network([4, 3, 1])
    X = np.random.default_rng(0).random((6, 4))
    with pytest.raises(ValueError, match=r"\(1, 6\).*transposed\? use y\.T or y\.ravel\(\)"):
        net.fit(X, np.zeros((1, 6)), iterations=1)
    with pytest.raises(ValueError, match=r"transposed\?"):
        net.cost_and_gradients(X, np.zeros((1, 6)))


def test_class_labels_for_many_sigmoid_units_suggest_softmax():
    from nnscratch import Network

    net = Network([4, 10])
    with pytest.raises(ValueError, match='output_activation="softmax"'):
        net.fit(np.random.default_rng(0).random((6, 4)), np.arange(6), iterations=1)
    with pytest.raises(ValueError) as exc:  # one unit: (m,) is right, a (m, 2) y is not
        Network([4, 1]).fit(np.ones((6, 4)), np.zeros((6, 2)), iterations=1)
    assert "softmax" not in str(exc.value)
