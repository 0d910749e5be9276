"""Corpus text -> a token-id file on disk -> tf.data batches of contiguous windows.

The corpus is encoded once into a flat file of token ids (uint16 when the vocabulary fits),
then read back from disk (mapped, or by `tf.data.FixedLengthRecordDataset`), so memory does
not grow with the corpus. Each example is a window of `seq_len` tokens and its target is the
same window shifted by one: the model learns at every position.

With `TrainConfig.line_windows` (`--line-windows`), windows start where lines start
(`line_windows`): the network begins each window from a zero state, as the engine begins a
text, so a window that starts at a line (a paragraph, a message) holds a fact and what it
bears on together, as the text does. Validation then reads its text the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tokenizers import Tokenizer

from nextword.errors import CorpusError
from nextword.text import corpus
from nextword.text.tokenizer import EOL_ID

_ENCODE_BATCH = 16  # pieces of ~256 KB encoded in parallel by the Rust tokenizer
SHUFFLE_WINDOWS = 10_000


@dataclass
class TokenFile:
    """A flat binary file of token ids."""

    path: Path
    dtype: str
    count: int
    complete: bool = True  # False if encoding stopped at a deadline before the end

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    def ids(self) -> np.ndarray:
        """The ids, mapped from the file (read as they are used)."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count,))

    def chunks(self, start: int, stop: int, size: int = 1 << 20):
        """Ids [start, stop) in pieces of `size`: memory does not grow with the file."""
        if start >= stop:
            return  # (an empty file cannot be mapped)
        ids = self.ids()
        for at in range(start, stop, size):
            yield ids[at:min(stop, at + size)]


def encode_files(tok: Tokenizer, paths: Iterable[Path], out: Path,
                 stats: corpus.DecodeStats | None = None,
                 counts: np.ndarray | None = None, deadline: float | None = None) -> TokenFile:
    """Encode `paths` into the token file `out`. If `counts` is given (length = vocabulary),
    add each token's frequency to it (for the unigram baseline). At `deadline`
    (time.monotonic) it stops with the text encoded so far (`complete` is then False)."""
    dtype = "uint16" if tok.get_vocab_size() <= np.iinfo(np.uint16).max else "int32"
    total = 0
    with open(out, "wb") as f:
        def flush(batch: list[str]) -> int:
            n = 0
            # The fast variant keeps no offsets: less memory per token, and faster.
            for enc in tok.encode_batch_fast(batch, add_special_tokens=False):
                ids = np.asarray(enc.ids, dtype=dtype)
                _write(f, ids, out)
                if counts is not None:
                    np.add(counts, np.bincount(ids, minlength=len(counts))[: len(counts)], out=counts)
                n += len(ids)
            return n

        batch: list[str] = []
        complete = True
        for chunk in corpus.pieces(corpus.iter_text(paths, stats), 256 * 1024):
            batch.append(chunk)
            if len(batch) >= _ENCODE_BATCH:
                total += flush(batch)
                batch = []
                if deadline is not None and time.monotonic() >= deadline:
                    complete = False
                    break
        if batch:
            total += flush(batch)
    return TokenFile(out, dtype, total, complete)


def _write(f, ids: np.ndarray, name: Path) -> None:
    """Append the ids to the open file `f`; an OSError (a full disk) names the file. (NumPy's
    tofile raises one without errno or name, and can lose a short write silently.)"""
    try:
        f.write(ids.tobytes())
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(name)
        raise


