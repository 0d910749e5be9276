"""nextword: next-word prediction with an LSTM language model trained on your own text.

    >>> import nextword
    >>> predictor = nextword.load("~/.local/share/nextword/model")
    >>> predictor.suggest("I can speak fluent ", k=3)
    [('spanish', 0.41), ...]

Loading and predicting use NumPy only; TensorFlow is imported by training alone.
"""

__version__ = "0.1.0"


def load(path=None, user_db="default"):
    """Load the model directory at `path` (default: the CLI's default model) for prediction,
    with the personal store at `user_db` (default: the CLI's; None for none)."""
    from nextword.prediction.predictor import Predictor

    return Predictor.load(path, user_db)


__all__ = ["__version__", "load"]
