"""Learning as you go: the cache weighs its evidence, the output layer adapts in the process,
and `nextword evaluate --learn` reports the learning predictor beside the static one."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from nextword.cli.main import cli
from nextword.frontends.learning import NAME, Learner
from nextword.modeldir import directory
from nextword.prediction.cache import RecentWords
from nextword.prediction.dynamic import OutputAdapter
from nextword.prediction.mixture import DEFAULT_WEIGHTS, Mixture, fit_weights
from nextword.prediction.neural_cache import NeuralCache
from nextword.prediction.predictor import Predictor

from .conftest import write_structured_corpus
from .test_mixture import VOCAB

VOCAB_ECHO = ["[UNK]", "\n", ".", "the", "return", "value", "of", "a", "file"]


class Flat:
    vocab_size = len(VOCAB_ECHO)

    def distribution(self, ids):
        return np.full(self.vocab_size, 1 / self.vocab_size)


def test_one_observed_pair_cannot_take_a_large_share():
    # The demo's echo: "the return" seen once; the pairs cache alone would say "return"
    # with certainty, and its fixed weight passed 18 % to it.
    store = RecentWords(VOCAB_ECHO)
    text = "The return value of the "
    store.sync(text, len(text))
    assert store.followers("the")[1].tolist() == [1.0]
    mixture = Mixture({"lstm": Flat(), **store.components()}, DEFAULT_WEIGHTS)
    vec, _ = mixture.predict([1, VOCAB_ECHO.index("the")])
    share = vec[VOCAB_ECHO.index("return")] - vec[VOCAB_ECHO.index("a")]  # above the model's
    assert share < 0.10
    # Seen many times with the same follower, the pair earns nearly its whole weight.
    more = text + "return " + "the return " * 30
    store.sync(more, len(more))
    assert store.pair_counts("the") == (32, 1)
    vec, _ = mixture.predict([1, VOCAB_ECHO.index("the")])
    assert vec[VOCAB_ECHO.index("return")] - vec[VOCAB_ECHO.index("a")] > 0.15


def test_evidence_counts_follow_the_store_as_words_come_and_go():
    store = RecentWords(VOCAB, size=4)
    store.sync("the cat the dog ", 16)
    assert store.unigram_counts() == (4, 3) and store.pair_counts("the") == (2, 2)
    store.sync("the cat the dog on mat ", 23)  # "the cat" has left the window of 4
    assert store.unigram_counts() == (4, 4) and store.pair_counts("the") == (1, 1)
    store.sync("the cat the dog on ", 19)  # "mat" taken back
    assert store.unigram_counts() == (3, 3) and store.pair_counts("the") == (1, 1)
    assert store.pair_counts("on") == (0, 0)


def test_fit_weights_with_evidence_reduces_to_the_plain_fit_when_it_is_all_ones():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.01, 1, size=(300, 3))
    probs[::3, 2] = np.nan
    plain = fit_weights(probs)
    scaled = fit_weights(probs, scale=np.ones_like(probs))
    assert np.allclose(plain, scaled)
    # Evidence halving a component's weight everywhere is undone by the fit doubling it.
    half = np.ones_like(probs)
    half[:, 1] = 0.5
    lam = fit_weights(probs, scale=half)
    effective = lam * [1, 0.5, 1]
    assert effective / effective.sum() == pytest.approx(plain, abs=2e-3)


def test_dynamic_evaluation_adapts_only_this_process(model_dir):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_dir.iterdir() if p.is_file()}
    predictor = Predictor.load(model_dir, user_db=None)
    twin = predictor.fork()
    adapter = OutputAdapter(twin.engine, step=0.5, decay=0.0)
    line = twin.context_ids("The old man barks at home.") + [twin.eol_id]
    kernel = predictor.engine.output_kernel.copy()
    losses = [adapter.learn(line) for _ in range(4)]
    assert losses[-1] < losses[0]  # the line read again costs less
    assert adapter.steps == 4
    # The original predictor (and the model directory) keep the trained layer.
    assert np.array_equal(predictor.engine.output_kernel, kernel)
    assert twin.engine.output_kernel is adapter.kernel and not np.array_equal(adapter.kernel, kernel)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_dir.iterdir() if p.is_file()}
    assert after == before
    # The adapted layer answers: "barks" after "the old man" is likelier than before.
    ids = twin.context_ids("The old man")
    barks = twin.tokenizer.token_to_id("barks")
    assert twin.engine.distribution(ids)[barks] > predictor.engine.distribution(ids)[barks]


def test_the_learning_stream_without_lines_is_the_static_stream(model_dir, tmp_path):
    predictor = Predictor.load(model_dir, user_db=None)
    ids, forms = predictor.context_tokens("the cat sleeps in the garden the cat")
    learner = Learner(predictor, tmp_path / "s.db")
    static = np.concatenate([rows for _, rows in predictor.mixture.stream_log_probs(ids, forms)])
    learning = np.concatenate([rows for _, rows in learner.stream_log_probs(ids, forms)])
    assert np.allclose(static, learning, atol=1e-6)


def test_neural_cache_favours_what_followed_a_similar_state():
    cache = NeuralCache(vocab_size=5, theta=5.0, lam=0.5)
    cache.add(np.array([[1.0, 0.0], [0.0, 1.0]]), [3, 4])
    probs = cache.mix(np.full((1, 5), 0.2), np.array([[1.0, 0.0]]))
    assert probs.sum() == pytest.approx(1) and probs[0].argmax() == 3


def test_evaluate_learn_reports_static_and_learning_side_by_side(model_dir, tmp_path):
    text = write_structured_corpus(tmp_path / "held-out.txt", sentences=60, seed=4)
    model = adapting(model_dir, tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(model), str(text), "--json", "--learn",
                                      "--no-baseline"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    lstm, full, learning = report["models"]
    assert (full["model"], learning["model"]) == ("full predictor", NAME)
    assert set(learning) == set(full) and learning["ksr_words"] == full["ksr_words"]
    assert learning["tokens"] == full["tokens"] and 0.3 < learning["ksr"] < 1
    facts = report["learning"]
    assert facts["lines_learned"] >= 59 and facts["dynamic_steps"] >= 59
    assert facts["store_words_typed"] > 300  # the temporary store learned what was typed
    # The text repeats its few sentences: learning them cannot make prediction worse.
    assert learning["perplexity"] <= full["perplexity"] * 1.02
    assert learning["ksr"] >= full["ksr"] - 0.01
    table = CliRunner().invoke(cli, ["evaluate", "-m", str(model_dir), str(text), "--learn", "--no-baseline"])
    assert table.exit_code == 0 and "full learning" in table.stdout.splitlines()[0]


def adapting(model_dir, tmp_path):
    """A copy of the session model that adapts: its own fitted step and cache weight are 0
    (its LSTM has almost no weight in the mixture), the copy's are 1.5 and 0.1."""
    model = tmp_path / "adapting"
    shutil.copytree(model_dir, model)
    directory.update_config(model, lambda c: c.update(adaptation={
        "step": 1.5, "decay": 0.02, "cache_theta": 20.0, "cache_lambda": 0.1}))
    return model


