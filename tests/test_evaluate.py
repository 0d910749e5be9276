"""Metrics of `nextword evaluate` on cases whose answers are known by hand."""

from __future__ import annotations

import json
import re
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

from nextword.cli.main import cli
from nextword.frontends.evaluate import KSR_WORD, keystroke_savings, ksr_from, token_scores
from nextword.modeldir.directory import expected_shapes
from nextword.modeldir.settings import ModelConfig
from nextword.prediction.lstm import Engine

from .conftest import (
    add_ngram,
    needs_dev_full,
    nextword_process,
    old_model,
    one_error_line,
    write_structured_corpus,
)
from .test_corpus import full_spool

TEXT = "Hello world, it's me."  # KSR words: hello(5) world(5) it's(4) me(2)
KN_TOTAL = 6 + 6 + 5 + 3


def oracle(paragraph: str, hit_after: int):
    """A predictor that offers the right word once `hit_after` letters of it are typed."""
    def suggest(text, n):
        word = next(m for m in KSR_WORD.finditer(paragraph) if m.end() >= len(text))
        typed = max(0, len(text) - word.start())
        return [(word.group().upper(), 1.0)] if typed >= hit_after else [("zzz", 1.0)]
    return suggest


def test_ksr_predictor_that_always_has_the_word():
    counts = keystroke_savings(oracle(TEXT, 0), [TEXT])
    assert counts == dict(ks=4, ki=0, kn=KN_TOTAL, words=4)
    assert ksr_from(counts) == pytest.approx(1 - 4 / KN_TOTAL)


def test_ksr_predictor_that_never_has_the_word():
    counts = keystroke_savings(lambda text, n: [], [TEXT])
    assert counts == dict(ks=0, ki=KN_TOTAL, kn=KN_TOTAL, words=4)
    assert ksr_from(counts) == 0


def test_ksr_hits_after_two_letters():
    # hello: h,e + accept = 3; world: 3; it's: 3; me: m,e typed out (hit at 2 = last) + 1 = 3
    counts = keystroke_savings(oracle(TEXT, 2), [TEXT])
    assert counts == dict(ks=0, ki=12, kn=KN_TOTAL, words=4)
    assert ksr_from(counts) == pytest.approx(1 - 12 / KN_TOTAL)


def test_ksr_word_limit():
    assert keystroke_savings(oracle(TEXT, 0), [TEXT], max_words=2)["words"] == 2


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    cfg = ModelConfig(vocab_size=37, embedding_dim=4, units=5, dropout=0.0)
    zeros = {name: np.zeros(shape, np.float32) for name, shape in expected_shapes(cfg).items()}
    ids = np.random.default_rng(0).integers(1, 37, size=700)
    mask = np.ones(37, dtype=bool)
    scores = token_scores("uniform", Engine(cfg, zeros), ids, mask, unk_id=0)
    assert scores.perplexity == pytest.approx(37, rel=1e-6)


def test_a_position_without_probabilities_is_a_miss():
    class Silent:  # a model with nothing to say at the even positions
        def stream_log_probs(self, ids):
            rows = np.log(np.full((len(ids), 5), 0.2))
            rows[::2] = np.nan
            yield 0, rows
    scores = token_scores("silent", Silent(), np.array([1, 2, 3, 4, 1]), np.ones(5, dtype=bool), unk_id=0)
    assert scores.top[1] == scores.top[5] == 0.5  # the odd positions' words rank first (a tie)


def test_evaluate_reports_the_lstm_the_ngram_and_the_full_predictor(numpy_model_dir, tmp_path):
    held_out = write_structured_corpus(tmp_path / "held-out.txt", sentences=200, seed=9)
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(numpy_model_dir), str(held_out), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    lstm, kn, full = report["models"]
    assert (lstm["model"], kn["model"], full["model"]) == ("LSTM", "3-gram KN", "full predictor")
    assert "Counting" not in result.stderr  # the model's own ngram.npz, from training
    assert lstm["perplexity"] < 10 and 0.3 < lstm["ksr"] < 1 and lstm["oov_rate"] == 0
    assert set(lstm["top"]) == {"1", "3", "5"} and lstm["top"]["5"] >= lstm["top"]["1"]
    for model in (kn, full):
        assert set(model) == set(lstm) and model["tokens"] == lstm["tokens"]
        assert model["ksr_words"] == lstm["ksr_words"] and 0.3 < model["ksr"] < 1
    # The weights were fitted on the validation text at the end of training.
    assert full["perplexity"] <= min(lstm["perplexity"], kn["perplexity"]) * 1.05
    assert full["ksr"] >= max(lstm["ksr"], kn["ksr"]) - 0.02
    table = CliRunner().invoke(cli, ["evaluate", "-m", str(numpy_model_dir), str(held_out)])
    header = table.stdout.splitlines()[0]
    assert header.split() == ["LSTM", "3-gram", "KN", "full", "predictor"]
    assert "keystroke savings (N=6)" in table.output


