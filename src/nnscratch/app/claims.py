"""The article's claims, measured: ``nnscratch experiments --claims [--out DIR]``.

The article (and the course it follows) makes seven claims about training deep networks.
Each function here tests one on the cat data with the library's own networks and training
loop (callbacks record what it needs), and returns a ``ClaimResult``: a figure titled with
what it shows and what the article claimed, the numbers it measured, and a one-line verdict
worked out from those numbers (never written in advance):

    saturation      sigmoid and tanh saturate: per-layer gradient norms over training
    dead_relu       ReLU units die for z <= 0, leaky ReLU keeps them alive
    init_scale      the x0.01 initialisation starves deep layers (activation histograms)
    standardize     standardising the pixels beats dividing them by 255
    plateau         the cost sits at the constant predictor's 0.644, then escapes
    overfitting     train and test curves part
    depth_width     a deeper network beats a shallow one of as many parameters

Arrays are samples-first: X (m, n_x) in pixel units (0 to 255), y (m,) in {0, 1}. The sizes
(iterations, widths) are the functions' arguments: the defaults run all seven in about two
minutes on one core; the tests pass tiny synthetic data.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.atomic import atomic_write
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.network import Network
from nnscratch.nn.layers import ActivationLayer
from nnscratch.train.callbacks import Callback

__all__ = ["CLAIMS", "ClaimData", "ClaimResult", "run", "run_claims"]

#: The reference 4-layer network of the article series (layers_dims) and its training.
REFERENCE_HIDDEN = (20, 7, 5)
REFERENCE_LR = 0.0075
#: The article's own network and training: [n_x, 5, 5, 1], N(0, 1) x 0.01, lr 0.03.
ARTICLE_HIDDEN = (5, 5)
ARTICLE_LR = 0.03


@dataclass(frozen=True)
class ClaimData:
    """Flattened images in pixel units and their labels.

    Attributes:
        X_train: (m, n_x) float32, values 0 to 255.
        y_train: (m,) int, 1 for cat.
        X_test, y_test: the same for the test images.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_cats(cls, data) -> ClaimData:
        """From ``nnscratch.data.cats.load_cats()``'s images (m, 64, 64, 3) uint8."""

        def flat(x: np.ndarray) -> np.ndarray:
            return np.asarray(x).reshape(len(x), -1).astype(np.float32)

        return cls(flat(data.x_train), data.y_train, flat(data.x_test), data.y_test)

    @property
    def n_x(self) -> int:
        return int(self.X_train.shape[1])

    def inputs(self, standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(X_train, X_test) divided by 255, or standardised per pixel with the training
        images' mean and standard deviation."""
        pre = ImagePreprocessor(standardize=standardize).fit(self.X_train)
        return pre.transform(self.X_train), pre.transform(self.X_test)


@dataclass
class ClaimResult:
    """One claim, measured.

    Attributes:
        name: the key in ``CLAIMS``.
        shows: what the figure shows.
        claimed: what the article claimed.
        verdict: what the run measured, one sentence built from ``numbers``.
        holds: whether the measurement agrees with the claim.
        numbers: the measured figures the verdict quotes.
        figure: the matplotlib Figure (titled with ``shows``, ``claimed`` and ``verdict``).
    """

    name: str
    shows: str
    claimed: str
    verdict: str
    holds: bool
    numbers: dict[str, Any] = field(default_factory=dict)
    figure: Any = None

    def summary(self) -> dict:
        """JSON-able: everything but the figure."""
        return {
            "name": self.name,
            "shows": self.shows,
            "claimed": self.claimed,
            "verdict": self.verdict,
            "holds": self.holds,
            "numbers": self.numbers,
        }


# ---- helpers ---------------------------------------------------------------------------


class _Every(Callback):
    """Calls ``record(net, iteration)`` after iteration 1 and every ``every`` iterations."""

    def __init__(self, every: int, record: Callable[[Any, int], None]):
        self.every, self.record = every, record

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration == 1 or iteration % self.every == 0:
            self.record(net, iteration)


def _hidden(net, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(Z, A) of every hidden layer's activation, inference mode: each (m, n_l)."""
    _, caches = net.forward(X.astype(net.dtype, copy=False), training=False)
    return [
        cache
        for layer, cache in zip(net.layers, caches, strict=True)
        if isinstance(layer, ActivationLayer)
    ]


def _weight_grad_norms(net, X: np.ndarray, y: np.ndarray) -> list[float]:
    """||dW_l||_F for l = 1 ... L on (X, y)."""
    _, grads = net.cost_and_gradients(X, y)
    L = len(net.layer_dims) - 1
    return [float(np.linalg.norm(grads[f"W{l}"])) for l in range(1, L + 1)]  # noqa: E741


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", dpi=80)


def _title(fig, shows: str, claimed: str, verdict: str) -> None:
    chars = int(fig.get_figwidth() * 13)  # about what a line of 9-point text holds

    def wrap(text: str) -> str:
        return "\n".join(textwrap.wrap(text, chars))

    fig.suptitle(
        f"{wrap(shows)}\nArticle: {wrap(claimed)}\nMeasured: {wrap(verdict)}",
        fontsize=9,
        ha="left",
        x=0.01,
    )


def _binary_entropy(p: float) -> float:
    """The cross-entropy of always predicting the base rate p: the constant predictor."""
    if p <= 0 or p >= 1:
        return 0.0
    return float(-(p * math.log(p) + (1 - p) * math.log(1 - p)))


def _result(name, shows, claimed, verdict, holds, numbers, fig) -> ClaimResult:
    _title(fig, shows, claimed, verdict)
    return ClaimResult(name, shows, claimed, verdict, bool(holds), numbers, fig)


# ---- the claims ------------------------------------------------------------------------


def saturation(
    data: ClaimData, *, iterations: int = 400, every: int = 20, seed: int = 0
) -> ClaimResult:
    """Per-layer gradient norms ||dW_l|| over training of the reference network with sigmoid,
    tanh and ReLU hidden layers (pixels / 255, N(0, 1/n_prev) init, gd lr 0.0075). Measures
    the ratio of the first layer's gradient norm to the last layer's (mean over the records)
    and the fraction of hidden units in their flat region (g'(z) < 0.1 of its maximum)."""
    X, _ = data.inputs()
    y = data.y_train
    names = ("sigmoid", "tanh", "relu")
    fig = _figure(12, 4.2)
    axes = fig.subplots(1, len(names), sharey=True)
    numbers: dict[str, Any] = {}
    for ax, act in zip(axes, names, strict=True):
        net = Network(
            [data.n_x, *REFERENCE_HIDDEN, 1], hidden_activation=act, init="sqrt_n_prev", seed=seed
        )
        steps: list[int] = []
        norms: list[list[float]] = []

        def record(net, iteration, steps=steps, norms=norms):
            steps.append(iteration)
            norms.append(_weight_grad_norms(net, X, y))

        net.fit(
            X,
            y,
            learning_rate=REFERENCE_LR,
            iterations=iterations,
            callbacks=[_Every(every, record)],
        )
        table = np.array(norms)  # (records, L)
        for l in range(table.shape[1]):  # noqa: E741
            ax.plot(steps, table[:, l], label=f"||dW{l + 1}||")
        ax.set_yscale("log")
        ax.set_title(act)
        ax.set_xlabel("iteration")
        ratio = float(np.mean(table[:, 0] / np.maximum(table[:, -1], 1e-30)))
        g = net.hidden_activation
        peak = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0}[act]
        flat = np.mean(
            [float(np.mean(g.derivative_from(Z, A) < 0.1 * peak)) for Z, A in _hidden(net, X)]
        )
        numbers[f"{act}_first_to_last_gradient"] = ratio
        numbers[f"{act}_flat_fraction"] = float(flat)
    axes[0].set_ylabel("gradient norm (log)")
    axes[0].legend(fontsize=8)
    s, t, r = (numbers[f"{a}_first_to_last_gradient"] for a in names)
    holds = s < r and t < r
    vanish = [a for a, v in (("sigmoid", s), ("tanh", t)) if v < r]
    keep = [a for a in ("sigmoid", "tanh") if a not in vanish]
    said = (f"smaller than ReLU's for {' and '.join(vanish)}" if vanish else "") + (
        f"{'; ' if vanish else ''}not smaller for {' and '.join(keep)}" if keep else ""
    )
    verdict = (
        f"||dW1|| / ||dW4|| averages {s:.3g} with sigmoid, {t:.3g} with tanh, {r:.3g} with ReLU "
        f"({said}); "
        f"units in the flat region at the end: sigmoid {numbers['sigmoid_flat_fraction']:.0%}, "
        f"tanh {numbers['tanh_flat_fraction']:.0%}, ReLU (z <= 0) "
        f"{numbers['relu_flat_fraction']:.0%}."
    )
    return _result(
        "saturation",
        "Gradient norm of each layer's weights over training, reference network "
        f"[n_x, {', '.join(map(str, REFERENCE_HIDDEN))}, 1], by hidden activation.",
        "sigmoid and tanh saturate, so the gradients reaching the early layers vanish; ReLU "
        "does not saturate for z > 0.",
        verdict,
        holds,
        numbers,
        fig,
    )


def dead_relu(
    data: ClaimData,
    *,
    iterations: int = 600,
    every: int = 20,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> ClaimResult:
    """The fraction of hidden units that are inactive (z <= 0) on every training image, over
    training of the reference network with ReLU and with leaky ReLU (slope 0.1), at a large
    learning rate (0.05) that knocks units over. An inactive ReLU unit gets no gradient (it
    can come back only when the layers before it change); an inactive leaky unit still gets
    0.1 of it. The claim holds when ReLU units die and leaky ReLU ends with fewer inactive
    units, or more of its inactive units came back."""
    X, _ = data.inputs()
    y = data.y_train
    fig = _figure(11, 4.2)
    ax, bar = fig.subplots(1, 2)
    numbers: dict[str, Any] = {}
    for act in ("relu", "leaky_relu"):
        net = Network(
            [data.n_x, *REFERENCE_HIDDEN, 1], hidden_activation=act, init="sqrt_n_prev", seed=seed
        )
        steps: list[int] = []
        fractions: list[float] = []
        ever_dead: list[np.ndarray] = []

        def record(net, iteration, steps=steps, fractions=fractions, ever_dead=ever_dead):
            dead = np.concatenate([np.all(Z <= 0, axis=0) for Z, _ in _hidden(net, X)])
            steps.append(iteration)
            fractions.append(float(dead.mean()))
            ever_dead.append(dead)

        net.fit(
            X,
            y,
            learning_rate=learning_rate,
            iterations=iterations,
            callbacks=[_Every(every, record)],
        )
        record(net, iterations + 1)
        dead_at = np.array(ever_dead)  # (records, units)
        revived = np.any(dead_at[:-1], axis=0) & ~dead_at[-1]
        ax.plot(steps[:-1] + [iterations], fractions, label=act)
        numbers[f"{act}_dead_final"] = fractions[-1]
        numbers[f"{act}_dead_max"] = max(fractions)
        numbers[f"{act}_revived"] = int(revived.sum())
        numbers[f"{act}_train_accuracy"] = net.accuracy(X, y)
    ax.set_xlabel("iteration")
    ax.set_ylabel("units with z <= 0 on every image")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    acts = ("relu", "leaky_relu")
    units = sum(len(Z[0]) for Z, _ in _hidden(net, X[:1]))
    width = 0.38
    for i, (what, label) in enumerate(
        (("dead_final", "inactive at the end"), ("revived", "came back"))
    ):
        values = [numbers[f"{a}_{what}"] / (units if what == "revived" else 1) for a in acts]
        bar.bar(np.arange(2) + (i - 0.5) * width, values, width, label=label)
    bar.set_xticks(range(2), acts)
    bar.set_ylabel("fraction of the hidden units")
    bar.set_ylim(0, 1)
    bar.legend()
    r, k = numbers["relu_dead_final"], numbers["leaky_relu_dead_final"]
    holds = r > 0 and (r > k or numbers["leaky_relu_revived"] > numbers["relu_revived"])
    verdict = (
        f"at lr {learning_rate}, {r:.0%} of the ReLU units end inactive on every image "
        f"(at most {numbers['relu_dead_max']:.0%}, {numbers['relu_revived']} came back); "
        f"leaky ReLU: {k:.0%} (at most {numbers['leaky_relu_dead_max']:.0%}, "
        f"{numbers['leaky_relu_revived']} came back)."
    )
    return _result(
        "dead_relu",
        "Hidden units inactive on all training images over training (ReLU vs leaky ReLU 0.1), "
        f"reference network, gd lr {learning_rate}.",
        "ReLU units die for z <= 0 (zero gradient, they never come back); leaky ReLU keeps a "
        "small slope there and keeps them alive.",
        verdict,
        holds,
        numbers,
        fig,
    )


def init_scale(
    data: ClaimData, *, widths: tuple[int, ...] = (100, 100, 100, 100, 100), seed: int = 0
) -> ClaimResult:
    """Histograms of each hidden layer's activations at initialisation on the training images
    (pixels / 255), as deep-learning-from-scratch's chapter 6 draws them, for a deep network
    of ``widths``: tanh with N(0, 1) x 0.01 vs Xavier, ReLU with N(0, 1) x 0.01 vs He."""
    X, _ = data.inputs()
    rows = (("tanh", "normal"), ("tanh", "xavier"), ("relu", "normal"), ("relu", "he"))
    fig = _figure(2.2 * len(widths), 1.9 * len(rows) + 0.9)
    grid = fig.subplots(len(rows), len(widths), squeeze=False)
    numbers: dict[str, Any] = {}
    for r, (act, init) in enumerate(rows):
        net = Network([data.n_x, *widths, 1], hidden_activation=act, init=init, seed=seed)
        label = f"{act}, {'N(0,1) x 0.01' if init == 'normal' else init}"
        stds = []
        hidden = _hidden(net, X)
        # one range per row (ReLU: up to the first layer's largest value), so that a layer
        # whose activations shrink shows as one narrow bar
        top = max(float(hidden[0][1].max()), 1e-6)
        for l, (_, A) in enumerate(hidden):  # noqa: E741
            ax = grid[r, l]
            values = A.ravel()
            lo, hi = (-1.0, 1.0) if act == "tanh" else (0.0, top)
            ax.hist(values, bins=30, range=(lo, hi), color=f"C{r}")
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(f"layer {l + 1}", fontsize=9)
            if l == 0:
                ax.set_ylabel(label, fontsize=8)
            stds.append(float(A.std()))
        numbers[f"{act}_{init}_std_first"] = stds[0]
        numbers[f"{act}_{init}_std_last"] = stds[-1]
    tn, tx = numbers["tanh_normal_std_last"], numbers["tanh_xavier_std_last"]
    rn, rh = numbers["relu_normal_std_last"], numbers["relu_he_std_last"]
    holds = tn < 0.1 * tx and rn < 0.1 * rh
    verdict = (
        f"spread (std) of layer {len(widths)}'s activations: tanh {tn:.2g} with x0.01 vs "
        f"{tx:.2g} with Xavier; ReLU {rn:.2g} with x0.01 vs {rh:.2g} with He."
    )
    return _result(
        "init_scale",
        f"Activations of each hidden layer at initialisation, network [n_x, "
        f"{', '.join(map(str, widths))}, 1] on the training images, by activation and init.",
        "weights drawn N(0, 1) x 0.01 shrink the signal layer after layer, so deep layers get "
        "almost nothing (and learn slowly); He / Xavier keep the spread.",
        verdict,
        holds,
        numbers,
        fig,
    )


def standardize(data: ClaimData, *, iterations: int = 800, seed: int = 0) -> ClaimResult:
    """The reference network trained on pixels / 255 and on standardised pixels (each
    pixel's training mean and standard deviation), same init, seed, gd lr 0.0075."""
    y, y_test = data.y_train, data.y_test
    fig = _figure(11, 4.2)
    ax, bar = fig.subplots(1, 2)
    numbers: dict[str, Any] = {}
    for name, standardized in (("scaled", False), ("standardized", True)):
        X, X_test = data.inputs(standardize=standardized)
        net = Network([data.n_x, *REFERENCE_HIDDEN, 1], init="sqrt_n_prev", seed=seed)
        history = net.fit(X, y, learning_rate=REFERENCE_LR, iterations=iterations)
        label = "/ 255" if name == "scaled" else "standardised"
        ax.plot(history.costs, label=label)
        numbers[f"{name}_final_cost"] = history.costs[-1]
        numbers[f"{name}_train_accuracy"] = net.accuracy(X, y)
        numbers[f"{name}_test_accuracy"] = net.accuracy(X_test, y_test)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training cost")
    ax.legend()
    names = ("scaled", "standardized")
    width = 0.38
    for i, split in enumerate(("train", "test")):
        values = [numbers[f"{n}_{split}_accuracy"] for n in names]
        bar.bar(np.arange(2) + (i - 0.5) * width, values, width, label=split)
    bar.set_xticks(range(2), ["/ 255", "standardised"])
    bar.set_ylim(0, 1)
    bar.set_ylabel("accuracy")
    bar.legend()
    s_cost, z_cost = numbers["scaled_final_cost"], numbers["standardized_final_cost"]
    s_acc, z_acc = numbers["scaled_test_accuracy"], numbers["standardized_test_accuracy"]
    holds = z_cost < s_cost and z_acc >= s_acc
    verdict = (
        f"after {iterations} iterations (one seed): training cost {s_cost:.3f} (/ 255) vs "
        f"{z_cost:.3f} (standardised); test accuracy {s_acc:.2f} vs {z_acc:.2f}."
    )
    return _result(
        "standardize",
        "Training cost and accuracy of the reference network on pixels / 255 and on "
        "standardised pixels.",
        "standardising the inputs (zero mean, unit variance per feature) trains faster and "
        "better than dividing by 255.",
        verdict,
        holds,
        numbers,
        fig,
    )


def plateau(
    data: ClaimData, *, iterations: int = 2000, compare_iterations: int = 500, seed: int = 0
) -> ClaimResult:
    """The article's run ([n_x, 5, 5, 1] tanh, N(0, 1) x 0.01, gd lr 0.03, pixels / 255): its
    cost against the constant predictor's (the cross-entropy of always answering the share of
    cats, 0.644 on the cat training images), how long it stays within 1% of it and when it
    first falls 10% below it; the same network with N(0, 1/n_prev) init for comparison."""
    X, _ = data.inputs()
    y = data.y_train
    constant = _binary_entropy(float(np.mean(y)))
    fig = _figure(10, 4.4)
    ax = fig.subplots()
    runs = (
        ("normal", iterations, "N(0,1) x 0.01 (the article)"),
        ("sqrt_n_prev", compare_iterations, "N(0, 1/n_prev)"),
    )
    numbers: dict[str, Any] = {"constant_cost": constant}
    for init, n, label in runs:
        net = Network(
            [data.n_x, *ARTICLE_HIDDEN, 1], hidden_activation="tanh", init=init, seed=seed
        )
        costs = np.array(net.fit(X, y, learning_rate=ARTICLE_LR, iterations=n).costs)
        ax.plot(costs, label=label)
        near = np.abs(costs - constant) <= 0.01 * constant
        # the escape: the first iteration whose cost is 10% below the constant predictor's
        below = np.flatnonzero(costs < 0.9 * constant)
        escape = int(below[0]) + 1 if below.size else None
        numbers[f"{init}_iterations_near_constant"] = int(near.sum())
        numbers[f"{init}_escape_iteration"] = escape
        numbers[f"{init}_final_cost"] = float(costs[-1])
    ax.axhline(constant, color="gray", linestyle="--", label=f"constant predictor {constant:.3f}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training cost")
    ax.legend()
    stuck = numbers["normal_iterations_near_constant"]
    escape = numbers["normal_escape_iteration"]
    holds = stuck >= 0.1 * iterations and escape is not None
    left = f"falls 10% below it at iteration {escape}" if escape is not None else "never leaves it"
    verdict = (
        f"the article's run spends {stuck} of {iterations} iterations within 1% of the constant "
        f"predictor's cost {constant:.3f} and {left} (final cost "
        f"{numbers['normal_final_cost']:.3f}); with N(0, 1/n_prev) init: "
        f"{numbers['sqrt_n_prev_iterations_near_constant']} iterations there."
    )
    return _result(
        "plateau",
        "Training cost of the article's [n_x, 5, 5, 1] tanh network (gd lr 0.03) against the "
        "cost of always predicting the share of cats.",
        "the cost sits near 0.644 for a long time (the network predicts the base rate) before "
        "it escapes and falls.",
        verdict,
        holds,
        numbers,
        fig,
    )


def overfitting(
    data: ClaimData, *, iterations: int = 1200, every: int = 25, seed: int = 0
) -> ClaimResult:
    """Train and test cost and accuracy over training of the reference network (pixels / 255,
    gd lr 0.0075), the test set evaluated every ``every`` iterations by a callback."""
    X, X_test = data.inputs()
    y, y_test = data.y_train, data.y_test
    steps: list[int] = []
    test_cost: list[float] = []
    train_acc: list[float] = []
    test_acc: list[float] = []

    def record(net, iteration):
        steps.append(iteration)
        test_cost.append(net.cost(X_test, y_test))
        train_acc.append(net.accuracy(X, y))
        test_acc.append(net.accuracy(X_test, y_test))

    net = Network([data.n_x, *REFERENCE_HIDDEN, 1], init="sqrt_n_prev", seed=seed)
    history = net.fit(
        X, y, learning_rate=REFERENCE_LR, iterations=iterations, callbacks=[_Every(every, record)]
    )
    fig = _figure(11, 4.2)
    ax, acc = fig.subplots(1, 2)
    ax.plot(np.arange(1, len(history.costs) + 1), history.costs, label="train")
    ax.plot(steps, test_cost, label="test")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.legend()
    acc.plot(steps, train_acc, label="train")
    acc.plot(steps, test_acc, label="test")
    acc.set_xlabel("iteration")
    acc.set_ylabel("accuracy")
    acc.set_ylim(0, 1.02)
    acc.legend()
    best = int(np.argmin(test_cost))
    numbers = {
        "train_accuracy": train_acc[-1],
        "test_accuracy": test_acc[-1],
        "train_cost": float(history.costs[-1]),
        "test_cost": test_cost[-1],
        "best_test_cost": test_cost[best],
        "best_test_cost_iteration": steps[best],
    }
    gap = train_acc[-1] - test_acc[-1]
    holds = gap > 0.1 and test_cost[-1] > test_cost[best]
    verdict = (
        f"after {iterations} iterations train accuracy {train_acc[-1]:.2f}, test "
        f"{test_acc[-1]:.2f}; the test cost was lowest ({test_cost[best]:.3f}) at iteration "
        f"{steps[best]} and is {test_cost[-1]:.3f} at the end, the train cost "
        f"{history.costs[-1]:.3f}."
    )
    return _result(
        "overfitting",
        "Train and test cost and accuracy over training, reference network, pixels / 255.",
        "the network overfits the 209 training images: the training cost keeps falling while "
        "the test cost stops improving, and the test accuracy stays well below the training "
        "accuracy.",
        verdict,
        holds,
        numbers,
        fig,
    )


def depth_width(data: ClaimData, *, iterations: int = 1500, seed: int = 0) -> ClaimResult:
    """Three networks trained alike (N(0, 1/n_prev), gd lr 0.0075, pixels / 255): the
    course's 2-layer [n_x, 7, 1], a wide 2-layer [n_x, 20, 1] with as many parameters as the
    4-layer one (within 1%), and the 4-layer [n_x, 20, 7, 5, 1]."""
    X, X_test = data.inputs()
    y, y_test = data.y_train, data.y_test
    shapes = {
        "2-layer [n_x, 7, 1]": (7,),
        "wide [n_x, 20, 1]": (20,),
        "deep [n_x, 20, 7, 5, 1]": REFERENCE_HIDDEN,
    }
    fig = _figure(11, 4.2)
    ax, bar = fig.subplots(1, 2)
    numbers: dict[str, Any] = {}
    keys = ("two_layer", "wide", "deep")
    for key, (label, hidden) in zip(keys, shapes.items(), strict=True):
        net = Network([data.n_x, *hidden, 1], init="sqrt_n_prev", seed=seed)
        history = net.fit(X, y, learning_rate=REFERENCE_LR, iterations=iterations)
        ax.plot(history.costs, label=label)
        numbers[f"{key}_parameters"] = net.n_parameters
        numbers[f"{key}_train_accuracy"] = net.accuracy(X, y)
        numbers[f"{key}_test_accuracy"] = net.accuracy(X_test, y_test)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training cost")
    ax.legend(fontsize=8)
    width = 0.38
    for i, split in enumerate(("train", "test")):
        values = [numbers[f"{k}_{split}_accuracy"] for k in keys]
        bar.bar(np.arange(3) + (i - 0.5) * width, values, width, label=split)
    bar.set_xticks(range(3), ["2-layer", "wide", "deep"])
    bar.set_ylim(0, 1)
    bar.set_ylabel("accuracy")
    bar.legend()
    deep = numbers["deep_test_accuracy"]
    holds = deep > numbers["two_layer_test_accuracy"] and deep > numbers["wide_test_accuracy"]
    verdict = (
        f"test accuracy after {iterations} iterations (one seed): 2-layer "
        f"{numbers['two_layer_test_accuracy']:.2f}, wide {numbers['wide_test_accuracy']:.2f} "
        f"({numbers['wide_parameters']:,} parameters), deep {deep:.2f} "
        f"({numbers['deep_parameters']:,} parameters)."
    )
    return _result(
        "depth_width",
        "Training cost and accuracy of a 2-layer, a wide 2-layer and the 4-layer network.",
        "depth helps: the 4-layer network beats the 2-layer one (0.80 vs 0.72 in the course), "
        "and not merely by having more parameters.",
        verdict,
        holds,
        numbers,
        fig,
    )


#: The claims, in the order of the report: name -> function(data, *, seed, ...sizes).
CLAIMS: dict[str, Callable[..., ClaimResult]] = {
    "saturation": saturation,
    "dead_relu": dead_relu,
    "init_scale": init_scale,
    "standardize": standardize,
    "plateau": plateau,
    "overfitting": overfitting,
    "depth_width": depth_width,
}


def run_claims(data: ClaimData, *, seed: int = 0, log=None) -> list[ClaimResult]:
    """Every claim of ``CLAIMS`` at its default sizes, in order."""
    results = []
    for name, claim in CLAIMS.items():
        if log is not None:
            print(f"claim {name} ...", file=log, flush=True)
        results.append(claim(data, seed=seed))
    return results


def write_report(results: list[ClaimResult], out: Path) -> Path:
    """``out/<name>.png`` per claim and ``out/claims.md``, the verdicts in a Markdown list;
    returns the report's path. Each file is written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The article's claims, measured", ""]
    for r in results:
        with atomic_write(out / f"{r.name}.png") as f:
            r.figure.savefig(f, format="png", dpi=r.figure.dpi)
        mark = "holds" if r.holds else "does not hold"
        lines.append(f"- **{r.name}** ({mark}): {r.verdict} ![{r.name}]({r.name}.png)")
    report = out / "claims.md"
    with atomic_write(report) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return report


def run(args: argparse.Namespace) -> int:
    """``nnscratch experiments --claims``: the seven claims on the cat data, the figures and
    ``claims.md`` into ``--out`` (default ``claims/``), one verdict line each on stdout."""
    from nnscratch.app.commands import _common as c
    from nnscratch.data.cats import load_cats

    out = Path(args.out) if args.out is not None else Path("claims")
    if out.exists() and not out.is_dir():
        from nnscratch.base.errors import UsageError

        raise UsageError(f"--out with --claims must be a directory; {out} is a file")
    data = ClaimData.from_cats(load_cats(args.data))
    results = run_claims(data, seed=args.seeds[0], log=sys.stderr)
    report = write_report(results, out)
    for r in results:
        print(f"{r.name}: {'holds' if r.holds else 'does not hold'}: {r.verdict}")
    print(f"figures and {report.name} in {out}")
    if args.json:
        c.print_json({"claims": [r.summary() for r in results], "out": str(out)})
    return 0
