"""Image files in: the one reader of the library, for one file or many.

    image = read_image("cat.jpg", size=(64, 64))            # (64, 64, 3) uint8
    images, paths, refused = read_images(files, size=(64, 64))

What comes out (the rules every caller gets):

- an array of shape ``(H, W, C)``, always ``uint8`` in 0..255, one row of pixels per ``H``;
- ``color="rgb"``: C = 3; ``"grayscale"``: C = 1 (ITU-R 601-2 luma, Pillow's); ``"keep"``: the
  file's own channels, alpha kept: C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA);
- transparency (an alpha channel, or a palette or colour key marked transparent) is
  composited on white for ``"rgb"`` and ``"grayscale"`` (a transparent pixel reads as white, as
  a viewer on a white page shows it; dropping alpha would expose whatever colour the hidden
  pixels happen to hold); ``"keep"`` returns it, not composited;
- pixel values: 8-bit modes (1, L, P, RGB, CMYK, YCbCr, ...) keep theirs (mode 1 gives 0 and
  255; CMYK and YCbCr go to RGB by Pillow's conversion). 16-bit modes (I;16, I;16B, ...) are
  scaled by 255/65535, rounded. Mode I (32-bit integers) is read as 16-bit when its values lie
  in 0..65535, else stretched linearly from its minimum (0) to its maximum (255). Mode F (32-bit
  floats): values in [0, 1] are scaled by 255, values in [0, 255] kept, any other range
  stretched from minimum to maximum; NaN or infinity is refused. Nothing is clipped;
- the EXIF orientation is applied (``ImageOps.exif_transpose``): a phone photo reads upright;
- animated or multi-page files (GIF, APNG, WebP, TIFF): the first frame;
- ``size=(H, W)`` resizes to exactly that (the aspect ratio is not kept) with Lanczos
  filtering, which averages away detail too fine for the new size instead of aliasing it;
  ``reducing_gap`` (and, for JPEG, decoding at a reduced scale) keeps large photos fast.

What is refused, as ``DataError("cannot read image PATH: what is wrong; what is allowed")``:
a missing path; a path that is not a regular file (directory, FIFO, device, socket: checked with
``os.stat`` before the file is opened, so a FIFO never blocks); an empty file; a file in none of
the ``FORMATS``; a header declaring a size of 0 or more than ``max_pixels`` pixels (default
``MAX_PIXELS``; checked from the header, before any pixel is decoded, so a small file declaring
a huge image costs no memory; Pillow's own ``Image.MAX_IMAGE_PIXELS`` check also applies, its
DecompressionBombWarning and -Error become this DataError); truncated or corrupt pixel data
(unless the caller set Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES``).

Pillow is in the ``app`` extra: ``pip install 'nnscratch[app]'``.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from nnscratch.base.errors import DataError

__all__ = [
    "COLORS",
    "FORMATS",
    "MAX_PIXELS",
    "ON_BAD_FILE",
    "ImageStack",
    "read_image",
    "read_images",
]

#: The file formats read (Pillow's names; JPEG includes the multi-picture MPO files of some
#: cameras). Pillow knows more, but some run external programs (EPS runs Ghostscript) or are
#: rarely images a user means; a file of another format is refused.
FORMATS = ("BMP", "GIF", "JPEG", "PNG", "PPM", "TIFF", "WEBP")

#: The largest pixel count (width x height, as the header declares it) read by default: 64 Mi
#: pixels, 192 MiB as RGB uint8, more than a 48-megapixel phone photo (8064 x 6048).
MAX_PIXELS = 2**26

#: ``color`` -> the Pillow mode of the result (None: the file's own, alpha kept).
COLORS = {"rgb": "RGB", "grayscale": "L", "keep": None}

#: What ``read_images`` does with a file it cannot read.
ON_BAD_FILE = ("skip", "fail")

#: Resizing: Lanczos, after reducing by whole factors down to ``REDUCING_GAP`` x the target.
REDUCING_GAP = 3.0

#: What Pillow raises on corrupt or hostile data (its own ``Image.open`` catches the same ones).
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)

_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}

#: Every 8-bit Pillow mode -> the mode it is read as, alpha kept (before the ``color`` choice).
_EIGHT_BIT = {
    "1": "L",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "P": "RGB",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}

#: A mode with transparency in ``info`` (a palette entry or a colour key) -> its alpha mode.
_WITH_ALPHA = {"L": "LA", "RGB": "RGBA"}

#: The EXIF orientations that swap width and height (rotations by 90 degrees).
_ORIENTATIONS_SWAPPING_AXES = (5, 6, 7, 8)


class ImageStack(NamedTuple):
    """What ``read_images`` returns.

    images: (m, H, W, C) uint8, the files read, in the order given.
    paths: the m paths read (``images[i]`` is ``paths[i]``).
    refused: one (path, message) per file not read, in the order given.
    """

    images: np.ndarray
    paths: list[str]
    refused: list[tuple[str, str]]


def read_image(
    path,
    size: tuple[int, int] | None = None,
    color: str = "rgb",
    *,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """One image file as an (H, W, C) uint8 array (the rules are in the module docstring).

    Args:
        path: the file (str or path-like).
        size: (H, W) to resize to, or None to keep the file's size.
        color: "rgb" (C = 3), "grayscale" (C = 1) or "keep" (the file's channels, alpha kept).
        max_pixels: the largest width x height accepted, read from the header.

    Raises:
        DataError: naming the file, what is wrong with it and what is allowed.
        ValueError: for a bad ``size``, ``color`` or ``max_pixels``.
        ImportError: when Pillow is not installed.
    """
    size, mode = _check_size(size), _check_color(color)
    max_pixels = _check_max_pixels(max_pixels)
    return _read(os.fspath(path), size, mode, max_pixels)


def read_images(
    paths: Iterable,
    size: tuple[int, int] | None = None,
    color: str = "rgb",
    *,
    on_bad_file: str = "skip",
    max_pixels: int = MAX_PIXELS,
) -> ImageStack:
    """Many image files as one (m, H, W, C) uint8 stack; a bad file never stops the others.

    Each file is read as by ``read_image``. With ``size=None`` (or ``color="keep"``) every image
    must have the shape of the first one read; one of another shape is a bad file too.

    Args:
        on_bad_file: "skip" to leave a bad file out and list it in ``refused``; "fail" to raise
            its DataError at once.

    Returns:
        ImageStack(images, paths, refused). With no file read, ``images`` has shape
        (0, H, W, C) with (H, W) = ``size`` or (0, 0), and C = 3 (rgb), 1 (grayscale) or 0
        (keep: unknown).
    """
    size, mode = _check_size(size), _check_color(color)
    max_pixels = _check_max_pixels(max_pixels)
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(
            f"on_bad_file must be one of {', '.join(ON_BAD_FILE)}; got {on_bad_file!r}"
        )
    images: list[np.ndarray] = []
    read, refused = [], []
    for path in map(os.fspath, paths):
        try:
            image = _read(path, size, mode, max_pixels)
            if images and image.shape != images[0].shape:
                raise DataError(
                    f"cannot read image {path}: its shape {image.shape} differs from "
                    f"{images[0].shape}, the first image's; pass size=(H, W) (and a color other "
                    "than 'keep') to read images of any size"
                )
        except DataError as err:
            if on_bad_file == "fail":
                raise
            refused.append((path, str(err)))
            continue
        images.append(image)
        read.append(path)
    if not images:
        channels = {"RGB": 3, "L": 1, None: 0}[mode]
        return ImageStack(np.empty((0, *(size or (0, 0)), channels), np.uint8), read, refused)
    return ImageStack(np.stack(images), read, refused)


# ---- argument checks ------------------------------------------------------------------------


def _check_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = size
    except (TypeError, ValueError):
        h = w = None
    for n in (h, w):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"size must be (height, width), integers >= 1, or None; got {size!r}")
    return int(h), int(w)


def _check_color(color) -> str | None:
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}; got {color!r}")
    return COLORS[color]


def _check_max_pixels(max_pixels) -> int:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise ValueError(f"max_pixels must be an integer >= 1; got {max_pixels!r}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be an integer >= 1; got {max_pixels!r}")
    return int(max_pixels)


# ---- reading --------------------------------------------------------------------------------


def _pillow():
    """Pillow's Image and ImageOps modules, saying how to get Pillow when it is missing."""
    try:
        from PIL import Image, ImageOps
    except ImportError as err:
        raise ImportError(
            "nnscratch.data.images needs Pillow; install it with: pip install 'nnscratch[app]'"
        ) from err
    return Image, ImageOps


def _read(path: str, size, mode, max_pixels: int) -> np.ndarray:
    Image, ImageOps = _pillow()
    with _open_regular_file(path) as file:
        head = file.read(32)
        if not head:
            raise DataError(f"cannot read image {path}: it is empty (0 bytes)")
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(file, formats=FORMATS)
            except Image.UnidentifiedImageError:
                raise DataError(f"cannot read image {path}: {_unidentified(head)}") from None
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
                raise DataError(f"cannot read image {path}: {err}") from None
            except _DECODE_ERRORS as err:
                raise DataError(
                    f"cannot read image {path}: its header is corrupt or truncated ({err})"
                ) from None
            with img:
                _check_pixel_count(path, img.size, max_pixels)
                try:
                    return _decode(path, img, size, mode, Image, ImageOps)
                except DataError:
                    raise
                except _DECODE_ERRORS as err:
                    raise DataError(
                        f"cannot read image {path}: truncated or corrupt {img.format} data ({err})"
                    ) from None


def _open_regular_file(path: str):
    """The file at ``path`` opened for binary reading, or DataError when it is not a regular file.

    ``os.stat`` comes first, so a FIFO or device is refused without being opened (opening a FIFO
    blocks until a writer appears); the opened descriptor is checked again with ``fstat``, so a
    path swapped for a FIFO in between is refused too (O_NONBLOCK keeps that open from blocking).
    """
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)
        if kind != stat.S_IFREG:
            raise DataError(f"cannot read image {path}: {_not_regular(kind)}")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DataError(f"cannot read image {path}: no such file") from None
    except PermissionError:
        raise DataError(f"cannot read image {path}: permission denied") from None
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err.strerror or err}") from None
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFREG:
        os.close(fd)
        raise DataError(f"cannot read image {path}: {_not_regular(kind)}")
    return os.fdopen(fd, "rb")


