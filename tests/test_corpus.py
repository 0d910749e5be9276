"""Corpus paths (nextword/text/corpus.py): files, directories, globs, stdin and FIFOs, decoding, chunks."""

from __future__ import annotations

import errno
import io
import os
import sys
import threading
from pathlib import Path

import pytest

from nextword.errors import CorpusError
from nextword.text import corpus

from .conftest import needs_dev_full


def test_directory_is_walked_for_text_files_skipping_binary_and_hidden(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("beta\n")
    (tmp_path / "sub" / "blob.dat").write_bytes(b"\x00\x01\x02")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("hidden\n")
    files = corpus.resolve([str(tmp_path)])
    assert [f.name for f in files] == ["a.txt", "b.md"]


def test_glob_and_missing_path(tmp_path):
    (tmp_path / "x1.txt").write_text("one\n")
    (tmp_path / "x2.txt").write_text("two\n")
    assert len(corpus.resolve([str(tmp_path / "x*.txt")])) == 2
    with pytest.raises(CorpusError, match="no such file"):
        corpus.resolve([str(tmp_path / "missing.txt")])
    with pytest.raises(CorpusError, match="no text files match"):
        corpus.resolve([str(tmp_path / "*.nothing")])


def test_named_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"GIF89a\x00\x00\x01")
    with pytest.raises(CorpusError, match="binary"):
        corpus.resolve([str(path)])


def test_stdin_is_spooled_to_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    [path] = corpus.resolve(["-"], spool_dir=str(tmp_path))
    assert path.read_text() == "from stdin\n"


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 ok \ufffd\n".encode("utf-8") + b"na\xefve \xff\xfe\n")
    stats = corpus.DecodeStats()
    text = "".join(corpus.iter_chunks(path, stats))
    assert text.startswith("café ok \ufffd\n")
    assert stats.total == 3  # the U+FFFD already in the file is not counted


def test_chunks_never_split_a_word(tmp_path):
    path = tmp_path / "long.txt"
    words = [f"word{i}" for i in range(5000)]
    path.write_text(" ".join(words))  # one line, no newline at all
    chunks = list(corpus.iter_chunks(path, chunk_bytes=1000))
    assert len(chunks) > 10
    assert "".join(chunks).split() == words


def test_pieces_cut_at_line_ends_and_lose_nothing():
    text = "".join(f"line {i} with some words\n" for i in range(2000))
    parts = list(corpus.pieces([text, "tail without newline " * 50], size=1000))
    assert "".join(parts) == text + "tail without newline " * 50
    assert max(len(p) for p in parts) <= 1000
    assert all(p.endswith("\n") for p in parts[:-3])


# Spooling stdin onto a full disk ---------------------------------------------------------------

def full_spool(tmp_path, monkeypatch) -> Path:
    """Make the next spool file one on a full device: writes fail with ENOSPC."""
    name = tmp_path / "stdin-full.txt"

    def mkstemp(prefix="", suffix="", dir=None):
        name.write_bytes(b"")
        return os.open("/dev/full", os.O_WRONLY), str(name)

    monkeypatch.setattr(corpus.tempfile, "mkstemp", mkstemp)
    return name


@needs_dev_full
def test_full_disk_while_spooling_stdin_leaves_no_partial_file(tmp_path, monkeypatch):
    name = full_spool(tmp_path, monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"some text\n" * 50_000)))
    with pytest.raises(OSError) as caught:
        corpus.resolve(["-"], spool_dir=str(tmp_path))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(name)
    assert not name.exists()


# FIFOs as corpora ------------------------------------------------------------------------------

def test_a_fifo_is_read_once_into_the_spool(tmp_path):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    text = "the cat sleeps in the garden.\n" * 1000
    writer = threading.Thread(target=lambda: fifo.write_text(text))
    writer.start()
    spool = tmp_path / "spool"
    spool.mkdir()
    [path] = corpus.resolve([str(fifo)], spool_dir=str(spool))
    writer.join(timeout=10)
    assert path.parent == spool and path.read_text() == text
    assert path.read_text() == text  # an ordinary file now: it can be read again


def test_a_fifo_with_binary_data_is_refused_and_leaves_nothing(tmp_path):
    fifo = tmp_path / "binary.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"\x00\x01\x02" * 100))
    writer.start()
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(CorpusError, match="binary"):
        corpus.resolve([str(fifo)], spool_dir=str(spool))
    writer.join(timeout=10)
    assert list(spool.iterdir()) == []
