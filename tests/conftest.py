"""Shared fixtures. Tests make their own corpora; the user's model path is never touched."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "our neighbour", "the old man"]
VERBS = {"the cat": "sleeps", "a dog": "barks", "my friend": "laughs", "the teacher": "writes",
         "our neighbour": "sings", "the old man": "walks"}
PLACES = ["in the garden", "by the river", "at home", "near the school", "on the hill"]


def write_structured_corpus(path: Path, sentences: int = 1500, seed: int = 0) -> Path:
    """Text with structure a language model can learn and a unigram model cannot: each
    subject has its own verb; sentences end with a place and a full stop."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        subject = rng.choice(SUBJECTS)
        lines.append(f"{subject.capitalize()} {VERBS[subject]} {rng.choice(PLACES)}.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def isolated_model_path(tmp_path, monkeypatch):
    """Point the default model location and the personal store into the test's temporary
    directory (no test reads or writes the user's own)."""
    monkeypatch.setenv("NEXTWORD_MODEL", str(tmp_path / "default-model"))
    monkeypatch.setenv("NEXTWORD_USER_DB", str(tmp_path / "user.db"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "default-model"


@pytest.fixture(scope="session")
def structured_corpus(tmp_path_factory) -> Path:
    return write_structured_corpus(tmp_path_factory.mktemp("corpus") / "structured.txt")


# Short context (consecutive windows, no attention), as on a large vocabulary: the tests
# that use this model are about the engine read on from one state; long context has its own.
TINY_MODEL = dict(units=32, embedding_dim=16, dropout=0.0, attention=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, structured_corpus):
    """A tiny model trained for a few short epochs: (model_dir, TrainResult)."""
    from nextword.modeldir.settings import TrainConfig
    from nextword.training.train import train

    model_dir = tmp_path_factory.mktemp("models") / "tiny"
    cfg = TrainConfig(epochs=4, seq_len=20, batch_size=16, learning_rate=0.01, seed=1, line_windows=False)
    result = train([str(structured_corpus)], model_dir, cfg, TINY_MODEL, log=lambda _m: None)
    return model_dir, result


@pytest.fixture(scope="session")
def model_dir(trained) -> Path:
    return trained[0]


@pytest.fixture(scope="session")
def numpy_model_dir(tmp_path_factory, structured_corpus) -> Path:
    """A model of the same corpus written with NumPy alone (tests/numpy_model.py: a bigram
    in LSTM form, the 3-gram counted, the mixture fitted), for tests of what the prediction
    side does with a model rather than what training learned: no TensorFlow, no waiting."""
    from .numpy_model import write_numpy_model

    return write_numpy_model(tmp_path_factory.mktemp("models") / "numpy", structured_corpus.read_text(),
                             corpus=[str(structured_corpus.resolve())])


@pytest.fixture
def numpy_model_copy(tmp_path, numpy_model_dir) -> Path:
    """A private copy of the NumPy-written model, for tests that damage or edit it."""
    import shutil

    copy = tmp_path / "numpy-model-copy"
    shutil.copytree(numpy_model_dir, copy)
    return copy


@pytest.fixture
def model_copy(tmp_path, model_dir) -> Path:
    """A private copy of the session's tiny model, for tests that damage or edit it."""
    import shutil

    copy = tmp_path / "model-copy"
    shutil.copytree(model_dir, copy)
    return copy


def refresh_digests(model_dir: Path) -> None:
    """Record the current files' sizes and digests in config.json, as a tool that edits a
    model on purpose would (a file changed without this reads as damaged)."""
    import hashlib
    import json

    config_file = model_dir / "config.json"
    config = json.loads(config_file.read_text())
    config["files"] = {p.name: {"bytes": p.stat().st_size,
                                "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                       for p in sorted(model_dir.iterdir()) if p.name != "config.json"}
    config_file.write_text(json.dumps(config))


def old_model(model: Path) -> Path:
    """`model` as a model from before ngram.npz and fitted weights."""
    import json

    config = json.loads((model / "config.json").read_text())
    config.pop("mixture", None)
    config.get("files", {}).pop("ngram.npz", None)
    (model / "ngram.npz").unlink(missing_ok=True)
    (model / "config.json").write_text(json.dumps(config))
    return model


def add_ngram(model_dir: Path, corpus: Path, mixture: dict | None = None) -> None:
    """Write the model at `model_dir` again as the trainer does once it counts the 3-gram:
    with ngram.npz (counted on `corpus`) and, if given, config["mixture"]."""
    import json

    import numpy as np

    from nextword.modeldir import directory
    from nextword.prediction import ngram_counts

    snap = directory.load(model_dir)
    ids = np.asarray(snap.tokenizer.encode(corpus.read_text()).ids)
    arrays = ngram_counts.build(snap.tokenizer.get_vocab_size(), [ids])
    config = json.loads((model_dir / "config.json").read_text())
    if mixture is not None:
        config["mixture"] = mixture
    directory.write(model_dir, config, snap.tokenizer, snap.weights,
                   extra=lambda tmp: ngram_counts.save(arrays, tmp))


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


def one_error_line(result_or_stderr) -> str:
    """The one `Error:` line a command wrote (a CliRunner result or a process's stderr)."""
    err = getattr(result_or_stderr, "stderr", result_or_stderr)
    err = err.decode() if isinstance(err, bytes) else err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def nextword_process(*args, env=None, **kwargs):
    """`python -m nextword ARGS` as a real process, its output captured."""
    return subprocess.run([sys.executable, "-m", "nextword", *args], capture_output=True,
                          timeout=60, env=env, **kwargs)
