"""The NumPy LSTM: forward steps from plain weight arrays, with the recurrent state cached.

No TensorFlow or Keras here. `Engine.distribution(ids)` returns next-token probabilities
after a token sequence; the state is cached by token prefix, so a query that extends (or
trims a little of) the previous one costs only the tokens that differ. The gate layout is
Keras' (i, f, c, o), documented in artifact.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from .. import artifact
from ..config import ModelConfig

# States kept for the last positions of the cached sequence: editing back this far (a
# backspace over a few words) resumes from a cached state instead of starting over.
KEEP_STATES = 64
# Tokens run through a layer at once when a long text arrives (bounds the memory).
CHUNK = 512


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
        self.output_kernel = arrays["output_kernel"]
        self.output_bias = arrays["output_bias"]
        self._forget()

    def _forget(self) -> None:
        """Empty the cache of the last sequence and its states."""
        self._ids: list[int] = []
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
        snap = artifact.load(path)
        return cls(snap.config["_model"], snap.weights)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def zero_state(self) -> np.ndarray:
        """(layers, 2, units): h and c of each layer."""
        return np.zeros((self.cfg.layers, 2, self.cfg.units), dtype=np.float32)

    def _layers_forward(self, state: np.ndarray, chunk: np.ndarray):
        """Feed one chunk through every layer, updating `state` in place; returns the
        per-position (h, c) arrays of each layer."""
        x = self.embedding[chunk]
        units = self.cfg.units
        per_layer = []
        for layer, (kernel, recurrent, bias) in enumerate(self.layers):
            gates_in = x @ kernel + bias  # the input part of every step at once
            h, c = state[layer]
            out_h = np.empty((len(chunk), units), dtype=np.float32)
            out_c = np.empty((len(chunk), units), dtype=np.float32)
            for t in range(len(chunk)):
                z = gates_in[t] + h @ recurrent
                i = _sigmoid(z[:units])
                f = _sigmoid(z[units:2 * units])
                g = np.tanh(z[2 * units:3 * units])
                o = _sigmoid(z[3 * units:])
                c = f * c + i * g
                h = o * np.tanh(c)
                out_h[t], out_c[t] = h, c
            state[layer, 0], state[layer, 1] = h, c
            per_layer.append((out_h, out_c))
            x = out_h
        return per_layer

    def run(self, state: np.ndarray, ids, keep: int = 1) -> list[np.ndarray]:
        """Feed `ids` from `state`; return the states after each of the last `keep` tokens."""
        ids = np.asarray(ids, dtype=np.int64)
        kept: list[np.ndarray] = []
        state = state.copy()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            per_layer = self._layers_forward(state, chunk)
            for t in range(max(start, len(ids) - keep), start + len(chunk)):
                kept.append(np.stack([np.stack([h[t - start], c[t - start]]) for h, c in per_layer]))
        return kept[-keep:] if keep else []

    def stream_log_probs(self, ids, chunk: int = CHUNK):
        """For a whole text: yield (position, log-probability rows) chunk by chunk, where
        row j is the log distribution of the token after ids[:position + j + 1]. The output
        layer runs as one matrix product per chunk, so this is much faster than `distribution`
        per token. Does not touch the cache."""
        ids = np.asarray(ids, dtype=np.int64)
        state = self.zero_state()
        for start in range(0, len(ids), chunk):
            h = self._layers_forward(state, ids[start:start + chunk])[-1][0]
            z = self._output(h).astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
            yield start, z

    def _output(self, h: np.ndarray) -> np.ndarray:
        """Logits from top-layer hidden vectors (one, or a row per position)."""
        if self.projection is not None:
            h = h @ self.projection[0] + self.projection[1]
        return h @ self.output_kernel + self.output_bias

    def logits(self, state: np.ndarray) -> np.ndarray:
        return self._output(state[-1, 0])

    def probabilities(self, state: np.ndarray) -> np.ndarray:
        z = self.logits(state).astype(np.float64)
        z -= z.max()
        np.exp(z, out=z)
        return z / z.sum()

    def distribution(self, ids: list[int]) -> np.ndarray:
        """Next-token probabilities after `ids` (must be non-empty), using the cache."""
        ids = list(ids)
        common = 0
        limit = min(len(ids), len(self._ids))
        while common < limit and ids[common] == self._ids[common]:
            common += 1
        if common == len(ids) == len(self._ids) and self._probs is not None:
            return self._probs
        if self._states and common >= self._first_kept:
            # Resume from the cached state at the end of the common prefix.
            base = common
            self._states = self._states[: base - self._first_kept + 1]
        else:
            base, self._states = 0, [self.zero_state()]
        new = self.run(self._states[-1], ids[base:], keep=KEEP_STATES)
        if len(new) < len(ids) - base:
            self._states = new  # the run was longer than KEEP_STATES: only its end is kept
        else:
            self._states.extend(new)
        self._states = self._states[-KEEP_STATES:]
        self._first_kept = len(ids) + 1 - len(self._states)
        self._ids = ids
        self._probs = self.probabilities(self._states[-1])
        return self._probs
