"""The training recipe for the cat data: one typed config, and the function that applies it.

    config = TrainConfig()                     # the project's best recipe (see below)
    result = train_cats(config, x_train, y_train)
    result.model.predict(result.preprocessor.transform(x_test))

``nnscratch train`` parses its options into a ``TrainConfig``; its defaults are the recipe
that benchmarks/select_recipe.py chose by 5-fold cross-validation on the 209 training images
(never the test images). The README's "Results" section lists the candidates and their
cross-validated accuracies.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from nnscratch.base.batching import in_batches
from nnscratch.base.validation import (
    check_choice,
    check_flag,
    check_fraction,
    check_layer_widths,
    check_positive,
    check_probability,
    check_seed,
)
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.network import Network
from nnscratch.nn import metrics

if TYPE_CHECKING:
    from nnscratch.models.conv import ConvNetwork

__all__ = ["DEFAULT_LAYERS", "TrainConfig", "TrainResult", "train_cats"]

#: ``TrainConfig.model``: a fully connected Network, or a ConvNetwork (nnscratch.models.conv).
MODELS = ("mlp", "cnn")

#: Hidden layer widths of the default recipe.
DEFAULT_LAYERS: tuple[int, ...] = (20, 7, 5)

#: TrainConfig fields added after runs' configs were first saved, default None (= absent)
_LATER_FIELDS = ("eval_train", "blas_threads")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run of the cat classifier.

    The defaults are the recipe chosen by cross-validation (benchmarks/select_recipe.py).
    ``iterations`` counts (full- or mini-batch) updates; set ``epochs`` instead to count
    passes over the data (then ``iterations`` must be None).

    ``eval_train`` is ``fit``'s: record the accuracy on the training data after every epoch
    (an extra inference pass each epoch, which changes nothing trained; None: ``fit``'s rule,
    yes unless the run is full-batch iterations without validation). ``blas_threads`` limits
    NumPy's BLAS to that many threads while training (through threadpoolctl, where it is
    installed; None: no limit). The sums of a product may be ordered differently on another
    number of threads, so the parameters a seed gives are those of that number of threads;
    the run's config records it.
    """

    # architecture
    model: str = "mlp"  # one of MODELS
    architecture: str | None = None  # model="cnn" only (nnscratch.models.conv.parse_architecture)
    flip_average: bool = False  # model="cnn" only
    layers: tuple[int, ...] = DEFAULT_LAYERS
    activation: str = "relu"
    init: str = "sqrt_n_prev"
    init_scale: float = 0.01  # only for init="normal"
    dropout: float | None = None  # keep probability of hidden units; None = no dropout
    batch_norm: bool = False
    ensemble: int = 5  # networks whose probabilities are averaged (1 = a single network)
    # data
    standardize: bool = False  # per-pixel standardisation (else pixels / 255 only)
    flip: bool = False  # random horizontal flips while training
    balance: bool = True  # add mirrored copies of the minority class until classes are equal
    # optimisation
    optimizer: str = "gd"
    learning_rate: float = 0.0075
    iterations: int | None = 2000
    epochs: int | None = None
    batch_size: int | None = None
    lr_schedule: str | None = None
    l2: float = 0.0
    early_stopping: bool = False
    patience: int = 10
    validation_fraction: float | None = None
    seed: int = 0
    # how the run trains (not what): per-epoch records, threads
    eval_train: bool | None = None  # accuracy on the training data after every epoch
    blas_threads: int | None = None  # BLAS threads while training; None: the BLAS's own

    def __post_init__(self):
        """Check every field with the rules of ``nnscratch.base.validation`` (the ones the
        command line, the networks and ``fit`` use), then the combinations."""
        check_recipe_fields(self)

    @classmethod
    def cnn(cls, **changes) -> TrainConfig:
        """The CNN recipe chosen by cross-validation on the training images
        (``nnscratch.models.conv.CAT_RECIPE``, benchmarks/select_cnn.py), with ``changes``.

        It trains on one BLAS thread, as it was chosen (the batch-32 convolutions' products
        are too small to share: two threads take longer, see docs/cnn.md), and records no
        per-epoch training accuracy (the run needs only the final one)."""
        from nnscratch.models.conv import CAT_RECIPE

        fit = dict(CAT_RECIPE["fit"])
        recipe = cls(
            model="cnn",
            architecture=CAT_RECIPE["architecture"],
            flip_average=CAT_RECIPE.get("network", {}).get("flip_average", False),
            ensemble=CAT_RECIPE.get("ensemble", 1),
            standardize=False,  # pixels / 255, as the recipe was chosen
            init="he",  # ConvNetwork's default, as the recipe was chosen
            balance=False,  # the CNN recipe was chosen without class balancing
            flip=fit.pop("augment_flip", False),
            optimizer=fit.pop("optimizer"),
            learning_rate=fit.pop("learning_rate"),
            iterations=None,
            epochs=fit.pop("epochs"),
            batch_size=fit.pop("batch_size"),
            lr_schedule=fit.pop("lr_schedule", None),
            eval_train=False,
            blas_threads=1,
        )
        assert not fit, f"CAT_RECIPE fit options without a TrainConfig field: {fit}"
        return recipe.replace(**changes)

    def replace(self, **changes) -> TrainConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as JSON values; those of ``_LATER_FIELDS`` only when set, so that the
        settings recorded before they existed are the dict of the same config today."""
        d = asdict(self)
        d["layers"] = list(self.layers)
        for name in _LATER_FIELDS:
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def describe(self, n_x: int = 12288) -> str:
        """One line, e.g. "[12288, 20, 7, 5, 1] relu, he init, adam lr 0.0001, 600 it, ..."."""
        init = f"normal({self.init_scale:g})" if self.init in ("normal", "random") else self.init
        arch = f"{[n_x, *self.layers, 1]} {self.activation}"
        if self.model == "cnn":
            arch = f"CNN {self.architecture or 'default'}" + (
                ", flip-averaged" if self.flip_average else ""
            )
        parts = [
            arch,
            f"{init} init",
            f"{self.optimizer} lr {self.learning_rate:g}",
            f"{self.iterations} it" if self.iterations else f"{self.epochs} epochs",
        ]
        if self.batch_size:
            parts.append(f"batch {self.batch_size}")
        if self.lr_schedule:
            parts.append(f"{self.lr_schedule} schedule")
        if self.l2:
            parts.append(f"L2 {self.l2:g}")
        if self.dropout is not None:
            parts.append(f"keep {self.dropout:g}")
        if self.batch_norm:
            parts.append("batch norm")
        if self.early_stopping:
            parts.append(f"early stop (val {self.validation_fraction:g}, patience {self.patience})")
        if self.standardize:
            parts.append("standardised")
        if self.flip:
            parts.append("flips")
        if self.balance:
            parts.append("balanced")
        if self.ensemble > 1:
            parts.append(f"mean of {self.ensemble} nets")
        return ", ".join(parts)

    # ---- mapping onto the library -------------------------------------------------------
    def network_kwargs(self, n_x: int) -> dict:
        """Keyword arguments of ``Network`` (only non-default options, so that plain
        networks do not depend on optional features)."""
        kwargs: dict[str, object] = {
            "layer_dims": [n_x, *self.layers, 1],
            "hidden_activation": self.activation,
            "output_activation": "sigmoid",
            "init": self.init,
        }
        if self.init in ("normal", "random"):
            kwargs["init_scale"] = self.init_scale
        if self.dropout is not None and self.dropout < 1:
            kwargs["dropout"] = self.dropout
        if self.batch_norm:
            kwargs["batch_norm"] = True
        return kwargs

    def fit_kwargs(self, image_shape: Sequence[int] | None = None) -> dict:
        """Keyword arguments of ``Network.fit`` (again only what differs from plain GD)."""
        kwargs: dict = {"learning_rate": self.learning_rate}
        if self.epochs is not None:
            kwargs["epochs"] = self.epochs
        else:
            kwargs["iterations"] = self.iterations if self.iterations is not None else 2500
        if self.optimizer != "gd":
            kwargs["optimizer"] = self.optimizer
        if self.lr_schedule is not None:
            kwargs["lr_schedule"] = self.lr_schedule
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        if self.l2:
            kwargs["l2"] = self.l2
        if self.validation_fraction is not None:
            kwargs["validation_fraction"] = self.validation_fraction
        if self.early_stopping:
            kwargs["early_stopping"] = True
            kwargs["patience"] = self.patience
        if self.flip:
            kwargs["augment_flip"] = True
            if image_shape is not None:
                kwargs["image_shape"] = tuple(image_shape)
        if self.eval_train is not None:
            kwargs["eval_train"] = self.eval_train
        kwargs["seed"] = self.seed  # shuffles, validation split, flips, dropout masks
        return kwargs

    def threads(self) -> contextlib.AbstractContextManager:
        """The context to train in: NumPy's BLAS on ``blas_threads`` threads (no limit when
        None, or without threadpoolctl, which the ``app`` and ``sklearn`` extras bring)."""
        if self.blas_threads is None:
            return contextlib.nullcontext()
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
        except ImportError:
            return contextlib.nullcontext()
        return threadpool_limits(self.blas_threads, user_api="blas")

    def cnn_kwargs(self, image_shape: Sequence[int]) -> dict:
        """Keyword arguments of ``ConvNetwork`` for flattened images of ``image_shape``."""
        from nnscratch.models.conv import CAT_RECIPE

        kwargs = {
            "architecture": self.architecture or CAT_RECIPE["architecture"],
            "input_shape": tuple(image_shape),
            "flat_input": True,  # what ImagePreprocessor hands over
            "init": self.init,
        }
        if self.flip_average:
            kwargs["flip_average"] = True
        return kwargs

    def build_model(
        self, n_x: int, image_shape: Sequence[int] | None = None
    ) -> Network | ConvNetwork | Ensemble:
        """A fresh (untrained) network, or an ensemble of ``ensemble`` networks. A CNN needs
        ``image_shape`` (H, W, C), with H * W * C == n_x."""
        if self.model == "cnn":
            from nnscratch.models.conv import ConvNetwork

            if image_shape is None or math.prod(image_shape) != n_x:
                raise ValueError(f"a CNN needs image_shape (H, W, C) of {n_x} values")
            kwargs = self.cnn_kwargs(image_shape)
            if self.ensemble == 1:
                return ConvNetwork(**kwargs, seed=self.seed)
            return Ensemble.of(self.ensemble, seed=self.seed, network_class=ConvNetwork, **kwargs)
        if self.ensemble == 1:
            return Network(**self.network_kwargs(n_x), seed=self.seed)
        return Ensemble.of(self.ensemble, seed=self.seed, **self.network_kwargs(n_x))


def _field_rules() -> dict:
    """The rule of each recipe field, by name: ``TrainConfig``'s and ``recipes_any.AnyConfig``'s
    (the rules of ``nnscratch.base.validation`` that the command line, the networks and
    ``fit`` use). Each takes the value and returns it normalised (tuples, ints, floats)."""
    from nnscratch.nn.activations import HIDDEN_ACTIVATIONS
    from nnscratch.nn.initializers import INITIALIZERS
    from nnscratch.train.optimizers import OPTIMIZERS
    from nnscratch.train.schedules import SCHEDULES

    def optional_int(name):
        return lambda v: check_positive(name, v, integer=True, allow=(None,))

    def flag(name):
        return lambda v: check_flag(name, v)

    return {
        "model": lambda v: check_choice("model", v, MODELS),
        "flip_average": flag("flip_average"),
        "layers": lambda v: check_layer_widths("layers", v),
        "activation": lambda v: check_choice("activation", v, HIDDEN_ACTIVATIONS),
        "init": lambda v: check_choice("init", v, sorted(INITIALIZERS)),
        "init_scale": lambda v: check_positive("init_scale", v),
        "dropout": lambda v: check_probability("dropout", v, allow=(None,)),
        "batch_norm": flag("batch_norm"),
        "ensemble": lambda v: check_positive("ensemble", v, integer=True),
        "standardize": flag("standardize"),
        "flip": flag("flip"),
        "balance": flag("balance"),
        "optimizer": lambda v: check_choice("optimizer", v, sorted(OPTIMIZERS)),
        "learning_rate": lambda v: check_positive("learning_rate", v),
        "iterations": optional_int("iterations"),
        "epochs": optional_int("epochs"),
        "batch_size": optional_int("batch_size"),
        "lr_schedule": lambda v: check_choice("lr_schedule", v, (None, *sorted(SCHEDULES))),
        "l2": lambda v: check_positive("l2", v, allow_zero=True),
        "early_stopping": flag("early_stopping"),
        "patience": lambda v: check_positive("patience", v, integer=True),
        "validation_fraction": lambda v: check_fraction("validation_fraction", v, allow=(None,)),
        "seed": lambda v: check_seed(v, allow_none=False),
        "eval_train": lambda v: _optional_flag("eval_train", v),
        "blas_threads": optional_int("blas_threads"),
    }


def check_recipe_fields(config) -> None:
    """Check and normalise, in place, every field of a frozen recipe dataclass (a
    ``TrainConfig`` or a ``recipes_any.AnyConfig``) by ``_field_rules``, then the rules of
    their combinations. Raises ValueError naming the field, what it got and what is allowed."""
    rules = _field_rules()
    for field in fields(config):
        if field.name == "architecture":  # checked by its parser, below
            continue
        rule = rules[field.name]  # a KeyError here: a new field needs its rule
        object.__setattr__(config, field.name, rule(getattr(config, field.name)))
    if config.architecture is not None:
        if config.model != "cnn":
            raise ValueError("architecture is for model='cnn'")
        from nnscratch.models.conv import parse_architecture

        parse_architecture(config.architecture)  # ValueError naming a bad token
    if config.iterations is not None and config.epochs is not None:
        raise ValueError(
            f"give iterations or epochs, not both; got iterations={config.iterations}, "
            f"epochs={config.epochs}"
        )
    if config.early_stopping and config.validation_fraction is None:
        raise ValueError("early_stopping needs a validation_fraction (e.g. 0.2)")


def _optional_flag(name: str, value) -> bool | None:
    """None, or a True/False option (``check_flag``)."""
    return None if value is None else check_flag(name, value)


@dataclass
class TrainResult:
    """A trained model, the preprocessor fitted on its training images, and what training
    recorded (one History per network)."""

    model: Network | ConvNetwork | Ensemble
    preprocessor: ImagePreprocessor
    histories: list
    seconds: float

    @property
    def iterations(self) -> int:
        """Updates per network (the longest, when early stopping ends members differently)."""
        return max(len(h.costs) for h in self.histories)

    def predict_proba(self, images) -> np.ndarray:
        """The model's probabilities for raw images, ``RAW_BATCH_SIZE`` images at a time."""
        return self._through("predict_proba", images)

    def accuracy(self, images, labels) -> float:
        """Fraction of correct labels for raw images (the model's own decision rule)."""
        return metrics.accuracy(self._through("predict", images), labels)

    def _through(self, method: str, images) -> np.ndarray:
        predict = getattr(self.model, method)
        return in_batches(lambda batch: predict(self.preprocessor.transform(batch)), images)


