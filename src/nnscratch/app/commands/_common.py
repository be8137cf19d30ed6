"""Helpers shared by the subcommands: argparse value types and output conventions.

The value types are made from the rules of ``nnscratch.base.validation`` by ``flag_type``, so
a flag takes exactly the values the library takes, and a bad one exits with status 2 and the
rule's one-line message (``nnscratch train: error: argument --seed: seed must be an integer
from 0 to 4294967295; got -1``), no traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
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
