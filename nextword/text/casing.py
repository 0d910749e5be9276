"""How words are usually written: the display form of a lower-cased vocabulary word.

The tokenizer lower-cases everything, which keeps the vocabulary small but would suggest
"python", "london" or "none" where the text says "Python", "London", "None". While the
vocabulary is built, words are counted as written, except at the start of a sentence (where
capitals say nothing about the word). A word whose commonest written form is not lower
case gets that form as its display form. Saved as casing.json in the model directory
(optional: a directory without it shows words in lower case).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from nextword.text.rules import WORD, capital_may_be_positional

FILE = "casing.json"
# Enough text to know how words are written (counting costs ~0.4 s per million characters).
SAMPLE_CHARS = 16 << 20
_WORD = re.compile(WORD)


class CaseCounter:
    """Counts written forms of words away from sentence starts (and every word, in lower
    case), over the first SAMPLE_CHARS characters of text passed through `tee`."""

    def __init__(self) -> None:
        self.forms: Counter[str] = Counter()
        self.words: Counter[str] = Counter()  # every word, lower case (text/lexicon.py)
        self._seen = 0

    def tee(self, texts: Iterable[str]) -> Iterator[str]:
        for text in texts:
            if self._seen < SAMPLE_CHARS:
                self._seen += len(text)
                self.count(text)
            yield text

    def count(self, text: str) -> None:
        last = 0
        window = ""
        for match in _WORD.finditer(text):
            window = (window + text[last:match.start()])[-3:]
            last = match.end()
            word = match.group()
            self.words[word.lower()] += 1
            if word[:1].isupper() and capital_may_be_positional(window):
                window = word[-3:]
                continue
            window = word[-3:]
            self.forms[word] += 1

    def display_forms(self, vocabulary: Iterable[str]) -> dict[str, str]:
        by_lower: dict[str, list[tuple[int, str]]] = {}
        for form, n in self.forms.items():
            by_lower.setdefault(form.lower(), []).append((n, form))
        display = {}
        for word in vocabulary:
            forms = by_lower.get(word)
            if forms:
                n, best = max(forms)
                if best != word and 2 * n > sum(c for c, _ in forms):
                    display[word] = best
        return display


def save(display: dict[str, str], model_dir: Path) -> None:
    (Path(model_dir) / FILE).write_text(json.dumps(display, ensure_ascii=False, sort_keys=True))


def load(model_dir: Path) -> dict[str, str]:
    """The display forms saved in `model_dir` ({} without casing.json); ModelError for a
    casing.json that is not a regular file or is too large to be one."""
    from nextword import untrusted

    path = Path(model_dir) / FILE
    if not os.path.lexists(path):
        return {}
    try:
        content = untrusted.read_regular(path, untrusted.JSON_LIMITS[FILE])
    except OSError:
        return {}
    return parse(content)


def parse(content: bytes) -> dict[str, str]:
    """The display forms in casing.json's `content`: an object of lower-case words to their
    forms. Display forms are cosmetic: anything else (not JSON, another type, a form that
    spells another word) falls back to lower case."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v.lower() == k}
