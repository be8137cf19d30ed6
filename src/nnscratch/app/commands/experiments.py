"""``nnscratch experiments``: re-run the article's runs, the reference network and the default
recipe on the cat data, and print a Markdown table of their accuracies and times.

    | run | configuration | seeds | train acc | test acc | seconds |

The article trains [12288, 5, 5, 1] with tanh and with ReLU hidden layers (learning rate 0.03,
3000 iterations, weights drawn from N(0, 1) * 0.01); the common reference is the 4-layer
[12288, 20, 7, 5, 1] ReLU network (learning rate 0.0075, 2500 iterations, weights
N(0, 1) / sqrt(n_prev)). Both use plain gradient descent on pixels scaled to [0, 1]; the
article's runs are trained in float64 by ``nnscratch.app.article``, as the article's NumPy does.

``--article`` runs only the article's two configurations over ``--seeds`` and prints each
seed's and the mean train/test accuracy, the dtype and BLAS threads, and why results move;
with ``--json`` its last line is ``{"runs": [{"activation", "seed", "dtype", "layers",
"learning_rate", "iterations", "init", "init_scale", "train_accuracy", "test_accuracy"}]}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.app.commands import _common as c
from nnscratch.base.errors import UsageError
from nnscratch.base.validation import check_positive

#: the table's rows that are the article's runs -> their hidden activation; they are trained by
#: ``nnscratch.app.article`` exactly as ``--article`` trains them
ARTICLE_RUNS = {"article-tanh": "tanh", "article-relu": "relu"}


def experiment_configs() -> dict:
    """Run name -> TrainConfig, in table order."""
    from nnscratch.app.recipe import TrainConfig

    article: dict[str, Any] = dict(
        layers=(5, 5),
        init="normal",
        init_scale=0.01,
        learning_rate=0.03,
        iterations=3000,
        optimizer="gd",
        standardize=False,
        balance=False,
        ensemble=1,
        l2=0.0,
    )
    return {
        "article-tanh": TrainConfig(activation="tanh", **article),
        "article-relu": TrainConfig(activation="relu", **article),
        "reference": TrainConfig(
            layers=(20, 7, 5),
            activation="relu",
            init="sqrt_n_prev",
            learning_rate=0.0075,
            iterations=2500,
            optimizer="gd",
            standardize=False,
            balance=False,
            ensemble=1,
            l2=0.0,
        ),
        "default recipe": TrainConfig(),
    }  # the article's rows are described here, trained by nnscratch.app.article


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "experiments",
        help="re-run the article's and the reference runs and the default recipe",
        description="Train the article's two networks, the reference 4-layer network and the "
        "default recipe; print a Markdown table of train/test accuracy and seconds.",
    )
    c.add_data_option(parser)
    parser.add_argument(
        "--seeds",
        type=c.seeds_type,
        default=(0,),
        metavar="S,S,...",
        help="seeds to run each configuration with; several give mean (min-max) (default 0)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(experiment_configs()),
        metavar="RUN",
        help=f"run only this one (repeatable): {', '.join(experiment_configs())}",
    )
    parser.add_argument(
        "--iterations",
        type=c.flag_type(partial(check_positive, "iterations", integer=True)),
        metavar="N",
        help="override every run's iterations (for a quick smoke test)",
    )
    parser.add_argument(
        "--claims",
        action="store_true",
        help="instead, test the article's claims on the cat data: a figure and a verdict each, "
        "into --out DIR (default claims/); see nnscratch.app.claims",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="also write the table here (--claims: a DIR)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line")
    parser.add_argument(
        "--article",
        action="store_true",
        help="only the article's two runs, exactly as the article: [12288, 5, 5, 1], tanh and "
        "relu, normal(0.01) init, lr 0.03, 3000 iterations of gradient descent, float64, "
        'pixels / 255; per-seed and mean accuracies (--json: one object {"runs": [...]})',
    )
    return parser


def run_article_command(args: argparse.Namespace) -> int:
    """``experiments --article``: the article's runs over ``--seeds``, a table, the setup line
    (dtype, BLAS threads) and why results move; with --json the runs as one JSON object."""
    from nnscratch.app import article
    from nnscratch.data.cats import load_cats

    if args.only:
        raise UsageError("--article runs the article's two configurations; drop --only")
    data = load_cats(args.data)
    iterations = args.iterations or article.ARTICLE_ITERATIONS

    def report(activation, seed):
        print(f"article {activation}, seed {seed} ...", file=sys.stderr, flush=True)

    runs = article.run_article(data, args.seeds, iterations=iterations, report=report)
    text = "\n".join(
        [article.article_table(runs), "", article.describe_setup(runs), article.WHY_RESULTS_MOVE]
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    if args.json:
        c.print_json({"runs": [r.to_dict() for r in runs]})
    return 0


def _cell(values: list[float], digits: int = 2) -> str:
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def run(args: argparse.Namespace) -> int:
    from nnscratch.app import article
    from nnscratch.app.recipe import train_cats
    from nnscratch.data.cats import load_cats
    from nnscratch.data.source import kind_of

    if args.data is not None and _other_data(args.data, kind_of):
        raise UsageError(
            f"experiments compares the cat recipes on the cat data; --data {args.data} is "
            "other data: train on it with `nnscratch train --data` (docs/data.md)"
        )
    if args.claims and args.article:
        raise UsageError("--claims and --article are two different runs: give one of them")
    if args.claims:
        from nnscratch.app import claims

        return claims.run(args)
    if args.article:
        return run_article_command(args)
    configs = experiment_configs()
    names = args.only or list(configs)
    data = load_cats(args.data)
    rows = []
    for name in names:
        config = configs[name]
        if args.iterations is not None:
            config = config.replace(iterations=args.iterations, epochs=None)
        train_acc, test_acc, seconds = [], [], []
        for seed in args.seeds:
            print(f"{name}, seed {seed}: {config.describe()} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            if name in ARTICLE_RUNS:  # the very runs of --article (float64, pixels / 255)
                _, run_ = article.train_article(
                    ARTICLE_RUNS[name], seed, data, iterations=config.iterations
                )
                train_acc.append(run_.train_accuracy)
                test_acc.append(run_.test_accuracy)
            else:
                result = train_cats(config.replace(seed=seed), data.x_train, data.y_train)
                train_acc.append(result.accuracy(data.x_train, data.y_train))
                test_acc.append(result.accuracy(data.x_test, data.y_test))
            seconds.append(time.perf_counter() - start)
        rows.append(
            {
                "run": name,
                "configuration": config.describe()
                + (f", {article.ARTICLE_DTYPE}" if name in ARTICLE_RUNS else ""),
                "seeds": list(args.seeds),
                "train_accuracy": train_acc,
                "test_accuracy": test_acc,
                "seconds": seconds,
            }
        )
    lines = [
        "| run | configuration | seeds | train acc | test acc | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['configuration']} | {','.join(map(str, r['seeds']))} | "
            f"{_cell(r['train_accuracy'])} | {_cell(r['test_accuracy'])} | "
            f"{_cell(r['seconds'], 1)} |"
        )
    table = "\n".join(lines)
    note = (
        f"Measured {date.today().isoformat()}; mean (min–max) over the seeds; seconds per "
        "training run on this machine."
    )
    print(table)
    print()
    print(note)
    if args.out is not None:
        args.out.write_text(table + "\n\n" + note + "\n")
    if args.json:
        c.print_json({"rows": rows})
    return 0


def _other_data(spec, kind_of) -> bool:
    """Whether ``spec`` names an image folder or a table (not the cat data)."""
    from nnscratch.base.errors import DataError

    try:
        return kind_of(spec) != "cats"
    except DataError:
        return False  # the cat reader says what the cat data need
