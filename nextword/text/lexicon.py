"""The corpus's rare words: those below the vocabulary's frequency cut, with their counts.

The network and the 3-gram see such words as [UNK], so a word the corpus holds once or
twice ("arrowroot", "Smallridge's") could never be suggested, however much of it was
typed. Training keeps them (lexicon.json in the model directory, optional) and the
predictor completes a typed prefix with them, each at its share of the [UNK] probability
the model gives the context: P(w) = P([UNK] | context) * count(w) / (all their counts), a
proper split of the mass the model already sets aside for words outside its vocabulary
(prediction/predictor.py). On Emma (a 10-minute model, the next 3,000 words of the book
typed) keystroke savings rose 0.7 points (docs/benchmarks.md, "Beside Presage").

    lexicon.json   {"counts": {word: count, ...}, "display": {word: written form, ...}}

Words are keys as the tokenizer normalises them (lower case), counted over the text the
vocabulary is built from (its first 16 MiB: casing.SAMPLE_CHARS); the display form is the
commonest written form when that is not the key. At most MAX_WORDS (20,000) words of at most
MAX_LENGTH characters, the commonest first. Like casing.json its content is read as
hostile input and is an aid: anything that is not what training writes is left out.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from nextword.text.rules import WORD

FILE = "lexicon.json"
MAX_WORDS = 20_000
MAX_LENGTH = 48
SCAN = 256  # more words than this after a prefix: found in order of count, not sorted
_WORD = re.compile(WORD)


def build(counts: Counter[str], vocabulary: Iterable[str], normalize: Callable[[str], str],
          display: dict[str, str]) -> Lexicon:
    """The Lexicon: the words of `counts` (casing.CaseCounter.words) that are
    not in `vocabulary`, as `normalize` (the tokenizer's) writes them, the commonest
    MAX_WORDS; `display`: their written forms (casing.CaseCounter.display_forms)."""
    vocab = set(vocabulary)
    merged: Counter[str] = Counter()
    for word, n in counts.items():
        key = normalize(word)
        if key and len(key) <= MAX_LENGTH and key not in vocab and _WORD.fullmatch(key):
            merged[key] += n
    words = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_WORDS]
    return Lexicon(dict(words), {w: display[w] for w, _ in words if w in display and display[w].lower() == w})


def save(lexicon: Lexicon, model_dir: Path) -> None:
    # (Not sort_keys: the counts keep their order, the commonest first.)
    (Path(model_dir) / FILE).write_text(json.dumps(lexicon.to_json(), ensure_ascii=False), encoding="utf-8")


def lazy(content: bytes, vocabulary: Iterable[str]) -> Lexicon:
    """The Lexicon of lexicon.json's `content`, read at its first use."""
    return Lexicon(source=lambda: parse(content, vocabulary))


def parse(content: bytes, vocabulary: Iterable[str]) -> Lexicon:
    """The Lexicon in lexicon.json's `content`; an empty one for anything else than what
    training writes (words that are vocabulary words, not words, or too long; counts that
    are not positive integers are left out)."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Lexicon({})
    if not isinstance(data, dict) or not isinstance(data.get("counts"), dict):
        return Lexicon({})
    vocab = set(vocabulary)
    # (Cheap checks, not WORD: a file of 20,000 words is read at the first prefix typed.)
    counts = {w: n for w, n in list(data["counts"].items())[:MAX_WORDS]
              if isinstance(w, str) and 0 < len(w) <= MAX_LENGTH and w.isprintable() and " " not in w
              and w not in vocab and isinstance(n, int) and not isinstance(n, bool) and 0 < n < 1 << 53}
    counts = dict(sorted(counts.items(), key=lambda kv: -kv[1]))  # commonest first, whatever the file's order
    display = data.get("display")
    display = {w: f for w, f in display.items() if w in counts and isinstance(f, str) and f.lower() == w
               } if isinstance(display, dict) else {}
    return Lexicon(counts, display)


class Lexicon:
    """The rare words, for completing a prefix. Made from lexicon.json's bytes it reads them
    at the first use (a 20,000-word file takes tens of milliseconds: not the cold start's)."""

    def __init__(self, counts: dict[str, int] | None = None, display: dict[str, str] | None = None,
                 source: Callable[[], Lexicon] | None = None):
        self._source = source
        self._set(counts or {}, display or {})

    def _set(self, counts: dict[str, int], display: dict[str, str]) -> None:
        self._counts = counts
        self._display = display
        # By first character, commonest first: `counts` is in that order (as build makes
        # it and lexicon.json keeps it; another order only makes the short prefixes' picks
        # less good).
        self._by_first: dict[str, list[str]] = {}
        for w in counts:
            self._by_first.setdefault(w[:1], []).append(w)
        self._words = sorted(counts)
        self._total = sum(counts.values())

    def _read(self) -> None:
        if self._source is not None:
            read, self._source = self._source(), None
            self.__dict__.update(read.__dict__)

    @property
    def counts(self) -> dict[str, int]:
        self._read()
        return self._counts

    @property
    def display(self) -> dict[str, str]:
        self._read()
        return self._display

    def __len__(self) -> int:
        return len(self.counts)

    def to_json(self) -> dict:
        """lexicon.json's content (what `parse` read, or what `build` made)."""
        return {"counts": self.counts, "display": self.display}

    def completions(self, key: str, unk_probability: float, k: int) -> dict[str, float]:
        """{word: probability} for the `k` commonest rare words starting with `key` (a
        normalised, non-empty prefix): their shares of `unk_probability`."""
        self._read()
        if not key or not self._total or k <= 0:
            return {}
        lo = bisect_left(self._words, key)
        hi = bisect_left(self._words, key + "\U0010ffff", lo)
        if hi - lo > SCAN:  # a short prefix: the commonest words first, until k of them fit
            bucket = self._by_first.get(key[:1], [])
            best = list(itertools.islice((w for w in bucket if w.startswith(key)), k))
        else:
            best = heapq.nlargest(k, self._words[lo:hi], key=self._counts.__getitem__)
        scale = unk_probability / self._total
        return {w: scale * self._counts[w] for w in best}
