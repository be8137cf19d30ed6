"""Shared pieces of the performance benchmark (``python benchmarks/bench.py``).

- ``limit_threads``: one thread count for NumPy's BLAS and PyTorch, set before either runs.
- ``machine_info``: date, CPU, cores, library versions and BLAS threads, for the table header.
- ``interleaved``: runs every side's block in turn, ``repeats`` times, and keeps the median, so
  that load from other processes on a shared machine hits all sides alike.
- ``load_cat_arrays``: the cat data flattened to (m, 12288) float32, or a synthetic stand-in of
  the same shape when the files are absent (said so in the table).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_thread_env(threads: int) -> None:
    """Before NumPy is imported: the environment variables that size the BLAS pools."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)


def blas_threads() -> int:
    """How many threads NumPy's BLAS uses now (threadpoolctl when installed)."""
    import numpy  # noqa: F401  (loads the BLAS, so that threadpoolctl can see it)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))
    counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return max(counts) if counts else 1


def limit_threads(threads: int | None) -> int:
    """Give NumPy's BLAS and PyTorch the same number of threads; returns it.

    ``None`` keeps NumPy's BLAS count and gives PyTorch the same.
    """
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)

    if threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass  # the environment variables of set_thread_env already apply
        else:
            threadpool_limits(threads, user_api="blas")  # applies from now on
    n = blas_threads() if threads is None else threads
    try:
        import torch
    except ImportError:
        return n
    torch.set_num_threads(n)
    return n


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("numpy", "torch", "sklearn"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def isa() -> str:
    """The vector instruction sets that decide BLAS kernels: "AVX2+FMA", "AVX-512", ..."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    names = [("avx512f", "AVX-512"), ("avx2", "AVX2"), ("fma", "FMA"), ("avx", "AVX")]
    found = [name for flag, name in names if flag in flags]
    if "AVX-512" in found:
        return "AVX-512"
    if "AVX2" in found:
        return "AVX2+FMA, no AVX-512" if "FMA" in found else "AVX2, no AVX-512"
    return "+".join(found) or platform.machine()


def blas_name() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS"
    for p in threadpool_info():
        if p["user_api"] == "blas" and "numpy" in p["filepath"]:
            return f"{p['internal_api']} {p.get('version') or ''} ({p.get('architecture', '')})"
    return "BLAS"


def machine_info(threads: int) -> str:
    v = versions()
    parts = [
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"{cpu_model()} ({isa()}), {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"numpy {v['numpy']} ({blas_name().strip()})",
        f"torch {v['torch'] or 'not installed'}",
        f"scikit-learn {v['sklearn'] or 'not installed'}",
        f"{threads} BLAS/torch thread(s)",
    ]
    return ", ".join(parts)


def load_average() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


class OtherLoad:
    """How many cores other processes kept busy while a block ran (Linux /proc/stat):

    with OtherLoad() as load:
        ...
    load.cores  # e.g. 1.6 on a 2-core machine: timings on all cores are not trustworthy
    """

    cores: float | None = None

    @staticmethod
    def _busy_seconds() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        ticks = [int(f) for f in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> OtherLoad:
        self._start = (time.perf_counter(), self._busy_seconds(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc) -> None:
        wall0, busy0, own0 = self._start
        busy1 = self._busy_seconds()
        if busy0 is None or busy1 is None:
            return
        wall = time.perf_counter() - wall0
        others = (busy1 - busy0) - (_own_cpu_seconds() - own0)
        self.cores = max(0.0, others / wall) if wall > 0 else None


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def interleaved(
    sides: dict[str, Callable[[], float]],
    repeats: int,
    budget_s: float | None = None,
    min_rounds: int = 3,
) -> dict[str, list[float]]:
    """Call each side in turn, ``repeats`` rounds; each call returns seconds per unit of work.

    With ``budget_s``, stop after the round that exceeds it (but run at least ``min_rounds``):
    on a busy machine a round can take many times its usual time.
    Returns every measurement per side; take ``statistics.median`` of them.
    """
    results: dict[str, list[float]] = {name: [] for name in sides}
    start = time.perf_counter()
    for round_ in range(1, repeats + 1):
        for name, run in sides.items():
            results[name].append(run())
        over = budget_s is not None and time.perf_counter() - start > budget_s
        if over and round_ >= min(min_rounds, repeats):
            break
    return results


def median_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


class Stopwatch:
    """Time stamps of the end of each iteration: per-iteration time without the set-up
    (checks, allocation) before the first one. Also the CPU time of this thread, which on a
    single thread does not count the time spent waiting for a core on a busy machine."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.cpu_stamps: list[float] = []

    def stamp(self) -> None:
        self.stamps.append(time.perf_counter())
        self.cpu_stamps.append(time.thread_time())

    def per_iteration(self) -> float:
        if len(self.stamps) < 2:
            raise RuntimeError("need at least two iterations to time one")
        return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)

    def cpu_per_iteration(self) -> float:
        return (self.cpu_stamps[-1] - self.cpu_stamps[0]) / (len(self.cpu_stamps) - 1)


def data_dir() -> Path | None:
    """The directory of the cat files: $NNSCRATCH_DATA, else ../shared/data beside the repo."""
    for candidate in (os.environ.get("NNSCRATCH_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "train_catvnoncat.h5").is_file():
            return Path(candidate)
    return None


def load_cat_arrays():
    """(X_train (209, 12288), y_train, X_test (50, 12288), y_test, source): float32 in [0, 1].

    Falls back to random images of the same shapes when the files or h5py are missing.
    """
    import numpy as np

    directory = data_dir()
    if directory is not None:
        try:
            from nnscratch.data.cats import load_cats
        except ImportError:  # pragma: no cover - the datasets module needs h5py
            pass
        else:
            data = load_cats(directory, download=False, progress=False)
            scale = np.float32(1 / 255)
            X_train = data.x_train.reshape(len(data.x_train), -1).astype(np.float32) * scale
            X_test = data.x_test.reshape(len(data.x_test), -1).astype(np.float32) * scale
            return X_train, data.y_train, X_test, data.y_test, "cat data"
    rng = np.random.default_rng(0)
    X_train = rng.random((209, 12288), dtype=np.float32)
    X_test = rng.random((50, 12288), dtype=np.float32)
    y_train = (rng.random(209) < 72 / 209).astype(np.int64)
    y_test = (rng.random(50) < 33 / 50).astype(np.int64)
    return X_train, y_train, X_test, y_test, "synthetic stand-in of the cat data"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.2f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"
