"""Choose the cat CNN recipe by k-fold cross-validation on the 209 training images only.

    OMP_NUM_THREADS=1 python benchmarks/select_cnn.py                 # every candidate
    OMP_NUM_THREADS=1 python benchmarks/select_cnn.py --only bn,base   # some of them
    python benchmarks/select_cnn.py --report                           # table of what is done
    OMP_NUM_THREADS=1 python benchmarks/select_cnn.py --test NAME      # the chosen one's test
                                                                         accuracy, seeds 0,1,2

Each candidate (an architecture string, ``fit`` options, optionally an ensemble size) is
trained on k-1 folds and scored on the held-out fold, for every fold of ``--repeats`` different
stratified k-fold splits (default 3 folds x 2 repeats = 6 fits; split r uses shuffle seed r,
fit i of it network and fit seed 10 r + i). Each trained model is scored twice, plain and with
``flip_average`` (candidate "<name>+tta"). The test images are never loaded while selecting.

Rule, fixed before any run: the highest mean cross-validated accuracy wins; a candidate within
half a held-out image's worth of it (0.5 / 70 = 0.7 points) is a tie, settled by the lower mean
cross-validated cost (the log-loss of the predicted probabilities). One JSON line per candidate
is appended to ``--out`` as it finishes, so an interrupted run resumes where it stopped.

Then, and only then, ``--test NAME`` trains the chosen recipe on all 209 training images with
seeds 0, 1, 2 and reports its accuracy on the 50 test images.

The rule chose ``ens3_bn_shift_drop`` (3 networks, averaged). The recipe,
``nnscratch.models.conv.CAT_RECIPE``, is ``RECIPE`` = ``bn_shift_drop+tta``, one of those
networks with flip averaging: the same cross-validated accuracy (91.4%, a tie that the rule
settles by the ensemble's lower cost), a third of the training time (issue 16 asks for at
most a minute a seed). The report marks both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "select_cnn.jsonl"

# 3 blocks of 3x3 conv, ReLU and 2x2 max pooling, then a global average and one hidden layer:
# the reference PyTorch model of the issue; then with batch norm, wider, deeper.
B3 = "conv16x3-relu-pool2-conv32x3-relu-pool2-conv64x3-relu-pool2-gap-dense64-relu"
B3_BN = "conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-conv64x3-bn-relu-pool2-gap-dense64-relu"
W3_BN = "conv32x3-bn-relu-pool2-conv64x3-bn-relu-pool2-conv128x3-bn-relu-pool2-gap-dense64-relu"
B4_BN = (
    "conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-conv64x3-bn-relu-pool2-conv128x3-bn-relu-pool2"
    "-gap-dense64-relu"
)
ADAM = {"optimizer": "adam", "batch_size": 32, "augment_flip": True}
COSINE = {**ADAM, "lr_schedule": "cosine", "learning_rate": 2e-3}


def candidate(architecture: str, **fit) -> dict:
    return {"architecture": architecture, "fit": fit}


#: name -> architecture and ``fit`` options. Every candidate trains with mini-batches of 32,
#: Adam and random horizontal flips; "shift4-" adds random translations of up to 4 pixels.
#: Each trained network is scored twice, plain and with ``flip_average`` (the mean of the
#: logits of an image and its mirror image): the second is the candidate "<name>+tta".
CANDIDATES: dict[str, dict] = {
    "bn_shift": candidate("shift4-" + B3_BN, **COSINE, epochs=80),
    "base": candidate(B3, **ADAM, learning_rate=1e-3, epochs=60),
    "bn": candidate(B3_BN, **COSINE, epochs=60),
    "bn_shift_drop": candidate("shift4-" + B3_BN + "-dropout0.5", **COSINE, epochs=80),
    "wide_bn_shift": candidate("shift4-" + W3_BN, **COSINE, epochs=80),
    "bn4_shift": candidate("shift4-" + B4_BN, **COSINE, epochs=80),
    "base_cos": candidate(B3, **COSINE, epochs=60),
    # after the first eight: the leader as the mean of 3 networks of independent seeds
    "ens3_bn_shift_drop": {
        "architecture": "shift4-" + B3_BN + "-dropout0.5",
        "fit": {**COSINE, "epochs": 80},
        "ensemble": 3,
    },
    "bn_shift_wd": candidate(
        "shift4-" + B3_BN,
        **{**COSINE, "optimizer": "adamw"},
        epochs=80,
        optimizer_options={"weight_decay": 0.05},
    ),
}
TIE = 0.5 / 70  # half an image of a held-out fold of ~70
#: the candidate that nnscratch.models.conv.CAT_RECIPE is (see the module docstring)
RECIPE = "bn_shift_drop+tta"


def load(split: str):
    from perf_common import data_dir

    from nnscratch.data.cats import load_cats

    directory = data_dir()
    if directory is None:
        sys.exit("the cat data files are not found (set NNSCRATCH_DATA)")
    data = load_cats(directory, download=False, progress=False)
    if split == "train":
        return data.x_train.astype(np.float32) / np.float32(255), data.y_train
    return (
        data.x_train.astype(np.float32) / np.float32(255),
        data.y_train,
        data.x_test.astype(np.float32) / np.float32(255),
        data.y_test,
    )


def train(recipe: dict, X, y, seed: int):
    """A ConvNetwork of ``recipe`` (or, with "ensemble": k, an Ensemble of k of them) trained
    on (X, y) with network and fit seed ``seed``."""
    from nnscratch.models.conv import ConvNetwork
    from nnscratch.models.ensemble import Ensemble

    kwargs = {"input_shape": X.shape[1:], **recipe.get("network", {})}
    k = recipe.get("ensemble", 1)
    if k > 1:
        model = Ensemble.of(
            k, seed=seed, network_class=ConvNetwork, architecture=recipe["architecture"], **kwargs
        )
    else:
        model = ConvNetwork(recipe["architecture"], seed=seed, **kwargs)
    model.fit(X, y, seed=seed, eval_train=False, **recipe["fit"])
    return model


def score(model, X, y, flip_average: bool) -> tuple[float, float]:
    """(accuracy, log-loss) of a trained network or ensemble on (X, y)."""
    for net in getattr(model, "members", [model]):
        net.flip_average = flip_average
    p = np.clip(np.asarray(model.predict_proba(X), dtype=np.float64), 1e-7, 1 - 1e-7)
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    return accuracy, float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def cross_validate(name: str, folds: int, repeats: int, X, y) -> list[dict]:
    """Rows for ``name`` and ``name+tta`` (the same networks, scored with flip averaging)."""
    from sklearn.model_selection import StratifiedKFold

    recipe = CANDIDATES[name]
    scores: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    start = time.perf_counter()
    for r in range(repeats):
        splits = StratifiedKFold(folds, shuffle=True, random_state=r).split(X, y)
        for i, (tr, va) in enumerate(splits):
            model = train(recipe, X[tr], y[tr], seed=10 * r + i)
            for tta, (accs, costs) in scores.items():
                accuracy, cost = score(model, X[va], y[va], tta)
                accs.append(accuracy)
                costs.append(cost)
    seconds = round(time.perf_counter() - start, 1)
    rows = []
    for tta, (accs, costs) in scores.items():
        network = {**recipe.get("network", {}), **({"flip_average": True} if tta else {})}
        rows.append(
            {
                "name": name + ("+tta" if tta else ""),
                "architecture": recipe["architecture"],
                "network": network,
                "ensemble": recipe.get("ensemble", 1),
                "fit": recipe["fit"],
                "folds": folds,
                "repeats": repeats,
                "cv_accuracy": float(np.mean(accs)),
                "cv_cost": float(np.mean(costs)),
                "fold_accuracies": [round(float(a), 4) for a in accs],
                "seconds": seconds,
            }
        )
    return rows


def read_results(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    results = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            results[row["name"]] = row
    return results


def choose(results: dict[str, dict]) -> str:
    """The rule of the module docstring."""
    best = max(r["cv_accuracy"] for r in results.values())
    tied = [r for r in results.values() if r["cv_accuracy"] >= best - TIE]
    return min(tied, key=lambda r: r["cv_cost"])["name"]


def report(results: dict[str, dict]) -> str:
    chosen = choose(results)
    lines = [
        "| candidate | architecture | options | CV accuracy | CV cost | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(results.values(), key=lambda r: (-r["cv_accuracy"], r["cv_cost"])):
        common = ("augment_flip", "optimizer", "batch_size")  # the same for all
        opts = {k: v for k, v in r["fit"].items() if k not in common}
        opts.update(r["network"])
        if r.get("ensemble", 1) > 1:
            opts["ensemble"] = r["ensemble"]
        marks = [m for m, name in (("rule's choice", chosen), ("CAT_RECIPE", RECIPE))
                 if r["name"] == name]  # fmt: skip
        mark = f" ({', '.join(marks)})" if marks else ""
        lines.append(
            f"| {r['name']}{mark} | {r['architecture']} | {json.dumps(opts)} | "
            f"{100 * r['cv_accuracy']:.1f}% | {r['cv_cost']:.3f} | {r['seconds']:.0f} |"
        )
    folds, repeats = next(iter(results.values()))["folds"], next(iter(results.values()))["repeats"]
    lines.append(f"\n{folds}-fold cross-validation x {repeats} repeats on the 209 training images.")
    return "\n".join(lines)


def recipe_of(name: str) -> dict:
    """The recipe of a candidate name ("bn_shift", or "bn_shift+tta" with flip averaging)."""
    base, _, tta = name.partition("+")
    if base not in CANDIDATES or tta not in ("", "tta"):
        known = ", ".join(f"{n}, {n}+tta" for n in CANDIDATES)
        raise SystemExit(f"unknown candidate {name!r}; known: {known}")
    recipe = CANDIDATES[base]
    if tta:
        recipe = {**recipe, "network": {**recipe.get("network", {}), "flip_average": True}}
    return recipe


def test(name: str, seeds=(0, 1, 2)) -> None:
    X, y, X_test, y_test = load("test")
    recipe = recipe_of(name)
    accs = []
    for seed in seeds:
        start = time.perf_counter()
        model = train(recipe, X, y, seed=seed)
        accs.append(model.accuracy(X_test, y_test))
        print(
            f"seed {seed}: train {model.accuracy(X, y):.3f}, test {accs[-1]:.3f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print(f"{name}: mean test accuracy {100 * np.mean(accs):.1f}% over seeds {list(seeds)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None, help="comma-separated candidate names")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines of results")
    parser.add_argument("--report", action="store_true", help="print the table and stop")
    parser.add_argument("--test", metavar="NAME", help="test accuracy of NAME, seeds 0, 1, 2")
    args = parser.parse_args(argv)
    if args.test:
        test(args.test)
        return 0
    results = read_results(args.out)
    if not args.report:
        names = args.only.split(",") if args.only else list(CANDIDATES)
        unknown = sorted(set(names) - set(CANDIDATES))
        if unknown:
            parser.error(f"unknown candidate(s) {unknown}; known: {', '.join(CANDIDATES)}")
        X, y = load("train")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in results:
                continue
            for row in cross_validate(name, args.folds, args.repeats, X, y):
                results[row["name"]] = row
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    if results:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
