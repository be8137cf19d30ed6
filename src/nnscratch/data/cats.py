"""The cat vs non-cat data set: find, download (checksum-verified) and read its two HDF5 files.

    x_train, y_train, x_test, y_test, classes = load_cats()

Where the files are looked for, first match wins:

1. the ``data_dir`` argument (the CLI's ``--data DIR``),
2. the ``NNSCRATCH_DATA`` environment variable,
3. the user's cache, ``platformdirs.user_cache_dir("nnscratch")/data``.

A directory named by 1 or 2 must hold both files; nothing is ever downloaded into it. Only the
cache is filled by downloading, from public mirrors tried in turn, each download checked against
its known size and sha256 and written atomically (temp file in the same directory, fsync,
``os.replace``), so a failed or interrupted transfer never leaves a partial file behind.

Layout: images are ``(m, 64, 64, 3)`` uint8 RGB, one example per row (axis 0); labels are
``(m,)`` int64 with 1 = cat, 0 = non-cat.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import math
import os
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt

from nnscratch.base.atomic import atomic_write
from nnscratch.base.errors import DataError
from nnscratch.base.limits import MAX_DATA_BYTES, check_declared_size

__all__ = [
    "DATA_ENV_VAR",
    "IMAGE_SHAPE",
    "REMOTE_FILES",
    "CatData",
    "CatSplit",
    "DataError",
    "RemoteFile",
    "default_cache_dir",
    "download_file",
    "load_cats",
    "read_cat_file",
]

DATA_ENV_VAR = "NNSCRATCH_DATA"
IMAGE_SHAPE = (64, 64, 3)  # (H, W, C) of one example
DOWNLOAD_TIMEOUT_S = 20.0  # per socket operation (connect, each read), not per file
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RemoteFile:
    """One published data file: its name, exact size and sha256, and where to download it."""

    name: str
    size: int
    sha256: str
    mirrors: tuple[str, ...]


_MIRROR_BASES = (
    "https://raw.githubusercontent.com/Hiren2002/Logistic-Regression/main/datasets/",
    "https://raw.githubusercontent.com/ramakris/coursera-deeplearning/master/"
    "neuralnetworks/week4/datasets/",
)

# split name -> the file that holds it; the one place that names the files.
REMOTE_FILES: dict[str, RemoteFile] = {
    "train": RemoteFile(
        name="train_catvnoncat.h5",
        size=2_572_022,
        sha256="fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
        mirrors=tuple(base + "train_catvnoncat.h5" for base in _MIRROR_BASES),
    ),
    "test": RemoteFile(
        name="test_catvnoncat.h5",
        size=616_958,
        sha256="6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
        mirrors=tuple(base + "test_catvnoncat.h5" for base in _MIRROR_BASES),
    ),
}

# split name -> (images key, labels key) inside its HDF5 file; "list_classes" is required in
# the train file only (the test file's copy is not read).
_SPLIT_KEYS: dict[str, tuple[str, str]] = {
    "train": ("train_set_x", "train_set_y"),
    "test": ("test_set_x", "test_set_y"),
}
_CLASSES_KEY = "list_classes"


class CatSplit(NamedTuple):
    """One file's content: ``x`` (m, 64, 64, 3) uint8, ``y`` (m,) int64, ``classes`` or None."""

    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.int64]
    classes: tuple[str, ...] | None


class CatData(NamedTuple):
    """The whole data set, unpackable in the original article's order.

    ``x_train, y_train, x_test, y_test, classes = load_cats()``

    - x_train: (209, 64, 64, 3) uint8 RGB images, one example per row.
    - y_train: (209,) int64 labels, 1 = cat (72 of them), 0 = non-cat.
    - x_test: (50, 64, 64, 3) uint8.
    - y_test: (50,) int64 (33 cats).
    - classes: class names indexed by label, ``("non-cat", "cat")``.
    """

    x_train: npt.NDArray[np.uint8]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.uint8]
    y_test: npt.NDArray[np.int64]
    classes: tuple[str, ...]


