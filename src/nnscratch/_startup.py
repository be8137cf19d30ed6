"""The ``nnscratch`` command's start-up: a Ctrl-C while the package is imported.

Imports nothing but ``os`` and ``sys`` (loaded before any program runs), so that it is in
force from the first line of ``nnscratch/__init__``.
"""

from __future__ import annotations

import os
import sys


def _is_command_line() -> bool:
    """Whether this process is the ``nnscratch`` command (the console script, or ``python -m
    nnscratch...``) rather than a program that imports the library."""
    if os.path.basename(sys.argv[0] if sys.argv else "") == "nnscratch":
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    return any(
        flag == "-m" and module.split(".")[0] == "nnscratch"
        for flag, module in zip(argv, argv[1:], strict=False)
    )


def quiet_startup_interrupt() -> None:
    """In the ``nnscratch`` command only (a no-op for programs that import the library): a
    Ctrl-C or SIGTERM that lands outside ``nnscratch.app.cli.main``'s own handling (while the
    package's modules are imported, or between them and ``main``) ends the process with
    "nnscratch: interrupted" and status 130 (143), one line, instead of a traceback of the
    import machinery or a silent death by SIGTERM. ``nnscratch/__init__`` calls it first."""
    if not _is_command_line():
        return
    previous_hook = sys.excepthook

    def hook(kind, value, traceback):
        if issubclass(kind, KeyboardInterrupt):
            sys.stderr.write("nnscratch: interrupted\n")
            sys.stderr.flush()
            os._exit(128 + int(getattr(value, "signum", 2)))  # 130 Ctrl-C, 143 SIGTERM
        previous_hook(kind, value, traceback)

    sys.excepthook = hook
    import signal  # after the hook: a Ctrl-C during this import is handled already

    class Terminated(KeyboardInterrupt):
        signum = signal.SIGTERM

    def on_term(signum, frame):
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, on_term)
    except (ValueError, AttributeError):  # not the main thread; no SIGTERM
        pass
