"""Keras callbacks of the trainer: progress on stderr, a wall-clock budget, and saving the
best model (by validation perplexity) as a complete model directory after each epoch."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

import keras


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress(keras.callbacks.Callback):
    """Tokens/s, loss and ETA: one rewritten line on a terminal, a line a minute otherwise,
    a line per epoch with the validation perplexity, and one when the learning rate changes
    (ReduceLROnPlateau halves it after the epoch line)."""

    def __init__(self, tokens_per_step: int, steps_per_epoch: int, epochs: int | None,
                 deadline: float | None, stream: TextIO | None = None):
        super().__init__()
        self.tokens_per_step = tokens_per_step
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.deadline = deadline
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.train_seconds = 0.0
        self.train_steps = 0
        self._last_print = 0.0
        self._learning_rate = None

    @property
    def tokens_per_second(self) -> float | None:
        if self.train_seconds <= 0:
            return None
        return self.train_steps * self.tokens_per_step / self.train_seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._step_start = None
        rate = _learning_rate(self.model)
        if self._learning_rate is not None and rate is not None and rate != self._learning_rate:
            self._write(f"learning rate {rate:.3g} (was {self._learning_rate:.3g}: validation stalled)\n")
        self._learning_rate = rate

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if self._step_start is not None and batch > 0:  # step 0 includes tracing
            self.train_seconds += now - self._step_start
            self.train_steps += 1
        if now - self._last_print >= (0.5 if self.tty else 60.0):
            self._last_print = now
            self._line(batch + 1, logs or {})

    def _eta(self, step: int) -> float | None:
        rate = self.tokens_per_second
        if not rate:
            return None
        if self.epochs is None:  # as many epochs as the time budget allows
            return self.deadline - time.monotonic() if self.deadline is not None else None
        steps_left = (self.epochs - self.epoch - 1) * self.steps_per_epoch + self.steps_per_epoch - step
        eta = steps_left * self.tokens_per_step / rate
        if self.deadline is not None:
            eta = min(eta, self.deadline - time.monotonic())
        return eta

    def _line(self, step: int, logs: dict) -> None:
        rate = self.tokens_per_second
        eta = self._eta(step)
        text = (f"epoch {self._of(self.epoch)}  step {step}/{self.steps_per_epoch}  "
                f"loss {logs.get('loss', float('nan')):.3f}  "
                f"{f'{rate:,.0f} tok/s' if rate else '... tok/s'}  "
                f"ETA {format_duration(eta) if eta is not None else '?'}")
        self._write(("\r\033[K" + text) if self.tty else (text + "\n"))

    def _of(self, epoch: int) -> str:
        return f"{epoch + 1}" if self.epochs is None else f"{epoch + 1}/{self.epochs}"

    def _write(self, text: str) -> None:
        """Progress is a courtesy: if stderr is gone (`2>&1 | head`) or full, training
        goes on without it."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        val = logs.get("val_loss")
        ppl = f"val perplexity {math.exp(min(val, 50)):.1f}" if val is not None else ""
        rate = self.tokens_per_second
        self._write(("\r\033[K" if self.tty else "")
                    + f"epoch {self._of(epoch)}: loss {logs.get('loss', float('nan')):.3f}  "
                      f"{ppl}  {rate or 0:,.0f} tok/s\n")


def _learning_rate(model) -> float | None:
    """The optimizer's fixed learning rate; None without one, or for a schedule (whose
    value changes by design)."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "_learning_rate", None)
    if rate is None or isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class TimeBudget(keras.callbacks.Callback):
    """Stop training so that it, the final validation and the last save end by `deadline`."""

    def __init__(self, deadline: float, eval_fraction: float, checkpoint: "BestCheckpoint"):
        super().__init__()
        self.deadline = deadline
        self.checkpoint = checkpoint
        # Estimated cost of one validation pass, in training steps.
        self.eval_fraction = eval_fraction
        self.triggered = False
        self._step_start = 0.0
        self._step_seconds = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if batch > 0:
            took = now - self._step_start
            self._step_seconds = took if not self._step_seconds else 0.9 * self._step_seconds + 0.1 * took
        reserve = self._step_seconds * (1 + self.eval_fraction) + self.checkpoint.save_seconds
        if now + reserve >= self.deadline:
            self.triggered = True
            self.model.stop_training = True


class BestCheckpoint(keras.callbacks.Callback):
    """After each epoch, call `save(epoch, val_perplexity)` if validation improved."""

    def __init__(self, save: Callable[[int, float], None], best: float | None = None,
                 max_loss: float = 700.0):
        super().__init__()
        self.save = save
        self.best = best
        self.max_loss = max_loss  # a validation loss above this is divergence, never saved
        self.run_best: float | None = None  # the best of this run, saved or not
        self.save_seconds = 0.0  # how long the last save took

    def on_epoch_end(self, epoch, logs=None):
        val = (logs or {}).get("val_loss")
        if val is None or not val <= self.max_loss:  # NaN fails the comparison too
            return
        ppl = math.exp(val)
        self.run_best = ppl if self.run_best is None else min(ppl, self.run_best)
        if self.best is None or ppl < self.best:
            self.best = ppl
            start = time.monotonic()
            self.save(epoch + 1, ppl)
            self.save_seconds = time.monotonic() - start


class StopOnDivergence(keras.callbacks.Callback):
    """Stop at the first step whose loss is NaN or infinite, or at a validation loss far
    worse than guessing uniformly among `vocab` words (the weights are then no use), and
    say where in `reason`."""

    def __init__(self, vocab: int):
        super().__init__()
        self.limit = 2 * math.log(max(vocab, 2)) + 1  # the uniform guess scores log(vocab)
        self.reason: str | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.reason = f"loss {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        val = (logs or {}).get("val_loss")
        if self.reason is None and val is not None and not float(val) <= self.limit:
            self.reason = f"validation loss {float(val):.4g} at epoch {epoch + 1}"
            self.model.stop_training = True
