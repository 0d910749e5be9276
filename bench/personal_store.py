"""What the personal store is worth: keystroke savings with and without learning, on a text
whose names and jargon the model has not seen, split in time.

    python bench/personal_store.py [--model DIR] [--text FILE] [--learn-share 0.8] [--words 2000]

The model (by default trained once, `--time-budget 90s`, on the Python documentation corpus
of `make demo`, kept in bench/results/) types the second part of the text with the
keystroke-savings simulation of `nextword evaluate` (nextword.frontends.evaluate.keystroke_savings,
presage_simulator's scoring), twice: as it is (the cache still reads the typed text), and
with a personal store that has learned the first part with `nextword learn` and learns each
paragraph once typed, as `nextword complete` learns each line. The text is
../shared/corpora/tinyshakespeare.txt unless --text names another; without it the
benchmark says so and stops.

Beside it, when Debian's `presage` package is installed (presage_simulator, text2ngram),
Presage on the same split: its smoothed 3-gram counted on the model's training text, alone,
then with a user 3-gram counted on the first part (learning online) and its recency
predictor. Otherwise it says "skipped".
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

from nextword.frontends.evaluate import PARAGRAPH_BREAK, keystroke_savings, ksr_from
from nextword.modeldir import directory
from nextword.prediction.predictor import Predictor

SHARED = ROOT.parent / "shared" / "corpora"
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "corpora" / "python-docs.txt"


def default_model(log) -> Path:
    """The benchmark's model: trained once on the Python docs corpus, then reused."""
    model = RESULTS / "personal-store-model"
    if (model / "config.json").exists():
        return model
    if not DOCS.exists():
        subprocess.run([sys.executable, str(ROOT / "corpora" / "python_docs.py"), str(DOCS)], check=True)
    log(f"Training the benchmark's model on {DOCS.name} (90 s) ...")
    subprocess.run([sys.executable, "-m", "nextword", "train", str(DOCS), "-m", str(model),
                    "--time-budget", "90s"], check=True, cwd=ROOT)
    return model


def split(text: str, share: float, words: int) -> tuple[str, list[str]]:
    """(the first `share` of the lines, the paragraphs after them holding about `words` words)."""
    lines = text.splitlines(keepends=True)
    cut = int(len(lines) * share)
    learned, rest = "".join(lines[:cut]), "".join(lines[cut:])
    paragraphs, count = [], 0
    for paragraph in PARAGRAPH_BREAK.split(rest):
        if paragraph.strip() and count < words:
            paragraphs.append(paragraph)
            count += len(paragraph.split())
    return learned, paragraphs


def nextword_ksr(model: Path, learned: str | None, paragraphs: list[str], n: int, words: int,
                 store_dir: Path) -> tuple[float, dict, float]:
    """(keystroke savings, counts, seconds spent learning) of the full predictor, with a
    personal store that learned `learned` (None: no store)."""
    if learned is None:
        predictor = Predictor.load(model, user_db=None)
        finished = predictor.read
        seconds = 0.0
    else:
        store_path = store_dir / "user.db"
        source = store_dir / "learned.txt"
        source.write_text(learned, encoding="utf-8")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nextword", "learn", str(source), "--user-db", str(store_path)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        predictor = Predictor.load(model, user_db=store_path)

        def finished(paragraph: str) -> None:
            predictor.read(paragraph)
            predictor.learn(paragraph)

    counts = keystroke_savings(predictor.suggest, paragraphs, n, words, finished)
    return ksr_from(counts), counts, seconds


def presage_ksr(general_text: list[Path], learned: str, paragraphs: list[str], work: Path) -> dict | str:
    """Presage's keystroke savings without and with its user n-gram and recency predictor,
    or why they were not measured."""
    simulator, text2ngram = shutil.which("presage_simulator"), shutil.which("text2ngram")
    if not (simulator and text2ngram):
        return "skipped (Debian's presage package is not installed: apt-get install presage)"
    if not all(p.is_file() for p in general_text):
        return "skipped (the model's training text is not readable here)"
    (work / "learned.txt").write_text(learned, encoding="utf-8")
    typed = work / "typed.txt"
    typed.write_text("\n\n".join(paragraphs), encoding="utf-8")
    for db, sources in (("general.db", general_text), ("user.db", [work / "learned.txt"])):
        for order in (1, 2, 3):
            subprocess.run([text2ngram, "-n", str(order), "-l", "-f", "sqlite", "-o", str(work / db),
                            *map(str, sources)], check=True, capture_output=True)
    figures = {}
    for name, predictors in (("without", "General"), ("with", "General User Recency")):
        config = work / f"presage-{name}.xml"
        config.write_text(PRESAGE_CONFIG.format(predictors=predictors, general=work / "general.db",
                                                user=work / "user.db",
                                                learn="yes" if name == "with" else "no"))
        out = subprocess.run([simulator, "-q", "-i", "-c", str(config), str(typed)], check=True,
                             capture_output=True, text=True).stdout
        figures[name] = _presage_figure(out)
    return figures


