"""The ``nnscratch`` command line: ``nnscratch train / evaluate / predict / plot / tune ...``.

Each subcommand is one module in ``nnscratch.app.commands`` with two functions:

    add_parser(subparsers) -> argparse.ArgumentParser   # declares its options
    run(args) -> int                                     # does the work, returns the exit code

and is listed in ``COMMANDS``. Exit codes: 0 success; 2 usage errors (bad flags or values,
one line on stderr, no traceback); 1 data, model-file or training errors; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nnscratch.base.errors import DataError, ModelFileError, TrainingDivergedError, UsageError

#: subcommand name -> module in nnscratch.app.commands (the registry; order is the help order)
COMMANDS: dict[str, str] = {
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "plot": "plot",
    "experiments": "experiments",
    "tune": "tune",
    "export": "export",
}


def build_parser() -> argparse.ArgumentParser:
    from nnscratch.app.commands._common import CommandParser

    parser = CommandParser(  # its subcommands' parsers are CommandParsers too
        prog="nnscratch",
        description="Neural networks from scratch in NumPy: train, evaluate and use them.",
    )
    from nnscratch.base.version import __version__

    parser.add_argument("--version", action="version", version=f"nnscratch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f".commands.{module_name}", __package__)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("nnscratch.app.commands"):
                continue  # not built yet
            raise
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a one-line message on bad flags
    try:
        return int(args._run(args) or 0)
    except UsageError as err:
        parser.exit(2, f"nnscratch {args.command}: error: {err}\n")
    except (DataError, ModelFileError, TrainingDivergedError, OSError) as err:
        print(f"nnscratch {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"nnscratch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
