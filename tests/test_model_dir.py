"""What happens to a model directory (and to a user's directory) whatever goes wrong: only
a model is ever replaced, only by a validated, finite and (on the same text) better one,
atomically for readers, by one writer at a time; leftovers of a killed run are cleaned."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nextword.cli.main import cli
from nextword.errors import ModelError
from nextword.modeldir import directory, swap
from nextword.modeldir.settings import TrainConfig
from nextword.prediction.predictor import Predictor
from nextword.training.callbacks import Progress

from .conftest import refresh_digests, write_structured_corpus

FAST = ["--units", "8", "--embedding-dim", "8", "--epochs", "1", "--seq-len", "10", "--batch-size", "8",
        "--attention", "0", "--consecutive-windows"]  # short context: what these tests train is not the point
LEARNS = [*FAST, "--epochs", "4", "--learning-rate", "0.01"]  # enough to beat the unigram baseline


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error(result, fragment):
    assert result.exit_code != 0, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its bytes."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def corpus(tmp_path):
    return write_structured_corpus(tmp_path / "c.txt", sentences=400)


# --- a directory that is not a model is never touched -----------------------------------

def test_a_users_directory_is_refused_before_training(tmp_path):
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "notes.txt").write_text("my notes\n")
    (notes / "sub" / "todo.txt").write_text("buy milk\n")
    corpus = write_structured_corpus(notes / "corpus.txt", sentences=400)
    before = snapshot(notes)
    result = run("train", corpus, "-m", notes, *FAST)
    assert_one_error(result, "not a nextword model")
    assert "Building the vocabulary" not in result.stderr  # refused before any work
    assert snapshot(notes) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_the_current_directory_is_refused_when_it_is_not_a_model(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert_one_error(run("train", corpus, "-m", ".", *FAST), "not a nextword model")
    assert snapshot(tmp_path) == before


def test_a_directory_with_a_foreign_config_json_is_not_a_model(tmp_path, corpus):
    app = tmp_path / "app"
    app.mkdir()
    (app / "config.json").write_text('{"theme": "dark"}')
    assert_one_error(run("train", corpus, "-m", app, *FAST), "not a nextword model")
    assert (app / "config.json").read_text() == '{"theme": "dark"}'


def test_an_empty_directory_receives_the_model(tmp_path, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("train", corpus, "-m", empty, *FAST).exit_code == 0
    assert (empty / "weights.npz").exists() and Predictor.load(empty).suggest("the ")


# --- an existing model is replaced only by a validated, finite, better one --------------

def interrupt_at_step(monkeypatch, step: int, exc=KeyboardInterrupt):
    original = Progress.on_train_batch_end

    def patched(self, batch, logs=None):
        if batch + 1 >= step:
            raise exc()
        original(self, batch, logs)

    monkeypatch.setattr(Progress, "on_train_batch_end", patched)


def test_ctrl_c_in_the_first_epoch_keeps_the_model_that_was_there(model_copy, corpus, monkeypatch):
    before = snapshot(model_copy)
    interrupt_at_step(monkeypatch, 3)
    result = run("train", corpus, "-m", model_copy, *FAST)
    assert result.exit_code == 130, result.stderr
    assert "kept unchanged" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(model_copy) == before


def test_ctrl_c_before_validation_saves_the_unvalidated_model_where_there_was_none(
        tmp_path, corpus, monkeypatch):
    interrupt_at_step(monkeypatch, 3)
    result = run("train", corpus, "-m", tmp_path / "new", *FAST)
    assert result.exit_code == 130 and "not yet validated" in result.stderr
    assert Predictor.load(tmp_path / "new").suggest("the ")


@pytest.mark.parametrize("existing", [True, False])
def test_a_diverged_run_saves_nothing_and_says_so(model_copy, tmp_path, corpus, existing):
    dest = model_copy if existing else tmp_path / "new"
    before = snapshot(dest) if existing else None
    result = run("train", corpus, "-m", dest, *FAST, "--learning-rate", "1e30")
    assert_one_error(result, "training diverged")
    if existing:
        assert "kept unchanged" in result.stderr and snapshot(dest) == before
    else:
        assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]


def test_a_worse_model_on_the_same_text_does_not_replace_a_better_one(model_copy, trained,
                                                                      structured_corpus):
    from nextword.training.train import train

    _, first = trained
    before = snapshot(model_copy)
    # The settings of the session's model, stopped by the budget after a few steps.
    cfg = TrainConfig(epochs=1, seq_len=20, batch_size=16, learning_rate=0.01, seed=1, time_budget=0.5,
                      line_windows=False)
    result = train([str(structured_corpus)], model_copy, cfg, dict(units=32, embedding_dim=16,
                   dropout=0.0, attention=0), started=time.monotonic(), log=lambda _m: None)
    assert result.kept and f"not better than its {first.val_perplexity:.1f}" in result.kept
    assert not result.wrote_model
    assert result.val_perplexity > first.val_perplexity
    assert snapshot(model_copy) == before


def test_a_model_on_other_text_replaces_the_old_one_once_validated(model_copy, corpus):
    result = run("train", corpus, "-m", model_copy, *LEARNS)
    assert result.exit_code == 0 and "Model written to" in result.stdout, result.stderr
    assert directory.read_config(model_copy)["summary"]["corpus"] == [str(corpus.resolve())]


def test_a_model_no_better_than_unigram_does_not_replace_one_on_other_text(model_copy, corpus):
    before = snapshot(model_copy)
    # One short epoch at a tiny step: learned nothing.
    result = run("train", corpus, "-m", model_copy, *FAST, "--learning-rate", "1e-4")
    assert result.exit_code == 0 and "not better than the unigram baseline" in result.stdout
    assert snapshot(model_copy) == before


def test_disk_full_while_saving_keeps_the_old_model(model_copy, corpus, monkeypatch):
    before = snapshot(model_copy)

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "weights.npz")

    monkeypatch.setattr(directory.np, "savez", full)
    result = run("train", corpus, "-m", model_copy, *LEARNS)
    assert_one_error(result, "No space left on device")
    assert "kept unchanged" in result.stderr and snapshot(model_copy) == before
    assert not [p for p in model_copy.parent.iterdir() if p.name.startswith(".model-copy.")]


# --- non-finite weights are never read --------------------------------------------------

def poison(model_dir: Path) -> None:
    with np.load(model_dir / "weights.npz") as npz:
        arrays = dict(npz)
    arrays["output_bias"][3] = np.nan
    np.savez(model_dir / "weights.npz", **arrays)
    refresh_digests(model_dir)


@pytest.mark.parametrize("command", [["predict", "the "], ["generate", "The"], ["evaluate", "EVAL"],
                                     ["info"]])
def test_nan_weights_are_refused_by_every_command(model_copy, corpus, command):
    poison(model_copy)
    args = [str(corpus) if a == "EVAL" else a for a in command]
    assert_one_error(run(*args, "-m", model_copy), "NaN")


def test_a_file_that_does_not_match_config_json_is_refused(model_copy):
    with open(model_copy / "weights.npz", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelError, match="not the file config.json describes"):
        Predictor.load(model_copy)


# --- atomic for readers, one writer at a time, leftovers recovered ----------------------

def write_variant(model_dir: Path, dest: Path, scale: float, snap=None) -> dict:
    """A copy of `model_dir`'s model at `dest` (through directory.write) with other weights."""
    snap = snap or directory.load(model_dir)
    arrays = {k: v * scale for k, v in snap.weights.items()}
    config = {k: v for k, v in snap.config.items() if not k.startswith("_") and k != "files"}
    config["summary"]["trained_at"] = f"variant {scale}"
    directory.write(dest, config, snap.tokenizer, arrays)
    return arrays