def test_evaluate_uses_the_models_own_ngram(numpy_model_copy, structured_corpus, tmp_path):
    add_ngram(numpy_model_copy, structured_corpus, {"weights": {"lstm": 0.6, "ngram": 0.3, "cache": 0.05,
                                                          "pairs": 0.05}})
    config = json.loads((numpy_model_copy / "config.json").read_text())
    config["summary"]["corpus"] = [str(tmp_path / "gone.txt")]  # not needed any more
    (numpy_model_copy / "config.json").write_text(json.dumps(config))
    held_out = write_structured_corpus(tmp_path / "h.txt", sentences=100, seed=4)
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(numpy_model_copy), str(held_out), "--json"])
    assert result.exit_code == 0, result.stderr
    lstm, kn, full = json.loads(result.stdout)["models"]
    assert kn["model"] == "3-gram KN" and "Counting" not in result.stderr
    assert kn["perplexity"] < 3 and full["perplexity"] < lstm["perplexity"] * 1.1


def test_an_old_model_counts_its_ngram_from_the_training_text(numpy_model_copy, tmp_path):
    held_out = write_structured_corpus(tmp_path / "h.txt", sentences=50, seed=3)
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(old_model(numpy_model_copy)), str(held_out),
                                      "--json"])
    assert result.exit_code == 0, result.stderr
    assert "Counting the 3-gram baseline on the training text" in result.stderr
    models = [m["model"] for m in json.loads(result.stdout)["models"]]
    assert models == ["LSTM", "3-gram KN", "full predictor"]


def test_evaluate_without_the_training_text_has_no_ngram_column(numpy_model_copy, tmp_path):
    copy = old_model(numpy_model_copy)
    config = json.loads((copy / "config.json").read_text())
    config["summary"]["corpus"] = [str(tmp_path / "gone.txt")]
    (copy / "config.json").write_text(json.dumps(config))
    held_out = write_structured_corpus(tmp_path / "h.txt", sentences=50, seed=3)
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(copy), str(held_out), "--json"])
    assert result.exit_code == 0
    assert [m["model"] for m in json.loads(result.stdout)["models"]] == ["LSTM", "full predictor"]
    assert "no n-gram baseline" in result.stderr


def test_evaluate_empty_text_is_an_error(numpy_model_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["evaluate", "-m", str(numpy_model_dir), str(empty)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: nothing to evaluate")


# What evaluate reads: stdin, /dev/stdin, text without words or without known words --------------

def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


@needs_dev_full
def test_full_disk_while_spooling_is_one_error_line(numpy_model_dir, tmp_path, monkeypatch):
    name = full_spool(tmp_path, monkeypatch)
    result = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-",
                    input="the cat sleeps\n" * 100)
    assert result.exit_code == 1
    assert one_error_line(result).startswith(f"Error: no space left on device while writing {name}")
    assert not name.exists()


def test_dev_stdin_as_a_pipe_is_evaluated(numpy_model_dir):
    text = "The cat sleeps in the garden.\nA dog barks by the river.\n" * 20
    proc = nextword_process("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "--json", "/dev/stdin",
                            input=text.encode())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"][0]["ksr_words"] == len(KSR_WORD.findall(text))


@pytest.mark.parametrize("content, message", [("   \n\n \t\n", "nothing to evaluate: the text is empty"),
                                              ("... , ! ?\n", "nothing to evaluate: the text has no words")])
def test_evaluate_text_without_words_is_an_error(numpy_model_dir, tmp_path, content, message):
    path = tmp_path / "blank.txt"
    path.write_text(content)
    result = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", str(path))
    assert result.exit_code == 1 and one_error_line(result) == f"Error: {message}"


def test_evaluate_text_of_unknown_words_has_no_perplexity(numpy_model_dir, tmp_path):
    path = tmp_path / "oov.txt"
    path.write_text("zzyzx qwxv plugh")  # (a final line end would be a known token)
    report = json.loads(invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "--json",
                               str(path)).stdout)
    assert report["models"][0]["perplexity"] is None and report["models"][0]["oov_rate"] == 1
    table = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", str(path))
    assert re.search(r"perplexity\s+n/a", table.stdout)


def test_evaluate_stdin_leaves_nothing_in_the_temporary_directory(numpy_model_dir, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ok = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-",
                input="The cat sleeps at home.\n" * 5)
    assert ok.exit_code == 0, ok.stderr
    assert list(temp.iterdir()) == []
    blank = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-", input="   \n")
    assert blank.exit_code == 1 and list(temp.iterdir()) == []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nextword.frontends.evaluate.evaluate", interrupted)
    stopped = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-", input="The cat sleeps.\n")
    assert stopped.exit_code == 130 and list(temp.iterdir()) == []
