"""The NumPy-written test model (tests/numpy_model.py), and the proof that the tests moved
onto it need no TensorFlow: a few of them run again in a subprocess where importing
tensorflow or keras fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import nextword
from nextword.modeldir import directory

from .conftest import write_structured_corpus
from .numpy_model import write_numpy_model

ROOT = Path(__file__).resolve().parent.parent
# Tests on numpy_model_dir / numpy_model_copy that run in-process (the subprocesses some
# others start would not inherit the block): engine, predictor API, mixture, personal
# store, REPL, language server, predict CLI, sampling, info.
WITHOUT_TENSORFLOW = [
    "tests/test_lstm.py::test_cache_gives_the_same_answer_as_a_fresh_engine",
    "tests/test_predictor.py::test_a_fork_shares_the_model_and_keeps_its_own_state",
    "tests/test_predictor.py::test_a_model_with_ngram_and_weights_mixes_them",
    "tests/test_mixture.py::test_fit_beats_each_component_on_validation_text",
    "tests/test_personal.py::test_forget_a_word_since_a_day_and_everything",
    "tests/test_repl.py::test_tab_offers_k_candidates_and_enter_picks",
    "tests/test_lsp.py::test_a_keystroke_runs_the_lstm_one_step_at_most",
    "tests/test_predict_cli.py::test_generate_seed",
    "tests/test_generate.py::test_greedy_generation_gives_the_words_asked_for",
    "tests/test_info.py::test_info_reports_a_healthy_model",
]
BLOCKED = """
import sys
sys.modules["tensorflow"] = sys.modules["keras"] = None  # any import of them raises ImportError
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("tensorflow is still importable")
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:xdist", *sys.argv[1:]]))
"""


def test_moved_tests_pass_where_tensorflow_cannot_be_imported():
    proc = subprocess.run([sys.executable, "-c", BLOCKED, *WITHOUT_TENSORFLOW], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = re.search(r"^(\d+) passed in ", proc.stdout, re.M)  # nothing skipped, nothing failed
    assert summary and int(summary.group(1)) >= len(WITHOUT_TENSORFLOW), proc.stdout[-1000:]


def test_the_model_is_what_the_reader_expects(numpy_model_dir):
    snap = directory.load(numpy_model_dir)
    cfg = snap.config["_model"]
    assert {n: a.shape for n, a in snap.weights.items()} == directory.expected_shapes(cfg)
    assert snap.ngram is not None and set(snap.config["mixture"]["weights"]) == {"lstm", "ngram", "cache",
                                                                                 "pairs"}
    assert set(snap.config["files"]) == {"casing.json", "ngram.npz", "tokenizer.json", "weights.npz"}


def test_the_lstm_alone_predicts_the_bigram_of_the_text(numpy_model_dir):
    lstm = nextword.load(numpy_model_dir, user_db=None).only("lstm")
    assert lstm.suggest("The cat ", 1)[0][0] == "sleeps"
    assert lstm.suggest("Our neighbour ", 1)[0][0] == "sings"
    assert lstm.suggest("my friend laughs in the g", 1)[0][0] == "garden"


def test_a_narrow_model_suggests_by_frequency_and_is_reproducible(tmp_path):
    text = write_structured_corpus(tmp_path / "c.txt", sentences=200).read_text()
    a = write_numpy_model(tmp_path / "a", text, units=8, seed=3, mixture=None, ngram=False)
    b = write_numpy_model(tmp_path / "b", text, units=8, seed=3, mixture=None, ngram=False)
    assert directory.read_config(a)["_model"].units == 8
    assert (a / "weights.npz").read_bytes() == (b / "weights.npz").read_bytes()
    p = nextword.load(a, user_db=None)
    assert list(p.mixture.components) == ["lstm", "cache", "pairs"]
    vec = p.only("lstm").mixture.distribution(p.context_ids("qqq "))
    assert np.isclose(vec.sum(), 1) and p.tokenizer.id_to_token(int(vec.argmax())) == "the"
