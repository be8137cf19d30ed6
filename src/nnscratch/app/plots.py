"""Figures of the application: activations, loss curves, image grids.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot, so no global state,
no GUI backend and never ``show()``), saves it when given ``path`` and returns it. In a
notebook, ``display(fig)`` (or leaving it as a cell's value) shows it.

Images are (m, H, W, C) uint8 RGB, labels (m,) in {0, 1}, probabilities (m,) of class 1.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from nnscratch.nn.activations import get_activation

__all__ = [
    "ARTICLE_ACTIVATIONS",
    "plot_activations",
    "plot_confusion_matrix",
    "plot_errors",
    "plot_predicted_vs_true",
    "plot_test_results",
    "plot_loss_curve",
    "plot_misclassified",
    "plot_samples",
]

#: The four activations of the article's 2x2 figure, in its order.
ARTICLE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def _figure(
    width: float,
    height: float,
    *,
    layout: Literal["constrained", "compressed", "tight"] | None = "constrained",
    dpi: int = 100,
):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout, dpi=dpi)


def _finish(fig, path: str | os.PathLike[str] | None):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi)
    return fig


def plot_activations(path=None, *, z_range: tuple[float, float] = (-5.0, 5.0)):
    """The article's 2x2 figure: sigmoid, tanh, ReLU and leaky ReLU, each with its derivative."""
    z = np.linspace(*z_range, 1001)
    fig = _figure(9, 7)
    axes = fig.subplots(2, 2)
    for ax, name in zip(axes.flat, ARTICLE_ACTIVATIONS, strict=True):
        g = get_activation(name)
        ax.plot(z, g.forward(z), label=f"g(z) = {name}(z)", linewidth=2)
        ax.plot(z, g.derivative(z), label="g'(z)", linestyle="--", linewidth=2)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        ax.set_title(repr(g) if name == "leaky_relu" else name)
        ax.set_xlabel("z")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle("Activation functions and their derivatives")
    return _finish(fig, path)


def _costs_of(curve) -> np.ndarray:
    costs = getattr(curve, "costs", curve)  # a History, or a sequence of costs
    return np.asarray(costs, dtype=float)


