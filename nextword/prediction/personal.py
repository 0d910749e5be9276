"""The personal store (nextword.store.database) as a part of the mixture: what the user wrote.

After the context's last two words a, b it offers the words the user wrote after a b,
after b, and at all. Each level takes a share of the probability by its evidence, as in
Witten-Bell smoothing:

    s = CAP[level] * c / (c + K * t)

c: how many words followed the level's context in the store, t: how many distinct ones.
The deepest level takes s_3 of the mass, the pair level s_2 of what is left, the single
words s_1 of what is left then, and the model (the other components, mixed) the rest:

    p(w) = s_3 p_3(w) + (1 - s_3) (s_2 p_2(w) + (1 - s_2) (s_1 p_1(w) + (1 - s_1) p_model(w)))

p_l is the level's relative frequency. Every share is then multiplied by the store's
`trust`, learned online from how right it would have been: at each line end, before the
line is learned, each of its words is scored by the store (q: the store's mass on it) and
by the rest of the mixture (p); q / ((1 - s) p + q) is the share the word says the
store deserved (an EM step), and the trust moves a step TRUST_RATE towards that share's
ratio to the one it had. A store that predicts the user's text gains weight, one that
does not fades to TRUST_RANGE[0].

With every CAP 1 and a trust of 1 this is Witten-Bell smoothing of the
user's text whose lowest level is the model; the caps keep a share for the model even
after much evidence, since the store knows nothing of context beyond two words (the unigram
least of all). A context seen once with one follower gives that level CAP / (1 + K); one
seen often with few followers, nearly CAP. An empty store, or a context it has never seen
at any level, says nothing (None), so the model's answer stays exactly as it was.

Words are the store's written forms: one in the model's vocabulary goes into the vector,
any other into `outside` (as the cache's words outside the vocabulary do). Each context
reads at most TOP followers per level from SQLite (an index by count), the unigram level
once per change of the store; nothing is loaded at start.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nextword.store.database import StoreUnavailable, UserStore
from nextword.store.grams import normalize
from nextword.text import tokenizer as tokenizer_mod
from nextword.text.rules import TOKEN

CAP = {3: 0.7, 2: 0.5, 1: 0.15}
# One observation of a context gives CAP / (1 + K): with K = 1 learning as you go lowered
# keystroke savings and raised perplexity 11 % on Shakespeare; K = 8 left them as static
# (docs/benchmarks.md, "Learning as you go"). The trust then lets the store earn more where it is right.
K = 8.0
TRUST_RATE = 0.03           # step of the online trust per word scored
MAX_RATIO = 4.0             # one word moves the trust up by at most TRUST_RATE * (MAX_RATIO - 1)
# The trust stays within these. The floor is how much a store that keeps being wrong still
# says: 0.05 lowered the long-range passages' keystroke savings learning as you go below
# static (78.12 against 78.14 %, perplexity 2.335 -> 2.351: where the network is all but
# sure, any share the store takes is a loss); 0.01 keeps them equal, the other corpora
# within 0.02 points (docs/benchmarks.md, "Learning as you go").
TRUST_RANGE = (0.01, 4.0)
MAX_SHARE = 0.95            # no level takes more than this after the trust
TOP = 64            # followers read per context (the rest of its mass is left out)
UNIGRAM_TOP = 1000  # words of the unigram level read (the rest: by prefix, `completions`)
MIN_PREFIX = 3      # letters typed before rarer words are looked up by prefix (fewer: too many)
PREFIX_ROWS = 64    # words read per prefix: when they are all, the next keystrokes need no query
_ANSWERS = 16       # contexts remembered (ghost text looks a word or two ahead and back)


@dataclass
class Guess:
    """The store's part of a prediction: `share` of the probability, spread as `vec` (over
    the vocabulary) and `outside` (other words); the two sum to at most `share` (only the
    TOP followers are read). `per_count`: the mass of one count at the unigram level."""

    share: float
    vec: np.ndarray
    outside: dict[str, float]
    per_count: float
    shown: dict[str, str] = field(default_factory=dict)


class Personal:
    """The mixture's "personal" component over one UserStore."""

    def __init__(self, store: UserStore, vocab: Sequence[str]):
        self.user_store = store
        self.vocab = list(vocab)
        self.vocab_size = len(self.vocab)
        self.word_id = {w: i for i, w in enumerate(self.vocab) if tokenizer_mod.is_word(w)}
        self._version = None
        self._answers: dict = {}
        self._ids: dict[str, int | None] = {}
        self._unigram = None
        self._prefixed = ("", [], False)  # (prefix, rows, all its words) of the last lookup
        self.failed: str | None = None  # why the store could not be read: left out since
        self.trust = 1.0  # learned online (`feedback`); belongs to the process

    def version(self):
        if self.failed is None:
            try:
                return self.user_store.version()
            except StoreUnavailable as exc:
                self._fail(exc)
        return None

    def _fail(self, exc: StoreUnavailable) -> None:
        """The store cannot be read now (an I/O error, a full disk): say nothing from here on."""
        self.failed = str(exc)
        self._answers, self._unigram, self._prefixed = {}, None, ("", [], False)

    def words_of(self, ids) -> tuple[str, ...]:
        """The context's last words (at most two) when only token ids are known."""
        words: list[str] = []
        for i in reversed(ids[-2:]):
            token = self.vocab[int(i)]
            if token not in self.word_id:
                break
            words.insert(0, token)
        return tuple(words)

    def guess(self, words: tuple[str, ...]) -> Guess | None:
        """The store's part after a context ending in `words` (forms, at most two), or None
        if it has nothing to say."""
        version = self.version()
        if self.failed is not None:
            return None
        if version != self._version:
            self._version, self._answers, self._ids, self._unigram = version, {}, {}, None
            self._prefixed = ("", [], False)
        if words not in self._answers:
            if len(self._answers) >= _ANSWERS:
                del self._answers[next(iter(self._answers))]
            try:
                self._answers[words] = self._compute(words)
            except StoreUnavailable as exc:
                self._fail(exc)
                return None
        return self._answers[words]

    def _compute(self, words: tuple[str, ...]) -> Guess | None:
        unigram = self._unigram_level()
        if unigram is None:
            return None
        missing = [w for w in words if w not in self._ids]
        if missing:
            found = self.user_store.ids(missing)
            self._ids.update((w, found.get(w)) for w in missing)
        b = self._ids[words[-1]] if words else None
        a = self._ids[words[-2]] if len(words) > 1 else None
        levels = []
        for level, context in ((3, (a, b)), (2, (0, b))):
            if context[0] is not None and context[1] is not None:
                c, t = self.user_store.context(*context)
                if c:
                    levels.append((level, c, t, context))
        vec = np.zeros(self.vocab_size)
        outside: dict[str, float] = {}
        shown: dict[str, str] = {}
        rest = 1.0
        for level, c, t, context in levels:
            s = min(MAX_SHARE, self.trust * CAP[level] * c / (c + K * t))
            mass = rest * s / c
            for form, written, n in self.user_store.followers(*context, TOP):
                i = self.word_id.get(form)
                if i is not None:
                    vec[i] += mass * n
                else:
                    outside[form] = outside.get(form, 0.0) + mass * n
                if written:
                    shown[form] = written
            rest *= 1 - s
        c, t, ids, counts, other, unigram_shown = unigram
        s = min(MAX_SHARE, self.trust * CAP[1] * c / (c + K * t))
        per_count = rest * s / c
        vec[ids] += per_count * counts
        for form, n in other.items():
            outside[form] = outside.get(form, 0.0) + per_count * n
        return Guess(1 - rest * (1 - s), vec, outside, per_count, {**unigram_shown, **shown})

    def feedback(self, scored) -> None:
        """Move the trust by how right the store would have been on words about to be
        learned: `scored` holds (context's last words, the word's form, the probability
        the rest of the mixture gave it)."""
        low, high = TRUST_RANGE
        for words, form, p_model in scored:
            guess = self.guess(words)
            if guess is None or guess.share <= 0:
                continue
            i = self.word_id.get(form)
            q = float(guess.vec[i]) if i is not None else guess.outside.get(form, 0.0)
            wanted = q / max((1 - guess.share) * p_model + q, 1e-300)
            ratio = min(MAX_RATIO, wanted / guess.share)
            self.trust = min(high, max(low, self.trust * (1 + TRUST_RATE * (ratio - 1))))
        self._answers = {}

    def _unigram_level(self):
        """(words learned, distinct, vocabulary ids and counts, {other form: count},
        {form: shown}) of the UNIGRAM_TOP most learned words; None for an empty store."""
        if self._unigram is None:
            c, t = self.user_store.context(0, 0)
            if not c:
                self._unigram = (None,)
            else:
                ids, counts, other, shown = [], [], {}, {}
                for form, written, n in self.user_store.followers(0, 0, UNIGRAM_TOP):
                    i = self.word_id.get(form)
                    if i is not None:
                        ids.append(i)
                        counts.append(n)
                    else:
                        other[form] = n
                    if written:
                        shown[form] = written
                self._unigram = (c, t, np.array(ids, dtype=np.int64), np.array(counts, dtype=np.float64),
                                 other, shown)
        return None if self._unigram[0] is None else self._unigram

    def completions(self, prefix: str, words: tuple[str, ...]) -> tuple[dict[str, float], dict[str, str]]:
        """Words outside the vocabulary that start with `prefix` (a form) and that the store
        holds beyond the UNIGRAM_TOP it reads for every context: ({form: probability},
        {form: shown}); none for a prefix shorter than MIN_PREFIX."""
        guess = self.guess(words) if len(prefix) >= MIN_PREFIX else None
        if guess is None:
            return {}, {}
        last, rows, whole = self._prefixed
        if whole and prefix.startswith(last):  # typed further: the words are among those
            rows = [row for row in rows if row[0].startswith(prefix)]
        else:
            try:
                rows = self.user_store.starting_with(prefix, PREFIX_ROWS)
            except StoreUnavailable as exc:
                self._fail(exc)
                return {}, {}
        self._prefixed = (prefix, rows, len(rows) < PREFIX_ROWS)
        found, shown = {}, {}
        for form, written, n in rows[:8]:
            if form not in self.word_id:
                found[form] = guess.per_count * n
                if written:
                    shown[form] = written
        return found, shown


def last_words(context: str, n: int = 2) -> tuple[str, ...]:
    """The forms of the last `n` words of `context` that no punctuation or line end
    separates from its end (fewer if there are fewer), read composed as the store reads
    what it learns (store/grams.py)."""
    tail = unicodedata.normalize("NFC", context[-40 * n:])
    if len(tail) < len(context):  # drop a word cut in two
        space = tail.find(" ")
        tail = tail[space + 1:] if space >= 0 else ""
    words: list[str] = []
    for match in TOKEN.finditer(tail):
        raw = match.group(1)
        words = words + [normalize(raw)] if raw else []
    return tuple(words[-n:])
