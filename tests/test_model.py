"""The network's settings: tied input/output embeddings, the validation hold-out, the weight
average, and configs written by older versions."""

from __future__ import annotations

import numpy as np
import pytest

from nextword.config import ModelConfig, TrainConfig, from_dict
from nextword.predictors.lstm import Engine


def test_tied_model_has_one_matrix_and_the_engine_matches_it():
    from nextword.model import build, export_weights, next_token_logits

    cfg = ModelConfig(vocab_size=40, embedding_dim=6, units=10, dropout=0.0)
    assert cfg.tied and cfg.projection_dim == 6
    net = build(cfg)
    assert sum(int(np.prod(w.shape)) for w in net.trainable_weights) == cfg.parameter_count()
    arrays = export_weights(net, cfg)
    np.testing.assert_array_equal(arrays["output_kernel"], arrays["embedding"].T)
    ids = np.random.default_rng(1).integers(0, 40, size=20).tolist()
    logits = next_token_logits(net, [ids])[0, -1]
    want = np.exp(logits - logits.max())
    assert np.max(np.abs(Engine(cfg, arrays).distribution(ids) - want / want.sum())) <= 1e-5


def test_tying_adds_the_projection_it_needs_and_refuses_a_mismatch():
    assert ModelConfig(vocab_size=40, embedding_dim=6, units=6).projection_dim == 0
    assert ModelConfig(vocab_size=40, embedding_dim=6, units=10, tied=False).projection_dim == 0
    with pytest.raises(ValueError, match="tied"):
        ModelConfig(vocab_size=40, embedding_dim=6, units=10, projection_dim=4, tied=True)


def test_a_config_written_before_a_setting_existed_reads_as_it_was_trained():
    old = from_dict(ModelConfig, {"vocab_size": 40, "embedding_dim": 6, "units": 10, "projection_dim": 0})
    assert (old.tied, old.projection_dim, old.attention) == (False, 0, 0)
    training = from_dict(TrainConfig, {"seq_len": 35})
    assert (training.precision, training.weight_average) == ("float32", False)


def test_validation_blocks_are_spread_through_the_corpus(tmp_path):
    from nextword import data

    ids = np.arange(10_000, dtype="uint16")
    ids.tofile(tmp_path / "all.bin")
    train, valid = data.hold_out(data.TokenFile(tmp_path / "all.bin", "uint16", 10_000), 1000, 4,
                                 tmp_path / "train.bin", tmp_path / "valid.bin")
    got_train = np.fromfile(train.path, dtype="uint16")
    got_valid = np.fromfile(valid.path, dtype="uint16")
    assert (train.count, valid.count) == (len(got_train), len(got_valid)) == (9000, 1000)
    assert sorted(np.concatenate([got_train, got_valid]).tolist()) == list(range(10_000))
    starts = [int(got_valid[i]) for i in range(0, 1000, 250)]
    assert starts == [1125, 3625, 6125, 8625]  # the middle of each quarter
    assert np.all(np.diff(got_valid.reshape(4, 250), axis=1) == 1)  # each block is contiguous


def test_weight_average_spans_about_half_an_epoch():
    from nextword.train import average_momentum

    assert average_momentum(200) == pytest.approx(0.99)
    assert average_momentum(4) == pytest.approx(0.9)  # at least 10 steps
    assert average_momentum(10**6) == pytest.approx(0.999)  # at most 1,000


def test_dropout_follows_the_corpus_size_unless_given():
    from nextword.train import default_dropout

    assert default_dropout(200_000) == default_dropout(1_000_000) == 0.6
    assert default_dropout(10_000_000) == 0.4
    assert default_dropout(10**9) == 0.2
