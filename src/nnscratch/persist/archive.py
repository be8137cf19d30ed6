"""Archives of plain arrays (.npz) that are safe to read from anyone, and the one scheme of
model files and checkpoints on top: a JSON header plus named arrays.

    MODEL = ArchiveFormat("nnscratch-model", 1, "__nnscratch__", "an nnscratch model file")
    MODEL.write(path, {"network": ...}, {"param/W1": W1, ...})     # atomic
    model = MODEL.read(path, parse)        # parse(header, arrays) -> the loaded object

    write_archive(path, "__nnscratch__", header, arrays)             # the same, unstamped
    header, arrays = read_archive(path, "__nnscratch__", error=ModelFileError)
    write_npz(path, {"param/W1": W1, ...})      # atomic, uncompressed, numbers only
    arrays = read_npz(path, error=ModelFileError)

The header is a JSON object (``nnscratch.base.jsonio``) stored as the uint8 array
``header_key`` holding its UTF-8 bytes; every other entry is a numeric array. An
``ArchiveFormat`` stamps its header with ``format``, ``format_version`` and
``nnscratch_version``, and on reading refuses another format and a newer version before its
``parse`` sees the content. ``parse`` raises ``Malformed`` (``expect(condition, message)``)
for content that breaks the format's rules; the reader turns it into the caller's error.

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
- the zip's CRC-32 of every entry is checked, so a flipped bit is found, not loaded;
- (``read_archive``) the header entry must be there, be UTF-8 JSON (not nested too deeply to
  parse) and hold an object.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from nnscratch.base import jsonio
from nnscratch.base.atomic import atomic_write, file_kind
from nnscratch.base.errors import ModelFileError
from nnscratch.base.limits import MAX_HEADER_BYTES, check_count, check_declared_size

__all__ = [
    "ArchiveFormat",
    "Malformed",
    "expect",
    "open_regular",
    "read_archive",
    "read_npz",
    "write_archive",
    "write_npz",
]

T = TypeVar("T")

#: dtype kinds an archive may hold: bool, signed and unsigned integers, floats, complex.
ALLOWED_KINDS = "biufc"
MAX_HEADER_CHARS = 10_000
#: entries an archive may hold (an ensemble of 1,000 networks holds about 10,000)
MAX_ENTRIES = 100_000
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
        np.savez(f, **cast("dict[str, Any]", arrays))


def read_npz(
    path: str | os.PathLike[str],
    *,
    error: type[Exception] = ValueError,
    what: str = "a valid archive",
    max_bytes: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, by name (without ".npy").

    ``max_bytes`` (name -> bytes) caps what the named entries may declare; there are at most
    ``MAX_ENTRIES`` entries. Both are checked before any entry is read.

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
        raise error(f"{path} is not a regular file (it is {file_kind(info.st_mode)})")
    size = info.st_size
    try:
        with open_regular(path) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on Python 2 headers
            return _read_archive(fh, size, max_bytes or {})
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


def open_regular(path: str | os.PathLike[str]):
    """``open(path, "rb")`` of a regular file only: a FIFO, device or socket is refused with
    OSError before anything could block on it (opened with O_NONBLOCK, checked with fstat,
    then made blocking again)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{path} is not a regular file (it is {file_kind(mode)})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_archive(fh, size: int, max_bytes: dict[str, int]) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as err:
        raise _Refused(f"not a .npz (zip) archive ({err})") from None
    with archive:
        infos = archive.infolist()
        check_count("its number of entries", len(infos), MAX_ENTRIES, error=_Refused)
        total = 0
        for info in infos:
            _check_entry(info, size)
            limit = max_bytes.get(info.filename[: -len(_NPY_SUFFIX)])
            if limit is not None:
                check_declared_size(
                    f"entry {info.filename!r}", info.file_size, 1, limit, error=_Refused
                )
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


# ---------------------------------------------------------------------------------------------
# the scheme: a JSON header plus named arrays


def write_archive(
    path: str | os.PathLike[str],
    header_key: str,
    header: dict,
    arrays: dict[str, np.ndarray],
    *,
    allow_nan: bool = False,
) -> None:
    """Write ``header`` (a JSON-able dict, see ``nnscratch.base.jsonio``) as the entry
    ``header_key`` beside ``arrays``, atomically (``write_npz``).

    Raises ValueError naming the problem when the header cannot be stored as JSON (an unknown
    type, NaN or an infinity without ``allow_nan``) or an array is not numeric; nothing is
    written then.
    """
    if not isinstance(header, dict):
        raise ValueError(f"an archive's header is a dict; got {type(header).__name__}")
    if header_key in arrays:
        raise ValueError(f"array name {header_key!r} is the header's")
    try:
        text = jsonio.dumps(header, allow_nan=allow_nan)
    except ValueError as err:
        raise ValueError(f"cannot store the description as JSON: {err}") from None
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    write_npz(path, {**arrays, header_key: raw})