def train_cats(config: TrainConfig, x_train, y_train, *, callbacks: Sequence = ()) -> TrainResult:
    """Fit the preprocessor on ``x_train`` (m, 64, 64, 3) uint8 and train ``config``'s model on
    it with labels ``y_train`` (m,). ``callbacks`` are passed to every network's ``fit``."""
    start = time.perf_counter()
    preprocessor, X, y_train, image_shape = training_inputs(config, x_train, y_train)
    model = config.build_model(X.shape[1], image_shape=image_shape)
    fit_kwargs = config.fit_kwargs(image_shape=image_shape)
    with config.threads():
        histories = model.fit(X, y_train, callbacks=list(callbacks), **fit_kwargs)
    if not isinstance(histories, list):
        histories = [histories]
    return TrainResult(model, preprocessor, histories, time.perf_counter() - start)


def training_inputs(config: TrainConfig, x_train, y_train, preprocessor=None):
    """What ``train_cats`` trains on: (preprocessor, X (m', n_x), y (m',), image shape).

    The preprocessor is fitted on ``x_train`` as given unless one is passed (a resumed run
    brings its own); ``config.balance`` then adds mirrored images (m' >= m). Shared with
    ``nnscratch.app.runs``, so that a checkpointed run trains on exactly the same inputs.
    """
    if preprocessor is None:
        preprocessor = ImagePreprocessor(standardize=config.standardize)
        preprocessor.fit(x_train)  # statistics of the training images as given
    if config.balance:
        x_train, y_train = balance_with_mirrors(x_train, y_train, seed=config.seed)
    X = preprocessor.transform(x_train)  # (m', n_x) float32
    return preprocessor, X, y_train, tuple(np.shape(x_train)[1:])


def balance_with_mirrors(images, labels, *, seed: int | None = 0):
    """Equal class counts by adding left-right mirrored copies of minority-class images.

    images (m, H, W, C), labels (m,) -> (m', H, W, C), (m',) with the originals first. The
    copies are of randomly chosen (seeded) minority images, each used once while there are
    enough. The cat data's 72 cats and 137 non-cats become 137 and 137: a classifier trained
    on it does not lean towards "non-cat" just because non-cats are more common in training.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size < 2:
        return images, labels
    extra_idx = []
    rng = np.random.default_rng(seed)
    for cls, count in zip(classes, counts, strict=True):
        need = counts.max() - count
        if need:
            members = np.flatnonzero(labels == cls)
            extra_idx.append(rng.choice(members, need, replace=need > members.size))
    if not extra_idx:
        return images, labels
    idx = np.concatenate(extra_idx)
    mirrored = images[idx][:, :, ::-1]  # flip the width axis
    return np.concatenate([images, mirrored]), np.concatenate([labels, labels[idx]])
