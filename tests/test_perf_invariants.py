"""Invariants that keep nnscratch fast and lean (issue 6), checked without timing anything.

- One dtype end to end: a float32 training step creates no float64 array, and fit makes no
  full-size copy of X (a float64 copy would be twice X's size).
- No unused gradients: the input layer's dA is never computed.
- Inference works through large inputs a batch at a time, converting and checking one batch
  at a time, so its extra memory stays at one batch whatever X's size and dtype; a model
  file's preprocessor, too, transforms raw images a batch at a time. The finiteness check
  needs no full-size mask.

The timings themselves are in ``benchmarks/`` (``python benchmarks/bench.py``).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from nnscratch import Network
from nnscratch.base.batching import RAW_BATCH_SIZE
from nnscratch.base.validation import all_finite
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.network import PREDICT_BATCH_SIZE
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS
from nnscratch.nn.initializers import get_initializer
from nnscratch.nn.layers import Dense
from nnscratch.persist.modelfile import load, save

OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}


def _problem(output: str, m: int = 32, n_x: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x)).astype(np.float32)
    n_out = OUTPUTS[output]
    if output == "sigmoid":
        y = rng.integers(0, 2, m)
    elif output == "softmax":
        y = rng.integers(0, n_out, m)
    else:
        y = rng.standard_normal((m, n_out))
    return X, y, n_out


def _float64_arrays(obj, path="") -> list[str]:
    """Paths of float64 arrays inside nested tuples/lists/dicts (caches, grads)."""
    if isinstance(obj, np.ndarray):
        return [path or "array"] if obj.dtype == np.float64 else []
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _float64_arrays(v, f"{path}[{k!r}]")]
    if isinstance(obj, (tuple, list)):
        return [p for i, v in enumerate(obj) for p in _float64_arrays(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_float32_step_creates_no_float64_array(hidden, output):
    X, y, n_out = _problem(output)
    net = Network([12, 8, 5, n_out], hidden_activation=hidden, output_activation=output)
    Y = net.loss.encode_targets(y, n_out, net.dtype)
    assert Y.dtype == np.float32
    Z_L, caches = net.forward(X, training=True)
    assert Z_L.dtype == np.float32
    assert _float64_arrays(caches) == []
    dZ_L = net.loss.output_gradient(net.loss.activation.forward(Z_L), Y)
    assert dZ_L.dtype == np.float32
    grads = net.backward(dZ_L, caches)
    assert _float64_arrays(grads) == []
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_training_keeps_parameters_and_optimizer_state_float32(optimizer):
    X, y, n_out = _problem("softmax", m=40)
    net = Network([12, 8, n_out], output_activation="softmax")
    net.fit(X, y, optimizer=optimizer, learning_rate=0.01, batch_size=16, epochs=2, seed=0)
    assert all(p.dtype == np.float32 for p in net.parameters.values())
    assert net.predict_proba(X).dtype == np.float32


def _peak_bytes(fn) -> int:
    """Peak bytes allocated while fn() runs, beyond what was allocated before (NumPy reports
    its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_fit_makes_no_copy_of_float32_inputs():
    # X is 4 MB; the weights 128 kB. A float32 copy of X would be 4 MB, a float64 one 8 MB;
    # what fit may allocate is of the size of the parameters plus the (bool) finiteness check.
    rng = np.random.default_rng(0)
    X = rng.random((256, 4096), dtype=np.float32)
    y = rng.integers(0, 2, 256)
    net = Network([4096, 8, 1], seed=0)
    net.fit(X, y, iterations=1)  # warm-up: first-call allocations of NumPy itself
    peak = _peak_bytes(lambda: net.fit(X, y, iterations=3))
    assert peak < X.nbytes / 2, f"fit allocated {peak / 1e6:.1f} MB for a {X.nbytes / 1e6} MB X"


def test_input_layer_dA_is_not_computed(monkeypatch):
    net = Network([6, 5, 4, 1], seed=0)
    X, y = np.ones((7, 6), dtype=np.float32), np.array([0, 1, 0, 1, 1, 0, 1])
    calls: list[tuple[int, bool, bool]] = []
    original = Dense.backward

    def spy(self, dZ, cache, need_input_grad=True):
        dA_prev, grads = original(self, dZ, cache, need_input_grad)
        calls.append((self.index, need_input_grad, dA_prev is None))
        return dA_prev, grads

    monkeypatch.setattr(Dense, "backward", spy)
    net.cost_and_gradients(X, y)
    assert calls == [(3, True, False), (2, True, False), (1, False, True)]


def test_dense_backward_without_input_grad_never_touches_W():
    # dA_prev = dZ . W is the only use of W in backward: with need_input_grad=False a layer
    # must not read it (poisoning W would show up as NaN in the gradients).
    rng = np.random.default_rng(0)
    layer = Dense(5, 3, init=get_initializer("he"), rng=rng, dtype=np.dtype(np.float32), index=1)
    A_prev = rng.standard_normal((4, 5)).astype(np.float32)
    _, cache = layer.forward(A_prev)
    layer.params["W"][...] = np.nan
    dA_prev, grads = layer.backward(np.ones((4, 3), np.float32), cache, need_input_grad=False)
    assert dA_prev is None
    assert np.isfinite(grads["W"]).all() and np.isfinite(grads["b"]).all()


def test_predict_runs_large_inputs_in_batches(monkeypatch):
    net = Network([3, 4, 1], seed=0)
    m = 2 * PREDICT_BATCH_SIZE + 17
    X = np.random.default_rng(0).standard_normal((m, 3)).astype(np.float32)
    expected = net.forward(X)[0][:, 0]  # one unbatched pass, as reference
    sizes: list[int] = []
    original = Network.forward

    def spy(self, X, training=False):
        sizes.append(X.shape[0])
        return original(self, X, training)

    monkeypatch.setattr(Network, "forward", spy)
    proba = net.predict_proba(X)
    assert sizes == [PREDICT_BATCH_SIZE, PREDICT_BATCH_SIZE, 17]
    np.testing.assert_allclose(proba, net.loss.activation.forward(expected), rtol=1e-6)
    sizes.clear()
    net.predict(X, batch_size=1000)
    assert sizes == [1000, 1000, m - 2000]


def test_predict_memory_stays_at_one_batch_for_large_float64_inputs():
    # 8 MB of float64 input: converting it whole would allocate a 4 MB float32 copy plus a
    # 1 MB finiteness mask; batch by batch it is ~10x less.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16 * 256, 256))  # float64
    net = Network([256, 16, 1], seed=0)
    net.predict(X[:10], batch_size=256)  # warm-up
    peak = _peak_bytes(lambda: net.predict(X, batch_size=256))
    assert peak < X.nbytes / 8, f"predict allocated {peak / 1e6:.2f} MB for {X.nbytes / 1e6} MB"
    np.testing.assert_array_equal(
        net.predict(X, batch_size=256), net.predict(X.astype(np.float32), batch_size=len(X))
    )


def test_batched_predict_reports_bad_input_for_the_whole_array():
    net = Network([3, 2, 1], seed=0)
    X = np.ones((2 * PREDICT_BATCH_SIZE, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=rf"got shape \({2 * PREDICT_BATCH_SIZE}, 4\)"):
        net.predict(X)
    X = np.ones((3 * 10, 3), dtype=np.float32)
    X[25, 1] = np.nan  # in the third batch of 10
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.predict(X, batch_size=10)
    with pytest.raises(ValueError, match="batch_size"):
        net.predict(X[:5], batch_size=0)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a benchmark process, given 600 s
def test_benchmark_runs_and_prints_one_markdown_table():
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    cmd = [sys.executable, str(bench), "--quick", "--threads", "1", "--only", "cat,predict"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    assert "| workload | threads | nnscratch ms | PyTorch ms |" in out
    assert "1. cat [12288, 20, 7, 5, 1]" in out
    assert out.count("6. predict + evaluate") == 3


def test_all_finite_finds_nan_and_inf_without_a_full_size_mask():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 1024)).astype(np.float32)  # 2 MB
    assert all_finite(X)
    peak = _peak_bytes(lambda: all_finite(X))
    assert peak < X.size / 4, f"all_finite allocated {peak / 1e6:.2f} MB for {X.nbytes / 1e6} MB"
    for bad in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[400, 7] = bad  # beyond the first block of rows
        assert not all_finite(Y)
    huge = np.full((4, 3), np.finfo(np.float32).max, dtype=np.float32)
    assert all_finite(huge)  # the sum overflows; every entry is finite all the same
    assert all_finite(np.arange(6).reshape(2, 3))  # integers are always finite


def test_loaded_model_transforms_and_predicts_raw_images_a_batch_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3 * RAW_BATCH_SIZE + 5, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, len(images))
    pre = ImagePreprocessor(dtype="float32").fit(images)
    net = Network([192, 4, 1], seed=0)
    save(net, tmp_path / "m.npz", preprocessor=pre)
    model = load(tmp_path / "m.npz")
    X = pre.transform(images)  # (m, 192) float32: 4x the bytes of the images
    np.testing.assert_array_equal(model.predict(images), net.predict(X))
    np.testing.assert_allclose(model.predict_proba(images), net.predict_proba(X), rtol=1e-6)
    assert model.accuracy(images, labels) == net.accuracy(X, labels)
    model.predict(images[:3])  # warm-up
    peak = _peak_bytes(lambda: model.predict_proba(images))
    assert peak < X.nbytes / 2, f"predict_proba allocated {peak / 1e6:.2f} MB; X is {X.nbytes}"
    with pytest.raises(ValueError, match=r"X.shape=\(773, 8, 8, 2\)"):
        model.predict(images[..., :2])  # the whole array's shape is reported, not a batch's


