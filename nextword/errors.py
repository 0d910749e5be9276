"""The project's exception types. Each carries a message meant for the user, in one line."""

import signal


class NextwordError(Exception):
    """Base class: a problem the user can fix (bad input, missing model, bad option)."""


class CorpusError(NextwordError):
    """The training or evaluation text cannot be used (missing, empty, binary, too small)."""


class ModelError(NextwordError):
    """A model directory is missing, incomplete, corrupt or of an unknown format."""


class NonFiniteWeights(ModelError):
    """Weights hold NaN or infinity: training diverged. Such weights are never saved."""


class TornRead(ModelError):
    """A model's files do not match the digests in its config.json: it was being replaced
    while read (try again), or it is damaged."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP: the terminal closed), raised in the main thread so that Ctrl-C's
    clean-up runs; exit 128 + the signal's number (143, 129)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class TrainingInterrupted(NextwordError):
    """Ctrl-C (exit 130) or SIGTERM (143) during training; the message says what was kept
    and how to resume."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code
