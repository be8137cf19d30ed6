"""Training survives interruption: Ctrl-C and SIGKILL mid-run, then ``--resume``, give bitwise
the parameters of a run that was never interrupted; a SIGKILL during a save never leaves a
corrupt model file or checkpoint. The library's side (``fit(resume=...)``, ``RunDirectory``)
is checked in-process first.

The runs are real ``python -m nnscratch train`` processes on the cat data, made small (one
hidden layer of 8 units, two networks of 40 updates each) but using every source of state a
resume must restore: Adam's moments, mini-batches of 64 (so interruptions fall inside
epochs and their shuffles), dropout masks and random flips.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nnscratch import Network, load
from nnscratch.app.interrupts import InterruptFlag
from nnscratch.app.recipe import TrainConfig, train_cats
from nnscratch.app.runs import RunDirectory, TrainingInterrupted, load_run_checkpoint
from nnscratch.persist.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from nnscratch.train.callbacks import Callback

pytest.importorskip("matplotlib")
pytest.importorskip("h5py")

ITERATIONS = 40
RUN = [
    "--layers", "8", "--ensemble", "2", "--iterations", str(ITERATIONS),
    "--batch-size", "64", "--optimizer", "adam", "--learning-rate", "0.002",
    "--dropout", "0.9", "--flip", "--seed", "3", "--print-every", "1",
]  # fmt: skip
TIMEOUT = 120
# Each test starts several training processes (each given TIMEOUT) after a shared reference run.
pytestmark = pytest.mark.timeout(900)


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(src)) if p)
    return env


def _nnscratch(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnscratch", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT,
    )


def _train_until(args: list, network: int, iteration: int, sig: int) -> tuple[int, str, str]:
    """Start ``nnscratch train args``, send ``sig`` once it has printed the cost of
    ``iteration`` of network ``network`` (1-based), and return (exit code, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnscratch", "train", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    lines, current, sent = [], 1, False
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Training network "):
                current = int(line.split()[2].split("/")[0])
            if (
                not sent
                and current == network
                and line.startswith(f"Cost after iteration {iteration}:")
            ):
                proc.send_signal(sig)
                sent = True
        stderr = proc.stderr.read()
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert sent, "the run ended before it could be interrupted:\n" + "".join(lines)
    return code, "".join(lines), stderr


def _assert_same_model(a: Path, b: Path) -> None:
    ma, mb = load(a / "model.npz"), load(b / "model.npz")
    pa, pb = ma.network.parameters, mb.network.parameters
    assert pa.keys() == pb.keys()
    for key in pa:
        assert pa[key].dtype == np.float32
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)  # bitwise, not allclose
    costs_a = json.loads((a / "metrics.json").read_text())["final_costs"]
    costs_b = json.loads((b / "metrics.json").read_text())["final_costs"]
    assert costs_a == costs_b


# ---- the library: fit(resume=...) and RunDirectory -------------------------------------------


class _Stop(Callback):
    """Takes a snapshot (training state, parameters and buffers) at ``at`` and stops there, the
    way a Ctrl-C does."""

    def __init__(self, at: int):
        self.at, self.snapshot = at, None

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration == self.at:
            live = {**net.parameters, **net.buffers}
            self.snapshot = (self.training_state.state_dict(), {k: a.copy() for k, a in
                                                                 live.items()})  # fmt: skip
            raise KeyboardInterrupt


def _small_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 12)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=50) > 0).astype(int)
    return X, y


FIT = dict(
    epochs=40, batch_size=8, optimizer="adam", learning_rate=0.05, seed=3,
    validation_fraction=0.3, early_stopping=True, patience=3, augment_flip=True,
    image_shape=(2, 2, 3), l2=0.01, lr_schedule="cosine",
)  # fmt: skip


def _net() -> Network:
    return Network([12, 16, 1], dropout=0.8, batch_norm=True, seed=1)


