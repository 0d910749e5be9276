"""Reading in windows (prediction/windowed.py): each prediction comes from a reader that
started from a zero state W // 2 to W - 1 tokens back, as the network saw its training
windows; cached per keystroke, streamed for whole texts, chosen by training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nextword.modeldir import directory
from nextword.modeldir.settings import ModelConfig
from nextword.prediction import windowed
from nextword.prediction.lstm import Engine
from nextword.prediction.predictor import Predictor
from nextword.prediction.windowed import WindowedEngine, reader_start

from .conftest import refresh_digests


def random_engine(attention: int, window: int, seed: int = 0) -> Engine:
    cfg = ModelConfig(vocab_size=40, embedding_dim=8, units=12, tied=False, dropout=0.0,
                      attention=attention, attention_span=window)
    rng = np.random.default_rng(seed)
    return Engine(cfg, {name: rng.normal(0, 0.7, shape).astype(np.float32)
                        for name, shape in directory.expected_shapes(cfg).items()})


def test_a_reader_has_read_half_a_window_to_a_whole_one():
    for half in (1, 5, 17):
        for n in range(1, 200):
            start = reader_start(n, half)
            assert start % half == 0
            assert half <= n - start < 2 * half or (start == 0 and n < 2 * half), (half, n)


@pytest.mark.parametrize("attention", [0, 4])
def test_each_prediction_is_the_network_read_from_its_readers_start(attention):
    window = 10
    engine = random_engine(attention, window)
    reader = WindowedEngine(engine, window)
    ids = np.random.default_rng(1).integers(0, 40, size=60).tolist()
    # Typing token by token, a backspace over a few, a jump back, and on again.
    lengths = [*range(1, 41), 37, 33, 45, 3, 52, *range(53, 61)]
    for n in lengths:
        want = engine.fork().distribution(ids[reader_start(n, window // 2):n])
        assert np.max(np.abs(reader.distribution(ids[:n]) - want)) <= 1e-6, n
    # Reading in windows is not reading on: the test sees the difference.
    assert np.max(np.abs(reader.distribution(ids) - engine.fork().distribution(ids))) > 1e-3


@pytest.mark.parametrize("attention", [0, 4])
def test_the_stream_gives_what_the_cached_reader_gives(attention):
    window = 9  # odd: readers restart every 4 tokens and predict after 4 to 7
    engine = random_engine(attention, window, seed=2)
    ids = np.random.default_rng(3).integers(0, 40, size=50)
    reader = WindowedEngine(engine, window)
    want = np.log(np.stack([reader.fork().distribution(ids[:n]) for n in range(1, 51)]))
    for chunk in (1, 6, 50, 64):
        parts = list(reader.stream_log_probs(ids, chunk=chunk))
        assert [start for start, _ in parts] == list(range(0, 50, chunk))
        assert np.max(np.abs(np.concatenate([rows for _, rows in parts]) - want)) <= 1e-5, chunk


def test_each_typed_token_costs_two_steps(monkeypatch):
    engine = random_engine(4, 12)
    reader = WindowedEngine(engine, 12)
    ids = np.random.default_rng(4).integers(0, 40, size=80).tolist()
    reader.distribution(ids[:40])
    steps = []
    forward = Engine._layers_forward
    monkeypatch.setattr(Engine, "_layers_forward", lambda self, state, chunk: steps.append(len(chunk))
                        or forward(self, state, chunk))
    for n in range(41, 81):
        reader.distribution(ids[:n])
    assert sum(steps) <= 2 * 40


def test_the_better_reading_is_chosen_by_at_least_one_percent(monkeypatch):
    engine = random_engine(0, 10)
    ids = np.arange(100) % 40
    assert windowed.choose_reading(engine, 10, ids[:40]) == (0, {})  # too short to tell
    for continuous, windows, chosen in ((100.0, 98.9, 10), (100.0, 99.5, 0), (100.0, 120.0, 0)):
        monkeypatch.setattr(windowed, "perplexity", lambda e, _ids, c=continuous, w=windows:
                            w if isinstance(e, WindowedEngine) else c)
        assert windowed.choose_reading(engine, 10, ids) == (chosen, {"continuous": continuous,
                                                                     "windows": windows})


def test_perplexity_is_measured_on_every_token_after_the_first():
    engine = random_engine(0, 10)
    ids = np.random.default_rng(5).integers(0, 40, size=30)
    probs = [engine.fork().distribution(ids[:n])[ids[n]] for n in range(1, 30)]
    assert windowed.perplexity(engine, ids) == pytest.approx(np.exp(-np.mean(np.log(probs))), rel=1e-5)


def test_training_records_the_reading_and_the_predictor_reads_that_way(tmp_path):
    from click.testing import CliRunner

    from nextword.cli.main import cli

    from .conftest import write_structured_corpus

    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    model = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", str(corpus), "-m", str(model), "--epochs", "1",
                                      "--units", "16", "--embedding-dim", "8", "--seq-len", "12",
                                      "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "Reading: " in result.output and "in windows of 12 " in result.output
    reading = directory.read_config(model)["_model"].reading_window
    assert reading in (0, 12)
    assert isinstance(Predictor.load(model, user_db=None).engine, WindowedEngine) == bool(reading)

    # A model told to read in windows (here by hand) is read so by every command.
    config = json.loads((model / directory.CONFIG).read_text())
    config["model"]["reading_window"] = 12
    (model / directory.CONFIG).write_text(json.dumps(config))
    refresh_digests(model)
    predictor = Predictor.load(model, user_db=None)
    assert isinstance(predictor.engine, WindowedEngine) and predictor.engine.window == 12
    text = "the cat sat on the mat " * 8
    assert predictor.suggest(text, 3)
    info = CliRunner().invoke(cli, ["info", "-m", str(model)])
    assert "windows of 12" in info.output, info.output


def test_a_config_from_before_reading_windows_reads_on():
    from nextword.modeldir.settings import from_dict

    assert from_dict(ModelConfig, {"vocab_size": 10}).reading_window == 0
    with pytest.raises(ValueError):
        ModelConfig(vocab_size=10, reading_window=1)


def test_a_fork_adapts_apart_from_the_texts_beside_it():
    """Dynamic evaluation sets the adapted output layer on every engine of the text's
    WindowedEngine: another text's fork (an editor's other document) keeps the trained one."""
    from nextword.prediction.dynamic import OutputAdapter

    base = WindowedEngine(random_engine(0, 10), 10)
    trained = base.engine.output_kernel.copy()
    mine, other = base.fork(), base.fork()
    ids = list(range(2, 30))

    def stream(engine):
        return np.concatenate([rows for _, rows in engine.stream_log_probs(ids)])

    before = stream(other)
    adapter = OutputAdapter(mine, step=1.0, decay=0.0)
    adapter.learn([1, *ids[:12], 1])
    assert not np.allclose(stream(mine), before)  # this text adapted ...
    assert np.array_equal(stream(other), before)  # ... the other did not
    assert np.array_equal(base.engine.output_kernel, trained)
    assert OutputAdapter(base.fork()).kernel0 is base.engine.output_kernel  # a new text: trained