def _not_regular(kind: int) -> str:
    what = _FILE_KINDS.get(kind, "not a regular file")
    return f"it is {what}; only regular files are read as images"


def _check_pixel_count(path: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise DataError(
            f"cannot read image {path}: its header declares {width} x {height} = "
            f"{width * height:,} pixels, more than the limit of {max_pixels:,} (max_pixels); "
            "a decompression bomb, or an image too large to read"
        )


#: Signatures of common formats -> their name and, where it is at a fixed place, the (offset,
#: struct format) of the declared width and height: to say why Pillow could not identify a file
#: that starts like an image.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("PNG", (16, ">II")),
    b"GIF87a": ("GIF", (6, "<HH")),
    b"GIF89a": ("GIF", (6, "<HH")),
    b"BM": ("BMP", (18, "<ii")),
    b"\xff\xd8\xff": ("JPEG", None),
    b"II*\x00": ("TIFF", None),
    b"MM\x00*": ("TIFF", None),
}


def _unidentified(head: bytes) -> str:
    """Why a file Pillow could not identify is refused, from its first bytes."""
    for magic, (name, size_field) in _SIGNATURES.items():
        if not head.startswith(magic):
            continue
        if size_field is not None:
            offset, layout = size_field
            end = offset + struct.calcsize(layout)
            if len(head) >= end:
                width, height = struct.unpack(layout, head[offset:end])
                if width == 0 or height == 0:
                    return (
                        f"its {name} header declares {width} x {height} pixels; an image needs "
                        "at least 1 x 1"
                    )
        return f"it starts like a {name} file but its header is corrupt or truncated"
    return f"it is not an image file in a format read here ({', '.join(FORMATS)})"