def plot_loss_curve(curves, path=None, *, title: str = "Training cost", log_scale: bool = False):
    """Cost per iteration.

    ``curves`` is one curve, a list of curves (e.g. an ensemble's members) or a dict
    {label: curve}; a curve is a ``History`` or a sequence of costs.
    """
    items: list[tuple[str | None, np.ndarray]]
    if isinstance(curves, Mapping):
        items = [(str(k), _costs_of(v)) for k, v in curves.items()]
    elif hasattr(curves, "costs") or (
        isinstance(curves, Sequence) and curves and np.isscalar(curves[0])
    ):
        items = [(None, _costs_of(curves))]
    else:
        curves = list(curves)
        items = [
            (f"network {k + 1}" if len(curves) > 1 else None, _costs_of(c))
            for k, c in enumerate(curves)
        ]
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for label, costs in items:
        ax.plot(np.arange(1, costs.size + 1), costs, label=label, linewidth=1.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(textwrap.fill(title, 70), fontsize="medium")
    ax.grid(True, alpha=0.3)
    if any(label for label, _ in items):
        ax.legend()
    return _finish(fig, path)


#: the screen size (pixels) an image grid enlarges each picture towards, by whole-pixel repeats
GRID_IMAGE_PX = 128
_GRID_DPI = 100
_LINE_PX = 12  # one line of an 8-point title at 100 dpi
_MARGIN_PX = 12


def _image_grid(images, titles: Sequence[str], *, ncols: int, suptitle: str, colors=None):
    """Images (n, H, W[, C]) in a grid, each under its (multi-line) title.

    Each picture is drawn pixel for pixel by ``Figure.figimage``, enlarged by whole-pixel
    repeats: no resampling and no visible Axes. A grid of 24 cat images then costs about 6 MB of
    memory to draw, where 24 Axes with ``imshow`` cost about 15 MB.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    height, width = images.shape[1:3]
    zoom = max(1, GRID_IMAGE_PX // max(height, width))
    lines = max(title.count("\n") + 1 for title in titles)
    title_px = _LINE_PX * lines + 4
    cell_w = max(width * zoom, 100) + 2 * _MARGIN_PX
    cell_h = height * zoom + title_px + _MARGIN_PX
    top = 4 * _LINE_PX  # room for the suptitle
    fig_w, fig_h = ncols * cell_w, top + nrows * cell_h
    fig = _figure(fig_w / _GRID_DPI, fig_h / _GRID_DPI, layout=None, dpi=_GRID_DPI)
    # One empty, hidden Axes over the whole figure: IPython and Jupyter show no figure that
    # has no Axes (``print_figure`` returns nothing), so without it a notebook shows no grid.
    fig.add_axes((0, 0, 1, 1)).set_axis_off()
    for k in range(n):
        row, col = divmod(k, ncols)
        picture = images[k].repeat(zoom, axis=0).repeat(zoom, axis=1)
        if picture.ndim == 3 and picture.shape[2] == 1:  # grayscale (H, W, 1): as RGB
            picture = np.repeat(picture, 3, axis=2)
        x0 = col * cell_w + (cell_w - width * zoom) // 2
        y0 = fig_h - top - row * cell_h - title_px - height * zoom  # from the bottom edge
        fig.figimage(picture, xo=x0, yo=y0, origin="upper")
        style = {} if colors is None else {"color": colors[k]}
        x_mid, y_title = (x0 + width * zoom / 2) / fig_w, (y0 + height * zoom + 2) / fig_h
        fig.text(x_mid, y_title, titles[k], ha="center", va="bottom", fontsize=8, **style)
    fig.suptitle(suptitle)
    return fig


def _class_name(classes, label: int) -> str:
    return classes[label] if classes is not None and 0 <= label < len(classes) else str(label)


def plot_misclassified(
    images,
    y_true,
    proba,
    classes: Sequence[str] | None = ("non-cat", "cat"),
    path=None,
    *,
    max_images: int = 24,
    ncols: int = 6,
    threshold: float = 0.5,
):
    """A grid of the images the model got wrong, each titled with the predicted class, the
    predicted probability of "cat" (class 1) and the true class."""
    images = np.asarray(images)
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    pred = (proba >= threshold).astype(int)
    wrong = np.flatnonzero(pred != y_true)[:max_images]
    if wrong.size == 0:
        fig = _figure(4, 1.5)
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return _finish(fig, path)
    titles = [
        f"pred {_class_name(classes, pred[i])}\np(cat)={proba[i]:.2f}\n"
        f"true {_class_name(classes, y_true[i])}"
        for i in wrong
    ]
    fig = _image_grid(
        images[wrong],
        titles,
        ncols=ncols,
        suptitle=f"Misclassified: {np.sum(pred != y_true)} of {y_true.size}",
    )
    return _finish(fig, path)


def plot_samples(
    images,
    labels,
    classes: Sequence[str] | None = ("non-cat", "cat"),
    path=None,
    *,
    n: int = 24,
    ncols: int = 8,
    seed: int | None = 0,
):
    """A labelled grid of ``n`` images (a random sample when there are more)."""
    images = np.asarray(images)
    labels = np.asarray(labels).astype(int)
    idx = np.arange(images.shape[0])
    if images.shape[0] > n:
        idx = np.sort(np.random.default_rng(seed).choice(images.shape[0], n, replace=False))
    titles = [f"#{i}: {_class_name(classes, labels[i])}" for i in idx]
    fig = _image_grid(images[idx], titles, ncols=ncols, suptitle="Samples")
    return _finish(fig, path)


# ---- any task: confusion matrix, predicted vs true, errors of any class ---------------------


def plot_confusion_matrix(matrix, classes: Sequence[str], path=None, *, title: str = ""):
    """The confusion matrix (rows: true class, columns: predicted) as a heat map with counts
    (counts only up to 30 classes, labels up to 50)."""
    matrix = np.asarray(matrix)
    k = matrix.shape[0]
    side = min(12.0, 2.5 + 0.45 * k)
    fig = _figure(side, side)
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if k <= 50:
        ax.set_xticks(range(k), [str(c) for c in classes], rotation=90 if k > 6 else 0)
        ax.set_yticks(range(k), [str(c) for c in classes])
    if k <= 30:
        top = matrix.max() or 1
        for i in range(k):
            for j in range(k):
                color = "white" if matrix[i, j] > top / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"Confusion matrix ({int(matrix.sum())} test examples)")
    return _finish(fig, path)


def plot_predicted_vs_true(y_true, y_pred, path=None, *, title: str = ""):
    """A regression's predictions against the true values, with the diagonal."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo = float(min(y_true.min(), y_pred.min())) if y_true.size else 0.0
    hi = float(max(y_true.max(), y_pred.max())) if y_true.size else 1.0
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title(title or f"Predicted vs true ({y_true.size} test examples)")
    ax.grid(True, alpha=0.3)
    return _finish(fig, path)


def plot_errors(images, y_true, y_pred, proba, classes, path=None, *, max_images=24, ncols=6):
    """A grid of misclassified images of any number of classes, each titled with the
    predicted class, its probability and the true class. ``proba``: (m,) probabilities of
    class 1 for two classes, or (m, K)."""
    images = np.asarray(images)
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    proba = np.asarray(proba, dtype=float)
    wrong = np.flatnonzero(y_pred != y_true)
    if wrong.size == 0:
        fig = _figure(4, 1.5)
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return _finish(fig, path)
    shown = wrong[:max_images]
    p_of = (
        (lambda i: proba[i] if y_pred[i] == 1 else 1 - proba[i])
        if proba.ndim == 1
        else (lambda i: proba[i, y_pred[i]])
    )
    titles = [
        f"pred {_class_name(classes, y_pred[i])}\np={p_of(i):.2f}\n"
        f"true {_class_name(classes, y_true[i])}"
        for i in shown
    ]
    fig = _image_grid(
        images[shown], titles, ncols=ncols, suptitle=f"Misclassified: {wrong.size} of {y_true.size}"
    )
    return _finish(fig, path)


def plot_test_results(directory, task, y_true, y_pred, proba, classes, *, images=None) -> list[str]:
    """The plots of a test set written into ``directory``: confusion_matrix.png (and, for
    images, misclassified.png) for a classification, predicted_vs_true.png for a regression.
    Returns the file names written."""
    from pathlib import Path

    from nnscratch.app.scores import classification_scores

    directory = Path(directory)
    if task == "regression":
        plot_predicted_vs_true(y_true, y_pred, directory / "predicted_vs_true.png")
        return ["predicted_vs_true.png"]
    matrix = classification_scores(y_true, y_pred, classes)["confusion_matrix"]
    plot_confusion_matrix(matrix, classes, directory / "confusion_matrix.png")
    names = ["confusion_matrix.png"]
    if images is not None:
        plot_errors(images, y_true, y_pred, proba, classes, directory / "misclassified.png")
        names.append("misclassified.png")
    return names
