"""Run directories: one training run's checkpoint while it trains, then its outputs, and
resuming a run exactly where it stopped.

    run = RunDirectory.create("runs/a")
    with deferred_interrupt() as interrupt:            # Ctrl-C: checkpoint, then stop
        result = run.train(config, x_train, y_train, every=100, interrupt=interrupt)
    # ... killed, or TrainingInterrupted ...
    run = RunDirectory.open("runs/a")                 # reads runs/a/checkpoint.npz
    result = run.train(run.checkpoint.config, x_train, y_train, every=100)

A run directory holds ``checkpoint.npz`` (``nnscratch.persist.checkpoint``) while a run is
unfinished: a ``RunCheckpoint``, whose settings are the run's ``TrainConfig`` as a dict
(``load_run_checkpoint`` reads one and checks those settings as a recipe).
``RunDirectory.train`` replaces it atomically (``nnscratch.base.atomic``) at the start, every
``every`` updates of each network and when a network finishes (when given ``every``), and always
on Ctrl-C or SIGTERM (``nnscratch.app.interrupts``), so whatever kills the process, the
directory holds the last complete checkpoint, never a torn one. Resuming rebuilds the run from
it and continues the training loop from the same update, so the final parameters are bitwise
those of the run that was never interrupted (same machine and thread settings).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from nnscratch.app.interrupts import InterruptFlag
from nnscratch.app.recipe import TrainConfig, TrainResult, training_inputs
from nnscratch.base.atomic import (
    DirectoryLock,
    fsync_directory,
    is_empty_output,
    lock_directory,
    remove_staging_leftovers,
)
from nnscratch.base.errors import DataError, ModelFileError, UsageError
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.ensemble import Ensemble, member_seeds
from nnscratch.models.registry import check_build_size
from nnscratch.persist.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    data_fingerprint,
    load_checkpoint,
    members_of,
    save_checkpoint,
)
from nnscratch.persist.layout import DESCRIPTION_ERRORS
from nnscratch.train.callbacks import Callback
from nnscratch.train.fit import History
from nnscratch.train.optimizers import get_optimizer

__all__ = [
    "CheckpointCallback",
    "RunCheckpoint",
    "RunDirectory",
    "TrainingInterrupted",
    "load_run_checkpoint",
]


@dataclass
class RunCheckpoint(Checkpoint):
    """The checkpoint of a run of the cat recipe: ``settings`` is its ``TrainConfig.to_dict()``
    and ``config`` that ``TrainConfig``."""

    @classmethod
    def of(cls, ckpt: Checkpoint) -> RunCheckpoint:
        """``ckpt`` as a run's checkpoint (the same fields; ``config`` unchecked)."""
        return cls(**{f.name: getattr(ckpt, f.name) for f in fields(Checkpoint)})

    @functools.cached_property
    def config(self) -> TrainConfig:
        """The run's recipe, built from ``settings`` (``load_run_checkpoint`` checks it)."""
        return TrainConfig(**self.settings)


def load_run_checkpoint(path: str | os.PathLike[str]) -> RunCheckpoint:
    """``load_checkpoint(path)`` with its settings checked as the run's ``TrainConfig`` and
    its optimizer state as that recipe's optimizer's. Raises ``ModelFileError`` naming the
    file and the problem."""
    ckpt = RunCheckpoint.of(load_checkpoint(path))
    try:
        config = ckpt.config
    except DESCRIPTION_ERRORS as err:
        raise ModelFileError(
            f"{path} is not an nnscratch checkpoint: its training configuration is invalid ({err})"
        ) from None
    if ckpt.progress is not None:  # a dry run of the recipe's optimizer on the state
        try:
            optimizer = get_optimizer(config.optimizer, learning_rate=config.learning_rate)
            optimizer.load_state_dict(ckpt.progress["optimizer"])
        except DESCRIPTION_ERRORS as err:
            raise ModelFileError(
                f"{path} is not an nnscratch checkpoint: invalid optimizer state ({err})"
            ) from None
    return ckpt


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training after the final checkpoint was written.

    Attributes: ``run_dir`` (the run directory), ``iteration`` (updates of the training
    member when it stopped), ``member`` (its index).
    """

    def __init__(self, run_dir: Path, iteration: int, member: int):
        self.run_dir, self.iteration, self.member = Path(run_dir), iteration, member
        super().__init__(f"interrupted; resume with: nnscratch train --resume {self.run_dir}")


class CheckpointCallback(Callback):
    """Writes the run's checkpoint every ``every`` updates (None: never periodically) and,
    when ``interrupt.requested`` (a Ctrl-C), once more before raising ``TrainingInterrupted``.

    Reads the loop's position, optimizer and generators from ``self.training_state``, which
    ``fit`` sets.
    """

    training_state = None

    def __init__(self, run: RunDirectory, every: int | None = None, interrupt=None):
        self.run, self.every, self.interrupt = run, every, interrupt

    def on_iteration_end(self, net, iteration, cost, history):
        stopping = self.interrupt is not None and self.interrupt.requested
        if stopping or (self.every and iteration % self.every == 0):
            assert self.training_state is not None, "fit sets training_state"
            self.run.write(self.training_state.state_dict())
        if stopping:
            raise TrainingInterrupted(self.run.path, iteration, self.run.member)
        return None


def _check_order(ckpt: RunCheckpoint, m: int) -> None:
    """The checkpointed epoch permutation must cover the training samples ``fit`` will use."""
    order = ckpt.progress.get("order") if ckpt.progress else None
    if order is None:
        return
    frac = ckpt.config.validation_fraction
    m_fit = m - math.ceil(frac * m) if frac else m
    if order.size != m_fit:
        raise ModelFileError(
            f"the checkpoint shuffles {order.size} samples per epoch; this data gives {m_fit}"
        )


def _differences(a, b, where: str = "") -> Iterator[str]:
    """Where two JSON-like descriptions differ ("members[1].config.layer_dims: ...")."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            yield from _differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, f"{where}[{i}]")
    elif a != b:
        yield f"{where or 'the model'}: the settings give {a!r}, the checkpoint holds {b!r}"