def _decode(path: str, img, size, mode, Image, ImageOps) -> np.ndarray:
    """The opened ``img`` -> (H, W, C) uint8: upright, 8-bit, in ``mode``, resized."""
    if size is not None and img.format in ("JPEG", "MPO"):
        _draft(img, size)
    ImageOps.exif_transpose(img, in_place=True)
    img = _to_eight_bit(path, img, Image)
    if mode is not None:
        img = _to_mode(img, mode, Image)
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    array = np.array(img, dtype=np.uint8)  # a writable copy (Pillow's buffer is read-only)
    return array[:, :, None] if array.ndim == 2 else array


def _draft(img, size: tuple[int, int]) -> None:
    """Let the JPEG decoder scale by 1/2, 1/4 or 1/8 while staying >= REDUCING_GAP x ``size``
    (in the file's own orientation, before the EXIF rotation)."""
    height, width = size
    if img.getexif().get(0x0112) in _ORIENTATIONS_SWAPPING_AXES:
        height, width = width, height
    img.draft(None, (math.ceil(width * REDUCING_GAP), math.ceil(height * REDUCING_GAP)))


def _to_eight_bit(path: str, img, Image):
    """Any mode -> L, LA, RGB or RGBA (alpha kept, transparency in ``info`` made alpha)."""
    rescale = _RESCALE.get(img.mode)
    if rescale is not None:
        return Image.fromarray(rescale(path, np.asarray(img)))
    target = _EIGHT_BIT.get(img.mode)
    if target is None:
        raise DataError(
            f"cannot read image {path}: its pixel mode {img.mode!r} is not supported (modes "
            f"read: {', '.join([*_EIGHT_BIT, *_RESCALE])})"
        )
    if target in _WITH_ALPHA and img.has_transparency_data:
        target = _WITH_ALPHA[target]
    return img if img.mode == target else img.convert(target)


