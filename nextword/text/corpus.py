"""Turn CORPUS arguments (files, directories, globs, `-`) into text, streamed in chunks.

Stdlib only. Text is decoded as UTF-8; invalid bytes become U+FFFD and are counted so
the caller can warn. Binary files are refused when named, skipped inside directories.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nextword.errors import CorpusError

CHUNK_BYTES = 1 << 20
_SNIFF_BYTES = 8192
# Known non-text extensions skipped when walking a directory (a NUL byte catches the rest).
_SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".pdf", ".zip", ".gz", ".bz2", ".xz",
                  ".tar", ".npz", ".npy", ".keras", ".h5", ".pyc", ".so", ".o", ".exe",
                  ".bin", ".whl", ".jar", ".class", ".ico", ".mp3", ".mp4", ".wav"}


@dataclass
class DecodeStats:
    """Invalid UTF-8 bytes replaced, per file."""

    replaced: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.replaced.values())

    def warning(self) -> str | None:
        """The line `train` and `evaluate` print when bytes were replaced, naming the file
        with the most (a spooled stream by what was read: standard input, a FIFO)."""
        if not self.total:
            return None
        worst = max(self.replaced, key=self.replaced.get)
        return (f"Warning: replaced {self.total:,} invalid UTF-8 byte(s) "
                f"(most in {_SPOOLED.get(worst, worst)}); the text is not clean UTF-8")


_SPOOLED: dict[str, str] = {}  # a spool file's name -> what it holds a copy of


def is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(_SNIFF_BYTES)


def resolve(args: Iterable[str], spool_dir: str | None = None) -> list[Path]:
    """Expand CORPUS arguments into a sorted, de-duplicated list of readable text files.

    `-` spools standard input into `spool_dir` (it is read more than once), and so does a
    path that is neither a file nor a directory but can be read once: a FIFO, `/dev/stdin`,
    a process substitution `<(...)`. Raises CorpusError for a missing path, an explicit
    binary file, or nothing at all.
    """
    files: list[Path] = []
    for arg in args:
        if arg == "-":
            files.append(_spool_stdin(spool_dir))
            continue
        path = Path(arg).expanduser()
        if _is_stream(path):
            files.append(_spool_stream(path, arg, spool_dir))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if _is_text_candidate(p, path))
            files.extend(p for p in found if not is_binary(p))
        elif path.is_file():
            if is_binary(path):
                raise CorpusError(f"{arg} is a binary file, not text")
            files.append(path)
        elif glob.has_magic(arg):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(arg), recursive=True))
            matches = [p for p in matches if p.is_file() and not is_binary(p)]
            if not matches:
                raise CorpusError(f"no text files match {arg}")
            files.extend(matches)
        else:
            raise CorpusError(f"{arg}: no such file or directory")
    unique = list(dict.fromkeys(files))
    if not unique:
        raise CorpusError("no text files found in " + " ".join(args))
    for p in unique:
        if not os.access(p, os.R_OK):
            raise CorpusError(f"{p}: permission denied")
    return unique


def _is_text_candidate(path: Path, root: Path) -> bool:
    rel = path.relative_to(root).parts
    if any(part.startswith(".") for part in rel):
        return False
    return path.is_file() and path.suffix.lower() not in _SKIP_SUFFIXES


def _is_stream(path: Path) -> bool:
    """A path that exists but is not a regular file or a directory (a FIFO, a character
    device such as /dev/stdin, a pipe from `<(...)`): it can be read once only."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return True
    if stat.S_ISCHR(mode) and os.path.realpath(path) in ("/dev/tty", os.ttyname(0) if os.isatty(0) else ""):
        return True  # a terminal (/dev/stdin at a prompt): typed text, ended by Ctrl-D
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise CorpusError(f"{path} is a device, not a text file or a stream")
    return False


def _spool_stdin(spool_dir: str | None) -> Path:
    """Standard input copied into the spool; binary data is refused, as a named binary
    file is."""
    spooled = _spool(sys.stdin.buffer, "standard input", "stdin-", spool_dir)
    if is_binary(spooled):
        spooled.unlink()
        raise CorpusError("standard input gives binary data, not text")
    return spooled


def _spool_stream(path: Path, arg: str, spool_dir: str | None) -> Path:
    try:
        source = open(path, "rb")
    except OSError as exc:
        raise CorpusError(f"{arg}: cannot be read ({exc.strerror or exc})") from None
    with source:
        spooled = _spool(source, arg, "pipe-", spool_dir)
    if is_binary(spooled):
        spooled.unlink()
        raise CorpusError(f"{arg} gives binary data, not text")
    return spooled


def _spool(source, source_name: str, prefix: str, spool_dir: str | None) -> Path:
    """Copy `source` (a binary stream) into a new file in `spool_dir`. Nothing is left
    behind if that fails (a full disk, Ctrl-C); an error writing names the spool file."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".txt", dir=spool_dir)
    _SPOOLED[name] = source_name
    try:
        with open(fd, "wb") as out:
            while True:
                try:
                    chunk = source.read(CHUNK_BYTES)
                except OSError as exc:
                    raise CorpusError(f"{source_name}: cannot be read ({exc.strerror or exc})") from None
                if not chunk:
                    break
                out.write(chunk)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(name)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = name  # writing (or flushing, at close) the spool file failed
        raise
    return Path(name)


def iter_chunks(path: Path, stats: DecodeStats | None = None,
                chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield the file's text in pieces of about `chunk_bytes`, cut after a newline (or
    whitespace) so no word is split; memory stays bounded even for one-line files."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    carry = ""
    replaced = 0
    with open(path, "rb") as f:
        while True:
            raw = f.read(chunk_bytes)
            final = not raw
            text = decoder.decode(raw, final=final)
            replaced += _count_replacements(raw, text)
            text = carry + text
            if final:
                if text:
                    yield text
                break
            cut = text.rfind("\n")
            if cut < 0:
                cut = max(text.rfind(" "), text.rfind("\t"))
            if cut < 0:
                carry = text
                if len(carry) > 16 * chunk_bytes:  # one gigantic "word": give it up as is
                    yield carry
                    carry = ""
                continue
            yield text[: cut + 1]
            carry = text[cut + 1:]
    if stats is not None and replaced:
        stats.replaced[str(path)] = stats.replaced.get(str(path), 0) + replaced


def _count_replacements(raw: bytes, text: str) -> int:
    # U+FFFD already in the file is encoded as EF BF BD; only count the ones we made.
    if "\ufffd" not in text:
        return 0
    return max(0, text.count("\ufffd") - raw.count(b"\xef\xbf\xbd"))


def iter_text(paths: Iterable[Path], stats: DecodeStats | None = None) -> Iterator[str]:
    for path in paths:
        yield from iter_chunks(path, stats)


def pieces(texts: Iterable[str], size: int = 64 * 1024) -> Iterator[str]:
    """Re-cut texts into pieces of about `size` characters, at line ends where possible.
    The tokenizers trainer buffers a few hundred items from its iterator, so the item
    size, not the corpus size, bounds what it holds."""
    for text in texts:
        start = 0
        while start < len(text):
            end = min(len(text), start + size)
            if end < len(text):
                cut = text.rfind("\n", start, end)
                if cut <= start:
                    cut = text.rfind(" ", start, end)
                end = cut + 1 if cut > start else end
            yield text[start:end]
            start = end