def _require(module: str) -> ModuleType:
    """Import an optional dependency of the application, saying how to get it if missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"nnscratch.data.cats needs {module!r}; install it with: pip install 'nnscratch[app]'"
        ) from exc


def default_cache_dir() -> Path:
    """Where downloaded data files live: ``platformdirs.user_cache_dir("nnscratch")/data``."""
    platformdirs = _require("platformdirs")
    return Path(platformdirs.user_cache_dir("nnscratch")) / "data"


def _file_names() -> str:
    return " and ".join(remote.name for remote in REMOTE_FILES.values())


# ---------------------------------------------------------------------------------------------
# download


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(
    url: str,
    out: BinaryIO,
    *,
    name: str,
    size: int | None,
    progress: bool,
    timeout: float,
) -> str:
    """Stream ``url`` into the binary file ``out``; return the sha256 of what was written.

    Raises OSError (network, HTTP status), http.client.HTTPException, or ValueError (bad URL or
    a transfer whose length is not the announced or expected one).
    """
    tqdm = _require("tqdm").tqdm
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (known mirrors)
        header = response.headers.get("Content-Length")
        announced = int(header) if header is not None and header.isdigit() else None
        total = announced if announced is not None else size
        with tqdm(
            total=total,
            desc=name,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            disable=not (progress and sys.stderr.isatty()),
        ) as bar:
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if size is not None and received > size:
                    raise ValueError(f"server sent more than the expected {size} bytes")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    if announced is not None and received != announced:
        raise ValueError(
            f"transfer interrupted: connection closed after {received} of {announced} bytes"
        )
    if size is not None and received != size:
        raise ValueError(f"got {received} bytes, expected {size}")
    return digest.hexdigest()


def download_file(
    name: str,
    dest_dir: str | os.PathLike[str],
    mirrors: Sequence[str],
    sha256: str,
    *,
    size: int | None = None,
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download ``name`` into ``dest_dir`` from the first of ``mirrors`` that gives good bytes.

    Each mirror's bytes must have the given ``sha256`` (and ``size``, when given, and the
    server's Content-Length) or the next mirror is tried. Bytes go to a temporary file in
    ``dest_dir`` that is fsynced and renamed onto ``dest_dir/name`` only once verified; on any
    failure it is deleted, so neither a partial file nor a stray temp file is left behind.

    ``progress`` shows a tqdm bar on stderr (only when stderr is a terminal). ``timeout`` is in
    seconds per socket operation. Returns the final path. Raises DataError naming the file and
    every mirror tried with its error when none succeeds.
    """
    if not mirrors:
        raise DataError(f"cannot download {name}: no mirrors given")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    expected = sha256.lower()
    errors: list[str] = []
    for url in mirrors:
        try:
            with atomic_write(target, suffix=".part") as out:  # renamed only when verified
                got = _fetch(url, out, name=name, size=size, progress=progress, timeout=timeout)
                if got != expected:
                    raise ValueError(f"sha256 mismatch: got {got}, expected {expected}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        return target
    tried = "\n".join(f"  {line}" for line in errors)
    raise DataError(f"could not download {name} from any of {len(mirrors)} mirror(s):\n{tried}")


# ---------------------------------------------------------------------------------------------
# reading and validating


def _decode_classes(raw: np.ndarray, where: str) -> tuple[str, ...]:
    if raw.ndim != 1 or raw.shape[0] != 2:
        raise DataError(f"{where} has shape {raw.shape}; expected (2,): one name per label 0, 1")
    names = []
    for item in raw.tolist():
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{where} holds a name that is not UTF-8 text: {item!r}") from exc
        if not isinstance(item, str):
            raise DataError(f"{where} holds {item!r} ({type(item).__name__}); expected text")
        names.append(item)
    return tuple(names)


def _dataset(h5py, f, key: str, path: Path, required: list[str]):
    """The dataset ``key`` of the open file ``f``, stored in the file itself: DataError for a
    missing key, a group, a dangling or circular link, an external link, a virtual dataset
    (its sources could be any file, itself included, or missing and read as zeros) and
    external raw storage (its bytes would be read from any file on the host)."""
    where = f"{path}: {key!r}"
    try:
        link = f.get(key, getlink=True)
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        raise DataError(f"{where} cannot be opened ({exc})") from None
    if link is None:
        raise DataError(
            f"{path} lacks dataset(s) {[key]}; found keys {sorted(f.keys())}, expected {required}"
        )
    if isinstance(link, h5py.ExternalLink):
        exists = "an existing" if Path(link.filename).is_file() else "a missing"
        raise DataError(
            f"{where} is an external link to {link.path!r} in {exists} file "
            f"{link.filename!r}; the data must be stored in {path} itself"
        )
    try:
        node = f.get(key)
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        target = getattr(link, "path", "?")
        raise DataError(
            f"{where} is a link to {target!r} that cannot be resolved (dangling or circular: {exc})"
        ) from None
    if node is None:
        raise DataError(f"{where} is a link to {getattr(link, 'path', '?')!r}, which is missing")
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"{where} is a {type(node).__name__.lower()}, not a dataset")
    if node.is_virtual:
        raise DataError(
            f"{where} is a virtual dataset (its data live in other files); the data must be "
            f"stored in {path} itself"
        )
    if node.external:
        files = sorted({str(name) for name, *_ in node.external})
        raise DataError(
            f"{where} keeps its data in external raw file(s) {files}; the data must be stored "
            f"in {path} itself"
        )
    return node


