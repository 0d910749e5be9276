"""Prediction speed: cold start, per-keystroke latency through the pipe, peak memory.

    python bench/predict_speed.py [--model DIR] [--vocab N] [--user-db PATH] [--learn]

Without --model it builds a model of the size the targets are set for (embedding 256,
512 LSTM units, --vocab words, 10,000 by default; issue 28 sets its targets for 14,000)
with everything the full predictor mixes: the vocabulary and the 3-gram (ngram.npz) from
../shared/corpora/wikitext-2.{valid,test}.txt when present (else generated words), random
LSTM weights (speed does not depend on them), default weights for the mixture; the cache
fills as the keystrokes come. No personal store unless --user-db names one (e.g. filled
with `nextword learn --user-db PATH FILE...`; it is only read).
Targets: cold start <= 0.4 s, p99 <= 3 ms per keystroke, peak RSS <= 150 MB.

With --learn the paragraph is typed as three lines through `predict --learn`, which learns
a line (the store, and the network's adaptation) after answering the first key of the
next; the bench then waits --pause-ms (100 ms by default: no one types the key after that
within a tenth of a second) so that the keystrokes measured are the typist's, and reports
apart what learning a line costs (timed in this process, on the same model).

It also types on at the end of a long document in this process, as an editor's language
server asks (the whole text before the cursor each time), and reports that apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextword.modeldir import directory
from nextword.modeldir.settings import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, to_dict
from nextword.prediction import ngram_counts
from nextword.prediction.mixture import DEFAULT_WEIGHTS
from nextword.text import tokenizer

SHARED = [Path(__file__).resolve().parents[2] / "shared" / "corpora" / f"wikitext-2.{split}.txt"
          for split in ("valid", "test")]
PARAGRAPH = ("The return value of the function is a new list that holds the items of the old "
             "one in the order they were found , and the original list is left as it was . "
             "When the file does not exist , an error is raised and nothing is written .")


def build_model(path: Path, vocab: int = 10_000) -> None:
    if all(f.exists() for f in SHARED):
        texts = [f.read_text(encoding="utf-8") for f in SHARED]
    else:
        rng = np.random.default_rng(0)
        texts = [" ".join(f"w{i}" for i in rng.zipf(1.2, 400_000) % 20_000), PARAGRAPH]
    tok = tokenizer.train(texts, vocab, 1)
    cfg = ModelConfig(vocab_size=tok.get_vocab_size(), embedding_dim=256, units=512, dropout=0.0)
    rng = np.random.default_rng(1)
    arrays = {name: (rng.standard_normal(shape) * 0.05).astype(np.float32)
              for name, shape in directory.expected_shapes(cfg).items()}
    summary = Summary(corpus=["(benchmark: random weights)"])
    config = {"format_version": FORMAT_VERSION, "model": to_dict(cfg),
              "training": to_dict(TrainConfig()), "summary": to_dict(summary),
              "mixture": {"weights": DEFAULT_WEIGHTS}}
    ngram = ngram_counts.build(cfg.vocab_size, (np.asarray(tok.encode(t).ids) for t in texts))
    directory.write(path, config, tok, arrays, lambda tmp: ngram_counts.save(ngram, tmp))


def timed(cmd: list[str], runs: int) -> float:
    """Median wall time of `cmd` as a fresh process, after a run that is not timed and may
    write the sources' bytecode caches, as an installed package has them (pip compiles at
    install; where PYTHONDONTWRITEBYTECODE is set, each start would compile ~80 modules of a
    checkout again: 55 ms of 0.3 s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def keystrokes(model: Path, rounds: int, user_db: str = "", learn: bool = False,
               pause: float = 0.1) -> tuple[list[float], int]:
    """Replay PARAGRAPH one character at a time through `nextword predict` (one process),
    timing each answer; returns the latencies and the process's peak RSS in bytes. With
    `learn`, predict --learn, and PARAGRAPH typed as three lines (its sentences): each line
    is learned (and adapted to) after the answer to the next one's first key, and the
    typist pauses `pause` seconds there."""
    proc = subprocess.Popen([sys.executable, "-m", "nextword", "predict", "-m", str(model),
                             "--user-db", user_db, *(["--learn"] if learn else [])],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    latencies = []
    lines = [s.strip() for s in re.split(r"(?<= \.) ", PARAGRAPH)] if learn else [PARAGRAPH]
    for r in range(rounds):
        for n, line in enumerate(lines):
            for i in range(1, len(line) + 1):
                start = time.perf_counter()
                proc.stdin.write(line[:i] + "\n")
                proc.stdin.flush()
                proc.stdout.readline()
                if r > 0 or n > 0 or i > 1:  # the very first answer includes loading
                    latencies.append(time.perf_counter() - start)
                if learn and i == 1 and (r > 0 or n > 0):
                    time.sleep(pause)  # the line before is being learned
    peak = peak_rss(proc.pid)
    proc.stdin.close()
    proc.wait()
    return latencies, peak


def peak_rss(pid: int) -> int:
    """The peak resident set of a running process, in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


@contextlib.contextmanager
def bench_model(path: Path | None, vocab: int):
    """`path`, or the benchmark model built in a temporary directory for the duration."""
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            path = Path(tmp) / "bench-model"
            build_model(path, vocab)
        yield path


def line_learning(model: Path, rounds: int = 5) -> dict:
    """What learning one of PARAGRAPH's lines costs (Predictor.learn: the store, its trust,
    the network's step and the continuous cache), in this process: p50 and max in ms."""
    from nextword.prediction.predictor import Predictor
    from nextword.store.database import UserStore

    with tempfile.TemporaryDirectory() as tmp:
        predictor = Predictor.load(model, user_db=None)
        predictor.use_store(UserStore(Path(tmp) / "user.db"))
        lines = [s.strip() for s in re.split(r"(?<= \.) ", PARAGRAPH)]
        times = []
        for _ in range(rounds):
            for line in lines:
                predictor.suggest(line, 6)
                start = time.perf_counter()
                predictor.learn(line)
                times.append(1000 * (time.perf_counter() - start))
        predictor.personal.user_store.close()
    times.sort()
    return {"line_learning_p50_ms": round(times[len(times) // 2], 2),
            "line_learning_max_ms": round(times[-1], 2)}


def document_typing(model: Path, written: int = 5000, typed: int = 2000) -> dict:
    """Typing on at the end of a long document, as an editor's language server asks: each
    keystroke's query is the whole document before the cursor, `written` characters long
    when the typing starts (the predictor reads the last 4,000-5,000 of them), then
    `typed` more, one at a time (the window the predictor reads moves twice). In this
    process, no personal store: p50, p99 and max in ms, and the keystrokes over 5 ms."""
    from nextword.prediction.predictor import Predictor

    if SHARED[1].exists():
        text = SHARED[1].read_text(encoding="utf-8")[: written + typed]
    else:
        rng = np.random.default_rng(2)
        text = " ".join(f"w{i}" for i in rng.zipf(1.2, written + typed) % 20_000)[: written + typed]
    predictor = Predictor.load(model, user_db=None)
    predictor.suggest(text[:written], 6)
    times = []
    for end in range(written + 1, len(text) + 1):
        start = time.perf_counter()
        predictor.suggest(text[:end], 6)
        times.append(1000 * (time.perf_counter() - start))
    slow = sum(t > 5 for t in times)
    times.sort()
    return {"document_p50_ms": round(times[len(times) // 2], 3),
            "document_p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
            "document_max_ms": round(times[-1], 1), "document_over_5ms": slow,
            "document_keystrokes": len(times)}


def describe(model: Path) -> str:
    cfg = directory.read_config(model)["_model"]
    return f"embedding {cfg.embedding_dim}, {cfg.units} units, {cfg.vocab_size} words"


def keystroke_figures(latencies: list[float]) -> dict:
    """p50 and p99 of per-keystroke latencies (seconds) in ms, and their count."""
    ms = sorted(1000 * x for x in latencies)
    return {"keystroke_p50_ms": round(ms[len(ms) // 2], 3),
            "keystroke_p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 3), "keystrokes": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--user-db", default="", metavar="PATH",
                        help="Personal store the predictor reads (default: none).")
    parser.add_argument("--learn", action="store_true",
                        help="predict --learn into a temporary store (unless --user-db): the "
                             "keystrokes after the first round meet the adapted network.")
    parser.add_argument("--pause-ms", type=float, default=100.0,
                        help="With --learn: the typist's pause after a new line's first key.")
    parser.add_argument("--vocab", type=int, default=10_000, help="Words of the model built.")
    args = parser.parse_args()
    if args.learn and not args.user_db:
        args.user_db = str(Path(tempfile.mkdtemp(prefix="nextword-speed-")) / "user.db")
    with bench_model(args.model, args.vocab) as model:
        cold = timed([sys.executable, "-m", "nextword", "predict", "-m", str(model),
                      "--user-db", args.user_db, "the "], args.runs)
        tf_import = timed([sys.executable, "-c", "import tensorflow"], max(1, args.runs // 2))
        latencies, peak = keystrokes(model, rounds=3, user_db=args.user_db, learn=args.learn,
                                     pause=args.pause_ms / 1000)
        figures = {"model": describe(model), "cold_start_s": round(cold, 3),
                   "import_tensorflow_s": round(tf_import, 3), **keystroke_figures(latencies),
                   "peak_rss_mb": round(peak / 2**20, 1)}
        figures.update(document_typing(model))
        if args.learn:
            figures.update(line_learning(model))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"model: {figures['model']}")
    if args.user_db:
        from nextword.store.database import UserStore

        held = UserStore(args.user_db).summary()
        print(f"personal store: {args.user_db}, {held.words:,} words learned ({held.distinct:,} distinct), "
              f"{held.pairs + held.triples:,} sequences, {held.bytes / 1e6:.0f} MB")
    print(f"cold start, `nextword predict \"the \"`: {cold:.3f} s   (target <= 0.4 s; "
          f"`python -c 'import tensorflow'` in the same run: {tf_import:.3f} s)")
    print(f"per keystroke through the pipe ({figures['keystrokes']} keystrokes): "
          f"p50 {figures['keystroke_p50_ms']} ms, p99 {figures['keystroke_p99_ms']} ms"
          "   (target p99 <= 3 ms)")
    print(f"peak RSS of the predict process: {figures['peak_rss_mb']} MB   (target <= 150 MB)")
    print(f"typing on at the end of a 5,000-character document, in process "
          f"({figures['document_keystrokes']} keystrokes): p50 {figures['document_p50_ms']} ms, "
          f"p99 {figures['document_p99_ms']} ms, max {figures['document_max_ms']} ms, "
          f"{figures['document_over_5ms']} over 5 ms")
    if args.learn:
        print(f"learning a line (store, trust, network step, continuous cache), in process: p50 "
              f"{figures['line_learning_p50_ms']} ms, max {figures['line_learning_max_ms']} ms   "
              f"(the typist's pause after a new line's first key: {args.pause_ms:g} ms)")


if __name__ == "__main__":
    main()
