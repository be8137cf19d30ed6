"""The benchmark's one Markdown table: a row per goal of issue 16 and thread count (the cat
network, the CNN epoch, ``nnscratch train``, the Adam epoch), then the memory rows and the
predict scaling series, with the machine (CPU, ISA, BLAS kernel), date and load above and the
notes below."""

from __future__ import annotations

from perf_common import fmt_ms, fmt_ratio, load_average, machine_info, markdown_table

#: kind -> (workload description, goal: the largest ratio nnscratch / PyTorch allowed, or None)

HEADER = [
    "workload",
    "threads",
    "nnscratch ms",
    "PyTorch ms",
    "nnscratch / PyTorch",
    "scikit-learn ms",
    "peak memory",
    "goal",
]

TIMED: dict[str, tuple[str, float | None]] = {
    "cat": (
        "1. cat [12288, 20, 7, 5, 1], 209 images, full-batch GD, fit's choice (the Gram "
        "path): ms per iteration",
        0.25,
    ),
    "cat_article": ("1b. the same on the article's path (gram_path=False)", None),
    "cnn": ("2. CNN (bench_cnn.py), batch 32, Adam: ms per epoch", 1.0),
    "adam": (
        "4. synthetic {n_samples} x 784, [784, 256, 128, 10] softmax, batch 128, Adam: "
        "ms per epoch",
        0.6,
    ),
}

#: Goal 3: ``nnscratch train`` with the default recipe, wall seconds.
TRAIN_GOAL_S = 10.0


def _threads(threads: int, others: float | None) -> str:
    return str(threads) if others is None else f"{threads} (others {others:.1f})"


class Report:
    def __init__(self, source: str):
        self.source = source
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def add_timing(self, kind: str, threads: int, ms: dict, others: float | None = None) -> None:
        """ms: {"nnscratch": ..., "torch": ..., "sklearn": ...} in milliseconds, plus
        optional "note" and "n_samples"."""
        label, goal = TIMED[kind]
        label = ms.get("label") or label.format(n_samples=ms.get("n_samples", ""))
        nn, torch, sk = ms.get("nnscratch"), ms.get("torch"), ms.get("sklearn")
        verdict = "" if goal is None else f"<= {goal}x"
        if goal is not None and nn is not None and torch:
            verdict += ": " + ("met" if nn / torch <= goal else "not met")
        if ms.get("note"):
            self.notes.append(f"{label.split(':')[0]}, {threads} thread(s): {ms['note']}")
        self.rows.append(
            [
                label,
                _threads(threads, others),
                fmt_ms(nn),
                fmt_ms(torch),
                fmt_ratio(nn, torch),
                fmt_ms(sk) if sk is not None else "",
                "",
                verdict,
            ]
        )

    def add_train(self, result: dict) -> None:
        """result: perf_train.run's wall and CPU seconds of ``nnscratch train``."""
        wall, cpu = result.get("wall_s"), result.get("cpu_s")
        verdict = f"<= {TRAIN_GOAL_S:g} s wall"
        if wall is not None:
            verdict += ": " + ("met" if wall <= TRAIN_GOAL_S else "not met")
        label = "3. `nnscratch train`, default recipe (5 nets x 2,000 GD iterations): whole command"
        if result.get("note"):
            self.notes.append(f"3. nnscratch train: {result['note']}")
        self.rows.append(
            [
                label,
                "default",
                "n/a" if wall is None else f"{1e3 * wall:.0f} (CPU {1e3 * (cpu or 0):.0f})",
                "",
                "",
                "",
                "",
                verdict,
            ]
        )

    def add_missing(self, kind: str, why: str) -> None:
        label, goal = TIMED[kind]
        self.rows.append([label.format(n_samples=""), "", "n/a", "n/a", "n/a", "", "", why])

    def add_memory(self, results: list[dict]) -> None:
        """results: peak RSS of training (MB) and its budget, see perf_memory.run."""
        for mem in results:
            self._add_memory_row(mem)

    def _add_memory_row(self, mem: dict) -> None:
        met = mem["peak_mb"] <= mem["budget_mb"]
        self.rows.append(
            [
                f"5. peak RSS of {mem['how']} on the cat data ({mem['iterations']} iterations)",
                str(mem["threads"]),
                "",
                "",
                "",
                "",
                f"{mem['peak_mb']:.1f} MB = interpreter with imports {mem['baseline_mb']:.1f}"
                f" MB + {mem['peak_mb'] - mem['baseline_mb']:.1f} MB",
                f"<= {mem['budget_mb']:.1f} MB (+ 2 x {mem['data_mb']:.1f} MB float32 data): "
                + ("met" if met else "not met"),
            ]
        )

    def add_scaling(self, series: list[dict], threads: int, others: float | None = None) -> None:
        """series: one dict per size, see perf_predict.run. Linear growth shows as a steady
        time per sample; bounded memory as a peak that stops growing with the input."""
        per_sample = [1e3 * point["predict_ms"] / point["m"] for point in series]
        for point, us in zip(series, per_sample, strict=True):
            self.rows.append(
                [
                    f"6. predict + evaluate, {point['m']:,} samples ({point['factor']}x the test "
                    f"set, {point['input_mb']:.1f} MB)",
                    _threads(threads, others),
                    f"{fmt_ms(point['predict_ms'])} + {fmt_ms(point['evaluate_ms'])}",
                    fmt_ms(point.get("torch_ms")),
                    fmt_ratio(point["predict_ms"], point.get("torch_ms")),
                    "",
                    f"+{point['peak_mb']:.1f} MB",
                    f"linear: {us:.1f} us per sample",
                ]
            )
        self.notes.append(
            "6: predict time, then evaluate (accuracy) time; PyTorch: model(X) under no_grad; "
            "peak memory: allocated during predict beyond the input (tracemalloc), at most one "
            f"batch of {series[-1].get('batch_size', '')} samples. Time per sample varies "
            f"{max(per_sample) / min(per_sample):.1f}x over the sizes (the smallest input stays "
            "in the CPU caches, the largest streams from memory)."
        )

    def last_row_text(self) -> str:
        return " | ".join(self.rows[-1])

    def markdown(self, thread_counts: list[int]) -> str:
        threads = "/".join(str(n) for n in thread_counts)
        lines = [
            f"Measured {machine_info(threads)}; load average {load_average()} at the end.",
            f"Data: {self.source}, float32. Times are medians of interleaved repetitions. "
            "threads: the BLAS/PyTorch threads of the run, then how many cores other processes "
            "kept busy meanwhile (when that approaches the core count, timings on all threads "
            "are not trustworthy).",
            "",
            markdown_table(HEADER, self.rows),
        ]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)
