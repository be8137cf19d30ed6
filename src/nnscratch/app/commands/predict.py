"""``nnscratch predict MODEL INPUT...``: the model's prediction for each image file, or for
each row of CSV (or other table) files.

An image model (the cat classifier, or one trained on an image folder) takes image files (JPEG,
PNG, ...), each read by ``nnscratch.data.images`` in the model's colour mode, resized to its
input size and passed through its saved preprocessor; it prints the class and the probability
of every class (any number of classes). A file that cannot be read is reported by name on
stderr and the others are still classified; the exit status is then 1. A table model takes
table files whose columns include the model's feature columns (by name; a headerless file by
position) and prints one prediction per row; ``--out FILE.csv`` writes them. A regression
model prints values, never probabilities.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from nnscratch.app.commands import _common as c


def read_image(path: str, size: tuple[int, int], color: str = "rgb") -> np.ndarray:
    """One image file as (H, W, C) uint8 resized to ``size`` = (H, W), by the library's one
    reader (``nnscratch.data.images``: EXIF orientation applied, 16-bit and float images
    rescaled, transparency on white); C = 3 for "rgb", 1 for "grayscale".

    Raises DataError naming the file when it is missing, not a regular file, not an image,
    truncated, or declares too many pixels; it never blocks on a FIFO."""
    from nnscratch.data.images import read_image as read

    return read(path, size, color=color)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="predict with a saved model: image files, or the rows of CSV files",
        description="Print the prediction for each image file (JPEG, PNG, ...) of an image "
        "model, or for each row of the table files (CSV, ...) of a table model.",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.npz)")
    parser.add_argument(
        "inputs", metavar="INPUT", nargs="+", help="image files, or table files for a table model"
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    parser.add_argument(
        "--out", metavar="FILE.csv", type=Path, help="also write the predictions to a CSV file"
    )
    return parser


def _class_names(model) -> tuple[str, ...]:
    n_out = int(getattr(model.network, "n_outputs", 1) or 1)
    if model.classes:
        return tuple(model.classes)
    return ("0", "1") if n_out == 1 else tuple(str(k) for k in range(n_out))


def _probabilities(model, proba: np.ndarray) -> np.ndarray:
    """(m, K) class probabilities from ``predict_proba``'s (m,) (one sigmoid unit) or (m, K)."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.stack([1 - proba, proba], axis=1) if proba.ndim == 1 else proba


def _results(model, raw) -> list[dict]:
    """One dict per example of raw inputs: the label and per-class probabilities, or the
    value of a regression."""
    if model.task == "regression":
        values = np.asarray(model.predict(raw), dtype=np.float64).reshape(len(raw), -1)
        return [{"value": float(v[0]) if v.size == 1 else v.tolist()} for v in values]
    classes = _class_names(model)
    P = _probabilities(model, model.predict_proba(raw))
    labels = np.asarray(model.predict(raw)).astype(np.int64).reshape(-1)  # the decision rule
    if P.shape[1] != len(classes):
        from nnscratch.base.errors import ModelFileError

        raise ModelFileError(
            f"the model has {P.shape[1]} outputs but names {len(classes)} classes {classes}"
        )
    out = []
    for label, p in zip(labels, P, strict=True):
        row: dict[str, object] = {
            "label": classes[label],
            "probabilities": dict(zip(classes, map(float, p), strict=True)),
        }
        if len(classes) == 2:
            row["probability"] = float(p[1])
        out.append(row)
    return out


#: The most classes a text line lists (most probable first); --json gives every class.
SHOWN_CLASSES = 20


def _describe(result: dict, classes) -> str:
    if "value" in result:
        return f"{result['value']:.6g}"
    if "probability" in result:
        return f"{result['label']} (probability of {classes[1]!r}: {result['probability']:.4f})"
    ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {p:.4f}" for name, p in ranked[:SHOWN_CLASSES])
    if len(ranked) > SHOWN_CLASSES:
        shown += f", ... ({len(ranked) - SHOWN_CLASSES} more with --json)"
    return f"{result['label']} (probabilities: {shown})"


def _predict_images(args, model) -> tuple[list[dict], int]:
    from nnscratch.base.errors import DataError, ModelFileError

    shape = model.input_shape
    color = (model.data or {}).get("color", "rgb")
    channels = 1 if color == "grayscale" else 3
    if model.preprocessor is None or len(shape) != 3 or shape[2] != channels:
        raise ModelFileError(
            f"{args.model} does not take {color} images (its input shape is {shape}); predict "
            "needs a model saved by `nnscratch train`"
        )
    classes = _class_names(model)
    results, failed = [], 0
    for path in args.inputs:
        try:
            image = read_image(path, shape[:2], color)
        except DataError as err:
            print(f"nnscratch predict: error: {err}", file=sys.stderr)
            failed += 1
            continue
        result = {"image": path, **_results(model, image[None])[0]}
        results.append(result)
        print(f"{path}: {_describe(result, classes)}", flush=True)
    return results, failed


def _predict_rows(args, model) -> tuple[list[dict], int]:
    from nnscratch.data.source import read_table_inputs

    columns = model.data["columns"]
    classes = _class_names(model) if model.task == "classification" else None
    results = []
    for path in args.inputs:
        features, _, table = read_table_inputs(path, columns, model.data.get("target"))
        for k, result in enumerate(_results(model, features)):
            row = {"file": path, "line": table.line(k), **result}
            results.append(row)
            print(f"{path}:{row['line']}: {_describe(result, classes)}", flush=True)
    return results, 0


def _write_csv(path: Path, results: list[dict]) -> None:
    """The predictions as CSV (one row each; probabilities as p_<class> columns), atomically."""
    import io

    from nnscratch.base.atomic import atomic_write

    names = [k for k in results[0] if k != "probabilities"] if results else []
    classes = list(results[0].get("probabilities", {})) if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*names, *(f"p_{name}" for name in classes)])
    for r in results:
        writer.writerow([r[k] for k in names] + [r["probabilities"][n] for n in classes])
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))


def run(args: argparse.Namespace) -> int:
    from nnscratch.persist import modelfile as io

    if args.out is not None:
        from nnscratch.base.atomic import check_not_an_input

        check_not_an_input(args.out, [args.model, *args.inputs])
    model = io.load(args.model)
    predict = _predict_rows if model.input_kind == "table" else _predict_images
    results, failed = predict(args, model)
    if args.out is not None:
        _write_csv(args.out, results)
        print(f"wrote {len(results)} predictions to {args.out}")
    if args.json:
        c.print_json({"model": str(args.model), "predictions": results, "failed": failed})
    return 1 if failed else 0
