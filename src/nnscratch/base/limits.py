"""The one rule for sizes that a file or a flag declares: checked against what they cost
before anything is allocated or built.

    check_declared_size("images", m, 64 * 64 * 3, MAX_DATA_BYTES, error=DataError)

A file (an HDF5 data set, a model file, a checkpoint) or a flag (``--ensemble``,
``--layers``, ``--architecture``) can declare sizes that would take gigabytes or hours to
honour; every such size goes through ``check_declared_size`` first, which refuses it with
the figure, its cost and the limit. The limits below are far above anything the project's
own data and recipes need (the cat images are 209 x 12 288 bytes; the largest recipe has
under a million weights) and low enough that a refused size never costs more than a check.
"""

from __future__ import annotations

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_DESCRIPTION_ITEMS",
    "MAX_HEADER_BYTES",
    "MAX_INPUT_VALUES",
    "MAX_MEMBERS",
    "MAX_MODEL_BYTES",
    "MAX_TOKENS",
    "check_count",
    "check_declared_size",
]

#: bytes one data set (images, labels) may declare: 1 GiB (the cat images are 2.6 MB)
MAX_DATA_BYTES = 1 << 30
#: bytes of the weights (float64) that a model or an ensemble may need: 2 GiB
MAX_MODEL_BYTES = 1 << 31
#: bytes of the JSON header of a model file or checkpoint: 1 MiB (a real one is a few KB)
MAX_HEADER_BYTES = 1 << 20
#: items any list in a model's description may hold (layers, members, a seed...)
MAX_DESCRIPTION_ITEMS = 1_000
#: networks in an ensemble
MAX_MEMBERS = 1_000
#: tokens of an architecture string
MAX_TOKENS = 1_000
#: values of one input example a model may declare (H x W x C): 16 Mi (4096 x 4096 x 1)
MAX_INPUT_VALUES = 1 << 24


def _figure(n: int) -> str:
    """1234567 -> '1,234,567'; bytes get a binary unit too."""
    return f"{n:,}"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_declared_size(
    what: str,
    count: int,
    bytes_each: int,
    limit: int,
    *,
    error: type[Exception] = ValueError,
) -> int:
    """``count`` items of ``bytes_each`` bytes, declared for ``what``: return their total
    bytes, or raise ``error`` ("<what>: 10,000,000 x 12,288 bytes = 114.4 GiB, above the
    limit of 1.0 GiB") when the total is above ``limit`` bytes or ``count`` is negative.
    Python integers: no overflow, whatever a file declares."""
    count, bytes_each = int(count), int(bytes_each)
    if count < 0 or bytes_each < 0:
        raise error(f"{what}: the declared size {count} x {bytes_each} bytes is impossible")
    total = count * bytes_each
    if total > limit and bytes_each == 1:
        raise error(f"{what}: {_bytes(total)}, above the limit of {_bytes(limit)}")
    if total > limit:
        raise error(
            f"{what}: {_figure(count)} x {_figure(bytes_each)} bytes = {_bytes(total)}, "
            f"above the limit of {_bytes(limit)}"
        )
    return total


def check_count(what: str, count: int, limit: int, *, error: type[Exception] = ValueError) -> int:
    """A declared number of things (members, layers, tokens): ``count``, or ``error``
    ("<what>: 100,000, above the limit of 1,000") when above ``limit``."""
    count = int(count)
    if count > limit:
        raise error(f"{what}: {_figure(count)}, above the limit of {_figure(limit)}")
    return count
