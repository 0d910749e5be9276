"""The network's settings: tied input/output embeddings, the validation hold-out, the weight
average, and configs written by older versions."""

from __future__ import annotations

import numpy as np
import pytest

from nextword.modeldir.settings import ModelConfig, TrainConfig, from_dict
from nextword.prediction.lstm import Engine


def test_tied_model_has_one_matrix_and_the_engine_matches_it():
    from nextword.training.network import build, export_weights, next_token_logits

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
    from nextword.training import data

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
    from nextword.training.train import average_momentum

    assert average_momentum(200) == pytest.approx(0.99)
    assert average_momentum(4) == pytest.approx(0.9)  # at least 10 steps
    assert average_momentum(10**6) == pytest.approx(0.999)  # at most 1,000


def test_defaults_follow_the_corpus():
    from nextword.training import defaults

    # Dropout by training tokens per parameter: WikiText-2's validation split keeps 0.6,
    # a small network on as much text needs none.
    assert defaults.dropout(206_000, 3_800_000) == defaults.dropout(10, 1_000) == 0.6
    assert defaults.dropout(100_000, 316_228) == 0.3
    assert defaults.dropout(226_000, 173_000) == defaults.dropout(10**9, 10**6) == 0.0
    # The network by the vocabulary: WikiText-2's 8,173 words keep 256 / 512 at 3e-3.
    assert defaults.embedding_size(8173) == 256 and defaults.embedding_size(10**6) == 256
    assert defaults.embedding_size(249) == defaults.embedding_size(2) == 64
    assert defaults.units(256) == 512 and defaults.learning_rate(512) == 3e-3
    assert defaults.learning_rate(128) == 0.012 and defaults.learning_rate(32) == 0.012
    assert defaults.long_context(249, 75) and not defaults.long_context(8173, 75)
    assert not defaults.long_context(249, 7)  # short lines: windows at line starts overlap


def test_chrono_initialisation_spreads_the_forget_biases():
    import keras

    from nextword.training.network import ChronoBias

    bias = keras.ops.convert_to_numpy(ChronoBias(64, 100)((256,)))
    forget, inputs = bias[64:128], bias[:64]
    assert np.all(forget >= 0) and np.all(forget <= np.log(99)) and forget.max() > np.log(50)
    np.testing.assert_allclose(inputs, -forget)
    assert np.all(bias[128:] == 0)  # cell candidate and output gates as Keras starts them


def test_line_windows_start_at_line_starts_and_cover_every_token(tmp_path):
    from nextword.training import data

    # Lines of 3 to 35 tokens (1 = EOL ends each), then one line of 500 tokens.
    rng = np.random.default_rng(0)
    lines = [np.r_[rng.integers(2, 50, n - 1), 1] for n in rng.integers(3, 36, 60)]
    ids = np.concatenate([*lines, np.r_[rng.integers(2, 50, 499), 1]]).astype("uint16")
    ids.tofile(tmp_path / "t.bin")
    tokens = data.TokenFile(tmp_path / "t.bin", "uint16", len(ids))
    seq = 40
    starts = data.line_windows(tokens, seq, 0, len(ids))
    line_starts = set(np.flatnonzero(ids == 1) + 1) | {0}
    gaps = np.diff(starts)
    assert starts[0] == 0 and np.all(gaps > 0) and np.all(gaps <= seq)  # no token left out
    assert starts[-1] + seq + 1 <= len(ids) < starts[-1] + 2 * seq + 1  # to the end, targets in
    # Where a line starts more than a quarter window on, the next window starts there.
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        later = [s for s in line_starts if a + seq // 4 < s <= a + seq]
        assert b == (min(later) if later else a + seq)
    in_lines = [s for s in starts if s < len(ids) - 500]
    assert sum(s in line_starts for s in in_lines) > 0.9 * len(in_lines)

    dataset, steps = data.train_dataset(tokens, seq, 4, 0, len(ids), seed=0, starts=starts)
    assert steps == len(starts) // 4
    x, y = next(iter(dataset))
    assert x.shape == y.shape == (4, seq)
    x, y = x.numpy(), y.numpy()
    for row_x, row_y in zip(x, y, strict=True):
        at = next(s for s in starts if np.array_equal(ids[s:s + seq], row_x))
        assert np.array_equal(ids[at + 1:at + seq + 1], row_y)  # the target is shifted by one


def test_long_context_waits_longer_on_a_stalled_validation():
    from nextword.training.train import _patience

    # WikiText-2's validation split: 95 updates an epoch, short context -> 1 and 3 epochs.
    assert _patience(False, 3, 95) == (1, 3)
    # Issue 14's passages: 118 updates an epoch at 32 x 100, long context -> 3 and 5 epochs.
    assert _patience(True, 3, 118) == (3, 5)
    # Short epochs wait longer; never less than one epoch, or than the patience given.
    assert _patience(True, 3, 20) == (15, 30) and _patience(False, 8, 400) == (1, 8)
