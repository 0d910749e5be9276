"""The training plan: what one `train` call asked for (`Job`), and the settings that depend on
the corpus and the hardware, each resolved once.

`choose_windows` picks how the text is cut into windows (the hold-out needs their length);
`make_plan` resolves everything else (batch, network, arithmetic, learning rate, epochs)
into one frozen `Plan`, whose `training` and `network` are what config.json records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nextword.errors import CorpusError, NextwordError
from nextword.modeldir.settings import ModelConfig, TrainConfig, from_dict
from nextword.prediction import mixture as mixture_mod
from nextword.training import data, defaults, hardware

EPOCHS = 20  # the most epochs without a time budget (with one, the budget is the limit)
UNLIMITED = 10**6

# Fitting the mixture reads validation tokens with the NumPy LSTM: about 0.45 ms a token
# with 512 units (measured on an Intel Xeon with AMX); the time budget keeps this much back
# for each of READ_PASSES passes over the fit's tokens: choosing the reading (continuous and
# windowed, as fast when a whole text is read, over half of them) and the fit itself (one
# reading of the network, which the adaptation's fit shares), and of ADAPTATION_PASSES for
# the adaptation's fit after it (prediction/adaptation.py: the continuous cache and the
# first step tried; 20,000 tokens of WikiText-2 with 512 units and 8,173 words on an AMD
# EPYC, the host loaded by a training: 26.5 s when it read the network itself, 6 s of it
# that reading).
FIT_SECONDS_PER_TOKEN = 5e-4
READ_PASSES = 2
ADAPTATION_PASSES = 2


@dataclass(frozen=True)
class Job:
    """One `train` call: what was asked (None: choose), and where and when it runs."""

    corpus_args: list[str]
    model_dir: Path
    asked: TrainConfig
    model_options: dict | None
    valid_args: list[str] | None
    resume: bool
    auto_batch: bool           # the batch size was not given: it may shrink to fit the text
    replace_any: bool
    dist: Any                  # the tf.distribute strategy
    chief: bool                # this process writes the model
    started: float             # time.monotonic() when the time budget began
    deadline: float | None     # when the time budget ends
    log: Callable[[str], None]

    def share(self, fraction: float) -> float | None:
        """A deadline `fraction` of the time budget from now (None without a budget): reading
        the corpus may not eat the budget however large or oddly shaped the text is."""
        budget = self.asked.time_budget
        return time.monotonic() + fraction * budget if budget else None


@dataclass(frozen=True)
class Windows:
    """How the text is cut into training windows: chosen by the text (defaults.long_context),
    or those the resumed model was trained with."""

    seq_len: int
    line_windows: bool
    long: bool                   # the text suits long context (the patience follows it)
    long_context: bool           # and this new model gets it
    batch_size: int              # long windows come in smaller batches, unless given

    def valid_cap(self, time_budget: float | None) -> int:
        """Most validation tokens: under a time budget, about 1,000 per second of it (at
        least a few windows), so one validation pass stays a small share of the budget."""
        return max(4 * self.seq_len, int(1000 * time_budget)) if time_budget else 1 << 62


def choose_windows(job: Job, vocab: int, tokens: int, lines: int, previous: dict | None) -> Windows:
    """Long context for a small vocabulary in long lines; a resumed model keeps its windows."""
    cfg = job.asked
    long = defaults.long_context(vocab, tokens / max(1, lines))
    if previous is not None:
        saved = from_dict(TrainConfig, previous.get("training", {}))
        return Windows(cfg.seq_len or saved.seq_len or defaults.SHORT_WINDOW,
                       saved.line_windows if cfg.line_windows is None else cfg.line_windows,
                       long, False, cfg.batch_size)
    batch = min(cfg.batch_size, defaults.LONG_BATCH) if long and job.auto_batch else cfg.batch_size
    return Windows(cfg.seq_len or (defaults.LONG_WINDOW if long else defaults.SHORT_WINDOW),
                   long if cfg.line_windows is None else cfg.line_windows,
                   long, long, batch)


@dataclass(frozen=True)
class Resumed:
    """What a resumed network keeps: its arithmetic and optimizer, and (unless given) its
    learning rate."""

    network: ModelConfig
    precision: str
    weight_average: bool
    sampled_softmax: bool
    learning_rate: float | None


@dataclass(frozen=True)
class Plan:
    """Every setting of this run, resolved: `training` and `network` go into config.json."""

    training: TrainConfig
    network: ModelConfig
    windows: Windows

    @property
    def epochs_limit(self) -> int | None:
        """The epochs to show in the progress line (None: until the time budget ends)."""
        return None if self.training.epochs >= UNLIMITED else self.training.epochs

    def fit_tokens(self) -> int:
        """Validation tokens the mixture's weights are fitted on: predictors.mixture.FIT_TOKENS,
        fewer under a short time budget (reading them takes about 4 % of it)."""
        budget = self.training.time_budget
        if not budget:
            return mixture_mod.FIT_TOKENS
        most = 0.04 * budget / (FIT_SECONDS_PER_TOKEN * READ_PASSES)
        return int(min(mixture_mod.FIT_TOKENS, max(1000, most)))

    def training_deadline(self, deadline: float | None) -> float | None:
        """When training stops under the time budget: early enough to fit the mixture and the
        adaptation too."""
        if deadline is None:
            return None
        return deadline - self.fit_tokens() * FIT_SECONDS_PER_TOKEN * (READ_PASSES + ADAPTATION_PASSES)


def make_plan(job: Job, windows: Windows, vocab: int, train_tokens: int, n_windows: int,
              valid_tokens: int, facts: hardware.Facts, resumed: Resumed | None) -> Plan:
    """The batch that fits the text, the network (given or chosen by the corpus, or the
    resumed one), and the settings that depend on the network and the hardware."""
    cfg = job.asked
    batch = fit_batch(windows, train_tokens, n_windows, valid_tokens, job.auto_batch)
    if resumed is not None:
        network = resumed.network
        precision, sampled = resumed.precision, resumed.sampled_softmax
        weight_average, learning_rate = resumed.weight_average, resumed.learning_rate
    else:
        network = choose_network(job.model_options, vocab, windows.long_context, windows.seq_len,
                                 train_tokens)
        precision = resolve_precision(cfg.precision, facts, network.units, job.log)
        sampled = (defaults.sampled_softmax(network.vocab_size) if cfg.sampled_softmax is None
                   else cfg.sampled_softmax)
        weight_average = cfg.weight_average
        learning_rate = (defaults.learning_rate(network.units) if cfg.learning_rate is None
                         else cfg.learning_rate)
    epochs = cfg.epochs if cfg.epochs is not None else UNLIMITED if cfg.time_budget else EPOCHS
    training = replace(cfg, seq_len=windows.seq_len, line_windows=windows.line_windows,
                       batch_size=batch, learning_rate=learning_rate, precision=precision,
                       sampled_softmax=sampled, weight_average=weight_average, epochs=epochs)
    return Plan(training, network, windows)


def fit_batch(windows: Windows, train_tokens: int, n_windows: int, valid_tokens: int,
              auto_batch: bool) -> int:
    """The batch size: a small corpus gets smaller batches (unless the size was given), so
    that an epoch still has ~50 updates; too little text for one batch is an error."""
    batch = windows.batch_size
    if auto_batch and n_windows < 50 * batch:
        batch = max(1, min(batch, n_windows // 50))
    if n_windows < batch:
        raise CorpusError(
            f"too few tokens to train on: {train_tokens:,} give {n_windows} "
            f"window(s) of {windows.seq_len}, less than one batch of {batch} "
            f"(give more text, or a smaller --batch-size or --seq-len)")
    if data.window_count(valid_tokens, windows.seq_len) < 1:
        raise CorpusError(f"too little validation text for one window of {windows.seq_len} tokens")
    return batch


def settle(cfg: TrainConfig, model_cfg: ModelConfig, facts: hardware.Facts,
           log: Callable[[str], None]) -> TrainConfig:
    """The training settings that depend on the network, where not given: the arithmetic
    (logged), the sampled softmax and the learning rate."""
    return replace(
        cfg, precision=resolve_precision(cfg.precision, facts, model_cfg.units, log),
        sampled_softmax=(defaults.sampled_softmax(model_cfg.vocab_size)
                         if cfg.sampled_softmax is None else cfg.sampled_softmax),
        learning_rate=(defaults.learning_rate(model_cfg.units) if cfg.learning_rate is None
                       else cfg.learning_rate))


def resolve_precision(precision: str, facts: hardware.Facts, units: int,
                      log: Callable[[str], None]) -> str:
    """`auto` becomes what the hardware runs fastest for a network of `units`; one line
    says which and why."""
    if precision != "auto":
        log(f"Arithmetic: {precision} (as asked)")
        return precision
    choice = hardware.choose_precision(facts, units)
    log(f"Arithmetic: {choice.precision}, because {choice.reason}")
    return choice.precision


def choose_network(model_options: dict | None, vocab: int, long_context: bool, seq_len: int,
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
        chosen = ", ".join(f"{k} {v}" for k, v in options.items() if k != "attention_span")
        raise NextwordError(f"{exc} (chosen for this corpus: {chosen}; give the others too)") from None


def patience(long: bool, stop_epochs: int, steps_per_epoch: int) -> tuple[int, int]:
    """Epochs without a better validation before the learning rate is halved and before
    training stops: the whole epochs closest to defaults.patience's updates in long
    context or short, at least one and `stop_epochs`."""
    lr_updates, stop_updates = defaults.patience(long)
    steps = max(1, steps_per_epoch)
    return max(1, round(lr_updates / steps)), max(stop_epochs, round(stop_updates / steps))

