"""Writing the model directory during training: saving each better model, keeping the model
already there unless this run beats it (modeldir/replacing.py), and saying what is where when
training ends, is interrupted or diverges."""

from __future__ import annotations

import contextlib
import functools
import time
from datetime import datetime, timezone
from pathlib import Path

from nextword import __version__
from nextword.errors import ModelError, NonFiniteWeights, Terminated, TrainingInterrupted  # noqa: F401  (re-exported)
from nextword.modeldir import directory, replacing
from nextword.modeldir.settings import FORMAT_VERSION, Summary, to_dict
from nextword.prediction import ngram_counts
from nextword.text import casing, lexicon
from nextword.training import network as model_mod
from nextword.training.callbacks import BestCheckpoint, Progress
from nextword.training.plan import Job, Plan
from nextword.training.read import Corpus


class TrainingDiverged(ModelError):
    """The loss or the weights became NaN or infinite; such a network is never saved."""


def exit_code(exc: BaseException) -> int:
    """143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C."""
    return exc.exit_code if isinstance(exc, Terminated) else 130


class ModelWriter:
    """Saves, keeps and replaces the model at `job.model_dir` for one training run; only the
    chief writes (on other workers it only counts epochs)."""

    def __init__(self, job: Job, plan: Plan, text: Corpus, ngram: dict | None, net,
                 previous: dict | None, there: dict | None, progress: Progress):
        self.job, self.plan, self.text, self.ngram, self.net = job, plan, text, ngram, net
        self.there = there  # the model this run may replace (or resumes)
        self.progress = progress
        self.prior = directory.summary(previous) if previous else Summary()
        self.summary = Summary(
            corpus=text.names, valid=text.valid_names,
            train_tokens=text.train_tokens, valid_tokens=text.valid_tokens,
            epochs_done=self.prior.epochs_done, val_perplexity=self.prior.val_perplexity,
            unigram_perplexity=text.unigram, parameters=plan.network.parameter_count())
        self.to_beat, self.bar = replacing.bar(there, self.summary, text.vocab, job.replace_any)
        self.saved = replacing.Saved()

    def save(self, epochs_done: int, ppl: float | None) -> None:
        """Write the network as it is now (validation perplexity `ppl`) as the model."""
        summary, model_dir = self.summary, self.job.model_dir
        summary.epochs_done = epochs_done
        if not self.job.chief:
            return
        summary.val_perplexity = ppl
        summary.wall_seconds = round(time.monotonic() - self.job.started + self.prior.wall_seconds, 1)
        summary.trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        summary.tokens_per_second = self.progress.tokens_per_second
        config = {"format_version": FORMAT_VERSION, "nextword_version": __version__,
                  "model": to_dict(self.plan.network), "training": to_dict(self.plan.training),
                  "summary": to_dict(summary)}
        try:
            directory.write(model_dir, config, self.text.tok,
                           model_mod.export_weights(self.net, self.plan.network), self._extra_files,
                           committed=functools.partial(self.saved.commit, ppl))
        except NonFiniteWeights as exc:
            raise TrainingDiverged(f"training diverged ({exc}); {self.kept()}") from None
        except OSError as exc:
            raise ModelError(f"cannot save the model to {model_dir}: {exc.strerror or exc}"
                             + (f" ({exc.filename})" if exc.filename else "")
                             + f"; {self.kept()}") from None

    def _extra_files(self, tmp: Path) -> None:
        """The files beside weights.npz: the Keras model (to resume), casing, the rare
        words, the 3-gram."""
        self.net.save(tmp / directory.KERAS)
        casing.save(self.text.display, tmp)
        if len(self.text.lexicon):  # (none: a corpus without rare words, or a resumed older model)
            lexicon.save(self.text.lexicon, tmp)
        if self.ngram is not None:
            ngram_counts.save(self.ngram, tmp)

    def kept(self) -> str:
        """What is at the model path now, in words."""
        return self.saved.kept(self.job.model_dir, self.there)

    def interrupted(self, exc: BaseException) -> TrainingInterrupted:
        """The error for Ctrl-C or SIGTERM during training. With nothing to lose at the
        destination, what was learned is kept first, unvalidated."""
        if not self.saved.count and self.there is None and self.job.chief:
            with contextlib.suppress(TrainingDiverged):
                self.save(self.prior.epochs_done, None)
        return TrainingInterrupted(self.saved.interrupted(self.job.model_dir, self.there, self.summary),
                                   exit_code=exit_code(exc))

    def diverged(self, reason: str) -> TrainingDiverged:
        return TrainingDiverged(f"training diverged ({reason}; lower --learning-rate): {self.kept()}")

    def conclude(self, checkpoint: BestCheckpoint, epochs_run: int, stopped_because: str) -> str | None:
        """After training: with no validated model saved, the last one is saved when nothing
        was there; else the model there is kept, and this says why (None: this run's model
        is the one there)."""
        kept = None
        if not self.saved.count:
            if self.there is None:
                self.save(epochs_run, checkpoint.best)
            else:
                kept = replacing.not_better_message(self.job.model_dir, self.bar, checkpoint)
        self.summary.stopped_because = stopped_because
        return kept

    def finish(self, mixture: dict | None, reading: int, adaptation: dict | None = None) -> None:
        """Record why training stopped, how the network reads, the mixture's weights and
        how much the predictor adapts."""
        try:
            directory.update_config(self.job.model_dir, functools.partial(
                _record, reason=self.summary.stopped_because, reading=reading, mixture=mixture,
                adaptation=adaptation))
        except OSError as exc:  # the model is saved; only these details of it are not
            self.job.log(f"Warning: could not record the mixture's weights and why training stopped "
                         f"in {self.job.model_dir}: {exc.strerror or exc}")


def _record(config: dict, reason: str, reading: int, mixture: dict | None,
            adaptation: dict | None) -> None:
    config["summary"].update(stopped_because=reason)
    config["model"]["reading_window"] = reading
    if mixture is not None:
        config["mixture"] = mixture
    if adaptation is not None:
        config["adaptation"] = adaptation
