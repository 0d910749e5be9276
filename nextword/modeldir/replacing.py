"""What a training run may put at the model path, and what it says about it.

A model already at the path is replaced only by a validated model (finite weights: the
trainer checks that) whose validation perplexity beats the unigram baseline of its
validation text and, when both were trained on the same corpus files, the old model's.
`Saved` records what the run has committed so far (set the moment a swap commits), so the
messages after Ctrl-C, SIGTERM, divergence or a failed save say what is really there.
No TensorFlow here (the checkpoint is only a type).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nextword.errors import ModelError
from nextword.modeldir import directory, swap
from nextword.modeldir.settings import Summary

if TYPE_CHECKING:
    from nextword.training.callbacks import BestCheckpoint


def existing(model_dir: Path) -> dict | None:
    """The readable config of the model already at `model_dir` (a new run may replace it),
    or None; a model this nextword cannot read counts as a model with no perplexity."""
    if not swap.is_model_dir(model_dir):
        return None
    try:
        return directory.read_config(model_dir)
    except ModelError:
        return {"summary": {}, "model": {}}


def bar(there: dict | None, summary: Summary, vocab: int, replace_any: bool) -> tuple[float | None, str]:
    """The validation perplexity a new model must beat to replace the model `there`, and
    what it is: that model's own if it was validated on the same text (the perplexities
    compare), and in any case the unigram baseline of this run's validation text (a model
    that does not beat it has learned nothing worth replacing a model with)."""
    if there is None or replace_any:
        return None, ""
    before = directory.summary(there).val_perplexity
    if before is not None and same_text(there, summary, vocab) and before <= summary.unigram_perplexity:
        return before, f"its {before:.1f} on the same text"
    return summary.unigram_perplexity, f"the unigram baseline {summary.unigram_perplexity:.1f}"


def same_text(there: dict, summary: Summary, vocab: int) -> bool:
    """Whether validation perplexities of the model `there` and of this run compare: the
    same corpus (and --valid) files. Vocabulary and held-out sample may differ a little
    (a time budget reads less text, holds out fewer tokens): then the comparison is only
    close, and it errs towards keeping the model that is there (--replace overrides)."""
    before = directory.summary(there)
    return before.corpus == summary.corpus and before.valid == summary.valid


def not_better_message(model_dir: Path, bar: str, checkpoint: BestCheckpoint) -> str:
    got = ("no validated model" if checkpoint.run_best is None
           else f"validation perplexity {checkpoint.run_best:.1f}")
    return (f"kept the model already in {model_dir}: this run reached {got}, not better than "
            f"{bar} (--replace replaces it anyway)")


@dataclass
class Saved:
    """What this run has put at the model path so far (set the moment a swap commits, so
    the messages are right even if Ctrl-C comes right after)."""

    count: int = 0                  # validated models saved
    best: float | None = None       # the validation perplexity of the last one
    unvalidated: bool = False       # a model saved before any validation (nothing was there)

    def commit(self, ppl: float | None) -> None:
        if ppl is None:
            self.unvalidated = True
        else:
            self.count, self.best = self.count + 1, ppl

    def kept(self, model_dir: Path, there: dict | None) -> str:
        if self.count:
            return f"the best model before it (validation perplexity {self.best:.1f}) is in {model_dir}"
        if there is not None:
            return f"the model that was in {model_dir} is kept unchanged"
        return "nothing was saved"

    def interrupted(self, model_dir: Path, there: dict | None, summary: Summary) -> str:
        if self.count:
            kept = (f"the best model so far (validation perplexity {self.best:.1f}, "
                    f"epoch {summary.epochs_done}) is in {model_dir}")
        elif self.unvalidated:
            kept = f"the model as trained so far (not yet validated) is in {model_dir}"
        elif there is not None:
            return (f"interrupted before this run had a validated model; the model that was in "
                    f"{model_dir} is kept unchanged")
        else:
            return "interrupted before anything could be saved; nothing was written"
        return f"interrupted; {kept}. Continue with: nextword train -m {model_dir} --resume CORPUS..."
