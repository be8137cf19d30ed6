"""``nnscratch plot activations|samples``: the article's activation figure, or a labelled grid
of cat data images."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from nnscratch.app.commands import _common as c
from nnscratch.base.validation import check_positive


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plot",
        help="draw the activation functions or sample images to a PNG",
        description="Draw a figure to a PNG file.",
    )
    what = parser.add_subparsers(dest="what", metavar="WHAT")
    what.required = True
    act = what.add_parser(
        "activations", help="sigmoid, tanh, ReLU and leaky ReLU with their derivatives (2x2)"
    )
    act.add_argument(
        "--out",
        type=Path,
        default=Path("activations.png"),
        metavar="FILE",
        help="PNG to write (default activations.png)",
    )
    samples = what.add_parser("samples", help="a labelled grid of images of the cat data")
    c.add_data_option(samples)
    samples.add_argument(
        "--out",
        type=Path,
        default=Path("samples.png"),
        metavar="FILE",
        help="PNG to write (default samples.png)",
    )
    samples.add_argument(
        "--split", choices=("train", "test"), default="train", help="which images (default train)"
    )
    samples.add_argument(
        "-n",
        type=c.flag_type(partial(check_positive, "n", integer=True)),
        default=24,
        metavar="N",
        help="how many images (default 24)",
    )
    samples.add_argument("--seed", type=c.seed_type, default=0, help="which random sample")
    return parser


def supported_formats() -> dict[str, str]:
    """File suffixes matplotlib can write (without the dot) -> what they are."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def _check_out(out: Path) -> None:
    """UsageError, before anything is drawn, for a --out whose directory is missing or whose
    suffix names no format matplotlib writes (the allowed ones listed)."""
    from nnscratch.base.errors import UsageError

    if out.parent and not out.parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    formats = supported_formats()
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise UsageError(
            f"--out {out}: unsupported format {out.suffix or '(no suffix)'!r}; use one of "
            f"{', '.join('.' + name for name in sorted(formats))}"
        )


def run(args: argparse.Namespace) -> int:
    from nnscratch.app import plots

    out: Path = args.out
    _check_out(out)
    if args.what == "activations":
        draw = partial(plots.plot_activations)
    else:
        from nnscratch.data.cats import load_cats

        data = load_cats(args.data)
        x, y = (data.x_train, data.y_train) if args.split == "train" else (data.x_test, data.y_test)
        draw = partial(plots.plot_samples, x, y, data.classes, n=args.n, seed=args.seed)
    with c.staged_file(out) as staging:  # the old file or the complete new one, never half
        draw(path=staging)
    print(f"Wrote {out}")
    return 0
