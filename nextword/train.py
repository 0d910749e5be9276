"""Train a model: tokenizer, encoding, Keras `fit` with callbacks, and the model directory.

`train(...)` is the library entry point the CLI calls. Training stops at the epoch limit,
on early stopping, at the time budget, or on Ctrl-C; in each case the best model so far
(by validation perplexity) is the one in the model directory.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .tfimport import quiet_import_tensorflow

quiet_import_tensorflow()

import keras
import numpy as np
import tensorflow as tf

from . import __version__, artifact, atomic, casing, corpus, data, defaults, distribute, hardware
from . import ngram_build, replacement, tokenizer
from . import model as model_mod
from .callbacks import BestCheckpoint, Progress, StopOnDivergence, TimeBudget
from .config import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, from_dict, to_dict
from .errors import CorpusError, ModelError, NextwordError, NonFiniteWeights, Terminated
from .predictors import mixture as mixture_mod
from .predictors import windowed
from .predictors.lstm import Engine
from .predictors.ngram import KneserNey


UNROLL_MAX = 100  # longest window whose LSTM steps are unrolled into one graph
EPOCHS = 20  # the most epochs without a time budget (with one, the budget is the limit)
UNLIMITED = 10**6


class TrainingInterrupted(NextwordError):
    """Ctrl-C (exit 130) or SIGTERM (143) during training; the message says what was kept
    and how to resume."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class TrainingDiverged(ModelError):
    """The loss or the weights became NaN or infinite; such a network is never saved."""


@dataclass
class TrainResult:
    model_dir: Path
    val_perplexity: float | None
    summary: Summary
    wrote_model: bool = True  # False on the workers of a cluster that are not the chief
    kept: str | None = None   # why the model already in model_dir was kept, if it was


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(corpus_args: list[str], model_dir: Path, cfg: TrainConfig,
          model_options: dict | None = None, valid_args: list[str] | None = None,
          resume: bool = False, auto_batch: bool = False, strategy: str = "auto",
          started: float | None = None, log: Callable[[str], None] = _log,
          replace_any: bool = False) -> TrainResult:
    """Train on `corpus_args` and write the model directory `model_dir`.

    `model_options` are ModelConfig fields (vocabulary size is set from the tokenizer).
    With `auto_batch`, the batch size shrinks to fit a small corpus instead of failing.
    `strategy` is a name from distribute.STRATEGIES; `cfg.batch_size` is the global batch.
    `started` (time.monotonic) is when the time budget began: by default, now.

    What is kept: a model already in `model_dir` is replaced only by a validated model
    with finite weights that beats the unigram baseline and, when both were trained on the
    same corpus, the old model (`replace_any`: whatever its perplexity). A directory that is
    not a model is never touched. One writer at a time.
    """
    started = started if started is not None else time.monotonic()
    deadline = started + cfg.time_budget if cfg.time_budget else None
    model_dir = Path(model_dir).expanduser().resolve()
    dist = distribute.make_strategy(strategy)  # before any other TensorFlow op
    n_workers, chief = distribute.workers(dist), distribute.is_chief(dist)
    if n_workers > 1 and deadline is not None:
        raise NextwordError("--time-budget cannot be used with several workers: each would "
                            "stop on its own clock; use --epochs")
    if not chief:  # other workers train in step with the chief but write nothing
        return _train(corpus_args, model_dir, cfg, model_options, valid_args, resume, auto_batch,
                      dist, False, started, deadline, log, replace_any)
    artifact.check_writable(model_dir)
    with atomic.writer_lock(model_dir):
        for line in atomic.recover(model_dir):
            log(f"Note: {line}")
        atomic.check_destination(model_dir)
        return _train(corpus_args, model_dir, cfg, model_options, valid_args, resume, auto_batch,
                      dist, True, started, deadline, log, replace_any)


