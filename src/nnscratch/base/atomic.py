"""Atomic file writes: a file at its final path is always either the old one or the new one.

    with atomic_write("runs/x/model.npz") as f:   # a binary file object
        np.savez(f, **arrays)

The bytes go to a temporary file in the target's own directory (so the rename cannot cross
file systems), which is flushed and fsynced, then ``os.replace``d onto the target, and the
directory is fsynced so that the rename itself survives a power cut. If anything fails (an
exception in the block, a full disk, Ctrl-C) the temporary file is deleted and the target is
left untouched. A process killed outright (SIGKILL) between the write and the rename can
leave a ``.<name>.*.tmp`` file beside the target, never a partial target.

This is the project's one implementation; model files (``io.save``), checkpoints and data
downloads all use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "fsync_directory"]

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of a new file (what ``open(path, "wb")`` would give); mkstemp's are 0o600.
_NEW_FILE_MODE = 0o666 & ~_umask()


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable; a no-op where directories cannot be opened
    or fsynced (some file systems, Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _explain(err: OSError, path: Path) -> OSError:
    """The same error, with a message that names the target (not the temporary file)."""
    if err.errno in _NO_SPACE:
        text = f"no space left on the device to write {path}; nothing was changed there"
    else:
        reason = err.strerror or str(err)
        text = f"cannot write {path}: {reason}"
    new = OSError(err.errno, text)
    new.filename = str(path)
    return new


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write ``path`` atomically: yields a binary file object (a temporary file beside
    ``path``) that replaces ``path`` when the block ends without an exception.

    The directory of ``path`` must exist. On failure the temporary file is removed and the
    exception propagates. ``OSError``s of creating, flushing, syncing or renaming the file,
    and a full disk or quota anywhere, are re-raised with a message that names ``path``
    ("no space left on the device to write ..."); other errors of the block pass through as
    they are. An existing target keeps its permissions; a new one gets ``0o666 & ~umask``.
    """
    path = Path(path)
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=suffix)
    except OSError as err:
        raise _explain(err, path) from err
    tmp = Path(tmp_name)
    committing = False
    try:
        try:
            mode = path.stat().st_mode & 0o7777 if path.is_file() else _NEW_FILE_MODE
            os.fchmod(fd, mode)
        except OSError:
            pass  # permissions are a courtesy; the write itself matters
        with os.fdopen(fd, "wb") as f:
            yield f
            committing = True
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # The block's own errors (a download's network error) pass through as they are, but
        # a full disk is a full disk wherever it shows, and flush/fsync/rename errors are ours.
        if isinstance(err, OSError) and (err.errno in _NO_SPACE or committing):
            raise _explain(err, path) from err
        raise
    fsync_directory(directory)
