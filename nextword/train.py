"""Train a model: tokenizer, encoding, Keras `fit` with callbacks, and the model directory.

`train(...)` is the library entry point the CLI calls. Training stops at the epoch limit,
on early stopping, at the time budget, or on Ctrl-C; in each case the best model so far
(by validation perplexity) is the one in the model directory.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .tfimport import quiet_import_tensorflow

quiet_import_tensorflow()

import keras
import numpy as np

from . import __version__, artifact, casing, corpus, data, distribute, tokenizer
from . import model as model_mod
from .callbacks import BestCheckpoint, Progress, TimeBudget
from .config import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, to_dict
from .errors import CorpusError, ModelError, NextwordError


UNROLL_MAX = 100  # longest window whose LSTM steps are unrolled into one graph


class TrainingInterrupted(NextwordError):
    """Ctrl-C during training; the message says what was kept and how to resume."""


@dataclass
class TrainResult:
    model_dir: Path
    val_perplexity: float | None
    summary: Summary
    wrote_model: bool = True  # False on the workers of a cluster that are not the chief


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(corpus_args: list[str], model_dir: Path, cfg: TrainConfig,
          model_options: dict | None = None, valid_args: list[str] | None = None,
          resume: bool = False, auto_batch: bool = False, strategy: str = "auto",
          started: float | None = None, log: Callable[[str], None] = _log) -> TrainResult:
    """Train on `corpus_args` and write the model directory `model_dir`.

    `model_options` are ModelConfig fields (vocabulary size is set from the tokenizer).
    With `auto_batch`, the batch size shrinks to fit a small corpus instead of failing.
    `strategy` is a name from distribute.STRATEGIES; `cfg.batch_size` is the global batch.
    `started` (time.monotonic) is when the time budget began: by default, now.
    """
    started = started if started is not None else time.monotonic()
    deadline = started + cfg.time_budget if cfg.time_budget else None
    model_dir = Path(model_dir)
    dist = distribute.make_strategy(strategy)  # before any other TensorFlow op
    n_workers, chief = distribute.workers(dist), distribute.is_chief(dist)
    if n_workers > 1 and deadline is not None:
        raise NextwordError("--time-budget cannot be used with several workers: each would "
                            "stop on its own clock; use --epochs")
    if chief:
        artifact.check_writable(model_dir)
    previous = _previous(model_dir) if resume else None

    with tempfile.TemporaryDirectory(prefix="nextword-") as work:
        work = Path(work)
        files = corpus.resolve(corpus_args, spool_dir=str(work))
        valid_files = corpus.resolve(valid_args, spool_dir=str(work)) if valid_args else []
        if previous is not None:
            tok = artifact.read_tokenizer(model_dir, previous["_model"])
            display = casing.load(model_dir)
        else:
            log(f"Building the vocabulary from {_describe(files)} ...")
            cases = casing.CaseCounter()
            tok = tokenizer.train(cases.tee(corpus.pieces(corpus.iter_text(files))), cfg.vocab_size,
                                  cfg.min_count)
            display = cases.display_forms(tok.get_vocab())
        vocab = tok.get_vocab_size()

        stats = corpus.DecodeStats()
        counts = np.zeros(vocab, dtype=np.int64)
        tokens = data.encode_files(tok, files, work / "corpus.bin", stats, counts)
        if tokens.count == 0:
            raise CorpusError(f"{_describe(files)}: no text to train on (empty corpus)")
        if valid_files:
            valid = data.encode_files(tok, valid_files, work / "valid.bin", stats)
        else:
            n_valid = max(2 * cfg.seq_len, int(tokens.count * cfg.val_fraction))
            blocks = _holdout_blocks(n_valid, cfg.seq_len)
            tokens, valid = data.hold_out(tokens, n_valid, blocks, work / "train.bin", work / "valid.bin")
            (work / "corpus.bin").unlink()
        train_span, valid_span = (0, tokens.count), (0, valid.count)
        valid_counts = _span_counts(valid, valid_span, vocab)
        if not valid_files:
            counts -= valid_counts  # `counts` covered the whole corpus, held-out blocks too
        if stats.total:
            worst = max(stats.replaced, key=stats.replaced.get)
            log(f"Warning: replaced {stats.total:,} invalid UTF-8 byte(s) "
                f"(most in {worst}); the text is not clean UTF-8")

        cfg = _fit_batch(cfg, train_span, valid_span, auto_batch)
        unigram = _unigram_perplexity(counts, valid_counts)

        keras.utils.set_random_seed(cfg.seed)
        with dist.scope():
            if previous is not None:
                model_cfg = previous["_model"]
                net = _load_keras(model_dir)
                # The saved model keeps its arithmetic and optimizer: record what is used.
                cfg = replace(cfg, precision=net.dtype_policy.name,
                              weight_average=bool(net.optimizer.use_ema))
            else:
                options = {k: v for k, v in (model_options or {}).items() if v is not None}
                options.setdefault("dropout", default_dropout(train_span[1] - train_span[0]))
                model_cfg = ModelConfig(vocab_size=vocab, **options)
                steps = data.steps_per_epoch(tokens.count, cfg.seq_len, cfg.batch_size)
                net = new_model(model_cfg, cfg, steps)

        train_ds, steps = data.train_dataset(tokens, cfg.seq_len, cfg.batch_size, *train_span, cfg.seed)
        valid_ds, val_steps = data.eval_dataset(valid, cfg.seq_len, cfg.batch_size, *valid_span,
                                                workers=n_workers)
        if n_workers > 1:
            distribute.prebuild_for_workers(net, dist, train_ds)

        prior = artifact.summary(previous) if previous else Summary()
        summary = Summary(
            corpus=[("-" if Path(f).parent == work else str(Path(f).resolve())) for f in files],
            valid=[str(Path(f).resolve()) for f in valid_files],
            train_tokens=train_span[1] - train_span[0], valid_tokens=valid_span[1] - valid_span[0],
            epochs_done=prior.epochs_done, val_perplexity=prior.val_perplexity,
            unigram_perplexity=unigram, parameters=model_cfg.parameter_count())

        def save(epochs_done: int, ppl: float | None) -> None:
            summary.epochs_done = epochs_done
            if not chief:
                return  # other workers train in step with the chief but write nothing
            summary.val_perplexity = ppl
            summary.wall_seconds = round(time.monotonic() - started + prior.wall_seconds, 1)
            summary.trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            summary.tokens_per_second = progress.tokens_per_second
            config = {"format_version": FORMAT_VERSION, "nextword_version": __version__,
                      "model": to_dict(model_cfg), "training": to_dict(cfg), "summary": to_dict(summary)}

            def extra(tmp: Path) -> None:
                net.save(tmp / artifact.KERAS)
                casing.save(display, tmp)

            artifact.write(model_dir, config, tok, model_mod.export_weights(net, model_cfg), extra)

        log(f"Training on {summary.train_tokens:,} tokens (validation {summary.valid_tokens:,}), "
            f"vocabulary {vocab:,}, {model_cfg.parameter_count():,} parameters, "
            f"batch {cfg.batch_size} x {cfg.seq_len} tokens")
        progress = Progress(cfg.batch_size * cfg.seq_len, steps, cfg.epochs, deadline)
        same_text = previous is not None and prior.corpus == summary.corpus and prior.valid == summary.valid
        checkpoint = BestCheckpoint(save, best=prior.val_perplexity if same_text else None)
        # The average weights are swapped in to validate and to be saved (SwapEMAWeights
        # comes before the checkpoint), and out again to train.
        averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if net.optimizer.use_ema else []
        callbacks = [progress, *averaging, checkpoint,
                     keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1,
                                                       min_lr=cfg.learning_rate / 32, verbose=0),
                     keras.callbacks.EarlyStopping("val_loss", patience=cfg.patience)]
        budget = None
        if deadline is not None:
            budget = TimeBudget(deadline, eval_fraction=0.35 * val_steps, checkpoint=checkpoint)
            callbacks.append(budget)
        try:
            net.fit(train_ds, steps_per_epoch=steps, epochs=prior.epochs_done + cfg.epochs,
                    initial_epoch=prior.epochs_done, validation_data=valid_ds, callbacks=callbacks,
                    shuffle=False, verbose=0)
        except KeyboardInterrupt:
            if checkpoint.saved_epochs == 0:
                save(prior.epochs_done, prior.val_perplexity)  # keep what was learned, unvalidated
            raise TrainingInterrupted(_interrupted_message(model_dir, checkpoint, summary)) from None
        if checkpoint.saved_epochs == 0 and previous is None:
            save(progress.epoch + 1, checkpoint.best)
        # epochs_done is the best (saved) epoch; the reason depends on the last one run.
        summary.stopped_because = ("time budget" if budget is not None and budget.triggered
                                   else "epochs" if progress.epoch + 1 >= prior.epochs_done + cfg.epochs
                                   else "early stopping")
    if chief:
        _set_stop_reason(model_dir, summary.stopped_because)
    return TrainResult(model_dir, checkpoint.best, summary, wrote_model=chief)


def _describe(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files"


def _previous(model_dir: Path) -> dict:
    if not (model_dir / artifact.CONFIG).exists():
        raise ModelError(f"no model at {model_dir} to resume (train one without --resume first)")
    config = artifact.read_config(model_dir)
    if not (model_dir / artifact.KERAS).exists():
        raise ModelError(f"{model_dir / artifact.KERAS} is missing, so training cannot resume")
    return config


def _load_keras(model_dir: Path) -> keras.Model:
    try:
        return keras.saving.load_model(model_dir / artifact.KERAS, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise ModelError(f"{model_dir / artifact.KERAS} cannot be loaded ({exc})") from None


def _fit_batch(cfg: TrainConfig, train_span, valid_span, auto_batch: bool) -> TrainConfig:
    windows = data.window_count(train_span[1] - train_span[0], cfg.seq_len)
    if auto_batch and windows < 50 * cfg.batch_size:
        # A small corpus gets smaller batches, so that an epoch still has ~50 updates.
        cfg = replace(cfg, batch_size=max(1, min(cfg.batch_size, windows // 50)))
    if windows < cfg.batch_size:
        raise CorpusError(
            f"too few tokens to train on: {train_span[1] - train_span[0]:,} give {windows} "
            f"window(s) of {cfg.seq_len}, less than one batch of {cfg.batch_size} "
            f"(give more text, or a smaller --batch-size or --seq-len)")
    if data.window_count(valid_span[1] - valid_span[0], cfg.seq_len) < 1:
        raise CorpusError(f"too little validation text for one window of {cfg.seq_len} tokens")
    return cfg


def new_model(model_cfg: ModelConfig, cfg: TrainConfig, steps_per_epoch: int,
              unroll: bool | None = None, jit_compile: bool | str = "auto") -> keras.Model:
    """The network of `model_cfg`, compiled for training as `cfg` says (also what
    bench/train_speed.py times). `unroll` defaults to windows up to UNROLL_MAX tokens."""
    net = model_mod.build(model_cfg, sampled=cfg.sampled_softmax, precision=cfg.precision,
                          unroll=cfg.seq_len <= UNROLL_MAX if unroll is None else unroll)
    # The loss is the model's own (compute_loss): sampled or exact softmax.
    net.compile(optimizer=keras.optimizers.Adam(
        cfg.learning_rate, global_clipnorm=cfg.clipnorm, use_ema=cfg.weight_average,
        ema_momentum=average_momentum(steps_per_epoch)), jit_compile=jit_compile)
    return net


def default_dropout(train_tokens: int) -> float:
    """Dropout when none is given: 0.6 up to a million training tokens (ten minutes on
    WikiText-2's 214,000, the other settings as now but lr 2e-3: 0.4 -> test perplexity 152,
    0.5 -> 145, 0.6 -> 140), then 0.2 less per tenfold more text, down to 0.2 from 100
    million tokens (the usual setting for large corpora; that end is not measured here)."""
    return round(min(0.6, max(0.2, 0.6 - 0.2 * math.log10(max(train_tokens, 1) / 1e6))), 2)


def average_momentum(steps_per_epoch: int) -> float:
    """Momentum of the weight average: it spans about half an epoch (so an average saved
    at the end of an epoch has forgotten the start of it), within 10 to 1,000 steps."""
    return 1.0 - 1.0 / min(1000.0, max(10.0, steps_per_epoch / 2))


def _holdout_blocks(tokens: int, seq_len: int) -> int:
    """Blocks the held-out validation text is cut into: about 40 windows each, at most 64."""
    return max(1, min(64, tokens // (40 * seq_len)))


def _span_counts(tokens: data.TokenFile, span: tuple[int, int], vocab: int) -> np.ndarray:
    ids = np.memmap(tokens.path, dtype=tokens.dtype, mode="r")
    counts = np.zeros(vocab, dtype=np.int64)
    for start in range(span[0], span[1], 1 << 20):
        counts += np.bincount(ids[start:min(span[1], start + (1 << 20))], minlength=vocab)[:vocab]
    return counts


def _unigram_perplexity(train_counts: np.ndarray, valid_counts: np.ndarray) -> float:
    """Perplexity on the validation tokens of add-one unigram frequencies of the training
    tokens: the floor any language model should beat by far."""
    probs = (train_counts + 1) / (train_counts.sum() + len(train_counts))
    return float(math.exp(-(valid_counts * np.log(probs)).sum() / max(1, valid_counts.sum())))


def _interrupted_message(model_dir: Path, checkpoint: BestCheckpoint, summary: Summary) -> str:
    kept = (f"the best model so far (validation perplexity {checkpoint.best:.1f}, "
            f"epoch {summary.epochs_done})" if checkpoint.best is not None
            else "the model as trained so far (not yet validated)")
    return (f"interrupted; {kept} is in {model_dir}. "
            f"Continue with: nextword train -m {model_dir} --resume CORPUS...")


def _set_stop_reason(model_dir: Path, reason: str) -> None:
    path = model_dir / artifact.CONFIG
    config = json.loads(path.read_text())
    config["summary"]["stopped_because"] = reason
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, path)