def _train(corpus_args, model_dir: Path, cfg: TrainConfig, model_options, valid_args, resume: bool,
           auto_batch: bool, dist, chief: bool, started: float, deadline: float | None,
           log: Callable[[str], None], replace_any: bool) -> TrainResult:
    n_workers = distribute.workers(dist)
    previous = _previous(model_dir) if resume else None
    existing = replacement.existing(model_dir) if chief and not resume else None

    with atomic.work_dir() as work:
        # A model inside a corpus directory is not text to learn from.
        files = [f for f in corpus.resolve(corpus_args, spool_dir=str(work))
                 if model_dir not in Path(f).resolve().parents]
        if not files:
            raise CorpusError(f"no text files found in {' '.join(corpus_args)} (outside the model)")
        valid_files = corpus.resolve(valid_args, spool_dir=str(work)) if valid_args else []
        if previous is not None:
            tok = artifact.read_tokenizer(model_dir, previous["_model"], previous)
            display = casing.load(model_dir)
        else:
            log(f"Building the vocabulary from {_describe(files)} ...")
            cases = casing.CaseCounter()
            # The tokenizers trainer reads a few hundred pieces ahead: under a budget, small
            # pieces keep what it still has to count after the deadline small.
            size = 16 << 10 if cfg.time_budget else 64 << 10
            text = _until(corpus.pieces(corpus.iter_text(files), size), _share(cfg, 0.05))
            tok = tokenizer.train(cases.tee(text), cfg.vocab_size, cfg.min_count)
            display = cases.display_forms(tok.get_vocab())
        vocab = tok.get_vocab_size()

        stats = corpus.DecodeStats()
        counts = np.zeros(vocab, dtype=np.int64)
        tokens = data.encode_files(tok, files, work / "corpus.bin", stats, counts, _share(cfg, 0.1))
        if tokens.count == 0:
            raise CorpusError(f"{_describe(files)}: no text to train on (empty corpus)")
        # A small vocabulary in lines long enough: long context (a resumed model keeps its
        # windows, but waits as long as its text's context does).
        long = defaults.long_context(vocab, tokens.count / max(1, int(counts[tokenizer.EOL_ID])))
        long_context = previous is None and long
        cfg = _resolve_windows(cfg, long_context, previous, auto_batch)
        if not tokens.complete:
            log(f"Note: the time budget leaves time to read only the first {tokens.count:,} tokens "
                f"of the corpus")
        if valid_files:
            valid = data.encode_files(tok, valid_files, work / "valid.bin", stats,
                                      deadline=_share(cfg, 0.05))
            if valid.count == 0:
                raise CorpusError(f"{_describe(valid_files)}: no text to validate on (empty)")
            if not valid.complete or valid.count > _valid_cap(cfg):
                log(f"Note: under the time budget, validation uses the first "
                    f"{min(valid.count, _valid_cap(cfg)):,} tokens of {_describe(valid_files)}")
        else:
            n_valid = min(max(2 * cfg.seq_len, int(tokens.count * cfg.val_fraction)), _valid_cap(cfg))
            if tokens.count < 2 * n_valid:
                raise CorpusError(
                    f"too few tokens to train on: {tokens.count:,} (at least {2 * n_valid:,} are "
                    f"needed to hold out validation windows of {cfg.seq_len}; give more text, or a "
                    f"smaller --seq-len)")
            blocks = _holdout_blocks(n_valid, cfg.seq_len)
            tokens, valid = data.hold_out(tokens, n_valid, blocks, work / "train.bin", work / "valid.bin")
            (work / "corpus.bin").unlink()
        train_span, valid_span = (0, tokens.count), (0, min(valid.count, _valid_cap(cfg)))
        valid_counts = _span_counts(valid, valid_span, vocab)
        if not valid_files:
            counts -= valid_counts  # `counts` covered the whole corpus, held-out blocks too
        if stats.total:
            worst = max(stats.replaced, key=stats.replaced.get)
            log(f"Warning: replaced {stats.total:,} invalid UTF-8 byte(s) "
                f"(most in {worst}); the text is not clean UTF-8")

        starts = data.line_windows(tokens, cfg.seq_len, *train_span) if cfg.line_windows else None
        windows = len(starts) if starts is not None else data.window_count(train_span[1] - train_span[0],
                                                                           cfg.seq_len)
        cfg = _fit_batch(cfg, train_span, valid_span, auto_batch, windows)
        unigram = _unigram_perplexity(counts, valid_counts)
        # The 3-gram the predictor mixes with the LSTM, from the same training tokens.
        ngram = _count_ngram(tokens, train_span, vocab, log) if chief else None

        facts = hardware.training_facts()
        if previous is None:  # the arithmetic and the learning rate depend on the network
            model_cfg = _network(model_options, vocab, long_context, cfg.seq_len,
                                 train_span[1] - train_span[0])
            cfg = _settle(cfg, model_cfg, facts, log)
        else:
            model_cfg = previous["_model"]
        keras.utils.set_random_seed(cfg.seed)
        with dist.scope():
            if previous is not None:
                net = _load_keras(model_dir)
                # The saved model keeps its arithmetic and optimizer: record what is used.
                cfg = replace(cfg, precision=net.dtype_policy.name,
                              weight_average=bool(net.optimizer.use_ema), sampled_softmax=net.sampled)
            else:
                log(f"Network: {model_cfg.describe()}; dropout {model_cfg.dropout:g}, "
                    f"learning rate {cfg.learning_rate:g}"
                    + ("; long context: windows of "
                       f"{cfg.seq_len} tokens{' at line starts' if cfg.line_windows else ''}"
                       if long_context else ""))
                net = new_model(model_cfg, cfg, windows // cfg.batch_size, gpu=bool(facts.gpus))
        if cfg.epochs is None:
            cfg = replace(cfg, epochs=UNLIMITED if cfg.time_budget else EPOCHS)

        train_ds, steps = data.train_dataset(tokens, cfg.seq_len, cfg.batch_size, *train_span, cfg.seed,
                                             starts)
        valid_ds, val_steps = data.eval_dataset(
            valid, cfg.seq_len, cfg.batch_size, *valid_span, workers=n_workers,
            starts=data.line_windows(valid, cfg.seq_len, *valid_span) if cfg.line_windows else None)
        if n_workers > 1:
            distribute.prebuild_for_workers(net, dist, train_ds)

        there = previous or existing  # the model this run may replace
        prior = artifact.summary(previous) if previous else Summary()
        summary = Summary(
            corpus=[("-" if Path(f).parent == work else str(Path(f).resolve())) for f in files],
            valid=[str(Path(f).resolve()) for f in valid_files],
            train_tokens=train_span[1] - train_span[0], valid_tokens=valid_span[1] - valid_span[0],
            epochs_done=prior.epochs_done, val_perplexity=prior.val_perplexity,
            unigram_perplexity=unigram, parameters=model_cfg.parameter_count())
        to_beat, bar = replacement.bar(there, summary, vocab, replace_any)
        saved = replacement.Saved()

        def save(epochs_done: int, ppl: float | None) -> None:
            summary.epochs_done = epochs_done
            if not chief:
                return
            summary.val_perplexity = ppl
            summary.wall_seconds = round(time.monotonic() - started + prior.wall_seconds, 1)
            summary.trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            summary.tokens_per_second = progress.tokens_per_second
            config = {"format_version": FORMAT_VERSION, "nextword_version": __version__,
                      "model": to_dict(model_cfg), "training": to_dict(cfg), "summary": to_dict(summary)}

            def extra(tmp: Path) -> None:
                net.save(tmp / artifact.KERAS)
                casing.save(display, tmp)
                if ngram is not None:
                    ngram_build.save(ngram, tmp)

            try:
                artifact.write(model_dir, config, tok, model_mod.export_weights(net, model_cfg), extra,
                               committed=lambda: saved.commit(ppl))
            except NonFiniteWeights as exc:
                raise TrainingDiverged(f"training diverged ({exc}); {saved.kept(model_dir, there)}") from None
            except OSError as exc:
                raise ModelError(f"cannot save the model to {model_dir}: {exc.strerror or exc}"
                                 + (f" ({exc.filename})" if exc.filename else "")
                                 + f"; {saved.kept(model_dir, there)}") from None

        log(f"Training on {summary.train_tokens:,} tokens (validation {summary.valid_tokens:,}), "
            f"vocabulary {vocab:,}, {model_cfg.parameter_count():,} parameters, "
            f"batch {cfg.batch_size} x {cfg.seq_len} tokens")
        progress = Progress(cfg.batch_size * cfg.seq_len, steps,
                            None if cfg.epochs >= UNLIMITED else cfg.epochs, deadline)
        diverged = StopOnDivergence(vocab)
        checkpoint = BestCheckpoint(save, best=to_beat, max_loss=diverged.limit)
        # The average weights are swapped in to validate and to be saved (SwapEMAWeights
        # comes before the checkpoint), and out again to train.
        averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if net.optimizer.use_ema else []
        lr_wait, stop_wait = _patience(long, cfg.patience, steps)
        callbacks = [progress, diverged, *averaging, checkpoint,
                     keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=lr_wait,
                                                       min_lr=cfg.learning_rate / 32, verbose=0),
                     keras.callbacks.EarlyStopping("val_loss", patience=stop_wait)]
        budget = None
        fit_tokens = _fit_tokens(cfg)
        if deadline is not None:
            # Training ends early enough to fit the mixture's weights within the budget too.
            budget = TimeBudget(deadline - fit_tokens * FIT_SECONDS_PER_TOKEN * READ_PASSES,
                                eval_fraction=0.35 * val_steps,
                                checkpoint=checkpoint)
            callbacks.append(budget)
        try:
            net.fit(train_ds, steps_per_epoch=steps, epochs=prior.epochs_done + cfg.epochs,
                    initial_epoch=prior.epochs_done, validation_data=valid_ds, callbacks=callbacks,
                    shuffle=False, verbose=0)
        except KeyboardInterrupt as exc:
            if not saved.count and there is None and chief:
                # Nothing to lose at the destination: keep what was learned, unvalidated.
                with contextlib.suppress(TrainingDiverged):
                    save(prior.epochs_done, None)
            code = 143 if isinstance(exc, Terminated) else 130
            raise TrainingInterrupted(saved.interrupted(model_dir, there, summary), exit_code=code) from None
        if diverged.reason is not None:
            raise TrainingDiverged(f"training diverged ({diverged.reason}; lower --learning-rate): "
                                   + saved.kept(model_dir, there))
        kept = None
        if not saved.count:
            if there is None:
                save(progress.epoch + 1, checkpoint.best)
            else:
                kept = replacement.not_better_message(model_dir, bar, checkpoint)
        # epochs_done is the best (saved) epoch; the reason depends on the last one run.
        summary.stopped_because = ("time budget" if budget is not None and budget.triggered
                                   else "epochs" if progress.epoch + 1 >= prior.epochs_done + cfg.epochs
                                   else "early stopping")
        mixture, reading = None, 0
        if chief and kept is None:
            try:
                mixture, reading = _fit_mixture(model_dir, ngram, valid, valid_span, fit_tokens,
                                                cfg.seq_len, log)
            except KeyboardInterrupt as exc:
                # The model is saved: only its mixture keeps the default weights.
                ppl = f"{checkpoint.best:.1f}" if checkpoint.best is not None else "not measured"
                raise TrainingInterrupted(
                    f"while fitting the mixture's weights; the model in {model_dir} is saved "
                    f"(validation perplexity {ppl}) and predicts with default weights",
                    exit_code=143 if isinstance(exc, Terminated) else 130) from None
    if chief and kept is None:
        reason = summary.stopped_because

        def finish(c: dict) -> None:
            c["summary"].update(stopped_because=reason)
            c["model"]["reading_window"] = reading
            if mixture is not None:
                c["mixture"] = mixture
        try:
            artifact.update_config(model_dir, finish)
        except OSError as exc:  # the model is saved; only these details of it are not
            log(f"Warning: could not record the mixture's weights and why training stopped in "
                f"{model_dir}: {exc.strerror or exc}")
    return TrainResult(model_dir, checkpoint.run_best if kept else checkpoint.best, summary,
                       wrote_model=chief and kept is None, kept=kept)


