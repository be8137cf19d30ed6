"""``nnscratch train``: train the cat classifier and write the model, metrics and plots.

With no options it runs the project's best recipe (``nnscratch.app.recipe.TrainConfig``'s
defaults). Every option overrides one field of that recipe.
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
        type=c.layer_widths_type,
        metavar="W1,W2,...",
        help=f"hidden layer widths (default {','.join(map(str, d.layers))})",
    )
    g.add_argument(
        "--activation",
        choices=HIDDEN_ACTIVATIONS,
        help=f"hidden activation (default {d.activation})",
    )
    g.add_argument("--init", choices=sorted(INITIALIZERS), help=f"weight init (default {d.init})")
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
        return base.replace(**changes)
    except ValueError as err:
        raise UsageError(str(err)) from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train the cat classifier (default: the project's best recipe)",
        description="Train the cat vs non-cat classifier and write the model file, "
        "metrics.json, a loss curve and the misclassified test images into --out.",
    )
    c.add_data_option(parser)
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


def run(args: argparse.Namespace) -> int:
    from nnscratch.app.runs import RunDirectory
    from nnscratch.data.cats import load_cats

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
    from nnscratch.app.interrupts import deferred_interrupt, exit_status
    from nnscratch.app.progress import ProgressBar

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

    from nnscratch.base.version import __version__

    metrics = {
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
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
