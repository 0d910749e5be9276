"""Write tests/data/model-v1: a model directory as nextword 0.1.0 writes it, and beside it
compat-expected.json, what its suggest() answered when it was written. test_compat.py loads
the directory with today's code and checks the same probabilities, so a change that makes
an existing model predict differently (or not load) fails.

The directory was written by main at 02d7280 (before the move into sub-packages):

    git worktree add --detach ../golden 02d7280
    cd ../golden && PYTHONPATH=. ../nextword/.venv/bin/python \\
        ../nextword/tests/data/make_compat_model.py ../nextword/tests/data

compat-corpus.txt is tests.conftest.write_structured_corpus(path, sentences=300, seed=3).
Only the public API (`python -m nextword train`, `nextword.load(...)`, its `suggest` and `only`) is used, so
the script runs on both layouts. Rerun it only to record a deliberate format change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL = "model-v1"
EXPECTED = "compat-expected.json"
CORPUS = "compat-corpus.txt"
# Texts whose suggestions are recorded: bare context, a prefix, a sentence start, a
# word the cache learns from the text itself, text with no known word.
TEXTS = ["The cat ", "A dog barks ", "my friend laughs in the g", "", "The old man walks by the ",
         "Zorblax sleeps. Zor", "qqq "]
K = 8


def main(data: Path) -> None:
    model = data / MODEL
    shutil.rmtree(model, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "nextword", "train", str(data / CORPUS), "-m", str(model),
                    "--units", "8", "--embedding-dim", "8", "--epochs", "1", "--seed", "1",
                    "--seq-len", "10", "--batch-size", "8", "--dropout", "0"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NEXTWORD_USER_DB"] = str(Path(tmp) / "user.db")  # an empty personal store
        import nextword

        predictor = nextword.load(model)
        # The mixture, and each of the two fixed components alone (the fitted mixture leans
        # on the n-gram; the LSTM's own answer is checked too).
        expected = {"k": K, **{part: {text: (predictor if part == "mixture" else predictor.only(part))
                                      .fork().suggest(text, K) for text in TEXTS}
                               for part in ("mixture", "lstm", "ngram")}}
    (data / EXPECTED).write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
