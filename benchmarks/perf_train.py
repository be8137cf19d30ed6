"""Goal 3: ``nnscratch train`` with its default recipe (5 networks x 2,000 full-batch GD
iterations on the balanced cat data), wall time of the whole command in a fresh process.

The command runs as a user runs it, ``python -m nnscratch train --out DIR --json`` with the
machine's default threads, into a temporary directory: imports, data loading, training, the
accuracies, the model file and the two plots all count. Also reported: the process's CPU
time (user + system; on a busy machine wall time includes waits for a core), the training
seconds the command itself reports, and its test accuracy (the same per seed as before the
Gram path: see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf_common import REPO, data_dir


def _once(seed: int) -> dict:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    directory = data_dir()
    if directory is not None:
        env["NNSCRATCH_DATA"] = str(directory)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)  # the machine's default threads, as a user runs it
    with tempfile.TemporaryDirectory(prefix="nnscratch-bench-") as tmp:
        out = Path(tmp) / "run"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "nnscratch", "train", "--out", str(out), "--json"]
            + ["--print-every", "0", "--seed", str(seed)],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"nnscratch train failed ({proc.returncode}): {proc.stderr[-500:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "train_s": summary["seconds"],
        "test": summary["test_accuracy"],
    }


def run(*, repeats: int = 1, seed: int = 0) -> dict:
    """Median wall and CPU seconds of ``repeats`` runs of the command, with its test accuracy."""
    if data_dir() is None:
        return {"note": "the cat data is absent ($NNSCRATCH_DATA): not measured"}
    runs = [_once(seed) for _ in range(max(1, repeats))]
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "train_s")}
    accuracies = sorted({r["test"] for r in runs})
    return {
        "wall_s": med["wall"],
        "cpu_s": med["cpu"],
        "note": (
            f"seed {seed}, {len(runs)} run(s): wall {med['wall']:.1f} s (median), CPU "
            f"{med['cpu']:.1f} s, of which training {med['train_s']:.1f} s as the command "
            f"reports it; test accuracy {', '.join(f'{a:.2f}' for a in accuracies)}"
        ),
    }
