"""Reading the files of a model directory as the hostile input they may be.

A model directory comes from anywhere (a download, a colleague, a damaged disk), so no byte
of it is trusted before it is checked: only regular files are read (a link to /dev/zero or
/dev/urandom, a FIFO or a directory in a file's place is refused before a byte is read, and
opening never waits for a FIFO's writer); a JSON file is read only up to a size limit, and
parsed so that deep nesting or an endless number is a ModelError, not a RecursionError or a
ValueError; an .npz archive is read member by member, only the members asked for, each
member's .npy header checked (dtype kind, shape as the config implies, the zip entry's
declared size, a bounded compression ratio) before its data is decompressed or allocated.
Every failure is a ModelError naming the file, in one line.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nextword.errors import ModelError

# Most bytes read from each JSON file of a model (far above what any trainer writes: a
# config.json is a few KB, a tokenizer.json of a million words about 30 MB).
JSON_LIMITS = {"config.json": 16 << 20, "casing.json": 64 << 20, "tokenizer.json": 256 << 20,
               "lexicon.json": 16 << 20}
DEFAULT_JSON_LIMIT = 16 << 20
# Most bytes a member of an .npz may decompress to per byte stored (np.savez stores, 1:1;
# trained weights deflate to about 1:1.1): more is a decompression bomb. Small members
# (a bias of zeros) get SLACK bytes beyond it.
MAX_RATIO = 8
SLACK = 1 << 20
CHUNK_BYTES = 1 << 20  # an array's data is read in pieces of this size
MAX_HEADER = 10_000  # bytes of an .npy header (numpy's own default limit)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(file: Path) -> tuple[int, int]:
    """(descriptor, size) of `file` opened for reading, if it is (or links to) a regular
    file; ModelError otherwise. FileNotFoundError if it does not exist. Opening does not
    block on a FIFO (O_NONBLOCK), and nothing is read before the check."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{file} is {_kind(st.st_mode)}, not a regular file")
        os.set_blocking(fd, True)
        return fd, st.st_size
    except BaseException:
        os.close(fd)
        raise


def open_checked(file: Path, limit: int | None = None, expected_size: int | None = None) -> BinaryIO:
    """`file` open for reading, if it is a regular file of at most `limit` bytes (else
    ModelError) and, given `expected_size`, of that size (else TornRead), both checked
    before anything is read."""
    from nextword.errors import TornRead

    fd, size = open_regular(file)
    f = os.fdopen(fd, "rb")
    try:
        if limit is not None and size > limit:
            raise ModelError(f"{file} is {size:,} bytes, more than a model's {Path(file).name} "
                             f"can be ({limit:,})")
        if expected_size is not None and size != expected_size:
            raise TornRead(f"{file} is not the file config.json describes (truncated, damaged, or "
                           f"replaced while being read)")
    except BaseException:
        f.close()
        raise
    return f


def read_regular(file: Path, limit: int | None = None, expected_size: int | None = None) -> bytes:
    """The content of the regular file `file`: at most `limit` bytes (else ModelError);
    `expected_size`: a size the caller knows it must have (else TornRead, before reading)."""
    with open_checked(file, limit, expected_size) as f:
        cap = os.fstat(f.fileno()).st_size if limit is None else limit
        content = f.read(cap + 1)  # (a file that grew meanwhile: more than its size)
    if len(content) > cap:
        raise ModelError(f"{file} grew while being read")
    return content


def parse_json(file: Path, content: bytes):
    """`content` (the bytes of `file`) parsed as JSON (with NaN and Infinity, which Python
    writes); ModelError for anything that is not JSON a model could hold: invalid UTF-8 or
    JSON, nesting too deep, a number too long."""
    try:
        return json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{file} is not valid JSON (not UTF-8)") from None
    except RecursionError:
        raise ModelError(f"{file} is not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, an integer of more than 4,300 digits
        reason = ("a number too long" if "digits" in str(exc) and not isinstance(exc, json.JSONDecodeError)
                  else short(str(exc)))
        raise ModelError(f"{file} is not valid JSON ({reason})") from None


def short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Member:
    """What an .npz member must be: `kind` the dtype kinds allowed ("f" floats, "iu"
    integers); `shape` a tuple,
    or None for any 1-D length."""

    def __init__(self, kind: str, shape: tuple[int, ...] | None):
        self.kind, self.shape = kind, shape

    def describe(self) -> str:
        what = "a float" if self.kind == "f" else "an integer"
        return (f"{what} array of shape {self.shape}" if self.shape is not None
                else f"a list of {what.split()[1]}s")


def read_npz(file: Path, content: bytes | BinaryIO, members: Mapping[str, Member]) -> dict[str, np.ndarray]:
    """The arrays `members` names from the .npz archive `content` (the bytes of `file`, or
    `file` open for reading), nothing else decompressed; each checked against its Member
    before its data is read, and read straight into its array."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content) if isinstance(content, bytes) else content)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelError(f"{file} is corrupt ({short(str(exc))})") from None
    with archive:
        entries = {info.filename: info for info in archive.infolist()}
        out = {}
        for name, member in members.items():
            info = entries.get(f"{name}.npy")
            if info is None:
                raise ModelError(f"{file} has no array {name!r}")
            try:
                out[name] = _read_member(file, archive, info, name, member)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError,
                    RuntimeError) as exc:
                raise ModelError(f"{file}: {name} is corrupt ({short(str(exc))})") from None
        return out


def _read_member(file: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                 member: Member) -> np.ndarray:
    def bad(message: str) -> ModelError:
        return ModelError(f"{file}: {name} {message}")

    if info.file_size > MAX_RATIO * info.compress_size + SLACK:
        raise bad(f"would decompress to {info.file_size:,} bytes from {info.compress_size:,} "
                  f"(a decompression bomb?)")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER)
        else:
            raise bad(f"has .npy format version {version}")
        if dtype.hasobject or dtype.kind not in member.kind or dtype.itemsize > 8 or dtype.fields:
            raise bad(f"is not {member.describe()} (dtype {dtype})")
        if (shape != member.shape) if member.shape is not None else len(shape) != 1:
            raise bad(f"has shape {shape}, expected {member.describe()}"
                      + (" (as config.json implies)" if member.shape is not None else ""))
        nbytes = math.prod(shape) * dtype.itemsize
        header = f.tell()
        if info.file_size != header + nbytes:
            raise bad(f"declares {info.file_size:,} bytes in the archive, its shape needs "
                      f"{header + nbytes:,}")
        array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        into = memoryview(array.reshape(-1, order="A")).cast("B")
        done = 0
        while done < nbytes:  # in chunks: no copy of the whole member beside its array
            chunk = f.read(min(CHUNK_BYTES, nbytes - done))
            if not chunk:
                raise bad("is truncated")
            into[done:done + len(chunk)] = chunk
            done += len(chunk)
    return array