def _check_settings_describe_model(ckpt: RunCheckpoint, path: Path, n_x: int, image_shape):
    """ModelFileError unless the checkpoint's settings describe exactly its model (the class,
    layers, activations, members and their seeds that the recipe builds): an edited
    setting (``layers``, ``ensemble``, ``model``...) would otherwise be resumed with the old
    model and written into the new model file's metadata as if it had been trained so."""
    try:
        fresh = _build_model(ckpt.config, n_x, image_shape)
    except UsageError as err:
        raise ModelFileError(
            f"{path / CHECKPOINT_NAME}: its settings cannot be built ({err})"
        ) from None
    wanted = {"class": type(fresh).__name__, "config": fresh.config()}
    stored = {"class": type(ckpt.model).__name__, "config": ckpt.model.config()}
    first = next(_differences(wanted, stored), None)
    if first is not None:
        raise ModelFileError(
            f"{path / CHECKPOINT_NAME} is not a consistent checkpoint: its settings do not "
            f"describe its model ({first})"
        )


def _same_state(a: dict, b: dict) -> bool:
    """Two preprocessor states (scalars and arrays) are the same."""
    if set(a) != set(b):
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def _check_run_state(ckpt: RunCheckpoint, path: Path, x_train) -> None:
    """ModelFileError unless the checkpoint's preprocessor is the one its settings fit on
    these images (a deterministic fit) and its histories fit its settings (no more updates
    than the run makes, early stopping only when the run stops early)."""
    where = path / CHECKPOINT_NAME
    config = ckpt.config

    expected = ImagePreprocessor(standardize=config.standardize).fit(x_train).get_state()
    if not _same_state(expected, ckpt.preprocessor.get_state()):
        raise ModelFileError(
            f"{where} is not a consistent checkpoint: its preprocessor is not the one its "
            "settings fit on these training images"
        )
    histories = list(ckpt.histories)
    if ckpt.progress is not None:
        histories.append(History.from_dict(ckpt.progress["history"]))
    for k, history in enumerate(histories):
        if config.iterations is not None and len(history.costs) > config.iterations:
            raise ModelFileError(
                f"{where} is not a consistent checkpoint: network {k} recorded "
                f"{len(history.costs)} updates; the run makes {config.iterations}"
            )
        if history.stopped_early and not config.early_stopping:
            raise ModelFileError(
                f"{where} is not a consistent checkpoint: network {k} stopped early in a run "
                "without early stopping"
            )


def _check_validation_split(config: TrainConfig, m: int) -> None:
    """UsageError when ``validation_fraction`` holds out so many of the ``m`` training samples
    (mirrored copies included) that fewer than two are left to train on."""
    frac = config.validation_fraction
    if not frac:
        return
    left = m - math.ceil(frac * m)
    if left < 2:
        raise UsageError(
            f"--validation-fraction {frac:g} holds out {m - left} of the {m} training samples, "
            f"leaving {left} to train on; use a fraction of at most {(m - 2) / m:.3f}"
        )


