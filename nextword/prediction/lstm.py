"""The NumPy LSTM: forward steps from plain weight arrays, with the recurrent state cached.

No TensorFlow or Keras here. `Engine.distribution(ids)` returns next-token probabilities
after a token sequence; the state is cached by token prefix, so a query that extends (or
trims a little of) the previous one costs only the tokens that differ. The gate layout is
Keras' (i, f, c, o), documented in modeldir/directory.py. A model with attention (training/network.py) also
keeps each position's query, key and value, so the next step reads the last
`attention_span` positions without running them again.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from nextword.modeldir import directory
from nextword.modeldir.settings import ModelConfig

# States kept for the last positions of the cached sequence: editing back this far (a
# backspace over a few words) resumes from a cached state instead of starting over.
KEEP_STATES = 64
# Tokens run through a layer at once when a long text arrives (bounds the memory).
CHUNK = 512


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-probabilities (float64) from rows of logits."""
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1/(1+e^-x), without overflow warnings


class Engine:
    """A trained LSTM language model as NumPy arrays."""

    def __init__(self, cfg: ModelConfig, arrays: dict[str, np.ndarray]):
        self.cfg = cfg
        self.embedding = arrays["embedding"]
        self.layers = [(arrays[f"lstm_{i}_kernel"], arrays[f"lstm_{i}_recurrent_kernel"],
                        arrays[f"lstm_{i}_bias"]) for i in range(cfg.layers)]
        self.projection = ((arrays["projection_kernel"], arrays["projection_bias"])
                           if cfg.projection_dim else None)
        self.attention = ((arrays["attention_qkv_kernel"], arrays["attention_qkv_bias"],
                           arrays["attention_output_kernel"], arrays["attention_output_bias"])
                          if cfg.attention else None)
        self.output_kernel = arrays["output_kernel"]
        self.output_bias = arrays["output_bias"]
        self._forget()

    def _forget(self) -> None:
        """Empty the cache of the last sequence and its states."""
        self._ids: list[int] = []
        width = 2 * self.cfg.attention + self.cfg.units if self.cfg.attention else 0
        self._qkv = np.zeros((0, width), dtype=np.float32)  # the attention's rows of _ids' positions
        self._states: list[np.ndarray] = []  # state after _ids[:n] for the last positions n
        self._first_kept = 0                 # position of _states[0]
        self._probs: np.ndarray | None = None

    def fork(self) -> Engine:
        """The same weights (shared, not copied) with a cache of its own, for another text."""
        twin = copy.copy(self)
        twin._forget()
        return twin

    @classmethod
    def load(cls, path: Path) -> Engine:
        snap = directory.load(path)
        return cls(snap.config["_model"], snap.weights)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def zero_state(self) -> np.ndarray:
        """(layers, 2, units): h and c of each layer."""
        return np.zeros((self.cfg.layers, 2, self.cfg.units), dtype=np.float32)

    def _layers_forward(self, state: np.ndarray, chunk: np.ndarray):
        """Feed one chunk through every layer, updating `state` in place; returns the
        per-position (h, c) arrays of each layer. `chunk` is (T,) ids read from `state`
        (layers, 2, units), or (T, S) ids of S sequences read side by side from `state`
        (layers, 2, S, units)."""
        x = self.embedding[chunk]
        units = self.cfg.units
        per_layer = []
        for layer, (kernel, recurrent, bias) in enumerate(self.layers):
            gates_in = x @ kernel + bias  # the input part of every step at once
            h, c = state[layer]
            out_h = np.empty(gates_in.shape[:-1] + (units,), dtype=np.float32)
            out_c = np.empty_like(out_h)
            for t in range(len(chunk)):
                z = gates_in[t] + h @ recurrent
                i = _sigmoid(z[..., :units])
                f = _sigmoid(z[..., units:2 * units])
                g = np.tanh(z[..., 2 * units:3 * units])
                o = _sigmoid(z[..., 3 * units:])
                c = f * c + i * g
                h = o * np.tanh(c)
                out_h[t], out_c[t] = h, c
            state[layer, 0], state[layer, 1] = h, c
            per_layer.append((out_h, out_c))
            x = out_h
        return per_layer

    def run(self, state: np.ndarray, ids, keep: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
        """Feed `ids` from `state`; return the states after each of the last `keep` tokens,
        and the attention's rows (query, key, value) of every position (no columns without
        attention)."""
        ids = np.asarray(ids, dtype=np.int64)
        kept: list[np.ndarray] = []
        rows = []
        state = state.copy()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            per_layer = self._layers_forward(state, chunk)
            rows.append(self._qkv_rows(per_layer[-1][0]))
            for t in range(max(start, len(ids) - keep), start + len(chunk)):
                kept.append(np.stack([np.stack([h[t - start], c[t - start]]) for h, c in per_layer]))
        rows = np.concatenate(rows) if rows else self._qkv[:0]
        return (kept[-keep:] if keep else []), rows

    def _qkv_rows(self, h: np.ndarray) -> np.ndarray:
        if self.attention is None:
            return np.zeros((len(h), 0), dtype=np.float32)
        return h @ self.attention[0] + self.attention[1]

    def _attend(self, h: np.ndarray, rows: np.ndarray, first: int) -> np.ndarray:
        """Top-layer outputs `h` (m, units) of the last m positions of `rows` (L, q|k|v),
        with the attention's addition; `first`: rows[first:] are h's own. Position j reads
        the rows within attention_span back to it, its own included."""
        if self.attention is None:
            return h
        a, span, heads = self.cfg.attention, self.cfg.attention_span, self.cfg.attention_heads
        m, n, d = len(h), len(rows), a // heads
        q = rows[first:, :a].reshape(m, heads, d).transpose(1, 0, 2)
        k = rows[:, a:2 * a].reshape(n, heads, d).transpose(1, 2, 0)
        v = rows[:, 2 * a:].reshape(n, heads, -1).transpose(1, 0, 2)
        scores = (q @ k) * np.float32(d ** -0.5)  # (heads, m, n)
        pos = np.arange(first, first + m)[:, None]
        key = np.arange(n)[None, :]
        scores = np.where((key <= pos) & (pos - key < span), scores, -np.inf)
        scores -= scores.max(axis=2, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=2, keepdims=True)
        read = (scores @ v).transpose(1, 0, 2).reshape(m, -1)  # the heads side by side
        return h + read @ self.attention[2] + self.attention[3]

    def stream_log_probs(self, ids, chunk: int = CHUNK):
        """For a whole text: yield (position, log-probability rows) chunk by chunk, where
        row j is the log distribution of the token after ids[:position + j + 1]. The output
        layer runs as one matrix product per chunk, so this is much faster than `distribution`
        per token. Does not touch the cache."""
        for start, h in self.stream_hidden(ids, chunk):
            yield start, log_softmax(self._output(h))

    def stream_hidden(self, ids, chunk: int = CHUNK):
        """For a whole text from a zero state: yield (position, rows) chunk by chunk, row j
        the output layer's input after ids[:position + j + 1]. Does not touch the cache."""
        ids = np.asarray(ids, dtype=np.int64)
        state = self.zero_state()
        tail = self._qkv[:0]  # the rows of the positions before the chunk its attention reads
        for start in range(0, len(ids), chunk):
            h = self._layers_forward(state, ids[start:start + chunk])[-1][0]
            rows = np.concatenate([tail, self._qkv_rows(h)])
            h = self._attend(h, rows, len(tail))
            if self.attention is not None:
                tail = rows[max(0, len(rows) - (self.cfg.attention_span - 1)):]
            yield start, h

    def _output(self, h: np.ndarray) -> np.ndarray:
        """Logits from top-layer hidden vectors (one, or a row per position)."""
        if self.projection is not None:
            h = h @ self.projection[0] + self.projection[1]
        return h @ self.output_kernel + self.output_bias

    def probabilities(self, state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """After the position whose state is `state` and whose attention rows end `rows`."""
        z = self._output(self._attend(state[-1, 0][None], rows, len(rows) - 1)[0]).astype(np.float64)
        z -= z.max()
        np.exp(z, out=z)
        return z / z.sum()

    def distribution(self, ids: list[int]) -> np.ndarray:
        """Next-token probabilities after `ids` (must be non-empty), using the cache."""
        if not self.advance(ids) and self._probs is not None:
            return self._probs
        self._probs = self.probabilities(self._states[-1], self._qkv[-max(1, self.cfg.attention_span):])
        return self._probs

    def advance(self, ids: list[int]) -> bool:
        """Bring the cache to the state after `ids` (non-empty), running only the tokens
        that differ from the cached sequence; False if it was there already."""
        ids = list(ids)
        common = 0
        limit = min(len(ids), len(self._ids))
        while common < limit and ids[common] == self._ids[common]:
            common += 1
        if common == len(ids) == len(self._ids):
            return False
        if self._states and common >= self._first_kept:
            # Resume from the cached state at the end of the common prefix.
            base = common
            self._states = self._states[: base - self._first_kept + 1]
        else:
            base, self._states = 0, [self.zero_state()]
        new, rows = self.run(self._states[-1], ids[base:], keep=KEEP_STATES)
        self._qkv = np.concatenate([self._qkv[:base], rows])
        if len(new) < len(ids) - base:
            self._states = new  # the run was longer than KEEP_STATES: only its end is kept
        else:
            self._states.extend(new)
        self._states = self._states[-KEEP_STATES:]
        self._first_kept = len(ids) + 1 - len(self._states)
        self._ids = ids
        self._probs = None
        return True