def test_a_reader_never_mixes_files_of_two_models(model_dir, tmp_path, monkeypatch):
    dest = tmp_path / "m"
    write_variant(model_dir, dest, 1.0)
    source = directory.load(model_dir)
    read_config = directory.read_config
    calls = []

    def read_config_then_replace(path):
        config = read_config(path)
        if not calls:  # a writer replaces the model after the reader read config.json
            calls.append(write_variant(model_dir, dest, 0.5, source))
        return config

    monkeypatch.setattr(directory, "read_config", read_config_then_replace)
    snap = directory.load(dest)
    assert snap.config["summary"]["trained_at"] == "variant 0.5"
    np.testing.assert_array_equal(snap.weights["embedding"], calls[0]["embedding"])


def test_a_crash_between_the_renames_loses_nothing(model_dir, tmp_path, corpus, monkeypatch):
    dest = tmp_path / "m"
    write_variant(model_dir, dest, 1.0)
    monkeypatch.setattr(swap, "_exchange", lambda a, b: False)  # a file system without it
    real_rename = os.rename

    def rename_then_crash(src, dst):
        if Path(dst) == dest:
            raise KeyboardInterrupt  # killed after the old model was set aside
        real_rename(src, dst)

    monkeypatch.setattr(swap.os, "rename", rename_then_crash)
    with pytest.raises(KeyboardInterrupt):
        write_variant(model_dir, dest, 0.5)
    monkeypatch.setattr(swap.os, "rename", real_rename)
    assert not dest.exists()
    assert Predictor.load(dest).suggest("the ")  # readers find the model set aside
    result = run("train", corpus, "-m", dest, *FAST)  # the next writer puts it back first
    assert result.exit_code == 0, result.stderr
    assert "restored the model" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")] == []


