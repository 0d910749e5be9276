"""Import TensorFlow without its C++ start-up chatter on stderr (oneDNN and absl notices
that TF_CPP_MIN_LOG_LEVEL no longer silences). Import errors still raise as usual."""

import os
import sys


def quiet_import_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