def hold_out(tokens: TokenFile, count: int, blocks: int, train_out: Path,
             valid_out: Path) -> tuple[TokenFile, TokenFile]:
    """Split a token file into training and validation files: `blocks` blocks of
    count // blocks tokens, one from the middle of each of `blocks` equal parts of the text,
    are held out for validation, so that it samples the whole corpus (its end alone can be
    one unusual document). Copies in pieces; memory does not grow with the corpus."""
    size, part = count // blocks, tokens.count // blocks
    starts = [k * part + (part - size) // 2 for k in range(blocks)]

    def copy(start: int, stop: int, out) -> None:
        for chunk in tokens.chunks(start, stop):
            _write(out, chunk, Path(out.name))

    with open(train_out, "wb") as train, open(valid_out, "wb") as valid:
        done = 0
        for start in starts:
            copy(done, start, train)
            copy(start, start + size, valid)
            done = start + size
        copy(done, tokens.count, train)
    held = size * blocks
    return (TokenFile(train_out, tokens.dtype, tokens.count - held),
            TokenFile(valid_out, tokens.dtype, held))


def window_count(tokens: int, seq_len: int) -> int:
    """Windows with a full target in a span of `tokens` tokens."""
    return max(0, tokens // seq_len - 1)


def steps_per_epoch(tokens: int, seq_len: int, batch_size: int) -> int:
    """Full training batches in a span of `tokens` tokens: one epoch."""
    return window_count(tokens, seq_len) // batch_size


def windows(tf_file: TokenFile, seq_len: int, start: int, stop: int) -> tf.data.Dataset:
    """(input, target) windows over tokens [start, stop) of the file, in order."""
    records = (stop - start) // seq_len
    record_bytes = seq_len * tf_file.itemsize
    header = start * tf_file.itemsize
    footer = tf_file.count * tf_file.itemsize - header - records * record_bytes
    raw = tf.data.FixedLengthRecordDataset(
        str(tf_file.path), record_bytes, header_bytes=header, footer_bytes=footer)
    dtype = tf.uint16 if tf_file.dtype == "uint16" else tf.int32
    # A static window length lets the graph be specialised (and the LSTM unrolled).
    ids = raw.map(lambda r: tf.reshape(tf.cast(tf.io.decode_raw(r, dtype), tf.int32), [seq_len]))
    # Pair each record with the next so the target's last token is the next record's first.
    pairs = tf.data.Dataset.zip(ids, ids.skip(1))
    return pairs.map(lambda a, b: (a, tf.concat([a[1:], b[:1]], axis=0)),
                     num_parallel_calls=tf.data.AUTOTUNE)


def line_windows(tf_file: TokenFile, seq_len: int, start: int, stop: int) -> np.ndarray:
    """Where the training windows over [start, stop) begin: each at the first line start
    more than a quarter of a window after the one before, if there is one within that
    window, else right after it. So every token is in a window (each needs seq_len + 1
    tokens, its target included), a window starts at a line start wherever lines are short
    enough to allow it, and windows overlap by at most three quarters."""
    lines, at = [], start
    for chunk in tf_file.chunks(start, stop):
        lines.append(np.flatnonzero(chunk == EOL_ID) + at + 1)
        at += len(chunk)
    lines = np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64)
    starts, p, last = [], start, stop - seq_len - 1
    while p <= last:
        starts.append(p)
        i = int(np.searchsorted(lines, p + seq_len // 4, side="right"))
        p = int(lines[i]) if i < len(lines) and lines[i] <= p + seq_len else p + seq_len
    return np.asarray(starts, dtype=np.int64)


def _windows_at(tf_file: TokenFile, seq_len: int, starts: np.ndarray,
                seed: int | None = None) -> tf.data.Dataset:
    """(input, target) pairs from the windows at `starts`: once in order (`seed` None), or
    in a new random order each pass, without end."""
    def generate():
        ids, rng = tf_file.ids(), np.random.default_rng(seed)
        while True:
            for s in (starts if seed is None else rng.permutation(starts)):
                window = ids[s:s + seq_len + 1].astype(np.int32)
                yield window[:-1], window[1:]
            if seed is None:
                return

    spec = tf.TensorSpec((seq_len,), tf.int32)
    return tf.data.Dataset.from_generator(generate, output_signature=(spec, spec))


def _options() -> tf.data.Options:
    options = tf.data.Options()
    # One file cannot be split by files across workers: shard by element instead.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return options


def train_dataset(tf_file: TokenFile, seq_len: int, batch_size: int, start: int, stop: int,
                  seed: int, starts: np.ndarray | None = None) -> tuple[tf.data.Dataset, int]:
    """Shuffled, repeated batches over [start, stop) and the number of steps in one epoch:
    windows at `starts` (line_windows) if given, else consecutive windows."""
    if starts is not None:
        ds = _windows_at(tf_file, seq_len, starts, seed)
        steps = len(starts) // batch_size
    else:
        n = window_count(stop - start, seq_len)
        ds = windows(tf_file, seq_len, start, stop)
        ds = ds.shuffle(min(n, SHUFFLE_WINDOWS), seed=seed, reshuffle_each_iteration=True).repeat()
        steps = steps_per_epoch(stop - start, seq_len, batch_size)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return ds.with_options(_options()), steps


def eval_dataset(tf_file: TokenFile, seq_len: int, batch_size: int, start: int, stop: int,
                 workers: int = 1, starts: np.ndarray | None = None) -> tuple[tf.data.Dataset, int]:
    """In-order batches over [start, stop) and their number: consecutive windows, or the
    windows at `starts` (line_windows), as training reads them. With several workers every
    batch is full and their number a multiple of the workers, so each worker evaluates as
    many batches as the others (collective ops would otherwise wait forever)."""
    if starts is None:
        n, ds = window_count(stop - start, seq_len), windows(tf_file, seq_len, start, stop)
    else:
        n, ds = len(starts), _windows_at(tf_file, seq_len, starts)
    # The record reader cannot know its length; telling Keras avoids an "ran out of data" warning.
    ds = ds.apply(tf.data.experimental.assert_cardinality(n))
    if workers == 1:
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(_options()), -(-n // batch_size)
    batches = (n // batch_size) // workers * workers
    if batches == 0:
        raise CorpusError(f"too little validation text for one full batch per worker ({workers} workers)")
    ds = ds.batch(batch_size, drop_remainder=True).take(batches)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options()), batches
