"""What ``--data`` names, read as one kind of data set: the cat HDF5 pair, an image folder or a
table (``KINDS``, tried in order; the first whose ``claims`` is true reads it).

    options = DataOptions(image_size=(32, 32), target="price")
    data = load_data("photos/", options)     # Dataset: kind, x/y train (and test), classes...
    data = load_data(None)                   # the cat data ($NNSCRATCH_DATA, else the cache)

A ``Dataset`` holds the training examples and, when the source gives one (the cat test file, a
test/ folder, ``--test-data``), the test examples; else ``x_test`` is None and the caller
holds out a test split. ``description`` is what a model file records about its inputs
(``kind``, the image size and colour mode, or the feature columns and target), ``notes`` the
lines a command prints about how the data were read (the task inferred and why, files skipped).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.data import folders, tables

__all__ = ["KINDS", "DataOptions", "Dataset", "kind_of", "load_data", "read_image_inputs"]

#: ``progress(total, description)``: a context manager giving ``update(n)``
ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], Any]]]


@dataclass(frozen=True)
class DataOptions:
    """How to read a source (each field is a command-line flag of the same name)."""

    image_size: tuple[int, int] | None = None  # None: the images' common size, else 64x64
    color: str | None = None  # None: grayscale when every image is, else rgb
    on_bad_file: str = "skip"
    max_bytes: int = folders.MAX_DECODED_BYTES
    target: str | None = None  # None: the last column
    task: str | None = None  # None: inferred
    impute: str | None = None
    test_data: str | None = None
    progress: ProgressFactory | None = None


@dataclass
class Dataset:
    """One data set read from a source. x are (m, H, W, C) uint8 images or a
    ``tables.Table`` of the feature columns; y (m,) int64 labels or float64 targets."""

    kind: str
    source: str
    x_train: Any
    y_train: np.ndarray
    x_test: Any = None
    y_test: np.ndarray | None = None
    x_val: Any = None  # a given validation split (an image folder's val/), else None
    y_val: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    task: str = "classification"
    description: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes else 0


# ---- the cat data ---------------------------------------------------------------------------


def _claims_cats(spec: str | None) -> bool:
    if spec is None:
        return True
    from nnscratch.data.cats import REMOTE_FILES

    p = Path(spec)
    return p.is_dir() and any((p / r.name).exists() for r in REMOTE_FILES.values())


def _load_cats(spec: str | None, options: DataOptions) -> Dataset:
    from nnscratch.data.cats import load_cats

    data = load_cats(spec)
    return Dataset(
        "cats", spec or "the cat data", data.x_train, data.y_train, data.x_test, data.y_test,
        classes=tuple(data.classes), task="classification",
        description={"kind": "images", "image_size": list(data.x_train.shape[1:3]), "color": "rgb"},
    )  # fmt: skip


# ---- an image folder ------------------------------------------------------------------------


def _claims_folder(spec: str | None) -> bool:
    return spec is not None and folders.is_image_folder(spec)


def _load_folder(spec: str | None, options: DataOptions) -> Dataset:
    assert spec is not None
    folder = folders.scan_folder(spec)
    if options.test_data is not None and "test" in folder.files:
        raise DataError(f"--test-data {options.test_data}: {spec} already has a test/ folder")
    notes = [f"{spec}: {len(folder.classes)} classes ({_short(folder.classes)})"]
    if folder.skipped:
        notes.append(f"{spec}: left out {folder.skipped} hidden or non-image file(s)")
    all_files = [f for split in folder.files.values() for f in split]
    size, color = options.image_size, options.color
    if size is None or color is None:
        common, seen_color = folders.sample_headers(all_files)
        if size is None:
            size = common or folders.DEFAULT_IMAGE_SIZE
            how = "the images' common size" if common else "the images differ in size"
            notes.append(f"image size {size[0]}x{size[1]} ({how}; --image-size HxW changes it)")
        if color is None:
            color = seen_color
            notes.append(f"colour: {color} (--color rgb|grayscale changes it)")
    options = replace(options, image_size=size, color=color)
    parts = {}
    refused: list[tuple[str, str]] = []
    for split in ("train", "all", "val", "test"):
        if split not in folder.files:
            continue
        part = read_image_inputs(
            folder.files[split],
            folder.labels[split],
            size,
            options,
            f"reading {split}",
            classes=folder.classes,
        )
        refused.extend(part.refused)
        parts[split] = part
    train = parts.get("train") or parts["all"]
    test = parts.get("test")
    desc = {"kind": "images", "image_size": list(size), "color": color}
    data = Dataset(
        "images", str(spec), train.images, train.labels,
        None if test is None else test.images, None if test is None else test.labels,
        classes=folder.classes, task="classification", description=desc, notes=notes,
        refused=refused,
    )  # fmt: skip
    if "val" in parts:
        data.x_val, data.y_val = parts["val"].images, parts["val"].labels
        notes.append(f"{spec}: val/ is the validation split (early stopping watches it)")
    if options.test_data is not None:
        _attach_test_folder(data, options.test_data, size, options)
    return data


def _attach_test_folder(data: Dataset, path: str, size, options: DataOptions) -> None:
    other = folders.scan_folder(path)
    if other.classes != data.classes:
        raise DataError(
            f"--test-data {path} has the classes {list(other.classes)}; the training folder "
            f"has {list(data.classes or ())}"
        )
    split = "test" if "test" in other.files else ("all" if "all" in other.files else "train")
    part = read_image_inputs(
        other.files[split],
        other.labels[split],
        size,
        options,
        "reading test",
        classes=other.classes,
    )
    data.x_test, data.y_test = part.images, part.labels
    data.refused.extend(part.refused)


def read_image_inputs(paths, labels, size, options: DataOptions, what: str, classes=None):
    """``folders.read_folder_images`` with the options' colour, bad-file rule, memory limit
    and progress bar, after saying how much memory the images take."""
    color = options.color or "rgb"
    need = folders.decoded_bytes(len(paths), size, color)
    print(
        f"{what}: {len(paths)} images as {size[0]}x{size[1]} {color} "
        f"({need / 2**20:.1f} MiB decoded)",
        flush=True,
    )
    bar = options.progress(len(paths), what) if options.progress else nullcontext(None)
    with bar as update:
        return folders.read_folder_images(
            paths, labels, size=size, color=color, on_bad_file=options.on_bad_file,
            max_bytes=options.max_bytes, progress=update, classes=classes,
        )  # fmt: skip


# ---- a table --------------------------------------------------------------------------------


def _claims_table(spec: str | None) -> bool:
    return spec is not None and Path(spec).suffix.lower() in tables.TABLE_SUFFIXES


def _load_table(spec: str | None, options: DataOptions) -> Dataset:
    assert spec is not None
    table = tables.read_table(spec)
    target = table.target(options.target, options.task)
    features = table.features(options.target)
    notes = [
        f"{spec}: {table.m} rows, {len(features.names)} feature column(s), target "
        f"{target.name!r}: {target.task} ({target.reason}"
        + (f"; {len(target.classes)} classes" if target.classes else "")
        + "; override with --task)"
    ]
    categorical = [
        n for n, c in zip(features.names, features.columns, strict=True) if c.dtype.kind != "f"
    ]
    if categorical:
        notes.append(f"one-hot encoded text column(s): {_short(categorical)}")
    desc = {
        "kind": "table",
        "columns": list(features.names),
        "target": target.name,
        "impute": options.impute,
    }
    data = Dataset(
        "table", str(spec), features, target.labels, classes=target.classes, task=target.task,
        description=desc, notes=notes,
    )  # fmt: skip
    if options.test_data is not None:
        test = tables.read_table(options.test_data)
        j = test.index_of(target.name)  # DataError listing its columns when it lacks it
        data.y_test = target.encode(test.columns[j], test)
        data.x_test = test.features(test.names[j]).select(features.names)
    return data


def read_table_inputs(path: str, columns: list[str], target: str | None):
    """A table file for a model that takes ``columns``: (the feature Table, the target
    column or None when the file lacks it). A column that is neither one of ``columns`` nor
    the target is refused by name (as scikit-learn refuses unseen feature names): taking
    the model's columns out of a wider table would score data of another kind."""
    table = tables.read_table(path)
    y = table.columns[table.names.index(target)] if target in table.names else None
    features = table.select(columns)
    extra = [n for n in table.names if n not in columns and n != target]
    if extra and all(n in table.names for n in columns):
        raise DataError(
            f"{path} has {len(extra)} column(s) the model was not trained on ({_few(extra)}); "
            f"it takes the {len(columns)} column(s) {_few(columns)}"
            + (f" and the target {target!r}" if target is not None else "")
            + "; drop the others"
        )
    return features, y, table