@pytest.mark.slow  # a few seconds of CPU: the slow tier (CI runs it)
@pytest.mark.timeout(600)  # a benchmark process, given 300 s
def test_sklearn_benchmark_runs_and_prints_its_table():
    """benchmarks/bench_sklearn.py on the two smallest data sets, one seed: a smoke test."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("sklearn")
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sklearn.py"
    cmd = [sys.executable, str(bench), "--only", "iris,wine", "--seeds", "1", "--threads", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    header = [line for line in out.splitlines() if line.startswith("| data set |")]
    assert len(header) == 1 and "accuracy nn - sk" in header[0]
    rows = [line for line in out.splitlines() if line.startswith(("| iris |", "| wine |"))]
    assert len(rows) == 2
    for row in rows:
        accuracy = row.split("|")[4]  # "sklearn +- sd / nnscratch +- sd"
        sk, nn = (float(part.split("+-")[0]) for part in accuracy.split("/"))
        assert 0.8 <= sk <= 1 and 0.8 <= nn <= 1
    bad = subprocess.run([*cmd[:2], "--only", "mnist"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown data sets ['mnist']" in bad.stderr
    bad = subprocess.run([*cmd[:2], "--sklearn-batch-size", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--sklearn-batch-size must be at least 1, got 0" in bad.stderr
