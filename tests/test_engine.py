"""The NumPy engine against the Keras model it was exported from, and its state cache."""

from __future__ import annotations

import numpy as np
import pytest

from nextword import artifact
from nextword.predictors.lstm import CHUNK, KEEP_STATES, Engine
from nextword.errors import ModelError

from .conftest import refresh_digests


def keras_next_probs(model_dir, ids):
    """The saved Keras model's answer, computed in float32 (it may have been trained with
    bfloat16 arithmetic; the engine, like the weights, is float32)."""
    import keras

    from nextword.model import build, next_token_logits

    saved = keras.saving.load_model(model_dir / artifact.KERAS, safe_mode=True)
    model = build(artifact.read_config(model_dir)["_model"])
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
    from nextword.config import ModelConfig
    from nextword.model import build, export_weights

    cfg = ModelConfig(vocab_size=50, embedding_dim=8, units=12, layers=2, projection_dim=6, tied=False,
                      dropout=0.0)
    net = build(cfg)
    return cfg, net, export_weights(net, cfg)


def test_parity_with_two_layers_and_a_projection(tmp_path):
    from nextword.model import next_token_logits

    cfg, net, arrays = two_layer_model(tmp_path)
    engine = Engine(cfg, arrays)
    ids = np.random.default_rng(1).integers(0, 50, size=30).tolist()
    logits = next_token_logits(net, [ids])[0, -1]
    want = np.exp(logits - logits.max())
    want /= want.sum()
    assert np.max(np.abs(engine.distribution(ids) - want)) <= 1e-5


def test_cache_gives_the_same_answer_as_a_fresh_engine(model_dir):
    cached = Engine.load(model_dir)
    rng = np.random.default_rng(2)
    long_ids = [1] + rng.integers(0, cached.vocab_size, size=CHUNK + 3 * KEEP_STATES).tolist()
    # Typing forward, editing inside the kept window, jumping far back, then a new text.
    for n in (5, 6, 7, 200, 180, 199, 20, len(long_ids), len(long_ids) - 10, 3):
        fresh = Engine.load(model_dir)
        assert np.allclose(cached.distribution(long_ids[:n]), fresh.distribution(long_ids[:n]),
                           atol=1e-6), n


def test_corrupt_weights_are_refused_naming_the_file(model_copy):
    (model_copy / "weights.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelError, match="weights.npz"):
        Engine.load(model_copy)


def replace_array(model_dir, name, value):
    with np.load(model_dir / "weights.npz") as npz:
        arrays = dict(npz)
    arrays[name] = value(arrays[name])
    np.savez(model_dir / "weights.npz", **arrays)
    refresh_digests(model_dir)


def test_weights_with_wrong_shapes_are_refused(model_copy):
    replace_array(model_copy, "lstm_0_bias", lambda a: a[:-1])
    with pytest.raises(ModelError, match="lstm_0_bias has shape"):
        Engine.load(model_copy)


def test_pickled_arrays_are_not_loaded(model_copy):
    replace_array(model_copy, "embedding", lambda a: np.array([object()], dtype=object))
    with pytest.raises(ModelError, match="weights.npz"):
        Engine.load(model_copy)
