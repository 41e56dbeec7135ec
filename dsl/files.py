"""Reading the files a user names, safely: the model file itself and the arrays of `file(...)`.

Rules (documented in docs/limits.md):
  - only regular files are read: a directory, FIFO, socket or device is refused after an
    `os.stat`, before anything is opened (and the opened descriptor is checked again, opened
    non-blocking, so a file swapped for a FIFO in between cannot block either);
  - a .npy array's header (shape, dtype) is read and checked before its data: numeric dtypes
    only, at most MAX_ARRAY_VALUES values, and the data must fit the file exactly;
  - an .npz archive's members are checked from the zip directory first (uncompressed size at
    most MAX_ARRAY_BYTES each, MAX_NPZ_MEMBERS members), then each member's header as above, so
    a zip bomb or a header claiming billions of values is refused before any allocation;
  - nothing is ever unpickled (object arrays are refused from the header).

Every failure is a `FileProblem` whose message the caller positions (at `file(...)`, or as a
usage error for the model file).
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from typing import IO, Any, Callable

import numpy as np
from numpy.lib import format as npformat

MAX_ARRAY_VALUES = 1 << 28  # 268,435,456 values (1 GiB as float32) per array
MAX_ARRAY_BYTES = MAX_ARRAY_VALUES * 8  # uncompressed bytes of one .npz member
MAX_NPZ_MEMBERS = 4096
MAX_HEADER_BYTES = 10_000  # numpy's own default limit for a .npy header


class FileProblem(Exception):
    """Why a named file cannot be used (a sentence without the path's position)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _os_problem(e: OSError) -> FileProblem:
    import errno

    if e.errno == errno.ENOENT or e.errno == errno.ENOTDIR:
        return FileProblem("no such file")
    if e.errno == errno.ENAMETOOLONG:
        return FileProblem("the file name is too long for the file system")
    if e.errno in (errno.EACCES, errno.EPERM):
        return FileProblem("permission denied")
    return FileProblem(f"cannot read: {e.strerror or e}")


def open_regular(path: str | os.PathLike, max_bytes: int | None = None) -> IO[bytes]:
    """Open a regular file for reading without ever blocking; raises FileProblem."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise _os_problem(e) if isinstance(e, OSError) else FileProblem("the file name contains a NUL character") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"is {_kind(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileProblem(f"the file is {st.st_size / 1e6:.1f} MB; at most {max_bytes / 1e6:g} MB is read")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise _os_problem(e) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the stat above
            raise FileProblem(f"is {_kind(st.st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; raises FileProblem."""
    with open_regular(path, max_bytes) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as e:
            raise _os_problem(e) from None
    if len(data) > max_bytes:
        raise FileProblem(f"the file is over {max_bytes / 1e6:g} MB; at most that is read")
    return data


# ---- arrays ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def count(self) -> int:
        n = 1
        for s in self.shape:
            n *= int(s)
        return n

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


HeaderCheck = Callable[[ArrayHeader], None]  # raises FileProblem if the array does not fit its use


def _read_header(fh: IO[bytes]) -> ArrayHeader:
    """A .npy header, parsed by NumPy's own literal parser (never evaluated as code)."""
    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fh, max_header_size=MAX_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh, max_header_size=MAX_HEADER_BYTES)
        else:
            raise FileProblem(f"unknown .npy format version {version}")
    except FileProblem:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError) as e:
        raise FileProblem(f"not a valid .npy array: {e}") from None
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise FileProblem("holds Python objects; only numeric arrays can be loaded")
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_) or np.issubdtype(dtype, np.complexfloating):
        what = "strings" if dtype.kind in "USV" else f"{dtype} values"
        raise FileProblem(f"holds {what}, not real numbers")
    if any(int(s) < 0 for s in shape):
        raise FileProblem(f"its header gives a negative size, shape {tuple(shape)}")
    header = ArrayHeader(tuple(int(s) for s in shape), dtype, bool(fortran))
    if header.count > MAX_ARRAY_VALUES:
        raise FileProblem(f"its header claims {header.count:,} values (shape {header.shape}); at most "
                          f"{MAX_ARRAY_VALUES:,} values are read from one array")
    return header


def _read_data(fh: IO[bytes], header: ArrayHeader, available: int) -> np.ndarray:
    """The array's data, once the header says it fits in the `available` bytes that follow."""
    if header.nbytes != available:
        raise FileProblem(f"its header claims {header.nbytes:,} bytes of data (shape {header.shape}, {header.dtype}) "
                          f"but {available:,} follow; the file is damaged")
    data = fh.read(header.nbytes)
    if len(data) != header.nbytes:
        raise FileProblem("the file ends before its data does; the file is damaged")
    arr = np.frombuffer(data, dtype=header.dtype, count=header.count)
    order = "F" if header.fortran else "C"
    return arr.reshape(header.shape, order=order)


def load_npy(path: str | os.PathLike, check: HeaderCheck | None = None) -> np.ndarray:
    """An .npy array: header checked (and `check`ed) before the data is read."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        header = _read_header(fh)
        if check is not None:
            check(header)
        return _read_data(fh, header, size - fh.tell())


def npz_members(path: str | os.PathLike) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """The .npy members of an .npz archive, by array name, checked from the zip directory."""
    fh = open_regular(path)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        fh.close()
        raise FileProblem(f"not a valid .npz archive: {e}") from None
    infos = zf.infolist()
    if len(infos) > MAX_NPZ_MEMBERS:
        zf.close()
        raise FileProblem(f"the archive has {len(infos):,} members; at most {MAX_NPZ_MEMBERS} are read")
    members = {}
    for info in infos:
        if info.file_size > MAX_ARRAY_BYTES:
            zf.close()
            raise FileProblem(f"member `{info.filename}` unpacks to {info.file_size:,} bytes; at most "
                              f"{MAX_ARRAY_BYTES:,} are read from one array")
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        members[name] = info
    return zf, members


def load_npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, check: HeaderCheck | None = None) -> np.ndarray:
    """One member of an .npz archive: header checked before its data is unpacked."""
    try:
        with zf.open(info) as fh:
            header = _read_header(fh)
            if check is not None:
                check(header)
            return _read_data(fh, header, info.file_size - fh.tell())
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise FileProblem(f"cannot unpack member `{info.filename}`: {e}") from None


def to_float32(arr: Any) -> np.ndarray:
    """A numeric array as float32 after checking every value is finite; raises FileProblem."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FileProblem("holds NaN or infinite values")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise FileProblem("holds values too large for 32-bit floats (beyond 3.4e38)")
    return out