def _presage_figure(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("KSR:"):  # "KSR: 66.6667", in percent
            return float(line.split(":")[1]) / 100
    raise RuntimeError(f"no keystroke savings in presage_simulator's output:\n{output[-500:]}")


PRESAGE_CONFIG = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<Presage>
  <PredictorRegistry><LOGGER>ERROR</LOGGER><PREDICTORS>{predictors}</PREDICTORS></PredictorRegistry>
  <ContextTracker><LOGGER>ERROR</LOGGER><SLIDING_WINDOW_SIZE>80</SLIDING_WINDOW_SIZE>
    <LOWERCASE_MODE>yes</LOWERCASE_MODE><ONLINE_LEARNING>{learn}</ONLINE_LEARNING></ContextTracker>
  <Selector><LOGGER>ERROR</LOGGER><SUGGESTIONS>6</SUGGESTIONS><REPEAT_SUGGESTIONS>yes</REPEAT_SUGGESTIONS>
    <GREEDY_SUGGESTION_THRESHOLD>0</GREEDY_SUGGESTION_THRESHOLD></Selector>
  <PredictorActivator><LOGGER>ERROR</LOGGER><PREDICT_TIME>1000</PREDICT_TIME>
    <MAX_PARTIAL_PREDICTION_SIZE>60</MAX_PARTIAL_PREDICTION_SIZE>
    <COMBINATION_POLICY>Meritocracy</COMBINATION_POLICY></PredictorActivator>
  <ProfileManager><LOGGER>ERROR</LOGGER><AUTOPERSIST>false</AUTOPERSIST></ProfileManager>
  <Predictors>
    <General><PREDICTOR>SmoothedNgramPredictor</PREDICTOR><LOGGER>ERROR</LOGGER>
      <DBFILENAME>{general}</DBFILENAME><DELTAS>0.01 0.1 0.89</DELTAS><LEARN>false</LEARN>
      <DatabaseConnector><LOGGER>ERROR</LOGGER></DatabaseConnector></General>
    <User><PREDICTOR>SmoothedNgramPredictor</PREDICTOR><LOGGER>ERROR</LOGGER>
      <DBFILENAME>{user}</DBFILENAME><DELTAS>0.01 0.1 0.89</DELTAS><LEARN>true</LEARN>
      <DatabaseConnector><LOGGER>ERROR</LOGGER></DatabaseConnector></User>
    <Recency><PREDICTOR>RecencyPredictor</PREDICTOR><LOGGER>ERROR</LOGGER>
      <LAMBDA>1</LAMBDA><N_0>1</N_0><CUTOFF_THRESHOLD>20</CUTOFF_THRESHOLD></Recency>
  </Predictors>
</Presage>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path,
                        help="Model directory (default: trained once on the Python docs).")
    parser.add_argument("--text", type=Path, default=SHARED / "tinyshakespeare.txt",
                        help="The user's text, split in time (default: Shakespeare from ../shared/corpora).")
    parser.add_argument("--learn-share", type=float, default=0.8, help="Share of the lines learned first.")
    parser.add_argument("--words", type=int, default=2000, help="Words typed after them.")
    parser.add_argument("-n", "--suggestions", type=int, default=6, help="Suggestions per keystroke.")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if not args.text.is_file():
        print(f"skipped: {args.text} is not here (pass --text FILE)")
        return
    model = args.model or default_model(log)
    learned, paragraphs = split(args.text.read_text(encoding="utf-8"), args.learn_share, args.words)
    print(f"model: {model} (trained on {', '.join(directory.summary(directory.read_config(model)).corpus)})")
    print(f"text: {args.text.name}, first {args.learn_share:.0%} of its lines learned "
          f"({len(learned.split()):,} words), the next {args.words:,} words typed, "
          f"N={args.suggestions} suggestions")
    with tempfile.TemporaryDirectory(prefix="nextword-bench-") as tmp:
        work = Path(tmp)
        rows = []
        for name, source in (("without the store", None), ("with the store (learning)", learned)):
            log(f"nextword, {name} ...")
            ksr, counts, seconds = nextword_ksr(model, source, paragraphs, args.suggestions, args.words, work)
            rows.append(ksr)
            extra = f"; `nextword learn` took {seconds:.1f} s" if source is not None else ""
            print(f"nextword {name:<27} keystroke savings {100 * ksr:5.1f} %  ({counts['words']:,} words, "
                  f"ks {counts['ks']:,}, ki {counts['ki']:,}, kn {counts['kn']:,}){extra}")
        print(f"nextword: learning adds {100 * (rows[1] - rows[0]):+.1f} points")
        corpus = [Path(p) for p in directory.summary(directory.read_config(model)).corpus]
        log("Presage ...")
        presage = presage_ksr(corpus, learned, paragraphs, work)
        if isinstance(presage, str):
            print(f"presage: {presage}")
        else:
            print(f"presage  without its user n-gram     keystroke savings {100 * presage['without']:5.1f} %")
            print(f"presage  with user n-gram + recency  keystroke savings {100 * presage['with']:5.1f} %  "
                  f"({100 * (presage['with'] - presage['without']):+.1f} points)")


if __name__ == "__main__":
    main()
