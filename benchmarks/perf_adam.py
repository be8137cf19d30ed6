"""Goal 2: a wide mini-batch workload, one epoch of Adam.

Synthetic inputs X (60,000, 784) float32 with 10 classes, the network [784, 256, 128, 10]
(ReLU, softmax output), batches of 128 (469 of them, the last one 96 samples), Adam with
learning rate 0.001, shuffled once per epoch.

- nnscratch: ``Network.fit(optimizer="adam", batch_size=128, epochs=1, eval_train=False)``
  (no accuracy pass over the training data after the epoch, which the PyTorch loop lacks
  too); the epoch is timed
  from the callback's ``on_train_begin`` to ``on_train_end`` (the argument checks before it
  are reported apart: they read the whole data set once).
- PyTorch: the plain loop over the same number and size of shuffled batches: gather the batch,
  zero_grad, forward, CrossEntropyLoss, backward, Adam step, read the cost.

Per-batch overhead (Python, argument handling, small-array calls) is what decides this
workload: it is measured apart with a tiny network [784, 2, 10] whose arithmetic is
negligible, so that its epoch time divided by the batch count is the per-batch overhead.
"""

from __future__ import annotations

import time

import numpy as np
from perf_common import Stopwatch, interleaved, median_ms

from nnscratch import Network
from nnscratch.train.callbacks import Callback

LAYER_DIMS = [784, 256, 128, 10]
TINY_DIMS = [784, 2, 10]
BATCH_SIZE = 128
LEARNING_RATE = 0.001


def synthetic_data(n_samples: int, seed: int = 0):
    """X (n, 784) float32 standard normal; y (n,) labels of a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 784), dtype=np.float32)
    teacher = rng.standard_normal((784, 10), dtype=np.float32)
    y = (X @ teacher).argmax(axis=1)
    return X, y


class _TrainClock(Callback):
    def __init__(self, watch: Stopwatch):
        self.watch = watch

    def on_train_begin(self, net, history):
        self.watch.stamp()

    def on_train_end(self, net, history):
        self.watch.stamp()


def fit_supports_minibatch_adam() -> str | None:
    """None when ``fit(optimizer="adam", batch_size=..., epochs=...)`` works, else why not."""
    X, y = synthetic_data(64)
    try:
        Network([784, 2, 10], output_activation="softmax").fit(
            X, y, optimizer="adam", batch_size=32, epochs=1, learning_rate=LEARNING_RATE
        )
    except (TypeError, ValueError) as err:
        return f"fit(optimizer='adam', batch_size, epochs) not available yet: {err}"
    return None


def nnscratch_side(X, y, dims, seed=0):
    def run() -> float:
        net = Network(dims, hidden_activation="relu", output_activation="softmax", seed=seed)
        watch = Stopwatch()
        net.fit(
            X,
            y,
            optimizer="adam",
            learning_rate=LEARNING_RATE,
            batch_size=BATCH_SIZE,
            epochs=1,
            seed=seed,
            eval_train=False,  # no extra accuracy pass per epoch: the PyTorch loop has none
            callbacks=[_TrainClock(watch)],
        )
        return watch.per_iteration()  # two stamps: the whole epoch

    return run


def nnscratch_checks(X, y):
    """Time of the argument checks fit runs before its first batch (one pass over X)."""
    from nnscratch.base.validation import check_X

    def run() -> float:
        start = time.perf_counter()
        check_X(X, (X.shape[1],), np.dtype(np.float32))
        Network(TINY_DIMS, output_activation="softmax").loss.encode_targets(
            y, 10, np.dtype(np.float32)
        )
        return time.perf_counter() - start

    return run


def torch_side(X, y, dims, seed=0):
    import torch

    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.int64))

    def run() -> float:
        torch.manual_seed(seed)
        layers: list = []
        for l in range(1, len(dims)):  # noqa: E741 (the article's l)
            layers.append(torch.nn.Linear(dims[l - 1], dims[l]))
            if l < len(dims) - 1:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        loss_fn = torch.nn.CrossEntropyLoss()
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(X.shape[0]))
        for first in range(0, X.shape[0], BATCH_SIZE):
            batch = order[first : first + BATCH_SIZE]
            xb, yb = Xt[batch], yt[batch]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
        return time.perf_counter() - start

    return run


def products_side(X, dims, seed=0):
    """The floor: one epoch of only the matrix products a batch needs (forward A W^T for each
    layer, backward dZ^T A for each layer and dZ W for all but the first), on the same
    shapes and BLAS, into reused arrays: no gather, activation, loss or update."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((dims[i], dims[i - 1]), dtype=np.float32) for i in range(1, len(dims))]
    A = [X[:BATCH_SIZE]] + [
        rng.standard_normal((BATCH_SIZE, n), dtype=np.float32) for n in dims[1:-1]
    ]
    dZ = [rng.standard_normal((BATCH_SIZE, n), dtype=np.float32) for n in dims[1:]]
    Z = [np.empty((BATCH_SIZE, n), dtype=np.float32) for n in dims[1:]]
    dW = [np.empty_like(w) for w in W]
    dA = [np.empty_like(a) for a in A]
    n_batches = -(-X.shape[0] // BATCH_SIZE)

    def run() -> float:
        start = time.perf_counter()
        for _ in range(n_batches):
            for i, w in enumerate(W):
                np.matmul(A[i], w.T, out=Z[i])
            for i in range(len(W) - 1, -1, -1):
                np.matmul(dZ[i].T, A[i], out=dW[i])
                if i > 0:
                    np.matmul(dZ[i], W[i], out=dA[i])
        return time.perf_counter() - start

    return run


def run(*, repeats: int, n_samples: int, with_torch: bool) -> dict:
    """Median ms per epoch of each side, plus the per-batch overhead (tiny network)."""
    result: dict = {"n_samples": f"{n_samples:,}"}
    why_not = fit_supports_minibatch_adam()
    if why_not is not None:
        result["note"] = why_not
        return result
    X, y = synthetic_data(n_samples)
    n_batches = -(-n_samples // BATCH_SIZE)
    sides = {"nnscratch": nnscratch_side(X, y, LAYER_DIMS)}
    if with_torch:
        sides["torch"] = torch_side(X, y, LAYER_DIMS)
    tiny = {"nnscratch": nnscratch_side(X, y, TINY_DIMS)}
    if with_torch:
        tiny["torch"] = torch_side(X, y, TINY_DIMS)
    for side in tiny.values():  # warm-up of both code paths (an epoch is long enough)
        side()
    sides["products"] = products_side(X, LAYER_DIMS)
    epoch = {k: median_ms(v) for k, v in interleaved(sides, repeats, 60, 1).items()}
    floor = epoch.pop("products")
    overhead = {k: median_ms(v) for k, v in interleaved(tiny, repeats, 20, 1).items()}
    checks = median_ms(interleaved({"checks": nnscratch_checks(X, y)}, 3)["checks"])
    result.update(epoch)
    per_batch = ", ".join(f"{name} {1e3 * ms / n_batches:.0f} us" for name, ms in overhead.items())
    vs_torch = f" = {floor / epoch['torch']:.2f}x PyTorch's epoch" if "torch" in epoch else ""
    result["note"] = (
        f"{n_batches} batches; the epoch's matrix products alone (the floor of any NumPy "
        f"implementation on this BLAS): {floor:.0f} ms{vs_torch}; per-batch overhead "
        f"({TINY_DIMS} net): {per_batch}; fit's one-off input checks {checks:.0f} ms, not in "
        "the epoch time"
    )
    return result
