"""Choose the default ``nnscratch train`` recipe by cross-validation on the training images.

    OMP_NUM_THREADS=1 python benchmarks/select_recipe.py [--data DIR] [--folds 5] [--json F]

Only the 209 training images are used; the test images are never loaded into the selection.
Each candidate (a ``TrainConfig``) is trained on 4/5 of the training images and scored on the
remaining 1/5, for each of 5 stratified folds. Every candidate is an ensemble of ``--members``
networks; probabilities on the held-out fold are recorded at several iteration counts
(checkpoints) during one training run, so one run scores a candidate at every checkpoint, both
as a single network (the mean score of the members) and as the ensemble (the score of the
members' mean probability).

Scores per fold, averaged over folds:

- accuracy at threshold 0.5;
- balanced accuracy, the mean of the recall of each class: the training images are 34% cats,
  and a classifier should not be rewarded for leaning towards the more common class;
- ROC AUC (threshold-free) and log-loss.

The rule, fixed before running: the recipe is the (candidate, checkpoint) with the highest
mean balanced accuracy of the ensemble; ties within 0.005 go to the higher AUC. Its test
accuracy is measured afterwards, once, by ``nnscratch experiments``.

Result (2026-11-26, the table in the README): "reference GD, balanced" at 2000 iterations,
CV balanced accuracy 0.698, which became ``TrainConfig``'s defaults. The whole run takes about
an hour on one shared core; ``--only NAME`` runs single candidates (e.g. in parallel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from nnscratch.app.recipe import TrainConfig, balance_with_mirrors
from nnscratch.data.cats import load_cats
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.train.callbacks import Callback

#: The reference network of the course, trained as it is (for comparison).
REFERENCE = TrainConfig(
    layers=(20, 7, 5),
    init="sqrt_n_prev",
    optimizer="gd",
    learning_rate=0.0075,
    iterations=2500,
    standardize=False,
    balance=False,
    ensemble=1,
    l2=0.0,
)
#: Standardised inputs, He init, Adam: the base of the other candidates.
ADAM = TrainConfig(
    layers=(20, 7, 5),
    init="he",
    optimizer="adam",
    learning_rate=1e-4,
    iterations=800,
    standardize=True,
    balance=False,
    ensemble=1,
    l2=0.0,
)

ADAM_CHECKPOINTS = (100, 200, 400, 600, 800)

#: name -> (config, checkpoints)
CANDIDATES: dict[str, tuple[TrainConfig, tuple[int, ...]]] = {
    "reference GD": (REFERENCE, (500, 1000, 1500, 2000, 2500)),
    "reference GD, balanced": (REFERENCE.replace(balance=True), (500, 1000, 1500, 2000, 2500)),
    "Adam, L2 20": (ADAM.replace(l2=20.0), ADAM_CHECKPOINTS),
    "Adam, balanced": (ADAM.replace(balance=True), ADAM_CHECKPOINTS),
    "Adam, L2 5, balanced": (ADAM.replace(l2=5.0, balance=True), ADAM_CHECKPOINTS),
    "Adam, L2 20, balanced": (ADAM.replace(l2=20.0, balance=True), ADAM_CHECKPOINTS),
    "Adam, L2 50, balanced": (ADAM.replace(l2=50.0, balance=True), ADAM_CHECKPOINTS),
    "Adam, L2 20, balanced, flips": (
        ADAM.replace(l2=20.0, balance=True, flip=True),
        ADAM_CHECKPOINTS,
    ),
    "Adam, L2 20, balanced, dropout 0.8": (
        ADAM.replace(l2=20.0, balance=True, dropout=0.8),
        ADAM_CHECKPOINTS,
    ),
}


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """fold[i] in 0..k-1 for each sample, each class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.shape[0], dtype=np.int64)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(idx.size) % k
    return fold


