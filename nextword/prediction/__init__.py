"""The prediction side's components, NumPy only (nothing here imports TensorFlow or Keras).

One module per component, all behind one interface, and one place that mixes them:

    lstm.py     Engine      the trained LSTM
    ngram.py    KneserNey   the 3-gram reader over ngram.npz's counts
    cache.py    Recency, Pairs   the recent text (one RecentWords store), by written form
    personal.py Personal    the user's personal store (nextword.store.database, SQLite), by written form
    mixture.py  Mixture     sum_i lambda_i p_i over the components with something to say;
                            `fit` and `fit_weights` for the weights

A component has `vocab_size` and `distribution(ids)`: for token ids (EOL first) the
probabilities of the next token over the vocabulary, or None when it has nothing to say.
A model component (LSTM, n-gram) also has `stream_log_probs(ids, chunk)`, yielding
(position, log-probability rows) over a whole text. A component that reads the text
(the cache's, with a `store`) also has `outside(ids)`: words outside the vocabulary with
their probabilities (its vector and these sum to 1); the mixture streams those itself,
filling a fresh store as the text is read. A new component is a new module here and its
name in mixture.NAMES (and, for a text reader, in RecentWords.components). The personal
store is the one exception to the interface: it answers for the context's last words
(`guess`), takes a share of the probability that depends on its evidence there instead of
a fixed weight, and has no stream (see mixture.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Component(Protocol):
    vocab_size: int

    def distribution(self, ids) -> np.ndarray | None:
        """Next-token probabilities after `ids`, or None with nothing to say."""
