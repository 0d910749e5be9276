"""The network adapts to the text being written: dynamic evaluation of the output layer.

After each finished line, one gradient step on the LSTM's output layer (kernel and bias)
over that line's tokens (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence
Models", restricted to the last layer; the recurrent weights stay as trained, so the
hidden states of a text never change and nothing already read is run again):

    theta <- theta - STEP / (|f|^2 sqrt(n)) * grad(sum of the line's n token losses)
                   + DECAY * (theta_0 - theta)

(|f|^2: the mean squared norm of the features the output layer read, plus 1, so STEP is
in units of the logits whatever the features' scale.)

The pull back to the trained weights (DECAY) keeps a long session from drifting. The
adapted arrays are copies made at the first step and belong to the process (a REPL
session, a pipe, an evaluation): the model directory's weights.npz is never written, and
a fresh process starts from the trained layer again. Work happens at line ends only
(`learn`), never inside a keystroke's answer: a step costs one forward pass over the line
and a (width x vocabulary) outer product.

`learn_line` also adds the line's hidden states to the continuous cache
(prediction/neural_cache.py) when the LSTM component has one.
"""

from __future__ import annotations

import numpy as np

from nextword.prediction.lstm import CHUNK, Engine

# Chosen on Shakespeare (a 1 MB training part; tuning text: held-out lines of that part),
# then checked unchanged on WikiText-2: see docs/benchmarks.md, "Learning as you go".
STEP = 1.5
DECAY = 0.02
MAX_SCORED = 24  # words of a line the store's trust is scored on (each costs a prediction)


def engines_of(lstm) -> list[Engine]:
    """The Engine objects whose output layer answers for `lstm` (an Engine, or a
    WindowedEngine and its readers, perhaps inside a CachedLSTM)."""
    lstm = getattr(lstm, "lstm", lstm)
    if isinstance(lstm, Engine):
        return [lstm]
    inner = getattr(lstm, "engine", None)
    if isinstance(inner, Engine):
        return [inner, *getattr(lstm, "_readers", [])]
    return []


def hidden_rows(lstm, ids, chunk: int = CHUNK):
    """(position, top-layer vectors) chunk by chunk, row j after ids[:position + j + 1], as
    the LSTM component reads a whole text (its `stream_log_probs` without the output layer)."""
    ids = np.asarray(ids, dtype=np.int64)
    engine = engines_of(lstm)[0]
    lstm = getattr(lstm, "lstm", lstm)
    if not isinstance(lstm, Engine):  # windowed reading
        buffer, done = np.zeros((0, engine.cfg.units), dtype=np.float32), 0
        for hidden in lstm._hidden_rows(ids):
            buffer = np.concatenate([buffer, hidden])
            while len(buffer) >= chunk:
                yield done, buffer[:chunk]
                done, buffer = done + chunk, buffer[chunk:]
        if len(buffer):
            yield done, buffer
        return
    yield from engine.stream_hidden(ids, chunk)


