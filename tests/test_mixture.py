"""The cache of the recent text, the mixture, and fitting its weights."""

from __future__ import annotations

import numpy as np
import pytest

from nextword.errors import ModelError
from nextword.modeldir import directory
from nextword.prediction.cache import RecentWords
from nextword.prediction.lstm import Engine
from nextword.prediction.mixture import (
    DEFAULT_WEIGHTS,
    MIN_WEIGHT,
    Mixture,
    fit,
    fit_weights,
    normalised,
    target_probs,
    weights_from_config,
)
from nextword.prediction.ngram_counts import kneser_ney
from nextword.text import tokenizer as tokenizer_mod

VOCAB = ["[UNK]", "\n", ".", "the", "cat", "sat", "on", "mat", "a", "dog"]


class Uniform:
    vocab_size = len(VOCAB)

    def distribution(self, ids):
        return np.full(self.vocab_size, 1 / self.vocab_size)

    def stream_log_probs(self, ids, chunk=512):
        for start in range(0, len(ids), chunk):
            rows = len(ids[start:start + chunk])
            yield start, np.log(np.full((rows, self.vocab_size), 1 / self.vocab_size))


def state(store: RecentWords):
    """What the store answers: its unigram (vector, outside words) and its pairs."""
    vec, outside = store.unigram()
    pairs = {prev: store.followers(prev) for prev in ("the", "cat", "sat", "on", "zorblax", "went")}
    return (vec.round(12).tolist(), {w: round(p, 12) for w, p in outside.items()},
            {k: v and (v[0].tolist(), v[1].round(12).tolist(), v[2]) for k, v in pairs.items()})


def synced(*texts: str) -> RecentWords:
    store = RecentWords(VOCAB)
    for text in texts:
        store.sync(text, len(text))
    return store


def test_the_text_before_the_cursor_is_counted_once_however_it_is_typed():
    text = "the cat sat on the mat. Zorblax went on the mat "
    typed = RecentWords(VOCAB)
    for i in range(1, len(text) + 1):
        # Each keystroke is a query; its complete words end where the partial word starts.
        end = i if text[i - 1] in " ." else text.rfind(" ", 0, i) + 1
        typed.sync(text[:i], end)
        typed.sync(text[:i], end)  # the same query twice changes nothing
    assert state(typed) == state(synced(text))


def test_backspace_and_a_look_ahead_are_taken_back():
    store = synced("the cat sat on ")
    store.sync("the cat sat on the mat ", len("the cat sat on the mat "))  # ghost text ahead
    store.sync("the cat s", len("the cat "))  # backspace into "sat"
    assert state(store) == state(synced("the cat "))
    store.sync("the cat dog ", len("the cat dog "))
    assert state(store) == state(synced("the cat dog "))


def test_another_text_keeps_the_earlier_one():
    store = synced("the cat sat. ", "a dog ")
    vec, _ = store.unigram()
    assert all(vec[VOCAB.index(w)] > 0 for w in ("the", "cat", "sat", "a", "dog"))
    assert store.followers("cat")[0].tolist() == [VOCAB.index("sat")]
    assert store.followers("sat") is None  # a full stop ends the run of words


def test_recent_words_weigh_more_and_old_ones_leave():
    store = RecentWords(VOCAB, size=4, half_life=2)
    for word in ["cat", "dog", "dog", "mat", "sat"]:
        store.add(word)
    vec, _ = store.unigram()
    # ages 0..3 weigh 1, 1/sqrt2, 1/2, 1/(2 sqrt2); the first "cat" has left (size 4)
    w = 2 ** (-np.arange(4) / 2)
    assert vec[VOCAB.index("cat")] == 0
    assert vec[VOCAB.index("sat")] == pytest.approx(w[0] / w.sum())
    assert vec[VOCAB.index("dog")] == pytest.approx((w[2] + w[3]) / w.sum())
    assert vec.sum() == pytest.approx(1)
    for _ in range(200):  # many rebasings later the weights are still exact
        store.add("mat")
    assert store.unigram()[0][VOCAB.index("mat")] == pytest.approx(1)


