"""The one place where the components' predictions are mixed, and where the weights are fitted.

    p(w | context) = sum_i lambda_i p_i(w | context) / sum_i lambda_i

over the components that have something to say about the context: the LSTM and the
n-gram always do; the cache's recency unigram ("cache") once it holds a word, its pairs
("pairs") once the previous word has been followed by something. Cache words outside the
vocabulary get their share as a dict beside the vector; vector and dict sum to 1 together.

The user's personal store ("personal", prediction/personal.py) has no fixed weight: after
each context it says which share of the probability it takes, by its evidence there, and
the mixture of the others fills the rest. With nothing to say (an empty store) it leaves
their answer exactly as it was. It reads no token stream, so `stream_log_probs`, `fit`
and evaluation leave it out.

The weights are config.json's "mixture" (fitted by `fit` on validation text at the end of
training); a model without them (older ones) gets DEFAULT_WEIGHTS over what it has.
Since the weights are fitted on text the components have not been trained on, the mixture
is never worse there than its best component (the weights could have put everything on it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from nextword.errors import ModelError
from nextword.prediction import Component
from nextword.prediction.cache import RecentWords
from nextword.prediction.lstm import CHUNK

NAMES = ("lstm", "ngram", "cache", "pairs", "personal")  # every component there can be, in order
PERSONAL = "personal"  # weighted by its own evidence, not by a fixed weight
# For models without fitted weights (older ones): near what `fit` gave a 512-unit WikiText-2
# model on 20k tokens of other WikiText-2 text (0.57, 0.19, 0.07, 0.17; held-out perplexity
# 130 for the LSTM alone, 96 mixed, 98 with these), a little more on the LSTM.
DEFAULT_WEIGHTS = {"lstm": 0.6, "ngram": 0.2, "cache": 0.07, "pairs": 0.13}
FIT_TOKENS = 20_000
# The least weight `fit` gives a component. The fit never sees what the cache is for above
# all, words outside the vocabulary (they are no target of perplexity): at weight 0 a
# word typed a moment ago could never be suggested. Costs at most about 1 % of perplexity.
MIN_WEIGHT = 0.005


class Mixture:
    """Components by name (NAMES) and their weights."""

    def __init__(self, components: Mapping[str, Component], weights: Mapping[str, float] | None = None):
        if not components:
            raise ValueError("a mixture needs at least one component")
        self.components = dict(components)
        self.personal = self.components.get(PERSONAL)
        if not self.fixed:
            raise ValueError("a mixture needs a component besides the personal store")
        self.weights = normalised(weights if weights is not None else DEFAULT_WEIGHTS, self.fixed)
        # The store the text-reading components share (filled through `sync`), if any.
        self.store: RecentWords | None = next(
            (c.store for c in self.components.values() if hasattr(c, "store")), None)

    @property
    def vocab_size(self) -> int:
        return next(iter(self.components.values())).vocab_size

    @property
    def fixed(self) -> dict[str, Component]:
        """The components with fixed weights: all but the personal store (read each time,
        since Predictor.engine may swap a component)."""
        return {n: c for n, c in self.components.items() if n != PERSONAL}

    def predict(self, ids, words: tuple[str, ...] | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """(probabilities over the vocabulary, {word outside it: probability}) after `ids`.
        `words`: the written forms of the context's last words, for the personal store
        (by default the vocabulary's words among the last ids). The vector may be a
        component's own (do not modify it)."""
        vec, outside = self._fixed(ids)
        guess = None
        if self.personal is not None:
            guess = self.personal.guess(self.personal.words_of(ids) if words is None else words)
        if guess is None:
            return vec, outside
        keep = 1.0 - guess.share
        mixed = {word: keep * q for word, q in outside.items()}
        for word, q in guess.outside.items():
            mixed[word] = mixed.get(word, 0.0) + q
        return keep * vec + guess.vec, mixed

    def _fixed(self, ids) -> tuple[np.ndarray, dict[str, float]]:
        """`predict` of the components with fixed weights."""
        parts = []
        for name, component in self.fixed.items():
            p = component.distribution(ids)
            if p is not None:
                outside = component.outside(ids) if hasattr(component, "outside") else {}
                parts.append((component_weight(self, name, component, ids), p, outside))
        total = sum(w for w, _, _ in parts)
        if total <= 0:  # only components weighted 0 have something to say: trust them equally
            parts = [(1.0, p, o) for _, p, o in parts]
            total = len(parts)
        if len(parts) == 1:
            return parts[0][1], parts[0][2]
        vec = np.zeros(self.vocab_size)
        outside: dict[str, float] = {}
        for w, p, out in parts:
            vec += (w / total) * p
            for word, q in out.items():
                outside[word] = outside.get(word, 0.0) + (w / total) * q
        return vec, outside

    def distribution(self, ids) -> np.ndarray:
        """The vocabulary part of `predict` (sums to 1 minus the outside words' share)."""
        return self.predict(ids)[0]

    def stream_log_probs(self, ids, forms=None, chunk: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """For a whole text: (position, log-probability rows) as the LSTM's, row j after
        ids[:position + j + 1]. The cache components read the text as it goes, into a fresh
        store (the live one is untouched); `forms` are the tokens' written forms (a word's
        form, None for other tokens), by default guessed from the ids (RecentWords.forms_of_ids)."""
        ids = np.asarray(ids, dtype=np.int64)
        components = self.fixed
        if len(components) == 1:
            yield from next(iter(components.values())).stream_log_probs(ids, chunk)
            return
        models, readers, store, forms = _split(components, ids, forms)
        if not models:
            raise ValueError("a mixture of cache components alone has no stream")
        streams = [(self.weights[name], c.stream_log_probs(ids, chunk)) for name, c in models.items()]
        for parts in zip(*(s for _, s in streams), strict=True):
            start = parts[0][0]
            mixed = sum(w * np.exp(rows) for (w, _), (_, rows) in zip(streams, parts, strict=True))
            total = np.full(len(mixed), sum(w for w, _ in streams))
            if readers:
                for j in range(len(mixed)):
                    store.add(forms[start + j])
                    context = ids[: start + j + 1]
                    for name, component in readers.items():
                        p = component.distribution(context)
                        if p is not None:
                            w = component_weight(self, name, component, context)
                            mixed[j] += w * p
                            total[j] += w
            yield start, np.log(mixed / total[:, None])


def component_weight(mixture: Mixture, name: str, component, ids) -> float:
    """The component's weight after `ids`: its fitted weight, times its evidence there for
    a component that weighs its evidence (the cache's: predictors/cache.py)."""
    evidence = getattr(component, "evidence", None)
    return mixture.weights[name] * (evidence(ids) if evidence is not None else 1.0)


def _split(components: Mapping[str, Component], ids, forms):
    """(model components, the text-reading ones on a fresh store, that store, the forms)."""
    models = {n: c for n, c in components.items() if not hasattr(c, "store") and n != PERSONAL}
    store = next((c.store for c in components.values() if hasattr(c, "store")), None)
    if store is None:
        return models, {}, None, forms
    store = store.fresh()
    readers = {n: c for n, c in store.components().items() if n in components}
    if forms is None:
        forms = store.forms_of_ids(ids)
    elif len(forms) != len(ids):
        raise ValueError("forms and ids differ in length")
    return models, readers, store, forms


def normalised(weights: Mapping[str, float], components) -> dict[str, float]:
    """`weights` of the components present, scaled to sum to 1 (equal if they sum to 0)."""
    w = {name: float(weights.get(name, 0.0)) for name in components}
    total = sum(w.values())
    return {n: v / total for n, v in w.items()} if total > 0 else {n: 1 / len(w) for n in w}


# The largest weight or discount config.json may hold (training writes weights <= 1 and
# discounts <= 8). Compared before anything else: an integer of 400 digits is no float.
MAX_SAVED = 1e6


def weights_from_config(config: dict, components) -> dict[str, float]:
    """The saved weights of the components present (config["mixture"]["weights"]), or
    DEFAULT_WEIGHTS for a model that has none; ModelError if they are not weights."""
    mixture = config.get("mixture")
    if mixture is None:
        return normalised(DEFAULT_WEIGHTS, components)
    saved = mixture.get("weights") if isinstance(mixture, dict) else None
    if not (isinstance(saved, dict) and saved and all(
            name in NAMES and isinstance(v, (int, float)) and not isinstance(v, bool)
            and 0 <= v <= MAX_SAVED for name, v in saved.items())):
        raise ModelError(f"{config.get('_path', 'the model')}/config.json has invalid mixture weights "
                         f"(\"mixture\": {json_short(mixture)}); expected {{\"weights\": {{name: weight}}}} "
                         f"with names among {', '.join(NAMES)}")
    weights = normalised(saved, components)
    models = [name for name in ("lstm", "ngram") if name in components]
    if models and not any(weights[name] > 0 for name in models):
        # The caches alone have nothing to say before a text has words: no prediction.
        raise ModelError(f"{config.get('_path', 'the model')}/config.json has invalid mixture weights "
                         f"(\"mixture\": {json_short(mixture)}): {' and '.join(models)} weighted 0")
    return weights


def json_short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fit_weights(probs: np.ndarray, iterations: int = 200, tol: float = 1e-9,
                scale: np.ndarray | None = None) -> np.ndarray:
    """Interpolation weights maximising sum_t log(sum_i w_i p_ti / sum_(i active) w_i), for
    `probs` of shape (targets, components): each component's probability of each target,
    NaN where it had nothing to say. EM (a minorise-maximise step that reduces to the
    classic EM update when every component is always present). Sums to 1. `scale` (same
    shape, in [0, 1]): each component's evidence there, multiplying its weight (as
    `component_weight` does); by default 1 wherever it has something to say."""
    p = np.asarray(probs, dtype=np.float64)
    active = ~np.isnan(p)
    if scale is not None:
        active = np.where(active, np.asarray(scale, dtype=np.float64), 0.0)
    p = np.where(active > 0, p, 0.0)
    present = (active > 0).any(axis=0)
    lam = np.where(present, 1.0, 0.0)
    lam /= lam.sum()
    previous = -np.inf
    for _ in range(iterations):
        mixed = np.maximum((p * active) @ lam, 1e-300)
        share = active @ lam
        ll = float(np.sum(np.log(mixed / share)))
        numerator = lam * (p * active / mixed[:, None]).sum(axis=0)
        denominator = (active / share[:, None]).sum(axis=0)
        lam = np.where(present, numerator / np.maximum(denominator, 1e-300), 0.0)
        lam /= lam.sum()
        if ll - previous <= tol * max(1.0, abs(ll)):
            break
        previous = ll
    return lam


def target_probs(components: Mapping[str, Component], ids, forms=None, chunk: int = CHUNK,
                 counts: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(len(ids) - 1, components) array: each component's probability of ids[t + 1] after
    ids[:t + 1], NaN where it had nothing to say; the cache reads the text in order into a
    fresh store. `counts`, if given, receives each evidence-weighing component's (c, t)
    at each position ((len(ids) - 1, 2) arrays by name; see predictors/cache.py)."""
    ids = np.asarray(ids, dtype=np.int64)
    targets = ids[1:]
    names = list(components)
    out = np.full((len(targets), len(names)), np.nan)
    models, readers, store, forms = _split(components, ids, forms)
    for name, component in models.items():
        col = names.index(name)
        if hasattr(component, "target_probs"):
            out[:, col] = component.target_probs(ids)
            continue
        for start, rows in component.stream_log_probs(ids[:-1], chunk):
            at = np.arange(start, start + len(rows))
            out[at, col] = np.exp(rows[at - start, targets[at]])
    if counts is not None:
        counts.update({name: np.zeros((len(targets), 2)) for name in readers})
    for t in range(len(targets)) if readers else ():
        store.add(forms[t])
        for name, component in readers.items():
            p = component.distribution(ids[: t + 1])
            if p is not None:
                out[t, names.index(name)] = p[targets[t]]
                if counts is not None:
                    counts[name][t] = component.counts(ids[: t + 1])
    return out


@dataclass
class Columns:
    """What the mixture was fitted on: each component's probability of each known target
    (`probs`, NaN where it had nothing to say; LSTM first), each one's evidence there
    (`scale`), the fitted weights (`lam`), and which targets were known (`known`, over all
    of the fit's targets). prediction/adaptation.py refits the LSTM's column on it."""

    probs: np.ndarray
    scale: np.ndarray
    lam: np.ndarray
    known: np.ndarray

    def mixed(self, lstm: np.ndarray | None = None) -> np.ndarray:
        """The mixture's probability of each known target; `lstm`: another LSTM column."""
        probs = self.probs if lstm is None else np.column_stack([lstm, self.probs[:, 1:]])
        active = np.where(np.isnan(probs), 0.0, self.scale)
        return np.where(active > 0, probs, 0.0) * active @ self.lam / (active @ self.lam)


def fit(lstm, ngram, vocab: list[str], valid_ids, max_tokens: int = FIT_TOKENS) -> dict:
    """Fit the weights of the LSTM, the n-gram (None if the model has none) and the cache
    on the first `max_tokens` validation tokens, read in order with the cache filled as it
    goes. Returns config["mixture"]: {"weights": {name: weight}, "fitted_on": targets,
    "perplexity": {"lstm", "ngram", "mixture": on those targets}}."""
    return fit_columns(lstm, ngram, vocab, valid_ids, max_tokens)[0]


def fit_columns(lstm, ngram, vocab: list[str], valid_ids,
                max_tokens: int = FIT_TOKENS) -> tuple[dict, Columns]:
    """`fit`, and the Columns it was fitted on."""
    ids = np.asarray(valid_ids[: max_tokens + 1], dtype=np.int64)
    if len(ids) < 2:
        raise ValueError("fitting the mixture needs at least 2 validation tokens")
    store = RecentWords(vocab)
    components = {"lstm": lstm, **({"ngram": ngram} if ngram is not None else {}), **store.components()}
    counts: dict[str, np.ndarray] = {}
    probs = target_probs(components, ids, counts=counts)
    known = ids[1:] != store.unk_id  # unknown words are no target (as in perplexity)
    probs = probs[known]
    names = list(components)
    lam, scale, discounts = fit_evidence(probs, names, {n: c[known] for n, c in counts.items()})
    lam = np.maximum(lam, MIN_WEIGHT) / np.maximum(lam, MIN_WEIGHT).sum()
    weights = {name: round(float(w), 6) for name, w in zip(names, lam, strict=True)}

    def perplexity(p: np.ndarray) -> float:
        return float(np.exp(-np.mean(np.log(np.maximum(p, 1e-300))))) if len(p) else float("nan")

    columns = Columns(probs, scale, lam, known)
    figures = {"lstm": perplexity(probs[:, 0]), "mixture": perplexity(columns.mixed())}
    if ngram is not None:
        figures["ngram"] = perplexity(probs[:, 1])
    return {"weights": weights, "fitted_on": int(known.sum()),
            "perplexity": {k: round(v, 3) for k, v in figures.items()},
            "discounts": discounts}, columns


DISCOUNTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # the grid `fit_evidence` tries for each D


def fit_evidence(probs: np.ndarray, names: list[str], counts: Mapping[str, np.ndarray]):
    """The weights and the evidence discounts D (predictors/cache.py) that fit `probs`
    best: each component's D from DISCOUNTS in turn (coordinate ascent, two rounds), the
    weights by EM at each. Returns (weights, the evidence matrix, {name: D})."""
    from .cache import DISCOUNT, evidence

    discounts = {name: DISCOUNT.get(name, 1.0) for name in counts}

    def scale_for(d: Mapping[str, float]) -> np.ndarray:
        scale = np.ones_like(probs)
        for name, ct in counts.items():
            scale[:, names.index(name)] = evidence(ct[:, 0], ct[:, 1], d[name])
        return np.where(np.isnan(probs), 0.0, scale)

    def loglik(lam, scale) -> float:
        active = scale
        mixed = np.where(active > 0, probs, 0.0) * active @ lam
        return float(np.sum(np.log(np.maximum(mixed, 1e-300) / np.maximum(active @ lam, 1e-300))))

    best = None
    for _ in range(2 if counts else 0):
        for name in counts:
            for d in DISCOUNTS:
                trial = {**discounts, name: d}
                scale = scale_for(trial)
                lam = fit_weights(probs, scale=scale)
                ll = loglik(lam, scale)
                if best is None or ll > best[0]:
                    best = (ll, lam, scale, trial)
            discounts = best[3]
    if best is None:
        scale = scale_for(discounts)
        return fit_weights(probs, scale=scale), scale, discounts
    return best[1], best[2], best[3]


def discounts_from_config(config: dict) -> dict[str, float]:
    """The fitted evidence discounts in config["mixture"]["discounts"] ({} if none or invalid:
    the cache's defaults hold)."""
    mixture = config.get("mixture")
    saved = mixture.get("discounts") if isinstance(mixture, dict) else None
    if not isinstance(saved, dict):
        return {}
    return {k: float(v) for k, v in saved.items()
            if k in ("cache", "pairs") and isinstance(v, (int, float)) and not isinstance(v, bool)
            and 0 < v <= MAX_SAVED}
