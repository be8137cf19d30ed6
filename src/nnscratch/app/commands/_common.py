"""Helpers shared by the subcommands: argparse value types and output conventions.

Each type function raises ``argparse.ArgumentTypeError`` with a message that says what was
received and what is allowed, so a bad flag exits with status 2 and one line, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from nnscratch.base import jsonio


def int_at_least(minimum: int, what: str = "") -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``what`` names it in the message)."""
    label = f" ({what})" if what else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}{label}; got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}{label}; got {value}"
            )
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (e.g. a learning rate)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (e.g. an L2 strength)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def open_fraction(text: str) -> float:
    """A number strictly between 0 and 1 (a validation fraction)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1 (exclusive); got {text!r}"
        )
    return value


def keep_probability(text: str) -> float:
    """A keep probability in (0, 1] (1 = no dropout)."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a keep probability in (0, 1]; got {text!r}")
    return value


def layer_widths(text: str) -> tuple[int, ...]:
    """Comma-separated hidden layer widths, e.g. "20,7,5", each an integer >= 1."""
    form = "comma-separated integers >= 1, e.g. 20,7,5"
    tokens = [t.strip() for t in text.split(",")]
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected {form}; got an empty value")
    widths = []
    for token in tokens:
        try:
            width = int(token)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid layer width {token!r} in {text!r}: expected {form}"
            ) from None
        if width < 1:
            raise argparse.ArgumentTypeError(
                f"invalid layer width {width} in {text!r}: widths must be >= 1 ({form})"
            )
        widths.append(width)
    return tuple(widths)


def seed_list(text: str) -> tuple[int, ...]:
    """Comma-separated seeds, e.g. "0,1,2", each an integer >= 0."""
    seeds = []
    for token in text.split(","):
        try:
            seed = int(token.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid seed {token.strip()!r} in {text!r}: expected comma-separated "
                "integers >= 0, e.g. 0,1,2"
            ) from None
        if seed < 0:
            raise argparse.ArgumentTypeError(f"invalid seed {seed} in {text!r}: seeds are >= 0")
        seeds.append(seed)
    return tuple(seeds)


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="directory holding train_catvnoncat.h5 and test_catvnoncat.h5 (default: "
        "$NNSCRATCH_DATA, else the user cache, downloading the files there on first use)",
    )


def print_json(obj: dict) -> None:
    """One JSON object on one line of stdout (the last line a command prints), in the package's
    one encoding (``nnscratch.base.jsonio``: numpy values, tuples, paths; NaN as ``NaN``)."""
    print(jsonio.dumps(obj, allow_nan=True), flush=True)


@contextlib.contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Write a directory's files into a temporary sibling, renamed onto ``final`` only when the
    block succeeds; on any error (or Ctrl-C) the temporary directory is removed, so no
    half-written output is left behind. ``final`` must not exist or be an empty directory."""
    final = Path(final)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; give the usual permissions
        if final.is_dir():
            final.rmdir()  # empty (checked by the caller); os.replace needs it gone or empty
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
