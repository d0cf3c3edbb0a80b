"""Writing result files so that a crash, a kill or a full disk never leaves half a file.

A file is written whole to a temporary sibling, fsynced, then renamed over its name (atomic on
POSIX): readers see the old file or the new one, never a prefix. Any `OSError` on the way
(ENOSPC, EFBIG, EACCES) removes the temporary file and becomes one `OutputError` line naming
the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from saycan.errors import OutputError


def cannot_write(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line error for a failed write of `path`."""
    why = exc.strerror or type(exc).__name__
    return OutputError(f"cannot write {os.fspath(path)}: {why} (nothing half-written was left)")


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a file name (safetensors,
    imageio); renamed over `path` when the block ends without an error, removed otherwise.
    `suffix` keeps an extension a writer reads its format from."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise cannot_write(path, exc) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write `data` (text is UTF-8) to `path` whole, or leave `path` as it was."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def append_whole(fd: int, data: bytes) -> None:
    """Append `data` to the open file `fd` (opened for appending or at its end) whole, and
    fsync it; on any `OSError` cut the file back to where it was and re-raise: a line that
    did not fit leaves no fragment for the next one to be glued onto."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]  # a nearly full disk takes only part of it
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass  # the file itself is gone or read-only: nothing more can be done here
        raise


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (best effort: not every OS can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
