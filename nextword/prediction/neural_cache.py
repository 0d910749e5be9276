"""A continuous cache over the LSTM's recent hidden states (Grave et al. 2017, "Improving
Neural Language Models with a Continuous Cache").

Keys are the vectors the output layer read at recent positions, values the tokens that
followed them; after a context whose vector is h,

    p_cache(w) = sum over the keys followed by w of softmax_i(THETA * cos(key_i, h))

and the LSTM component answers (1 - LAMBDA) p_lstm + LAMBDA p_cache. Keys are added at
line ends (with the rest of the adaptation, prediction/dynamic.py), the last SIZE kept;
an empty cache leaves the LSTM's answer exactly as it was. The cache belongs to the
process, like the rest of what is learned as you go; nothing is written anywhere.
THETA and LAMBDA were chosen on Shakespeare (docs/benchmarks.md, "Learning as you go");
training fits them per model (prediction/adaptation.py). SIZE: a longer memory pays on
long documents (WikiText-2's test split, tokens 20,000-40,000, theta 20, lambda 0.1: 1,000
keys 83.97, 4,000 81.85, 8,000 keys at lambda 0.3 79.46 against 80.47 for 4,000), and
costs a matrix-vector product per word (0.08 ms at 1,000 keys of 256, 0.13 at 4,000,
0.24 at 8,000; AMD EPYC Zen 4) and 1 KB a key of 256 float32s.
"""

from __future__ import annotations

import numpy as np

SIZE = 4000
THETA = 20.0
LAMBDA = 0.1


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-6)


class NeuralCache:
    """Keys (unit vectors) and the tokens that followed them: the last `size` positions
    added, in a ring of rows allocated once (np.empty: memory is taken as rows are written)
    where a new key takes the oldest one's row (the softmax over the keys does not depend
    on their order). No array is copied as it fills: growing by concatenation held two at
    once."""

    def __init__(self, vocab_size: int, size: int = SIZE, theta: float = THETA, lam: float = LAMBDA):
        self.vocab_size, self.size, self.theta, self.lam = vocab_size, size, theta, lam
        self._keys: np.ndarray | None = None
        self._values = np.zeros(0, dtype=np.int64)
        self._held, self._next = 0, 0  # rows written; the row the next key takes

    @property
    def keys(self) -> np.ndarray | None:
        """The keys held (a view; None before any was added)."""
        return None if self._keys is None else self._keys[:self._held]

    @property
    def values(self) -> np.ndarray:
        return self._values[:self._held]

    def fresh(self) -> NeuralCache:
        return NeuralCache(self.vocab_size, self.size, self.theta, self.lam)

    def add(self, features: np.ndarray, targets) -> None:
        keys = unit(features)[-self.size:]
        targets = np.asarray(targets, dtype=np.int64)[-self.size:]
        if not len(keys):
            return
        if self._keys is None:
            self._keys = np.empty((self.size, keys.shape[1]), dtype=np.float32)
            self._values = np.empty(self.size, dtype=np.int64)
        rows = (self._next + np.arange(len(keys))) % self.size
        self._keys[rows], self._values[rows] = keys, targets
        self._next = int((self._next + len(keys)) % self.size)
        self._held = min(self.size, self._held + len(keys))

    def mix(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        """`probs` (rows over the vocabulary) mixed with the cache's answer for `features`
        (a row each); `probs` itself if the cache is empty."""
        if self.keys is None or not len(self.values) or self.lam <= 0:
            return probs
        scores = self.theta * (unit(features) @ self.keys.T).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        width = probs.shape[1]
        cache = np.stack([np.bincount(self.values, row, minlength=width)[:width] for row in weights])
        return (1 - self.lam) * probs + self.lam * cache


class CachedLSTM:
    """The LSTM component (an Engine or a WindowedEngine) with a NeuralCache mixed into
    its `distribution`; everything else is the LSTM's."""

    def __init__(self, lstm, cache: NeuralCache):
        self.lstm, self.cache = lstm, cache

    def __getattr__(self, name):
        return getattr(self.lstm, name)

    def fork(self) -> CachedLSTM:
        return CachedLSTM(self.lstm.fork(), self.cache.fresh())

    def distribution(self, ids) -> np.ndarray:
        p = self.lstm.distribution(ids)
        if self.cache.keys is None:
            return p
        return self.cache.mix(p[None], last_features(self.lstm, len(ids))[None])[0]


def last_features(lstm, n: int) -> np.ndarray:
    """What the output layer read for the last `distribution` call of `lstm`, after n ids."""
    from nextword.prediction.windowed import reader_start

    engine = lstm
    if hasattr(lstm, "_readers"):  # windowed: the reader that answered
        engine = lstm._readers[(reader_start(n, lstm.half) // lstm.half) % 2]
    rows = engine._qkv[-max(1, engine.cfg.attention_span):]
    h = engine._attend(engine._states[-1][-1, 0][None], rows, len(rows) - 1)[0]
    if engine.projection is not None:
        h = h @ engine.projection[0] + engine.projection[1]
    return h
