"""Quality in a fixed time: `nextword train` with default settings for 10 minutes on the
WikiText-2 validation split, then `nextword evaluate` on the test split, beside the Kneser-Ney trigram
estimated on the same training text and the full predictor that mixes both with a cache
(issue 13's target for the LSTM: test perplexity <= 130; issue 15's for the full
predictor: perplexity <= 110 and keystroke savings >= 55 % over the first 1,000 words).

    python bench/wikitext_quality.py [--budget 10m] [--ksr-words 1000] [-- extra train options]

Runs the real command line in a fresh process, as a user would (the budget counts from the
start of that process). Needs ../shared/corpora; without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
TRAIN, TEST = CORPORA / "wikitext-2.valid.txt", CORPORA / "wikitext-2.test.txt"
TARGET = 130.0
FULL_TARGET, FULL_KSR = 110.0, 0.55


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--ksr-words", type=int, default=1000)
    parser.add_argument("--keep", metavar="DIR",
                        help="Write the model here (default: a temporary directory).")
    parser.add_argument("train_options", nargs="*", help="Extra options for nextword train (after --).")
    args = parser.parse_args()
    if not (TRAIN.exists() and TEST.exists()):
        print(f"WikiText-2 quality: skipped ({CORPORA} has no WikiText-2 files)")
        return
    nextword = [sys.executable, "-m", "nextword"]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.keep) if args.keep else Path(tmp) / "wikitext"
        started = time.monotonic()
        subprocess.run([*nextword, "train", str(TRAIN), "-m", str(model), "--time-budget", args.budget,
                        *args.train_options], check=True, stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        out = subprocess.run([*nextword, "evaluate", "-m", str(model), str(TEST), "--json",
                              "--ksr-words", str(args.ksr_words)],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(subprocess.run([*nextword, "info", "-m", str(model), "--json"],
                                         check=True, capture_output=True, text=True).stdout)
    scores = {s["model"]: s for s in json.loads(out)["models"]}
    lstm, kn, full = scores["LSTM"], scores.get("3-gram KN"), scores.get("full predictor")
    summary = info["summary"]
    print(f"WikiText-2, train {TRAIN.name} for {args.budget} ({seconds:.0f} s in all, "
          f"{summary['epochs_done']} epochs kept, {summary['tokens_per_second']:,.0f} tokens/s), "
          f"test {TEST.name}:")
    for name, s in (("nextword LSTM", lstm), ("3-gram Kneser-Ney", kn), ("full predictor", full)):
        if s is None:
            continue
        top = s["top"]
        print(f"  {name:<18} perplexity {s['perplexity']:7.1f}   top-1 {top['1']:.1%}  "
              f"top-5 {top['5']:.1%}   keystroke savings {s['ksr']:.1%}")
    verdict = "met" if lstm["perplexity"] <= TARGET else "not met"
    print(f"  target: LSTM perplexity <= {TARGET:.0f} ({verdict})")
    if full is not None:
        met = full["perplexity"] <= FULL_TARGET and full["ksr"] >= FULL_KSR
        print(f"  target: full predictor perplexity <= {FULL_TARGET:.0f} and keystroke savings >= "
              f"{FULL_KSR:.0%} ({'met' if met else 'not met'})")


if __name__ == "__main__":
    main()
