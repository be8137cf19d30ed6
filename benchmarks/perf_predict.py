"""Goal 4: predict and evaluate grow linearly with the number of samples, in bounded memory.

The 50 test images are repeated 1x, 10x and 100x (50, 500, 5,000 samples of 12,288 float32
features: 2.5, 25, 246 MB). For each size:

- time of ``net.predict(X)`` and of ``net.accuracy(X, y)`` (evaluate), medians of
  interleaved repetitions, with PyTorch's ``model(X)`` under ``no_grad`` beside them;
- the peak of memory allocated during ``predict`` beyond the input, from ``tracemalloc``
  (NumPy reports its buffers to it): it must stay far below the input size, because
  ``predict`` works through large inputs a batch at a time.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
from perf_common import interleaved, median_ms

from nnscratch import Network
from nnscratch.models.network import PREDICT_BATCH_SIZE

LAYER_DIMS = [12288, 20, 7, 5, 1]


def _timer(fn):
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def peak_extra_mb(fn) -> float:
    """Peak memory allocated while ``fn()`` runs, in MB (what was allocated before excluded)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / 1e6


def torch_model(net: Network):
    import torch

    layers: list = []
    params = net.parameters
    for l in range(1, len(LAYER_DIMS)):  # noqa: E741 (the article's l)
        linear = torch.nn.Linear(LAYER_DIMS[l - 1], LAYER_DIMS[l])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            linear.bias.copy_(torch.from_numpy(params[f"b{l}"]))
        layers += [linear, torch.nn.ReLU()] if l < len(LAYER_DIMS) - 1 else [linear]
    return torch.nn.Sequential(*layers)


def run(X_test, y_test, *, repeats: int, factors=(1, 10, 100), with_torch: bool = True) -> list:
    net = Network(LAYER_DIMS, seed=1)
    model = None
    if with_torch:
        try:
            import torch
        except ImportError:
            torch = None
        else:
            model = torch_model(net)
    series = []
    for factor in factors:
        X = np.ascontiguousarray(np.tile(X_test, (factor, 1)))
        y = np.tile(y_test, factor)
        sides = {
            "predict": _timer(lambda X=X: net.predict(X)),
            "evaluate": _timer(lambda X=X, y=y: net.accuracy(X, y)),
        }
        if model is not None:
            Xt = torch.from_numpy(X)

            def torch_predict(Xt=Xt):
                with torch.no_grad():
                    (torch.sigmoid(model(Xt)) >= 0.5).numpy()

            sides["torch"] = _timer(torch_predict)
        for side in sides.values():
            side()
        ms = {k: median_ms(v) for k, v in interleaved(sides, repeats, budget_s=20).items()}
        series.append(
            {
                "factor": factor,
                "m": X.shape[0],
                "input_mb": X.nbytes / 1e6,
                "predict_ms": ms["predict"],
                "evaluate_ms": ms["evaluate"],
                "torch_ms": ms.get("torch"),
                "peak_mb": peak_extra_mb(lambda X=X: net.predict(X)),
                "batch_size": PREDICT_BATCH_SIZE,
            }
        )
    return series
