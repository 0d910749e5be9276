"""A cache of the recent text, by written form: what the user wrote lately is likely again.

Words are kept as the tokenizer would spell them (NFKC, lower case), not as token ids, so a
word outside the vocabulary typed once can be suggested and completed afterwards. Two
components read the one store:

- `Recency`: a recency-weighted unigram over the last SIZE words, each occurrence weighing
  2^(-age / HALF_LIFE) (age in words);
- `Pairs`: what followed the previous word within those words, weighted the same way.

Each gives a vector over the vocabulary ids (its in-vocabulary words) and `outside()`, the
words outside the vocabulary with their probabilities; together they sum to 1. Both have
nothing to say (None) while they hold nothing for the context.

Each also says how much its answer is worth there (`evidence`, which multiplies its fitted
weight in the mixture), by how often its context was seen and how many different words
followed it, as Witten-Bell smoothing weighs a context:

    evidence = c / (c + D * t)

c: words that followed the context in the store (for the unigram, the words it holds),
t: how many different ones, D: the component's discount (fitted with the weights, on
validation text read in order; DISCOUNT for a model without). A pair seen once weighs
1 / (1 + D) of what a pair seen many times with the same follower weighs, so one
observation cannot take a large share ("the return value of the" -> "return").

The text before the cursor is in the store exactly once. `sync(text, end)` is called with
the text of each query and the end of its complete words: if the text extends the
previous one, only the words after the previous end are added; if it is a shorter prefix
of it (backspace, or a ghost-text look-ahead taken back), the words beyond it are taken
out again; any other text is a new one, and the previous text stays as earlier text (a
REPL session's earlier paragraphs, a pipe's earlier lines, evaluate's earlier paragraphs),
unless `keeps_earlier` is False: a document edited anywhere (the language server's) holds
the text before the cursor alone, so a word deleted from it is no longer offered, and the
same text gets what `predict` gives it.
Only the last SCAN_CHARS characters of a text are compared or read, so a query on a long
text costs what a short one does.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from nextword.text import tokenizer as tokenizer_mod
from nextword.text.rules import TOKEN, at_sentence_start

SIZE = 2000       # words kept
HALF_LIFE = 250   # words after which an occurrence counts half
DISCOUNT = {"cache": 1.0, "pairs": 2.0}  # D of `evidence`, for models without fitted ones
SCAN_CHARS = 6000  # at least the predictor's context window (MAX_CONTEXT_CHARS + CONTEXT_STEP)
SENTENCE_ENDS = {".", "!", "?", "\n"}  # tokens after which a sentence starts
SENTENCE_SCAN = 64  # tokens the pairs look back for the sentence's start
UNK_FORM = "[unk]"  # stands for an unknown word when only token ids are known (never a word)



class RecentWords:
    """The store: the last `size` words in order, with running weights per word and pair."""

    def __init__(self, vocab: Sequence[str], normalize: Callable[[str], str] = str.lower,
                 size: int = SIZE, half_life: float = HALF_LIFE):
        self.vocab = list(vocab)
        self.vocab_size = len(self.vocab)
        self.word_id = {w: i for i, w in enumerate(self.vocab) if tokenizer_mod.is_word(w)}
        self.unk_id = self.vocab.index(tokenizer_mod.UNK) if tokenizer_mod.UNK in self.vocab else -1
        self.normalize = normalize
        self.size, self.half_life = size, half_life
        self._rate = 2.0 ** (1.0 / half_life)  # weight of occurrence n: rate ** (n - base)
        self.display: dict[str, str] = {}  # outside words -> as written away from sentence starts
        self.discount = dict(DISCOUNT)
        self.keeps_earlier = True  # a new text leaves the previous one as earlier text
        self.clear()

    def fresh(self) -> RecentWords:
        """An empty store with the same vocabulary and settings."""
        store = RecentWords(self.vocab, self.normalize, self.size, self.half_life)
        store.discount = dict(self.discount)
        store.keeps_earlier = self.keeps_earlier
        return store

    def clear(self) -> None:
        self._ring: deque = deque()     # (n, form, id or -1, previous word or None)
        self._n = self._base = 0
        self._weights = np.zeros(self.vocab_size)          # in-vocabulary words
        self._counts = np.zeros(self.vocab_size, dtype=np.int64)
        self._outside: dict[str, list] = {}                # form -> [weight, count]
        self._total = 0.0
        self._pairs: dict[str, dict[str, list]] = {}       # prev -> form -> [weight, count, id]
        self._pair_totals: dict[str, float] = {}
        self._pair_counts: dict[str, int] = {}             # prev -> words that followed it
        self._types = 0                                    # distinct words held
        self.last: str | None = None  # the last word, None after punctuation or at a start
        self.display.clear()
        self.version = 0  # changes whenever what the store answers may change
        self._text: str | None = None
        self._end = 0
        self._marks: list[tuple[int, int, str | None]] = []  # (token end, _n before, last before)
        self._unmarked = 0  # tokens ending before this have no mark (cannot be taken back)
        self._unigram = (-1, None)

    # -- filling --------------------------------------------------------------------------

    def add(self, form: str | None, written: str | None = None) -> None:
        """Append one token: a word's form, or None for anything that ends a run of words.
        `written` is how an outside word was written, if not at a sentence start."""
        self.version += 1
        if form is None:
            self.last = None
            return
        entry = (self._n, form, self.word_id.get(form, -1), self.last)
        self._ring.append(entry)
        self._apply(entry, 1)
        if written is not None and entry[2] < 0:
            if written == form:
                self.display.pop(form, None)
            else:
                self.display[form] = written
        self._n += 1
        if len(self._ring) > self.size:
            self._apply(self._ring.popleft(), -1)
        self.last = form
        if self._n - self._base >= 4 * self.half_life:
            self._rebase()

    def _apply(self, entry, sign: int) -> None:
        n, form, wid, prev = entry
        weight = self._rate ** (n - self._base)
        self._total = self._total + sign * weight if len(self._ring) else 0.0
        if wid >= 0:
            self._counts[wid] += sign
            self._weights[wid] = self._weights[wid] + sign * weight if self._counts[wid] else 0.0
            if self._counts[wid] == (1 if sign > 0 else 0):
                self._types += sign
        else:
            _bump(self._outside, form, sign * weight, sign)
            if form not in self._outside:
                self.display.pop(form, None)
            if (form in self._outside) == (sign > 0) and (sign < 0 or self._outside[form][1] == 1):
                self._types += sign
        if prev is not None:
            followers = self._pairs.setdefault(prev, {})
            _bump(followers, form, sign * weight, sign, wid)
            if followers:
                self._pair_totals[prev] = self._pair_totals.get(prev, 0.0) + sign * weight
                self._pair_counts[prev] = self._pair_counts.get(prev, 0) + sign
            else:
                del self._pairs[prev]
                self._pair_totals.pop(prev, None)
                self._pair_counts.pop(prev, None)

    def _rebase(self) -> None:
        """Scale every weight down so that the newest weighs about 1 (no overflow)."""
        scale = self._rate ** (self._base - self._n)
        self._base = self._n
        self._weights *= scale
        self._total *= scale
        for value in self._outside.values():
            value[0] *= scale
        for prev, followers in self._pairs.items():
            for value in followers.values():
                value[0] *= scale
            self._pair_totals[prev] *= scale

    def _take_back(self, n: int) -> None:
        """Remove the words added from occurrence `n` on (those still kept)."""
        while self._ring and self._ring[-1][0] >= n:
            self._apply(self._ring.pop(), -1)
        self._n = n
        self.version += 1

    def sync(self, text: str, end: int) -> None:
        """Hold the words of text[:end] once (`end`: where the complete words end, e.g.
        the start of the partial word at the cursor). See the module docstring."""
        prev, prev_end = self._text, self._end
        if prev is not None and end >= prev_end and _same(text, prev, prev_end):
            start = prev_end
            if end - start > SCAN_CHARS:  # a long paste: read its end only
                start = _word_boundary(text, end - SCAN_CHARS)
                self._marks.clear()
                self._unmarked = start
                self.add(None)
        elif (prev is not None and self._unmarked <= end < prev_end and end > 0
              and _same(text, prev, end)):
            cut = next((i for i, mark in enumerate(self._marks) if mark[0] > end), None)
            if cut is not None:
                _, n, last = self._marks[cut]
                del self._marks[cut:]
                self._take_back(n)
                self.last = last
            start = end
        else:  # a new text: the previous one stays as earlier text, or goes
            if self.keeps_earlier:
                self._marks.clear()
                self.add(None)
            else:
                version = self.version
                self.clear()
                self.version = version + 1  # (never an answer's version again)
            start = self._unmarked = _word_boundary(text, max(0, end - SCAN_CHARS))
        self._text, self._end = text, end
        for match in TOKEN.finditer(text, start, end):
            before = (self._n, self.last)
            raw = match.group(1)
            form = self.normalize(raw) if raw else None
            written = None
            if form is not None and form not in self.word_id:
                written = None if at_sentence_start(text, match.start()) else raw
            self.add(form, written)
            self._marks.append((match.end(), *before))
        if len(self._marks) > 2 * self.size:
            self._unmarked = self._marks[-self.size - 1][0]
            del self._marks[: len(self._marks) - self.size]

    # -- answering ------------------------------------------------------------------------

    def unigram(self) -> tuple[np.ndarray, dict[str, float]] | None:
        """The recency unigram: (vector over the vocabulary, outside words), or None."""
        if self._unigram[0] != self.version:
            found = None
            if self._total > 0:
                found = (self._weights / self._total,
                         {f: v[0] / self._total for f, v in self._outside.items()})
            self._unigram = (self.version, found)
        return self._unigram[1]

    def followers(self, prev: str | None, recent: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, float]] | None:
        """What followed `prev`, leaving out the pairs among the last `recent` words held:
        (ids, probabilities) of vocabulary words and a dict of outside words; None if
        nothing did."""
        followers = self._pairs.get(prev) if prev is not None else None
        if not followers:
            return None
        left = self._without_recent(prev, followers, recent)
        total = sum(v[0] for v in left.values())
        if not left or total <= 0:
            return None
        ids = np.array([v[2] for v in left.values() if v[2] >= 0], dtype=np.int64)
        probs = np.array([v[0] / total for v in left.values() if v[2] >= 0])
        return ids, probs, {f: v[0] / total for f, v in left.items() if v[2] < 0}

    def _without_recent(self, prev: str, followers: dict[str, list], recent: int) -> dict[str, list]:
        """`followers` of `prev` less the pairs among the last `recent` words held (their
        weights and counts taken out; a form left with none is left out)."""
        taken: dict[str, list] = {}
        for n, form, _, before in itertools.islice(reversed(self._ring), recent):
            if before == prev:
                t = taken.setdefault(form, [0.0, 0])
                t[0] += self._rate ** (n - self._base)
                t[1] += 1
        if not taken:
            return followers
        left = {}
        for form, (weight, count, wid) in followers.items():
            w, c = taken.get(form, (0.0, 0))
            if count - c > 0:
                left[form] = [max(weight - w, 0.0), count - c, wid]
        return left

    def unigram_counts(self) -> tuple[int, int]:
        """(words held, distinct words) of the unigram."""
        return len(self._ring), self._types

    def pair_counts(self, prev: str | None, recent: int = 0) -> tuple[int, int]:
        """(words that followed `prev`, distinct ones), leaving out the pairs among the last
        `recent` words held."""
        c = self._pair_counts.get(prev, 0) if prev is not None else 0
        if not c:
            return 0, 0
        if not recent:
            return c, len(self._pairs[prev])
        left = self._without_recent(prev, self._pairs[prev], recent)
        return sum(v[1] for v in left.values()), len(left)

    def forms_of_ids(self, ids) -> list[str | None]:
        """Forms of token ids when the text is not at hand: words as themselves, unknown
        words as UNK_FORM (they take their share of the cache, and are never suggested)."""
        forms = [w if w in self.word_id else None for w in self.vocab]
        if self.unk_id >= 0:
            forms[self.unk_id] = UNK_FORM
        return [forms[i] for i in ids]

    def components(self) -> dict[str, object]:
        return {"cache": Recency(self), "pairs": Pairs(self)}


class Recency:
    """The recency-weighted unigram of the store (the mixture's "cache")."""

    def __init__(self, store: RecentWords):
        self.store = store
        self.vocab_size = store.vocab_size

    def distribution(self, ids) -> np.ndarray | None:
        found = self.store.unigram()
        return None if found is None else found[0]

    def outside(self, ids) -> dict[str, float]:
        found = self.store.unigram()
        return {} if found is None else found[1]

    def counts(self, ids) -> tuple[int, int]:
        return self.store.unigram_counts()

    def evidence(self, ids) -> float:
        return evidence(*self.store.unigram_counts(), self.store.discount["cache"])


class Pairs:
    """What followed the context's last word in the store (the mixture's "pairs")."""

    def __init__(self, store: RecentWords):
        self.store = store
        self.vocab_size = store.vocab_size
        vocab = store.vocab
        self._ends = {i for i, token in enumerate(vocab) if token in SENTENCE_ENDS}
        self._words = np.zeros(len(vocab), dtype=bool)
        self._words[[i for w, i in store.word_id.items()]] = True
        if store.unk_id >= 0:
            self._words[store.unk_id] = True

    def _sentence_words(self, ids) -> int:
        """How many words the sentence being written holds so far (from the last sentence end
        in `ids`, SENTENCE_SCAN tokens back at most): its pairs are left out, so that a pair
        typed earlier in the same sentence is not offered back as the next word."""
        n = 0
        for k in range(len(ids) - 1, max(-1, len(ids) - 1 - SENTENCE_SCAN), -1):
            token = int(ids[k])
            if token in self._ends:
                break
            n += bool(self._words[token]) if 0 <= token < len(self._words) else 1
        return n

    def _previous(self, ids) -> str | None:
        last = int(ids[-1]) if len(ids) else -1
        if last < 0 or last == self.store.unk_id:
            return self.store.last  # an unknown word: the store knows how it was written
        token = self.store.vocab[last]
        return token if token in self.store.word_id else None

    def distribution(self, ids) -> np.ndarray | None:
        found = self.store.followers(self._previous(ids), self._sentence_words(ids))
        if found is None:
            return None
        p = np.zeros(self.vocab_size)
        p[found[0]] = found[1]
        return p

    def outside(self, ids) -> dict[str, float]:
        found = self.store.followers(self._previous(ids), self._sentence_words(ids))
        return {} if found is None else found[2]

    def counts(self, ids) -> tuple[int, int]:
        return self.store.pair_counts(self._previous(ids), self._sentence_words(ids))

    def evidence(self, ids) -> float:
        return evidence(*self.counts(ids), self.store.discount["pairs"])


def evidence(c, t, discount: float):
    """c / (c + discount * t), 0 where c is 0 (also for arrays)."""
    c = np.asarray(c, dtype=np.float64)
    out = c / np.maximum(c + discount * np.asarray(t, dtype=np.float64), 1e-300)
    return float(out) if out.ndim == 0 else out


def _bump(table: dict, key: str, weight: float, count: int, *extra) -> None:
    value = table.get(key)
    if value is None:
        value = table[key] = [0.0, 0, *extra]
    value[1] += count
    if value[1] <= 0:
        del table[key]
    else:
        value[0] += weight


def _same(text: str, prev: str, upto: int) -> bool:
    """Whether text[:upto] == prev[:upto], judged on their last SCAN_CHARS characters."""
    if text is prev:
        return True
    start = max(0, upto - SCAN_CHARS)
    return len(text) >= upto and len(prev) >= upto and text[start:upto] == prev[start:upto]


def _word_boundary(text: str, pos: int) -> int:
    """`pos`, or the next whitespace after it when it falls inside the text (so that no
    word is read from its middle)."""
    if pos <= 0:
        return 0
    space = re.compile(r"\s").search(text, pos)
    return space.end() if space else len(text)
