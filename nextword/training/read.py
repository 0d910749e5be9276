"""Reading the corpus for training: the files, the vocabulary and its casing, the token
files, the windows, and the validation text held out (or read from --valid)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nextword.errors import CorpusError
from nextword.modeldir import directory
from nextword.text import casing, corpus, lexicon, tokenizer
from nextword.text.lexicon import Lexicon
from nextword.training import data
from nextword.training.plan import Job, Windows, choose_windows


@dataclass(frozen=True, eq=False)
class Corpus:
    """The corpus as training reads it: token files for training and validation, and what
    the model directory records about them."""

    names: list[str]        # the corpus files as config.json records them ("-": stdin)
    valid_names: list[str]  # the --valid files
    tok: object             # the tokenizers.Tokenizer
    display: dict           # how each word is shown (casing.py)
    lexicon: Lexicon        # the words below the vocabulary's cut (text/lexicon.py)
    tokens: data.TokenFile  # the training tokens
    valid: data.TokenFile   # the validation tokens
    train_span: tuple[int, int]
    valid_span: tuple[int, int]
    windows: Windows
    starts: np.ndarray | None  # where training windows start (at line starts), or None
    n_windows: int          # training windows per epoch
    unigram: float          # the unigram baseline's validation perplexity

    @property
    def vocab(self) -> int:
        return self.tok.get_vocab_size()

    @property
    def train_tokens(self) -> int:
        return self.train_span[1] - self.train_span[0]

    @property
    def valid_tokens(self) -> int:
        return self.valid_span[1] - self.valid_span[0]


def read_corpus(job: Job, work: Path, previous: dict | None) -> Corpus:
    """Files, vocabulary, token files, windows and validation text, in that order."""
    files, valid_files = find_files(job, work)
    tok, display, rare = vocabulary(job, files, previous)
    stats = corpus.DecodeStats()
    tokens, counts = encode(job, tok, files, work, stats)
    windows = choose_windows(job, tok.get_vocab_size(), tokens.count,
                             int(counts[tokenizer.EOL_ID]), previous)
    if not tokens.complete:
        job.log(f"Note: the time budget leaves time to read only the first {tokens.count:,} tokens "
                f"of the corpus")
    tokens, valid, valid_span = validation(job, windows, tok, tokens, valid_files, work, stats)
    train_span = (0, tokens.count)
    valid_counts = _span_counts(valid, valid_span, len(counts))
    if not valid_files:
        counts -= valid_counts  # `counts` covered the whole corpus, held-out blocks too
    if stats.warning():
        job.log(stats.warning())
    starts = data.line_windows(tokens, windows.seq_len, *train_span) if windows.line_windows else None
    n_windows = len(starts) if starts is not None else data.window_count(train_span[1], windows.seq_len)
    return Corpus(names=[("-" if Path(f).parent == work else str(Path(f).resolve())) for f in files],
                  valid_names=[str(Path(f).resolve()) for f in valid_files], tok=tok,
                  display=display, lexicon=rare, tokens=tokens, valid=valid, train_span=train_span,
                  valid_span=valid_span, windows=windows, starts=starts, n_windows=n_windows,
                  unigram=_unigram_perplexity(counts, valid_counts))


def find_files(job: Job, work: Path) -> tuple[list, list]:
    """The corpus files (stdin spooled to `work`) and the --valid files."""
    # A model inside a corpus directory is not text to learn from.
    files = [f for f in corpus.resolve(job.corpus_args, spool_dir=str(work))
             if job.model_dir not in Path(f).resolve().parents]
    if not files:
        raise CorpusError(f"no text files found in {' '.join(job.corpus_args)} (outside the model)")
    valid_files = corpus.resolve(job.valid_args, spool_dir=str(work)) if job.valid_args else []
    return files, valid_files


def vocabulary(job: Job, files: list, previous: dict | None) -> tuple[object, dict, Lexicon]:
    """The tokenizer, the words' display forms and the rare words: the resumed model's, or
    learned from the text."""
    if previous is not None:
        tok = directory.read_tokenizer(job.model_dir, previous["_model"], previous)
        return tok, casing.load(job.model_dir), directory.read_lexicon(job.model_dir, tok, previous)
    job.log(f"Building the vocabulary from {describe(files)} ...")
    cases = casing.CaseCounter()
    # The tokenizers trainer reads a few hundred pieces ahead: under a budget, small
    # pieces keep what it still has to count after the deadline small.
    size = 16 << 10 if job.asked.time_budget else 64 << 10
    text = _until(corpus.pieces(corpus.iter_text(files), size), job.share(0.05))
    tok = tokenizer.train(cases.tee(text), job.asked.vocab_size, job.asked.min_count)
    vocab = tok.get_vocab()
    rare = lexicon.build(cases.words, vocab, tok.normalizer.normalize_str,
                         cases.display_forms(w for w in cases.words if w not in vocab))
    return tok, cases.display_forms(vocab), rare


def encode(job: Job, tok, files: list, work: Path,
           stats: corpus.DecodeStats) -> tuple[data.TokenFile, np.ndarray]:
    """The corpus as a token file, and how often each token occurs in it."""
    # Under a time budget, as much as a tenth of it reads.
    counts = np.zeros(tok.get_vocab_size(), dtype=np.int64)
    tokens = data.encode_files(tok, files, work / "corpus.bin", stats, counts, job.share(0.1))
    if tokens.count == 0:
        raise CorpusError(f"{describe(files)}: no text to train on (empty corpus)")
    return tokens, counts


def validation(job: Job, windows: Windows, tok, tokens: data.TokenFile, valid_files: list,
               work: Path, stats: corpus.DecodeStats):
    """The training and validation tokens: the --valid files, or blocks held out of the corpus."""
    # Returns (training tokens, validation tokens, the span of them validation uses).
    cap = windows.valid_cap(job.asked.time_budget)
    if valid_files:
        valid = data.encode_files(tok, valid_files, work / "valid.bin", stats, deadline=job.share(0.05))
        if valid.count == 0:
            raise CorpusError(f"{describe(valid_files)}: no text to validate on (empty)")
        if not valid.complete or valid.count > cap:
            job.log(f"Note: under the time budget, validation uses the first "
                    f"{min(valid.count, cap):,} tokens of {describe(valid_files)}")
        return tokens, valid, (0, min(valid.count, cap))
    seq_len = windows.seq_len
    n_valid = min(max(2 * seq_len, int(tokens.count * job.asked.val_fraction)), cap)
    if tokens.count < 2 * n_valid:
        raise CorpusError(
            f"too few tokens to train on: {tokens.count:,} (at least {2 * n_valid:,} are "
            f"needed to hold out validation windows of {seq_len}; give more text, or a "
            f"smaller --seq-len)")
    blocks = _holdout_blocks(n_valid, seq_len)
    tokens, valid = data.hold_out(tokens, n_valid, blocks, work / "train.bin", work / "valid.bin")
    (work / "corpus.bin").unlink()
    return tokens, valid, (0, min(valid.count, cap))


def describe(files: list) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files"


def _until(items, deadline: float | None):
    """The items, until `deadline` passes (the first one always)."""
    for n, item in enumerate(items):
        if n and deadline is not None and time.monotonic() >= deadline:
            return
        yield item


def _holdout_blocks(tokens: int, seq_len: int) -> int:
    """Blocks the held-out validation text is cut into: about 40 windows each, at most 64."""
    return max(1, min(64, tokens // (40 * seq_len)))


def _span_counts(tokens: data.TokenFile, span: tuple[int, int], vocab: int) -> np.ndarray:
    counts = np.zeros(vocab, dtype=np.int64)
    for chunk in tokens.chunks(*span):
        counts += np.bincount(chunk, minlength=vocab)[:vocab]
    return counts


def _unigram_perplexity(train_counts: np.ndarray, valid_counts: np.ndarray) -> float:
    """Perplexity on the validation tokens of add-one unigram frequencies of the training
    tokens: the floor any language model should beat by far."""
    probs = (train_counts + 1) / (train_counts.sum() + len(train_counts))
    return float(math.exp(-(valid_counts * np.log(probs)).sum() / max(1, valid_counts.sum())))