#: how many times more bytes a dataset may declare than it stores (compressed images take a
#: half to a third of their size; a file of a few KB that declares gigabytes stores nothing)
_MAX_EXPANSION = 64


def _check_stored(ds, where: str) -> None:
    """DataError when ``ds`` stores far fewer bytes than its shape declares: its unwritten
    chunks would be read as zeros (a few KB declaring millions of images)."""
    declared = math.prod(ds.shape) * ds.dtype.itemsize
    stored = ds.id.get_storage_size()
    if declared > 1 << 20 and stored * _MAX_EXPANSION < declared:
        raise DataError(
            f"{where} declares {declared:,} bytes (shape {ds.shape}) but stores only "
            f"{stored:,}: most of it was never written"
        )


def read_cat_file(path: str | os.PathLike[str], split: str) -> CatSplit:
    """Read and validate one data file: ``split`` is "train" or "test".

    Returns ``CatSplit(x, y, classes)``: x (m, 64, 64, 3) uint8, y (m,) int64 in {0, 1}, and
    the decoded class names from "list_classes" (required in the train file; None for test).
    Raises DataError naming the file and what was found versus expected when the file is
    missing, not HDF5, truncated, lacks a key, or holds wrong shapes, dtypes, labels or counts.
    """
    if split not in _SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(_SPLIT_KEYS)}")
    h5py = _require("h5py")
    path = Path(path)
    x_key, y_key = _SPLIT_KEYS[split]
    required = [x_key, y_key] + ([_CLASSES_KEY] if split == "train" else [])
    if not path.is_file():
        raise DataError(f"{path} not found (expected the {split} file of the cat data set)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a valid HDF5 file (h5py: {exc})") from exc
    with f:
        x_ds, y_ds = (_dataset(h5py, f, key, path, required) for key in (x_key, y_key))
        classes_ds = _dataset(h5py, f, _CLASSES_KEY, path, required) if split == "train" else None
        if x_ds.ndim != 4 or x_ds.shape[1:] != IMAGE_SHAPE or x_ds.dtype != np.uint8:
            raise DataError(
                f"{path}: {x_key!r} has shape {x_ds.shape} dtype {x_ds.dtype}; "
                f"expected (m, {', '.join(map(str, IMAGE_SHAPE))}) uint8"
            )
        if y_ds.ndim != 1 or not np.issubdtype(y_ds.dtype, np.integer):
            raise DataError(
                f"{path}: {y_key!r} has shape {y_ds.shape} dtype {y_ds.dtype}; "
                "expected (m,) integer labels"
            )
        if x_ds.shape[0] != y_ds.shape[0] or x_ds.shape[0] == 0:
            raise DataError(
                f"{path}: {x_key!r} holds {x_ds.shape[0]} images but {y_key!r} holds "
                f"{y_ds.shape[0]} labels; expected the same number, at least 1"
            )
        for key, ds in ((x_key, x_ds), (y_key, y_ds), (_CLASSES_KEY, classes_ds)):
            if ds is not None:
                check_declared_size(
                    f"{path}: {key!r} declares shape {ds.shape} of {ds.dtype}",
                    ds.shape[0] if ds.shape else 1,
                    math.prod(ds.shape[1:]) * ds.dtype.itemsize,
                    MAX_DATA_BYTES,
                    error=DataError,
                )
        _check_stored(x_ds, f"{path}: {x_key!r}")
        try:
            x = np.asarray(x_ds[()], dtype=np.uint8)
            y = np.asarray(y_ds[()]).astype(np.int64)
            classes = (
                _decode_classes(np.asarray(classes_ds[()]), f"{path}: {_CLASSES_KEY!r}")
                if classes_ds is not None
                else None
            )
        except (OSError, RuntimeError, KeyError) as exc:
            raise DataError(f"{path} is truncated or corrupt: reading it failed ({exc})") from exc
    bad = np.unique(y[(y != 0) & (y != 1)])
    if bad.size:
        raise DataError(
            f"{path}: {y_key!r} holds labels {bad[:10].tolist()}; expected only 0 and 1"
        )
    return CatSplit(x=x, y=y, classes=classes)