def _build_model(config: TrainConfig, n_x: int, image_shape):
    """The run's fresh model, its size checked first (``check_build_size``: ``--ensemble
    100000``, ``--layers 1000000``, ``--architecture dense100000000`` are refused unbuilt);
    UsageError naming the problem for a recipe that cannot be built (an architecture whose
    pooling leaves no pixels, ``bn-bn``...)."""
    try:
        if config.model == "cnn":
            name, description = "ConvNetwork", config.cnn_kwargs(image_shape)
        else:
            name, description = "Network", config.network_kwargs(n_x)
        check_build_size(name, description, members=config.ensemble)
        return config.build_model(n_x, image_shape=image_shape)
    except ValueError as err:
        raise UsageError(f"cannot build the model: {err}") from None


class RunDirectory:
    """The directory of one training run: its checkpoint while training, then its outputs.

    ``RunDirectory.create(path)`` starts a run (the directory is created now, so an
    unwritable place fails before any training); ``RunDirectory.open(path)`` resumes one
    from its ``checkpoint.npz``. ``train`` trains (writing checkpoints), ``outputs`` writes
    the final files, and ``discard_if_empty`` removes what ``create`` made when nothing was
    written.
    """

    def __init__(self, path: Path, created: list[Path], checkpoint: RunCheckpoint | None = None):
        self.path = Path(path)
        self.created = created  # directories made by create(), innermost first
        self.checkpoint = checkpoint
        self.member = 0
        self.every: int | None = None
        self._state: dict = {}
        self.lock: DirectoryLock | None = None  # held while the run lives (``claim``)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_NAME

    # ---- opening -------------------------------------------------------------------------
    def claim(self, *, fresh: bool) -> RunDirectory:
        """Lock the directory for this process until ``close`` (``UsageError`` at once when
        another process holds it: two ``nnscratch train --out D`` cannot both write D), then
        remove what a killed process left of its staging (``.outputs.*.tmp``, which would
        otherwise block reusing the directory). ``fresh``: the directory must now be empty
        (``UsageError`` otherwise), checked under the lock."""
        self.lock = lock_directory(self.path)
        try:
            remove_staging_leftovers(self.path)
            if fresh and not is_empty_output(self.path):
                raise UsageError(f"--out {self.path} already exists and is not an empty directory")
        except BaseException:
            self.close()
            raise
        return self

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> RunDirectory:
        """Create ``path`` (and missing parents) and check that files can be written there.
        Raises OSError (naming ``path`` and why) when it cannot be. (The command line then
        ``claim``s it.)"""
        path = Path(path)
        created = []
        probe = path
        while not probe.exists() and probe != probe.parent:
            created.append(probe)
            probe = probe.parent
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path, prefix=".write-test.")
            os.close(fd)
            os.unlink(name)
        except OSError as err:
            run = cls(path, [p for p in created if p.is_dir()])
            run.discard_if_empty()
            raise OSError(
                err.errno, f"cannot write to the output directory {path}: {err.strerror or err}"
            ) from err
        return cls(path, created)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDirectory:
        """A run to resume. Raises FileNotFoundError when ``path`` holds no checkpoint (a
        finished run keeps none), ``ModelFileError`` when the checkpoint is invalid."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a run directory")
        ckpt_path = path / CHECKPOINT_NAME
        if not ckpt_path.is_file():
            finished = (path / "model.npz").is_file()
            raise FileNotFoundError(
                f"{path} holds no {CHECKPOINT_NAME}"
                + ("; it is a finished run (model.npz is there)" if finished else "")
            )
        return cls(path, [], load_run_checkpoint(ckpt_path))

    def close(self) -> None:
        """Release the directory's lock (the process's end releases it too)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def discard_if_empty(self) -> None:
        """Remove the directories ``create`` made, where they are still empty."""
        for d in self.created:
            with contextlib.suppress(OSError):
                d.rmdir()

    # ---- training ------------------------------------------------------------------------
    def train(
        self,
        config: TrainConfig,
        x_train,
        y_train,
        *,
        every: int | None = None,
        callbacks: Sequence[Callback] = (),
        interrupt: InterruptFlag | None = None,
    ) -> TrainResult:
        """``recipe.train_cats`` with checkpoints: the same networks, seeds and updates, so
        the same result; continues ``self.checkpoint`` when the run was opened to resume.

        With ``every`` (or when resuming a run that had it, unless ``every`` is given), the
        checkpoint is written at the start, every ``every`` updates of each network and when
        each network is done. Without, only a Ctrl-C writes one: it raises
        ``TrainingInterrupted`` after the checkpoint when ``interrupt.requested`` is set.
        The trained run's checkpoint is always written at the end, so that a stop while its
        outputs are written leaves a run that ``--resume`` finishes (without training).
        Raises ``DataError`` when resuming on other data than the checkpoint's.
        """
        start = time.perf_counter()
        sha = data_fingerprint(x_train, y_train)
        ckpt = self.checkpoint
        if every is None and ckpt is not None:
            every = ckpt.every
        self.every = every
        if ckpt is not None:
            if ckpt.data_sha256 != sha:
                raise DataError(
                    f"the training data differ from the data the run in {self.path} was "
                    "trained on (their sha256 fingerprints differ); resume it with the same "
                    "data files"
                )
            first, histories, spent = ckpt.member, list(ckpt.histories), ckpt.elapsed
        else:
            first, histories, spent = 0, [], 0.0
        # exactly as recipe.train_cats (a test checks that the results agree)
        preprocessor, X, y_train, image_shape = training_inputs(
            config, x_train, y_train, ckpt.preprocessor if ckpt is not None else None
        )
        _check_validation_split(config, len(X))
        if ckpt is None:
            model = _build_model(config, X.shape[1], image_shape)
        else:
            model = ckpt.model
            _check_settings_describe_model(ckpt, self.path, X.shape[1], image_shape)
            _check_run_state(ckpt, self.path, x_train)
            _check_order(ckpt, len(X))
        members = members_of(model)
        fit_kwargs = config.fit_kwargs(image_shape=image_shape)
        # Ensemble.fit's spreading of the seed over the members, member by member
        seeds = [fit_kwargs.get("seed")] * len(members)
        if isinstance(model, Ensemble):
            seeds = member_seeds(fit_kwargs.pop("seed", None), len(members))

        self._state = dict(
            model=model, config=config, pre=preprocessor, sha=sha, start=start, spent=spent
        )
        self.member = first
        if ckpt is None and every:
            self.write(None, histories)  # resumable from the very start
        for k in range(first, len(members)):
            self.member = k
            resume = ckpt.progress if ckpt is not None and k == ckpt.member else None
            kwargs = dict(fit_kwargs)
            if seeds[k] is not None:
                kwargs["seed"] = seeds[k]
            saver = CheckpointCallback(self, every, interrupt)
            self._state["histories"] = histories
            with config.threads():  # as train_cats: the same arithmetic
                history = members[k].fit(
                    X, y_train, callbacks=[*callbacks, saver], resume=resume, **kwargs
                )
            histories.append(history)
            self.member = k + 1
            if every:
                self.write(None, histories)  # this member is done
        if isinstance(model, Ensemble):
            model.history_ = histories
        self.write(None, histories)  # trained: a stop while the outputs are written loses nothing
        self._state = {}  # the run is trained: no more checkpoints, and the model is the caller's
        seconds = spent + time.perf_counter() - start
        return TrainResult(model, preprocessor, histories, seconds)

    def write(self, progress: dict | None, histories: list[History] | None = None) -> None:
        """Write the checkpoint of the run as it stands (``progress``: the training member's
        ``TrainingState.state_dict()``, None between members)."""
        s = self._state
        if histories is not None:
            s["histories"] = histories
        ckpt = Checkpoint(
            model=s["model"],
            settings=s["config"].to_dict(),
            preprocessor=s["pre"],
            data_sha256=s["sha"],
            member=self.member,
            histories=list(s.get("histories", [])),
            progress=progress,
            elapsed=s["spent"] + time.perf_counter() - s["start"],
            every=self.every,
        )
        save_checkpoint(self.checkpoint_path, ckpt)

    # ---- outputs -------------------------------------------------------------------------
    @contextlib.contextmanager
    def outputs(self) -> Iterator[Path]:
        """Yields a temporary directory for the run's output files; when the block succeeds
        they are moved into the run directory (each rename atomic) and then the checkpoint is
        deleted. On failure the temporary directory is removed, the checkpoint (if any) kept,
        so that ``--resume`` can write the outputs again, and a directory ``create`` made
        that is left empty is removed: no half-written output stays behind."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".outputs.", suffix=".tmp", dir=self.path))
        try:
            yield tmp
            for item in sorted(tmp.iterdir()):
                os.replace(item, self.path / item.name)
            fsync_directory(self.path)
            with contextlib.suppress(FileNotFoundError):
                self.checkpoint_path.unlink()
            fsync_directory(self.path)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            self.discard_if_empty()
            if isinstance(err, OSError) and str(self.path) not in str(err):  # name the place
                reason = err.strerror or str(err)
                raise OSError(
                    err.errno, f"cannot write the outputs of the run into {self.path}: {reason}"
                ) from err
            raise
        shutil.rmtree(tmp, ignore_errors=True)