def test_the_swap_is_one_step_where_the_file_system_allows(model_dir, tmp_path, monkeypatch):
    dest = tmp_path / "m"
    write_variant(model_dir, dest, 1.0)
    renames = []
    monkeypatch.setattr(swap.os, "rename", lambda *a: renames.append(a))
    write_variant(model_dir, dest, 0.5)
    assert renames == []  # renameat2(RENAME_EXCHANGE): no moment without a model at dest
    assert directory.load(dest).config["summary"]["trained_at"] == "variant 0.5"


def test_a_second_writer_is_refused(model_copy, corpus):
    before = snapshot(model_copy)
    with swap.writer_lock(model_copy.resolve()):
        assert_one_error(run("train", corpus, "-m", model_copy, *FAST), "is writing the model")
    assert snapshot(model_copy) == before
    assert not (model_copy.parent / ".model-copy.lock").exists()  # released: gone


def test_a_users_file_named_like_the_lock_is_left_alone(tmp_path, corpus):
    mine = tmp_path / ".m.lock"
    mine.write_text("my own notes\n")
    assert_one_error(run("train", corpus, "-m", tmp_path / "m", *FAST), "not nextword's lock file")
    assert mine.read_text() == "my own notes\n" and not (tmp_path / "m").exists()


def test_leftovers_of_killed_runs_are_removed_and_nothing_else(tmp_path, corpus, monkeypatch):
    import fcntl

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    long_ago = time.time() - 3600

    def work_folder(name, pid_file=True):
        folder = temp / name
        folder.mkdir()
        (folder / "corpus.bin").write_bytes(b"\0" * 10)
        if pid_file:
            (folder / "nextword.pid").write_text("12345\n")
        os.utime(folder, (long_ago, long_ago))  # older than a run that is only starting
        return folder

    dead = work_folder("nextword-killed")            # its process is gone: the lock is free
    alive = work_folder("nextword-running")          # a live run holds its lock
    held = os.open(alive / "nextword.pid", os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    foreign = work_folder("nextword-notes", pid_file=False)
    half = tmp_path / ".m.tmp-abcd1234"               # a save killed half-way
    half.mkdir()
    (half / "weights.npz").write_bytes(b"partial")
    users = tmp_path / ".m.tmp-mine"                  # not a name nextword makes
    users.mkdir()
    (users / "weights.npz").write_text("the user's")
    other = tmp_path / ".m.old-1.tmp-abcd1234"        # another model's ("m.old-1") leftover
    other.mkdir()
    (other / "config.json").write_text("{}")
    try:
        result = run("train", corpus, "-m", tmp_path / "m", *FAST)
    finally:
        os.close(held)
    assert result.exit_code == 0, result.stderr
    assert not dead.exists() and not half.exists()
    assert alive.exists() and foreign.exists() and users.exists() and other.exists()
    ours = sorted(p.name for p in temp.iterdir() if p.name.startswith("nextword-"))
    assert ours == ["nextword-notes", "nextword-running"]  # (TensorFlow leaves autograph files)


def test_a_model_set_aside_is_restored_into_an_empty_directory(model_dir, tmp_path, corpus):
    dest = tmp_path / "m"
    write_variant(model_dir, dest, 1.0)
    aside = tmp_path / ".m.old-abcd1234"
    os.rename(dest, aside)        # killed between the two renames of a swap ...
    dest.mkdir()                  # ... then a script ran `mkdir -p m`
    assert directory.load(dest).config["summary"]["trained_at"] == "variant 1.0"
    assert_one_error(run("train", corpus, "-m", dest, *FAST, "--learning-rate", "1e30"), "diverged")
    assert not aside.exists() and directory.load(dest).config["summary"]["trained_at"] == "variant 1.0"


def test_a_symlinked_model_path_writes_through_the_link(tmp_path, corpus):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert run("train", corpus, "-m", link, *FAST).exit_code == 0
    assert link.is_symlink() and (real / "weights.npz").exists()


def test_sigterm_keeps_the_model_that_was_there_and_exits_143(model_copy, corpus, monkeypatch):
    from nextword.errors import Terminated

    before = snapshot(model_copy)
    interrupt_at_step(monkeypatch, 3, Terminated)
    result = run("train", corpus, "-m", model_copy, *FAST)
    assert result.exit_code == 143 and "kept unchanged" in result.stderr
    assert snapshot(model_copy) == before


def test_an_interrupt_right_after_the_swap_says_the_new_model_is_there(tmp_path, corpus, monkeypatch):
    calls = []

    def interrupted_sync(path):
        if not calls:
            calls.append(path)
            raise KeyboardInterrupt  # Ctrl-C lands just after the swap committed

    monkeypatch.setattr(swap, "sync_dir", interrupted_sync)
    result = run("train", corpus, "-m", tmp_path / "m", *FAST)
    assert result.exit_code == 130 and "best model so far" in result.stderr, result.stderr
    assert Predictor.load(tmp_path / "m").suggest("the ")


def test_nan_weights_are_never_written(model_dir, tmp_path):
    from nextword.errors import NonFiniteWeights

    snap = directory.load(model_dir)
    arrays = {**snap.weights, "embedding": snap.weights["embedding"] * np.inf}
    with pytest.raises(NonFiniteWeights):
        directory.write(tmp_path / "m", {"format_version": 1}, snap.tokenizer, arrays)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_saving_the_tokenizer_or_encoding_is_one_error_line(
        corpus, monkeypatch, tmp_path):
    from nextword.text import tokenizer
    from nextword.training import data

    def full_tokenizer(self, path):
        raise Exception("No space left on device (os error 28)")  # what the Rust side raises

    monkeypatch.setattr(tokenizer.Tokenizer, "save", full_tokenizer)
    result = run("train", corpus, "-m", tmp_path / "m", *FAST)
    assert_one_error(result, "No space left on device")
    assert "nothing was saved" in result.stderr and list(tmp_path.iterdir()) == [corpus]
    monkeypatch.undo()

    class FullFile(io.BufferedWriter):
        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data, "open", lambda path, mode: FullFile(io.FileIO(path, mode)), raising=False)
    result = run("train", corpus, "-m", tmp_path / "new", *FAST)
    assert_one_error(result, "no space left on device while writing")
    assert "corpus.bin" in result.stderr and "TMPDIR" in result.stderr


