"""MkDocs hook: the command-line reference, rendered from the argparse parsers at build time.

A page that holds the line ``<!-- cli-reference -->`` gets, in its place, one section per
command of ``nnscratch.app.cli.COMMANDS`` (and per sub-command, e.g. ``plot activations``)
with the text ``nnscratch CMD --help`` prints, so the reference cannot go stale.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
#: argparse wraps its help to $COLUMNS; fixed here so the page does not depend on the terminal.
WIDTH = "100"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sections(name: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    out = [f"{'#' * level} `nnscratch {name}`", "", "```text", parser.format_help().rstrip(), "```"]
    for sub_name, sub in _subparsers(parser).items():
        out += ["", *_sections(f"{name} {sub_name}", sub, level + 1)]
    return out


def render() -> str:
    """The Markdown of every command's ``--help``, in ``COMMANDS`` order."""
    src = Path(__file__).resolve().parents[2] / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from nnscratch.app.cli import COMMANDS, build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        commands = _subparsers(build_parser())
        lines: list[str] = []
        for name in COMMANDS:
            if name in commands:
                lines += [*_sections(name, commands[name], 2), ""]
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown
