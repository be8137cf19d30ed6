"""Test accuracy on the cat data for the training toolkit's options, over seeds 0-4.

    python benchmarks/training_table.py [--data DIR] [--seeds 0 1 2 3 4]

Trains the article's [12288, 20, 7, 5, 1] ReLU network (He initialisation, float32) on the 209
training images, flattened and divided by 255 (no standardisation), and prints a Markdown table
of test accuracy (50 images) and train accuracy: mean, standard deviation (ddof=0) and min-max
over the seeds. Each seed seeds both the network's weights and fit's randomness (shuffles,
dropout masks). Hyperparameters were fixed in advance, not tuned on the test set:

    plain GD           full batch, learning rate 0.0075, 2500 iterations (the article's)
    Adam               mini-batches of 32, learning rate 0.001, 100 epochs (700 updates)
    Adam + L2          as Adam, lambda = 0.7 (the course's value)
    Adam + dropout     as Adam, keep probability 0.86 in every hidden layer (the course's)
    Adam + batch norm  as Adam, batch norm before each hidden activation

Runs in about 2-3 minutes on one core (set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from nnscratch import Network
from nnscratch.data.cats import load_cats

LAYERS = [12288, 20, 7, 5, 1]
ADAM = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 100}

#: name -> (Network keywords, fit keywords)
CONFIGS: dict[str, tuple[dict, dict]] = {
    "plain GD": ({}, {"learning_rate": 0.0075, "iterations": 2500}),
    "Adam": ({}, ADAM),
    "Adam + L2 (0.7)": ({}, {**ADAM, "l2": 0.7}),
    "Adam + dropout (keep 0.86)": ({"dropout": 0.86}, ADAM),
    "Adam + batch norm": ({"batch_norm": True}, ADAM),
}


def default_data_dir() -> str | None:
    for candidate in (
        os.environ.get("NNSCRATCH_TEST_DATA"),
        Path(__file__).resolve().parents[2] / "shared" / "data",
    ):
        if candidate and (Path(candidate) / "train_catvnoncat.h5").is_file():
            return str(candidate)
    return None  # load_cats then uses $NNSCRATCH_DATA or the cache


def stats(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{a.mean():.3f} ± {a.std():.3f} ({a.min():.2f}-{a.max():.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir(), help="directory of the h5 files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    data = load_cats(args.data, progress=False)
    X = data.x_train.reshape(len(data.x_train), -1).astype(np.float32) / 255
    X_test = data.x_test.reshape(len(data.x_test), -1).astype(np.float32) / 255

    rows = []
    for name, (net_kwargs, fit_kwargs) in CONFIGS.items():
        test, train, seconds = [], [], []
        for seed in args.seeds:
            net = Network(LAYERS, seed=seed, **net_kwargs)
            start = time.perf_counter()
            net.fit(X, data.y_train, seed=seed, eval_train=False, **fit_kwargs)
            seconds.append(time.perf_counter() - start)
            test.append(net.accuracy(X_test, data.y_test))
            train.append(net.accuracy(X, data.y_train))
        rows.append((name, stats(test), stats(train), f"{np.mean(seconds):.1f}"))

    print(f"Cat data, {LAYERS} ReLU network, inputs /255, seeds {args.seeds}\n")
    print("| training | test accuracy: mean ± std (min-max) | train accuracy | s/run |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
