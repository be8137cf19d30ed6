"""Goal 3: peak memory of training on the cat data, in a fresh process.

    peak RSS of `nnscratch train`  <=  peak RSS of an interpreter that only imports the same
                                       modules  +  2 x the float32 size of the data

The data is the 209 training and 50 test images as float32: 259 x 12288 x 4 bytes = 12.7 MB.
Each run is a child process that reports its own peak RSS at exit: ``VmHWM`` of
/proc/self/status on Linux (``ru_maxrss`` would not do: a child started by fork and exec
inherits its parent's high-water mark, here the benchmark's own hundreds of MB).

1. The command ``nnscratch train --data DIR --iterations N --out TMP`` (its ``main`` run in a
   fresh interpreter, as the console script does): its default recipe, plots included.
   And the library alone: a script that loads the data, flattens and scales it to float32,
   fits the article's network and evaluates it. Each child writes the modules it imported.
2. The baseline: ``python perf_memory.py --child baseline`` imports exactly those modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_FLOAT32_MB = (209 + 50) * 12288 * 4 / 1e6


def _own_peak_rss_mb() -> float:
    """This process's peak RSS in MB since its exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # in kB
    except OSError:
        pass
    import resource  # elsewhere: may include the parent's mark (see the module docstring)

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1e6 if sys.platform == "darwin" else maxrss * 1024 / 1e6


def _report_at_exit(path: str) -> None:
    """At exit, write {"peak_mb": ..., "modules": [...]} to ``path``."""
    import atexit

    def report() -> None:
        info = {"peak_mb": _own_peak_rss_mb(), "modules": sorted(sys.modules)}
        try:  # after listing the modules: the baseline does not import threadpoolctl for this
            from threadpoolctl import threadpool_info

            counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            info["blas_threads"] = max(counts) if counts else None
        except ImportError:
            info["blas_threads"] = None
        Path(path).write_text(json.dumps(info))

    atexit.register(report)


def _run_child(args: list[str], report: str, env: dict) -> tuple[dict, int]:
    """Run this file as a child; (its report, its exit status)."""
    cmd = [sys.executable, str(HERE / "perf_memory.py"), "--child", *args]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        return {}, proc.returncode
    return json.loads(Path(report).read_text()), 0


def child_cli(argv: list[str], report: str) -> int:
    """``nnscratch train ...``: what the console script runs."""
    _report_at_exit(report)
    from nnscratch.app.cli import main

    return main(argv)


def child_script(data_dir: str, iterations: int, report: str) -> int:
    """What ``nnscratch train`` does, with the library's public API."""
    _report_at_exit(report)
    from nnscratch import Network
    from nnscratch.data.cats import load_cats
    from nnscratch.data.preprocessing import ImagePreprocessor

    data = load_cats(data_dir, download=False, progress=False)
    pre = ImagePreprocessor(dtype="float32")
    X_train = pre.fit_transform(data.x_train)  # (209, 12288) float32
    X_test = pre.transform(data.x_test)  # (50, 12288) float32
    net = Network([12288, 20, 7, 5, 1], seed=1)
    net.fit(X_train, data.y_train, iterations=iterations)
    net.accuracy(X_train, data.y_train)
    net.accuracy(X_test, data.y_test)
    return 0


def child_baseline(modules_file: str, report: str) -> int:
    """Import the modules the training child had imported, and nothing else."""
    import importlib

    _report_at_exit(report)
    for name in json.loads(Path(modules_file).read_text())["modules"]:
        if name == "__main__" or name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (private or platform modules: skip them)
            pass
    return 0


def _measure(kind: str, args: list[str], env: dict, tmp: str) -> dict | None:
    """Peak RSS of one training child and of the baseline with the same imports; None when the
    child fails (e.g. the command is not there yet)."""
    trained, base = str(Path(tmp) / f"{kind}.json"), str(Path(tmp) / f"{kind}-baseline.json")
    child, status = _run_child([kind, trained, *args], trained, env)
    if status != 0:
        return None
    baseline, status = _run_child(["baseline", base, trained], base, env)
    if status != 0:
        raise RuntimeError(f"the baseline child of {kind} failed with status {status}")
    return {
        "threads": child["blas_threads"] or "default",
        "peak_mb": child["peak_mb"],
        "baseline_mb": baseline["peak_mb"],
        "data_mb": DATA_FLOAT32_MB,
        "budget_mb": baseline["peak_mb"] + 2 * DATA_FLOAT32_MB,
    }


def run(iterations: int = 50, data_dir: str | None = None) -> list[dict]:
    """Goal 3 for `nnscratch train` (when it runs) and for the library alone, each with the
    BLAS's default thread count and, for the library, also on one thread: every BLAS thread
    adds its own workspace (about 1.7 MB here), the same whatever the data."""
    from perf_common import THREAD_ENV_VARS
    from perf_common import data_dir as find_data_dir

    directory = data_dir or find_data_dir()
    if directory is None:
        raise SystemExit("perf_memory: the cat data files are needed (set NNSCRATCH_DATA)")
    default = {k: v for k, v in os.environ.items() if k not in THREAD_ENV_VARS}
    one_thread = {**default, **dict.fromkeys(THREAD_ENV_VARS, "1")}
    cli = ["train", "--data", str(directory), "--iterations", str(iterations)]
    script = [str(directory), str(iterations)]
    runs = [
        ("cli", "`nnscratch train` (its default recipe)", cli, default),
        ("script", "the library: load, scale, Network.fit, accuracy", script, default),
        ("script", "the library: load, scale, Network.fit, accuracy", script, one_thread),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, how, args, env) in enumerate(runs):
            if kind == "cli":
                args = [*args, "--out", str(Path(tmp) / f"out{i}"), "--print-every", "0"]
            result = _measure(kind, args, env, tmp)
            if result is None:
                print(f"perf_memory: {how} failed; left out", file=sys.stderr)
                continue
            results.append({"how": how, "iterations": iterations, **result})
    if not results:
        raise RuntimeError("no training child ran to the end")
    return results


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, report, rest = sys.argv[2], sys.argv[3], sys.argv[4:]
        if kind == "cli":
            sys.exit(child_cli(rest, report))
        if kind == "script":
            sys.exit(child_script(rest[0], int(rest[1]), report))
        sys.exit(child_baseline(rest[0], report))
    print(json.dumps(run(), indent=2))
