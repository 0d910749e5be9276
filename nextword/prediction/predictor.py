"""The library API: `nextword.load(path).suggest(text, k)`.

Splits what the user typed into context and the partial word at the cursor, asks the
mixture (prediction/: the LSTM, the n-gram if the model has one, the cache of the recent
text, the user's personal store) for the next-word distribution after the context, and
keeps the words that fit the partial word, renormalised over them: vocabulary words
through a sorted prefix index (not a scan), and words outside the vocabulary that the
cache or the store holds.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_left
from collections import ChainMap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nextword.modeldir import directory
from nextword.paths import default_model_dir, default_user_db
from nextword.prediction import adaptation, sampling
from nextword.prediction.cache import RecentWords
from nextword.prediction.mixture import PERSONAL, Mixture, discounts_from_config, weights_from_config
from nextword.prediction.ngram import KneserNey
from nextword.prediction.personal import Personal, last_words
from nextword.prediction.windowed import engine_for
from nextword.store.database import StoreUnavailable, UserStore
from nextword.store.pending import Learner
from nextword.text import tokenizer as tokenizer_mod
from nextword.text.lexicon import Lexicon
from nextword.text.rules import starts_sentence

DEFAULT_STORE = "default"  # Predictor.load's user_db: the CLI's default store

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
_SEPARATOR_RUN = re.compile(r"['’\-]{2,}")
_SPACE = re.compile(r"\s")


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
    partial word: the answer is the next word. A word holds single apostrophes and hyphens
    between its letters (as the tokenizer's words do); two in a row ("--", a dash typed in
    ASCII, as books and plain-text mail write it) end one: "kindness--an" is typing "an"."""
    # Scanned backwards: a regex search for a word at the end is quadratic in a long word.
    run = _WORD_CHAR_RUN.match(text[::-1]).end()
    begin = len(text) - run
    for dash in _SEPARATOR_RUN.finditer(text, begin):
        begin = dash.end()
    start = _WORD_START.search(text, begin)
    if start is None:
        return text, ""
    return text[: start.start()], text[start.start():]


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

    def __init__(self, path: Path, model, tok, display: dict[str, str] | None = None):
        """`model`: a Mixture, or one component (an LSTM Engine, a KneserNey) alone."""
        self.path = Path(path)
        self.display = display or {}
        if not isinstance(model, Mixture):
            model = Mixture({"ngram" if isinstance(model, KneserNey) else "lstm": model})
        self.mixture = model
        self.tokenizer = tok
        vocab = tok.get_vocab()
        self.eol_id = vocab[tokenizer_mod.EOL]
        self.unk_id = vocab[tokenizer_mod.UNK]
        self.id_to_token = tokenizer_mod.vocabulary(tok)
        words = sorted((w, i) for w, i in vocab.items() if tokenizer_mod.is_word(w))
        self._sorted_words = [w for w, _ in words]
        self._sorted_ids = np.array([i for _, i in words], dtype=np.int64)
        non_word = np.ones(len(self.id_to_token), dtype=bool)
        non_word[self._sorted_ids] = False  # (np.setdiff1d would import numpy.ma: 40 ms)
        self._non_word_ids = np.flatnonzero(non_word)
        self._last = None  # ((context, versions), prediction, context's last words) of the last query
        self._encoder = tokenizer_mod.GrowingText(tok)  # the last query's ids, kept for the next
        self._store_note: str | None = None  # why the personal store could not be opened
        self._store_noted = False
        self.learner: Learner | None = None  # what adds to the personal store
        # Learning a line also adapts the network's output layer in this process
        # (prediction/dynamic.py); the adapter is made at the first line learned.
        self.adaptation = True  # dynamic evaluation
        self.continuous = True  # the continuous cache over hidden states (neural_cache.py)
        self.settings = adaptation.Settings()  # how much (config.json's, fitted in training)
        self.lexicon = Lexicon({})  # the corpus's rare words (text/lexicon.py)
        self.adapter = None

    @classmethod
    def load(cls, path: Path | str | None = None, user_db: Path | str | None = DEFAULT_STORE) -> Predictor:
        """The model at `path` as the full predictor: its LSTM, its n-gram (if it has
        ngram.npz) and a cache of the recent text, mixed with its saved weights, and the
        personal store at `user_db` (by default $NEXTWORD_USER_DB or the XDG data
        directory's; None or '' for none). A store that does not exist yet is read as
        empty; one that cannot be opened is left out (`store_note` says why); a damaged
        one raises StoreError."""
        path = Path(path).expanduser() if path else default_model_dir()
        snap = directory.load(path)  # files that belong together, weights finite
        components = {"lstm": engine_for(snap.config["_model"], snap.weights)}
        if snap.ngram is not None:
            components["ngram"] = KneserNey(snap.ngram)
        vocab = tokenizer_mod.vocabulary(snap.tokenizer)
        store = RecentWords(vocab, snap.tokenizer.normalizer.normalize_str)
        store.discount.update(discounts_from_config(snap.config))
        components.update(store.components())
        weights = weights_from_config(snap.config, components)
        predictor = cls(path, Mixture(components, weights), snap.tokenizer, snap.casing)
        predictor.settings = adaptation.from_config(snap.config)
        predictor.lexicon = snap.lexicon if snap.lexicon is not None else Lexicon({})
        if user_db == DEFAULT_STORE:
            user_db = default_user_db()
        if user_db:
            user_store = UserStore(Path(user_db).expanduser())
            try:
                user_store.connection()  # opened now if it exists, so that damage shows at once
                predictor.use_store(user_store)
            except StoreUnavailable as exc:
                predictor.store_note = str(exc)
        return predictor

    @property
    def engine(self):
        """The LSTM (or the one component of a predictor that has no LSTM)."""
        components = self.mixture.components
        return components.get("lstm") or next(iter(components.values()))

    @engine.setter
    def engine(self, component) -> None:
        components = self.mixture.components
        components["lstm" if "lstm" in components else next(iter(components))] = component
        self._last = None

    @property
    def cache(self) -> RecentWords | None:
        return self.mixture.store

    @property
    def personal(self) -> Personal | None:
        return self.mixture.personal

    @property
    def store_note(self) -> str | None:
        """Why the personal store is not used (or no longer learns), if it is not."""
        personal = self.personal
        return (self._store_note or (personal.failed if personal is not None else None)
                or (self.learner.failed if self.learner is not None else None))

    @store_note.setter
    def store_note(self, note: str | None) -> None:
        self._store_note = note

    def learn(self, text: str, adapt: bool = True) -> bool:
        """Add `text` to the personal store (one transaction; while another process holds
        its write lock, kept in memory until it is free), after `adapt`ing to it (unless
        `adapt` is False). False if there is no store or it cannot be written here (then
        `store_note` says why, and learning stops)."""
        if self.personal is None or self.learner is None or self.store_note is not None:
            return False
        if adapt:
            self.adapt(text)
        return self.learner.learn(text)

    def finish_learning(self, wait_ms: int | None = None) -> None:
        """Write what waits to be learned (waiting for a busy store up to `wait_ms` per
        line; by default its timeout for a transaction)."""
        if self.learner is not None and self.store_note is None:
            self.learner.finish(wait_ms)

    def take_notes(self) -> list[str]:
        """What to tell the user (once each) about the personal store since last asked."""
        notes = []
        note = self.store_note
        if note is not None and not self._store_noted:
            self._store_noted = True
            notes.append(f"{note}; going on without it")
        if self.learner is not None:
            notes += self.learner.notes()
        return notes

    def store_summary(self):
        """What the personal store holds (nextword.store.database.Summary; None for an empty
        or new store, or for no store). A store that cannot be read now is left out from
        here on, `store_note` saying why, and None returned."""
        if self.personal is None or self.store_note is not None:
            return None
        try:
            return self.personal.user_store.summary()
        except StoreUnavailable as exc:  # cannot be read now (an I/O error): not damaged
            self.store_note = str(exc)
            return None

    def mixture_parts(self) -> list[tuple[str, float, int | None]]:
        """What suggestions mix: (component, weight, its trigram count for the n-gram, else
        None), in the mixture's order."""
        components = self.mixture.components
        return [(name, weight, len(components[name].trigrams.keys) if name == "ngram" else None)
                for name, weight in self.mixture.weights.items()]

    def use_store(self, user_store: UserStore | None) -> None:
        """Predict with `user_store` as the personal store, and learn into it (None: without
        a store)."""
        components = dict(self.mixture.components)
        components.pop(PERSONAL, None)
        if user_store is not None:
            components[PERSONAL] = Personal(user_store, self.id_to_token)
        self.mixture = Mixture(components, self.mixture.weights)
        self.learner = Learner(user_store) if user_store is not None else None
        self.store_note = None
        self._last = None

    def adapt(self, text: str) -> None:
        """What learning `text` (a finished line) does besides the store: the store's trust
        and a step of dynamic evaluation (predictors.dynamic.learn_line). Never inside a
        keystroke's answer: at line ends only."""
        from nextword.prediction import dynamic, neural_cache

        lstm = self.mixture.components.get("lstm")
        # (A fitted weight or step of 0: no cache to read at each keystroke, no step to take.)
        cached = hasattr(lstm, "cache")
        if self.continuous and self.settings.lam > 0 and dynamic.engines_of(lstm) and not cached:
            lstm = self.mixture.components["lstm"] = neural_cache.CachedLSTM(
                lstm, neural_cache.NeuralCache(self.vocab_size, theta=self.settings.theta,
                                               lam=self.settings.lam))
        if self.adaptation and self.settings.step > 0 and self.adapter is None and dynamic.engines_of(lstm):
            self.adapter = dynamic.OutputAdapter(lstm, self.settings.step, self.settings.decay)
        dynamic.learn_line(self, context_window(text), self.adapter if self.adaptation else None)
        self._last = None

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    def fork(self) -> Predictor:
        """The same model (its arrays shared) with state of its own: the LSTM's cache of the
        last context and an empty cache of recent text. One per text that is edited apart
        from the others (an editor's documents), so switching texts re-runs neither."""
        store = self.cache.fresh() if self.cache is not None else None
        readers = store.components() if store is not None else {}
        components = {name: readers[name] if name in readers else
                      component.fork() if hasattr(component, "fork") else component
                      for name, component in self.mixture.components.items()}
        twin = copy.copy(self)
        twin.mixture = Mixture(components, self.mixture.weights)
        twin._last = None
        twin._encoder = tokenizer_mod.GrowingText(self.tokenizer)
        if self.adapter is not None:  # the network's adaptation is this text's, not the twin's
            from nextword.prediction.dynamic import engines_of

            for engine in engines_of(components.get("lstm")):
                engine.output_kernel, engine.output_bias = self.adapter.kernel0, self.adapter.bias0
                engine._probs = None
        twin.adapter = None
        return twin

    def only(self, name: str) -> Predictor:
        """A predictor over one component of this one ("lstm", "ngram"), without the cache."""
        return Predictor(self.path, Mixture({name: self.mixture.components[name]}), self.tokenizer,
                         self.display)

    def context_ids(self, context: str) -> list[int]:
        """Token ids the engine reads for `context`: EOL first (every text starts as if at
        the beginning of a line, as most training windows do)."""
        return [self.eol_id] + self._encoder.ids(context)

    def context_tokens(self, context: str) -> tuple[list[int], list[str | None]]:
        """`context_ids` and each token's written form for the cache (the lower-case word,
        also for words outside the vocabulary; None for other tokens)."""
        encoding = self.tokenizer.encode(context, add_special_tokens=False)
        forms: list[str | None] = [None]
        normalize = self.tokenizer.normalizer.normalize_str
        for token_id, (a, b) in zip(encoding.ids, encoding.offsets, strict=True):
            token = self.id_to_token[token_id]
            if tokenizer_mod.is_word(token):
                forms.append(token)
            elif token_id == self.unk_id and tokenizer_mod.WORD_RE.match(context[a:b]):
                forms.append(normalize(context[a:b]))
            else:
                forms.append(None)
        return [self.eol_id] + encoding.ids, forms

    def candidates(self, prefix: str) -> np.ndarray:
        """Ids of the suggestable words starting with `prefix` (case-insensitive)."""
        if not prefix:
            return self._sorted_ids
        key = self.tokenizer.normalizer.normalize_str(prefix)
        lo = bisect_left(self._sorted_words, key)
        hi = bisect_left(self._sorted_words, key + "\U0010ffff", lo)
        return self._sorted_ids[lo:hi]

    def _predict(self, text: str, context: str, end: int) -> tuple[np.ndarray, dict[str, float]]:
        """The mixture's answer after `context` (the window's), with the cache holding
        text[:end]. Successive keystrokes within a word reuse it."""
        store = self.cache
        if store is not None:
            store.sync(text, end)
        personal = self.personal
        key = (context, store.version if store is not None else 0,
               personal.version() if personal is not None else 0)
        if self._last is None or self._last[0] != key:
            words = last_words(context) if personal is not None else None
            self._last = (key, self.mixture.predict(self.context_ids(context), words), words)
        return self._last[1]

    def read(self, text: str) -> None:
        """Take `text` as written to its end (its last word complete): the cache holds it,
        as earlier text once the next query starts another. A no-op without a cache."""
        if self.cache is not None:
            self.cache.sync(text, len(text))

    def analyse(self, text: str, k: int = 5) -> Suggestions:
        """The top `k` words for `text`, with probabilities among the words that fit."""
        context, prefix = split_text(context_window(text))
        vec, outside = self._predict(text, context, len(text) - len(prefix))
        ids = self.candidates(prefix)
        key = self.tokenizer.normalizer.normalize_str(prefix) if prefix else ""
        extra = [(w, p) for w, p in outside.items() if w.startswith(key)]
        # How words are shown: the cache's way for words outside the vocabulary, then the
        # store's (for any word the user wrote), then the model's (its rare words' too).
        display, outside_display = self.display, self.cache.display if self.cache is not None else {}
        seen = set(outside)
        if self.personal is not None:
            words = self._last[2]  # the context's last words, as _predict read them
            guess = self.personal.guess(words)
            rare, shown = self.personal.completions(key, words)
            extra += [(w, p) for w, p in rare.items() if w not in seen]
            seen.update(rare)
            if guess is not None:
                shown.update(guess.shown)
            if shown:
                display = ChainMap(shown, self.display)
                outside_display = ChainMap(outside_display, shown)
        if key:  # the corpus's rare words, from the [UNK] share
            extra += [(w, p) for w, p in self.lexicon.completions(key, float(vec[self.unk_id]), k).items()
                      if w not in seen]
            outside_display = ChainMap(outside_display, self.lexicon.display)
        if (len(ids) == 0 and not extra) or k <= 0:
            return Suggestions(text, prefix, [])
        probs = vec[ids]
        if extra:
            probs = np.concatenate([probs, [p for _, p in extra]])
        total = probs.sum()
        top = np.argpartition(-probs, k - 1)[:k] if len(probs) > k else np.arange(len(probs))
        top = top[np.argsort(-probs[top], kind="stable")]
        start = starts_sentence(context)
        words = []
        for j in top:
            if j < len(ids):
                word = match_case(self.id_to_token[ids[j]], prefix, start, display)
            else:
                word = match_case(extra[j - len(ids)][0], prefix, start, outside_display)
            words.append((word, float(probs[j] / total) if total > 0 else 0.0))
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
        if self.cache is not None:  # the prompt is text the user wrote
            self.cache.sync(prompt, len(prompt) - len(split_text(window)[1]))
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
            token = sampling.sample(self.mixture.distribution(ids), rng, temperature, top_k, top_p,
                                    banned=banned)
            ids.append(token)
            out.append(self.id_to_token[token])
            is_word = tokenizer_mod.is_word(out[-1])
            made += is_word
            non_words = 0 if is_word else non_words + 1
            line_ends = line_ends + 1 if token == self.eol_id else 0
        start = starts_sentence(window)
        text = sampling.detokenize([self.display.get(t, t) for t in out], capitalize_start=start)
        if prompt and not prompt[-1].isspace() and text and text[0] not in ".,;:!?)\n":
            text = " " + text
        return prompt + text