def read_archive(
    path: str | os.PathLike[str],
    header_key: str,
    *,
    error: type[Exception] = ValueError,
    what: str = "a valid archive",
) -> tuple[dict, dict[str, np.ndarray]]:
    """The header (a dict) and the other arrays of an archive ``write_archive`` wrote.

    Raises ``error`` ("<path> is not <what>: <the problem>") for everything ``read_npz``
    refuses, and when the header entry is missing, is not a 1-D uint8 array, is not UTF-8 JSON
    (or is nested too deeply to parse) or is not a JSON object.
    """
    arrays = read_npz(path, error=error, what=what, max_bytes={header_key: MAX_HEADER_BYTES})
    raw = arrays.pop(header_key, None)

    def refuse(problem: str) -> Exception:
        return error(f"{path} is not {what}: {problem}")

    if raw is None:
        raise refuse(f"it has no {header_key!r} entry (it holds {sorted(arrays)[:5]})")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise refuse(f"its {header_key!r} entry is {raw.dtype} {raw.shape}, not UTF-8 bytes")
    try:
        header = jsonio.loads(raw.tobytes())
    except ValueError as err:
        raise refuse(f"its description is corrupt: {err}") from None
    if not isinstance(header, dict):
        raise refuse(f"its description is a JSON {type(header).__name__}, not an object")
    return header, arrays


class Malformed(Exception):
    """Content of an archive that breaks its format's rules; the message says which.
    ``ArchiveFormat.read`` turns it into the format's error, naming the file."""


def expect(condition: bool, message: str) -> None:
    """Raise ``Malformed(message)`` unless ``condition``."""
    if not condition:
        raise Malformed(message)


@dataclass(frozen=True)
class ArchiveFormat:
    """One kind of archive: its header names the format and its version.

    Attributes:
        name: stored as the header's "format" (e.g. "nnscratch-model").
        version: the format version written; files of versions 1..version are read.
        header_key: the header's entry (e.g. "__nnscratch__").
        what: what a file of this format is, for messages ("an nnscratch model file").
        allow_nan: whether the header may hold NaN and infinities.
        error: the exception class a bad file raises.
    """

    name: str
    version: int
    header_key: str
    what: str
    allow_nan: bool = False
    error: type[Exception] = ModelFileError

    def write(
        self, path: str | os.PathLike[str], header: dict, arrays: dict[str, np.ndarray]
    ) -> Path:
        """``write_archive`` with the header stamped with "format", "format_version" and
        "nnscratch_version"; returns ``path``."""
        from nnscratch.base.version import __version__

        stamp = {"format": self.name, "format_version": self.version}
        stamped = {**stamp, "nnscratch_version": __version__, **header}
        write_archive(path, self.header_key, stamped, arrays, allow_nan=self.allow_nan)
        return Path(path)

    def read(
        self, path: str | os.PathLike[str], parse: Callable[[dict, dict[str, np.ndarray]], T]
    ) -> T:
        """``parse(header, arrays)`` of the file at ``path``, after ``read_archive`` and the
        format's checks: "format" must be ``name`` and "format_version" an int in
        1..``version``. Raises ``error`` naming the file for a file of another format or a
        newer version and for the ``Malformed`` content ``parse`` reports."""
        header, arrays = read_archive(path, self.header_key, error=self.error, what=self.what)
        if header.get("format") != self.name:
            raise self.error(
                f"{path} is not {self.what} (its header names format "
                f"{header.get('format')!r}, not {self.name!r})"
            )
        version = header.get("format_version")
        if not jsonio.is_int(version) or version < 1:
            raise self.error(f"{path} is not {self.what}: invalid format_version {version!r}")
        if version > self.version:
            raise self.error(
                f"{path} was written by a newer nnscratch ({self.name} format version "
                f"{version}, written by nnscratch {header.get('nnscratch_version', '?')}); this "
                f"version reads format versions up to {self.version}. Upgrade nnscratch to "
                "load it."
            )
        try:
            return parse(header, arrays)
        except Malformed as err:
            raise self.error(f"{path} is not {self.what}: {err}") from None