# Fitting the mixture reads validation tokens with the NumPy LSTM: about 0.45 ms a token
# with 512 units (measured on an Intel Xeon with AMX); the time budget keeps this much back
# for each of READ_PASSES passes over the fit's tokens: choosing the reading (continuous and
# windowed, as fast when a whole text is read, over half of them) and the fit itself.
FIT_SECONDS_PER_TOKEN = 5e-4
READ_PASSES = 2


def _fit_tokens(cfg: TrainConfig) -> int:
    """Validation tokens the mixture's weights are fitted on: predictors.mixture.FIT_TOKENS,
    fewer under a short time budget (reading them takes about 4 % of it)."""
    if not cfg.time_budget:
        return mixture_mod.FIT_TOKENS
    most = 0.04 * cfg.time_budget / (FIT_SECONDS_PER_TOKEN * READ_PASSES)
    return int(min(mixture_mod.FIT_TOKENS, max(1000, most)))


def _count_ngram(tokens: data.TokenFile, span: tuple[int, int], vocab: int,
                 log: Callable[[str], None]) -> dict[str, np.ndarray] | None:
    """The Kneser-Ney counts of the training tokens (memory capped by ngram_build), or None
    for a text too short to have trigrams."""
    log("Counting the 3-gram of the training text ...")
    try:
        return ngram_build.build(vocab, tokens.chunks(*span))
    except ValueError:
        return None