def test_learning_a_line_fills_the_continuous_cache_of_this_process_only(model_dir, tmp_path):
    predictor = Predictor.load(adapting(model_dir, tmp_path), user_db=tmp_path / "user.db")
    ids = predictor.context_ids("The old man ")
    before = predictor.mixture.distribution(ids).copy()
    network = predictor.engine.distribution(ids).copy()
    twin = predictor.fork()
    assert predictor.learn("The old man barks at home.")
    lstm = predictor.mixture.components["lstm"]
    assert len(lstm.cache.values) == len(predictor.context_ids("The old man barks at home."))
    assert predictor.adapter is not None and predictor.adapter.steps == 1
    after = predictor.mixture.distribution(ids)
    barks = predictor.tokenizer.token_to_id("barks")
    assert after[barks] > before[barks]
    # Another text's predictor (a fork made before: it shares the store on disk, not the
    # network's adaptation) and a new fork start from the model's network.
    assert np.array_equal(twin.engine.distribution(ids), network)
    fresh = predictor.fork()
    assert len(fresh.mixture.components["lstm"].cache.values) == 0
    assert np.array_equal(fresh.engine.distribution(ids), network)
    predictor.learn("The old man barks at home.")  # the first text adapts on ...
    assert np.array_equal(fresh.engine.distribution(ids), network)  # ... the fork does not


def test_neural_cache_keeps_the_last_size_positions_in_place():
    cache = NeuralCache(vocab_size=50, size=4)
    assert cache.keys is None and len(cache.values) == 0
    features = np.eye(8) + 0.01
    cache.add(features[:3], [0, 1, 2])
    assert cache.keys.shape == (3, 8) and list(cache.values) == [0, 1, 2]
    held = cache.keys.base
    cache.add(features[3:5], [3, 4])  # one row fills it, the next overwrites the oldest
    assert sorted(cache.values) == [1, 2, 3, 4] and cache.keys.shape == (4, 8)
    cache.add(features[5:6], [5])
    assert sorted(cache.values) == [2, 3, 4, 5]
    assert cache.keys.base is held  # in place: no new array as it fills or once full
    # Each value sits with its own key: the key added with 5 answers 5.
    row = list(cache.values).index(5)
    assert np.allclose(cache.keys[row], features[5] / np.linalg.norm(features[5]))
    cache.add(features, list(range(10, 18)))  # more than it holds: the last 4
    assert sorted(cache.values) == [14, 15, 16, 17] and cache.keys.base is held
    probs = cache.mix(np.full((1, 50), 0.02), features[7:8])
    assert probs.sum() == pytest.approx(1) and probs[0].argmax() == 17
