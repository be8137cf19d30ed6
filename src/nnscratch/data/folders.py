"""Image folders in: one subfolder per class, as torchvision's ``ImageFolder`` and Keras'
``image_dataset_from_directory`` lay them out, read by the library's one image reader.

    photos/cat/1.jpg, photos/dog/2.png, ...                     classes "cat", "dog"
    photos/train/cat/..., photos/test/cat/..., [photos/val/...]  given splits

    folder = scan_folder("photos")           # ImageFolder: classes, files per split
    stack = read_folder_images(folder.files["train"], size=(64, 64), color="rgb")

Rules: classes are the subfolders' names, sorted (label k is ``classes[k]``); a class folder's
images are found in it and its subfolders (symbolic links to folders are not followed), sorted;
hidden files and folders (".name") and files without an image suffix are left out (and
counted); a class folder without images, a single class, or splits with different classes are
refused. Every file is read by ``nnscratch.data.images.read_image`` (its true bit depth, EXIF
orientation, alpha, palette; FIFOs, devices and decompression bombs refused) into one array
allocated up front, whose size is reported before reading starts and refused beyond
``max_bytes``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.data.images import COLORS, ON_BAD_FILE, read_image

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_SUFFIXES",
    "MAX_DECODED_BYTES",
    "SPLITS",
    "FolderImages",
    "ImageFolder",
    "common_size",
    "read_folder_images",
    "scan_folder",
]

#: File suffixes taken as images (lower case), as torchvision's IMG_EXTENSIONS.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pbm", ".pnm")  # fmt: skip
#: Split folder names (a folder holding "train" holds splits, not classes).
SPLITS = ("train", "val", "test")
#: The image size when the images do not share one.
DEFAULT_IMAGE_SIZE = (64, 64)
#: The most memory the decoded images may take by default (bytes): 4 GiB.
MAX_DECODED_BYTES = 4 * 2**30
#: How many image headers ``common_size`` looks at.
SIZE_SAMPLE = 200


@dataclass
class ImageFolder:
    """What ``scan_folder`` found: class names, and per split ("train", "val", "test"; or
    "all" when the folder holds no splits) the image paths and their labels."""

    root: str
    classes: tuple[str, ...]
    files: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: int = 0  # files left out: hidden, or without an image suffix

    @property
    def has_splits(self) -> bool:
        return "all" not in self.files

    def counts(self, split: str) -> list[int]:
        return np.bincount(self.labels[split], minlength=len(self.classes)).tolist()


def _visible_dirs(path: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as err:
        raise DataError(f"cannot read the folder {path}: {err.strerror or err}") from None
    return [Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir()]


def is_image_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with at least one visible subfolder (a candidate class
    or split folder)."""
    p = Path(path)
    return p.is_dir() and bool(_visible_dirs(p))


