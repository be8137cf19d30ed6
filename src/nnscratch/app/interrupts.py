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

__all__ = ["STOP_SIGNALS", "InterruptFlag", "deferred_interrupt"]


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
