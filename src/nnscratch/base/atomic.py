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
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DirectoryLock",
    "atomic_write",
    "check_not_an_input",
    "check_writable_target",
    "fsync_directory",
    "file_kind",
    "is_empty_output",
    "lock_directory",
    "remove_staging_leftovers",
    "staged_directory",
    "staged_file",
]

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def check_not_an_input(out, inputs, *, flag: str = "--out") -> None:
    """UsageError when the output path ``out`` is (by any path: a relative one, a hard link)
    the same file as one of ``inputs``: writing it would replace what the command reads,
    the model file included. A path that does not exist yet is no input."""
    from nnscratch.base.errors import UsageError

    for path in inputs:
        try:
            same = os.path.samefile(out, path)
        except (OSError, ValueError):  # either does not exist: not the same file
            continue
        if same:
            raise UsageError(
                f"{flag} {out} is {path}, which this command reads; write to another file"
            )


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


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is (from its ``st_mode``), for messages."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def check_writable_target(path: str | os.PathLike[str]) -> None:
    """Raise OSError naming ``path`` and what it is when it exists and is not a regular file
    (a symbolic link, a device node such as /dev/full, a FIFO, a directory, a socket): the
    atomic writers replace only regular files, never what a link points to or a device."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise _explain(err, Path(path)) from err
    if not stat.S_ISREG(mode):
        raise OSError(
            errno.EEXIST,
            f"refusing to write {path}: it is {file_kind(mode)}; nnscratch writes only regular "
            "files (remove it or choose another path)",
        )


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
    check_writable_target(path)
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


# ---------------------------------------------------------------------------------------------
# output directories: one lock, one staging mechanism

#: where a staged directory's or file's bytes wait, beside the target: ``.<name>.<random>.tmp``
STAGING_SUFFIX = ".tmp"


class DirectoryLock:
    """An exclusive ``fcntl.flock`` on a directory itself (its open file descriptor), held
    until ``release`` or the process ends (the kernel drops it even on SIGKILL, so a killed
    run never leaves a stale lock, and no lock file is left in the directory)."""

    def __init__(self, path: str | os.PathLike[str], fd: int | None):
        self.path, self._fd = Path(path), fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_directory(path: str | os.PathLike[str]) -> DirectoryLock:
    """Lock the existing directory ``path`` for this process, or raise ``UsageError`` ("<path>
    is in use by another nnscratch process") at once when another process holds it: two
    ``nnscratch train --out D`` at the same time cannot both write D. A no-op where flock does
    not exist (Windows)."""
    from nnscratch.base.errors import UsageError

    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return DirectoryLock(path, None)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise UsageError(
                f"{path} is in use by another nnscratch process (it holds the directory's "
                "lock); wait for it to finish or choose another directory"
            ) from None
        raise
    return DirectoryLock(path, fd)


def is_staging_leftover(entry: Path) -> bool:
    """Whether ``entry`` is what a killed process left of its staging: a hidden
    ``.<name>.<random>.tmp`` file or directory (never a target of its own)."""
    return entry.name.startswith(".") and entry.name.endswith(STAGING_SUFFIX)


def remove_staging_leftovers(directory: str | os.PathLike[str], prefix: str = ".") -> None:
    """Delete the staging leftovers (``is_staging_leftover``) in ``directory`` whose names
    start with ``prefix``; call it only while holding the lock of what they stage for, so
    that no live staging is removed."""
    import shutil

    with contextlib.suppress(OSError):
        for entry in Path(directory).iterdir():
            if is_staging_leftover(entry) and entry.name.startswith(prefix):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def is_empty_output(directory: str | os.PathLike[str]) -> bool:
    """A directory that may receive a command's outputs: empty but for staging leftovers."""
    return all(is_staging_leftover(entry) for entry in Path(directory).iterdir())


@contextlib.contextmanager
def staged_directory(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a directory's files into a temporary sibling, renamed onto ``final`` only when the
    block succeeds: ``final`` holds all the files or none. ``final`` must not exist or be an
    empty directory (staging leftovers aside); it is created at once and locked
    (``lock_directory``) for the whole block, so a second process aiming at it fails at
    once, and an unwritable place fails before the work. On any error (a full disk, Ctrl-C,
    SIGTERM) the temporary directory is removed and a ``final`` created here is removed
    again. Raises ``UsageError`` for a ``final`` that is a file, is not empty, or is locked."""
    import shutil

    from nnscratch.base.errors import UsageError

    final = Path(final)
    if final.exists() and not final.is_dir():
        raise UsageError(f"{final} exists and is not a directory")
    created = not final.exists()
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        final.mkdir(exist_ok=True)
    except OSError as err:
        raise _explain(err, final) from err
    try:
        lock = lock_directory(final)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                final.rmdir()
        raise
    tmp: Path | None = None
    try:
        remove_staging_leftovers(parent, prefix=f".{final.name}.")  # ours: we hold the lock
        if not is_empty_output(final):
            raise UsageError(f"{final} already exists and is not empty")
        try:
            tmp = Path(
                tempfile.mkdtemp(prefix=f".{final.name}.", suffix=STAGING_SUFFIX, dir=parent)
            )
        except OSError as err:
            raise _explain(err, final) from err
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        try:
            os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; give the usual permissions
            remove_staging_leftovers(final)
            os.replace(tmp, final)  # onto the empty, locked directory: atomic
            fsync_directory(parent)
        except OSError as err:
            raise _explain(err, final) from err
        tmp = None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                final.rmdir()
        raise
    finally:
        lock.release()


@contextlib.contextmanager
def staged_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` with the same suffix (for writers that take a path,
    such as matplotlib's ``savefig``), renamed onto ``path`` when the block succeeds; removed
    on any error, so ``path`` is the old file or the complete new one. Errors name ``path``
    (a full disk: "no space left on the device to write <path>")."""
    path = Path(path)
    check_writable_target(path)
    try:
        fd, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=f"{STAGING_SUFFIX}{path.suffix}"
        )
    except OSError as err:
        raise _explain(err, path) from err
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            os.chmod(tmp, _NEW_FILE_MODE)
        except OSError:
            pass
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError):
            raise _explain(err, path) from err
        raise
    fsync_directory(path.parent)
