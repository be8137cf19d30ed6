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

from nnscratch.app.interrupts import exit_status, stop_signals_raise
from nnscratch.base.errors import DataError, ModelFileError, TrainingDivergedError, UsageError

#: optional dependency (top-level module name) -> the extra that installs it (pyproject.toml)
EXTRAS: dict[str, str] = {
    "h5py": "app",
    "matplotlib": "app",
    "PIL": "app",
    "platformdirs": "app",
    "tqdm": "app",
    "sklearn": "sklearn",
    "joblib": "sklearn",
    "dask": "dask",
    "distributed": "dask",
    "names": "sequences",
    "statsmodels": "sequences",
}


def missing_extra(err: BaseException) -> tuple[str, str] | None:
    """(module, extra) when ``err`` (or an error it was raised from) is a missing optional
    dependency of ``EXTRAS``; None for any other error."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            top = current.name.split(".")[0]
            if top in EXTRAS:
                return top, EXTRAS[top]
        current = current.__cause__ or current.__context__
    return None


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
        # a command's REQUIRES (optional modules it cannot finish without) are checked before
        # it starts, so that a missing extra is said up front, not after the work
        sub_parser.set_defaults(_run=module.run, _requires=getattr(module, "REQUIRES", ()))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; SIGTERM is cleaned up like Ctrl-C (exit 143); a missing optional
    dependency anywhere in it (the parser included) is one line naming the extra to install,
    exit status 1."""
    try:
        with stop_signals_raise():
            return _main(argv)
    except ImportError as err:
        found = missing_extra(err)
        if found is None:
            raise
        module, extra = found
        print(
            f"nnscratch: error: this needs the optional dependency {module!r}; install it with: "
            f"pip install 'nnscratch[{extra}]'",
            file=sys.stderr,
        )
        return 1


def _check_requires(modules: tuple[str, ...]) -> None:
    """ModuleNotFoundError (said by ``main`` as the extra to install) for the first of
    ``modules`` that cannot be imported."""
    import importlib.util

    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or broken
            found = False
        if not found:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _main(argv: list[str] | None) -> int:
    command = "nnscratch"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)  # exits 2 with a one-line message on bad flags
        command = f"nnscratch {args.command}"
        _check_requires(args._requires)
        return int(args._run(args) or 0)
    except UsageError as err:  # like argparse's own usage errors: SystemExit(2)
        print(f"{command}: error: {err} (see {command} --help)", file=sys.stderr)
        raise SystemExit(2) from None
    except (DataError, ModelFileError, TrainingDivergedError, OSError) as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return 1
    except MemoryError as err:
        print(f"{command}: error: not enough memory ({err})", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        print(f"{command}: interrupted", file=sys.stderr)
        return exit_status(stop)


if __name__ == "__main__":
    sys.exit(main())
