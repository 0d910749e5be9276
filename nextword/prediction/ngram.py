"""The Kneser-Ney reader: next-token probabilities from the counts in ngram.npz.

Interpolated Kneser-Ney of order 3 (trigram -> bigram -> unigram -> uniform) over the
model's own vocabulary. The counts arrive as plain sorted arrays (modeldir.directory.NGRAM describes
them; nextword/prediction/ngram_counts.py counts them); grouping them by context is one pass at load,
and a query is two binary searches plus O(V) vector work. It sums to 1 over the vocabulary
however the builder pruned the counts, since each level is normalised by what it kept.
"""

from __future__ import annotations

import numpy as np


def _groups(keys: np.ndarray):
    """For sorted `keys`: the distinct values, where each run starts, and its length."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    return keys[starts], starts, np.diff(np.r_[starts, len(keys)])


class _Level:
    """One level above the unigram: counts of (context, word) keys context*V + word, sorted,
    grouped by context, with the level's discount."""

    def __init__(self, keys, counts, discount: float, V: int):
        self.V, self.d = V, discount
        self.keys = np.asarray(keys, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.float64)
        self.ctx, self.start, self.types = _groups(self.keys // V)
        self.total = np.add.reduceat(self.counts, self.start) if len(self.counts) else self.counts

    def interpolate(self, p: np.ndarray, context: int) -> np.ndarray:
        """The distribution after `context`, given the lower level's `p` (changed in place)."""
        i = np.searchsorted(self.ctx, context)
        if i < len(self.ctx) and self.ctx[i] == context:
            lo, n, total = self.start[i], self.types[i], self.total[i]
            p *= self.d * n / total
            p[self.keys[lo:lo + n] % self.V] += np.maximum(self.counts[lo:lo + n] - self.d, 0) / total
        return p

    def interpolate_targets(self, p: np.ndarray, contexts: np.ndarray, words: np.ndarray) -> np.ndarray:
        """`interpolate` at each position, for the target word only; -1 is a context never seen."""
        n, total, seen = _lookup(self.ctx, self.types, self.total, contexts)
        c = _count(self.keys, self.counts, contexts * self.V + words)
        return np.where(seen, np.maximum(c - self.d, 0) / total + self.d * n / total * p, p)


class KneserNey:
    """Interpolated Kneser-Ney, order 3, read from the arrays of ngram.npz."""

    order = 3

    def __init__(self, arrays: dict[str, np.ndarray]):
        V = self.vocab_size = int(arrays["vocab_size"])
        self.d1, d2, d3 = (float(d) for d in arrays["discounts"])
        self.tokens = int(arrays["tokens"])
        # Trigram level: c(uvw), keys (u*V + v)*V + w, grouped by context uv.
        self.trigrams = _Level(arrays["tri_keys"], arrays["tri_counts"], d3, V)
        # Bigram level: continuation counts N1+(. v w), keys v*V + w, grouped by v.
        self.bigrams = _Level(arrays["bi_keys"], arrays["bi_counts"], d2, V)

        # Unigram level: N1+(. w), interpolated with the uniform distribution.
        cont = np.asarray(arrays["uni_counts"], dtype=np.float64)
        total = cont.sum()
        self.p1 = np.maximum(cont - self.d1, 0) / total + self.d1 * np.sum(cont > 0) / total / V

    def distribution(self, ids) -> np.ndarray:
        """P(next token | the last two ids); ids may be shorter (fewer levels apply)."""
        if len(ids) == 0:
            return self.p1.copy()
        v = int(ids[-1])
        p = self.bigrams.interpolate(self.p1.copy(), v)
        if len(ids) < 2:
            return p
        return self.trigrams.interpolate(p, int(ids[-2]) * self.vocab_size + v)

    def target_probs(self, ids) -> np.ndarray:
        """P(ids[t + 1] | ids[:t + 1]) for every t, all at once (no O(V) work per token)."""
        ids = np.asarray(ids, dtype=np.int64)
        v, w = ids[:-1], ids[1:]
        p = self.bigrams.interpolate_targets(self.p1[w], v, w)
        # The trigram level applies from the second position on.
        return self.trigrams.interpolate_targets(p, np.r_[-1, ids[:-2] * self.vocab_size + v[1:]], w)

    def stream_log_probs(self, ids, chunk: int = 512):
        """Same protocol as the LSTM's: (position, log-probability rows) chunk by chunk."""
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), chunk):
            stop = min(len(ids), start + chunk)
            rows = np.stack([self.distribution(ids[max(0, t - 1):t + 1]) for t in range(start, stop)])
            yield start, np.log(rows)


def _lookup(contexts, types, totals, keys):
    """(types, total, found) of each context in `keys` (zeros, ones and False if unseen)."""
    i = np.minimum(np.searchsorted(contexts, keys), max(0, len(contexts) - 1))
    found = (contexts[i] == keys) if len(contexts) else np.zeros(len(keys), dtype=bool)
    if not len(contexts):
        return np.zeros(len(keys)), np.ones(len(keys)), found
    return np.where(found, types[i], 0), np.where(found, totals[i], 1.0), found


def _count(keys, counts, query):
    """The count of each key in `query` (0 if absent)."""
    if not len(keys):
        return np.zeros(len(query))
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, counts[i], 0.0)
