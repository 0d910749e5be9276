"""The library API: nextword.load(path).suggest(text, k)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import nextword
from nextword.errors import ModelError
from nextword.prediction.mixture import DEFAULT_WEIGHTS, normalised
from nextword.prediction.predictor import (
    CONTEXT_STEP,
    MAX_CONTEXT_CHARS,
    context_window,
    match_case,
    split_text,
)
from nextword.text.rules import starts_sentence

from .conftest import add_ngram, old_model


@pytest.fixture(scope="module")
def predictor(numpy_model_dir):
    return nextword.load(numpy_model_dir)


def test_split_text():
    assert split_text("the cat ") == ("the cat ", "")
    assert split_text("the ca") == ("the ", "ca")
    assert split_text("I don'") == ("I ", "don'")
    # Two apostrophes or hyphens in a row end a word (a dash typed in ASCII); one joins.
    assert split_text("her kindness--an") == ("her kindness--", "an")
    assert split_text("her kindness--") == ("her kindness--", "")
    assert split_text("a well-kn") == ("a ", "well-kn") and split_text("a well-") == ("a ", "well-")
    assert split_text("well-kn") == ("", "well-kn")
    assert split_text("Hello,") == ("Hello,", "")
    assert split_text("") == ("", "")


def test_match_case():
    display = {"i'm": "I'm", "python": "Python"}
    assert match_case("garden", "Ga", False, display) == "Garden"
    assert match_case("garden", "GA", False, display) == "GARDEN"
    assert match_case("garden", "", True, display) == "Garden"
    assert match_case("garden", "g", True, display) == "garden"
    assert match_case("i'm", "", False, display) == "I'm"
    assert match_case("python", "py", False, display) == "Python"
    assert match_case("python", "PY", False, display) == "PYTHON"


def test_learned_structure_is_suggested(model_dir):
    # In the training text "the cat" is always followed by "sleeps" (the trained model).
    predictor = nextword.load(model_dir)
    assert predictor.suggest("The cat ", 1)[0][0] == "sleeps"
    assert predictor.suggest("Our neighbour si", 1)[0][0] == "sings"


def test_suggestions_are_words_sorted_and_renormalised(predictor):
    words = predictor.suggest("The teacher writes ", 1000)
    assert words == sorted(words, key=lambda wp: -wp[1])
    assert abs(sum(p for _, p in words) - 1.0) < 1e-6
    for word, _ in words:
        assert word not in ("[UNK]", "\n", ".") and word[0].isalnum()


def test_prefix_completion_is_case_insensitive_and_keeps_the_users_case(predictor):
    lower = predictor.suggest("my friend laughs in the g", 3)
    upper = predictor.suggest("my friend laughs in the G", 3)
    assert lower[0][0] == "garden" and upper[0][0] == "Garden"
    assert abs(sum(p for _, p in predictor.suggest("the ", 1000)) - 1) < 1e-6
    assert predictor.suggest("the zzz", 5) == []


def test_any_text_is_answered(predictor):
    # Control characters, unknown scripts, emoji and a huge text: each is a context after
    # which the k likeliest words are offered, as after any other.
    for text in ["", "\x00\x01\x7f", "ünïcödé 日本語 ", "🙂" * 50, "word " * 20000]:
        words = predictor.suggest(text, 3)
        assert len(words) == 3, text[:20]
        assert all(isinstance(w, str) and w[0].isalpha() and 0 < p <= 1 for w, p in words), words
        assert [p for _, p in words] == sorted((p for _, p in words), reverse=True)


def test_generate_is_reproducible_with_a_seed(predictor):
    one = predictor.generate("The cat", 12, seed=7)
    assert one == predictor.generate("The cat", 12, seed=7)
    assert one.startswith("The cat ") and len(one.split()) >= 12


def test_missing_model_says_how_to_train(tmp_path):
    with pytest.raises(ModelError, match="nextword train"):
        nextword.load(tmp_path / "none")


def test_corrupt_tokenizer_is_refused_naming_the_file(numpy_model_copy):
    (numpy_model_copy / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ModelError, match="tokenizer.json"):
        nextword.load(numpy_model_copy)


def test_a_word_outside_the_vocabulary_is_completed_after_its_first_letters(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    assert "zorblax" not in p.tokenizer.get_vocab()
    assert p.suggest("Later Zor", 3) == []  # nothing to offer before it was written
    text = "The cat sleeps in the garden. Zorblax went home. Later Zor"
    assert "Zorblax" in [w for w, _ in p.suggest(text, 3)]
    # Keystroke by keystroke, as an editor asks; its probability is among the words that fit.
    for i in range(len(text) - 2, len(text) + 1):
        words = dict(p.suggest(text[:i], 3))
        assert "Zorblax" in words and 0 < words["Zorblax"] <= 1
    # The earlier text stays (a long-running process); the written form is kept when the
    # word was written away from a sentence start.
    assert p.suggest("my friend met zorb", 3)[0][0] == "zorblax"
    p.suggest("The dog saw Qwertyx again. Then the qwer", 1)
    assert p.suggest("Then the qwer", 1)[0][0] == "Qwertyx"


def test_a_fork_shares_the_model_and_keeps_its_own_state(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    a, b = p.fork(), p.fork()
    assert a.engine.embedding is p.engine.embedding  # the arrays are shared, not copied
    assert list(a.mixture.components) == list(p.mixture.components)
    assert a.mixture.weights == p.mixture.weights
    a.suggest("The cat met Zorblax in the garden. ", 1)
    assert len(a.engine._ids) > 5 and not b.engine._ids and not p.engine._ids
    assert a.suggest("Zor", 1)[0][0] == "Zorblax"
    assert b.suggest("Zor", 1) == [] and p.suggest("Zor", 1) == []  # a's text is a's alone
    assert b.suggest("The cat ", 3) == p.suggest("The cat ", 3)  # the same model, the same text


def test_earlier_lines_of_a_pipe_are_remembered(numpy_model_dir):
    from click.testing import CliRunner

    from nextword.cli.main import cli

    lines = ["The cat met Zorblax.", "Zor"]
    result = CliRunner().invoke(cli, ["predict", "-m", str(numpy_model_dir), "-k", "3"],
                                input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Zorblax" in result.output.splitlines()[1].split()


def test_an_old_model_predicts_with_the_lstm_and_the_cache(numpy_model_copy):
    p = nextword.load(old_model(numpy_model_copy))
    assert list(p.mixture.components) == ["lstm", "cache", "pairs", "personal"]  # an empty store
    assert p.mixture.weights == normalised(DEFAULT_WEIGHTS, ["lstm", "cache", "pairs"])
    assert p.suggest("The cat ", 1)[0][0] == "sleeps"
    assert p.suggest("A dog barks by the river. A dog b", 1)[0][0] == "barks"


def test_a_model_with_ngram_and_weights_mixes_them(numpy_model_copy, structured_corpus):
    weights = {"lstm": 0.5, "ngram": 0.3, "cache": 0.1, "pairs": 0.1}
    add_ngram(old_model(numpy_model_copy), structured_corpus, {"weights": weights, "fitted_on": 1000})
    p = nextword.load(numpy_model_copy)
    assert list(p.mixture.components) == ["lstm", "ngram", "cache", "pairs", "personal"]
    assert p.mixture.weights == pytest.approx(weights)
    # With an empty cache the answer is the LSTM and the n-gram at 5:3.
    ids = p.context_ids("The cat ")
    want = (5 * p.engine.distribution(ids) + 3 * p.mixture.components["ngram"].distribution(ids)) / 8
    vec, outside = p.mixture.predict(ids)
    assert outside == {} and np.allclose(vec, want)
    assert p.suggest("The cat ", 1)[0][0] == "sleeps"
    from click.testing import CliRunner

    from nextword.cli.main import cli

    info = CliRunner().invoke(cli, ["info", "-m", str(numpy_model_copy)])
    assert re.search(r"predictor +lstm 0\.50 \+ ngram 0\.30 \([\d,]+ trigrams\) \+ cache 0\.10 "
                     r"\+ pairs 0\.10, fitted on 1,000 tokens", info.stdout), info.stdout


def test_invalid_mixture_weights_are_an_error(numpy_model_copy):
    config = json.loads((numpy_model_copy / "config.json").read_text())
    config["mixture"] = {"weights": {"lstm": "heavy"}}
    (numpy_model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="invalid mixture weights"):
        nextword.load(numpy_model_copy)


# Long context: bounded work, and the window that keeps its start while typing -------------------

class Recorder:
    """Wraps an engine, recording how many tokens each query and each run is fed."""

    def __init__(self, engine):
        self.engine = engine
        self.queries: list[int] = []
        self.runs: list[int] = []
        original_run = engine.run

        def run(state, ids, keep=1):
            self.runs.append(len(ids))
            return original_run(state, ids, keep)

        engine.run = run

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def distribution(self, ids):
        self.queries.append(len(ids))
        return self.engine.distribution(ids)


def test_a_huge_single_line_feeds_the_engine_a_bounded_context(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    p.engine = Recorder(p.engine)
    text = "the cat sleeps in the garden " * 70_000  # about 2 MB, one line
    assert len(text) > 2_000_000
    assert p.suggest(text, 3)
    assert p.engine.queries and max(p.engine.queries) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    assert sum(p.engine.runs) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    p.generate(text, 3, seed=0)
    assert max(p.engine.queries) <= MAX_CONTEXT_CHARS + CONTEXT_STEP + 3 * 5 + 16


def test_the_window_keeps_its_start_while_typing_so_a_keystroke_costs_a_step(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    p.engine = Recorder(p.engine)
    base = ("the cat sleeps in the garden . " * 400)[: MAX_CONTEXT_CHARS + 2 * CONTEXT_STEP + 10] + " "
    first = p.suggest(base, 3)
    assert first and p.engine.runs and p.engine.runs[0] > 500  # the window, run once
    p.engine.runs.clear()
    typed = base
    for keys in ("t", "he", " ", "c", "at", " "):
        typed += keys
        p.suggest(typed, 3)
    # Only the two new words were run, one step each; partial words cost nothing.
    assert sum(p.engine.runs) == 2, p.engine.runs
    assert context_window(base) == context_window(typed)[: len(context_window(base))]


def test_context_window_cuts_at_a_block_multiple_then_whitespace():
    assert context_window("short text ") == "short text "
    text = "word " * 3000
    window = context_window(text)
    assert MAX_CONTEXT_CHARS - len("word ") <= len(window) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    assert text.endswith(window) and window.startswith("word ")
    for extra in ("w", "wo", "word ", "word word "):
        assert context_window(text + extra) == window + extra


def test_split_text_and_sentence_start_are_linear_and_unchanged():
    assert split_text("x" * 300_000 + " ") == ("x" * 300_000 + " ", "")
    assert split_text("a " + "y" * 300_000) == ("a ", "y" * 300_000)
    assert split_text("--'ab") == ("--'", "ab")
    assert split_text("it's-") == ("", "it's-")
    old = re.compile(r"(^|[.!?]['\"”’)]*|\n)\s*$")
    for context in ["", "  ", "Hi. ", "Hi.\" ", "Hi.) x ", "(Hi) ", "a\n  ", "a\n b ", "Stop!", "Why?’ ",
                    "end\n", "x \t", "\n" * 2000 + "a "]:
        assert starts_sentence(context) == bool(old.search(context)), repr(context)
