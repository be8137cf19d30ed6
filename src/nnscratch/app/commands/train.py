"""``nnscratch train``: train a model on the data ``--data`` names and write the model,
metrics and plots.

On the cat data (the default) it runs the project's best recipe
(``nnscratch.app.recipe.TrainConfig``'s defaults); on an image folder or a table, the recipe of
``nnscratch.app.recipes_any`` (``_run_other_data`` below). Every option overrides one field of
the recipe.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np

from nnscratch.app.commands import _common as c
from nnscratch.base import jsonio
from nnscratch.base.errors import TrainingDivergedError
from nnscratch.base.validation import check_fraction, check_positive, check_probability

#: the options that map one-to-one onto TrainConfig fields (argparse dest == field name)
_DESTS = (
    "layers",
    "activation",
    "init",
    "init_scale",
    "learning_rate",
    "iterations",
    "epochs",
    "batch_size",
    "optimizer",
    "l2",
    "dropout",
    "batch_norm",
    "early_stopping",
    "patience",
    "validation_fraction",
    "flip",
    "balance",
    "standardize",
    "ensemble",
    "seed",
    "architecture",
    "flip_average",
    "lr_schedule",
)


#: optional modules train cannot finish without (checked before it starts: nnscratch.app.cli)
REQUIRES = ("matplotlib",)


def hidden_widths_type(text: str) -> tuple[int, ...]:
    """``--layers``: the hidden widths only. The article's layers_dims (12288, 5, 5, 1) would
    otherwise become [12288, 12288, 5, 5, 1, 1]: a leading input width or a trailing output
    width 1 is refused with the widths to give instead."""
    from nnscratch.data.cats import IMAGE_SHAPE

    widths = c.layer_widths_type(text)
    n_x = math.prod(IMAGE_SHAPE)
    hidden = widths[1:] if widths[:1] == (n_x,) else widths
    hidden = hidden[:-1] if len(widths) > 1 and hidden[-1:] == (1,) else hidden
    if hidden != widths:
        give = f": --layers {','.join(map(str, hidden))}" if hidden else ""
        raise argparse.ArgumentTypeError(
            f"give the hidden widths only{give} (the input width {n_x} and the output width 1 "
            f"come from the data); got {','.join(map(str, widths))}"
        )
    return widths


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The recipe's options (shared by ``train`` and ``experiments``). Every default is None:
    an option not given keeps the recipe's value."""
    from nnscratch.app.recipe import TrainConfig
    from nnscratch.nn.activations import HIDDEN_ACTIVATIONS
    from nnscratch.nn.initializers import INITIALIZERS
    from nnscratch.train.optimizers import OPTIMIZERS

    d = TrainConfig()
    g = parser.add_argument_group("model and training (defaults: the project's best recipe)")
    g.add_argument(
        "--model",
        choices=("mlp", "cnn"),
        help="mlp: the fully connected network (default); cnn: the convolutional network of "
        "nnscratch.models.conv, whose cross-validated recipe then gives the defaults",
    )
    g.add_argument(
        "--architecture",
        metavar="STRING",
        help="CNN layers (implies --model cnn), e.g. "
        "conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-gap-dense64-relu; tokens: conv<F>x<K>"
        "[s<S>][p<same|valid|N>], pool<K>, avgpool<K>, gap, flatten, dense<N>, relu..., bn, "
        "dropout<KEEP>, shift<N>",
    )
    g.add_argument(
        "--flip-average",
        action=argparse.BooleanOptionalAction,
        help="CNN: predict with the mean of each image's and its mirror image's logits",
    )
    g.add_argument(
        "--lr-schedule",
        choices=("step", "exponential", "cosine"),
        help="learning-rate schedule (default: constant)",
    )
    g.add_argument(
        "--layers",
        type=hidden_widths_type,
        metavar="W1,W2,...",
        help="hidden layer widths only: the input width 12288 and the output width 1 come "
        f"from the data (default {','.join(map(str, d.layers))}: {[12288, *d.layers, 1]})",
    )
    g.add_argument(
        "--activation",
        choices=HIDDEN_ACTIVATIONS,
        help=f"hidden activation (default {d.activation})",
    )
    g.add_argument("--init", choices=sorted(INITIALIZERS), help=f"weight init (default {d.init})")
    g.add_argument(
        "--init-scale",
        type=c.flag_type(partial(check_positive, "init_scale")),
        metavar="F",
        help=f"--init normal: weights N(0, 1) * F (default {d.init_scale:g}, the article's)",
    )
    g.add_argument(
        "--learning-rate",
        "--lr",
        type=c.flag_type(partial(check_positive, "learning_rate")),
        metavar="F",
        help=f"learning rate > 0 (default {d.learning_rate:g})",
    )
    g.add_argument(
        "--iterations",
        type=c.flag_type(partial(check_positive, "iterations", integer=True)),
        metavar="N",
        help=f"parameter updates per network (default {d.iterations})",
    )
    g.add_argument(
        "--epochs",
        type=c.flag_type(partial(check_positive, "epochs", integer=True)),
        metavar="N",
        help="passes over the data, instead of --iterations",
    )
    g.add_argument(
        "--batch-size",
        type=c.flag_type(partial(check_positive, "batch_size", integer=True)),
        metavar="N",
        help="mini-batch size (default: the full batch)",
    )
    g.add_argument(
        "--optimizer", choices=sorted(OPTIMIZERS), help=f"optimizer (default {d.optimizer})"
    )
    g.add_argument(
        "--l2",
        type=c.flag_type(partial(check_positive, "l2", allow_zero=True)),
        metavar="LAMBDA",
        help=f"L2 penalty (default {d.l2:g})",
    )
    g.add_argument(
        "--dropout",
        type=c.flag_type(partial(check_probability, "dropout")),
        metavar="KEEP_PROB",
        help="keep probability of hidden units, in (0, 1] (default: no dropout)",
    )
    g.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        help=f"batch normalisation in hidden layers (default {d.batch_norm})",
    )
    g.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        help="stop when the validation cost stops improving, keeping the best weights",
    )
    g.add_argument(
        "--patience",
        type=c.flag_type(partial(check_positive, "patience", integer=True)),
        metavar="N",
        help=f"early stopping patience in epochs (default {d.patience})",
    )
    g.add_argument(
        "--validation-fraction",
        type=c.flag_type(partial(check_fraction, "validation_fraction")),
        metavar="F",
        help="hold out this fraction of the training images for validation (default: none; "
        "0.2 with --early-stopping)",
    )
    g.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        help=f"random horizontal flips of training images (default {d.flip})",
    )
    g.add_argument(
        "--balance",
        action=argparse.BooleanOptionalAction,
        help="add mirrored copies of the rarer class's training images until both classes are "
        f"equally common (default {d.balance})",
    )
    g.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        help=f"standardise each pixel with the training mean and std (default {d.standardize})",
    )
    g.add_argument(
        "--ensemble",
        type=c.flag_type(partial(check_positive, "ensemble", integer=True)),
        metavar="K",
        help=f"average the probabilities of K networks (default {d.ensemble})",
    )
    g.add_argument("--seed", type=c.seed_type, metavar="S", help="random seed (default 0)")


