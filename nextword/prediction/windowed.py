"""Reading a text the way the network was trained: in windows that start from a zero state.

Training shows the network windows of `seq_len` tokens, each read from a zero state, so a
prediction there has seen 0 to seq_len - 1 tokens. Read on from one continuous state
(prediction/lstm.py), the network meets contexts it was never trained on. Some models
handle them well (35-token windows, no attention: continuous reading is the better one on
WikiText-2), others break down (100-token windows with attention: perplexity 165 read on,
140 read in windows), so training measures both on validation text and records the better
one as `ModelConfig.reading_window` (choose_reading, called by training/stages.py).

With a window W, two readers take turns, each restarted from a zero state every W // 2
tokens, half a window apart; the prediction after n tokens comes from the reader that has
read longer, so its context is W // 2 to 2 * (W // 2) - 1 tokens: always inside what
training showed, never less than half a window once the text is that long. Each reader
is an Engine with its own cache, so a keystroke costs two LSTM steps instead of one.
"""

from __future__ import annotations

import numpy as np

from nextword.modeldir.settings import ModelConfig
from nextword.prediction.lstm import CHUNK, Engine, log_softmax


def engine_for(cfg: ModelConfig, arrays: dict[str, np.ndarray]) -> Engine | WindowedEngine:
    """The LSTM component of a model, reading as its config says."""
    engine = Engine(cfg, arrays)
    return WindowedEngine(engine, cfg.reading_window) if cfg.reading_window else engine


BATCH = 64  # readers run side by side when a whole text is read (stream_log_probs)

# Windowed reading costs a second LSTM step a token: it is chosen only if it is at least
# this much better (a perplexity this many times the continuous reading's, or less).
WORTH_IT = 0.99


def choose_reading(engine: Engine, window: int, ids) -> tuple[int, dict[str, float]]:
    """The reading window for a model trained on `window`-token windows: `window` if its
    LSTM perplexity on the token ids `ids` (validation text, in order) read in windows is
    at least 1 % below the continuous reading's, else 0. Also returns both perplexities
    ({} when `ids` hold fewer than four windows: continuous, untested)."""
    ids = np.asarray(ids, dtype=np.int64)
    if window < 2 or len(ids) <= 4 * window:
        return 0, {}
    figures = {"continuous": perplexity(engine, ids),
               "windows": perplexity(WindowedEngine(engine, window), ids)}
    return (window if figures["windows"] <= WORTH_IT * figures["continuous"] else 0), figures


def perplexity(engine, ids: np.ndarray) -> float:
    """Perplexity of the component `engine` on ids[1:], each token after the ones before."""
    total = 0.0
    for start, rows in engine.stream_log_probs(ids[:-1]):
        total -= rows[np.arange(len(rows)), ids[start + 1:start + 1 + len(rows)]].sum()
    return float(np.exp(total / (len(ids) - 1)))


def reader_start(n: int, half: int) -> int:
    """Where the reader that predicts after n tokens started: n - start is in
    [half, 2 * half), or start is 0 while the text is shorter."""
    return max(0, (n // half - 1) * half)


class WindowedEngine:
    """An Engine's network read in staggered windows of `window` tokens (see the module)."""

    def __init__(self, engine: Engine, window: int):
        if window < 2:
            raise ValueError(f"a reading window needs at least 2 tokens, not {window}")
        self.engine, self.window, self.half = engine, window, window // 2
        self.cfg = engine.cfg
        self._readers = [engine.fork(), engine.fork()]  # by (start // half) % 2

    @property
    def vocab_size(self) -> int:
        return self.engine.vocab_size

    def fork(self) -> WindowedEngine:
        """The same weights with caches of its own, for another text. The inner Engine is
        forked too: the output layer a text adapts to (prediction/dynamic.py) is set on
        each of its engines, and must not reach another text's."""
        return WindowedEngine(self.engine.fork(), self.window)

    def distribution(self, ids) -> np.ndarray:
        """Next-token probabilities after `ids` (non-empty). The reader that takes over at
        the next restart reads along (without computing probabilities), so the hand-over
        costs nothing either."""
        ids = list(ids)
        start = reader_start(len(ids), self.half)
        turn = start // self.half
        following = start + self.half
        if following < len(ids):
            self._readers[(turn + 1) % 2].advance(ids[following:])
        return self._readers[turn % 2].distribution(ids[start:])

    def stream_log_probs(self, ids, chunk: int = CHUNK):
        """As Engine.stream_log_probs (row j after ids[:position + j + 1], chunks of
        `chunk` rows), each row from its reader's window."""
        ids = np.asarray(ids, dtype=np.int64)
        buffer, done = np.zeros((0, self.cfg.units), dtype=np.float32), 0
        for hidden in self._hidden_rows(ids):
            buffer = np.concatenate([buffer, hidden])
            while len(buffer) >= chunk:
                yield done, log_softmax(self.engine._output(buffer[:chunk]))
                done, buffer = done + chunk, buffer[chunk:]
        if len(buffer):
            yield done, log_softmax(self.engine._output(buffer))

    def _hidden_rows(self, ids: np.ndarray):
        """Top-layer outputs for positions 0, 1, ... in blocks: the reader started at k * half
        gives the rows of the positions it predicts from, each read from a zero state. The
        readers of a block run side by side, as one batch."""
        half, engine = self.half, self.engine
        length = 2 * half - 1  # a reader predicts after n < start + 2 * half tokens
        readers = [(start, 0 if start == 0 else start + half - 1, min(len(ids), start + length))
                   for start in range(0, len(ids), half)]
        readers = [r for r in readers if r[1] < r[2]]
        for at in range(0, len(readers), BATCH):
            block = readers[at:at + BATCH]
            batch = np.zeros((length, len(block)), dtype=np.int64)  # time-major, zero-padded
            for j, (start, _, stop) in enumerate(block):
                batch[:stop - start, j] = ids[start:stop]
            state = np.zeros((engine.cfg.layers, 2, len(block), engine.cfg.units), dtype=np.float32)
            h = engine._layers_forward(state, batch)[-1][0]
            for j, (start, first, stop) in enumerate(block):
                own = h[:stop - start, j]  # (the padding after it cannot reach back)
                yield engine._attend(own, engine._qkv_rows(own), 0)[first - start:]
