"""The LSTM's memory curve: top-1 accuracy at "... can speak fluent ___" against the number
of filler tokens between the country and the answer, beside the 3-gram baseline.

    python bench/memory_curve.py [--budget 5m] [--passages 12000]

Half the training passages have no filler (the link is learnt there first), half carry
filler of up to --max-gap tokens; held-out passages are grouped by gap.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nextword
from corpora import longrange
from nextword.cli import parse_duration
from nextword.config import TrainConfig
from nextword.ngram_build import kneser_ney
from nextword.predictor import Predictor
from nextword.train import train

FILLER_BUCKETS = [(0, 0), (1, 10), (11, 20), (21, 35), (36, 60), (61, 90), (91, 150),
                  (151, 250), (251, 400)]  # filler tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m")
    parser.add_argument("--passages", type=int, default=12000)
    parser.add_argument("--max-gap", type=int, default=60)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="memory-curve-"))
    corpus = work / "longrange.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for lo, hi, seed in ((0, 0, args.seed), (1, args.max_gap, args.seed + 1)):
            f.writelines(text + "\n" for text, *_ in longrange.passages(args.passages // 2, lo, hi, seed))
    # The settings of the figures in the README (measured before tying, bfloat16 and the
    # weight average became defaults): an untied float32 network, the last weights.
    cfg = TrainConfig(epochs=1000, seq_len=100, batch_size=32, learning_rate=0.005, min_count=1,
                      patience=1000, seed=args.seed, time_budget=parse_duration(args.budget),
                      precision="float32", weight_average=False)
    result = train([str(corpus)], work / "model", cfg,
                   dict(units=args.units, embedding_dim=64, dropout=0.0, tied=False))
    lstm = nextword.load(work / "model")
    ids = np.asarray(lstm.tokenizer.encode(corpus.read_text()).ids)
    trigram = Predictor(lstm.path, kneser_ney(lstm.engine.vocab_size, [ids]), lstm.tokenizer)

    print(f"\ntrained {result.summary.epochs_done} epochs, {result.summary.wall_seconds:.0f} s; "
          f"chance = {1 / len(longrange.COUNTRIES):.0%}")
    print(f"{'gap (tokens)':>14}  {'passages':>8}  {'LSTM top-1':>10}  {'3-gram top-1':>12}")
    for lo, hi in FILLER_BUCKETS:
        group = list(longrange.passages(300, lo, hi, seed=1000 + lo))
        gaps = [p[3] for p in group]
        print(f"{f'{min(gaps)}-{max(gaps)}':>14}  {len(group):>8}  "
              f"{longrange.top1_accuracy(lstm.suggest, group):>10.0%}  "
              f"{longrange.top1_accuracy(trigram.suggest, group):>12.0%}")
    print(f"(gap = tokens between the country and the answer; training gaps up to {args.max_gap + 5})")


if __name__ == "__main__":
    main()
