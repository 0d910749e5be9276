"""The project's exception types. Each carries a message meant for the user, in one line."""


class NextwordError(Exception):
    """Base class: a problem the user can fix (bad input, missing model, bad option)."""


class CorpusError(NextwordError):
    """The training or evaluation text cannot be used (missing, empty, binary, too small)."""


class ModelError(NextwordError):
    """A model directory is missing, incomplete, corrupt or of an unknown format."""