def config_from_args(args: argparse.Namespace, base=None):
    """The recipe with every option the user gave applied; UsageError for bad combinations."""
    from nnscratch.app.recipe import TrainConfig
    from nnscratch.base.errors import UsageError

    if getattr(args, "model", None) == "mlp" and getattr(args, "architecture", None):
        raise UsageError("--architecture describes a CNN; it cannot go with --model mlp")
    if base is None and (
        getattr(args, "model", None) == "cnn" or getattr(args, "architecture", None)
    ):
        base = TrainConfig.cnn()
    base = base or TrainConfig()
    changes = {k: getattr(args, k) for k in _DESTS if getattr(args, k, None) is not None}
    if "epochs" in changes and "iterations" not in changes:
        changes["iterations"] = None
    if "iterations" in changes and "epochs" not in changes:
        changes["epochs"] = None
    if changes.get("early_stopping") and changes.get("validation_fraction") is None:
        changes.setdefault("validation_fraction", base.validation_fraction or 0.2)
    try:
        config = base.replace(**changes)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if "init_scale" in changes and config.init not in ("normal", "random"):
        raise UsageError(
            f"--init-scale scales --init normal only; got --init {config.init}"
            f"{'' if 'init' in changes else ' (the default)'}: add --init normal"
        )
    return config


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a model: the cat classifier (default), or on an image folder or a table",
        description="Train a model on --data (default: the cat vs non-cat images, with the "
        "project's best recipe; an image folder or a table gets the recipe of docs/data.md) "
        "and write the model file, metrics.json, a loss curve and plots of the test errors "
        "into --out.",
    )
    c.add_data_option(parser, reading="train")
    add_training_options(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="output directory, created (must not exist or be empty; default runs/<timestamp>)",
    )
    parser.add_argument(
        "--print-every",
        type=c.flag_type(partial(check_positive, "print_every", integer=True, allow_zero=True)),
        metavar="N",
        help="print the cost every N iterations (default 100; 0: never)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last line of stdout"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=c.flag_type(partial(check_positive, "checkpoint_every", integer=True)),
        metavar="N",
        help="write a checkpoint into the output directory every N updates of each network "
        "(atomically; Ctrl-C or SIGTERM always writes one), so that --resume can continue the run",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the interrupted run in RUN_DIR from its checkpoint, with the run's own "
        "settings, to the same result as a run that was never interrupted",
    )
    return parser


