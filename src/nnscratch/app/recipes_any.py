"""The default recipe for any data other than the cat images: image folders and tables, any
number of classes, or a regression.

    config = AnyConfig.for_data(data)             # MLP (or AnyConfig.for_data(data, "cnn"))
    result = train_any(config, data)              # data: a source.Dataset with x/y train
    result.predict(x_test)                        # labels, or values in the target's units

The recipe: inputs standardised with the training statistics (images: pixels / 255, then per
pixel; tables: numbers as they are, text one-hot, then per feature); an MLP of hidden widths
128, 64 (ReLU, He initialisation, dropout keeping 0.8 of the hidden units, L2 penalty 3);
Adam; mini-batches of 32;
early stopping on a held-out (stratified) validation split of 20%, keeping the best weights;
regression targets standardised for training and scaled back for predictions. Output: one
sigmoid unit for 2 classes, a softmax for more, one identity unit for a regression. It was
chosen by 3-fold cross-validation on the training part of scikit-learn's load_digits (as PNG
files), load_breast_cancer and load_diabetes (benchmarks/select_any_recipe.py; docs/data.md
has the figures), never on a test split and never on the cat images.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from nnscratch.app.recipe import check_recipe_fields
from nnscratch.base.batching import in_batches

__all__ = ["CNN_ARCHITECTURE", "AnyConfig", "AnyResult", "hold_out", "train_any"]

#: The CNN of ``--model cnn`` for image folders: two conv blocks, global average pooling.
CNN_ARCHITECTURE = "conv16x3-bn-relu-pool2-conv32x3-bn-relu-pool2-gap-dense64-relu"


@dataclass(frozen=True)
class AnyConfig:
    """A training run on data other than the cat images (the module's recipe by default)."""

    model: str = "mlp"
    architecture: str | None = None
    flip_average: bool = False
    layers: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    init: str = "he"
    dropout: float | None = 0.8  # keep probability of the hidden units
    batch_norm: bool = False
    ensemble: int = 1
    standardize: bool = True
    flip: bool = False
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    iterations: int | None = None
    epochs: int | None = 300
    batch_size: int | None = 32
    lr_schedule: str | None = None
    l2: float = 3.0
    early_stopping: bool = True
    patience: int = 20
    validation_fraction: float | None = 0.2
    seed: int = 0

    def __post_init__(self):
        """Every field checked by the rules of ``TrainConfig`` (``recipe.check_recipe_fields``)."""
        check_recipe_fields(self)

    @classmethod
    def for_model(cls, model: str = "mlp") -> AnyConfig:
        """The recipe's defaults for an MLP, or for the CNN (images only: pixels / 255
        without standardisation, fewer epochs, shorter patience)."""
        if model == "cnn":
            return cls(model="cnn", standardize=False, dropout=None, l2=0.0, epochs=60, patience=8)
        return cls()

    def replace(self, **changes) -> AnyConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    def describe(self) -> str:
        arch = (
            f"CNN {self.architecture or CNN_ARCHITECTURE}"
            if self.model == "cnn"
            else f"MLP {list(self.layers)} {self.activation}"
        )
        length = f"{self.iterations} it" if self.iterations else f"{self.epochs} epochs"
        parts = [arch, f"{self.optimizer} lr {self.learning_rate:g}", length]
        if self.batch_size:
            parts.append(f"batch {self.batch_size}")
        if self.dropout is not None and self.model == "mlp":
            parts.append(f"keep {self.dropout:g}")
        if self.l2:
            parts.append(f"L2 {self.l2:g}")
        if self.early_stopping:
            parts.append(f"early stop (val {self.validation_fraction:g}, patience {self.patience})")
        if self.standardize:
            parts.append("standardised")
        if self.ensemble > 1:
            parts.append(f"mean of {self.ensemble} nets")
        return ", ".join(parts)

    def fit_kwargs(self, image_shape: Sequence[int] | None) -> dict:
        kwargs: dict[str, Any] = {"learning_rate": self.learning_rate, "optimizer": self.optimizer}
        if self.epochs is not None:
            kwargs["epochs"] = self.epochs
        else:
            kwargs["iterations"] = self.iterations
        for name in ("batch_size", "lr_schedule", "validation_fraction"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        if self.l2:
            kwargs["l2"] = self.l2
        if self.early_stopping:
            kwargs["early_stopping"], kwargs["patience"] = True, self.patience
        if self.flip:
            kwargs["augment_flip"] = True
            kwargs["image_shape"] = tuple(image_shape or ())
        # no training-accuracy pass after every epoch: nothing here reads it, and for a CNN
        # it is an inference pass over all the images per epoch (the cat CNN: 44% of fit)
        kwargs["eval_train"] = False
        kwargs["seed"] = self.seed
        return kwargs


def output_of(task: str, n_classes: int) -> tuple[int, str]:
    """(output units, output activation) of a task: a sigmoid unit for 2 classes, a softmax
    for more, an identity unit for a regression."""
    if task == "regression":
        return 1, "identity"
    return (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")


def build_model(config: AnyConfig, n_x: int, n_out: int, output: str, image_shape=None):
    """A fresh network (or ensemble) of ``config`` for inputs of n_x features."""
    from nnscratch.models.conv import ConvNetwork
    from nnscratch.models.ensemble import Ensemble
    from nnscratch.models.network import Network

    if config.model == "cnn":
        if image_shape is None:
            raise ValueError("a CNN takes images; this data set is a table (use --model mlp)")
        kwargs: dict[str, Any] = {
            "architecture": config.architecture or CNN_ARCHITECTURE,
            "input_shape": tuple(image_shape),
            "n_outputs": n_out,
            "output_activation": output,
            "flat_input": True,
            "init": config.init,
        }
        if config.flip_average:
            kwargs["flip_average"] = True
        cls: type = ConvNetwork
    else:
        kwargs = {
            "layer_dims": [n_x, *config.layers, n_out],
            "hidden_activation": config.activation,
            "output_activation": output,
            "init": config.init,
        }
        if config.dropout is not None and config.dropout < 1:
            kwargs["dropout"] = config.dropout
        if config.batch_norm:
            kwargs["batch_norm"] = True
        cls = Network
    if config.ensemble == 1:
        return cls(**kwargs, seed=config.seed)
    return Ensemble.of(config.ensemble, seed=config.seed, network_class=cls, **kwargs)


@dataclass
class AnyResult:
    """A trained model, its fitted input preprocessor, the target scaling of a regression
    ({"mean", "std"}, else None) and what training recorded."""

    model: Any
    preprocessor: Any
    target_scale: dict | None
    histories: list
    seconds: float

    @property
    def iterations(self) -> int:
        return max(len(h.costs) for h in self.histories)

    def predict_proba(self, x) -> np.ndarray:
        return self._through("predict_proba", x)

    def predict(self, x) -> np.ndarray:
        """Class indices, or values in the target's units."""
        out = self._through("predict", x)
        if self.target_scale is not None:
            out = out.astype(np.float64) * self.target_scale["std"] + self.target_scale["mean"]
        return out

    def _through(self, method: str, x) -> np.ndarray:
        """``model.<method>`` of the preprocessed x: images a batch at a time, a table (its
        encoded rows are small) whole."""
        from nnscratch.data.tables import Table

        fn = getattr(self.model, method)
        if isinstance(x, Table):
            return fn(self.preprocessor.transform(x).astype(np.float32))
        return in_batches(lambda b: fn(self.preprocessor.transform(b)), x)


def make_preprocessor(config: AnyConfig, data):
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.data.table_encoding import TablePreprocessor

    if data.kind == "table":
        return TablePreprocessor(
            impute=data.description.get("impute"), standardize=config.standardize
        )
    return ImagePreprocessor(standardize=config.standardize)


def train_any(config: AnyConfig, data, *, callbacks: Sequence = ()) -> AnyResult:
    """Train ``config``'s model on ``data.x_train``/``y_train`` (a ``source.Dataset``)."""
    start = time.perf_counter()
    pre = make_preprocessor(config, data)
    X = pre.fit_transform(data.x_train)
    if X.dtype != np.float32:
        X = X.astype(np.float32)
    y = data.y_train
    scale = None
    if data.task == "regression":
        mean, std = float(np.mean(y)), float(np.std(y)) or 1.0
        scale = {"mean": mean, "std": std}
        y = ((y - mean) / std).astype(np.float32)
    n_out, output = output_of(data.task, data.n_classes)
    image_shape = tuple(np.shape(data.x_train)[1:]) if data.kind != "table" else None
    model = build_model(config, X.shape[1], n_out, output, image_shape)
    kwargs = config.fit_kwargs(image_shape)
    if data.x_val is not None and kwargs.get("validation_fraction") is not None:
        y_val = data.y_val
        if scale is not None:
            y_val = ((y_val - scale["mean"]) / scale["std"]).astype(np.float32)
        kwargs.pop("validation_fraction")
        kwargs["validation_data"] = (pre.transform(data.x_val).astype(np.float32), y_val)
    if kwargs.get("batch_size") and kwargs["batch_size"] > len(X):
        kwargs["batch_size"] = len(X)
    histories = model.fit(X, y, callbacks=list(callbacks), **kwargs)
    if not isinstance(histories, list):
        histories = [histories]
    return AnyResult(model, pre, scale, histories, time.perf_counter() - start)


def hold_out(data, fraction: float, seed: int) -> str:
    """Move a seeded test split of ``fraction`` of ``data``'s training examples (stratified by
    class for a classification) into ``data.x_test``/``y_test``; returns the line saying so."""
    from nnscratch.train.split import stratified_split

    labels = data.y_train if data.task == "classification" else None
    m = len(data.y_train)
    try:
        train, test = stratified_split(labels, fraction, np.random.default_rng([seed, 7]), m)
    except ValueError as err:
        raise ValueError(str(err).replace("validation_fraction", "test_fraction")) from None
    x = data.x_train
    take = (lambda idx: x.rows(idx)) if data.kind == "table" else (lambda idx: x[idx])
    data.x_test, data.y_test = take(test), data.y_train[test]
    data.x_train, data.y_train = take(train), data.y_train[train]
    how = "stratified by class" if labels is not None else "at random"
    return (
        f"held out {len(test)} of {m} examples ({fraction:g}, {how}, seed {seed}) as the test "
        "split (pass --test-fraction, --test-data, or train/ and test/ folders)"
    )
