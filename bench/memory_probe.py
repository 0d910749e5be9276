"""A learning curve of the long-range link: the answer's top-1 on held-out passages every N
updates, while a network trains on passages of corpora/longrange.py.

    python bench/memory_probe.py [--gap 30,60] [--seconds 150] [--units 128 --untied ...]

`bench/memory_curve.py` answers "does `nextword train` with the defaults learn the link in
4 minutes?" (yes or no, after 5 minutes). This answers the question before it: after how
many updates does a network of given settings escape the plateau, if at all? It builds the
network with nextword.training.train.new_model and fits it on the token file with Keras, probing
the live weights (not the weight average) on 200 held-out passages of the same gaps.
--line-windows starts the windows at line starts (data.line_windows). With
--thin P, a share P of the training windows keeps only 15-100 % of its tokens; with
--drop-sentences P, a share P drops whole sentences (curricula of shorter gaps made from
the text itself). --attention N adds the attention head (nextword/training/network.py), --chrono N starts the
LSTM's gates by chrono initialisation (model.ChronoBias). Prints one line per probe.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nextword.training.tfimport import quiet_import_tensorflow  # noqa: E402

quiet_import_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from corpora import longrange  # noqa: E402
from nextword.modeldir.settings import ModelConfig, TrainConfig  # noqa: E402
from nextword.text import tokenizer  # noqa: E402
from nextword.training import data  # noqa: E402
from nextword.training import train as training  # noqa: E402


def shortened_batches(ids: np.ndarray, seq: int, batch: int, share: float, seed: int, shorten):
    """Random windows of `seq` tokens (+1 for the target); in a `share` of them the window
    is `shorten(rng, start)`'s tokens instead (kept only if at least seq + 1 long)."""
    rng = np.random.default_rng(seed)
    while True:
        rows = []
        for _ in range(batch):
            start = int(rng.integers(0, len(ids) - 4 * seq - 1))
            window = ids[start:start + seq + 1]
            if rng.random() < share:
                kept = shorten(rng, start)[:seq + 1]
                window = kept if len(kept) == seq + 1 else window
            rows.append(window)
        rows = np.stack(rows).astype("int32")
        yield rows[:, :-1], rows[:, 1:]


def thinned(ids: np.ndarray, seq: int):
    """Each token of the next 3 * seq kept with a probability drawn from 0.15-1 per window."""
    def shorten(rng, start):
        span = ids[start:start + 3 * seq]
        return span[rng.random(len(span)) < rng.uniform(0.15, 1.0)]
    return shorten


