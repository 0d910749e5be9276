"""The stages of training after the corpus is read (read.py): the network, the 3-gram,
the batches, Keras `fit` with its callbacks, and fitting the predictor to the model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nextword.errors import ModelError
from nextword.modeldir import directory, replacing
from nextword.modeldir.settings import ModelConfig, TrainConfig, from_dict
from nextword.prediction import adaptation, ngram_counts, windowed
from nextword.prediction import mixture as mixture_mod
from nextword.prediction.lstm import Engine
from nextword.prediction.ngram import KneserNey
from nextword.text import tokenizer
from nextword.training import data, defaults, distribute, hardware
from nextword.training import network as model_mod
from nextword.training.callbacks import BestCheckpoint, Progress, StopOnDivergence, TimeBudget
from nextword.training.plan import Job, Plan, Resumed, make_plan, patience, settle
from nextword.training.read import Corpus
from nextword.training.writer import ModelWriter, TrainingInterrupted, exit_code

UNROLL_MAX = 100  # longest window whose LSTM steps are unrolled into one graph


def previous_model(job: Job) -> tuple[dict | None, dict | None]:
    """The model to resume (--resume), and the model this run may replace."""
    if job.resume:
        model_dir = job.model_dir
        if not (model_dir / directory.CONFIG).exists():
            raise ModelError(f"no model at {model_dir} to resume (train one without --resume first)")
        config = directory.read_config(model_dir)
        if not (model_dir / directory.KERAS).exists():
            raise ModelError(f"{model_dir / directory.KERAS} is missing, so training cannot resume")
        directory.read_file(model_dir, directory.KERAS, config)  # the one config.json describes
        return config, config
    return None, replacing.existing(job.model_dir) if job.chief else None


def network(job: Job, text: Corpus, previous: dict | None) -> tuple[Plan, keras.Model]:
    """The plan and the network: a new one as the plan says, or the saved one to resume."""
    facts = hardware.training_facts()
    keras.utils.set_random_seed(job.asked.seed)
    if previous is not None:
        with job.dist.scope():
            net = _load_keras(job.model_dir)
        # The saved model keeps its arithmetic and optimizer: record what is used.
        saved = from_dict(TrainConfig, previous.get("training", {}))
        resumed = Resumed(previous["_model"], net.dtype_policy.name, bool(net.optimizer.use_ema),
                          net.sampled, job.asked.learning_rate or saved.learning_rate)
        return _plan(job, text, facts, resumed), net
    plan = _plan(job, text, facts, None)
    cfg, windows = plan.training, plan.windows
    job.log(f"Network: {plan.network.describe()}; dropout {plan.network.dropout:g}, "
            f"learning rate {cfg.learning_rate:g}"
            + ("; long context: windows of "
               f"{cfg.seq_len} tokens{' at line starts' if cfg.line_windows else ''}"
               if windows.long_context else ""))
    with job.dist.scope():
        net = new_model(plan.network, cfg, text.n_windows // cfg.batch_size, gpu=bool(facts.gpus))
    return plan, net


def _plan(job: Job, text: Corpus, facts: hardware.Facts, resumed: Resumed | None) -> Plan:
    return make_plan(job, text.windows, text.vocab, text.train_tokens, text.n_windows,
                     text.valid_tokens, facts, resumed)


def count_ngram(job: Job, text: Corpus) -> dict[str, np.ndarray] | None:
    """The 3-gram's Kneser-Ney counts of the training tokens (None: too short, or a worker)."""
    if not job.chief:
        return None
    try:
        return ngram_counts.build(text.vocab, text.tokens.chunks(*text.train_span))
    except ValueError:
        return None


@dataclass(frozen=True)
class Batches:
    """The shuffled training batches and the in-order validation batches."""

    train: tf.data.Dataset
    steps: int          # training steps in an epoch
    valid: tf.data.Dataset
    valid_steps: int


def batches(job: Job, plan: Plan, text: Corpus, net: keras.Model) -> Batches:
    """The training and validation batches, as the plan cuts them."""
    cfg = plan.training
    train_ds, steps = data.train_dataset(text.tokens, cfg.seq_len, cfg.batch_size, *text.train_span,
                                         cfg.seed, text.starts)
    valid_starts = (data.line_windows(text.valid, cfg.seq_len, *text.valid_span) if cfg.line_windows
                    else None)
    n_workers = distribute.workers(job.dist)
    valid_ds, val_steps = data.eval_dataset(text.valid, cfg.seq_len, cfg.batch_size, *text.valid_span,
                                            workers=n_workers, starts=valid_starts)
    if n_workers > 1:
        distribute.prebuild_for_workers(net, job.dist, train_ds)
    return Batches(train_ds, steps, valid_ds, val_steps)


