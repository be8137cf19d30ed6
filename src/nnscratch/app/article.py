"""The article's two cat-classifier runs, exactly as the article trains them.

"Coding Neural Network: Forward Propagation and Backpropagation" trains the L-layer network
[12288, 5, 5, 1] twice on the cat data, once with tanh and once with ReLU hidden layers:

    X = images.reshape(m, -1) / 255                   # float64, pixels in [0, 1]
    W_l ~ N(0, 1) * 0.01, b_l = 0                      # the article's initialisation
    3,000 iterations of full-batch gradient descent, learning rate 0.03
    sigmoid output, binary cross-entropy
    Z1 = X W1^T + b1 and dW1 = dZ1^T X as written (``fit(..., gram_path=False)``)

``run_article(data, seeds)`` repeats both runs for each seed and returns one ``ArticleRun``
per (activation, seed). The seed draws the initial weights (nothing else is random in
full-batch gradient descent).

Why the accuracies move between seeds, machines and dtypes: at learning rate 0.03 the cost
stops decreasing smoothly after about 1,800 iterations and oscillates, so tiny differences
(the initial weights, the order in which BLAS sums a dot product with 1 or 2 threads, float32
versus float64 rounding) are amplified into different final weights, and with only 50 test
images one image is 0.02 of test accuracy.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from nnscratch.models.network import Network

#: The article's configuration (the hidden activation is the one thing the two runs change).
ARTICLE_HIDDEN = (5, 5)
ARTICLE_ACTIVATIONS = ("tanh", "relu")
ARTICLE_LEARNING_RATE = 0.03
ARTICLE_ITERATIONS = 3000
ARTICLE_INIT = "normal"
ARTICLE_INIT_SCALE = 0.01
ARTICLE_DTYPE = "float64"

#: Why results differ from run to run; printed under the table.
WHY_RESULTS_MOVE = (
    "Why results move: at learning rate 0.03 the cost oscillates after ~1,800 iterations, "
    "so the seed, the number of BLAS threads (the order of the sums) and the dtype "
    "(float32/float64 rounding) each change the final weights; one test image is 0.02."
)


@dataclass(frozen=True)
class ArticleRun:
    """One trained article network and its accuracies (the JSON row of
    ``nnscratch experiments --article --json``)."""

    activation: str
    seed: int
    dtype: str
    layers: list[int]  # the full layer_dims, [12288, 5, 5, 1]
    learning_rate: float
    iterations: int
    init: str
    init_scale: float
    train_accuracy: float
    test_accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


def article_inputs(images) -> np.ndarray:
    """The article's X: images (m, 64, 64, 3) uint8 -> (m, 12288) float64 in [0, 1]."""
    images = np.asarray(images)
    return images.reshape(images.shape[0], -1).astype(ARTICLE_DTYPE) / 255.0


def article_network(activation: str, seed: int, n_x: int = 12288) -> Network:
    """The article's untrained network: [n_x, 5, 5, 1], ``activation`` hidden layers, sigmoid
    output, weights N(0, 1) * 0.01 drawn with ``seed``, float64."""
    return Network(
        [n_x, *ARTICLE_HIDDEN, 1],
        hidden_activation=activation,
        output_activation="sigmoid",
        init=ARTICLE_INIT,
        init_scale=ARTICLE_INIT_SCALE,
        seed=seed,
        dtype=ARTICLE_DTYPE,
    )


def train_article(activation: str, seed: int, data, iterations: int = ARTICLE_ITERATIONS):
    """Train one article network on ``data`` (a ``CatData``: x_train, y_train, x_test,
    y_test); returns (the trained Network, its ArticleRun)."""
    X_train, X_test = article_inputs(data.x_train), article_inputs(data.x_test)
    net = article_network(activation, seed, n_x=X_train.shape[1])
    # the article's products (X W1^T, dZ1^T X), not fit's Gram-matrix rewrite: equal to float
    # rounding only, and this run's chaotic cost turns rounding into other accuracies
    net.fit(
        X_train,
        data.y_train,
        learning_rate=ARTICLE_LEARNING_RATE,
        iterations=iterations,
        gram_path=False,
    )
    run = ArticleRun(
        activation=activation,
        seed=int(seed),
        dtype=ARTICLE_DTYPE,
        layers=list(net.layer_dims),
        learning_rate=ARTICLE_LEARNING_RATE,
        iterations=int(iterations),
        init=ARTICLE_INIT,
        init_scale=ARTICLE_INIT_SCALE,
        train_accuracy=net.accuracy(X_train, data.y_train),
        test_accuracy=net.accuracy(X_test, data.y_test),
    )
    return net, run


def run_article(data, seeds=(0,), *, iterations: int = ARTICLE_ITERATIONS, report=None):
    """Both article runs (tanh, then ReLU) for every seed: a list of ``ArticleRun``.
    ``report(activation, seed)``, when given, is called before each run starts."""
    runs = []
    for activation in ARTICLE_ACTIVATIONS:
        for seed in seeds:
            if report is not None:
                report(activation, seed)
            runs.append(train_article(activation, seed, data, iterations=iterations)[1])
    return runs


def blas_threads() -> str:
    """How many threads the BLAS library uses, e.g. "2 (openblas)"; from threadpoolctl when
    it is installed, else from the environment variables that set it, else "unknown"."""
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(name):
                return f"{os.environ[name]} ({name})"
        return "unknown"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "unknown"
    return ", ".join(f"{p['num_threads']} ({p.get('internal_api', '?')})" for p in pools)


def article_table(runs) -> str:
    """A Markdown table: one row per run, then the mean over the seeds of each activation.

    | activation | seed | train acc | test acc |
    """
    lines = ["| activation | seed | train acc | test acc |", "| --- | --- | --- | --- |"]
    for r in runs:
        lines.append(f"| {r.activation} | {r.seed} | {r.train_accuracy:.2f} | "
                     f"{r.test_accuracy:.2f} |")  # fmt: skip
    for activation in dict.fromkeys(r.activation for r in runs):
        mine = [r for r in runs if r.activation == activation]
        if len(mine) > 1:
            train = np.mean([r.train_accuracy for r in mine])
            test = np.mean([r.test_accuracy for r in mine])
            lines.append(f"| {activation} | mean of {len(mine)} | {train:.2f} | {test:.2f} |")
    return "\n".join(lines)


def describe_setup(runs) -> str:
    """The line under the table: what was run, its dtype and BLAS threads."""
    iterations = runs[0].iterations if runs else ARTICLE_ITERATIONS
    return (
        f"[12288, 5, 5, 1], sigmoid output, normal(0.01) init, gradient descent lr "
        f"{ARTICLE_LEARNING_RATE:g}, {iterations} iterations, pixels / 255; dtype "
        f"{ARTICLE_DTYPE}, BLAS threads {blas_threads()}."
    )
