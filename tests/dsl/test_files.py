"""Files named in a model (`file(...)`): regular files only, never blocking; .npy/.npz headers and
zip sizes checked before any data is read; errors at the `file(...)` in the source."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnlang.dsl import ModelError, load_source
from rnnlang.dsl import files

HEAD = "model { dt = 0.05  steps = 20 }\n"
LINE = 'node net = ctrnn(hidden = 3, out = 2, rec_mask = {call})\n'
COL = LINE.index("{call}") + 1


def refusal(tmp_path: Path, call: str) -> tuple[int, int, str]:
    """(line, col, message) of the one error a ctrnn with rec_mask = CALL gets."""
    with pytest.raises(ModelError) as info:
        load_source(HEAD + LINE.format(call=call), str(tmp_path / "m.rnn"))
    (d,) = info.value.errors
    return d.span.line, d.span.col, d.message


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A version 1.0 .npy header (magic, length, dict padded to 64 bytes)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def test_fifo_is_refused_without_blocking(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe.npy")  # reading it would wait for a writer forever
    line, col, msg = refusal(tmp_path, 'file("pipe.npy")')
    assert (line, col) == (2, COL + 5) and msg == "`pipe.npy` is a FIFO (named pipe), not a regular file"


def test_device_is_refused(tmp_path: Path):
    (tmp_path / "zero.npy").symlink_to("/dev/zero")
    assert refusal(tmp_path, 'file("zero.npy")')[2] == "`zero.npy` is a device, not a regular file"


def test_directory_is_refused(tmp_path: Path):
    (tmp_path / "d.npy").mkdir()
    assert refusal(tmp_path, 'file("d.npy")')[2] == "`d.npy` is a directory, not a .npy or .npz file"


def test_npy_header_claiming_ten_billion_values_is_refused_before_reading(tmp_path: Path):
    (tmp_path / "big.npy").write_bytes(npy_header((100000, 100000)) + b"\0" * 64)
    tracemalloc.start()
    line, col, msg = refusal(tmp_path, 'file("big.npy")')
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (line, col) == (2, COL + 5)
    assert msg == ("cannot read `big.npy`: its header claims 10,000,000,000 values (shape (100000, 100000)); "
                   "at most 268,435,456 values are read from one array")
    assert peak < 50e6


def test_npy_header_larger_than_its_data_is_damaged(tmp_path: Path):
    (tmp_path / "short.npy").write_bytes(npy_header((3, 3)) + b"\0" * 8)
    assert refusal(tmp_path, 'file("short.npy")')[2] == (
        "cannot read `short.npy`: its header claims 36 bytes of data (shape (3, 3), float32) but 8 follow; the file is damaged")


def test_npy_header_with_wrong_dimensions_is_refused_before_its_data(tmp_path: Path):
    # a vector where a matrix is needed: refused from the header, even though the data is absent
    (tmp_path / "v.npy").write_bytes(npy_header((10**8,)))
    assert refusal(tmp_path, 'file("v.npy")') == (2, COL, "`rec_mask`: expected a matrix, but the file holds an array of shape (100000000,)")


def test_object_dtype_is_refused_from_the_header(tmp_path: Path):
    (tmp_path / "o.npy").write_bytes(npy_header((2,), "|O") + b"\0" * 16)
    assert refusal(tmp_path, 'file("o.npy")')[2] == "`o.npy` holds Python objects; only numeric arrays can be loaded"


def _zip_bomb(path: Path, nbytes: int) -> None:
    """A valid .npz whose one member unpacks to `nbytes` of zeros (a few kB compressed)."""
    n = (nbytes - 128) // 4
    side = int(n ** 0.5)
    header = npy_header((side, side))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("W.npy", "w", force_zip64=True) as fh:
            fh.write(header)
            chunk = b"\0" * (1 << 20)
            left = side * side * 4
            while left > 0:
                fh.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)


def test_zip_bomb_is_refused_from_the_directory(tmp_path: Path, monkeypatch):
    # the limit is lowered so that the bomb is quick to make: 64 MB of zeros in about 64 kB
    monkeypatch.setattr(files, "MAX_ARRAY_BYTES", 16_000_000)
    _zip_bomb(tmp_path / "bomb.npz", 64_000_000)
    assert (tmp_path / "bomb.npz").stat().st_size < 200_000
    tracemalloc.start()
    line, col, msg = refusal(tmp_path, 'file("bomb.npz", "W")')
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (line, col) == (2, COL + 5)
    assert msg.startswith("cannot read `bomb.npz`: member `W.npy` unpacks to 63,9") and msg.endswith("at most 16,000,000 are read from one array")
    assert peak < 8e6


def test_npz_member_header_claims_more_than_it_holds(tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "lie.npz", "w") as zf:
        zf.writestr("W.npy", npy_header((30000, 30000)) + b"\0" * 64)
    assert refusal(tmp_path, 'file("lie.npz", "W")')[2].startswith("cannot read `lie.npz`: its header claims 900,000,000 values")


def test_npz_key_error_points_at_the_key(tmp_path: Path):
    np.savez(tmp_path / "w.npz", W=np.eye(3, dtype=np.float32))
    line, col, msg = refusal(tmp_path, 'file("w.npz", "X")')
    assert (line, col) == (2, COL + len('file("w.npz", ')) and msg == "`w.npz` has no array `X`"


def test_regular_arrays_still_load_exactly(tmp_path: Path):
    m = np.arange(9, dtype=np.float64).reshape(3, 3)
    np.save(tmp_path / "m.npy", m)
    np.save(tmp_path / "f.npy", np.asfortranarray(m))
    np.savez_compressed(tmp_path / "z.npz", M=m.astype(np.int16))
    for call in ('file("m.npy")', 'file("f.npy")', 'file("z.npz", "M")'):
        cm, _ = load_source(HEAD + LINE.format(call=call), str(tmp_path / "m.rnn"))
        got = cm.nodes["net"].params["rec_mask"]
        assert got.dtype == np.float32 and np.array_equal(got, m), call


def test_open_regular_never_blocks_on_a_fifo_swapped_in(tmp_path: Path):
    os.mkfifo(tmp_path / "p")
    with pytest.raises(files.FileProblem, match="FIFO"):
        files.open_regular(tmp_path / "p")


def test_read_header_rejects_a_malformed_header():
    bad = b"\x93NUMPY\x01\x00" + struct.pack("<H", 16) + b"{'descr': __imp}"
    with pytest.raises(files.FileProblem, match="not a valid .npy array"):
        files._read_header(io.BytesIO(bad))