def _open_resumed_run(args: argparse.Namespace):
    """The run directory of ``--resume``; UsageError for options it cannot take."""
    from nnscratch.app.runs import RunDirectory
    from nnscratch.base.errors import UsageError

    given = [f"--{k.replace('_', '-')}" for k in _DESTS if getattr(args, k, None) is not None]
    if args.out is not None:
        given.append("--out")
    if given:
        raise UsageError(
            f"--resume continues the run with its own settings and directory; drop "
            f"{', '.join(given)}"
        )
    try:
        return RunDirectory.open(args.resume)
    except FileNotFoundError as err:
        raise UsageError(f"--resume: {err}") from None


def _output_dir(out: Path | None) -> Path:
    from nnscratch.base.errors import UsageError

    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / stamp
        k = 1
        while out.exists():
            k += 1
            out = Path("runs") / f"{stamp}-{k}"
        return out
    from nnscratch.base.atomic import is_empty_output

    if out.exists() and (not out.is_dir() or not is_empty_output(out)):
        raise UsageError(f"--out {out} already exists and is not an empty directory")
    return out


def _n_training(config, labels) -> int:
    """How many images training sees (mirrored copies included when balancing)."""
    return 2 * int(np.bincount(labels).max()) if config.balance else len(labels)


def _progress_total(config, m_train: int) -> int | None:
    if config.iterations is not None:
        return config.iterations
    if config.epochs is not None and config.batch_size is None:
        return config.epochs
    if config.epochs is not None:
        m = m_train * (1 - (config.validation_fraction or 0))
        return config.epochs * math.ceil(m / config.batch_size)
    return None