def _few(names: list[str], limit: int = 8) -> str:
    """Up to ``limit`` names, quoted, then how many in all."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# ---- dispatch -------------------------------------------------------------------------------

#: (kind, claims(spec), load(spec, options)) in the order tried.
KINDS: tuple[tuple[str, Callable[[str | None], bool], Callable[..., Dataset]], ...] = (
    ("cats", _claims_cats, _load_cats),
    ("images", _claims_folder, _load_folder),
    ("table", _claims_table, _load_table),
)


def kind_of(spec: str | os.PathLike[str] | None) -> str:
    """The kind of data ``spec`` names ("cats", "images", "table"); DataError otherwise."""
    text = None if spec is None else os.fspath(spec)
    if text is not None and not os.path.exists(text):
        raise DataError(f"--data {text} does not exist")
    for kind, claims, _ in KINDS:
        if claims(text):
            return kind
    raise DataError(
        f"--data {text} is neither the cat data (a folder with train_catvnoncat.h5 and "
        "test_catvnoncat.h5), an image folder (one subfolder per class, optionally under "
        f"train/ and test/) nor a table ({', '.join(tables.TABLE_SUFFIXES)})"
    )


def load_data(spec: str | os.PathLike[str] | None, options: DataOptions | None = None) -> Dataset:
    """The data set ``spec`` names, read by its kind's reader (module docstring)."""
    options = options or DataOptions()
    kind = kind_of(spec)
    load = next(load for k, _, load in KINDS if k == kind)
    return load(None if spec is None else os.fspath(spec), options)


def _short(names, limit: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)})" if len(names) > limit else "")