class OutputAdapter:
    """Dynamic evaluation of one LSTM component's output layer, for this process."""

    def __init__(self, lstm, step: float | None = None, decay: float | None = None):
        self.lstm = lstm
        self.engines = engines_of(lstm)
        if not self.engines:
            raise ValueError("dynamic evaluation needs an LSTM engine")
        first = self.engines[0]
        self.projection = first.projection
        self.kernel0, self.bias0 = first.output_kernel, first.output_bias
        self.kernel, self.bias = self.kernel0, self.bias0
        self.step_size = STEP if step is None else step
        self.decay = DECAY if decay is None else decay
        self.steps = 0

    def features(self, h: np.ndarray) -> np.ndarray:
        """What the output layer reads: the top-layer vectors through the projection."""
        if self.projection is not None:
            h = h @ self.projection[0] + self.projection[1]
        return h

    def logits(self, h: np.ndarray) -> np.ndarray:
        return self.features(h) @ self.kernel + self.bias

    def step(self, h: np.ndarray, targets) -> float:
        """One step on the tokens `targets` read after the top-layer vectors `h` (rows);
        returns their mean loss before the step. Rows are taken CHUNK at a time, so a long
        line never holds more than (CHUNK x vocabulary) probabilities."""
        targets = np.asarray(targets, dtype=np.int64)
        if not len(targets) or self.step_size <= 0:
            return float("nan")
        f = self.features(h).astype(np.float32)
        # One (width x vocabulary) buffer, reused below: the first chunk's product is it (a
        # zeroed buffer that each product is added to holds two at once: +14 MB at 14,000
        # words and 256 features, the peak of a process that learns).
        grad = bias_grad = None
        loss = 0.0
        for at in range(0, len(targets), CHUNK):
            fc, tc = f[at:at + CHUNK], targets[at:at + CHUNK]
            z = (fc @ self.kernel + self.bias).astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            rows = np.arange(len(tc))
            loss -= float(np.log(np.maximum(p[rows, tc], 1e-300)).sum())
            p[rows, tc] -= 1.0  # d(sum of losses)/dz
            g = p.astype(np.float32)
            if grad is None:
                grad, bias_grad = fc.T @ g, g.sum(axis=0)
            else:
                grad += fc.T @ g
                bias_grad += g.sum(axis=0)
        if self.kernel is self.kernel0:  # the first step: copies of this process's own
            self.kernel, self.bias = self.kernel0.copy(), self.bias0.copy()
            for engine in self.engines:
                engine.output_kernel, engine.output_bias = self.kernel, self.bias
        # Normalised (as NLMS is): a step of STEP moves a token's own logit by about STEP
        # times its error, whatever the scale of the features; sqrt(n) for a line of n tokens.
        scale = float(np.mean(np.sum(f * f, axis=1))) + 1.0
        lr = np.float32(self.step_size / (scale * np.sqrt(len(targets))))
        grad *= lr
        self.kernel -= grad
        self.bias -= lr * bias_grad
        if self.decay > 0:
            d = np.float32(self.decay)
            self.kernel *= 1 - d
            np.multiply(self.kernel0, d, out=grad)
            self.kernel += grad
            self.bias += d * (self.bias0 - self.bias)
        for engine in self.engines:
            engine._probs = None  # the cached answer was the old layer's
        self.steps += 1
        return loss / len(targets)

    def learn(self, ids) -> float:
        """A step on a finished line read from a zero state: `ids` its token ids with the
        line end first (as Predictor.context_ids gives them) and last."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) < 2:
            return float("nan")
        h = np.concatenate([rows for _, rows in hidden_rows(self.lstm, ids[:-1])])
        return self.step(h, ids[1:])


def learn_line(predictor, text: str, adapter: OutputAdapter | None) -> None:
    """At a line end, before `text` (its last characters, as predictions read them:
    Predictor.adapt passes its context window) goes into the personal store: the store's
    trust moved by how right it would have been on the line's words (Personal.feedback, the
    network's probabilities beside it), and a step of `adapter` (None: no step) over the
    line's tokens."""
    lstm = predictor.mixture.components.get("lstm")
    if lstm is None or not engines_of(lstm):
        return
    ids, forms = predictor.context_tokens(text)
    ids = np.asarray(ids + [predictor.eol_id], dtype=np.int64)
    cache = getattr(lstm, "cache", None)  # a CachedLSTM's continuous cache
    h = (np.concatenate([rows for _, rows in hidden_rows(lstm, ids[:-1])])
         if cache is not None or adapter is not None else None)
    personal = predictor.personal
    if personal is not None:
        # What the rest of the mixture gave each token (its cache already holds the line:
        # if anything, this favours the mixture over the store).
        p = np.zeros(len(ids) - 1)
        words = 0
        for k in range(1, len(forms)):
            if forms[k] is not None and ids[k] != predictor.unk_id and words < MAX_SCORED:
                p[k - 1] = predictor.mixture._fixed(ids[:k])[0][ids[k]]
                words += 1
        personal.feedback(list(scored_words(forms, p, ids, predictor.unk_id))[:MAX_SCORED])
    if cache is not None:
        first = engines_of(lstm)[0]
        features = adapter.features(h) if adapter is not None else (
            h if first.projection is None else h @ first.projection[0] + first.projection[1])
        cache.add(features, ids[1:])
    if adapter is not None:
        adapter.step(h, ids[1:])


def scored_words(forms, target_probs, ids, unk_id: int):
    """(the last two words before it, its form, the network's probability of it) for each
    word of a token sequence (forms: None for what is not a word); unknown words, whose
    probability the network does not give, are left out."""
    run: list[str] = []
    for k in range(1, len(forms)):
        form = forms[k]
        if form is None:
            run = []
            continue
        if ids[k] != unk_id:
            yield tuple(run[-2:]), form, float(target_probs[k - 1])
        run.append(form)