def test_outside_words_share_the_mass_and_the_mixture_sums_to_one():
    store = synced("the cat sat. Zorblax went on the mat; the Zorblax ")
    vec, outside = store.unigram()
    assert set(outside) == {"zorblax", "went"} and vec.sum() + sum(outside.values()) == pytest.approx(1)
    assert store.display == {"zorblax": "Zorblax"}  # as written away from a sentence start
    mixture = Mixture({"lstm": Uniform(), **store.components()})
    ids = [1, VOCAB.index("the")]
    vec, outside = mixture.predict(ids)
    assert vec.sum() + sum(outside.values()) == pytest.approx(1)
    assert outside["zorblax"] > outside["went"] > 0  # "the" was followed by Zorblax
    # After a word nothing followed, the pairs have nothing to say: their weight goes to
    # the others (renormalised), not to nothing. The cache's unigram weighs its evidence.
    w = normalised(DEFAULT_WEIGHTS, ["lstm", "cache"])
    c, t = store.unigram_counts()
    cache = w["cache"] * c / (c + store.discount["cache"] * t)
    vec, outside = mixture.predict([1, VOCAB.index("dog")])
    assert vec[VOCAB.index("dog")] == pytest.approx(w["lstm"] / len(VOCAB) / (w["lstm"] + cache))


def test_with_an_empty_cache_the_mixture_is_the_model():
    model = Uniform()
    mixture = Mixture({"lstm": model, **RecentWords(VOCAB).components()})
    vec, outside = mixture.predict([1, 3])
    assert outside == {} and np.array_equal(vec, model.distribution([1]))


def test_em_recovers_the_weights_of_a_known_mixture():
    rng = np.random.default_rng(0)
    V, T = 40, 30_000
    truth = np.array([0.5, 0.3, 0.2])
    dists = rng.dirichlet(np.ones(V) * 0.3, size=3)
    which = rng.choice(3, size=T, p=truth)
    targets = np.array([rng.choice(V, p=dists[i]) for i in which])
    lam = fit_weights(dists[:, targets].T)
    assert np.allclose(lam, truth, atol=0.03) and lam.sum() == pytest.approx(1)


def test_em_recovers_weights_when_components_are_sometimes_absent():
    rng = np.random.default_rng(1)
    V, T = 40, 30_000
    truth = np.array([0.6, 0.1, 0.3])
    dists = rng.dirichlet(np.ones(V) * 0.3, size=3)
    present = np.c_[np.ones(T, bool), rng.random(T) < 0.5, rng.random(T) < 0.7]
    probs = np.full((T, 3), np.nan)
    for t in range(T):
        w = truth * present[t]
        i = rng.choice(3, p=w / w.sum())  # the renormalised mixture over those present
        target = rng.choice(V, p=dists[i])
        probs[t, present[t]] = dists[present[t], target]
    lam = fit_weights(probs)
    assert np.allclose(lam, truth, atol=0.03)
    never = np.c_[probs[:, :2], np.full(T, np.nan)]
    assert fit_weights(never)[2] == 0  # a component never present gets no weight


def test_stream_rows_are_the_mixture_of_each_position():
    store = RecentWords(VOCAB)
    mixture = Mixture({"lstm": Uniform(), **store.components()}, {"lstm": 0.5, "cache": 0.3, "pairs": 0.2})
    ids = [1, 3, 4, 5, 2, 3, 4, 6]
    rows = np.concatenate([r for _, r in mixture.stream_log_probs(ids, chunk=3)])
    replay = RecentWords(VOCAB)
    replayed = Mixture({"lstm": Uniform(), **replay.components()}, mixture.weights)
    for t, token in enumerate(ids):
        replay.add(replay.forms_of_ids([token])[0])
        assert np.allclose(np.exp(rows[t]), replayed.distribution(ids[: t + 1]))
    assert store.unigram() is None  # the live store was not touched

    probs = target_probs({"lstm": Uniform(), **RecentWords(VOCAB).components()}, ids)
    assert np.allclose(probs[:, 0], 0.1)
    assert np.isnan(probs[0, 1:]).all()  # after EOL alone the cache holds nothing
    assert probs[1, 1] == 0 and np.isnan(probs[1, 2])  # "the": cat not cached, nothing after "the"
    assert probs[5, 2] == 1  # "the cat sat . the": "the" was followed by "cat" only


