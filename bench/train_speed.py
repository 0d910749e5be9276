"""Training throughput: nextword's Keras training step beside the PyTorch reference LSTM
language model (pytorch/examples word_language_model: Embedding -> LSTM -> Linear, full
softmax, Adam), same dimensions, measured one after the other in one run.

    python bench/train_speed.py [--steps 40] [--configs full,sampled1024,sampled1024-b128]

Dimensions: embedding 256, 512 units, 10,000 words, 35-token windows, batch 64. nextword
runs its real path (token file -> tf.data windows -> LanguageModel.fit); the reference
runs on random ids (the data pipeline is not what it measures). Needs torch (the `bench`
extra: pip install torch==2.13.0); without it only nextword's figures are printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextword.tfimport import quiet_import_tensorflow  # noqa: E402

quiet_import_tensorflow()

import keras  # noqa: E402

from nextword import data, model  # noqa: E402
from nextword.config import ModelConfig  # noqa: E402

VOCAB, EMB, UNITS, SEQ = 10_000, 256, 512, 35


class Timer(keras.callbacks.Callback):
    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.times = warmup, []

    def on_train_batch_begin(self, batch, logs=None):
        self.t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch >= self.warmup:
            self.times.append(time.perf_counter() - self.t)


def nextword_tokens_per_second(sampled: int, batch: int, steps: int, lr_scale: float = 1.0) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ids = (np.random.default_rng(0).zipf(1.2, (steps + 10) * batch * SEQ * 2) % VOCAB).astype("uint16")
        ids.tofile(Path(tmp) / "ids.bin")
        tokens = data.TokenFile(Path(tmp) / "ids.bin", "uint16", len(ids))
        ds, _ = data.train_dataset(tokens, SEQ, batch, 0, len(ids), seed=0)
        cfg = ModelConfig(vocab_size=VOCAB, embedding_dim=EMB, units=UNITS, dropout=0.2)
        net = model.build(cfg, sampled=sampled)
        net.compile(optimizer=keras.optimizers.Adam(2e-3 * lr_scale, global_clipnorm=1.0))
        timer = Timer(warmup=5)
        net.fit(ds, steps_per_epoch=steps + 5, epochs=1, verbose=0, callbacks=[timer])
    return batch * SEQ / float(np.median(timer.times))


def torch_tokens_per_second(batch: int, steps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Embedding(VOCAB, EMB)
            self.drop = torch.nn.Dropout(0.2)
            self.rnn = torch.nn.LSTM(EMB, UNITS, 1, batch_first=True)
            self.decoder = torch.nn.Linear(UNITS, VOCAB)

        def forward(self, x):
            out, _ = self.rnn(self.drop(self.encoder(x)))
            return self.decoder(self.drop(out))

    net = Reference()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for step in range(steps + 5):
        x = torch.randint(0, VOCAB, (batch, SEQ))
        y = torch.randint(0, VOCAB, (batch, SEQ))
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if step >= 5:
            times.append(time.perf_counter() - start)
    return batch * SEQ / float(np.median(times))


CONFIGS = {"full": (0, 64), "sampled1024": (1024, 64), "sampled1024-b128": (1024, 128),
           "sampled512-b128": (512, 128)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--configs", default="full,sampled1024,sampled1024-b128")
    args = parser.parse_args()
    reference = torch_tokens_per_second(64, args.steps)
    if reference:
        print(f"PyTorch reference (full softmax, batch 64): {reference:,.0f} tokens/s")
    for name in args.configs.split(","):
        sampled, batch = CONFIGS[name]
        rate = nextword_tokens_per_second(sampled, batch, args.steps)
        ratio = f"  = {rate / reference:.2f}x the reference" if reference else ""
        print(f"nextword {name:<18} batch {batch:>3}: {rate:,.0f} tokens/s{ratio}", flush=True)


if __name__ == "__main__":
    main()