def without_sentences(ids: np.ndarray, ends: np.ndarray, seq: int):
    """Whole sentences of the next 4 * seq tokens (up to a token in `ends`) dropped, each
    with a probability drawn per window from 0.2-0.9: the words within a sentence stay as
    written, the sentences before come closer."""
    is_end = np.isin(ids, ends)

    def shorten(rng, start):
        span = ids[start:start + 4 * seq]
        sentence = np.concatenate([[0], np.cumsum(is_end[start:start + 4 * seq])[:-1]])
        keep = rng.random(sentence[-1] + 1) >= rng.uniform(0.2, 0.9)
        return span[keep[sentence]]
    return shorten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", default="30,60", help="min,max tokens between cue and answer")
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--every", type=int, default=25, help="updates between probes")
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--untied", action="store_true")
    parser.add_argument("--attention", type=int, default=0, help="attention width (0 = none)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--line-windows", action="store_true",
                        help="windows that start at line starts, as `nextword train --line-windows`")
    parser.add_argument("--attention-heads", type=int, default=ModelConfig.attention_heads)
    parser.add_argument("--chrono", type=int, default=ModelConfig.chrono,
                        help="chrono initialisation of the LSTM's gates for N steps (0 = Keras')")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the window order")
    parser.add_argument("--thin", type=float, default=0.0, help="share of windows thinned")
    parser.add_argument("--drop-sentences", type=float, default=0.0,
                        help="share of windows whose sentences are dropped at random")
    args = parser.parse_args()
    lo, hi = map(int, args.gap.split(","))

    work = Path(tempfile.mkdtemp(prefix="memory-probe-"))
    corpus = work / "passages.txt"
    longrange.write(str(corpus), args.passages, lo, hi, seed=0)
    tok = tokenizer.train([corpus.read_text(encoding="utf-8")], 20000, 2)
    tokens = data.encode_files(tok, [corpus], work / "corpus.bin")
    cfg = TrainConfig(seq_len=args.seq_len, batch_size=args.batch_size, learning_rate=args.learning_rate,
                      precision=args.precision, sampled_softmax=0, weight_average=False, seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    model_cfg = ModelConfig(vocab_size=tok.get_vocab_size(), units=args.units,
                            embedding_dim=args.embedding_dim, dropout=args.dropout, tied=not args.untied,
                            attention=args.attention, attention_span=args.seq_len,
                            attention_heads=args.attention_heads, chrono=args.chrono)
    if args.drop_sentences or args.thin:
        text_ids = np.fromfile(tokens.path, dtype=tokens.dtype).astype("int32")
        if args.drop_sentences:
            vocab = tok.get_vocab()
            ends = np.array([vocab[t] for t in (".", "!", "?", tokenizer.EOL) if t in vocab])
            share, shorten = args.drop_sentences, without_sentences(text_ids, ends, args.seq_len)
        else:
            share, shorten = args.thin, thinned(text_ids, args.seq_len)
        spec = tf.TensorSpec((args.batch_size, args.seq_len), tf.int32)
        dataset = tf.data.Dataset.from_generator(
            lambda: shortened_batches(text_ids, args.seq_len, args.batch_size, share, args.seed, shorten),
            output_signature=(spec, spec)).prefetch(4)
    else:
        starts = data.line_windows(tokens, args.seq_len, 0, tokens.count) if args.line_windows else None
        dataset, _ = data.train_dataset(tokens, args.seq_len, args.batch_size, 0, tokens.count, args.seed,
                                        starts)
    net = training.new_model(model_cfg, cfg, steps_per_epoch=1000)

    held_out = list(longrange.passages(200, lo, hi, seed=1000 + lo))
    vocab, eol = tok.get_vocab(), tok.get_vocab()[tokenizer.EOL]
    contexts = [[eol] + tok.encode(context, add_special_tokens=False).ids for _, context, _, _ in held_out]
    answers = np.array([vocab.get(answer.lower(), -1) for *_, answer, _ in held_out])
    padded = np.zeros((len(contexts), max(map(len, contexts))), dtype="int32")
    for row, ids in enumerate(contexts):
        padded[row, :len(ids)] = ids  # right-padded: the answer's logits are at len - 1
    last = np.array([len(ids) - 1 for ids in contexts])
    print(f"{tokens.count:,} tokens, vocabulary {tok.get_vocab_size()}, gaps {lo}-{hi}, "
          f"chance {1 / len(longrange.COUNTRIES):.0%}; {net.count_params():,} parameters, "
          f"{net.dtype_policy.name}", flush=True)
    started = time.monotonic()

    class Probe(keras.callbacks.Callback):
        updates = 0

        def on_train_batch_end(self, batch, logs=None):
            self.updates += 1
            if self.updates % args.every:
                return
            logits = keras.ops.convert_to_numpy(self.model.logits(self.model(padded, training=False)))
            top1 = np.mean(logits[np.arange(len(padded)), last].argmax(-1) == answers)
            seconds = time.monotonic() - started
            print(f"update {self.updates:>6}  {seconds:6.0f} s  top-1 {top1:.0%}", flush=True)
            if time.monotonic() - started > args.seconds:
                self.model.stop_training = True

    net.fit(dataset, steps_per_epoch=10**7, epochs=1, callbacks=[Probe()], shuffle=False, verbose=0)


if __name__ == "__main__":
    main()
