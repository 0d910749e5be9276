"""The predictor that predict, complete, generate, info and evaluate load, and the notes it
has for stderr."""

from __future__ import annotations

import os
import sys

from nextword.cli.options import resolve_model, resolve_user_db
from nextword.cli.output import note, require_stdout


def load_predictor(model_dir, interactive: bool = True, user_db: str | None = None, store: bool = True):
    """The predictor of `predict`, `complete`, ...: the model, and the personal store unless
    `store` is False (a store that cannot be opened is noted once on stderr, and left out)."""
    require_stdout()  # every command that loads a model answers on stdout
    if interactive:
        one_blas_thread()
    from nextword.prediction.predictor import Predictor

    predictor = Predictor.load(resolve_model(model_dir), resolve_user_db(user_db) if store else None)
    note_store(predictor)
    return predictor


def note_store(predictor) -> None:
    """Say on stderr, once each, why the personal store is not used (or no longer learns),
    or that what is learned waits for a busy store."""
    for message in predictor.take_notes():
        note(message)


def one_blas_thread() -> None:
    """For keystroke-by-keystroke prediction. One token at a time is a small matrix-vector
    product: BLAS threads only add hand-off latency (p99 per keystroke fell from 24 ms to
    5 ms on a busy 2-core machine). Must be set before NumPy loads; `evaluate` keeps them
    for bulk work."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
