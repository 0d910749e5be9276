"""Interpolated Kneser-Ney trigram model over the model's own vocabulary: the baseline
printed beside every figure of `nextword evaluate`.

Counts are built from token-id chunks with NumPy (trigram keys u*V*V + v*V + w, merged
with np.unique), so a million tokens take seconds and the text itself is never held.
`distribution(ids)` returns the full next-token distribution after a context (it uses the
last two ids), which sums to 1 over the vocabulary, so the same Predictor code that wraps
the LSTM engine wraps this model for suggestions and keystroke savings.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _discount(counts: np.ndarray) -> float:
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    return float(n1 / (n1 + 2 * n2)) if n1 + n2 else 0.5


def _merge(keys: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    all_keys = np.concatenate(keys)
    all_counts = np.concatenate(counts)
    unique, inverse = np.unique(all_keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=all_counts).astype(np.int64)


class KneserNey:
    """Interpolated Kneser-Ney, order 3 (trigram -> bigram -> unigram -> uniform)."""

    order = 3

    def __init__(self, vocab_size: int, chunks: Iterable[np.ndarray]):
        V = self.vocab_size = int(vocab_size)
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        tail = np.zeros(0, dtype=np.int64)
        for chunk in chunks:
            ids = np.concatenate([tail, np.asarray(chunk, dtype=np.int64)])
            if len(ids) >= 3:
                k = (ids[:-2] * V + ids[1:-1]) * V + ids[2:]
                u, c = np.unique(k, return_counts=True)
                keys.append(u)
                counts.append(c)
                if len(keys) > 8:  # keep memory near the number of distinct trigrams
                    merged = _merge(keys, counts)
                    keys, counts = [merged[0]], [merged[1]]
            tail = ids[-2:]
        if not keys:
            raise ValueError("no trigrams: the text has fewer than 3 tokens")
        tri_keys, tri_counts = _merge(keys, counts)
        self.tokens = int(tri_counts.sum()) + 2

        # Trigram level: c(uvw), grouped by context uv.
        self.d3 = _discount(tri_counts)
        self.tri_ctx = tri_keys // V
        self.tri_w = tri_keys % V
        self.tri_c = tri_counts
        ctx, starts, ctx_types = np.unique(self.tri_ctx, return_index=True, return_counts=True)
        self.ctx3, self.ctx3_start, self.ctx3_types = ctx, starts, ctx_types
        self.ctx3_total = np.add.reduceat(tri_counts, starts)

        # Bigram level with continuation counts N1+(. v w): distinct u before v w.
        vw, n_vw = np.unique(tri_keys % (V * V), return_counts=True)
        self.d2 = _discount(n_vw)
        self.bi_v, self.bi_w, self.bi_n = vw // V, vw % V, n_vw
        v, starts2, v_types = np.unique(self.bi_v, return_index=True, return_counts=True)
        self.ctx2, self.ctx2_start, self.ctx2_types = v, starts2, v_types
        self.ctx2_total = np.add.reduceat(n_vw, starts2)

        # Unigram level: N1+(. w), distinct v before w, interpolated with uniform.
        cont = np.bincount(self.bi_w, minlength=V).astype(np.float64)
        self.d1 = _discount(cont[cont > 0].astype(np.int64))
        total = cont.sum()
        self.p1 = np.maximum(cont - self.d1, 0) / total + self.d1 * np.sum(cont > 0) / total / V

    def _bigram(self, v: int) -> np.ndarray:
        p = self.p1.copy()
        i = np.searchsorted(self.ctx2, v)
        if i < len(self.ctx2) and self.ctx2[i] == v:
            lo, n, total = self.ctx2_start[i], self.ctx2_types[i], self.ctx2_total[i]
            p *= self.d2 * n / total
            ws, cs = self.bi_w[lo:lo + n], self.bi_n[lo:lo + n]
            p[ws] += np.maximum(cs - self.d2, 0) / total
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
            p[self.tri_w[lo:lo + n]] += np.maximum(self.tri_c[lo:lo + n] - self.d3, 0) / total
        return p

    def stream_log_probs(self, ids, chunk: int = 512):
        """Same protocol as Engine.stream_log_probs: (position, log-probability rows)."""
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), chunk):
            stop = min(len(ids), start + chunk)
            rows = np.stack([self.distribution(ids[max(0, t - 1):t + 1]) for t in range(start, stop)])
            yield start, np.log(rows)
