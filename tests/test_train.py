"""Training through the library and the CLI, and every bad input the trainer must refuse."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from corpora import longrange
from nextword.cli.main import cli
from nextword.modeldir import directory
from nextword.training.callbacks import Progress

from .conftest import write_structured_corpus


def test_model_learns_far_below_unigram_perplexity(trained):
    _, result = trained
    assert result.summary.unigram_perplexity > 8
    assert result.val_perplexity < 0.5 * result.summary.unigram_perplexity


def test_model_directory_is_complete(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["casing.json", "config.json", "model.keras", "ngram.npz", "tokenizer.json",
                     "weights.npz"]  # (no lexicon.json: every word of this corpus is in the vocabulary)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["format_version"] == 1
    assert config["summary"]["train_tokens"] > 1000 and config["summary"]["val_perplexity"] > 1
    with np.load(model_dir / "weights.npz", allow_pickle=False) as npz:
        assert npz["lstm_0_kernel"].shape == (16, 4 * 32) and npz["lstm_0_kernel"].dtype == np.float32
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_info_shows_the_model_card(model_dir):
    result = CliRunner().invoke(cli, ["info", "-m", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "validation perplexity" in result.output and "LSTM 32" in result.output


def run_train(args, **kwargs):
    return CliRunner().invoke(cli, ["train", *args], **kwargs)


def assert_error(result, fragment):
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr and result.stderr.rstrip().endswith(errors[0])


def test_train_with_defaults_writes_the_default_location(tmp_path, isolated_model_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    with corpus.open("a") as f:  # words below the vocabulary's cut (seen once)
        f.write("At home, Mrs Smallridge's arrowroot arrived.\n")
    result = run_train([str(corpus), "--units", "16", "--embedding-dim", "8", "--epochs", "1",
                        "--seq-len", "10"])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"Model written to {isolated_model_path}" in result.output
    info = CliRunner().invoke(cli, ["info"])
    assert info.exit_code == 0 and "4 below the vocabulary's cut" in info.stdout
    # The rare words are kept (lexicon.json, in the digests) and complete a typed prefix.
    config = directory.read_config(isolated_model_path)
    rare = json.loads((isolated_model_path / "lexicon.json").read_text())
    assert "lexicon.json" in config["files"]
    assert rare["counts"] == {"arrived": 1, "arrowroot": 1, "mrs": 1, "smallridge's": 1}
    assert rare["display"] == {"mrs": "Mrs", "smallridge's": "Smallridge's"}
    suggested = CliRunner().invoke(cli, ["predict", "-k", "3", "The cat saw Mrs smal"]).stdout.split()
    assert suggested == ["Smallridge's"]
    assert set(CliRunner().invoke(cli, ["predict", "-k", "3", "The cat arr"]).stdout.split()) == {
        "arrived", "arrowroot"}
    # Each stage is announced as it starts, in order, numbered as lmplz numbers its own.
    stages = [line for line in result.stderr.splitlines() if line.startswith("=== ")]
    assert stages == ["=== 1/5 Reading the corpus ===", "=== 2/5 Setting up the network ===",
                      "=== 3/5 Counting 3-grams in the training text ===",
                      "=== 4/5 Training the network ===",
                      "=== 5/5 Fitting the predictor to the saved network ==="], result.stderr


@pytest.mark.parametrize("content,fragment", [
    (b"", "empty corpus"),
    (b"   \n\n", "too few tokens"),
    (b"only a handful of words here\n", "too few tokens"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
])
def test_unusable_corpus_is_refused_and_existing_model_kept(tmp_path, model_dir, content, fragment):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    before = (model_dir / "config.json").read_bytes()
    assert_error(run_train([str(bad), "-m", str(model_dir), "--batch-size", "64"]), fragment)
    assert (model_dir / "config.json").read_bytes() == before


def test_missing_corpus_path(tmp_path):
    assert_error(run_train([str(tmp_path / "nope.txt")]), "no such file")


def test_unwritable_model_location(tmp_path, structured_corpus):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_error(run_train([str(structured_corpus), "-m", str(blocker / "model")]), "cannot write")


def test_resume_without_a_model(tmp_path, structured_corpus):
    assert_error(run_train([str(structured_corpus), "-m", str(tmp_path / "none"), "--resume"]),
                 "to resume")


def test_unknown_format_version_is_refused(model_copy, structured_corpus):
    copy = model_copy
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    assert_error(CliRunner().invoke(cli, ["info", "-m", str(copy)]), "format_version 99")
    assert_error(run_train([str(structured_corpus), "-m", str(copy), "--resume"]), "format_version 99")


def test_bad_time_budget_is_a_usage_error(structured_corpus):
    result = run_train([str(structured_corpus), "--time-budget", "soon"])
    assert result.exit_code == 2 and "not a duration" in result.stderr


def test_tying_to_a_mismatched_projection_is_a_usage_error(structured_corpus):
    result = run_train([str(structured_corpus), "--embedding-dim", "8", "--projection-dim", "6"])
    assert result.exit_code == 2 and "tied embeddings need" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    corpus.write_bytes(corpus.read_bytes() + b"caf\xe9 na\xefve\n")
    model = tmp_path / "m"
    result = run_train([str(corpus), "-m", str(model), "--units", "8", "--embedding-dim", "8",
                        "--seq-len", "10", "--epochs", "1"])
    assert result.exit_code == 0, result.stderr
    assert "replaced 2 invalid UTF-8 byte(s)" in result.stderr


def test_resume_continues_from_the_saved_model(model_copy, trained, structured_corpus):
    _, first = trained
    copy = model_copy
    saved = directory.read_config(copy)["training"]["precision"]  # what auto chose here
    other = "float32" if saved == "mixed_bfloat16" else "mixed_bfloat16"
    result = run_train([str(structured_corpus), "-m", str(copy), "--resume", "--epochs", "1",
                        "--batch-size", "16", "--seq-len", "20", "--precision", other])
    assert result.exit_code == 0, result.stderr
    config = directory.read_config(copy)
    # The saved model's own arithmetic is used, and recorded, whatever the flags say.
    assert config["training"]["precision"] == saved
    summary = directory.summary(config)
    if "Model not replaced" in result.stdout:  # same text: only a better model replaces it
        assert summary.epochs_done == first.summary.epochs_done and "not better than its" in result.stdout
    else:
        assert summary.epochs_done == first.summary.epochs_done + 1
        assert summary.val_perplexity < first.val_perplexity


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_model_and_says_how_to_resume(tmp_path):
    # Text whose validation keeps improving for many epochs (the long-range link, in long
    # context's patience), so early stopping cannot end training before the signal.
    corpus = tmp_path / "c.txt"
    longrange.write(str(corpus), 1000, 30, 60)
    model = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nextword", "train", str(corpus), "-m", str(model), "--epochs", "500",
         "--units", "16", "--embedding-dim", "8", "--batch-size", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (model / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (model / "config.json").exists(), proc.stderr.read() if proc.poll() is not None else ""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    config = directory.read_config(model)
    directory.read_weights(model, config["_model"])  # complete and loadable
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]


@pytest.mark.parametrize("where", ["mixture.fit_columns", "adaptation.fit"])
def test_ctrl_c_while_fitting_the_mixture_keeps_the_saved_model(tmp_path, monkeypatch, where):
    from nextword.prediction import adaptation, mixture

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    module, name = where.split(".")
    monkeypatch.setattr({"mixture": mixture, "adaptation": adaptation}[module], name, interrupted)
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    result = run_train([str(corpus), "-m", str(tmp_path / "m"), "--units", "8", "--embedding-dim", "8",
                        "--seq-len", "10", "--epochs", "1"])
    assert result.exit_code == 130, result.stderr
    assert "Interrupted: while fitting the mixture's weights" in result.stderr
    assert "Traceback" not in result.stderr
    snap = directory.load(tmp_path / "m")  # complete, with its 3-gram, without fitted weights
    assert snap.ngram is not None and "mixture" not in snap.config


def test_a_corpus_without_line_ends_keeps_the_default_adaptation(tmp_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    corpus.write_text(corpus.read_text().replace("\n", " "))
    result = run_train([str(corpus), "-m", str(tmp_path / "m"), "--units", "8", "--embedding-dim", "8",
                        "--seq-len", "10", "--epochs", "1"])
    assert result.exit_code == 0, result.stderr
    assert ("learning as you go keeps its default settings (the validation text has no line end"
            in result.stderr)
    config = directory.read_config(tmp_path / "m")
    assert "mixture" in config and "adaptation" not in config


def test_stop_reason_reports_the_epoch_limit(tmp_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    result = run_train([str(corpus), "-m", str(tmp_path / "m"), "--units", "8", "--embedding-dim", "8",
                        "--seq-len", "10", "--epochs", "2"])
    assert result.exit_code == 0, result.stderr
    assert "stopped by epochs" in result.stdout
    assert directory.summary(directory.read_config(tmp_path / "m")).stopped_because == "epochs"


def test_progress_says_when_the_learning_rate_is_halved():
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    net.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    stream = io.StringIO()
    progress = Progress(10, 5, None, None, stream=stream)
    halve = keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1, verbose=0)
    for callback in (progress, halve):
        callback.set_model(net)
    halve.on_train_begin()
    for epoch, val_loss in enumerate([1.0, 1.1, 1.2]):  # no better validation after the first
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
        halve.on_epoch_end(epoch, {"val_loss": val_loss})
    progress.on_epoch_begin(3)
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if line.startswith("learning rate")] == [
        "learning rate 0.005 (was 0.01: validation stalled)",
        "learning rate 0.0025 (was 0.005: validation stalled)"]
