"""How a model's LSTM reads best: its perplexity on a text read on from one state and read
in windows of its training length (prediction/windowed.py), beside restarting it from a
zero state every window (context 0 to W - 1 tokens, no overlap).

    python bench/reading.py MODEL TEXT [--tokens 20000] [--window W]

`nextword train` makes the same comparison on validation text and records the better one;
this measures it on any text, e.g. WikiText-2's test split. NumPy only.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextword.modeldir import directory  # noqa: E402
from nextword.prediction import windowed  # noqa: E402
from nextword.prediction.lstm import Engine  # noqa: E402


class Restarted(windowed.WindowedEngine):
    """Every prediction from a reader started at the last multiple of W (0 to W - 1 back)."""

    def _hidden_rows(self, ids):
        for start in range(0, len(ids), self.window):
            h = self.engine._layers_forward(self.engine.zero_state(), ids[start:start + self.window])[-1][0]
            yield self.engine._attend(h, self.engine._qkv_rows(h), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("text", type=Path)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--window", type=int, help="default: the model's training window")
    args = parser.parse_args()
    snap = directory.load(args.model)
    cfg = snap.config["_model"]
    engine = Engine(replace(cfg, reading_window=0), snap.weights)
    window = args.window or snap.config["training"]["seq_len"]
    with open(args.text, encoding="utf-8") as f:
        text = f.read(40 * args.tokens)
    ids = np.asarray(snap.tokenizer.encode(text).ids[:args.tokens + 1], dtype=np.int64)
    print(f"{args.model}: trained on {window}-token windows, attention {cfg.attention or 'none'}, "
          f"recorded reading {cfg.reading_window or 'on from one state'}; "
          f"{len(ids) - 1:,} tokens of {args.text.name}")
    readers = {"on from one state": engine,
               f"in windows of {window} (what train may choose)": windowed.WindowedEngine(engine, window),
               f"restarted every {window}": Restarted(engine, window)}
    for name, reader in readers.items():
        started = time.perf_counter()
        ppl = windowed.perplexity(reader, ids)
        print(f"  {name:<44} perplexity {ppl:8.2f}   ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
