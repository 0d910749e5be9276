"""Train a model: training as a pipeline of named stages, each printed as it starts.

`train(...)` is the library entry point the CLI calls. Training stops at the epoch limit,
on early stopping, at the time budget, or on Ctrl-C; in each case the best model so far
(by validation perplexity) is the one in the model directory.

The stages live in read.py (reading the corpus), plan.py (the settings the corpus and the
hardware decide, resolved once into a `Plan`), stages.py (network, 3-gram, fit, predictor)
and writer.py (saving, keeping and replacing the model).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nextword.training.tfimport import quiet_import_tensorflow

quiet_import_tensorflow()

from nextword.errors import NextwordError  # noqa: E402
from nextword.modeldir import (
    directory,  # noqa: E402
    swap,  # noqa: E402
)
from nextword.modeldir.settings import Summary, TrainConfig  # noqa: E402
from nextword.training import distribute  # noqa: E402
from nextword.training import stages as stages  # noqa: E402
from nextword.training.plan import EPOCHS, UNLIMITED, Job  # noqa: E402,F401
from nextword.training.plan import patience as _patience  # noqa: E402,F401
from nextword.training.read import read_corpus  # noqa: E402
from nextword.training.stages import UNROLL_MAX, average_momentum, new_model  # noqa: E402,F401
from nextword.training.writer import ModelWriter, TrainingDiverged, TrainingInterrupted  # noqa: E402,F401

STAGES = 5


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
    model_dir = Path(model_dir).expanduser().resolve()
    dist = distribute.make_strategy(strategy)  # before any other TensorFlow op
    job = Job(corpus_args, model_dir, cfg, model_options, valid_args, resume, auto_batch, replace_any,
              dist, distribute.is_chief(dist), started,
              started + cfg.time_budget if cfg.time_budget else None, log)
    if distribute.workers(dist) > 1 and job.deadline is not None:
        raise NextwordError("--time-budget cannot be used with several workers: each would "
                            "stop on its own clock; use --epochs")
    if not job.chief:  # other workers train in step with the chief but write nothing
        return _train(job)
    directory.check_writable(model_dir)
    with swap.writer_lock(model_dir):
        for line in swap.recover(model_dir):
            log(f"Note: {line}")
        swap.check_destination(model_dir)
        return _train(job)


def _train(job: Job) -> TrainResult:
    """The pipeline: each stage one function, announced as it starts (as KenLM's lmplz does)."""
    previous, there = stages.previous_model(job)
    with swap.work_dir() as work:
        _stage(job, 1, "Reading the corpus")
        text = read_corpus(job, work, previous)

        _stage(job, 2, "Setting up the network" if previous is None else "Loading the network")
        plan, net = stages.network(job, text, previous)

        _stage(job, 3, "Counting 3-grams in the training text")
        ngram = stages.count_ngram(job, text)

        _stage(job, 4, "Training the network")
        batches = stages.batches(job, plan, text, net)
        progress = stages.announce(job, plan, text, batches)
        writer = ModelWriter(job, plan, text, ngram, net, previous, there, progress)
        fitted = stages.fit(job, plan, net, batches, writer)
        kept = writer.conclude(fitted.checkpoint, fitted.epochs_run, fitted.stopped_because)

        if job.chief and kept is None:
            _stage(job, 5, "Fitting the predictor to the saved network")
            writer.finish(*stages.fit_predictor(job, plan, text, ngram, fitted.checkpoint.best))
    best = fitted.checkpoint.run_best if kept else fitted.checkpoint.best
    return TrainResult(job.model_dir, best, writer.summary, wrote_model=job.chief and kept is None,
                       kept=kept)


def _stage(job: Job, number: int, name: str) -> None:
    job.log(f"=== {number}/{STAGES} {name} ===")