def test_fit_resumes_bitwise_from_any_update():
    X, y = _small_problem()
    reference = _net()
    history = reference.fit(X, y, **FIT)
    n = len(history.costs)
    assert history.stopped_early  # the early-stopping state is resumed too
    for at in (1, 4, 5, 6, 13, n - 1, n):  # epochs of 5 batches: inside and at their ends
        stopper = _Stop(at)
        with pytest.raises(KeyboardInterrupt):
            _net().fit(X, y, callbacks=[stopper], **FIT)
        state, arrays = stopper.snapshot
        resumed = _net()
        live = {**resumed.parameters, **resumed.buffers}
        for key, a in arrays.items():
            np.copyto(live[key], a)
        again = resumed.fit(X, y, resume=state, **FIT)
        assert again.to_dict() == history.to_dict(), at
        for key, a in {**reference.parameters, **reference.buffers}.items():
            np.testing.assert_array_equal(live[key], a, err_msg=f"{key} after resuming at {at}")


def _images_and_labels():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(30, 4, 4, 3), dtype=np.uint8), np.arange(30) % 3 == 0


RECIPE = TrainConfig(
    layers=(6,), ensemble=2, iterations=None, epochs=6, batch_size=8, dropout=0.9, flip=True,
    balance=True, validation_fraction=0.2, early_stopping=True, patience=2,
    optimizer="adam", learning_rate=0.01,
)  # fmt: skip


def test_run_directory_trains_exactly_like_the_recipe(tmp_path):
    x, y = _images_and_labels()
    y = y.astype(np.int64)
    plain = train_cats(RECIPE, x, y)
    run = RunDirectory.create(tmp_path / "run")
    checkpointed = run.train(RECIPE, x, y, every=3)
    for key, a in plain.model.parameters.items():
        np.testing.assert_array_equal(checkpointed.model.parameters[key], a, err_msg=key)
    assert [h.to_dict() for h in plain.histories] == [h.to_dict() for h in
                                                      checkpointed.histories]  # fmt: skip
    ckpt = load_run_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)  # the finished run's
    assert ckpt.finished and ckpt.every == 3 and ckpt.config == RECIPE

    # interrupted in the second network, resumed: the same again
    interrupt = InterruptFlag()

    class CtrlC(Callback):
        calls = 0

        def on_iteration_end(self, net, iteration, cost, history):
            CtrlC.calls += 1
            interrupt.requested = CtrlC.calls == 25

    run = RunDirectory.create(tmp_path / "again")
    with pytest.raises(TrainingInterrupted) as stopped:
        run.train(RECIPE, x, y, callbacks=[CtrlC()], interrupt=interrupt)
    assert stopped.value.member == 1
    resumed = RunDirectory.open(tmp_path / "again")
    result = resumed.train(resumed.checkpoint.config, x, y)
    for key, a in plain.model.parameters.items():
        np.testing.assert_array_equal(result.model.parameters[key], a, err_msg=key)


def test_checkpoint_round_trip_is_exact(tmp_path):
    x, y = _images_and_labels()
    y = y.astype(np.int64)
    interrupt = InterruptFlag()

    class CtrlC(Callback):
        def on_iteration_end(self, net, iteration, cost, history):
            interrupt.requested = iteration == 7

    run = RunDirectory.create(tmp_path / "run")
    with pytest.raises(TrainingInterrupted):
        run.train(RECIPE, x, y, callbacks=[CtrlC()], interrupt=interrupt)
    ckpt = load_run_checkpoint(run.checkpoint_path)
    save_checkpoint(tmp_path / "copy.npz", ckpt)
    again = load_run_checkpoint(tmp_path / "copy.npz")
    assert again.config == ckpt.config and again.member == ckpt.member == 0
    assert again.iteration == 7 and again.data_sha256 == ckpt.data_sha256
    for key, a in ckpt.model.parameters.items():
        np.testing.assert_array_equal(again.model.parameters[key], a)
    p, q = ckpt.progress, again.progress
    assert p["rngs"] == q["rngs"] and p["history"] == q["history"]
    np.testing.assert_array_equal(p["order"], q["order"])
    assert p["optimizer"].keys() == q["optimizer"].keys()
    assert (tmp_path / "copy.npz").read_bytes() == run.checkpoint_path.read_bytes()