# --- wrong numbers and tracebacks where one Error line belongs --------------------------

def test_a_whitespace_corpus_says_how_many_tokens_it_has(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("   \n\n \n")
    result = run("train", blank, "-m", tmp_path / "m")
    assert_one_error(result, "too few tokens to train on: 3 ")


def test_an_empty_validation_file_is_an_error(tmp_path, corpus):
    empty = tmp_path / "valid.txt"
    empty.write_text("")
    assert_one_error(run("train", corpus, "--valid", empty, "-m", tmp_path / "m", *FAST),
                     "no text to validate on")


def test_the_recorded_digests_match_the_files(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    names = sorted(p.name for p in model_dir.iterdir() if p.name != "config.json")
    assert sorted(config["files"]) == names
    for name in names:
        content = (model_dir / name).read_bytes()
        assert config["files"][name] == {"bytes": len(content),
                                         "sha256": hashlib.sha256(content).hexdigest()}, name


def test_copying_a_model_keeps_it_loadable(model_dir, tmp_path):
    shutil.copytree(model_dir, tmp_path / "copy")
    assert Predictor.load(tmp_path / "copy").suggest("A dog ")[0][0] == "barks"


def test_editing_config_keeps_its_mode(numpy_model_copy):
    """update_config replaces config.json with a file of the same permissions (mkstemp's
    private 0600 made the trained model's config.json unreadable to others, unlike the rest)."""
    import stat

    config = numpy_model_copy / "config.json"
    for mode in (0o644, 0o640):
        config.chmod(mode)
        directory.update_config(numpy_model_copy, lambda c: c.update(note="x"))
        assert stat.S_IMODE(config.stat().st_mode) == mode
    assert json.loads(config.read_text())["note"] == "x"