def scan_folder(root: str | os.PathLike[str]) -> ImageFolder:
    """The classes and image files under ``root`` (the module's rules); DataError for a folder
    that does not follow them, saying what it holds."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise DataError(f"{root} is not a folder")
    subdirs = _visible_dirs(root_path)
    names = [d.name for d in subdirs]
    split_dirs = [d for d in subdirs if d.name in SPLITS]
    folder = ImageFolder(str(root), ())
    if "train" in names:
        others = [n for n in names if n not in SPLITS]
        if others:
            raise DataError(
                f"{root} holds a train/ split and other folders ({', '.join(others)}); put the "
                "classes inside train/ and test/ (and val/), or drop the split folders"
            )
        found = {d.name: _scan_classes(d, folder) for d in split_dirs}
        first = found["train"][0]
        for split, (classes, _, _) in found.items():
            if classes != first:
                raise DataError(
                    f"{root}: {split}/ has the classes {list(classes)}, train/ has {list(first)}; "
                    "every split needs the same class folders"
                )
        folder.classes = first
        for split, (_, files, labels) in found.items():
            folder.files[split], folder.labels[split] = files, labels
    else:
        if any(d.name in SPLITS for d in subdirs):
            raise DataError(
                f"{root} holds {', '.join(d.name for d in split_dirs)}/ but no train/; splits "
                "need a train/ folder"
            )
        classes, files, labels = _scan_classes(root_path, folder)
        folder.classes = classes
        folder.files["all"], folder.labels["all"] = files, labels
    return folder


def _scan_classes(path: Path, folder: ImageFolder) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    class_dirs = _visible_dirs(path)
    if len(class_dirs) < 2:
        raise DataError(
            f"{path} needs one subfolder per class (at least 2, e.g. cat/ and dog/); it has "
            f"{len(class_dirs)}{': ' + class_dirs[0].name if class_dirs else ''}"
        )
    files: list[str] = []
    labels: list[int] = []
    for k, d in enumerate(class_dirs):
        found = _images_under(d, folder)
        if not found:
            raise DataError(
                f"the class folder {d} holds no images (files ending in "
                f"{', '.join(IMAGE_SUFFIXES[:5])}, ...)"
            )
        files.extend(found)
        labels.extend([k] * len(found))
    return tuple(d.name for d in class_dirs), files, np.asarray(labels, dtype=np.int64)


def _images_under(path: Path, folder: ImageFolder) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append(os.path.join(dirpath, name))
            else:
                folder.skipped += 1
    return found


# ---- sizes and reading ----------------------------------------------------------------------


#: Pillow modes of single-channel images (read as grayscale when every image has one)
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def common_size(paths: Sequence[str]) -> tuple[int, int] | None:
    """(H, W) shared by every image among up to ``SIZE_SAMPLE`` of ``paths`` (evenly spread),
    from their headers only, or None when they differ (or none could be opened)."""
    return sample_headers(paths)[0]


def sample_headers(paths: Sequence[str]) -> tuple[tuple[int, int] | None, str]:
    """(the common (H, W) or None, "grayscale" when every sampled image has one channel
    else "rgb"), from the headers of up to ``SIZE_SAMPLE`` of ``paths``."""
    from PIL import Image

    if not paths:
        return None, "rgb"
    step = max(1, len(paths) // SIZE_SAMPLE)
    sizes: set[tuple[int, int]] = set()
    modes: set[str] = set()
    for path in list(paths)[::step][:SIZE_SAMPLE]:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
            with Image.open(path) as img:
                w, h = img.size
                swap = img.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF: rotated by 90 degrees
                modes.add(img.mode)
        except Exception:  # noqa: BLE001 (any unreadable header: the reader will say why)
            continue
        sizes.add((w, h) if swap else (h, w))
    color = "grayscale" if modes and modes <= GRAY_MODES else "rgb"
    return (sizes.pop() if len(sizes) == 1 else None), color


def _check_left(paths, labels: np.ndarray, kept: list[int], refused, classes) -> None:
    """DataError when files were given and none was read, or when a class of ``classes``
    had files and none of them was read; the message names the first refusal."""
    if not paths or not refused:
        return
    if not kept:
        path, message = refused[0]
        raise DataError(
            f"none of the {len(paths)} image files could be read (the first, {path}: {message})"
        )
    if classes is None:
        return
    given = np.bincount(labels, minlength=len(classes))
    left = np.bincount(labels[kept], minlength=len(classes))
    for k in np.flatnonzero((given > 0) & (left == 0)):
        first = next(p for p, lab in zip(paths, labels, strict=True) if lab == k)
        message = dict(refused).get(first, "")
        raise DataError(
            f"the class {classes[k]!r}: none of its {int(given[k])} image files could be read "
            f"(the first, {first}: {message}); a class needs at least one readable image"
        )


class FolderImages(NamedTuple):
    """Images read from files: ``images`` (m, H, W, C) uint8, ``labels`` (m,), the ``paths``
    read, and one (path, message) per file ``refused`` (skipped)."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    refused: list[tuple[str, str]]


def decoded_bytes(n: int, size: tuple[int, int], color: str) -> int:
    """Bytes of n decoded images of ``size`` in ``color`` (uint8)."""
    return n * size[0] * size[1] * (1 if color == "grayscale" else 3)


def read_folder_images(
    paths: Sequence[str],
    labels,
    *,
    size: tuple[int, int],
    color: str = "rgb",
    on_bad_file: str = "skip",
    max_bytes: int = MAX_DECODED_BYTES,
    progress: Callable[[int], None] | None = None,
    classes: Sequence[str] | None = None,
) -> FolderImages:
    """Every file of ``paths`` read by ``read_image`` at ``size`` (H, W) in ``color`` ("rgb"
    or "grayscale") into one (m, H, W, C) uint8 array allocated once; ``progress(1)`` after
    each file. A file that cannot be read is left out and listed (``on_bad_file="skip"``) or
    its DataError raised ("fail"). Raises DataError before reading when the decoded images
    would take more than ``max_bytes``, and after it when no file could be read, or (given
    the ``classes`` that ``labels`` index) when a class is left without any image: training
    or evaluating on what remains would silently drop that class."""
    if color not in ("rgb", "grayscale"):
        raise ValueError(f"color must be rgb or grayscale; got {color!r} (known: {list(COLORS)})")
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(
            f"on_bad_file must be one of {', '.join(ON_BAD_FILE)}; got {on_bad_file!r}"
        )
    labels = np.asarray(labels, dtype=np.int64)
    need = decoded_bytes(len(paths), size, color)
    if need > max_bytes:
        raise DataError(
            f"{len(paths)} images of {size[0]}x{size[1]} {color} take {need / 2**20:.0f} MiB "
            f"decoded, more than the limit of {max_bytes / 2**20:.0f} MiB; pass a smaller "
            "--image-size (or a larger --max-memory)"
        )
    channels = 1 if color == "grayscale" else 3
    out = np.empty((len(paths), size[0], size[1], channels), dtype=np.uint8)
    kept: list[int] = []
    refused: list[tuple[str, str]] = []
    for i, path in enumerate(paths):
        try:
            out[len(kept)] = read_image(path, size, color=color).reshape(out.shape[1:])
            kept.append(i)
        except DataError as err:
            if on_bad_file == "fail":
                raise
            refused.append((path, str(err)))
        if progress is not None:
            progress(1)
    _check_left(paths, labels, kept, refused, classes)
    images = out[: len(kept)]  # a view: skipped files cost no second copy
    return FolderImages(images, labels[kept], [paths[i] for i in kept], refused)
