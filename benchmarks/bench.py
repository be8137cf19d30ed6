"""nnscratch performance benchmark: one command, one Markdown table.

    python benchmarks/bench.py                 # every workload, on 1 and on all BLAS threads
    python benchmarks/bench.py --threads 2     # NumPy's BLAS and PyTorch on two threads
    python benchmarks/bench.py --only cat,predict --repeats 3 --quick

Workloads (the goals of issue 16, then issue 6's memory and predict rows), each timed side by
side with PyTorch (when installed) in this one process, on the same data, dtype (float32) and
threads, their repetitions interleaved and the median kept (the machine may be shared):

1. ``cat``: the cat network [12288, 20, 7, 5, 1], full-batch gradient descent: ms/iteration,
   on fit's choice (the Gram-matrix path) and on the article's path; goal <= 0.25x PyTorch.
2. ``cnn``: one CNN epoch, 1 thread (``bench_cnn.cnn_epoch_row``); goal <= 1.0x PyTorch.
3. ``train``: ``nnscratch train`` with the default recipe, the whole command in a fresh
   process, wall seconds; goal <= 10 s.
4. ``adam``: synthetic 60,000 x 784, [784, 256, 128, 10] softmax, batch 128, Adam: one epoch;
   goal <= 0.6x PyTorch.
5. ``memory``: peak RSS of training on the cat data in a fresh process, against the
   interpreter with the same imports plus 2x the float32 size of the data.
6. ``predict``: predict and evaluate on 1x, 10x, 100x the test set: time and peak memory.
"""

from __future__ import annotations

import argparse
import sys

from perf_common import set_thread_env

WORKLOADS = ("cat", "cnn", "train", "adam", "memory", "predict")


def _thread_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected thread counts >= 1 separated by commas, e.g. 1,2; got {text!r}"
        )
    return list(dict.fromkeys(counts))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=_thread_counts,
        default=None,
        metavar="N[,N...]",
        help="threads for NumPy's BLAS and PyTorch; the timed workloads run once per count "
        "(default: 1 and NumPy's BLAS count)",
    )
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated workloads among {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations and repetitions (a smoke test)"
    )
    parser.add_argument(
        "--train-repeats", type=int, default=3, help="runs of `nnscratch train` (median)"
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out")
    args = parser.parse_args(argv)
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(args.only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; allowed: {', '.join(WORKLOADS)}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1; got {args.repeats}")
    if args.quick:
        args.repeats = min(args.repeats, 2)
    return args


def _cnn_row(threads: int) -> dict | str:
    """The CNN epoch's row from ``bench_cnn.cnn_epoch_row`` (the CNN's own benchmark), or why
    there is none."""
    try:
        from bench_cnn import cnn_epoch_row
    except ImportError as err:
        return f"bench_cnn.cnn_epoch_row not available ({err})"
    row = cnn_epoch_row(threads=threads)
    if row.get("ours_ms") is None:
        return f"bench_cnn.cnn_epoch_row gave no nnscratch time: {row}"
    # in the table's keys: ms per epoch of each side
    return {"nnscratch": row["ours_ms"], "torch": row.get("torch_ms"), "note": row.get("notes")}


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None and not _available("threadpoolctl"):
        # Without threadpoolctl the BLAS pool is sized once, by the environment, at import.
        args.threads = args.threads[:1]
        set_thread_env(args.threads[0])

    # Imported only now, after the thread count is fixed.
    import perf_report
    from perf_common import OtherLoad, blas_threads, limit_threads, load_cat_arrays

    thread_counts = args.threads or sorted({1, blas_threads()})
    with_torch = not args.no_torch and _available("torch")
    with_sklearn = not args.no_sklearn and _available("sklearn")
    X_train, y_train, X_test, y_test, source = load_cat_arrays()
    table = perf_report.Report(source=source)

    def progress() -> None:
        print(table.last_row_text(), file=sys.stderr, flush=True)

    for threads in thread_counts:
        limit_threads(threads)
        if "cat" in args.only:
            import perf_cat

            with OtherLoad() as load:
                ms = perf_cat.run(
                    X_train,
                    y_train,
                    repeats=args.repeats,
                    iterations=10 if args.quick else 30,
                    with_torch=with_torch,
                    with_sklearn=with_sklearn,
                    threads=threads,
                )
            article = {"nnscratch": ms.pop("article"), "torch": ms.get("torch")}
            table.add_timing("cat", threads, ms, load.cores)
            progress()
            table.add_timing("cat_article", threads, article, load.cores)
            progress()

        if "cnn" in args.only and threads == 1:  # the goal is on one thread
            with OtherLoad() as load:
                row = _cnn_row(threads)
            if isinstance(row, str):
                table.add_missing("cnn", row)
            else:
                table.add_timing("cnn", threads, row, load.cores)
            progress()

        if "adam" in args.only:
            import perf_adam

            with OtherLoad() as load:
                ms = perf_adam.run(
                    repeats=1 if args.quick else max(1, args.repeats // 2),
                    n_samples=6000 if args.quick else 60000,
                    with_torch=with_torch,
                )
            table.add_timing("adam", threads, ms, load.cores)
            progress()

    if "train" in args.only:  # a fresh process on the machine's default threads
        import perf_train

        table.add_train(perf_train.run(repeats=1 if args.quick else args.train_repeats))
        progress()

    # Memory (a child process, default threads) and scaling once, on the fewest threads: on a
    # shared machine small multi-threaded products mostly measure waits for a core.
    if "memory" in args.only:
        import perf_memory

        table.add_memory(perf_memory.run(iterations=10 if args.quick else 50))
        progress()

    if "predict" in args.only:
        import perf_predict

        limit_threads(thread_counts[0])
        with OtherLoad() as load:
            series = perf_predict.run(
                X_test, y_test, repeats=args.repeats, factors=(1, 10, 100), with_torch=with_torch
            )
        table.add_scaling(series, thread_counts[0], load.cores)
        progress()

    print(table.markdown(thread_counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
