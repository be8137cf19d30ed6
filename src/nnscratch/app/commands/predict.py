"""``nnscratch predict MODEL IMAGE...``: the probability and label of each image file.

Each image file (JPEG, PNG, ...) is read as RGB by ``nnscratch.data.images``, resized to the
model's input (64 x 64 for the cat classifier) and passed through the model's saved
preprocessor. A file that cannot be read is reported by name on stderr and the others are still
classified; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nnscratch.app.commands import _common as c


def read_image(path: str, size: tuple[int, int]) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB resized to ``size`` = (H, W), by the library's one
    reader (``nnscratch.data.images``: EXIF orientation applied, 16-bit and float images
    rescaled, transparency on white).

    Raises DataError naming the file when it is missing, not a regular file, not an image,
    truncated, or declares too many pixels; it never blocks on a FIFO."""
    from nnscratch.data.images import read_image as read

    return read(path, size, color="rgb")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="classify image files with a saved model",
        description="Print the probability and label of each image (JPEG, PNG, ...).",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.npz)")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    return parser


def run(args: argparse.Namespace) -> int:
    from nnscratch.base.errors import DataError, ModelFileError
    from nnscratch.persist import modelfile as io

    model = io.load(args.model)
    shape = model.input_shape
    if model.preprocessor is None or len(shape) != 3 or shape[2] != 3:
        raise ModelFileError(
            f"{args.model} does not take RGB images (its input shape is {shape}); predict "
            "needs a model saved by `nnscratch train`"
        )
    classes = model.classes or ("0", "1")
    results, failed = [], 0
    for path in args.images:
        try:
            image = read_image(path, shape[:2])
        except DataError as err:
            print(f"nnscratch predict: error: {err}", file=sys.stderr)
            failed += 1
            continue
        p = float(model.predict_proba(image[None])[0])
        label = classes[int(model.predict(image[None])[0])]  # the output's decision rule
        results.append({"image": path, "probability": p, "label": label})
        print(f"{path}: {label} (probability of {classes[1]!r}: {p:.4f})", flush=True)
    if args.json:
        c.print_json({"model": str(args.model), "predictions": results, "failed": failed})
    return 1 if failed else 0
