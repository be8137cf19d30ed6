"""``nnscratch evaluate MODEL``: accuracy, precision, recall, F1 and the confusion matrix of a
saved model on the cat data's test (or train) images."""

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
        help="accuracy, precision, recall, F1 and confusion matrix of a saved model",
        description="Evaluate a model file written by `nnscratch train` on the cat data.",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.npz)")
    c.add_data_option(parser)
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
