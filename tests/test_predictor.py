"""The library API: nextword.load(path).suggest(text, k)."""

from __future__ import annotations

import pytest

import nextword
from nextword.errors import ModelError
from nextword.predictor import match_case, split_text


@pytest.fixture(scope="module")
def predictor(model_dir):
    return nextword.load(model_dir)


def test_split_text():
    assert split_text("the cat ") == ("the cat ", "")
    assert split_text("the ca") == ("the ", "ca")
    assert split_text("I don'") == ("I ", "don'")
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


def test_learned_structure_is_suggested(predictor):
    # In the training text "the cat" is always followed by "sleeps".
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
    for text in ["", "\x00\x01\x7f", "ünïcödé 日本語 ", "🙂" * 50, "word " * 20000]:
        assert isinstance(predictor.suggest(text, 3), list)


def test_generate_is_reproducible_with_a_seed(predictor):
    one = predictor.generate("The cat", 12, seed=7)
    assert one == predictor.generate("The cat", 12, seed=7)
    assert one.startswith("The cat ") and len(one.split()) >= 12


def test_missing_model_says_how_to_train(tmp_path):
    with pytest.raises(ModelError, match="nextword train"):
        nextword.load(tmp_path / "none")


def test_corrupt_tokenizer_is_refused_naming_the_file(model_copy):
    (model_copy / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ModelError, match="tokenizer.json"):
        nextword.load(model_copy)
