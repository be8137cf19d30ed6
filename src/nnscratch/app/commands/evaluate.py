"""``nnscratch evaluate MODEL``: accuracy, per-class precision, recall, F1 and the confusion
matrix of a saved classifier, or R2, MAE and RMSE of a regression, on ``--data`` of the kind
the model takes: the cat data's test (or train) images for the cat classifier, an image folder
for an image model, a table for a table model. On the folder or table a model was trained on
without a test split, the held-out test split of training is evaluated again (``--split
train``: the rest); on other data, all of it (or its test/ folder)."""

from __future__ import annotations

import argparse

import numpy as np

from nnscratch.app.commands import _common as c


def binary_metrics(y_true, y_pred) -> dict:
    """Accuracy, precision, recall and F1 of the positive class (label 1), and the confusion
    matrix ``[[TN, FP], [FN, TP]]`` (rows: true label, columns: predicted label).

    Precision (recall) is 0 when nothing is predicted (present) positive, as scikit-learn's
    ``zero_division=0``."""
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape} vs {y_pred.shape}")
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    tn = int(np.sum((y_true == 0) & (y_pred == 0)))
    fp = int(np.sum((y_true == 0) & (y_pred == 1)))
    fn = int(np.sum((y_true == 1) & (y_pred == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": int(y_true.size),
        "accuracy": (tp + tn) / y_true.size if y_true.size else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def format_confusion(matrix, classes) -> str:
    names = [str(n) for n in classes]
    width = max(len(n) for n in names + ["true \\ pred"]) + 2
    lines = ["true \\ pred".ljust(width) + "".join(n.rjust(width) for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(name.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy, precision, recall, F1 and confusion matrix (or R2) of a saved model",
        description="Evaluate a model file written by `nnscratch train` on --data of the kind "
        "it takes (the cat data for the cat classifier).",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.npz)")
    c.add_data_option(parser, reading="evaluate")
    parser.add_argument(
        "--split", choices=("test", "train"), default="test", help="which images (default test)"
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON line")
    return parser


def run(args: argparse.Namespace) -> int:
    from nnscratch.base.errors import ModelFileError
    from nnscratch.data.cats import load_cats
    from nnscratch.persist import modelfile as io

    model = io.load(args.model)
    if model.data is not None or (args.data is not None and _kind(args.data) != "cats"):
        return _evaluate_other(args, model)
    if model.preprocessor is None:
        raise ModelFileError(
            f"{args.model} holds no image preprocessor; evaluate needs a model saved by "
            "`nnscratch train` or nnscratch.save(..., preprocessor=...)"
        )
    data = load_cats(args.data)
    images, labels = (
        (data.x_test, data.y_test) if args.split == "test" else (data.x_train, data.y_train)
    )
    if tuple(images.shape[1:]) != model.input_shape:
        raise ModelFileError(
            f"{args.model} takes inputs of shape {model.input_shape}; the cat images are "
            f"{tuple(images.shape[1:])}"
        )
    classes = model.classes or data.classes
    metrics = binary_metrics(labels, model.predict(images))
    metrics.update({"model": str(args.model), "split": args.split, "classes": list(classes)})
    print(f"{args.model} on the {args.split} set ({metrics['n']} images)")
    print(f"accuracy   {metrics['accuracy']:.4f}")
    print(f"precision  {metrics['precision']:.4f}   (of images called {classes[1]!r})")
    print(f"recall     {metrics['recall']:.4f}   (of true {classes[1]!r} images)")
    print(f"F1         {metrics['f1']:.4f}")
    print("confusion matrix:")
    print(format_confusion(metrics["confusion_matrix"], classes))
    if args.json:
        c.print_json(metrics)
    return 0


# ---- models of image folders and tables -----------------------------------------------------


def _kind(spec) -> str:
    from nnscratch.data.source import kind_of

    return kind_of(spec)


def _same_source(model, spec: str) -> dict | None:
    from pathlib import Path

    split = (model.data or {}).get("split")
    if isinstance(split, dict) and split.get("source") == str(Path(spec).resolve()):
        return split
    return None


def _evaluate_other(args, model) -> int:
    """Evaluate an image-folder or table model (or the cat classifier on an image folder)."""
    from nnscratch.app.recipes_any import hold_out
    from nnscratch.app.scores import print_scores, scores_of
    from nnscratch.base.errors import ModelFileError, UsageError
    from nnscratch.data.source import Dataset, load_data

    wants = model.input_kind
    if args.data is None:
        raise UsageError(
            f"{args.model} takes {'images' if wants == 'images' else 'table rows'} of its own "
            "data; name them with --data (the cat data are used only for the cat classifier)"
        )
    kind = _kind(args.data)
    if {"cats": "images"}.get(kind, kind) != wants:
        raise UsageError(f"{args.model} takes {wants}; --data {args.data} is {kind} data")
    if wants == "images" and (model.preprocessor is None or len(model.input_shape) != 3):
        raise ModelFileError(f"{args.model} holds no image preprocessor for image inputs")
    desc = model.data or {"task": model.task, "color": "rgb"}
    options = c.data_options(args)
    if wants == "images":
        h, w, _ = model.input_shape
        options = _replace(options, image_size=(h, w), color=desc.get("color", "rgb"))
        data = load_data(args.data, options)
        if model.classes and data.classes != tuple(model.classes):
            _relabel(args, data, tuple(model.classes))
    else:
        options = _replace(options, target=args.target or desc.get("target"), task=model.task)
        data = _table_for_model(args, model, options)
    c.print_skipped("evaluate", data.refused)
    where = f"the {args.split} set of {args.data}"
    if data.x_test is None:
        split = _same_source(model, args.data)
        if split is not None:
            hold_out(data, split["test_fraction"], split["seed"])
            where = f"the {args.split} split held out in training ({args.data})"
        else:
            data.x_test, data.y_test = data.x_train, data.y_train
            where = f"all of {args.data}"
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_train, data.y_train)
    assert isinstance(data, Dataset) and y is not None
    classes = tuple(model.classes or data.classes or ())
    pred = model.predict(x)
    scores = scores_of(model.task, y, pred, classes)
    scores.update({"model": str(args.model), "split": args.split, "task": model.task})
    if model.task == "classification":
        scores["classes"] = list(classes)
    print(f"{args.model} on {where} ({scores['n']} examples, {model.task})")
    print_scores(model.task, scores, classes)
    if args.json:
        c.print_json(scores)
    return 0


def _relabel(args, data, classes: tuple[str, ...]) -> None:
    """The folder's labels in the model's class order, when the folder's classes are among the
    model's (the cat classifier's ("non-cat", "cat") and the sorted folders cat/, non-cat/;
    a test folder holding some of a model's classes); else DataError naming both."""
    from nnscratch.base.errors import DataError

    if not set(data.classes or ()) <= set(classes):
        raise DataError(
            f"--data {args.data} has the classes {list(data.classes or ())}; the model knows "
            f"{list(classes)}"
        )
    lookup = np.array([classes.index(name) for name in data.classes], dtype=np.int64)
    data.y_train = lookup[data.y_train]
    if data.y_test is not None:
        data.y_test = lookup[data.y_test]
    data.classes = classes


def _replace(options, **changes):
    from dataclasses import replace

    return replace(options, **changes)


def _table_for_model(args, model, options):
    """The table of --data in the model's terms: its feature columns, its target encoded by
    the model's classes."""
    from nnscratch.base.errors import DataError
    from nnscratch.data.source import Dataset, read_table_inputs
    from nnscratch.data.tables import TargetColumn

    target = options.target
    features, y_col, table = read_table_inputs(args.data, model.data["columns"], target)
    if y_col is None:
        raise DataError(f"--data {args.data} has no target column {target!r} to score against")
    known = TargetColumn(target, model.task, np.empty(0), tuple(model.classes or ()), "model")
    y = known.encode(y_col, table)
    return Dataset("table", str(args.data), features, y, classes=model.classes, task=model.task)
