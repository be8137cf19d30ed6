"""``nnscratch experiments``: re-run the article's runs, the reference network and the default
recipe on the cat data, and print a Markdown table of their accuracies and times.

    | run | configuration | seeds | train acc | test acc | seconds |

The article trains [12288, 5, 5, 1] with tanh and with ReLU hidden layers (learning rate 0.03,
3000 iterations, weights drawn from N(0, 1) * 0.01); the common reference is the 4-layer
[12288, 20, 7, 5, 1] ReLU network (learning rate 0.0075, 2500 iterations, weights
N(0, 1) / sqrt(n_prev)). Both use plain gradient descent on pixels scaled to [0, 1].
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
from nnscratch.base.validation import check_positive


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
    }


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
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the table here")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line")
    return parser


def _cell(values: list[float], digits: int = 2) -> str:
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def run(args: argparse.Namespace) -> int:
    from nnscratch.app.recipe import train_cats
    from nnscratch.base.errors import UsageError
    from nnscratch.data.cats import load_cats
    from nnscratch.data.source import kind_of

    if args.data is not None and _other_data(args.data, kind_of):
        raise UsageError(
            f"experiments compares the cat recipes on the cat data; --data {args.data} is "
            "other data: train on it with `nnscratch train --data` (docs/data.md)"
        )
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
            result = train_cats(config.replace(seed=seed), data.x_train, data.y_train)
            seconds.append(time.perf_counter() - start)
            train_acc.append(result.accuracy(data.x_train, data.y_train))
            test_acc.append(result.accuracy(data.x_test, data.y_test))
        rows.append(
            {
                "run": name,
                "configuration": config.describe(),
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
