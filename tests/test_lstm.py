"""The NumPy engine against the Keras model it was exported from, and its state cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nextword.errors import ModelError
from nextword.modeldir import directory
from nextword.prediction.lstm import CHUNK, KEEP_STATES, Engine

from .conftest import refresh_digests


def keras_next_probs(model_dir, ids):
    """The saved Keras model's answer, computed in float32 (it may have been trained with
    bfloat16 arithmetic; the engine, like the weights, is float32)."""
    import keras

    from nextword.training.network import build, next_token_logits

    saved = keras.saving.load_model(model_dir / directory.KERAS, safe_mode=True)
    model = build(directory.read_config(model_dir)["_model"])
    model.set_weights(saved.get_weights())
    logits = next_token_logits(model, [ids])[0, -1]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_engine_matches_keras_including_state_carried_across_queries(model_dir):
    engine = Engine.load(model_dir)
    rng = np.random.default_rng(0)
    ids = [1] + rng.integers(0, engine.vocab_size, size=40).tolist()
    # Grow, shrink and regrow the query as typing and backspacing do.
    for n in (3, 10, 25, 18, 41, 5):
        got = engine.distribution(ids[:n])
        want = keras_next_probs(model_dir, ids[:n])
        assert np.max(np.abs(got - want)) <= 1e-4, n


def two_layer_model(tmp_path):
    from nextword.modeldir.settings import ModelConfig
    from nextword.training.network import build, export_weights

    cfg = ModelConfig(vocab_size=50, embedding_dim=8, units=12, layers=2, projection_dim=6, tied=False,
                      dropout=0.0)
    net = build(cfg)
    return cfg, net, export_weights(net, cfg)


def test_parity_with_two_layers_and_a_projection(tmp_path):
    from nextword.training.network import next_token_logits

    cfg, net, arrays = two_layer_model(tmp_path)
    engine = Engine(cfg, arrays)
    ids = np.random.default_rng(1).integers(0, 50, size=30).tolist()
    logits = next_token_logits(net, [ids])[0, -1]
    want = np.exp(logits - logits.max())
    want /= want.sum()
    assert np.max(np.abs(engine.distribution(ids) - want)) <= 1e-5


@pytest.mark.parametrize("heads", [1, 4])
def test_attention_reads_the_same_positions_as_in_training(tmp_path, heads):
    """Keras and the engine agree with an attention span shorter than the text, while a
    query grows, shrinks and jumps back, and in stream_log_probs across chunk edges."""
    from nextword.modeldir.settings import ModelConfig
    from nextword.training.network import build, export_weights, next_token_logits

    cfg = ModelConfig(vocab_size=50, embedding_dim=8, units=12, attention=4, attention_span=5,
                      attention_heads=heads, tied=False, dropout=0.0)
    net = build(cfg)
    rng = np.random.default_rng(3)
    for weight in net.weights:  # large enough that the attention's share shows
        weight.assign(rng.normal(0, 0.6, weight.shape).astype("float32"))
    ids = rng.integers(0, 50, size=24).tolist()
    logits = next_token_logits(net, [ids])[0]
    want = np.exp(logits - logits.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    engine = Engine(cfg, export_weights(net, cfg))
    for n in (1, 4, 12, 24, 20, 23, 2, 24):
        assert np.max(np.abs(engine.distribution(ids[:n]) - want[n - 1])) <= 1e-5, n
    for chunk in (3, 7, 24):
        rows = np.concatenate([z for _, z in engine.stream_log_probs(ids, chunk=chunk)])
        assert np.max(np.abs(np.exp(rows) - want)) <= 1e-5, chunk
    # Without the attention's share the answer is another: the test would see it missing.
    plain = Engine(replace(cfg, attention=0), export_weights(net, cfg))
    assert np.max(np.abs(plain.distribution(ids) - want[-1])) > 1e-3


def test_a_model_trained_with_attention_reads_its_training_window(tmp_path):
    from click.testing import CliRunner

    from nextword.cli.main import cli

    from .conftest import write_structured_corpus

    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=400)
    model = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", str(corpus), "-m", str(model), "--epochs", "1",
                                      "--units", "16",
                                      "--embedding-dim", "8", "--attention", "4", "--seq-len", "12",
                                      "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    cfg = directory.read_config(model)["_model"]
    assert (cfg.attention, cfg.attention_span) == (4, 12)
    engine = Engine.load(model)
    ids = [1] + np.random.default_rng(4).integers(0, engine.vocab_size, size=30).tolist()
    for n in (5, 31, 20):
        assert np.max(np.abs(engine.distribution(ids[:n]) - keras_next_probs(model, ids[:n]))) <= 1e-4, n


def test_cache_gives_the_same_answer_as_a_fresh_engine(numpy_model_dir):
    cached = Engine.load(numpy_model_dir)
    rng = np.random.default_rng(2)
    long_ids = [1] + rng.integers(0, cached.vocab_size, size=CHUNK + 3 * KEEP_STATES).tolist()
    # Typing forward, editing inside the kept window, jumping far back, then a new text.
    for n in (5, 6, 7, 200, 180, 199, 20, len(long_ids), len(long_ids) - 10, 3):
        fresh = Engine.load(numpy_model_dir)
        assert np.allclose(cached.distribution(long_ids[:n]), fresh.distribution(long_ids[:n]),
                           atol=1e-6), n


def test_corrupt_weights_are_refused_naming_the_file(numpy_model_copy):
    (numpy_model_copy / "weights.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelError, match="weights.npz"):
        Engine.load(numpy_model_copy)


def replace_array(model_dir, name, value):
    with np.load(model_dir / "weights.npz") as npz:
        arrays = dict(npz)
    arrays[name] = value(arrays[name])
    np.savez(model_dir / "weights.npz", **arrays)
    refresh_digests(model_dir)


def test_weights_with_wrong_shapes_are_refused(numpy_model_copy):
    replace_array(numpy_model_copy, "lstm_0_bias", lambda a: a[:-1])
    with pytest.raises(ModelError, match="lstm_0_bias has shape"):
        Engine.load(numpy_model_copy)


def test_pickled_arrays_are_not_loaded(numpy_model_copy):
    replace_array(numpy_model_copy, "embedding", lambda a: np.array([object()], dtype=object))
    with pytest.raises(ModelError, match="weights.npz"):
        Engine.load(numpy_model_copy)
