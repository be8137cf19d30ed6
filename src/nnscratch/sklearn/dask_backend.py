"""Running a search on a Dask distributed cluster: joblib's dask backend behind a clear error.

``nnscratch tune --scheduler tcp://HOST:PORT`` connects here; a dead or unreachable scheduler
raises ``SchedulerError`` (an OSError) within the connect timeout instead of hanging.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "SchedulerError",
    "check_scheduler_address",
    "dask_backend",
    "local_workers",
    "probe_scheduler",
]

#: seconds an idle local worker process waits for more work before it exits
IDLE_WORKER_TIMEOUT_S = 10
#: how often a local worker checks that the process that started it is still alive
PARENT_CHECK_S = 0.5


class SchedulerError(OSError):
    """The Dask scheduler could not be reached."""


_SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+(:\d+)?$")


def check_scheduler_address(address: str) -> str:
    """Raise ValueError unless ``address`` looks like ``tcp://HOST:PORT``."""
    if not _SCHEDULER_ADDRESS.match(address):
        raise ValueError(
            f"scheduler address must look like tcp://HOST:PORT (or tls://...); got {address!r}"
        )
    return address


@contextlib.contextmanager
def dask_backend(address: str, connect_timeout: float = 10.0) -> Iterator[Any]:
    """Connect to the Dask scheduler at ``address`` and make joblib run on its workers.

    Raises ``SchedulerError`` (an OSError) within about ``connect_timeout`` seconds when no
    scheduler answers there; ImportError when dask[distributed] is not installed.
    """
    check_scheduler_address(address)
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError(
            "running on a Dask cluster needs dask[distributed]: pip install 'nnscratch[dask]'"
        ) from err
    import joblib

    with _quiet_distributed_logs():
        probe_scheduler(address, connect_timeout)  # a silent or foreign server: refused now
    try:
        with _quiet_distributed_logs():
            client = Client(address, timeout=connect_timeout, set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, or garbage from a non-Dask server
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SchedulerError(
            f"cannot connect to the Dask scheduler at {address} within {connect_timeout:g} s "
            f"({detail}); is `dask scheduler` running there and reachable?"
        ) from None
    try:
        with client.as_current(), joblib.parallel_config(backend="dask", n_jobs=-1):
            yield client
    finally:
        client.close()


def probe_scheduler(address: str, timeout: float) -> None:
    """Check, within ``timeout`` seconds in all, that a Dask scheduler answers at
    ``address``: open a connection with Dask's own comm handshake and ask its identity. An
    endpoint that accepts and never answers, an HTTP server, garbage, TLS spoken to a plain
    port or a Dask worker instead of the scheduler raise ``SchedulerError`` naming the
    address, before any ``distributed.Client`` exists (whose start-up would wait for
    minutes, and whose clean-up prints a traceback and delays the exit)."""
    import asyncio

    from distributed.comm import connect

    async def ask() -> object:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        reply = asyncio.run(asyncio.wait_for(ask(), timeout))
    except (asyncio.TimeoutError, TimeoutError):
        raise SchedulerError(
            f"cannot connect to the Dask scheduler at {address} within {timeout:g} s (no "
            "answer: the connection was refused, or nothing there speaks Dask's protocol); "
            "is `dask scheduler` running there and reachable?"
        ) from None
    except Exception as err:  # OSError, a comm error, garbage from a non-Dask server
        detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise SchedulerError(
            f"cannot connect to the Dask scheduler at {address} within {timeout:g} s "
            f"({detail}); is `dask scheduler` running there and reachable?"
        ) from None
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        raise SchedulerError(
            f"the server at {address} is not a Dask scheduler (it answered as {kind!r}); "
            "give the scheduler's address, e.g. tcp://HOST:8786"
        )


@contextlib.contextmanager
def _quiet_distributed_logs() -> Iterator[None]:
    """distributed logs each failed connection attempt; the error we raise says it all."""
    import logging

    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def exit_with_parent(parent_pid: int) -> None:
    """A local worker's initializer: a daemon thread that ends the worker (``os._exit``)
    within ``PARENT_CHECK_S`` seconds of the death of the process that started it (SIGKILL
    included, where no clean-up of the parent runs), so that no worker lingers."""
    import os
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def local_workers() -> Iterator[None]:
    """Make joblib's local worker processes (the loky backend) exit with this process: each
    watches its parent (``exit_with_parent``), idle ones exit after
    ``IDLE_WORKER_TIMEOUT_S``, and on leaving the block by an exception (Ctrl-C, SIGTERM)
    the workers are killed at once."""
    import os

    import joblib

    with joblib.parallel_config(
        backend="loky",
        idle_worker_timeout=IDLE_WORKER_TIMEOUT_S,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ):
        try:
            yield
        except BaseException:
            _kill_local_workers()
            raise


def _kill_local_workers() -> None:
    with contextlib.suppress(Exception):
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)
