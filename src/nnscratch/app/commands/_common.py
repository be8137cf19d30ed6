"""Helpers shared by the subcommands: argparse value types and output conventions.

The value types are made from the rules of ``nnscratch.base.validation`` by ``flag_type``, so
a flag takes exactly the values the library takes, and a bad one exits with status 2 and the
rule's one-line message (``nnscratch train: error: argument --seed: seed must be an integer
from 0 to 4294967295; got -1``), no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, NoReturn, TypeVar

from nnscratch.base import jsonio
from nnscratch.base.atomic import staged_directory, staged_file

__all__ = [
    "CommandParser",
    "add_data_option",
    "comma_separated",
    "flag_type",
    "print_json",
    "print_skipped",
    "staged_directory",
    "staged_file",
]
from nnscratch.base.validation import check_layer_widths, check_seed, from_text

T = TypeVar("T")


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit status 2:
    ``<prog>: error: <message> (see <prog> --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def flag_type(
    check: Callable[[Any], T], *, read: Callable[[str], Any] = from_text
) -> Callable[[str], T]:
    """An argparse type made from a rule: the flag's text is read (``from_text``: an int, a
    float, else the text itself) and checked by ``check``; the rule's ValueError becomes
    argparse's usage error, its message unchanged.

        parser.add_argument("--lr", type=flag_type(partial(check_positive, "learning_rate")))
    """

    def parse(text: str) -> T:
        try:
            return check(read(text))
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def comma_separated(text: str) -> tuple:
    """Split a comma-separated flag, "20,7,5" -> (20, 7, 5), each part as ``from_text``
    reads it."""
    return tuple(from_text(part.strip()) for part in text.split(","))


def _seeds(values) -> tuple[int, ...]:
    return tuple(check_seed(value, allow_none=False) for value in values)


#: ``--seed S``: the one seed rule (an integer from 0 to 2**32 - 1)
seed_type = flag_type(partial(check_seed, allow_none=False))
#: ``--seeds S,S,...``: each by the seed rule
seeds_type = flag_type(_seeds, read=comma_separated)
#: ``--layers W1,W2,...``: hidden layer widths, each an integer >= 1
layer_widths_type = flag_type(partial(check_layer_widths, "layers"), read=comma_separated)


def add_data_option(parser: argparse.ArgumentParser, *, reading: str | None = None) -> None:
    """``--data``: the cat data's folder, an image folder or a table (``nnscratch.data.source``).

    ``reading`` adds the options of how to read it: "train" (all of them), "evaluate" (what a
    model file does not fix: bad files, memory, the target column), or None (none)."""
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="the data: a directory holding train_catvnoncat.h5 and test_catvnoncat.h5 (the "
        "default: $NNSCRATCH_DATA, else the user cache, downloading the files there on first "
        "use), an image folder (one subfolder per class, optionally under train/ and test/), "
        "or a table (.csv, .tsv, .npz with X and y, .parquet); see docs/data.md",
    )
    if reading is None:
        return
    from nnscratch.base.validation import check_fraction
    from nnscratch.data.images import ON_BAD_FILE
    from nnscratch.data.tables import IMPUTE, TASKS

    g = parser.add_argument_group("reading image folders and tables (docs/data.md)")
    g.add_argument(
        "--on-bad-file",
        choices=ON_BAD_FILE,
        default="skip",
        help="an image file that cannot be read: skip it (named on stderr; default) or fail",
    )
    g.add_argument(
        "--max-memory",
        type=flag_type(partial(_check_mib, "max_memory")),
        metavar="MIB",
        help="the most memory the decoded images may take, in MiB (default 4096)",
    )
    g.add_argument(
        "--target", metavar="COLUMN", help="a table's target column (default: the last one)"
    )
    if reading != "train":
        return
    g.add_argument(
        "--image-size",
        type=flag_type(_check_image_size, read=str),
        metavar="HxW",
        help="resize images to H x W pixels, e.g. 64x64 or 32 (default: the images' common "
        "size, else 64x64)",
    )
    g.add_argument(
        "--color",
        choices=("rgb", "grayscale"),
        help="read images as RGB (3 channels) or grayscale (1 channel) (default: grayscale "
        "when every image is, else rgb)",
    )
    g.add_argument(
        "--task",
        choices=TASKS,
        help="a table's task (default: inferred from the target column and printed)",
    )
    g.add_argument(
        "--impute",
        choices=IMPUTE,
        help="fill a table's missing feature values with the column's mean or median "
        "(default: refuse them, naming the line and column)",
    )
    g.add_argument(
        "--test-data",
        metavar="PATH",
        help="a separate test set of the same kind (a table with the same columns, or an "
        "image folder with the same classes)",
    )
    g.add_argument(
        "--test-fraction",
        type=flag_type(partial(check_fraction, "test_fraction")),
        metavar="F",
        help="without a test split in the data: hold out this fraction, stratified by class "
        "and seeded (default 0.2)",
    )


def _check_mib(name: str, value) -> int:
    from nnscratch.base.validation import check_positive

    return check_positive(name, value, integer=True)


def _check_image_size(text: str) -> tuple[int, int]:
    """ "64x48" -> (64, 48); "32" -> (32, 32); each side 1..4096."""
    parts = str(text).lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
        if len(parts) > 2:
            raise ValueError
    except ValueError:
        raise ValueError(f"image_size must be HxW or N (e.g. 64x64); got {text!r}") from None
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise ValueError(f"image_size sides must be 1..4096 pixels; got {text!r}")
    return h, w


def data_options(args: argparse.Namespace, *, progress: bool = True):
    """The ``DataOptions`` of the reading options ``add_data_option`` added."""
    from nnscratch.data.source import DataOptions

    max_memory = getattr(args, "max_memory", None)
    kwargs: dict[str, Any] = {
        "image_size": getattr(args, "image_size", None),
        "color": getattr(args, "color", None),
        "on_bad_file": getattr(args, "on_bad_file", None) or "skip",
        "target": getattr(args, "target", None),
        "task": getattr(args, "task", None),
        "impute": getattr(args, "impute", None),
        "test_data": getattr(args, "test_data", None),
        "progress": read_progress if progress else None,
    }
    if max_memory is not None:
        kwargs["max_bytes"] = max_memory * 2**20
    return DataOptions(**kwargs)


@contextlib.contextmanager
def read_progress(total: int, what: str) -> Iterator[Callable[[int], Any]]:
    """A progress bar over ``total`` files on a terminal (nothing otherwise)."""
    import sys

    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=what, unit="img", file=sys.stderr, leave=False) as bar:
        yield bar.update


#: how many skipped files are named one by one on stderr (the rest are counted)
SKIPPED_NAMED = 20


def print_skipped(command: str, refused: Sequence[tuple[str, str]]) -> None:
    """One stderr line per file ``command`` skipped, for the first ``SKIPPED_NAMED``; then
    one line counting the others (a folder of 100,000 bad files is not 100,000 lines)."""
    for path, message in refused[:SKIPPED_NAMED]:
        print(f"nnscratch {command}: skipped {path}: {message}", file=sys.stderr)
    if len(refused) > SKIPPED_NAMED:
        print(
            f"nnscratch {command}: skipped {len(refused) - SKIPPED_NAMED:,} more unreadable "
            f"file(s) ({len(refused):,} in all)",
            file=sys.stderr,
        )


def print_json(obj: dict) -> None:
    """One JSON object on one line of stdout (the last line a command prints), in the package's
    one encoding (``nnscratch.base.jsonio``: numpy values, tuples, paths; NaN as ``NaN``)."""
    print(jsonio.dumps(obj, allow_nan=True), flush=True)
