"""Fit a trained model's mixture and adaptation again, as today's `nextword train` would at
its end, into a copy of the model directory: for comparing fits without training again.

    python bench/refit_mixture.py MODEL OUT [--tokens 20000]

The validation tokens are the ones training held out (the same blocks of the corpus, for a
model trained without --valid; the --valid files otherwise), so the weights see no text
the network was trained on. OUT gets MODEL's files with config.json's "mixture" and "adaptation" replaced
(prediction/mixture.py, prediction/adaptation.py).
Imports TensorFlow (through nextword.data): a training-side tool.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nextword.modeldir import directory  # noqa: E402
from nextword.prediction import adaptation  # noqa: E402
from nextword.prediction import mixture as mixture_mod  # noqa: E402
from nextword.prediction.ngram import KneserNey  # noqa: E402
from nextword.prediction.windowed import engine_for  # noqa: E402
from nextword.text import tokenizer  # noqa: E402
from nextword.training import data  # noqa: E402
from nextword.training.read import _holdout_blocks  # noqa: E402


def validation_ids(model: Path, work: Path) -> np.ndarray:
    snap = directory.load(model)
    config = snap.config
    summary = directory.summary(config)
    settings = config.get("training", config.get("settings", {}))
    valid_files = settings.get("valid") if isinstance(settings, dict) else None
    if valid_files:
        tokens = data.encode_files(snap.tokenizer, [Path(f) for f in valid_files], work / "valid.bin")
        return np.asarray(tokens.ids())
    tokens = data.encode_files(snap.tokenizer, [Path(f) for f in summary.corpus], work / "corpus.bin")
    seq_len = snap.config["_model"].seq_len if hasattr(snap.config["_model"], "seq_len") else 35
    seq_len = int(settings.get("seq_len", seq_len)) if isinstance(settings, dict) else seq_len
    budget = float(settings.get("time_budget") or 0) if isinstance(settings, dict) else 0
    cap = max(4 * seq_len, int(1000 * budget)) if budget else 1 << 62
    n_valid = min(max(2 * seq_len, int(tokens.count * 0.05)), cap)
    _, valid = data.hold_out(tokens, n_valid, _holdout_blocks(n_valid, seq_len),
                             work / "train.bin", work / "valid.bin")
    return np.asarray(valid.ids())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokens", type=int, default=mixture_mod.FIT_TOKENS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ids = validation_ids(args.model, Path(tmp))
    snap = directory.load(args.model)
    lstm = engine_for(snap.config["_model"], snap.weights)
    ids = ids[: args.tokens + 1]
    network_read = adaptation.Reading(lstm, ids)  # as training: one pass for both fits
    ngram = KneserNey(snap.ngram) if snap.ngram is not None else None
    fitted, columns = mixture_mod.fit_columns(network_read, ngram, tokenizer.vocabulary(snap.tokenizer),
                                              ids, args.tokens)
    print(json.dumps(fitted))
    adapted = adaptation.fit(lstm, ids[: len(columns.known) + 1],
                             snap.tokenizer.token_to_id(tokenizer.EOL), columns,
                             hidden=network_read.hidden[: len(columns.known)])
    print(json.dumps(adapted))
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(args.model, args.out)
    config = json.loads((args.out / "config.json").read_text())
    config["mixture"], config["adaptation"] = fitted, adapted
    (args.out / "config.json").write_text(json.dumps(config, indent=2))


if __name__ == "__main__":
    main()
