"""Hostile Dask endpoints: a server that accepts and never answers, an HTTP server, garbage,
TLS to a plain port. Each is refused within --connect-timeout with one line, before any
``distributed.Client`` exists (so no ``Client.__del__`` traceback and no delay at exit)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("sklearn")

from nnscratch.sklearn.dask_backend import SchedulerError, probe_scheduler  # noqa: E402

pytestmark = pytest.mark.slow  # importing distributed alone takes seconds


def _serve(kind: str) -> tuple[str, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    kept = []

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            kept.append(conn)  # never closed: "accepts and never answers"
            try:
                if kind == "http":
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                elif kind == "garbage":
                    conn.sendall(bytes(range(256)) * 20)
            except OSError:
                pass

    threading.Thread(target=loop, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}", server


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["silent", "http", "garbage"])
def test_a_non_dask_endpoint_is_refused_within_the_timeout(kind):
    address, server = _serve(kind)
    try:
        start = time.monotonic()
        with pytest.raises(SchedulerError) as info:
            probe_scheduler(address, 1.5)
        assert time.monotonic() - start < 1.5 + 1.0
    finally:
        server.close()
    message = str(info.value)
    assert address in message and "\n" not in message


@pytest.mark.timeout(60)
def test_tls_to_a_plain_port_is_one_line():
    address, server = _serve("silent")
    try:
        with pytest.raises(SchedulerError, match="tls://127.0.0.1"):
            probe_scheduler(address.replace("tcp://", "tls://"), 1.5)
    finally:
        server.close()


@pytest.mark.timeout(120)
def test_tune_against_a_silent_endpoint_exits_1_within_the_timeout(tmp_path):
    """End to end, in a fresh process: one line, no traceback (none from Client.__del__),
    exit 1, no --out directory, and no wait at exit beyond the connect timeout."""
    address, server = _serve("silent")
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.normal(size=(30, 3)), y=np.arange(30) % 2)
    argv = [sys.executable, "-m", "nnscratch.app.cli", "tune", "--data-file", str(data)]
    argv += ["--scheduler", address, "--connect-timeout", "2", "--out", str(tmp_path / "o")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=100, env=env)
    finally:
        server.close()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "__del__" not in done.stderr
    assert done.stderr.count("\n") == 1 and "within 2 s" in done.stderr
    assert not (tmp_path / "o").exists()
