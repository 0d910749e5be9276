"""A model directory written by nextword 0.1.0 (tests/data/model-v1, written by main at
02d7280, before the move into sub-packages) loads with today's code, and its LSTM and n-gram
predict the probabilities they predicted then (tests/data/compat-expected.json). The full
mixture's figures were re-recorded when the cache came to weigh its evidence (issue 28; the
0.1.0 figures are kept beside them as mixture_0.1.0). How they were made:
tests/data/make_compat_model.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import nextword
from nextword.modeldir import directory

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "compat-expected.json").read_text())


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    # A copy: loading may recover or lock beside the directory; the checked-in one stays as it is.
    model = tmp_path_factory.mktemp("compat") / "model-v1"
    shutil.copytree(DATA / "model-v1", model)
    return nextword.load(model)


def assert_same(got: list, want: list, what: str) -> None:
    """The same words with the same probabilities; among words tied at the k-th place,
    which ones fill the list may differ."""
    got_p, want_p = dict(got), dict(want)
    assert len(got) == len(want), what
    assert np.allclose(sorted(got_p.values()), sorted(want_p.values()), rtol=1e-5, atol=1e-7), what
    cutoff = min(want_p.values(), default=0.0)
    for word, p in want_p.items():
        if word in got_p:
            assert got_p[word] == pytest.approx(p, rel=1e-5, abs=1e-7), (what, word)
        else:
            assert p == pytest.approx(cutoff, rel=1e-5, abs=1e-7), (what, word)


def test_the_checked_in_model_is_complete_and_of_this_format():
    config = directory.read_config(DATA / "model-v1")
    assert config["nextword_version"] == "0.1.0"
    assert set(config["files"]) == {"casing.json", "model.keras", "ngram.npz", "tokenizer.json",
                                    "weights.npz"}
    for name in config["files"]:  # each file is the one config.json describes
        directory.read_file(DATA / "model-v1", name, config)


@pytest.mark.parametrize("part", ["mixture", "lstm", "ngram"])
def test_an_old_model_predicts_the_same_probabilities(predictor, part):
    k = EXPECTED["k"]
    assert set(predictor.mixture.components) >= {"lstm", "ngram", "cache", "pairs"}
    for text, want in EXPECTED[part].items():
        p = predictor if part == "mixture" else predictor.only(part)
        assert_same(p.fork().suggest(text, k), want, (part, text))
