"""The library API: `nextword.load(path).suggest(text, k)`.

Splits what the user typed into context and the partial word at the cursor, asks the
engine for the next-token distribution after the context, and keeps the words that fit
the partial word (through a sorted prefix index, not a scan), renormalised over them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifact, casing, sampling
from . import tokenizer as tokenizer_mod
from .predictors.lstm import Engine
from .paths import default_model_dir

# Predictions read only the end of the text: an LSTM's state keeps little from more than a
# few hundred tokens back, while the cost of the whole text grows with it (one 10 MB line
# took 65 s and 1.27 GB to tokenise and run). The window starts at a multiple of
# CONTEXT_STEP characters (then at the next whitespace), so while the user types it keeps
# its start and the engine's cache extends it by one step per token; it moves, and is run
# again (about 1,000 tokens), once per CONTEXT_STEP characters typed.
MAX_CONTEXT_CHARS = 4000
CONTEXT_STEP = 1000
# Greedy or near-greedy generation can settle into a loop of line ends or punctuation:
# at most this many line ends in a row (a paragraph break), and after this many tokens
# that are not words the next token must be a word.
MAX_LINE_ENDS = 2
MAX_NON_WORDS = 4

_WORD_CHAR_RUN = re.compile(r"[\w'’\-]*")
_WORD_START = re.compile(r"\w")
_SPACE = re.compile(r"\s")
_CLOSING = "'\"”’)"


@dataclass
class Suggestions:
    text: str
    prefix: str
    words: list[tuple[str, float]]

    def to_json(self) -> dict:
        return {"text": self.text, "prefix": self.prefix,
                "suggestions": [{"word": w, "prob": round(p, 6)} for w, p in self.words]}


def split_text(text: str) -> tuple[str, str]:
    """(context, partial word at the end). Text ending in a space or punctuation has no
    partial word: the answer is the next word."""
    # Scanned backwards: a regex search for a word at the end is quadratic in a long word.
    run = _WORD_CHAR_RUN.match(text[::-1]).end()
    start = _WORD_START.search(text, len(text) - run)
    if start is None:
        return text, ""
    return text[: start.start()], text[start.start():]


def at_sentence_start(context: str) -> bool:
    """True if a word after `context` starts a sentence: nothing but space before it, a
    line end, or . ! ? (and closing quotes or brackets) before the last spaces."""
    stripped = context.rstrip()
    if not stripped or "\n" in context[len(stripped):]:
        return True
    return stripped.rstrip(_CLOSING)[-1:] in (".", "!", "?")


def context_window(text: str) -> str:
    """The end of `text` that predictions read: about MAX_CONTEXT_CHARS to
    MAX_CONTEXT_CHARS + CONTEXT_STEP characters, from a whitespace boundary; short texts whole."""
    excess = len(text) - MAX_CONTEXT_CHARS
    if excess <= 0:
        return text
    start = excess // CONTEXT_STEP * CONTEXT_STEP
    space = _SPACE.search(text, start)
    return text[space.end():] if space else text[start:]


def match_case(word: str, prefix: str, sentence_start: bool, display: dict[str, str]) -> str:
    """Show a (lower-case) vocabulary word as the user would write it: its usual written
    form ("Python", "I'm"), capitalised after a capitalised prefix or at a sentence start,
    all caps after an all-caps prefix."""
    shown = display.get(word, word)
    if len(prefix) > 1 and prefix.isupper():
        return shown.upper()
    if prefix[:1].isupper() or (not prefix and sentence_start):
        return shown[:1].upper() + shown[1:]
    return shown


class Predictor:
    """A loaded model: suggestions for typed text, and sampling."""

    def __init__(self, path: Path, engine: Engine, tok, display: dict[str, str] | None = None):
        self.path = Path(path)
        self.display = display or {}
        self.engine = engine
        self.tokenizer = tok
        vocab = tok.get_vocab()
        self.eol_id = vocab[tokenizer_mod.EOL]
        self.unk_id = vocab[tokenizer_mod.UNK]
        self.id_to_token = [""] * tok.get_vocab_size()
        for word, idx in vocab.items():
            self.id_to_token[idx] = word
        words = sorted((w, i) for w, i in vocab.items() if tokenizer_mod.is_word(w))
        self._sorted_words = [w for w, _ in words]
        self._sorted_ids = np.array([i for _, i in words], dtype=np.int64)
        self._non_word_ids = np.setdiff1d(np.arange(len(self.id_to_token)), self._sorted_ids)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Predictor:
        path = Path(path).expanduser() if path else default_model_dir()
        snap = artifact.load(path)  # files that belong together, weights finite
        engine = Engine(snap.config["_model"], snap.weights)
        return cls(path, engine, snap.tokenizer, casing.load(snap.path))

    def context_ids(self, context: str) -> list[int]:
        """Token ids the engine reads for `context`: EOL first (every text starts as if at
        the beginning of a line, as most training windows do)."""
        return [self.eol_id] + self.tokenizer.encode(context, add_special_tokens=False).ids

    def candidates(self, prefix: str) -> np.ndarray:
        """Ids of the suggestable words starting with `prefix` (case-insensitive)."""
        if not prefix:
            return self._sorted_ids
        key = self.tokenizer.normalizer.normalize_str(prefix)
        lo = bisect_left(self._sorted_words, key)
        hi = bisect_left(self._sorted_words, key + "\U0010ffff", lo)
        return self._sorted_ids[lo:hi]

    def analyse(self, text: str, k: int = 5) -> Suggestions:
        """The top `k` words for `text`, with probabilities among the words that fit."""
        context, prefix = split_text(context_window(text))
        ids = self.candidates(prefix)
        if len(ids) == 0 or k <= 0:
            return Suggestions(text, prefix, [])
        probs = self.engine.distribution(self.context_ids(context))[ids]
        total = probs.sum()
        top = np.argpartition(-probs, k - 1)[:k] if len(ids) > k else np.arange(len(ids))
        top = top[np.argsort(-probs[top], kind="stable")]
        start = at_sentence_start(context)
        words = [(match_case(self.id_to_token[ids[j]], prefix, start, self.display),
                  float(probs[j] / total) if total > 0 else 0.0) for j in top]
        return Suggestions(text, prefix, words)

    def suggest(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """[(word, probability), ...], best first."""
        return self.analyse(text, k).words

    def generate(self, prompt: str = "", words: int = 30, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> str:
        """Continue `prompt` by sampling `words` words (punctuation and line ends come free,
        within MAX_LINE_ENDS and MAX_NON_WORDS). The same seed gives the same text."""
        rng = np.random.default_rng(seed)
        window = context_window(prompt)
        ids = self.context_ids(window)
        out: list[str] = []
        made = non_words = 0
        line_ends = 0 if window.strip() else MAX_LINE_ENDS  # no blank lines to begin with
        for token_id in reversed(ids[1:]):
            if token_id != self.eol_id:
                break
            line_ends += 1
        while made < words and len(out) < (MAX_NON_WORDS + 1) * words + 16:  # (never binds)
            if non_words >= MAX_NON_WORDS:
                banned = self._non_word_ids
            elif line_ends >= MAX_LINE_ENDS:
                banned = [self.unk_id, self.eol_id]
            else:
                banned = [self.unk_id]
            token = sampling.sample(self.engine.distribution(ids), rng, temperature, top_k, top_p,
                                    banned=banned)
            ids.append(token)
            out.append(self.id_to_token[token])
            is_word = tokenizer_mod.is_word(out[-1])
            made += is_word
            non_words = 0 if is_word else non_words + 1
            line_ends = line_ends + 1 if token == self.eol_id else 0
        start = at_sentence_start(window)
        text = sampling.detokenize([self.display.get(t, t) for t in out], capitalize_start=start)
        if prompt and not prompt[-1].isspace() and text and text[0] not in ".,;:!?)\n":
            text = " " + text
        return prompt + text