def _fit_mixture(model_dir: Path, ngram, valid: data.TokenFile, span: tuple[int, int], max_tokens: int,
                 window: int, log: Callable[[str], None]) -> tuple[dict | None, int]:
    """How the engine reads (windowed.choose_reading, `window`: the training windows' length)
    and the weights of the LSTM, the 3-gram and the cache, fitted on the validation tokens
    with the model just saved, read that way (predictors.mixture.fit); the weights are None
    (the predictor's defaults) on failure. Returns (weights, reading_window)."""
    snap = artifact.load(model_dir)
    ids = np.asarray(valid.ids()[span[0]:min(span[1], span[0] + max_tokens + 1)], dtype=np.int64)
    engine = Engine(replace(snap.config["_model"], reading_window=0), snap.weights)
    reading, figures = windowed.choose_reading(engine, window, ids[:len(ids) // 2 + 1])
    if figures:
        log(f"Reading: {'in windows of ' + str(reading) + ' tokens' if reading else 'on from one state'}"
            f" (LSTM perplexity on {len(ids) // 2:,} validation tokens: read on "
            f"{figures['continuous']:.1f}, in windows of {window} {figures['windows']:.1f})")
    lstm = windowed.WindowedEngine(engine, reading) if reading else engine
    try:
        fitted = mixture_mod.fit(lstm, KneserNey(ngram) if ngram is not None else None,
                                 tokenizer.vocabulary(snap.tokenizer), ids, max_tokens)
    except ValueError as exc:
        log(f"Note: the predictor keeps its default weights ({exc})")
        return None, reading
    ppl, weights = fitted["perplexity"], fitted["weights"]
    log(f"Mixture fitted on {fitted['fitted_on']:,} validation tokens: perplexity "
        + ", ".join(f"{name} {ppl[name]:.1f}" for name in ("lstm", "ngram", "mixture") if name in ppl)
        + " (weights " + ", ".join(f"{name} {w:.2f}" for name, w in weights.items()) + ")")
    return fitted, reading


def _settle(cfg: TrainConfig, model_cfg: ModelConfig, facts: hardware.Facts,
            log: Callable[[str], None]) -> TrainConfig:
    """The training settings that depend on the network, where not given: the arithmetic
    (logged), the sampled softmax and the learning rate."""
    cfg = _resolve_precision(cfg, facts, model_cfg.units, log)
    if cfg.sampled_softmax is None:
        cfg = replace(cfg, sampled_softmax=defaults.sampled_softmax(model_cfg.vocab_size))
    if cfg.learning_rate is None:
        cfg = replace(cfg, learning_rate=defaults.learning_rate(model_cfg.units))
    return cfg


def _resolve_precision(cfg: TrainConfig, facts: hardware.Facts, units: int,
                       log: Callable[[str], None]) -> TrainConfig:
    """`auto` becomes what the hardware runs fastest for a network of `units`; one line
    says which and why."""
    if cfg.precision != "auto":
        log(f"Arithmetic: {cfg.precision} (as asked)")
        return cfg
    choice = hardware.choose_precision(facts, units)
    log(f"Arithmetic: {choice.precision}, because {choice.reason}")
    return replace(cfg, precision=choice.precision)


def _share(cfg: TrainConfig, fraction: float) -> float | None:
    """A deadline `fraction` of the time budget from now (None without a budget): reading
    the corpus may not eat the budget however large or oddly shaped the text is."""
    return time.monotonic() + fraction * cfg.time_budget if cfg.time_budget else None


def _until(items, deadline: float | None):
    """The items, until `deadline` passes (the first one always)."""
    for n, item in enumerate(items):
        if n and deadline is not None and time.monotonic() >= deadline:
            return
        yield item


def _valid_cap(cfg: TrainConfig) -> int:
    """Most validation tokens: under a time budget, about 1,000 per second of it (at least
    a few windows), so one validation pass stays a small share of the budget."""
    return max(4 * cfg.seq_len, int(1000 * cfg.time_budget)) if cfg.time_budget else 1 << 62


def _describe(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files"


def _previous(model_dir: Path) -> dict:
    if not (model_dir / artifact.CONFIG).exists():
        raise ModelError(f"no model at {model_dir} to resume (train one without --resume first)")
    config = artifact.read_config(model_dir)
    if not (model_dir / artifact.KERAS).exists():
        raise ModelError(f"{model_dir / artifact.KERAS} is missing, so training cannot resume")
    artifact.read_file(model_dir, artifact.KERAS, config)  # the one config.json describes
    return config


def _load_keras(model_dir: Path) -> keras.Model:
    try:
        return keras.saving.load_model(model_dir / artifact.KERAS, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise ModelError(f"{model_dir / artifact.KERAS} cannot be loaded ({exc})") from None


def _fit_batch(cfg: TrainConfig, train_span, valid_span, auto_batch: bool, windows: int) -> TrainConfig:
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
              unroll: bool | None = None, jit_compile: bool | str = "auto",
              gpu: bool | None = None) -> keras.Model:
    """The network of `model_cfg`, compiled for training as `cfg` says (also what
    bench/train_speed.py times). `unroll` defaults to windows up to UNROLL_MAX tokens on a
    CPU, and to False on a GPU (`gpu`: default, whether TensorFlow sees one), where Keras
    runs the LSTM on the cuDNN kernel only when it is not unrolled (and keeps the default
    activations, no recurrent dropout: the model never changes those)."""
    if gpu is None:
        gpu = bool(tf.config.list_logical_devices("GPU"))
    if unroll is None:
        unroll = (cfg.seq_len or defaults.SHORT_WINDOW) <= UNROLL_MAX and not gpu
    facts = hardware.training_facts() if cfg.precision == "auto" else hardware.Facts()
    cfg = _settle(cfg, model_cfg, facts, lambda _line: None)
    net = model_mod.build(model_cfg, sampled=cfg.sampled_softmax, precision=cfg.precision, unroll=unroll)
    # The loss is the model's own (compute_loss): sampled or exact softmax.
    net.compile(optimizer=keras.optimizers.Adam(
        cfg.learning_rate, global_clipnorm=cfg.clipnorm, use_ema=cfg.weight_average,
        ema_momentum=average_momentum(steps_per_epoch)), jit_compile=jit_compile)
    return net


def _resolve_windows(cfg: TrainConfig, long_context: bool, previous: dict | None,
                     auto_batch: bool) -> TrainConfig:
    """The window length and placement, and the learning rate, where not given: those the
    resumed model was trained with, else by the text (defaults.long_context; the
    learning rate waits for the network's width). Long windows come in smaller batches
    (`auto_batch`: the batch size was not given)."""
    if previous is not None:
        saved = from_dict(TrainConfig, previous.get("training", {}))
        return replace(cfg, seq_len=cfg.seq_len or saved.seq_len or defaults.SHORT_WINDOW,
                       line_windows=saved.line_windows if cfg.line_windows is None else cfg.line_windows,
                       learning_rate=cfg.learning_rate or saved.learning_rate)
    if long_context and auto_batch:
        cfg = replace(cfg, batch_size=min(cfg.batch_size, defaults.LONG_BATCH))
    window = defaults.LONG_WINDOW if long_context else defaults.SHORT_WINDOW
    return replace(cfg, seq_len=cfg.seq_len or window,
                   line_windows=long_context if cfg.line_windows is None else cfg.line_windows)


def _network(model_options: dict | None, vocab: int, long_context: bool, seq_len: int,
             train_tokens: int) -> ModelConfig:
    """The network's settings: those given, the rest by the corpus (defaults.py)."""
    options = {k: v for k, v in (model_options or {}).items() if v is not None}
    options.setdefault("embedding_dim", defaults.embedding_size(vocab))
    options.setdefault("units", defaults.units(options["embedding_dim"]))
    if long_context:
        options.setdefault("attention", defaults.LONG_ATTENTION)
        options.setdefault("chrono", seq_len)
    options["attention_span"] = seq_len  # what the attention sees in training
    try:
        if "dropout" not in options:
            parameters = ModelConfig(vocab_size=vocab, **options).parameter_count()
            options["dropout"] = defaults.dropout(train_tokens, parameters)
        return ModelConfig(vocab_size=vocab, **options)
    except ValueError as exc:  # what was given does not fit what the corpus chose
        raise NextwordError(f"{exc} (chosen for this corpus: {_describe_options(options)}; "
                            f"give the others too)") from None


def _describe_options(options: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items() if k != "attention_span")


def _patience(long: bool, stop_epochs: int, steps_per_epoch: int) -> tuple[int, int]:
    """Epochs without a better validation before the learning rate is halved and before
    training stops: the whole epochs closest to defaults.patience's updates in long
    context or short, at least one and `stop_epochs`."""
    lr_updates, stop_updates = defaults.patience(long)
    steps = max(1, steps_per_epoch)
    return max(1, round(lr_updates / steps)), max(stop_epochs, round(stop_updates / steps))


def average_momentum(steps_per_epoch: int) -> float:
    """Momentum of the weight average: it spans about half an epoch (so an average saved
    at the end of an epoch has forgotten the start of it), within 10 to 1,000 steps."""
    return 1.0 - 1.0 / min(1000.0, max(10.0, steps_per_epoch / 2))


def _holdout_blocks(tokens: int, seq_len: int) -> int:
    """Blocks the held-out validation text is cut into: about 40 windows each, at most 64."""
    return max(1, min(64, tokens // (40 * seq_len)))


def _span_counts(tokens: data.TokenFile, span: tuple[int, int], vocab: int) -> np.ndarray:
    counts = np.zeros(vocab, dtype=np.int64)
    for chunk in tokens.chunks(*span):
        counts += np.bincount(chunk, minlength=vocab)[:vocab]
    return counts


def _unigram_perplexity(train_counts: np.ndarray, valid_counts: np.ndarray) -> float:
    """Perplexity on the validation tokens of add-one unigram frequencies of the training
    tokens: the floor any language model should beat by far."""
    probs = (train_counts + 1) / (train_counts.sum() + len(train_counts))
    return float(math.exp(-(valid_counts * np.log(probs)).sum() / max(1, valid_counts.sum())))


