"""Writing run files safely: atomic replacement through a temporary file in the same directory,
modes that follow the user's umask, cleaning of temporary files a killed run left behind, and
an exclusive lock on a run directory while a trainer writes it.

Temporary files are named `.<name>.<random>.tmp` beside the file they replace, so a directory's
stale ones can be recognised and removed without touching anything else."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

from rnnlang.dsl.errors import UsageError

TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".lock"


def file_mode() -> int:
    """The mode a new file gets from the user's umask (0o666 & ~umask), as `open` would give it."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def replacing(path: Path, mode: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside `path`; when the block ends without an error, the
    temporary file (written by the block) is flushed to disk, given `mode` (default: the umask's)
    and renamed onto `path`. On an error it is removed and `path` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    """Write text to a temporary file beside `path`, then rename it into place (with `mode`,
    default the umask's)."""
    with replacing(path, mode) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def clean_stale_temps(directory: Path) -> list[Path]:
    """Remove the temporary files (`.<name>.<random>.tmp`) a killed writer left in `directory`;
    call it only while holding the directory's lock. Returns what was removed."""
    removed = []
    if directory.is_dir():
        for p in directory.iterdir():
            if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
    return removed


class RunLock:
    """An exclusive advisory lock (fcntl.flock) on `<run>/.lock`, held while a trainer writes the
    run. The lock file holds the owner's process id, for the message a second trainer gets; the
    lock itself disappears with the process, so a killed trainer never leaves a run locked."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as e:
            raise UsageError(f"{self.directory}: cannot lock the run directory: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = _read_owner(fd)
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                who = f" (process {owner})" if owner else ""
                raise UsageError(f"{self.directory}: another trainer{who} is writing this run directory; "
                                 f"wait for it to finish, or choose another --out") from None
            raise UsageError(f"{self.directory}: cannot lock the run directory: {e.strerror or e}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_owner(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
