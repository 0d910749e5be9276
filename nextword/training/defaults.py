"""Settings chosen from the corpus when the command line gives none.

Each rule says what it was measured on. Training resolves them before it starts and saves
the resolved values in config.json, so a model directory never depends on these rules.

The vocabulary decides most: a text with a small vocabulary gets a small network, which
trains several times faster, learns its words' statistics in a few epochs and so can spend
its updates on long windows that start where lines start, with an attention over them
(`long_context`, if its lines are long enough); a text with a large vocabulary keeps the
512-unit network and the short windows that won on WikiText-2 in ten minutes, where every
update counts.
"""

from __future__ import annotations

import math

# The measured default network (WikiText-2, 8,173 words): 256-wide embedding, 512 units.
MAX_EMBEDDING, MIN_EMBEDDING = 256, 64
BASE_UNITS, BASE_LEARNING_RATE, MAX_LEARNING_RATE = 512, 3e-3, 0.012
# At most this many words: long windows at line starts, with an attention over them.
LONG_CONTEXT_VOCAB = 2000
MIN_LINE_TOKENS = 25  # ... and lines of at least this many tokens on average (a quarter window)
SHORT_WINDOW, LONG_WINDOW = 35, 100
LONG_BATCH = 32  # 3,200 tokens an update (64 x 35 is 2,240); twice the updates of 64 x 100
# One head: four learned the link no sooner and, in float32 (a CPU without native
# bfloat16), trained at half the speed (16,600 against 33,900 tokens/s on issue 14's
# passages, Intel Xeon with AMX forced to float32).
LONG_ATTENTION = 64
# Patience, in updates (the length of an epoch is the corpus's): the learning rate is
# halved after about this many updates without a better validation, training stops after
# about this many. Short context: one epoch and three on WikiText-2 (95 updates an epoch),
# as measured there. Long context waits longer: a link across a window forms over several
# hundred updates in which the validation average barely moves, and halving the rate
# during them delays it (issue 14's passages: the link formed at about 950 updates at a
# constant 0.012, bench/memory_probe.py; the 4-minute run halved the rate twice, to 3e-3,
# and formed it between 1,060 and 1,650).
SHORT_PATIENCE, LONG_PATIENCE = (100, 300), (300, 600)


def embedding_size(vocab: int) -> int:
    """Embedding width for a vocabulary of `vocab` words: fast.ai's rule of thumb for
    categorical embeddings, 1.6 * vocab ** 0.56, rounded up to a multiple of 32 and kept
    within 64-256 (256 from about 7,000 words: WikiText-2's 8,173 get the size that won
    there; the 249 words of issue 14's passages get 64)."""
    width = 1.6 * max(vocab, 2) ** 0.56
    return int(min(MAX_EMBEDDING, max(MIN_EMBEDDING, 32 * math.ceil(width / 32))))


def units(embedding_dim: int) -> int:
    """LSTM units: twice the embedding width, the ratio of the measured default (512 / 256)."""
    return 2 * embedding_dim


def learning_rate(units: int) -> float:
    """Adam's step, inversely proportional to the width (as muP prescribes for hidden
    layers): 3e-3 at 512 units (measured on WikiText-2), 0.012 at 128, where 3e-3 left a
    long-range link unlearned after 900 updates and 0.01 after 1,350 in four minutes
    (issue 14: bench/memory_probe.py, bench/memory_curve.py). No more than that for
    narrower networks (which the defaults never build; 128 is the narrowest): at 0.02 the
    link formed later, at ~1,300 updates against ~950 for 128 units (memory_probe, batch
    32) and at epoch 16 against 10 for 64 (tests/test_longrange.py's network)."""
    return round(min(MAX_LEARNING_RATE, BASE_LEARNING_RATE * BASE_UNITS / units), 6)


def long_context(vocab: int, line_tokens: float) -> bool:
    """Whether training reads windows of LONG_WINDOW tokens from line starts with an
    attention over them (else SHORT_WINDOW-token consecutive windows, no attention), for
    a text of `vocab` words whose lines are `line_tokens` long on average.

    Long windows cost nothing per token but give a third as many updates: ten minutes of
    WikiText-2 (8,173 words, 512 units) lost 20 perplexity with them (149.7 against 128.1,
    Intel Xeon with AMX). A small vocabulary gets a small network (128 units for 249
    words, 45,000 tokens/s against 7,000) whose words are learned in a few epochs, so
    the updates left go to what only long windows teach: issue 14's passages (lines of
    about 75 tokens). Lines shorter than a quarter of a window make windows that start at
    line starts overlap by three quarters, each token read four times an epoch: the first
    36,000 lines of Shakespeare (7 tokens a line) with 2,000 words lost to short context in
    two minutes, LSTM test perplexity 172.6 against 45.5 (Intel Xeon with AMX)."""
    return vocab <= LONG_CONTEXT_VOCAB and line_tokens >= MIN_LINE_TOKENS


def patience(long: bool) -> tuple[int, int]:
    """(updates before the learning rate is halved, updates before training stops) without
    a better validation, in long context (`long`) or short."""
    return LONG_PATIENCE if long else SHORT_PATIENCE


def dropout(train_tokens: int, parameters: int) -> float:
    """Dropout when none is given, by training tokens per trainable parameter: 0.6 up to
    0.1 token a parameter, then 0.6 less per tenfold more, none from one token a
    parameter. WikiText-2's validation split (206,000 tokens, 3.8 million parameters:
    0.05) keeps the 0.6 that won there (0.4 -> test perplexity 152, 0.5 -> 145, 0.6 ->
    140); issue 14's passages (226,000 tokens for 173,000 parameters) get none, which the
    long-range link needs (with 0.6 it stayed at chance after 1,000 updates)."""
    ratio = max(train_tokens, 1) / max(parameters, 1)
    return round(min(0.6, max(0.0, 0.6 - 0.6 * math.log10(ratio / 0.1))), 2)


def sampled_softmax(vocab: int) -> int:
    """Words sampled per step when none is given: 1,024 for a vocabulary of more than
    4,096 words, else the exact softmax (small outputs cost little). Measured on WikiText-2
    (8,173 words, ten minutes, Intel Xeon with AMX, bfloat16): 7,517 tokens/s and test
    perplexity 128.1, against 4,645 and 134.5 exact (docs/benchmarks.md)."""
    return 1024 if vocab > 4096 else 0