def announce(job: Job, plan: Plan, text: Corpus, batches: Batches) -> Progress:
    """One line on what is trained how; the callback that shows how training goes."""
    cfg = plan.training
    job.log(f"Training on {text.train_tokens:,} tokens (validation {text.valid_tokens:,}), "
            f"vocabulary {text.vocab:,}, {plan.network.parameter_count():,} parameters, "
            f"batch {cfg.batch_size} x {cfg.seq_len} tokens")
    return Progress(cfg.batch_size * cfg.seq_len, batches.steps, plan.epochs_limit, job.deadline)


@dataclass(frozen=True)
class Fitted:
    """How `fit` went: the best validation so far, and why it stopped."""

    checkpoint: BestCheckpoint
    epochs_run: int        # epochs done, counting those before a resume
    stopped_because: str   # "time budget", "epochs" or "early stopping"


def fit(job: Job, plan: Plan, net: keras.Model, batches: Batches, writer: ModelWriter) -> Fitted:
    """Keras `fit`, saving each better model, until the epochs, patience or budget end."""
    # The callbacks show progress, save each better model, stop on divergence, halve the
    # learning rate, stop early and keep to the time budget.
    cfg, progress = plan.training, writer.progress
    diverged = StopOnDivergence(plan.network.vocab_size)
    checkpoint = BestCheckpoint(writer.save, best=writer.to_beat, max_loss=diverged.limit)
    # The average weights are swapped in to validate and to be saved (SwapEMAWeights
    # comes before the checkpoint), and out again to train.
    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if net.optimizer.use_ema else []
    lr_wait, stop_wait = patience(plan.windows.long, cfg.patience, batches.steps)
    callbacks = [progress, diverged, *averaging, checkpoint,
                 keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=lr_wait,
                                                   min_lr=cfg.learning_rate / 32, verbose=0),
                 keras.callbacks.EarlyStopping("val_loss", patience=stop_wait)]
    budget = None
    if job.deadline is not None:
        # Training ends early enough to fit the mixture's weights within the budget too.
        budget = TimeBudget(plan.training_deadline(job.deadline), eval_fraction=0.35 * batches.valid_steps,
                            checkpoint=checkpoint)
        callbacks.append(budget)
    first = writer.prior.epochs_done
    try:
        net.fit(batches.train, steps_per_epoch=batches.steps, epochs=first + cfg.epochs,
                initial_epoch=first, validation_data=batches.valid, callbacks=callbacks,
                shuffle=False, verbose=0)
    except KeyboardInterrupt as exc:
        raise writer.interrupted(exc) from None
    if diverged.reason is not None:
        raise writer.diverged(diverged.reason)
    # epochs_done is the best (saved) epoch; the reason depends on the last one run.
    reason = ("time budget" if budget is not None and budget.triggered
              else "epochs" if progress.epoch + 1 >= first + cfg.epochs else "early stopping")
    return Fitted(checkpoint, progress.epoch + 1, reason)


def fit_predictor(job: Job, plan: Plan, text: Corpus, ngram: dict | None,
                  best: float | None) -> tuple[dict | None, int, dict | None]:
    """How the saved network reads text, the mixture's weights fitted to it, and how much
    it adapts to the text being written (mixture, reading window, adaptation)."""
    # Ctrl-C here keeps the saved model, with the predictor's default weights.
    try:
        return fit_mixture(job, plan, text, ngram)
    except KeyboardInterrupt as exc:
        ppl = f"{best:.1f}" if best is not None else "not measured"
        raise TrainingInterrupted(
            f"while fitting the mixture's weights; the model in {job.model_dir} is saved "
            f"(validation perplexity {ppl}) and predicts with default weights",
            exit_code=exit_code(exc)) from None


