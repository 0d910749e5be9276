"""The network's memory with the default settings: top-1 accuracy at "... can speak fluent ___"
against the number of tokens between the country and the answer, beside the 3-gram's.

    python bench/memory_curve.py [--budget 4m] [--passages 4000] [-- extra train options]

Trains as a user would: `nextword train passages.txt --time-budget 4m` and nothing else
(options after `--` are added, to measure an alternative). The training passages carry
30-60 tokens of varied filler (corpora/longrange.py); held-out passages of other seeds are
grouped by gap, the first row being the issue's test: 30-60 tokens, 200 passages. The
3-gram is the interpolated Kneser-Ney model `nextword evaluate` builds from the same text.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nextword  # noqa: E402
from corpora import longrange  # noqa: E402
from nextword.prediction import ngram_counts  # noqa: E402
from nextword.prediction.predictor import Predictor  # noqa: E402

GAP_BUCKETS = [(30, 60), (5, 15), (16, 29), (61, 90), (91, 150), (151, 250)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="4m")
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--min-gap", type=int, default=30)
    parser.add_argument("--max-gap", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="seed of the training passages")
    parser.add_argument("--keep", type=Path, help="train into this directory and keep it")
    parser.add_argument("extra", nargs="*", help="more `nextword train` options (after --)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="memory-curve-"))
    corpus = work / "passages.txt"
    longrange.write(str(corpus), args.passages, args.min_gap, args.max_gap, args.seed)
    model = args.keep or work / "model"
    command = [sys.executable, "-m", "nextword", "train", str(corpus), "-m", str(model),
               "--time-budget", args.budget, *args.extra]
    print("$", " ".join(["nextword", *command[3:]]), flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - started

    lstm = nextword.load(model).only("lstm")
    ids = np.asarray(lstm.tokenizer.encode(corpus.read_text()).ids)
    trigram = Predictor(lstm.path, ngram_counts.kneser_ney(lstm.engine.vocab_size, [ids]), lstm.tokenizer)
    training = nextword.modeldir.directory.read_config(model)["training"]
    print(f"\n{wall:.0f} s in all; seq_len {training['seq_len']}, batch {training['batch_size']}, "
          f"{training['precision']}; chance = {1 / len(longrange.COUNTRIES):.0%}")
    print(f"{'gap (tokens)':>14}  {'passages':>8}  {'LSTM top-1':>10}  {'3-gram top-1':>12}")
    for lo, hi in GAP_BUCKETS:
        group = list(longrange.passages(200, lo, hi, seed=1000 + lo))
        gaps = [p[3] for p in group]
        print(f"{f'{min(gaps)}-{max(gaps)}':>14}  {len(group):>8}  "
              f"{longrange.top1_accuracy(lstm.suggest, group):>10.1%}  "
              f"{longrange.top1_accuracy(trigram.suggest, group):>12.1%}", flush=True)
    print(f"(training gaps {args.min_gap}-{args.max_gap}; {args.passages} passages)")


if __name__ == "__main__":
    main()
