"""How good a model is on a text: perplexity, next-word accuracy, keystroke savings.

Every figure is computed the same way for the LSTM alone, the Kneser-Ney trigram alone
(the model's own ngram.npz, or for a model without one, counted on its training text) and
the full predictor (the mixture with the cache, what `predict` serves), so they can be
read side by side. For the full predictor the cache reads the evaluated text in order,
paragraph after paragraph, as in a long-running process. Keystroke savings follow
docs/model-format.md (the scoring of presage_simulator) and run through the same Predictor code (and
cached state) as `nextword predict`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nextword.modeldir import directory
from nextword.prediction.ngram import KneserNey
from nextword.prediction.ngram_counts import kneser_ney
from nextword.prediction.predictor import Predictor
from nextword.text import corpus
from nextword.text.rules import KSR_WORD, LONGEST_WORD

# A word for keystroke savings: letters/digits with inner apostrophes (not hyphens).
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# The typing simulation asks for suggestions after each of a word's first KSR_MAX_PREFIX
# characters only; a longer word not suggested by then counts as typed out to its end
# (its remaining characters and the space). Asking after every character of a 1 MB "word"
# would cost a million suggestions, each over a longer prefix; a word this long is no
# word a person types, and no suggestion can name it.
KSR_MAX_PREFIX = LONGEST_WORD


@dataclass
class Scores:
    model: str
    perplexity: float = float("nan")
    tokens: int = 0
    oov_tokens: int = 0
    word_positions: int = 0
    top: dict[int, float] = field(default_factory=dict)
    ksr: float | None = None
    ksr_words: int = 0
    keystrokes: dict[str, int] = field(default_factory=dict)

    @property
    def oov_rate(self) -> float:
        return self.oov_tokens / max(1, self.tokens)


def token_scores(name: str, model, ids: np.ndarray, word_mask: np.ndarray, unk_id: int,
                 ks=(1, 3, 5), progress: Callable[[float], None] | None = None,
                 forms: list | None = None) -> Scores:
    """Perplexity over in-vocabulary targets (OOV targets counted apart) and top-k accuracy
    among suggestable words at every position where a word comes next (an OOV word is a
    miss, for every model alike). `forms`: the tokens' written forms, for a model whose
    cache reads them (a Mixture)."""
    targets = ids[1:]
    nll, counted, oov, positions = 0.0, 0, 0, 0
    hits = dict.fromkeys(ks, 0)
    stream = (model.stream_log_probs(ids[:-1]) if forms is None
              else model.stream_log_probs(ids[:-1], forms[:-1]))
    for start, rows in stream:
        tgt = targets[start:start + len(rows)]
        lp = rows[np.arange(len(rows)), tgt]
        known = tgt != unk_id
        nll -= lp[known].sum()
        counted += int(known.sum())
        oov += int((~known).sum())
        at_word = word_mask[tgt] | ~known
        positions += int(at_word.sum())
        sel = at_word & known
        masked = np.where(word_mask, rows[sel], -np.inf)
        rank = (masked > lp[sel][:, None]).sum(axis=1)
        rank[np.isnan(lp[sel])] = len(word_mask)  # no probability: a miss, not rank 0
        for k in ks:
            hits[k] += int((rank < k).sum())
        if progress:
            progress((start + len(rows)) / len(targets))
    # No in-vocabulary target: perplexity is undefined (NaN, shown as "n/a"), not 1.
    return Scores(name, perplexity=math.exp(nll / counted) if counted else float("nan"),
                  tokens=len(targets),
                  oov_tokens=oov, word_positions=positions,
                  top={k: hits[k] / max(1, positions) for k in ks})


def keystroke_savings(suggest: Callable[[str, int], list], paragraphs: Iterable[str],
                      n: int = 6, max_words: int = 0,
                      finished: Callable[[str], None] = lambda paragraph: None) -> dict[str, int]:
    """Simulate typing with n suggestions (docs/model-format.md): returns ks, ki, kn and words.
    `finished(paragraph)` is told each paragraph once it is typed to its end."""
    ks = ki = kn = words = 0
    for paragraph in paragraphs:
        for match in KSR_WORD.finditer(paragraph):
            if max_words and words >= max_words:
                return dict(ks=ks, ki=ki, kn=kn, words=words)
            word, context = match.group(), paragraph[: match.start()]
            target = word.lower()
            words += 1
            kn += len(word) + 1
            if _hit(suggest(context, n), target):
                ks += 1
                continue
            asked = min(len(word), KSR_MAX_PREFIX)
            for typed in range(1, asked + 1):
                ki += 1
                if typed == len(word) or _hit(suggest(context + word[:typed], n), target):
                    ki += 1  # accepting the hit, or the space after a word typed out
                    break
            else:  # a word longer than KSR_MAX_PREFIX, not found: typed out to its end
                ki += len(word) - asked + 1
        finished(paragraph)
    return dict(ks=ks, ki=ki, kn=kn, words=words)


def _hit(suggestions, target: str) -> bool:
    return any(w.lower() == target for w, _ in suggestions)


def ksr_from(counts: dict[str, int]) -> float:
    return 1 - (counts["ki"] + counts["ks"]) / max(1, counts["kn"])


def baseline(predictor: Predictor, config: dict, log: Callable[[str], None]) -> KneserNey | None:
    """The trigram counted on the model's training tokens (for a model without
    ngram.npz), or None (said why) if the training text is unreadable."""
    s = directory.summary(config)
    files = [Path(f) for f in s.corpus]
    unreadable = [str(f) for f in files if str(f) == "-" or not f.is_file()]
    if not files or unreadable:
        log(f"Note: the training text ({', '.join(unreadable) or 'unknown'}) is not readable "
            f"now, so there is no n-gram baseline to report beside the LSTM")
        return None
    budget = s.train_tokens or None

    def chunks():
        left = budget
        for text in corpus.iter_text(files):
            ids = np.asarray(predictor.tokenizer.encode(text, add_special_tokens=False).ids)
            if left is not None:
                ids, left = ids[:left], left - len(ids[:left])
            yield ids
            if left == 0:
                return

    return kneser_ney(predictor.vocab_size, chunks())


def evaluate(predictor: Predictor, files: list[Path], suggestions: int = 6, ksr_words: int = 0,
             with_baseline: bool = True, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
             ) -> list[Scores]:
    config = directory.read_config(predictor.path)
    stats = corpus.DecodeStats()
    text = "".join(corpus.iter_text(files, stats))
    if stats.warning():  # as `nextword train` says it
        log(stats.warning())
    if not text.strip():
        raise corpus.CorpusError("nothing to evaluate: the text is empty")
    if not KSR_WORD.search(text):
        # Every figure is per word: over none they would read 100 % or a perplexity of 1.
        raise corpus.CorpusError("nothing to evaluate: the text has no words")
    ids, forms = predictor.context_tokens(text)
    ids = np.asarray(ids, dtype=np.int64)
    word_mask = np.zeros(predictor.vocab_size, dtype=bool)
    word_mask[predictor.candidates("")] = True
    paragraphs = [p for p in PARAGRAPH_BREAK.split(text) if p.strip()]

    models = [("LSTM", predictor.only("lstm"))]
    if with_baseline:
        if "ngram" in predictor.mixture.components:
            models.append(("3-gram KN", predictor.only("ngram")))
        else:
            log("Counting the 3-gram baseline on the training text ...")
            kn = baseline(predictor, config, log)
            if kn is not None:
                models.append(("3-gram KN", Predictor(predictor.path, kn, predictor.tokenizer,
                                                      predictor.display)))
    models.append(("full predictor", predictor))
    results = []
    for name, model in models:
        log(f"{name}: perplexity and accuracy over {len(ids) - 1:,} tokens ...")
        scores = token_scores(name, model.mixture, ids, word_mask, predictor.unk_id,
                              progress=_progress(log, name) if len(ids) > 50_000 else None,
                              forms=forms if model.cache is not None else None)
        log(f"{name}: keystroke savings ...")
        counts = keystroke_savings(model.suggest, paragraphs, suggestions, ksr_words, model.read)
        scores.ksr, scores.ksr_words, scores.keystrokes = ksr_from(counts), counts["words"], counts
        results.append(scores)
    return results


def _progress(log, name):
    marks = iter(range(20, 100, 20))
    nxt = [next(marks)]

    def report(fraction: float) -> None:
        if nxt[0] is not None and fraction * 100 >= nxt[0]:
            log(f"{name}: {nxt[0]}%")
            nxt[0] = next(marks, None)
    return report


def as_json(results: list[Scores], suggestions: int) -> dict:
    def finite(value):
        return None if isinstance(value, float) and math.isnan(value) else value  # JSON has no NaN

    return {"suggestions": suggestions,
            "models": [{k: finite(v) for k, v in dict(asdict(s), oov_rate=s.oov_rate).items()}
                       for s in results]}


def table(results: list[Scores], suggestions: int) -> str:
    names = [s.model for s in results]
    rows = [("perplexity", [f"{s.perplexity:.1f}" if not math.isnan(s.perplexity) else "n/a"
                            for s in results])]
    for k in results[0].top:
        rows.append((f"top-{k} next word", [f"{100 * s.top[k]:.1f} %" for s in results]))
    rows.append((f"keystroke savings (N={suggestions})", [f"{100 * s.ksr:.1f} %" for s in results]))
    width = max(len(r[0]) for r in rows)
    col = max(12, *(len(n) for n in names))
    lines = [" " * width + "".join(f"  {n:>{col}}" for n in names)]
    lines += [f"{label:<{width}}" + "".join(f"  {v:>{col}}" for v in values) for label, values in rows]
    s = results[0]
    lines.append(f"{s.tokens:,} tokens, {s.word_positions:,} word positions, OOV rate "
                 f"{100 * s.oov_rate:.1f} % ({s.oov_tokens:,} tokens, excluded from perplexity); "
                 f"keystroke savings over {s.ksr_words:,} words")
    return "\n".join(lines)