def fit_mixture(job: Job, plan: Plan, text: Corpus,
                ngram: dict | None) -> tuple[dict | None, int, dict | None]:
    """How the engine reads (windowed.choose_reading), the weights of the LSTM, the 3-gram
    and the cache, fitted on the validation tokens with the model just saved, read that way
    (prediction/mixture.py), then the adaptation's settings on the same tokens
    (prediction/adaptation.py); None (the predictor's defaults) for what could not be
    fitted. Returns (weights, reading_window, adaptation)."""
    snap, max_tokens = directory.load(job.model_dir), plan.fit_tokens()
    start, stop = text.valid_span
    ids = np.asarray(text.valid.ids()[start:min(stop, start + max_tokens + 1)], dtype=np.int64)
    engine = Engine(replace(snap.config["_model"], reading_window=0), snap.weights)
    reading, lstm = choose_reading(job, engine, plan.training.seq_len, ids)
    network_read = adaptation.Reading(lstm, ids)  # the network reads the tokens once, for both fits
    try:
        fitted, columns = mixture_mod.fit_columns(
            network_read, KneserNey(ngram) if ngram is not None else None,
            tokenizer.vocabulary(snap.tokenizer), ids, max_tokens)
    except ValueError as exc:
        job.log(f"Note: the predictor keeps its default weights ({exc})")
        return None, reading, None
    ppl, weights = fitted["perplexity"], fitted["weights"]
    job.log(f"Mixture fitted on {fitted['fitted_on']:,} validation tokens: perplexity "
            + ", ".join(f"{name} {ppl[name]:.1f}" for name in ("lstm", "ngram", "mixture") if name in ppl)
            + " (weights " + ", ".join(f"{name} {w:.2f}" for name, w in weights.items()) + ")")
    eol = snap.tokenizer.token_to_id(tokenizer.EOL)
    try:
        adapted = adaptation.fit(lstm, ids[: len(columns.known) + 1], eol, columns, deadline=job.deadline,
                                 hidden=network_read.hidden[: len(columns.known)])
    except ValueError as exc:
        job.log(f"Note: learning as you go keeps its default settings ({exc})")
        return fitted, reading, None
    if adapted is None:
        job.log("Note: no time left in the budget to fit learning as you go; the predictor keeps "
                "its defaults")
        return fitted, reading, None
    job.log(f"Learning as you go fitted on {adapted['lines']:,} line ends: perplexity "
            f"{adapted['perplexity']['static']:.1f} -> {adapted['perplexity']['learning']:.1f} "
            f"(step {adapted['step']:g}, continuous cache {adapted['cache_lambda']:g} "
            f"at sharpness {adapted['cache_theta']:g})")
    return fitted, reading, adapted


def choose_reading(job: Job, engine: Engine, window: int, ids: np.ndarray):
    """How the predictor reads text: straight through, or in windows of `window` tokens as
    the network was trained (windowed.choose_reading, on half of `ids`), said in one line.
    Returns (reading_window, the engine that reads so)."""
    half = len(ids) // 2
    reading, figures = windowed.choose_reading(engine, window, ids[:half + 1])
    if figures:
        straight, windows = f"{figures['continuous']:.1f}", f"{figures['windows']:.1f}"
        job.log(f"Reading: the predictor reads in windows of {window} tokens, as trained "
                f"(network perplexity {windows} on {half:,} validation tokens; straight through: "
                f"{straight})" if reading else
                f"Reading: the predictor reads each text straight through (network perplexity "
                f"{straight} on {half:,} validation tokens; in windows of {window} tokens, as "
                f"trained: {windows})")
    return reading, (windowed.WindowedEngine(engine, reading) if reading else engine)


def _load_keras(model_dir: Path) -> keras.Model:
    try:
        return keras.saving.load_model(model_dir / directory.KERAS, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise ModelError(f"{model_dir / directory.KERAS} cannot be loaded ({exc})") from None


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
    cfg = settle(cfg, model_cfg, facts, lambda _line: None)
    net = model_mod.build(model_cfg, sampled=cfg.sampled_softmax, precision=cfg.precision, unroll=unroll)
    # The loss is the model's own (compute_loss): sampled or exact softmax.
    net.compile(optimizer=keras.optimizers.Adam(
        cfg.learning_rate, global_clipnorm=cfg.clipnorm, use_ema=cfg.weight_average,
        ema_momentum=average_momentum(steps_per_epoch)), jit_compile=jit_compile)
    return net


def average_momentum(steps_per_epoch: int) -> float:
    """Momentum of the weight average: it spans about half an epoch (so an average saved
    at the end of an epoch has forgotten the start of it), within 10 to 1,000 steps."""
    return 1.0 - 1.0 / min(1000.0, max(10.0, steps_per_epoch / 2))
