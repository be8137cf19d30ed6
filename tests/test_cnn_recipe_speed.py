"""What ``nnscratch train --model cnn`` saves time on, without changing what it trains: no
per-epoch training-accuracy pass (``TrainConfig.eval_train``), one BLAS thread
(``TrainConfig.blas_threads``), freed arrays kept by the allocator (``app.allocator``).

Each is checked against the plain run it replaces: the same parameters, bitwise. (Speed itself
is measured by benchmarks, not here.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nnscratch.app.recipe import TrainConfig, train_cats
from nnscratch.app.runs import RunDirectory

#: the recipe's layers and optimisation, made small: 16 x 16 images, 2 epochs of batch 8
TINY = {"epochs": 2, "batch_size": 8}


def _images(m: int = 24, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(m, size, size, 3), dtype=np.uint8)
    return x, (np.arange(m) % 3 == 0).astype(np.int64)


def _assert_same_parameters(a, b) -> None:
    assert set(a.parameters) == set(b.parameters)
    for key, p in a.parameters.items():
        np.testing.assert_array_equal(b.parameters[key], p, err_msg=key)
    for key, p in a.buffers.items():
        np.testing.assert_array_equal(b.buffers[key], p, err_msg=key)


def test_the_cnn_recipe_trains_on_one_thread_without_a_per_epoch_accuracy_pass():
    config = TrainConfig.cnn()
    assert config.eval_train is False and config.blas_threads == 1
    assert config.fit_kwargs()["eval_train"] is False
    # the fully connected recipe keeps fit's own rule and the BLAS's threads
    assert TrainConfig().eval_train is None and TrainConfig().blas_threads is None
    assert "eval_train" not in TrainConfig().fit_kwargs()
    # both are part of the run's recorded config, and a config recorded before them loads
    d = config.to_dict()
    assert d["eval_train"] is False and d["blas_threads"] == 1
    assert TrainConfig(**d) == config
    old = {k: v for k, v in d.items() if k not in ("eval_train", "blas_threads")}
    assert TrainConfig(**old) == config.replace(eval_train=None, blas_threads=None)
    assert TrainConfig(**old).to_dict() == old  # unset, they are not written


@pytest.mark.parametrize(
    ("field", "bad"),
    [("eval_train", 1), ("eval_train", "no"), ("blas_threads", 0), ("blas_threads", 1.5),
     ("blas_threads", True), ("blas_threads", "2")],
)  # fmt: skip
def test_the_new_fields_are_checked(field, bad):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: bad})


def test_without_the_per_epoch_accuracy_the_same_network_is_trained():
    x, y = _images()
    recorded = train_cats(TrainConfig.cnn(eval_train=True, **TINY), x, y)
    skipped = train_cats(TrainConfig.cnn(**TINY), x, y)
    assert len(recorded.histories[0].train_accuracy) == TINY["epochs"]
    assert skipped.histories[0].train_accuracy == []
    _assert_same_parameters(recorded.model, skipped.model)
    assert recorded.histories[0].costs == skipped.histories[0].costs


def test_blas_threads_limits_the_blas_while_training(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from nnscratch.models.conv import ConvNetwork

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]  # fmt: skip

    seen = []
    step = ConvNetwork._cost_and_gradients

    def recording_step(self, *args, **kwargs):
        seen.append(blas_threads())
        return step(self, *args, **kwargs)

    monkeypatch.setattr(ConvNetwork, "_cost_and_gradients", recording_step)
    x, y = _images(m=8)
    train_cats(TrainConfig.cnn(epochs=1, batch_size=4), x, y)
    assert len(seen) == 2 and all(threads and set(threads) == {1} for threads in seen)
    with TrainConfig(blas_threads=2).threads():
        assert all(n <= 2 for n in blas_threads())


def test_a_run_directory_trains_the_cnn_recipe_exactly_like_train_cats(tmp_path):
    x, y = _images()
    config = TrainConfig.cnn(**TINY)
    plain = train_cats(config, x, y)
    run = RunDirectory.create(tmp_path / "run")
    checkpointed = run.train(config, x, y, every=2)
    _assert_same_parameters(plain.model, checkpointed.model)


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keeping_freed_memory_trains_the_same_parameters():
    """In a fresh process: the recipe trained with glibc's default thresholds, then again
    after ``keep_freed_memory``; the parameters must be bitwise the same."""
    script = textwrap.dedent(
        """
        import numpy as np
        from nnscratch.app.allocator import keep_freed_memory
        from nnscratch.app.recipe import TrainConfig, train_cats

        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
        y = (np.arange(24) % 3 == 0).astype(np.int64)
        config = TrainConfig.cnn(epochs=1, batch_size=12)
        before = train_cats(config, x, y).model
        print("set", keep_freed_memory())
        after = train_cats(config, x, y).model
        same = all(np.array_equal(p, after.parameters[k]) for k, p in before.parameters.items())
        print("same", same)
        """
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "OMP_NUM_THREADS": "1", "PATH": ""},
        timeout=120,
        check=True,
    ).stdout.split()
    assert out[out.index("same") + 1] == "True"
    assert out[out.index("set") + 1] == str(_glibc())


def test_select_cnn_names_the_candidate_that_is_the_recipe(monkeypatch):
    """benchmarks/select_cnn.py's RECIPE (marked in its report) is CAT_RECIPE."""
    from nnscratch.models.conv import CAT_RECIPE

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import select_cnn

    candidate = select_cnn.recipe_of(select_cnn.RECIPE)
    assert candidate["architecture"] == CAT_RECIPE["architecture"]
    assert candidate.get("network", {}) == CAT_RECIPE.get("network", {})
    assert candidate.get("ensemble", 1) == CAT_RECIPE.get("ensemble", 1)
    assert candidate["fit"] == CAT_RECIPE["fit"]


def test_the_recipes_for_any_data_skip_the_per_epoch_accuracy_pass_and_train_the_same():
    """``recipes_any`` (image folders, tables) reads no per-epoch training accuracy, so fit
    does not compute it; what is trained is the same, bitwise."""
    from nnscratch.app.recipes_any import AnyConfig, build_model

    for model in ("mlp", "cnn"):
        assert AnyConfig.for_model(model).fit_kwargs((16, 16, 3))["eval_train"] is False
    config = AnyConfig.for_model("cnn").replace(epochs=2, batch_size=8)
    x, y = _images()
    X = x.astype(np.float32) / 255
    nets, histories = [], []
    for eval_train in (False, True):
        net = build_model(config, X[0].size, 1, "sigmoid", (16, 16, 3))
        kwargs = {**config.fit_kwargs((16, 16, 3)), "eval_train": eval_train}
        histories.append(net.fit(X.reshape(len(X), -1), y, **kwargs))
        nets.append(net)
    assert histories[0].train_accuracy == [] and len(histories[1].train_accuracy) == 2
    _assert_same_parameters(nets[0], nets[1])