# ---- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cat_data_dir) -> Path:
    """The uninterrupted run, without any checkpointing."""
    out = tmp_path_factory.mktemp("reference") / "run"
    done = _nnscratch("train", "--data", cat_data_dir, *RUN, "--out", out)
    assert done.returncode == 0, done.stderr
    assert not (out / CHECKPOINT_NAME).exists()
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_checkpoints_exits_and_resume_is_exact(
    reference, cat_data_dir, tmp_path, sig
):
    out = tmp_path / "run"
    code, stdout, stderr = _train_until(
        ["--data", cat_data_dir, *RUN, "--out", out], network=1, iteration=9, sig=sig
    )
    assert code == 128 + sig, stderr  # 130 for Ctrl-C, 143 for SIGTERM
    assert f"interrupted; resume with: nnscratch train --resume {out}" in stderr
    assert "Traceback" not in stderr
    # only the final checkpoint: no model, no half-written outputs or temporary files
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME]
    ckpt = load_checkpoint(out / CHECKPOINT_NAME)
    assert ckpt.member == 0 and 9 <= ckpt.iteration < ITERATIONS
    assert ckpt.iteration % 4 != 0 or ckpt.progress["offset"] > 0  # an epoch has 4 batches

    done = _nnscratch("train", "--resume", out, "--data", cat_data_dir, "--print-every", "1")
    assert done.returncode == 0, done.stderr
    first = next(line for line in done.stdout.splitlines() if line.startswith("Cost after"))
    assert first.startswith(f"Cost after iteration {ckpt.iteration + 1}:")  # no update redone
    _assert_same_model(reference, out)
    assert not (out / CHECKPOINT_NAME).exists(), "a finished run keeps no checkpoint"
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_curve.png",
        "metrics.json",
        "misclassified.png",
        "model.npz",
    ]


def test_sigkill_then_resume_from_the_last_periodic_checkpoint(reference, cat_data_dir, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = _train_until(
        ["--data", cat_data_dir, *RUN, "--out", out, "--checkpoint-every", "7"],
        network=2,
        iteration=10,
        sig=signal.SIGKILL,
    )
    assert code == -signal.SIGKILL
    ckpt = load_checkpoint(out / CHECKPOINT_NAME)  # whatever was there when it died is whole
    assert ckpt.member == 1 and ckpt.iteration % 7 == 0 and ckpt.iteration >= 7
    assert len(ckpt.histories) == 1 and ckpt.every == 7

    done = _nnscratch("train", "--resume", out, "--data", cat_data_dir)
    assert done.returncode == 0, done.stderr
    _assert_same_model(reference, out)


_SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nnscratch import Network, save
    from nnscratch.persist.checkpoint import Checkpoint, save_checkpoint
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.app.recipe import TrainConfig

    model_path, checkpoint_path = sys.argv[1], sys.argv[2]
    nets = [Network([2000, 400, 1], seed=s) for s in (0, 1)]
    pre = ImagePreprocessor().fit(np.zeros((2, 2000), dtype=np.uint8))
    config = TrainConfig(layers=(400,), ensemble=1)
    checkpoints = [Checkpoint(n, config.to_dict(), pre, "0" * 64) for n in nets]
    save(nets[0], model_path)
    save_checkpoint(checkpoint_path, checkpoints[0])
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        save(nets[i % 2], model_path)
        save_checkpoint(checkpoint_path, checkpoints[i % 2])
    """
)


def test_sigkill_during_saves_never_leaves_a_corrupt_file(tmp_path):
    """A process that does nothing but save two models (and two checkpoints) in turn is killed
    at random moments; what is at each final path is always one of the two, whole."""
    from nnscratch import Network

    expected = [Network([2000, 400, 1], seed=s).parameters for s in (0, 1)]
    model_path, ckpt_path = tmp_path / "model.npz", tmp_path / "checkpoint.npz"
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(model_path), str(ckpt_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        for path, read in ((model_path, lambda p: load(p).network.parameters),
                           (ckpt_path, lambda p: load_checkpoint(p).model.parameters)):  # fmt: skip
            params = read(path)
            assert any(all(np.array_equal(params[k], e[k]) for k in e) for e in expected), (
                f"{path.name} holds neither saved model"
            )
    # a kill between write and rename may leave a temporary file, never a partial target
    leftovers = [
        p.name for p in tmp_path.iterdir() if p.name not in (model_path.name, ckpt_path.name)
    ]
    assert all(name.startswith(".") and name.endswith(".tmp") for name in leftovers)
