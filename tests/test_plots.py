"""Figures: each function returns a Figure, writes a PNG when given a path, needs no display."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from nnscratch.app import plots  # noqa: E402
from nnscratch.train.fit import History  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_activations_figure_has_four_panels_each_with_its_derivative(tmp_path):
    fig = plots.plot_activations(tmp_path / "a.png")
    assert _is_png(tmp_path / "a.png")
    axes = fig.get_axes()
    assert len(axes) == 4
    titles = [ax.get_title() for ax in axes]
    assert titles[:3] == ["sigmoid", "tanh", "relu"] and "LeakyReLU" in titles[3]
    for ax in axes:
        assert len(ax.get_lines()) >= 2  # g and g'
    # the derivative curve of sigmoid peaks at 1/4
    sig_derivative = axes[0].get_lines()[1].get_ydata()
    assert np.isclose(np.max(sig_derivative), 0.25, atol=1e-3)


def test_library_never_imports_pyplot():
    """No pyplot: no global figure state, no GUI backend, never show()."""
    code = (
        "import sys, nnscratch.app.plots as p; p.plot_activations(); "
        "p.plot_loss_curve([1.0, 0.5]); sys.exit('matplotlib.pyplot' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_loss_curve_accepts_costs_histories_lists_and_dicts(tmp_path):
    costs = list(np.linspace(0.7, 0.1, 50))
    fig = plots.plot_loss_curve(costs, tmp_path / "one.png")
    assert _is_png(tmp_path / "one.png")
    assert len(fig.get_axes()[0].get_lines()) == 1
    fig = plots.plot_loss_curve(History(costs=costs))
    assert len(fig.get_axes()[0].get_lines()) == 1
    fig = plots.plot_loss_curve([costs, costs[:20]])
    assert len(fig.get_axes()[0].get_lines()) == 2
    fig = plots.plot_loss_curve({"tanh": costs, "relu": History(costs=costs[:10])}, log_scale=True)
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["tanh", "relu"]
    assert ax.get_yscale() == "log"


def _images(m=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(m, 8, 8, 3), dtype=np.uint8)


def test_misclassified_grid_shows_only_wrong_images_with_probabilities(tmp_path):
    images = _images()
    y = np.array([0, 1] * 5)
    proba = np.where(y == 1, 0.9, 0.1)
    proba[[1, 4]] = [0.2, 0.7]  # two mistakes
    fig = plots.plot_misclassified(images, y, proba, ("non-cat", "cat"), tmp_path / "m.png")
    assert _is_png(tmp_path / "m.png")
    assert len(fig.images) == 2
    titles = _grid_titles(fig)
    assert len(titles) == 2
    assert "p(cat)=0.20" in titles[0] and "true cat" in titles[0]
    assert "p(cat)=0.70" in titles[1] and "true non-cat" in titles[1]
    assert np.array_equal(_shown(fig, 0), images[1]) and np.array_equal(_shown(fig, 1), images[4])


def test_misclassified_with_no_mistakes(tmp_path):
    y = np.array([0, 1])
    fig = plots.plot_misclassified(_images(2), y, np.array([0.1, 0.9]), path=tmp_path / "n.png")
    assert _is_png(tmp_path / "n.png")
    assert not fig.images and not any(ax.get_images() for ax in fig.get_axes())


def test_samples_grid(tmp_path):
    images = _images(30)
    labels = np.arange(30) % 2
    fig = plots.plot_samples(images, labels, ("non-cat", "cat"), tmp_path / "s.png", n=12)
    assert _is_png(tmp_path / "s.png")
    assert len(fig.images) == 12
    titles = _grid_titles(fig)
    assert len(titles) == 12
    assert all(title.endswith(("cat", "non-cat")) for title in titles)


def test_image_grids_show_in_notebooks():
    """IPython renders no figure without Axes; the grids must still show in Jupyter."""
    pylabtools = pytest.importorskip("IPython.core.pylabtools")
    y = np.array([0, 1] * 5)
    for fig in (
        plots.plot_samples(_images(), y, ("non-cat", "cat"), n=4),
        plots.plot_misclassified(_images(), y, np.where(y == 1, 0.1, 0.9)),
    ):
        png = pylabtools.print_figure(fig, "png", bbox_inches="tight")
        assert png and png.startswith(b"\x89PNG")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert width >= 2 * 100 and height >= 100  # the whole grid, not a cropped corner


def _grid_titles(fig) -> list[str]:
    """The titles of an image grid's pictures (the figure's texts, its suptitle left out)."""
    return [text.get_text() for text in fig.texts if text.get_text() != fig.get_suptitle()]


def _shown(fig, k: int) -> np.ndarray:
    """Picture k of an image grid at its own size (the grid repeats each pixel zoom times)."""
    picture = np.asarray(fig.images[k].get_array())
    zoom = picture.shape[0] // 8  # the test images are 8 x 8
    return picture[::zoom, ::zoom]
