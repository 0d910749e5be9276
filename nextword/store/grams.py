"""What the personal store reads from a text: its words in runs, each by its written form
(the tokenizer's normalisation) and as the user wrote it, and the one-, two- and
three-word sequences of each run. Used by the store (store/database.py), bulk learning and
the mixture's personal component; nothing here touches the database.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Iterator

from nextword.text.rules import LONGEST_WORD, TOKEN, at_sentence_start


@functools.lru_cache(maxsize=65536)  # words repeat: most are normalised once
def normalize(word: str) -> str:
    """A word's form in the store: what the tokenizer's normalizer makes of it (NFKC, lower
    case, as every model's tokenizer does; str.lower differs, e.g. on a final sigma)."""
    return _normalizer().normalize_str(word)


@functools.cache
def _normalizer():
    from nextword.text.tokenizer import new_tokenizer

    return new_tokenizer().normalizer


def word_runs(text: str) -> Iterator[list[tuple[str, str | None]]]:
    """The runs of words of `text` (punctuation, line ends, `<unk>` and a "word" whose
    form is longer than LONGEST_WORD end a run): lists of (form, as written if not at a
    sentence start, else None). The text is read composed (NFC), as the tokenizer reads it:
    a letter written with a combining accent ("cafe\u0301") is one word, not two."""
    run: list[tuple[str, str | None]] = []
    text = unicodedata.normalize("NFC", text)
    for match in TOKEN.finditer(text):
        raw = match.group(1)
        form = normalize(raw) if raw is not None and len(raw) <= LONGEST_WORD else None
        if form is None or len(form) > LONGEST_WORD:
            if run:
                yield run
                run = []
            continue
        if raw != form and at_sentence_start(text, match.start()):
            raw = None  # capitalised at a sentence start: says nothing of how it is written
        run.append((form, raw))
    if run:
        yield run


def count_grams(text: str) -> tuple[Counter, dict[str, str | None], int]:
    """(Counter of (a, b, w) forms, '' for none; {form: shown} for words written away from
    a sentence start; number of words) for `text`."""
    grams: Counter = Counter()
    shown: dict[str, str | None] = {}
    words = 0
    for run in word_runs(text):
        a = b = ""
        for form, written in run:
            grams["", "", form] += 1
            if b:
                grams["", b, form] += 1
                if a:
                    grams[a, b, form] += 1
            if written is not None:
                shown[form] = None if written == form else written
            a, b = b, form
        words += len(run)
    return grams, shown, words