# ---------------------------------------------------------------------------------------------
# the entry point


def _named_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    """The directory the user named (argument, then environment), with how it was named."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "given as data_dir / --data DIR"
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser(), f"named by ${DATA_ENV_VAR}"
    return None


def _fill_cache(cache: Path, *, download: bool, progress: bool) -> None:
    """Make sure the cache holds both files with their known checksums, downloading if allowed."""
    todo = [
        remote
        for remote in REMOTE_FILES.values()
        if not (cache / remote.name).is_file() or _sha256_of(cache / remote.name) != remote.sha256
    ]
    if not todo:
        return
    where = (
        f"Put {_file_names()} into {cache}, or pass --data DIR (data_dir=...) or set "
        f"{DATA_ENV_VAR}=DIR to a directory that holds them."
    )
    if not download:
        names = ", ".join(remote.name for remote in todo)
        raise DataError(
            f"the cat data set is not in the cache {cache} (missing or not matching its "
            f"sha256: {names}) and download=False. {where}"
        )
    failures = []
    for remote in todo:
        try:
            download_file(
                remote.name,
                cache,
                remote.mirrors,
                remote.sha256,
                size=remote.size,
                progress=progress,
                timeout=DOWNLOAD_TIMEOUT_S,
            )
        except DataError as exc:
            failures.append(str(exc))
    if failures:
        raise DataError(
            f"the cat data set ({_file_names()}) is not in the cache {cache} and could not be "
            "downloaded:\n" + "\n".join(failures) + f"\n{where}"
        )


def load_cats(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> CatData:
    """Load the cat vs non-cat data set, downloading it into the cache on first use.

    Looks in ``data_dir``, else ``$NNSCRATCH_DATA``, else the cache (see the module docstring).
    A named directory must hold both files. In the cache, a missing file (or one whose sha256
    is not the published one) is downloaded when ``download`` is true; ``progress`` shows a
    progress bar on a terminal. Returns ``CatData(x_train, y_train, x_test, y_test, classes)``
    with x (m, 64, 64, 3) uint8 and y (m,) int64. Raises DataError when the files are absent,
    cannot be downloaded, or do not hold what they should.
    """
    named = _named_dir(data_dir)
    if named is not None:
        directory, source = named
        missing = [r.name for r in REMOTE_FILES.values() if not (directory / r.name).is_file()]
        if missing:
            raise DataError(
                f"{directory} ({source}) lacks {', '.join(missing)}; it must hold both "
                f"{_file_names()}. Put them there, or name another directory."
            )
    else:
        directory = default_cache_dir()
        _fill_cache(directory, download=download, progress=progress)
    train = read_cat_file(directory / REMOTE_FILES["train"].name, "train")
    test = read_cat_file(directory / REMOTE_FILES["test"].name, "test")
    assert train.classes is not None  # required by read_cat_file for "train"
    return CatData(train.x, train.y, test.x, test.y, train.classes)
