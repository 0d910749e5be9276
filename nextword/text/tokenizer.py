"""The word tokenizer: build it from the training text, save it as tokenizer.json, load it.

Words keep inner apostrophes and hyphens (`don't`, `well-known`); each punctuation mark is
a token; every line end is the token EOL; text is NFKC-normalised and lower-cased (the
engine puts the user's case back on suggestions). Words below the frequency cut are UNK.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from nextword.errors import ModelError
from nextword.text.rules import TOKEN_PATTERN, WORD, WORD_RE  # noqa: F401  (WORD: users' name for it)

UNK = "[UNK]"
EOL = "\n"
EOL_ID = 1  # EOL's id in every vocabulary `train` makes


def new_tokenizer(vocab: dict[str, int] | None = None) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(vocab=vocab or {UNK: 0}, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.Replace("\r\n", "\n"),
        normalizers.Replace("\r", "\n"),
        normalizers.Lowercase(),
    ])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="removed", invert=True)
    return tok


def train(texts: Iterable[str], vocab_size: int, min_count: int) -> Tokenizer:
    """Count the words of `texts` (streamed) and keep the most frequent ones seen at least
    `min_count` times: ids are UNK=0, EOL=1, then words by falling frequency, at most
    `vocab_size` ids in all."""
    counter = new_tokenizer()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size + 1, min_frequency=min_count, special_tokens=[UNK],
        show_progress=False)
    counter.train_from_iterator(texts, trainer=trainer)
    # The trainer orders by frequency; rebuild contiguous ids with EOL fixed at 1 and no
    # "added tokens" (so a literal "[UNK]" in the text is just three ordinary tokens).
    ranked = sorted(counter.get_vocab().items(), key=lambda kv: kv[1])
    words = [w for w, _ in ranked if w not in (UNK, EOL)]
    vocab = {UNK: 0, EOL: EOL_ID}
    for word in words[: max(0, vocab_size - 2)]:
        vocab[word] = len(vocab)
    return new_tokenizer(vocab)


def save(tok: Tokenizer, path: Path) -> None:
    try:
        tok.save(str(path))
    except Exception as exc:  # the Rust side raises a plain Exception, e.g. on a full disk
        message = _first_line(exc)
        code = errno.ENOSPC if "os error 28" in message else errno.EIO
        raise OSError(code, os.strerror(code) if code == errno.ENOSPC else message, str(path)) from None


def load(path: Path, text: str | None = None) -> Tokenizer:
    """The tokenizer saved at `path` (or `text`, that file's content already read)."""
    try:
        return Tokenizer.from_str(text) if text is not None else Tokenizer.from_file(str(path))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing") from None
    except Exception as exc:  # the Rust side raises plain Exception on bad JSON
        raise ModelError(f"{path} is not a valid tokenizer file ({_first_line(exc)})") from None


def check(tok: Tokenizer, path: Path) -> None:
    """ModelError unless `tok` (read from `path`) is a word tokenizer as `train` makes
    them: a normalizer, ids 0 .. size - 1 without gaps, UNK and EOL among its words."""
    def bad(message: str) -> ModelError:
        return ModelError(f"{path} is not a valid tokenizer file ({message})")

    if not isinstance(tok.model, models.WordLevel) or tok.normalizer is None:
        raise bad("not a word-level tokenizer with a normalizer")
    vocab = tok.get_vocab()
    if len(vocab) != tok.get_vocab_size() or sorted(vocab.values()) != list(range(len(vocab))):
        raise bad("its ids are not 0 to the number of words - 1, each once")
    for token, name in ((UNK, UNK), (EOL, "the line end")):
        if token not in vocab:
            raise bad(f"it has no entry for {name}")


class GrowingText:
    """Token ids of a text that grows at its end, as a user types it, tokenising again only
    its end. The text is cut at a space at or before the last multiple of BLOCK characters:
    no token holds a space, and the normaliser maps the two parts as it maps the whole
    (a space composes with nothing and reorders with nothing), so the ids are the whole
    text's. The head's ids are kept while the head stays the same: typing on re-tokenises
    at most about BLOCK characters, and the whole text once per BLOCK characters typed."""

    BLOCK = 256

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        self._head: tuple[str, list[int]] = ("", [])

    def ids(self, text: str) -> list[int]:
        """`text`'s token ids (no special tokens), a new list."""
        cut = text.rfind(" ", 0, len(text) // self.BLOCK * self.BLOCK)
        if cut <= 0:
            return self._encode(text)
        head = text[:cut]
        if head != self._head[0]:
            self._head = (head, self._encode(head))
        return self._head[1] + self._encode(text[cut:])

    def _encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids


def vocabulary(tok: Tokenizer) -> list[str]:
    """The tokens by id."""
    tokens = [""] * tok.get_vocab_size()
    for word, idx in tok.get_vocab().items():
        tokens[idx] = word
    return tokens


def is_word(token: str) -> bool:
    """True for tokens that may be suggested as words: not UNK, EOL or punctuation."""
    return token not in (UNK, "<unk>") and bool(WORD_RE.match(token))


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
