"""Running a search on a Dask distributed cluster: joblib's dask backend behind a clear error.

``nnscratch tune --scheduler tcp://HOST:PORT`` connects here; a dead or unreachable scheduler
raises ``SchedulerError`` (an OSError) within the connect timeout instead of hanging.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["SchedulerError", "check_scheduler_address", "dask_backend"]


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
