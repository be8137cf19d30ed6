"""The C allocator's settings for a training process: freed arrays kept for the next batch.

Each mini-batch of the CNN allocates and frees the same large arrays (im2col columns, layer
outputs and their gradients: up to ~14 MB each at batch 32 on 64 x 64 images). glibc's malloc
gives large freed blocks back to the kernel (``munmap``, and trimming the top of its heap once
more than its trim threshold is free), so the next batch gets fresh pages, which the kernel
zero-fills on first touch: system time, ~15% of the cat CNN's epoch. ``keep_freed_memory``
raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and its trim threshold far
above any batch's arrays: freed blocks then stay in the process and are reused.

Nothing computed changes (the same operations on the same values; a test checks that the
parameters are bitwise those trained without it). The cost: the process holds on to the
memory of its largest batch after it is freed, until it exits. Only ``nnscratch train`` calls
it (a process of its own); the library never changes its caller's allocator. Elsewhere than
glibc (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: mallopt(3) parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

#: Blocks up to this size come from the heap, not from mmap (glibc's largest allowed value).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap kept, not given back to the kernel.
TRIM_THRESHOLD = 1024 * 1024 * 1024


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name here
        return False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``) for this
    process. True when both were set; False where the C library is not glibc."""
    if not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_set = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    trim_set = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return mmap_set and trim_set