def _to_mode(img, mode: str, Image):
    """L, LA, RGB or RGBA -> ``mode`` (RGB or L), transparency composited on white."""
    if img.mode in ("LA", "RGBA"):
        opaque = img.mode[:-1]
        background = Image.new(opaque, img.size, 255 if opaque == "L" else (255, 255, 255))
        background.paste(img.convert(opaque), mask=img.getchannel("A"))
        img = background
    return img if img.mode == mode else img.convert(mode)


# ---- high bit depths to uint8 ---------------------------------------------------------------


def _from_16_bit(path: str, a: np.ndarray) -> np.ndarray:
    """(H, W) integers in 0..65535 -> uint8, v * 255 / 65535 rounded."""
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _stretch(a: np.ndarray) -> np.ndarray:
    """(H, W) -> uint8, the minimum to 0 and the maximum to 255 (a constant image to 0)."""
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:
        return np.zeros(a.shape, np.uint8)
    return np.rint((a.astype(np.float64) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _from_int32(path: str, a: np.ndarray) -> np.ndarray:
    """Mode I: 16-bit values (how Pillow opens some 16-bit files) as such; any other range
    stretched."""
    if a.size and a.min() >= 0 and a.max() <= 65535:
        return _from_16_bit(path, a)
    return _stretch(a)


def _from_float(path: str, a: np.ndarray) -> np.ndarray:
    """Mode F: [0, 1] scaled by 255, [0, 255] kept, any other range stretched."""
    if not np.isfinite(a).all():
        raise DataError(
            f"cannot read image {path}: it holds NaN or infinite pixel values; a float image "
            "needs finite values"
        )
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1:
        return np.rint(a * np.float32(255)).astype(np.uint8)
    if lo >= 0 and hi <= 255:
        return np.rint(a).astype(np.uint8)
    return _stretch(a)


#: High bit-depth modes -> the function reading their (H, W) array as uint8 (read as mode L).
_RESCALE = {
    "I;16": _from_16_bit,
    "I;16L": _from_16_bit,
    "I;16B": _from_16_bit,
    "I;16N": _from_16_bit,
    "I": _from_int32,
    "F": _from_float,
}
