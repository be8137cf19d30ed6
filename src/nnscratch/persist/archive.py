"""Archives of plain arrays (.npz) that are safe to read from anyone.

    write_npz(path, {"param/W1": W1, ...})      # atomic, uncompressed, numbers only
    arrays = read_npz(path, error=ModelFileError)

Model files and checkpoints are .npz archives (zip files of .npy arrays). ``numpy.load`` with
``allow_pickle=False`` already refuses pickled objects, but it trusts the sizes a file
declares: a .npy header that announces a shape of 10**12 elements makes it try to allocate
that much before it finds the data missing, and a compressed entry can expand a few kilobytes
into gigabytes. ``read_npz`` trusts nothing it has not checked against the file's real size:

- every entry must be an uncompressed ("stored") .npy array, so no entry can hold more bytes
  than the file itself, and the sum of the entries' sizes must fit in the file;
- an entry's header (format 1.0 or 2.0, at most 10 000 characters, parsed as a literal, never
  executed) must declare a numeric or boolean dtype (no Python objects, no structured types)
  and a shape whose size in bytes is exactly what the entry holds, so memory is only ever
  allocated for bytes that are really there;
- the zip's CRC-32 of every entry is checked, so a flipped bit is found, not loaded.

Anything else raises the caller's ``error`` class (``ModelFileError`` for model files) with a
message that names the file and the problem; no other exception escapes for any input bytes.

The network a file describes is size-checked by ``nnscratch.models.registry.check_model_size``
before it is built; this module knows nothing of models.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from nnscratch.base.atomic import atomic_write

__all__ = ["read_npz", "write_npz"]

#: dtype kinds an archive may hold: bool, signed and unsigned integers, floats, complex.
ALLOWED_KINDS = "biufc"
MAX_HEADER_CHARS = 10_000
_NPY_SUFFIX = ".npy"

# What parsing arbitrary bytes as zip and .npy can raise (zipfile and numpy.lib.format raise
# all of these for some malformed input); each becomes the caller's error.
_PARSE_ERRORS = (
    ValueError,  # numpy's header checks; UnicodeDecodeError
    OSError,
    EOFError,
    zipfile.BadZipFile,  # bad structure, bad CRC
    zipfile.LargeZipFile,
    NotImplementedError,  # an unknown compression method
    RuntimeError,  # an encrypted entry
    struct.error,
    KeyError,
    TypeError,
    OverflowError,
    RecursionError,  # a deeply nested header literal
    MemoryError,
)


def write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (name -> numeric array) to ``path`` as an uncompressed .npz, atomically
    (see ``nnscratch.base.atomic``). Names may contain "/"; ``path`` is used exactly as given."""
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind not in ALLOWED_KINDS:
            raise ValueError(
                f"array {name!r} has dtype {np.asarray(array).dtype}; archives hold numbers only"
            )
    with atomic_write(path) as f:
        # (the cast: mypy cannot rule out a name "allow_pickle", savez's only keyword option)
        np.savez(f, **cast(dict[str, Any], arrays))


def read_npz(
    path: str | os.PathLike[str],
    *,
    error: type[Exception] = ValueError,
    what: str = "a valid archive",
) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, by name (without ".npy").

    Raises ``error`` for a missing file and for any content that is not a complete,
    uncompressed archive of numeric arrays whose declared sizes match the bytes present (see
    the module docstring), with a message "<path> is not <what>: <the problem>"; ``what``
    names what the file should have been, e.g. "an nnscratch model file".
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except OSError as err:
        raise error(f"{path} cannot be read: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a file (it is a directory or a device)")
    size = info.st_size
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on Python 2 headers
            return _read_archive(fh, size)
    except _Refused as err:
        raise error(f"{path} is not {what}: {err}") from None
    except _PARSE_ERRORS as err:
        raise error(
            f"{path} is not {what}: it is corrupt or truncated ({type(err).__name__}: "
            f"{_short(err)})"
        ) from None


class _Refused(Exception):
    """A rule of the module docstring was broken; the message says which."""


def _short(err: BaseException, limit: int = 200) -> str:
    text = str(err)
    return text if len(text) <= limit else text[:limit] + "..."


def _read_archive(fh, size: int) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as err:
        raise _Refused(f"not a .npz (zip) archive ({err})") from None
    with archive:
        infos = archive.infolist()
        total = 0
        for info in infos:
            _check_entry(info, size)
            total += info.file_size
            if total > size:
                raise _Refused(f"its entries declare {total} bytes or more; the file has {size}")
        arrays: dict[str, np.ndarray] = {}
        for info in infos:
            with archive.open(info) as f:
                arrays[info.filename[: -len(_NPY_SUFFIX)]] = _read_entry(f, info)
        return arrays


def _check_entry(info: zipfile.ZipInfo, size: int) -> None:
    name = info.filename
    if not name.endswith(_NPY_SUFFIX):
        raise _Refused(f"entry {name!r} is not a .npy array")
    if info.flag_bits & 0x1:
        raise _Refused(f"entry {name!r} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Refused(f"entry {name!r} is compressed; these archives are written uncompressed")
    if info.file_size != info.compress_size or info.header_offset + info.compress_size > size:
        raise _Refused(
            f"entry {name!r} declares {info.file_size} bytes at offset {info.header_offset}, "
            f"beyond the file's {size} bytes"
        )


def _read_entry(f, info: zipfile.ZipInfo) -> np.ndarray:
    name = info.filename
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(
            f, max_header_size=MAX_HEADER_CHARS
        )
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(
            f, max_header_size=MAX_HEADER_CHARS
        )
    else:
        raise _Refused(f"entry {name!r} has .npy format version {version}; expected 1.0 or 2.0")
    if dtype.hasobject or dtype.kind not in ALLOWED_KINDS or dtype.itemsize == 0:
        raise _Refused(f"entry {name!r} holds dtype {dtype}; only numbers are allowed")
    if any(n < 0 for n in shape):
        raise _Refused(f"entry {name!r} declares the impossible shape {shape}")
    count = math.prod(shape)  # Python ints: no overflow
    present = info.file_size - f.tell()
    if count * dtype.itemsize != present:
        raise _Refused(
            f"entry {name!r} declares shape {shape} of {dtype} ({count * dtype.itemsize} "
            f"bytes) but holds {present} bytes of data"
        )
    array = np.empty(count, dtype=dtype)
    view = array.view(np.uint8)
    got = f.readinto(view) if view.size else 0
    if got != view.size or f.read(1):  # the read that reaches the end checks the CRC
        raise _Refused(f"entry {name!r} is truncated")
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)
