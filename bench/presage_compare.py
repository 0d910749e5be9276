"""Keystroke savings of nextword and Presage on the same split, static and learning as they go.

    python bench/presage_compare.py MODEL TEXT [--words 1000] [-n 6]

MODEL was trained on its corpus (config.json names it); TEXT is held-out text. Typed with
The keystroke-savings simulation of docs/model-format.md (presage_simulator's scoring): nextword's full
predictor as it is (the cache reads the typed text), then learning each line once typed
(nextword.frontends.learning: a temporary personal store and the network's adaptation), and, when
Debian's `presage` package is installed (presage_simulator, text2ngram; never a
dependency of nextword), Presage's smoothed 3-gram counted on the model's training text,
alone and with its user n-gram (empty at the start, learning online) and recency
predictor. Without presage that part says "skipped".
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from personal_store import PRESAGE_CONFIG, _presage_figure  # noqa: E402

from nextword.frontends.evaluate import KSR_WORD, PARAGRAPH_BREAK, keystroke_savings, ksr_from  # noqa: E402
from nextword.frontends.learning import Learner  # noqa: E402
from nextword.modeldir import directory  # noqa: E402
from nextword.prediction.predictor import Predictor  # noqa: E402

PRESAGE_SETUPS = (("static", "General", "no"), ("recency", "General Recency", "yes"),
                  ("user n-gram + recency", "General User Recency", "yes"))


def presage(general_text: list[Path], paragraphs: list[str], work: Path) -> list[tuple[str, str]]:
    """(setup, KSR or why not) for each of PRESAGE_SETUPS; the user n-gram starts empty
    and learns online. Presage 0.9.1 can abort on an assertion with the user n-gram
    (smoothedNgramPredictor.cpp: numerator <= denominator): that setup then says so."""
    simulator, text2ngram = shutil.which("presage_simulator"), shutil.which("text2ngram")
    if not (simulator and text2ngram):
        return [("all", "skipped (Debian's presage package is not installed: apt-get install presage)")]
    if not all(p.is_file() for p in general_text):
        return [("all", "skipped (the model's training text is not readable here)")]
    typed = work / "typed.txt"
    typed.write_text("\n\n".join(paragraphs), encoding="utf-8")
    (work / "empty.txt").write_text("\n", encoding="utf-8")
    for db, sources in (("general.db", general_text), ("user.db", [work / "empty.txt"])):
        for order in (1, 2, 3):
            subprocess.run([text2ngram, "-n", str(order), "-l", "-f", "sqlite", "-o", str(work / db),
                            *map(str, sources)], check=True, capture_output=True)
    out = []
    for name, predictors, learn in PRESAGE_SETUPS:
        config = work / f"presage-{name.split()[0]}.xml"
        config.write_text(PRESAGE_CONFIG.format(predictors=predictors, general=work / "general.db",
                                                user=work / "user.db", learn=learn))
        run = subprocess.run([simulator, "-q", "-i", "-c", str(config), str(typed)],
                             capture_output=True, text=True)
        if run.returncode:
            why = (run.stderr.strip().splitlines() or ["no message"])[-1]
            out.append((name, f"failed (presage_simulator exit {run.returncode}: {why[-120:]})"))
        else:
            out.append((name, f"{100 * _presage_figure(run.stdout):5.1f} %"))
    return out


def paragraphs_of(text: str, words: int) -> list[str]:
    """The paragraphs of `text` that hold its first `words` words (all with 0)."""
    out, count = [], 0
    for paragraph in PARAGRAPH_BREAK.split(text):
        if paragraph.strip() and (not words or count < words):
            out.append(paragraph)
            count += len(KSR_WORD.findall(paragraph))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("text", type=Path)
    parser.add_argument("--words", type=int, default=1000, help="Words typed (0 = all).")
    parser.add_argument("-n", "--suggestions", type=int, default=6)
    args = parser.parse_args()
    paragraphs = paragraphs_of(args.text.read_text(encoding="utf-8"), args.words)
    corpus = [Path(p) for p in directory.summary(directory.read_config(args.model)).corpus]
    print(f"model {args.model} (trained on {', '.join(map(str, corpus))}); typed: {args.text}, "
          f"first {args.words:,} words, N={args.suggestions}")
    with tempfile.TemporaryDirectory(prefix="nextword-presage-") as tmp:
        work = Path(tmp)
        predictor = Predictor.load(args.model, user_db=None)
        start = time.perf_counter()
        static = keystroke_savings(predictor.suggest, paragraphs, args.suggestions, args.words,
                                   predictor.read)
        print(f"nextword static            KSR {100 * ksr_from(static):5.1f} %  ({static['words']:,} words, "
              f"{time.perf_counter() - start:.0f} s)")
        start = time.perf_counter()
        learner = Learner(predictor, work / "user.db")
        learning = learner.keystroke_savings(paragraphs, args.suggestions, args.words)
        print(f"nextword learning as it goes KSR {100 * ksr_from(learning):5.1f} %  "
              f"({learning['words']:,} words, {learner.lines:,} lines learned, "
              f"{time.perf_counter() - start:.0f} s)")
        words = sum(len(KSR_WORD.findall(p)) for p in paragraphs)
        for name, figure in presage(corpus, paragraphs, work):
            print(f"presage {name:<22} KSR {figure}  ({words:,} words: whole paragraphs)")


if __name__ == "__main__":
    main()