def _run_record(result, data, config) -> dict:
    """metrics.json's fields that describe the run itself (any data): iterations, time, final
    costs, sizes, the configuration, when and by which version."""
    from nnscratch.base.version import __version__

    return {
        "iterations": result.iterations,
        "seconds": round(result.seconds, 3),
        "final_costs": [h.costs[-1] for h in result.histories if h.costs],
        "n_parameters": result.model.n_parameters,
        "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)),
        "config": config.to_dict(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nnscratch_version": __version__,
    }


def run(args: argparse.Namespace) -> int:
    from nnscratch.app.runs import RunDirectory
    from nnscratch.data.cats import load_cats

    if args.resume is None and _data_kind(args) != "cats":
        return _run_other_data(args)
    _refuse_reading_options(args)
    if args.resume is not None:
        run_dir = _open_resumed_run(args)
        config, out = run_dir.checkpoint.config, run_dir.path
    else:
        config = config_from_args(args)
        out = _output_dir(args.out)
    data = load_cats(args.data)
    if args.resume is None:
        run_dir = RunDirectory.create(out)  # an unwritable --out fails now, not after training
    try:
        run_dir.claim(fresh=args.resume is None)  # locked: a second train --out D fails now
    except BaseException:
        run_dir.discard_if_empty()
        raise
    try:
        return _train(args, config, data, run_dir, out)
    finally:
        run_dir.close()


def _train(args, config, data, run_dir, out: Path) -> int:
    from nnscratch.app.allocator import keep_freed_memory
    from nnscratch.app.interrupts import deferred_interrupt, exit_status
    from nnscratch.app.progress import ProgressBar

    if config.model == "cnn":  # its batches' large arrays reused, not fresh pages each time
        keep_freed_memory()
    print(f"Training {config.describe()} on {len(data.y_train)} images", flush=True)
    every = 100 if args.print_every is None else args.print_every
    progress = ProgressBar(
        _progress_total(config, _n_training(config, data.y_train)),
        runs=config.ensemble,
        every=every,
    )
    try:
        with deferred_interrupt() as interrupt:  # Ctrl-C, SIGTERM: a last checkpoint, then stop
            result = run_dir.train(
                config,
                data.x_train,
                data.y_train,
                every=args.checkpoint_every,
                callbacks=[progress],
                interrupt=interrupt,
            )
    except KeyboardInterrupt as stop:  # TrainingInterrupted: after its final checkpoint
        progress.close()
        if not run_dir.checkpoint_path.is_file():
            run_dir.discard_if_empty()
            raise
        return _interrupted(out, exit_status(stop, interrupt))
    except BaseException:
        run_dir.discard_if_empty()
        raise
    finally:
        progress.close()
    if interrupt.requested:  # stopped after the last update: the trained run is checkpointed
        return _interrupted(out, exit_status(KeyboardInterrupt(), interrupt))
    try:
        return _finish(args, config, result, data, run_dir, out)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM: the outputs are staged, the run kept
        return _interrupted(out, exit_status(stop))


def _interrupted(out: Path, status: int) -> int:
    print(f"nnscratch train: interrupted; resume with: nnscratch train --resume {out}",
          file=sys.stderr)  # fmt: skip
    return status  # 130 for Ctrl-C, 143 for SIGTERM


def _finish(args, config, result, data, run_dir, out: Path) -> int:
    """Evaluate the trained run and write its outputs (all or none, ``run_dir.outputs``)."""
    from nnscratch.app import plots
    from nnscratch.persist import modelfile as io

    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: checked just below
        train_acc = result.accuracy(data.x_train, data.y_train)
        test_proba = result.predict_proba(data.x_test)
    if not np.all(np.isfinite(test_proba)):
        raise TrainingDivergedError(
            result.iterations, float("nan"), getattr(config, "learning_rate", None)
        )
    with np.errstate(over="ignore", invalid="ignore"):
        test_acc = result.accuracy(data.x_test, data.y_test)  # the output's decision rule
    print(f"Train accuracy: {train_acc:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    metrics = {
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        **_run_record(result, data, config),
    }
    model_path = out / "model.npz"
    with run_dir.outputs() as tmp:  # all files complete, or none (the checkpoint stays)
        io.save(
            result.model,
            tmp / "model.npz",
            preprocessor=result.preprocessor,
            classes=data.classes,
            metadata={"recipe": config.to_dict(), "metrics": metrics},
        )
        (tmp / "metrics.json").write_text(jsonio.dumps(metrics, allow_nan=True, indent=2) + "\n")
        # the plots need only the costs and the test images: free the rest for them first
        costs = [h.costs for h in result.histories]
        x_test, y_test, classes = data.x_test, data.y_test, data.classes
        del result, data
        plots.plot_loss_curve(
            costs,
            tmp / "loss_curve.png",
            title=f"Training cost: {config.describe()}",
        )
        plots.plot_misclassified(x_test, y_test, test_proba, classes, tmp / "misclassified.png")
    print(f"Wrote {model_path}, metrics.json, loss_curve.png, misclassified.png in {out}")
    if args.json:
        c.print_json(
            {
                "train_accuracy": train_acc,
                "test_accuracy": test_acc,
                "iterations": metrics["iterations"],
                "seconds": metrics["seconds"],
                "model": str(model_path),
                "out": str(out),
            }
        )
    sys.stdout.flush()
    return 0


# ---- data other than the cat images (nnscratch.app.recipes_any) -----------------------------

#: reading options that only image folders and tables take (dest, its default)
_READING = (
    ("image_size", None), ("color", None), ("on_bad_file", "skip"), ("max_memory", None),
    ("target", None), ("task", None), ("impute", None), ("test_data", None),
    ("test_fraction", None),
)  # fmt: skip


def _data_kind(args: argparse.Namespace) -> str:
    """The kind of ``--data``; what no reader claims goes to the cat data's reader, whose
    message says what the cat data need (after the recipe's options are checked)."""
    from nnscratch.base.errors import DataError
    from nnscratch.data.source import kind_of

    try:
        return kind_of(args.data)
    except DataError:
        return "cats"


def _refuse_reading_options(args: argparse.Namespace) -> None:
    from nnscratch.base.errors import UsageError

    given = [f"--{k.replace('_', '-')}" for k, d in _READING if getattr(args, k, d) != d]
    if given:
        raise UsageError(
            f"{', '.join(given)}: for image folders and tables; the cat data come as they are"
        )


def any_config_from_args(args: argparse.Namespace, kind: str):
    """The recipe for other data (``AnyConfig``) with the options the user gave; UsageError
    for options it does not take."""
    from nnscratch.app.recipes_any import AnyConfig
    from nnscratch.base.errors import UsageError

    model = (
        "cnn"
        if (getattr(args, "model", None) == "cnn" or getattr(args, "architecture", None))
        else "mlp"
    )
    if model == "cnn" and kind == "table":
        raise UsageError("--model cnn takes images; a table trains an MLP (drop --model cnn)")
    base = AnyConfig.for_model(model)
    fields = set(base.to_dict())
    changes = {k: getattr(args, k) for k in _DESTS if getattr(args, k, None) is not None}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise UsageError(
            f"{', '.join('--' + k.replace('_', '-') for k in unknown)}: for the cat recipe only"
        )
    if changes.get("flip") and kind == "table":
        raise UsageError("--flip mirrors images; a table has none")
    if "iterations" in changes and "epochs" not in changes:
        changes["epochs"] = None
    if "early_stopping" in changes and not changes["early_stopping"]:
        changes.setdefault("validation_fraction", None)
    try:
        return base.replace(**changes)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _run_other_data(args: argparse.Namespace) -> int:
    """``train`` on an image folder or a table: read, hold out a test split when the data
    bring none, train the recipe of ``recipes_any``, write the model (which records its
    inputs, preprocessing, task and classes), metrics.json and the plots."""
    from nnscratch.app.allocator import keep_freed_memory
    from nnscratch.app.progress import ProgressBar
    from nnscratch.app.recipes_any import hold_out, train_any
    from nnscratch.app.runs import RunDirectory
    from nnscratch.base.errors import UsageError
    from nnscratch.data.source import load_data

    if args.checkpoint_every is not None:
        raise UsageError("--checkpoint-every and --resume are for the cat data only")
    kind = _data_kind(args)
    config = any_config_from_args(args, kind)
    out = _output_dir(args.out)
    data = load_data(args.data, c.data_options(args))
    for note in data.notes:
        print(note, flush=True)
    c.print_skipped("train", data.refused)
    split = None
    if data.x_test is None:
        fraction = args.test_fraction if args.test_fraction is not None else 0.2
        try:
            print(hold_out(data, fraction, config.seed), flush=True)
        except ValueError as err:
            raise UsageError(str(err)) from None
        split = {
            "source": str(Path(args.data).resolve()),
            "test_fraction": fraction,
            "seed": config.seed,
        }
    elif args.test_fraction is not None:
        raise UsageError("--test-fraction: the data already have a test split")
    if len(data.y_train) < 2:
        raise UsageError(f"{len(data.y_train)} training example(s) are too few to train on")
    run_dir = RunDirectory.create(out)
    if config.model == "cnn":  # as for the cat CNN: batches' large arrays reused
        keep_freed_memory()
    what = "images" if data.kind == "images" else "rows"
    print(f"Training {config.describe()} on {len(data.y_train)} {what} ({data.task})", flush=True)
    every = 100 if args.print_every is None else args.print_every
    progress = ProgressBar(
        _progress_total(config, len(data.y_train)), runs=config.ensemble, every=every
    )
    try:
        result = train_any(config, data, callbacks=[progress])
    except BaseException:
        run_dir.discard_if_empty()
        raise
    finally:
        progress.close()
    try:
        return _finish_other_data(args, config, data, result, run_dir, split)
    except BaseException:
        run_dir.discard_if_empty()
        raise


def _finish_other_data(args, config, data, result, run_dir, split) -> int:
    from nnscratch.app import plots
    from nnscratch.app.scores import scores_of
    from nnscratch.persist import modelfile as io

    out = run_dir.path
    with np.errstate(over="ignore", invalid="ignore"):
        train_pred = result.predict(data.x_train)
        test_pred = result.predict(data.x_test)
        test_proba = result.predict_proba(data.x_test) if data.task == "classification" else None
    if not np.all(np.isfinite(np.asarray(test_pred, dtype=np.float64))):
        raise TrainingDivergedError(result.iterations, float("nan"), config.learning_rate)
    train_scores = scores_of(data.task, data.y_train, train_pred, data.classes)
    test_scores = scores_of(data.task, data.y_test, test_pred, data.classes)
    key = "accuracy" if data.task == "classification" else "r2"
    print(f"Train {key}: {train_scores[key]:.4f}")
    print(f"Test {key}: {test_scores[key]:.4f}")
    summary = {f"train_{key}": train_scores[key], f"test_{key}": test_scores[key]}
    if data.task == "regression":
        summary.update(test_mae=test_scores["mae"], test_rmse=test_scores["rmse"])
    metrics = {
        **summary,
        "task": data.task,
        "data": data.source,
        "test": test_scores,
        **_run_record(result, data, config),
    }
    description = {**data.description, "task": data.task, "target_scale": result.target_scale}
    if split is not None:
        description["split"] = split
    files = ["model.npz", "metrics.json", "loss_curve.png"]
    with run_dir.outputs() as tmp:
        io.save(
            result.model, tmp / "model.npz", preprocessor=result.preprocessor,
            classes=data.classes, data=description,
            metadata={"recipe": config.to_dict(), "metrics": metrics},
        )  # fmt: skip
        (tmp / "metrics.json").write_text(jsonio.dumps(metrics, allow_nan=True, indent=2) + "\n")
        costs = [h.costs for h in result.histories]
        plots.plot_loss_curve(
            costs, tmp / "loss_curve.png", title=f"Training cost: {config.describe()}"
        )
        files += plots.plot_test_results(
            tmp, data.task, data.y_test, test_pred, test_proba, data.classes,
            images=data.x_test if data.kind == "images" else None,
        )  # fmt: skip
    print(f"Wrote {', '.join(files)} in {out}")
    if args.json:
        c.print_json(
            {**summary, "task": data.task, "iterations": metrics["iterations"],
             "seconds": metrics["seconds"], "model": str(out / "model.npz"), "out": str(out)}
        )  # fmt: skip
    sys.stdout.flush()
    return 0
