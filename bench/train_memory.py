"""Streaming check: peak RSS of `nextword train` on a corpus and on one 10x larger.

    python bench/train_memory.py [--base-mb 100] [--train-seconds 60]

The corpus repeats ../shared/corpora/wikitext-2.valid.txt (or generated text when absent)
to --base-mb and to 10x that. Each run trains the same model for the same time with a
fixed small --valid file, as a separate process whose peak RSS is read from the kernel
(getrusage of the waited child). Target: the 10x run's peak <= 1.2x the 1x run's.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "wikitext-2.valid.txt"


def seed_text() -> str:
    if SHARED.exists():
        return SHARED.read_text(encoding="utf-8")
    rng = random.Random(0)
    words = [f"word{i}" for i in range(5000)]
    return "\n".join(" ".join(rng.choice(words) for _ in range(12)) + " ." for _ in range(20000)) + "\n"


def write_corpus(path: Path, megabytes: int) -> None:
    block = seed_text().encode("utf-8")
    with open(path, "wb") as f:
        written = 0
        while written < megabytes << 20:
            f.write(block)
            written += len(block)


def peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process; run in a fresh interpreter so the
    RUSAGE_CHILDREN maximum is this child's alone."""
    probe = ("import resource, subprocess, sys, time; t = time.time(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, "
             "text=True); "
             "sys.stderr.write(r.stderr[-3000:]) if r.returncode else None; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.time() - t); "
             "sys.exit(r.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"training failed:\n{out.stderr}")
    rss, seconds = out.stdout.split()
    return float(rss), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-mb", type=int, default=100)
    parser.add_argument("--train-seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="train-memory-") as tmp:
        tmp = Path(tmp)
        valid = tmp / "valid.txt"
        valid.write_text(seed_text()[:200_000], encoding="utf-8")
        results = []
        for scale in (1, 10):
            corpus = tmp / f"corpus-{scale}x.txt"
            write_corpus(corpus, args.base_mb * scale)
            size = corpus.stat().st_size / 2**20
            cmd = [sys.executable, "-m", "nextword", "train", str(corpus), "--valid", str(valid),
                   "-m", str(tmp / f"model-{scale}x"), "--time-budget", f"{args.train_seconds}s",
                   "--units", "256", "--embedding-dim", "128"]
            rss, seconds = peak_rss_of(cmd)
            results.append((scale, size, rss, seconds))
            print(f"{scale:>3}x corpus ({size:,.0f} MB): peak RSS {rss:,.0f} MB, "
                  f"{seconds:.0f} s in all", flush=True)
            corpus.unlink()
        ratio = results[1][2] / results[0][2]
        print(f"peak RSS ratio 10x / 1x: {ratio:.2f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
