"""``nnscratch export MODEL --format onnx|torch --out FILE``: a model file as an ONNX model or
a PyTorch module, its preprocessing inside, taking the same raw input (see docs/export.md).

    nnscratch export cat.npz --format onnx --out cat.onnx      # onnxruntime: {"X": images}
    nnscratch export cat.npz --format torch --out cat.pt       # cat.pt + cat.py (the module)

Needs the ``export`` extra (``pip install 'nnscratch[export]'``) for ONNX, and PyTorch at run
time for ``--format torch``. Exit codes: 2 for bad flags, 1 for a missing or unreadable model
file, a model that cannot be exported, a missing library or an unwritable output.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from nnscratch.app.commands import _common as c
from nnscratch.base.validation import check_int_at_least

#: --format -> what it writes
FORMATS = {"onnx": "an ONNX model", "torch": "a PyTorch state_dict file and its module (.py)"}
MIN_OPSET = 13  # nnscratch.export.onnx_export.MIN_OPSET (not imported: onnx may be missing)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a model file to ONNX or PyTorch",
        description="Write a model file as an ONNX model (onnxruntime) or a PyTorch module, "
        "its preprocessing inside: the same raw input gives the same probabilities.",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.npz)")
    parser.add_argument(
        "--format",
        choices=tuple(FORMATS),
        default="onnx",
        help="; ".join(f"{name}: {what}" for name, what in FORMATS.items()) + " (default onnx)",
    )
    parser.add_argument("--out", metavar="FILE", required=True, help="the file to write")
    parser.add_argument(
        "--opset",
        type=c.flag_type(partial(check_int_at_least, "opset", minimum=MIN_OPSET)),
        default=None,
        help="ONNX opset (default 17)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return parser


def run(args: argparse.Namespace) -> int:
    from nnscratch.base.errors import ModelFileError, UsageError
    from nnscratch.persist import modelfile as io

    out = Path(args.out)
    if args.format == "torch" and out.suffix == ".py":
        raise UsageError(f"--out {out} ends in .py, where the module definition goes; use .pt")
    if args.opset is not None and args.format != "onnx":
        raise UsageError("--opset is for --format onnx")
    from nnscratch.base.atomic import check_not_an_input

    check_not_an_input(out, [args.model])
    if args.format == "torch":
        check_not_an_input(out.with_suffix(".py"), [args.model])
    from nnscratch import export  # its libraries are imported on use

    model = io.load(args.model)
    try:
        if args.format == "onnx":
            kwargs = {} if args.opset is None else {"opset": args.opset}
            export.to_onnx(model, out, **kwargs)
            written = [out]
        else:
            written = list(export.save_torch(model, out))
    except export.MissingExtraError as err:
        return _missing(err)
    except export.UnsupportedModelError as err:
        raise ModelFileError(f"{args.model}: {err}") from err
    except ValueError as err:  # an opset newer than the installed onnx knows
        raise UsageError(str(err)) from err
    ex = export.describe(model)
    for path in written:
        print(f"wrote {path}", flush=True)
    if args.json:
        c.print_json(
            {
                "model": str(args.model),
                "format": args.format,
                "files": [str(p) for p in written],
                "input_shape": ["N", *ex.input_shape],
                "input_dtype": ex.input_dtype.name,
            }
        )
    return 0


def _missing(err: ImportError) -> int:
    print(f"nnscratch export: error: {err}", file=sys.stderr)
    return 1
