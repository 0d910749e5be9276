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
from .engine import Engine
from .paths import default_model_dir

_PARTIAL_WORD = re.compile(r"\w[\w'’\-]*$")
_SENTENCE_END = re.compile(r"(^|[.!?]['\"”’)]*|\n)\s*$")


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
    match = _PARTIAL_WORD.search(text)
    if match is None:
        return text, ""
    return text[: match.start()], match.group()


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

    @classmethod
    def load(cls, path: Path | str | None = None) -> Predictor:
        path = Path(path).expanduser() if path else default_model_dir()
        cfg = artifact.read_config(path)["_model"]
        tok = artifact.read_tokenizer(path, cfg)
        return cls(path, Engine.load(path, cfg), tok, casing.load(path))

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
        context, prefix = split_text(text)
        ids = self.candidates(prefix)
        if len(ids) == 0 or k <= 0:
            return Suggestions(text, prefix, [])
        probs = self.engine.distribution(self.context_ids(context))[ids]
        total = probs.sum()
        top = np.argpartition(-probs, k - 1)[:k] if len(ids) > k else np.arange(len(ids))
        top = top[np.argsort(-probs[top], kind="stable")]
        start = bool(_SENTENCE_END.search(context))
        words = [(match_case(self.id_to_token[ids[j]], prefix, start, self.display),
                  float(probs[j] / total) if total > 0 else 0.0) for j in top]
        return Suggestions(text, prefix, words)

    def suggest(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """[(word, probability), ...], best first."""
        return self.analyse(text, k).words

    def generate(self, prompt: str = "", words: int = 30, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> str:
        """Continue `prompt` by sampling `words` words (punctuation and line ends come free).
        The same seed gives the same text."""
        rng = np.random.default_rng(seed)
        ids = self.context_ids(prompt)
        out: list[str] = []
        made = 0
        while made < words and len(out) < 4 * words + 16:
            probs = self.engine.distribution(ids)
            token = sampling.sample(probs, rng, temperature, top_k, top_p, banned=[self.unk_id])
            ids.append(token)
            out.append(self.id_to_token[token])
            made += tokenizer_mod.is_word(out[-1])
        start = not prompt.strip() or bool(_SENTENCE_END.search(prompt))
        text = sampling.detokenize([self.display.get(t, t) for t in out], capitalize_start=start)
        if prompt and not prompt[-1].isspace() and text and text[0] not in ".,;:!?)\n":
            text = " " + text
        return prompt + text
