"""Goal 1: the article's cat network [12288, 20, 7, 5, 1], full-batch gradient descent, float32.

Each side trains on the same 209 flattened images from the same initial weights:

- nnscratch: ``Network.fit`` with a callback that stamps the end of every iteration; it takes
  the Gram-matrix path (``nnscratch.train.gram``, the exact rewrite ``fit`` chooses here);
- nnscratch, article's path: the same with ``gram_path=False`` (both products every step);
- PyTorch: the plain loop zero_grad -> forward -> BCEWithLogitsLoss -> backward -> SGD step,
  reading the cost each iteration as ``fit`` does;
- scikit-learn: ``MLPClassifier(solver="sgd", batch_size=m, momentum=0)`` for ``max_iter``
  iterations (no per-iteration hook, so its time includes its set-up, divided by the count).

Time per iteration is steady state: from the end of the first iteration to the end of the
last, so one-off checks and allocations before the first iteration are left out.
"""

from __future__ import annotations

import warnings

import numpy as np
from perf_common import Stopwatch, interleaved, median_ms

from nnscratch import Network
from nnscratch.train.callbacks import Callback

LAYER_DIMS = [12288, 20, 7, 5, 1]
LEARNING_RATE = 0.0075


class _Stamp(Callback):
    def __init__(self, watch: Stopwatch):
        self.watch = watch

    def on_iteration_end(self, net, iteration, cost, history):
        self.watch.stamp()


def nnscratch_side(X, y, iterations: int, cpu: list, gram_path: bool = True):
    net = Network(LAYER_DIMS, hidden_activation="relu", output_activation="sigmoid", seed=1)

    def run() -> float:
        watch = Stopwatch()
        net.fit(
            X,
            y,
            learning_rate=LEARNING_RATE,
            iterations=iterations,
            callbacks=[_Stamp(watch)],
            gram_path=gram_path,
        )
        cpu.append(watch.cpu_per_iteration())
        return watch.per_iteration()

    return net, run


def torch_side(X, y, iterations: int, init: dict[str, np.ndarray], cpu: list):
    import torch

    dims = LAYER_DIMS
    layers: list = []
    for l in range(1, len(dims)):  # noqa: E741 (the article's l)
        linear = torch.nn.Linear(dims[l - 1], dims[l])
        with torch.no_grad():  # the same initial weights as nnscratch
            linear.weight.copy_(torch.from_numpy(init[f"W{l}"]))
            linear.bias.copy_(torch.from_numpy(init[f"b{l}"]))
        layers += [linear, torch.nn.ReLU()] if l < len(dims) - 1 else [linear]
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))

    def run() -> float:
        watch = Stopwatch()
        for _ in range(iterations):
            opt.zero_grad()
            loss = loss_fn(model(Xt), Yt)
            loss.backward()
            opt.step()
            loss.item()  # the cost of each iteration, as fit records it
            watch.stamp()
        cpu.append(watch.cpu_per_iteration())
        return watch.per_iteration()

    return run


def sklearn_side(X, y, iterations: int):
    import time

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def run() -> float:
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(LAYER_DIMS[1:-1]),
            activation="relu",
            solver="sgd",
            learning_rate_init=LEARNING_RATE,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=X.shape[0],  # full batch
            max_iter=iterations,
            shuffle=False,
            tol=0.0,
            n_iter_no_change=iterations + 1,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(X, y)
            return (time.perf_counter() - start) / iterations

    return run


def floor_side(X, iterations: int, W1: np.ndarray, cpu: list):
    """The two large products of an iteration alone, forward X W1^T and backward dZ1^T X
    ((209 x 12288) by (12288 x 20), 0.1 GFLOP each): what no implementation avoids."""
    dZ1 = np.ones((X.shape[0], W1.shape[0]), dtype=X.dtype)

    def run() -> float:
        watch = Stopwatch()
        for _ in range(iterations):
            X @ W1.T
            dZ1.T @ X
            watch.stamp()
        cpu.append(watch.cpu_per_iteration())
        return watch.per_iteration()

    return run


def run(
    X, y, *, repeats: int, iterations: int, with_torch: bool, with_sklearn: bool, threads: int
) -> dict:
    """Median ms per iteration of each side, measured interleaved; "note" says how far
    nnscratch is from the time of its two large products alone."""
    cpu: dict[str, list[float]] = {"nnscratch": [], "article": [], "floor": [], "torch": []}
    net, nn_run = nnscratch_side(X, y, iterations, cpu["nnscratch"])
    init = {k: p.copy() for k, p in net.parameters.items()}
    _, article_run = nnscratch_side(X, y, iterations, cpu["article"], gram_path=False)
    sides = {
        "nnscratch": nn_run,
        "article": article_run,
        "floor": floor_side(X, iterations, init["W1"], cpu["floor"]),
    }
    if with_torch:
        sides["torch"] = torch_side(X, y, iterations, init, cpu["torch"])
    if with_sklearn:
        sides["sklearn"] = sklearn_side(X, y, iterations)
    for side in sides.values():  # warm-up: first-call costs (lazy imports, allocator)
        side()
    results = interleaved(sides, repeats, budget_s=60)
    ms = {name: median_ms(values) for name, values in results.items()}
    floor = ms.pop("floor")
    ms["note"] = (
        f"the Gram path {ms['nnscratch']:.2f} ms per iteration, the article's path "
        f"{ms['article']:.2f} ms, of which its two large products alone (forward X W1^T, "
        f"backward dZ1^T X) take {floor:.2f} ms with NumPy's BLAS"
    )
    if threads == 1:  # CPU time is comparable on one thread only
        c = {k: median_ms(v[1:]) for k, v in cpu.items() if len(v) > 1}  # [0]: warm-up
        ms["note"] += (
            f". CPU time per iteration (not counting waits for a core): nnscratch "
            f"{c['nnscratch']:.2f} ms, article's path {c['article']:.2f} ms, its two large "
            f"products {c['floor']:.2f} ms"
            + (
                f", PyTorch {c['torch']:.2f} ms ({c['nnscratch'] / c['torch']:.2f}x)"
                if "torch" in c
                else ""
            )
        )
    return ms
