"""The Kneser-Ney builder: counts of a token stream, in memory that stays flat in its length.

Counting is the estimation side (like KenLM's lmplz beside its query code): this module
turns chunks of token ids into the arrays of ngram.npz (directory.NGRAM_ARRAYS) and
nextword/prediction/ngram.py reads them; the file is all the two share.

Trigram keys are (u*V + v)*V + w in int64, counted per chunk with np.unique and merged into
one sorted table. Continuation counts are counted as types first appear: a trigram type new
to the table adds one to N1+(. v w) of its bigram, a bigram type new to its table adds one to
N1+(. w). Neither table grows past `max_entries`: above it the rarest entries go (count-1
trigrams first), down to three quarters of the cap. The discounts are estimated from a
table just before its first pruning, while its counts of counts still describe the text.
Without pruning the result is exact; with it, a pruned type seen again is counted again
in the continuation counts (a small overestimate, for rare types only).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nextword.modeldir import directory
from nextword.prediction.ngram import KneserNey

# Entries per table (trigram counts, bigram continuation counts): 16 bytes each, and a
# merge holds about three tables' worth at once (~200 MB at this cap).
MAX_ENTRIES = 4_000_000
# Chunks' distinct trigrams are merged into the table once this many are waiting.
MERGE_EVERY = 1_000_000


def _discount(counts: np.ndarray) -> float:
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    return float(n1 / (n1 + 2 * n2)) if n1 + n2 else 0.5


class _Table:
    """Sorted distinct int64 keys with counts, pruned to at most `cap` entries."""

    def __init__(self, cap: int):
        self.cap = cap
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.discount: float | None = None  # set at the first pruning

    def add(self, keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Add distinct sorted `keys` with `counts`; return the keys that were new."""
        i = np.minimum(np.searchsorted(self.keys, keys), max(0, len(self.keys) - 1))
        known = (self.keys[i] == keys) if len(self.keys) else np.zeros(len(keys), dtype=bool)
        self.counts[i[known]] += counts[known]
        new = ~known
        if new.any():
            merged = np.concatenate([self.keys, keys[new]])
            order = np.argsort(merged, kind="stable")
            self.keys = merged[order]
            self.counts = np.concatenate([self.counts, counts[new]])[order]
        if len(self.keys) > self.cap:
            self._prune()
        return keys[new]

    def _prune(self) -> None:
        if self.discount is None:
            self.discount = _discount(self.counts)
        # The commonest three quarters of the cap stay; among equal counts the lower keys,
        # whose first word is the more frequent (ids are given by falling frequency).
        order = np.lexsort((self.keys, -self.counts))
        keep = np.sort(order[: self.cap * 3 // 4])
        self.keys, self.counts = self.keys[keep], self.counts[keep]

    def final_discount(self) -> float:
        return self.discount if self.discount is not None else _discount(self.counts)


def build(vocab_size: int, chunks: Iterable[np.ndarray], max_entries: int = MAX_ENTRIES
          ) -> dict[str, np.ndarray]:
    """The ngram.npz arrays of the token ids in `chunks` (read in order; a trigram may span
    two chunks). Raises ValueError if there are fewer than 3 tokens."""
    V = int(vocab_size)
    if V < 2 or V ** 3 >= 2 ** 63:
        raise ValueError(f"a vocabulary of {V} words does not fit int64 trigram keys")
    if max_entries < 4:
        raise ValueError("max_entries must be at least 4")
    trigrams, bigrams = _Table(max_entries), _Table(max_entries)
    uni = np.zeros(V, dtype=np.int64)
    pending_keys: list[np.ndarray] = []
    pending_counts: list[np.ndarray] = []
    waiting = tokens = 0
    tail = np.zeros(0, dtype=np.int64)

    def merge() -> None:
        keys, inverse = np.unique(np.concatenate(pending_keys), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate(pending_counts)).astype(np.int64)
        pending_keys.clear()
        pending_counts.clear()
        new3 = trigrams.add(keys, counts)
        vw, n_vw = np.unique(new3 % (V * V), return_counts=True)
        new2 = bigrams.add(vw, n_vw.astype(np.int64))
        np.add.at(uni, new2 % V, 1)

    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.int64)
        if len(chunk) and (chunk.min() < 0 or chunk.max() >= V):
            raise ValueError(f"token ids must lie in [0, {V})")
        tokens += len(chunk)
        ids = np.concatenate([tail, chunk])
        if len(ids) >= 3:
            k, c = np.unique((ids[:-2] * V + ids[1:-1]) * V + ids[2:], return_counts=True)
            pending_keys.append(k)
            pending_counts.append(c)
            waiting += len(k)
            if waiting >= min(MERGE_EVERY, max_entries):
                merge()
                waiting = 0
        tail = ids[-2:]
    if pending_keys:
        merge()
    if not len(trigrams.keys):
        raise ValueError("no trigrams: the text has fewer than 3 tokens")
    discounts = [_discount(uni[uni > 0]), bigrams.final_discount(), trigrams.final_discount()]
    return {
        "order": np.array(3, dtype=np.int64),
        "vocab_size": np.array(V, dtype=np.int64),
        "tokens": np.array(tokens, dtype=np.int64),
        "discounts": np.array(discounts, dtype=np.float64),
        "tri_keys": trigrams.keys,
        "tri_counts": trigrams.counts,
        "bi_keys": bigrams.keys,
        "bi_counts": bigrams.counts,
        "uni_counts": uni,
    }


def save(arrays: dict[str, np.ndarray], model_dir: Path) -> None:
    """Write the arrays as ngram.npz into `model_dir` (a model directory being written:
    directory.write's `extra` callback), after the checks a reader makes."""
    arrays = directory.check_ngram(arrays, int(arrays["vocab_size"]), "the n-gram counts to save")
    np.savez(Path(model_dir) / directory.NGRAM, **arrays)


def kneser_ney(vocab_size: int, chunks: Iterable[np.ndarray], max_entries: int = MAX_ENTRIES) -> KneserNey:
    """Count `chunks` and return the reader over the counts (no file involved)."""
    return KneserNey(build(vocab_size, chunks, max_entries))
