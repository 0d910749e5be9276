"""The seeds' claim: the LSTM's cell state carries a fact further back than an n-gram sees.

"<name> spent N years working in Spain . She can speak fluent ___": the trigram's context is
"speak fluent", the same in every passage, so it can only guess the commonest language;
the LSTM has to carry the country five tokens. (bench/memory_curve.py measures the issue's
30-60-token gaps with the default settings, which do not learn them yet.)
"""

from __future__ import annotations

import numpy as np

import nextword
from corpora import longrange
from nextword.config import TrainConfig
from nextword.ngram_build import kneser_ney
from nextword.predictor import Predictor
from nextword.train import train


def test_lstm_remembers_what_the_trigram_cannot_see(tmp_path):
    corpus = tmp_path / "longrange.txt"
    longrange.write(str(corpus), 2500, min_gap=0, max_gap=0, seed=0, varied=False)
    # The link forms after a plateau: no early stopping (patience), and a width that
    # escaped the plateau for every seed tried (0-5), where 64 units failed for 2 of 5.
    # Untied: with the output tied to a 64-wide embedding (the default ties) the net was
    # still at chance after 12 epochs for seeds 0 and 1; tied at 128 wide it reached 0.92
    # and 0.49. Tying wins on real text (README), but is slower to form this link. 9 epochs:
    # the best validation came at epoch 8 (100 % top-1), measured on an Intel Xeon with AMX.
    cfg = TrainConfig(epochs=9, seq_len=64, batch_size=16, learning_rate=0.01, min_count=1,
                      patience=30, seed=0)
    train([str(corpus)], tmp_path / "m", cfg, dict(units=128, embedding_dim=64, dropout=0.0, tied=False),
          log=lambda _m: None)
    lstm = nextword.load(tmp_path / "m").only("lstm")  # the claim is about the LSTM itself
    ids = np.asarray(lstm.tokenizer.encode(corpus.read_text()).ids)
    trigram = Predictor(lstm.path, kneser_ney(lstm.engine.vocab_size, [ids]), lstm.tokenizer)

    held_out = list(longrange.passages(200, 0, 0, seed=123, varied=False))
    chance = 1 / len(longrange.COUNTRIES)
    lstm_acc = longrange.top1_accuracy(lstm.suggest, held_out)
    trigram_acc = longrange.top1_accuracy(trigram.suggest, held_out)
    assert trigram_acc < 2.5 * chance
    assert lstm_acc > 0.6 and lstm_acc > trigram_acc + 0.4, (lstm_acc, trigram_acc)
