"""Learning as you go: `nextword evaluate --learn`, the figures of a predictor that learns
each line once it is written, beside the static ones.

A `Learner` is the full predictor with state of its own (nextword.Predictor.fork): a
personal store in a temporary file, empty at the start, and the adaptation the
predictor does in a process (dynamic evaluation of the LSTM's output layer,
prediction/dynamic.py). Each finished line goes into both, as `nextword complete` and
`predict --learn` learn what is entered; nothing is written into the model directory or
the user's own store.

Perplexity and top-k accuracy read the whole text in order, as the static full predictor
does (the same LSTM stream, n-gram, cache), with the store and the adaptation updated at
each line end: a line's tokens are scored before it is learned. Keystroke savings type
the paragraphs with the same simulation (evaluate.keystroke_savings, docs/model-format.md's contract);
a line is learned as soon as the typing has passed its end.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nextword.frontends.evaluate import (
    KSR_WORD,
    PARAGRAPH_BREAK,
    Scores,
    keystroke_savings,
    ksr_from,
    token_scores,
)
from nextword.prediction.dynamic import MAX_SCORED, OutputAdapter, hidden_rows, scored_words
from nextword.prediction.lstm import CHUNK
from nextword.prediction.mixture import _split, component_weight
from nextword.prediction.neural_cache import CachedLSTM, NeuralCache
from nextword.prediction.predictor import Predictor
from nextword.store.database import UserStore
from nextword.text import corpus

NAME = "full learning"
CONTINUOUS = "model"  # the continuous cache's settings: the model's (prediction/adaptation.py)


class Learner:
    """The full predictor learning as it goes, on a temporary store of its own."""

    def __init__(self, predictor: Predictor, store_path: Path | None, dynamic: bool = True,
                 neural: NeuralCache | str | None = CONTINUOUS):
        """`store_path`: the temporary personal store (None: learn without one); `neural`:
        the continuous cache's settings (None: none; CONTINUOUS: the model's)."""
        settings = predictor.settings
        if neural == CONTINUOUS:
            neural = NeuralCache(0, theta=settings.theta, lam=settings.lam)
        twin = predictor.fork()
        twin.use_store(UserStore(store_path) if store_path is not None else None)
        components = twin.mixture.components
        twin.adaptation, twin.continuous = dynamic, neural is not None
        lstm = components.get("lstm")
        if neural is not None and lstm is not None:
            lstm = twin.mixture.components["lstm"] = CachedLSTM(getattr(lstm, "lstm", lstm), neural.fresh())
        twin.adapter = (OutputAdapter(lstm, settings.step, settings.decay)
                        if dynamic and lstm is not None else None)
        self.predictor = twin
        self.adapter = twin.adapter
        self.neural = lstm.cache if neural is not None and lstm is not None else None
        self.lines = 0

    def line_done(self, line: str) -> None:
        """Learn a finished line: the store, and a step of the adaptation. A blank line is
        not learned, as `complete`, `predict --learn` and `lsp` learn none."""
        if not line.strip():
            return
        self.lines += 1
        if self.predictor.personal is not None:
            self.predictor.learn(line)  # the store, its trust, and the adaptation
        else:
            self.predictor.adapt(line)

    # -- keystroke savings -----------------------------------------------------------------

    def keystroke_savings(self, paragraphs, n: int, max_words: int) -> dict[str, int]:
        """evaluate.keystroke_savings, learning each line once the typing has passed it."""
        done = [0]  # characters of the current paragraph learned

        def suggest(context: str, k: int):
            cut = context.rfind("\n") + 1
            if cut > done[0]:
                for line in context[done[0]:cut].split("\n"):
                    self.line_done(line)
                done[0] = cut
            return self.predictor.suggest(context, k)

        def finished(paragraph: str) -> None:
            for line in paragraph[done[0]:].split("\n"):
                self.line_done(line)
            done[0] = 0
            self.predictor.read(paragraph)

        return keystroke_savings(suggest, paragraphs, n, max_words, finished)

    # -- perplexity and accuracy -----------------------------------------------------------

    def stream_log_probs(self, ids, forms=None, chunk: int = CHUNK):
        """As Mixture.stream_log_probs, learning each line at its end (the line-end token)."""
        p = self.predictor
        ids = np.asarray(ids, dtype=np.int64)
        mixture = p.mixture
        models, readers, store, forms = _split(mixture.fixed, ids, forms)
        lstm = models.pop("lstm")
        others = [(name, c.stream_log_probs(ids, chunk)) for name, c in models.items()]
        personal = mixture.personal
        line_h: list[np.ndarray] = []
        line_start = 0
        mixed_target = self._mixed = np.zeros(len(ids))  # each target's probability before the store
        for (start, h), *parts in zip(hidden_rows(lstm, ids, chunk), *(s for _, s in others), strict=True):
            out = np.empty((len(h), mixture.vocab_size))
            cuts = [j for j in range(1, len(h)) if ids[start + j] == p.eol_id]
            for a, b in zip([0, *cuts], [*cuts, len(h)], strict=True):
                t = start + a
                if ids[t] == p.eol_id and t > line_start:
                    self._learn_tokens(ids, forms, line_start, t, np.concatenate(line_h))
                    line_h, line_start = [], t
                seg = h[a:b]
                line_h.append(seg)
                logits = self.adapter.logits(seg) if self.adapter else lstm_logits(lstm, seg)
                probs = softmax(logits)
                if self.neural is not None:
                    probs = self.neural.mix(probs, features(lstm, self.adapter, seg))
                for j in range(a, b):
                    t = start + j
                    context = ids[: t + 1]
                    w = component_weight(mixture, "lstm", lstm, context)
                    row, total = w * probs[j - a], w
                    for (name, _), (_, rows) in zip(others, parts, strict=True):
                        w = component_weight(mixture, name, models[name], context)
                        row = row + w * np.exp(rows[j])
                        total += w
                    if readers:
                        store.add(forms[t])
                        for name, component in readers.items():
                            q = component.distribution(context)
                            if q is not None:
                                w = component_weight(mixture, name, component, context)
                                row = row + w * q
                                total += w
                    row = row / total
                    mixed_target[t] = row[ids[t + 1]] if t + 1 < len(ids) else 0.0
                    if personal is not None:
                        guess = personal.guess(personal.words_of(context))
                        if guess is not None:
                            row = (1 - guess.share) * row + guess.vec
                    out[j] = row
            with np.errstate(divide="ignore"):
                yield start, np.log(out)

    def _learn_tokens(self, ids, forms, start: int, stop: int, h: np.ndarray) -> None:
        """Learn the line of tokens ids[start + 1:stop] (ids[start] and ids[stop] are line
        ends, or ids[start] the text's first token); `h`: the rows of positions start..stop-1.
        A blank line (two line ends) is not learned, as in line_done."""
        p = self.predictor
        if blank_line(ids, start, stop, p.eol_id):
            return
        words = []
        for k in range(start + 1, stop):
            token = p.id_to_token[ids[k]]
            words.append(forms[k] if forms[k] is not None else "<unk>" if ids[k] == p.unk_id else token)
        targets = ids[start + 1:stop + 1]
        lstm = p.mixture.components["lstm"]
        if self.neural is not None:
            self.neural.add(features(lstm, self.adapter, h), targets)
        text = " ".join(words)
        if p.personal is not None and KSR_WORD.search(text):
            scored = scored_words(forms[start:stop], self._mixed[start:stop], ids[start:stop], p.unk_id)
            p.personal.feedback(list(scored)[:MAX_SCORED])
        if self.adapter is not None:
            self.adapter.step(h, targets)
        if KSR_WORD.search(text):
            self.lines += 1
            p.learn(text, adapt=False)
        p._last = None


def blank_line(ids, start: int, stop: int, eol_id: int) -> bool:
    """Whether ids[start:stop + 1] is a blank line: a line end right after a line end."""
    return stop == start + 1 and ids[start] == eol_id


def lstm_logits(lstm, h: np.ndarray) -> np.ndarray:
    engine = getattr(lstm, "engine", lstm)
    return engine._output(h)


def features(lstm, adapter: OutputAdapter | None, h: np.ndarray) -> np.ndarray:
    if adapter is not None:
        return adapter.features(h)
    engine = getattr(lstm, "engine", lstm)
    return h if engine.projection is None else h @ engine.projection[0] + engine.projection[1]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


def evaluate_learning(predictor: Predictor, files: list[Path], suggestions: int = 6, ksr_words: int = 0,
                      dynamic: bool = True, neural: NeuralCache | str | None = CONTINUOUS, store: bool = True,
                      log: Callable[[str], None] = lambda m: None) -> tuple[Scores, dict]:
    """The full predictor learning as it goes over FILES: its Scores (named NAME) and what
    it learned ({"lines": lines learned, "store_words": ..., "dynamic_steps": ...})."""
    text = "".join(corpus.iter_text(files))
    ids, forms = predictor.context_tokens(text)
    ids = np.asarray(ids, dtype=np.int64)
    word_mask = np.zeros(predictor.vocab_size, dtype=bool)
    word_mask[predictor.candidates("")] = True
    paragraphs = [p for p in PARAGRAPH_BREAK.split(text) if p.strip()]
    with tempfile.TemporaryDirectory(prefix="nextword-learn-") as tmp:
        log(f"{NAME}: perplexity and accuracy over {len(ids) - 1:,} tokens, learning each line ...")
        learner = Learner(predictor, Path(tmp) / "stream.db" if store else None, dynamic, neural)
        scores = token_scores(NAME, learner, ids, word_mask, predictor.unk_id, forms=forms)
        facts = {"lines_learned": learner.lines,
                 "dynamic_steps": learner.adapter.steps if learner.adapter else 0}
        log(f"{NAME}: keystroke savings, learning each line ...")
        typist = Learner(predictor, Path(tmp) / "typed.db" if store else None, dynamic, neural)
        counts = typist.keystroke_savings(paragraphs, suggestions, ksr_words)
        facts["store_words_typed"] = 0
        for one in (typist, learner):
            if one.predictor.personal is not None:
                summary = one.predictor.personal.user_store.summary()
                if one is typist:
                    facts["store_words_typed"] = summary.words if summary is not None else 0
                one.predictor.personal.user_store.close()
    scores.ksr, scores.ksr_words, scores.keystrokes = ksr_from(counts), counts["words"], counts
    if math.isnan(scores.perplexity):
        scores.perplexity = float("nan")
    return scores, facts
