"""The Kneser-Ney reader: next-token probabilities from the counts in ngram.npz.

Interpolated Kneser-Ney of order 3 (trigram -> bigram -> unigram -> uniform) over the
model's own vocabulary. The counts arrive as plain sorted arrays (artifact.NGRAM describes
them; nextword/ngram_build.py counts them); grouping them by context is one pass at load,
and a query is two binary searches plus O(V) vector work. It sums to 1 over the vocabulary
however the builder pruned the counts, since each level is normalised by what it kept.
"""

from __future__ import annotations

import numpy as np


def _groups(keys: np.ndarray):
    """For sorted `keys`: the distinct values, where each run starts, and its length."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    return keys[starts], starts, np.diff(np.r_[starts, len(keys)])


class KneserNey:
    """Interpolated Kneser-Ney, order 3, read from the arrays of ngram.npz."""

    order = 3

    def __init__(self, arrays: dict[str, np.ndarray]):
        V = self.vocab_size = int(arrays["vocab_size"])
        self.d1, self.d2, self.d3 = (float(d) for d in arrays["discounts"])
        self.tokens = int(arrays["tokens"])

        # Trigram level: c(uvw), keys (u*V + v)*V + w, grouped by context uv.
        self.tri_keys = np.asarray(arrays["tri_keys"], dtype=np.int64)
        self.tri_c = np.asarray(arrays["tri_counts"], dtype=np.float64)
        self.ctx3, self.ctx3_start, self.ctx3_types = _groups(self.tri_keys // V)
        self.ctx3_total = np.add.reduceat(self.tri_c, self.ctx3_start) if len(self.tri_c) else self.tri_c

        # Bigram level: continuation counts N1+(. v w), keys v*V + w, grouped by v.
        self.bi_keys = np.asarray(arrays["bi_keys"], dtype=np.int64)
        self.bi_n = np.asarray(arrays["bi_counts"], dtype=np.float64)
        self.ctx2, self.ctx2_start, self.ctx2_types = _groups(self.bi_keys // V)
        self.ctx2_total = np.add.reduceat(self.bi_n, self.ctx2_start) if len(self.bi_n) else self.bi_n

        # Unigram level: N1+(. w), interpolated with the uniform distribution.
        cont = np.asarray(arrays["uni_counts"], dtype=np.float64)
        total = cont.sum()
        self.p1 = np.maximum(cont - self.d1, 0) / total + self.d1 * np.sum(cont > 0) / total / V

    def _bigram(self, v: int) -> np.ndarray:
        p = self.p1.copy()
        i = np.searchsorted(self.ctx2, v)
        if i < len(self.ctx2) and self.ctx2[i] == v:
            lo, n, total = self.ctx2_start[i], self.ctx2_types[i], self.ctx2_total[i]
            p *= self.d2 * n / total
            words = self.bi_keys[lo:lo + n] % self.vocab_size
            p[words] += np.maximum(self.bi_n[lo:lo + n] - self.d2, 0) / total
        return p

    def distribution(self, ids) -> np.ndarray:
        """P(next token | the last two ids); ids may be shorter (fewer levels apply)."""
        if len(ids) == 0:
            return self.p1.copy()
        v = int(ids[-1])
        p = self._bigram(v)
        if len(ids) < 2:
            return p
        key = int(ids[-2]) * self.vocab_size + v
        i = np.searchsorted(self.ctx3, key)
        if i < len(self.ctx3) and self.ctx3[i] == key:
            lo, n, total = self.ctx3_start[i], self.ctx3_types[i], self.ctx3_total[i]
            p *= self.d3 * n / total
            words = self.tri_keys[lo:lo + n] % self.vocab_size
            p[words] += np.maximum(self.tri_c[lo:lo + n] - self.d3, 0) / total
        return p

    def target_probs(self, ids) -> np.ndarray:
        """P(ids[t + 1] | ids[:t + 1]) for every t, all at once (no O(V) work per token)."""
        ids = np.asarray(ids, dtype=np.int64)
        V = self.vocab_size
        v, w = ids[:-1], ids[1:]
        p = self.p1[w]
        # Bigram level, for every position.
        n2, total2, seen2 = _lookup(self.ctx2, self.ctx2_types, self.ctx2_total, v)
        c2 = _count(self.bi_keys, self.bi_n, v * V + w)
        p = np.where(seen2, np.maximum(c2 - self.d2, 0) / total2 + self.d2 * n2 / total2 * p, p)
        # Trigram level, from the second position on.
        uv = np.r_[-1, ids[:-2] * V + v[1:]]
        n3, total3, seen3 = _lookup(self.ctx3, self.ctx3_types, self.ctx3_total, uv)
        c3 = _count(self.tri_keys, self.tri_c, uv * V + w)
        return np.where(seen3, np.maximum(c3 - self.d3, 0) / total3 + self.d3 * n3 / total3 * p, p)

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
