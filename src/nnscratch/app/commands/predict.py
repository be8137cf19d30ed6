"""``nnscratch predict MODEL IMAGE...``: the probability and label of each image file.

Any image Pillow reads (JPEG, PNG, ...) is converted to RGB, resized to the model's input
(64 x 64 for the cat classifier) and passed through the model's saved preprocessor.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nnscratch.app.commands import _common as c


def read_image(path: str, size: tuple[int, int]) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB resized to ``size`` = (H, W).

    Raises DataError naming the file when it is missing or not an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    from nnscratch.base.errors import DataError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            resized = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(resized, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"cannot read image {path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"cannot read image {path}: it is a directory") from None
    except UnidentifiedImageError:
        raise DataError(f"cannot read image {path}: not an image file Pillow recognises") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt image data
        raise DataError(f"cannot read image {path}: {err}") from None


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
        label = classes[int(p >= 0.5)]
        results.append({"image": path, "probability": p, "label": label})
        print(f"{path}: {label} (probability of {classes[1]!r}: {p:.4f})", flush=True)
    if args.json:
        c.print_json({"model": str(args.model), "predictions": results, "failed": failed})
    return 1 if failed else 0