def test_saved_weights_are_read_and_checked():
    present = ["lstm", "cache", "pairs"]
    assert weights_from_config({}, present) == normalised(DEFAULT_WEIGHTS, present)
    saved = {"mixture": {"weights": {"lstm": 0.5, "ngram": 0.3, "cache": 0.1, "pairs": 0.1}}}
    want = {"lstm": 5 / 7, "cache": 1 / 7, "pairs": 1 / 7}
    assert weights_from_config(saved, present) == pytest.approx(want)
    for bad in ({"weights": {"lstm": -1}}, {"weights": {"lstm": "a"}}, {"weights": {"bert": 1}}, [1],
                {"weights": {"pairs": 1}}, {"weights": {"lstm": 0, "cache": 1}}):  # (the caches alone)
        with pytest.raises(ModelError, match="invalid mixture weights"):
            weights_from_config({"mixture": bad}, present)
    one = {"mixture": {"weights": {"lstm": 0, "ngram": 1, "pairs": 1}}}  # the n-gram is enough
    assert weights_from_config(one, ["lstm", "ngram", "pairs"]) == {"lstm": 0, "ngram": 0.5, "pairs": 0.5}


def test_fit_beats_each_component_on_validation_text(numpy_model_dir, structured_corpus):
    snap = directory.load(numpy_model_dir)
    engine = Engine(snap.config["_model"], snap.weights)
    tok = snap.tokenizer
    ids = np.asarray(tok.encode(structured_corpus.read_text()).ids)
    ngram = kneser_ney(engine.vocab_size, [ids[:20_000]])
    result = fit(engine, ngram, tokenizer_mod.vocabulary(tok), ids[-3000:], max_tokens=2000)
    assert set(result["weights"]) == {"lstm", "ngram", "cache", "pairs"}
    assert sum(result["weights"].values()) == pytest.approx(1, abs=1e-5)
    assert result["fitted_on"] == 2000
    ppl = result["perplexity"]
    # Every component keeps MIN_WEIGHT (the cache must stay able to offer new words),
    # which may cost up to about 1 % where one component is near perfect, as here.
    assert min(result["weights"].values()) >= MIN_WEIGHT * 0.95
    assert ppl["mixture"] <= min(ppl["lstm"], ppl["ngram"]) * 1.01
    without = fit(engine, None, tokenizer_mod.vocabulary(tok), ids[-3000:], max_tokens=500)
    assert set(without["weights"]) == {"lstm", "cache", "pairs"} and "ngram" not in without["perplexity"]


def test_a_pair_typed_earlier_in_the_sentence_is_not_offered_back():
    """The demo's echo: after "the cat sat on the ", the pairs cache had seen "the cat" once,
    in this very sentence, and offered "cat" again. Pairs of the sentence being written are
    left out; those of earlier sentences still count."""
    from nextword.prediction.cache import Pairs

    ids = {w: i for i, w in enumerate(VOCAB)}
    pairs = Pairs(RecentWords(VOCAB))
    text = "the cat sat on the "
    pairs.store.sync(text, len(text))
    context = [ids["\n"]] + [ids[w] for w in text.split()]
    assert pairs.distribution(context) is None and pairs.counts(context) == (0, 0)

    text = "the cat sat. a dog sat on the "  # "the cat" was written in the sentence before
    store = RecentWords(VOCAB)
    store.sync(text, len(text))
    pairs = Pairs(store)
    context = [ids["\n"], ids["the"], ids["cat"], ids["sat"], ids["."]] + [ids[w] for w in text.split()[3:]]
    p = pairs.distribution(context)
    assert p is not None and p.argmax() == ids["cat"] and pairs.counts(context) == (1, 1)
