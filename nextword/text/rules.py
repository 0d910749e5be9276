"""The text rules every side shares, each written once: what a word is, how a text splits into
tokens, and where a sentence starts.

The tokenizer (tokenizer.py), the recent-text cache and the personal store all read text with
these, so a word is the same word for the model, the cache and the store."""

from __future__ import annotations

import re

# A word: letters/digits with inner apostrophes and hyphens (don't, well-known).
WORD = r"\w+(?:['’\-]\w+)*"
WORD_RE = re.compile(rf"^{WORD}$")
# The most characters of a word a person types: a longer one is a pasted blob (base64,
# minified code), which the personal store does not learn and keystroke savings do not
# ask suggestions for after its first LONGEST_WORD characters.
LONGEST_WORD = 64

# The tokens a text splits into, in this order: an unknown-word mark, a word, a line end, a
# punctuation mark. TOKEN's group 1 is the word (None for the others); TOKEN_SPLIT keeps what
# lies between tokens too (re.split: [between, token, between, token, ..., between]).
_TOKEN_PARTS = ("<unk>", WORD, r"\n", r"[^\w\s]")
TOKEN = re.compile("|".join(f"({p})" if p == WORD else p for p in _TOKEN_PARTS))
TOKEN_PATTERN = "|".join(_TOKEN_PARTS)  # the tokenizer's pre-tokenizer splits on the same
TOKEN_SPLIT = re.compile(f"({TOKEN_PATTERN})")

# A word as keystroke savings counts it (the presage_simulator contract): letters and digits
# with inner apostrophes; punctuation, hyphens and underscores are never counted.
KSR_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

# A sentence end, perhaps closing quotes or brackets, then spaces, up to where a word starts.
_AFTER_END = re.compile(r"[.!?\n][\"')\]”’]*\s*$")
# Where a capital may be the position's, not the word's (counting how words are written):
# a sentence start as above, or after a colon, a semicolon, an opening quote or bracket.
_CAPITAL_POSITION = re.compile(r"(^|[.!?:;\"“(]\s*|\n\s*)$")


def starts_sentence(context: str) -> bool:
    """Whether a word typed after `context` starts a sentence: nothing but spaces before it, a
    line end, or . ! ? (perhaps then closing quotes or brackets) before the last spaces."""
    return _AFTER_END.search("\n" + context) is not None


def at_sentence_start(text: str, start: int) -> bool:
    """Whether the word at `start` of `text` starts a sentence (as starts_sentence(text[:start]),
    looking back 8 characters at most, so scanning a long text stays linear)."""
    if start < 8:
        return _AFTER_END.search("\n" + text[:start]) is not None
    return _AFTER_END.search(text, start - 8, start) is not None


def capital_may_be_positional(before: str) -> bool:
    """Whether a capital on a word right after `before` (its last few characters) may come from
    the position (sentence start, after : ; or an opening quote or bracket) rather than the word."""
    return _CAPITAL_POSITION.search(before) is not None