def scores(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(accuracy, balanced accuracy, ROC AUC, log-loss) of probabilities p for labels y."""
    pred = p >= 0.5
    acc = np.mean(pred == y)
    balanced = 0.5 * (np.mean(pred[y == 1]) + np.mean(~pred[y == 0]))
    pos, neg = p[y == 1], p[y == 0]
    auc = (np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])) / (
        pos.size * neg.size
    )
    q = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    logloss = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    return np.array([acc, balanced, auc, logloss])


class Probe(Callback):
    """Records the validation probabilities of each member at the checkpoints."""

    def __init__(self, X_val: np.ndarray, checkpoints: tuple[int, ...]):
        self.X_val, self.checkpoints = X_val, set(checkpoints)
        self.member = -1
        self.proba: dict[int, list[np.ndarray]] = {}  # checkpoint -> per member

    def on_train_begin(self, net, history):
        self.member += 1

    def on_iteration_end(self, net, iteration, cost, history):
        if iteration in self.checkpoints:
            self.proba.setdefault(iteration, []).append(net.predict_proba(self.X_val))


@dataclass
class Row:
    candidate: str
    iterations: int
    single: np.ndarray  # mean over folds of the members' mean scores
    ensemble: np.ndarray  # mean over folds of the ensemble's scores
    ensemble_std: np.ndarray  # std over folds


def evaluate(name, config, checkpoints, x, y, folds, members) -> list[Row]:
    config = config.replace(ensemble=members, iterations=max(checkpoints))
    per_ckpt: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in checkpoints}
    for k in range(folds.max() + 1):
        train, val = folds != k, folds == k
        x_tr, y_tr = x[train], y[train]
        pre = ImagePreprocessor(standardize=config.standardize).fit(x_tr)
        if config.balance:
            x_tr, y_tr = balance_with_mirrors(x_tr, y_tr, seed=config.seed)
        X_tr, X_val = pre.transform(x_tr), pre.transform(x[val])
        probe = Probe(X_val, checkpoints)
        model = config.build_model(X_tr.shape[1])
        model.fit(X_tr, y_tr, callbacks=[probe], **config.fit_kwargs(image_shape=x.shape[1:]))
        for c, probas in probe.proba.items():
            single = np.mean([scores(p, y[val]) for p in probas], axis=0)
            ens = scores(np.mean(probas, axis=0), y[val])
            per_ckpt[c].append((single, ens))
    rows = []
    for c, results in per_ckpt.items():
        singles = np.array([r[0] for r in results])
        ens = np.array([r[1] for r in results])
        rows.append(Row(name, c, singles.mean(0), ens.mean(0), ens.std(0)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="directory of the cat data (default: as load_cats)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--members", type=int, default=5, help="networks per ensemble")
    parser.add_argument("--only", action="append", help="candidate names to run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    data = load_cats(args.data)
    x, y = data.x_train, data.y_train  # the selection never sees data.x_test / data.y_test
    del data
    folds = stratified_folds(y, args.folds)
    rows: list[Row] = []
    for name, (config, checkpoints) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        new = evaluate(name, config, checkpoints, x, y, folds, args.members)
        rows += new
        best = max(new, key=lambda r: r.ensemble[1])
        print(
            f"{name}: best balanced accuracy {best.ensemble[1]:.3f} at {best.iterations} it "
            f"({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    print(
        f"| candidate ({args.members}-network ensemble) | iterations | CV accuracy "
        "(single) | CV accuracy | CV balanced accuracy | CV AUC | CV log-loss |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        e, s, sd = r.ensemble, r.single, r.ensemble_std
        print(
            f"| {r.candidate} | {r.iterations} | {s[0]:.3f} | {e[0]:.3f} | "
            f"{e[1]:.3f} ± {sd[1]:.3f} | {e[2]:.3f} | {e[3]:.3f} |"
        )
    best = max(rows, key=lambda r: (round(r.ensemble[1] / 0.005), r.ensemble[2]))
    print(
        f"\nChosen: {best.candidate} at {best.iterations} iterations "
        f"(CV balanced accuracy {best.ensemble[1]:.3f}, AUC {best.ensemble[2]:.3f})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [
                    {
                        "candidate": r.candidate,
                        "iterations": r.iterations,
                        "single": r.single.tolist(),
                        "ensemble": r.ensemble.tolist(),
                        "ensemble_std": r.ensemble_std.tolist(),
                        "metrics": ["accuracy", "balanced_accuracy", "auc", "log_loss"],
                    }
                    for r in rows
                ],
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
