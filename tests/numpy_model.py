"""Model directories for tests, built with NumPy alone: no TensorFlow, no training.

`write_numpy_model(path, text)` writes what `nextword train` writes (tokenizer.json,
weights.npz, casing.json, ngram.npz, config.json with the settings, summary, mixture
weights, adaptation settings and the files' digests) through the model-directory writer,
except model.keras (so `train --resume` has nothing to resume). The vocabulary, the display forms, the 3-gram
counts and the mixture's weights are made by the product's own code; only the LSTM's
weights are not learned but set:

- units >= the vocabulary (the default: units = vocabulary): a bigram model in LSTM form.
  The embedding is the identity, the input gate and the output gate are open and the
  forget gate shut, so the cell holds the previous word alone (h = 0.76 at its unit,
  ~0 elsewhere); the output bias is log P(w) and the (untied) output matrix adds
  log P(w | previous) - log P(w). So "The cat " is followed by "sleeps" if the text says so.
- fewer units: small random weights with the output bias log P(w) (suggestions by
  frequency, lightly stirred by the text read).

Small noise (from `seed`) on every array makes the state depend on more than the last word,
so the engine's state cache has something to get wrong.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nextword import __version__
from nextword.modeldir import directory
from nextword.modeldir.settings import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, to_dict
from nextword.prediction import adaptation, ngram_counts
from nextword.prediction import mixture as mixture_mod
from nextword.prediction.lstm import Engine
from nextword.text import casing, tokenizer

FIT = "fit"      # mixture=FIT: weights fitted on the held-out tail, as training does
GATE = 8.0       # gate pre-activation: sigmoid(8) = 0.9997 (open), sigmoid(-8) = 0.0003 (shut)
CELL = 3.0       # the cell's input: c = tanh(3) = 0.995 at the previous word's unit
H = float(np.tanh(np.tanh(CELL)))  # h at that unit (output gate ~1)
NOISE = 0.02


def _log_unigram(ids: np.ndarray, V: int) -> np.ndarray:
    counts = np.bincount(ids, minlength=V).astype(np.float64)
    return np.log((counts + 1) / (counts.sum() + V))


def _log_bigram(ids: np.ndarray, V: int, log_uni: np.ndarray) -> np.ndarray:
    """log P(w | v), the bigram counts interpolated with the unigram (one pseudo-count)."""
    pairs = np.zeros((V, V))
    np.add.at(pairs, (ids[:-1], ids[1:]), 1.0)
    return np.log((pairs + np.exp(log_uni)[None, :]) / (pairs.sum(axis=1, keepdims=True) + 1))


def network(V: int, units: int | None) -> ModelConfig:
    """The settings of the network: the bigram form (embedding V, untied: the embedding is
    the identity, the output matrix the bigram's) when units >= V, else a tied network of
    width `units`."""
    units = units or V
    if units >= V:
        return ModelConfig(vocab_size=V, embedding_dim=V, units=units, dropout=0.0, tied=False,
                           projection_dim=0)
    return ModelConfig(vocab_size=V, embedding_dim=units, units=units, dropout=0.0, tied=True)


def weights(cfg: ModelConfig, ids: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Arrays in exactly the shapes the directory's reader asks for (expected_shapes)."""
    V, U = cfg.vocab_size, cfg.units
    rng = np.random.default_rng(seed)
    shapes = directory.expected_shapes(cfg)
    arrays = {name: rng.normal(0.0, NOISE, shape) for name, shape in shapes.items()}
    log_uni = _log_unigram(ids, V)
    arrays["output_bias"] = log_uni
    if not cfg.tied:  # the bigram form
        arrays["embedding"] = np.eye(V)
        arrays["lstm_0_kernel"][:, 2 * U:2 * U + V] += CELL * np.eye(V)
        bias = np.zeros(4 * U)
        bias[:U], bias[U:2 * U], bias[3 * U:] = GATE, -GATE, GATE
        arrays["lstm_0_bias"] = bias
        arrays["output_kernel"] = np.zeros((U, V))
        arrays["output_kernel"][:V] = (_log_bigram(ids, V, log_uni) - log_uni[None, :]) / H
    else:
        arrays["output_kernel"] = arrays["embedding"].T.copy()  # tied, as training exports it
    arrays = {name: a.astype(np.float32) for name, a in arrays.items()}
    assert {n: a.shape for n, a in arrays.items()} == shapes
    return arrays


def write_numpy_model(path: Path, corpus_text: str, units: int | None = None, seed: int = 0,
                      mixture: dict | str | None = FIT, min_count: int = 2,
                      vocab_size: int = 20000, ngram: bool = True,
                      corpus: list[str] | None = None) -> Path:
    """Write a model directory for `corpus_text` at `path` (see the module's docstring).
    mixture: FIT (weights fitted on the text's last tenth, as training does), a dict (saved
    as config["mixture"]), or None (no weights saved: the default ones). corpus: the files
    the summary names as the training text (as the trainer records them; default "-")."""
    path = Path(path)
    cases = casing.CaseCounter()
    tok = tokenizer.train(cases.tee([corpus_text]), vocab_size, min_count)
    display = cases.display_forms(tok.get_vocab())
    V = tok.get_vocab_size()
    ids = np.asarray(tok.encode(corpus_text).ids, dtype=np.int64)
    held = max(3, len(ids) // 10)
    train_ids, valid_ids = ids[:-held], ids[-held:]
    cfg = network(V, units)
    arrays = weights(cfg, train_ids, seed)
    counts = ngram_counts.build(V, [train_ids]) if ngram else None
    adapted = None
    if mixture == FIT:  # and the adaptation after it, as training does
        kn = ngram_counts.KneserNey(counts) if counts is not None else None
        engine = Engine(cfg, arrays)
        mixture, columns = mixture_mod.fit_columns(engine, kn, tokenizer.vocabulary(tok), valid_ids)
        adapted = adaptation.fit(engine, valid_ids[: len(columns.known) + 1],
                                 tok.token_to_id(tokenizer.EOL), columns)
    training = TrainConfig(seq_len=20, batch_size=16, epochs=1, learning_rate=0.01, seed=seed,
                           sampled_softmax=0, precision="float32", line_windows=False)
    summary = Summary(corpus=corpus or ["-"], train_tokens=len(train_ids), valid_tokens=len(valid_ids),
                      epochs_done=1, unigram_perplexity=float(V), wall_seconds=0.0,
                      trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      parameters=cfg.parameter_count(), stopped_because="epochs")
    config = {"format_version": FORMAT_VERSION, "nextword_version": __version__,
              "model": to_dict(cfg), "training": to_dict(training), "summary": to_dict(summary)}
    if isinstance(mixture, dict):
        config["mixture"] = mixture
    if adapted is not None:
        config["adaptation"] = adapted

    def extra(tmp: Path) -> None:
        casing.save(display, tmp)
        if counts is not None:
            ngram_counts.save(counts, tmp)

    directory.write(path, config, tok, arrays, extra)
    return path
