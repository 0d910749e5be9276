"""The corpus's rare words (text/lexicon.py): kept by training, read as hostile input,
and offered for a typed prefix at their share of the model's [UNK] probability."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from nextword.prediction.predictor import Predictor
from nextword.text import lexicon


def test_build_keeps_the_words_below_the_cut_commonest_first():
    counts = Counter({"the": 50, "arrowroot": 2, "smallridge's": 1, "x" * 60: 3, "Ærø": 1, "a-b": 1})
    built = lexicon.build(counts, ["the", "[UNK]"], str.lower, {"smallridge's": "Smallridge's",
                                                               "arrowroot": "ARROWROOT"})
    assert list(built.counts) == ["arrowroot", "a-b", "smallridge's", "ærø"]  # no vocabulary word
    assert built.counts["arrowroot"] == 2 and len(built) == 4
    assert built.display == {"smallridge's": "Smallridge's", "arrowroot": "ARROWROOT"}
    again = lexicon.parse(json.dumps(built.to_json()).encode(), ["the"])
    assert list(again.counts.items()) == list(built.counts.items()) and again.display == built.display


def test_a_short_prefix_gets_the_commonest_rare_words_through_a_saved_file(tmp_path):
    """lexicon.json keeps the commonest first (a file sorted by word would give a short
    prefix, which is looked up in count order, the alphabetically first words)."""
    counts = Counter({f"a{i:04d}x": 1 for i in range(400)} | {"azure": 9, "axolotl": 5})
    lexicon.save(lexicon.build(counts, [], str.lower, {}), tmp_path)
    parsed = lexicon.parse((tmp_path / lexicon.FILE).read_bytes(), [])
    assert list(parsed.completions("a", 1.0, k=2)) == ["azure", "axolotl"]
    shuffled = {"counts": dict(sorted(counts.items())), "display": {}}  # another order: the same
    assert list(lexicon.parse(json.dumps(shuffled).encode(), []).completions("a", 1.0, k=2)) == [
        "azure", "axolotl"]


def test_completions_split_the_unk_probability_by_count():
    rare = lexicon.Lexicon({"arrowroot": 3, "arrived": 1, "apple": 4})
    got = rare.completions("arr", 0.08, k=5)
    assert got == pytest.approx({"arrowroot": 0.08 * 3 / 8, "arrived": 0.08 * 1 / 8})
    assert list(rare.completions("a", 0.08, k=2)) == ["apple", "arrowroot"]  # the commonest k
    assert rare.completions("", 0.08, k=5) == {} and rare.completions("zz", 0.08, k=5) == {}


@pytest.mark.parametrize("content", [b"\xff\xfe", b"[1, 2]", b'{"counts": [1]}', b"{" * 100_000,
                                     b'{"counts": {"a": true, "b": -1, "c": 1.5, "d": "1"}}'])
def test_what_training_does_not_write_is_left_out(content):
    assert len(lexicon.parse(content, [])) == 0


def test_parse_leaves_out_bad_entries_and_keeps_good_ones():
    content = json.dumps({"counts": {"arrowroot": 2, "the": 9, "two words": 1, "x" * 49: 1, "": 1,
                                     "ok": 1},
                          "display": {"arrowroot": "Arrowroot", "ok": "no", "gone": "Gone"}}).encode()
    parsed = lexicon.parse(content, ["the"])
    assert parsed.counts == {"arrowroot": 2, "ok": 1} and parsed.display == {"arrowroot": "Arrowroot"}


def with_lexicon(model, counts, display=None):
    (model / lexicon.FILE).write_text(json.dumps({"counts": counts, "display": display or {}}))
    return Predictor.load(model, user_db=None)


def test_the_predictor_completes_rare_words_from_the_unk_share(numpy_model_copy):
    plain = Predictor.load(numpy_model_copy, user_db=None)
    predictor = with_lexicon(numpy_model_copy, {"arrowroot": 3, "arrived": 1, "smallridge's": 1},
                             {"smallridge's": "Smallridge's"})
    text = "The cat sleeps at home. The old man arr"
    assert plain.suggest(text, 5) == []  # no vocabulary word starts with "arr"
    words = dict(predictor.suggest(text, 5))
    assert list(words) == ["arrowroot", "arrived"] and words["arrowroot"] == pytest.approx(0.75)
    assert [w for w, _ in predictor.suggest("The old man sm", 5)] == ["Smallridge's"]
    # Without a prefix, and beside vocabulary words, their share is what the model gives [UNK].
    assert "arrowroot" not in dict(predictor.suggest("The old man ", 10))
    vec, _ = predictor._predict("The old man a", "The old man ", len("The old man "))
    everything = dict(predictor.suggest("The old man a", 1000))
    fits, unk = vec[predictor.candidates("a")].sum(), vec[predictor.unk_id]
    assert everything["arrowroot"] == pytest.approx(unk * 3 / 5 / (fits + unk * 4 / 5), rel=1e-6)
    assert np.isclose(sum(everything.values()), 1.0)


def test_a_model_without_a_lexicon_or_with_a_hostile_one_predicts_as_before(numpy_model_copy):
    before = Predictor.load(numpy_model_copy, user_db=None).suggest("The old man w", 5)
    (numpy_model_copy / lexicon.FILE).write_bytes(b"\x00" * 1000)
    assert Predictor.load(numpy_model_copy, user_db=None).suggest("The old man w", 5) == before
