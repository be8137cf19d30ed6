"""Stopping training cleanly on Ctrl-C (SIGINT) or SIGTERM: the signal only sets a flag, and
training stops at the end of the current update, after a last checkpoint.

    with deferred_interrupt() as interrupt:
        run.train(config, x, y, interrupt=interrupt)   # checks interrupt.requested
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = [
    "STOP_SIGNALS",
    "InterruptFlag",
    "Stopped",
    "deferred_interrupt",
    "exit_status",
    "stop_signals_raise",
]


#: the signals that stop training cleanly: Ctrl-C, and what ``kill``, a batch scheduler or a
#: container runtime send before they kill a process
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


class InterruptFlag:
    """Set by the first stop signal inside ``deferred_interrupt``: ``requested`` is True and
    ``signal`` the signal's number (None until then)."""

    def __init__(self):
        self.requested = False
        self.signal: int | None = None


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[InterruptFlag]:
    """Within this block the first Ctrl-C (SIGINT) or SIGTERM only sets ``flag.requested``,
    so that training can stop at the end of the current update with a consistent checkpoint;
    a second one raises ``KeyboardInterrupt`` at once. Outside the main thread (where signals
    cannot be handled) the flag is never set and the signals behave as usual."""
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested, flag.signal = True, signum

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for signum, old_handler in previous.items():
            signal.signal(signum, old_handler)


class Stopped(KeyboardInterrupt):
    """SIGTERM (or another stop signal) arrived: handled like Ctrl-C, with ``signum`` kept for
    the exit status (143 for SIGTERM)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by signal {signum}")


def exit_status(stop: BaseException, flag: InterruptFlag | None = None) -> int:
    """The conventional exit status of a process stopped by ``stop``: 128 + the signal's
    number (130 for Ctrl-C, 143 for SIGTERM)."""
    signum = getattr(stop, "signum", None) or (flag.signal if flag is not None else None)
    return 128 + int(signum or signal.SIGINT)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within this block SIGTERM raises ``Stopped`` in the main thread, as Ctrl-C raises
    ``KeyboardInterrupt``: the command line cleans up (staged outputs removed, checkpoints
    kept) and exits 143 with a message instead of dying mid-write. The previous handlers come
    back at the end; outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Stopped(signum)

    previous = {
        signum: signal.signal(signum, handler) for signum in STOP_SIGNALS if signum != signal.SIGINT
    }
    try:
        yield
    finally:
        for signum, old_handler in previous.items():
            signal.signal(signum, old_handler)
