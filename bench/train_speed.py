"""Training throughput: nextword's Keras training beside the PyTorch reference LSTM language
model (pytorch/examples word_language_model: Embedding -> LSTM -> Linear, full softmax,
Adam), same dimensions, measured one after the other in one run.

    python bench/train_speed.py [--steps 30] [--rounds 3] [--configs defaults,plain,tied,...]

Dimensions: embedding 256, 512 units, 10,000 words, 35-token windows, batch 64. nextword
runs its real path (token file -> tf.data batches -> LanguageModel.fit); `defaults` is what
`nextword train` does with no option on this machine (`--precision auto`: bfloat16 only
where the hardware runs it natively; the first line printed says what it picked and why),
`defaults-float32` / `defaults-bf16` the same with the arithmetic forced, `plain` the same
network without any lever (untied, float32, exact softmax, no weight average), the others
one lever or a few (see CONFIGS).
The reference runs on random ids (the data pipeline is not what it measures). Needs torch
(the `bench` extra: pip install torch==2.13.0); without it only nextword's figures print.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextword.training.tfimport import quiet_import_tensorflow  # noqa: E402

quiet_import_tensorflow()

import keras  # noqa: E402

from nextword.modeldir.settings import ModelConfig, TrainConfig  # noqa: E402
from nextword.training import (
    data,  # noqa: E402
    hardware,  # noqa: E402
)
from nextword.training.train import new_model  # noqa: E402

VOCAB, EMB, UNITS, SEQ = 10_000, 256, 512, 35


class Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.t)


class NextwordRunner:
    """One nextword configuration, built once; `run(n)` times n training steps."""

    def __init__(self, workdir: Path, batch: int, model_options: dict, training: dict,
                 jit: bool = False, unroll: bool = True):
        self.batch = batch
        ids = (np.random.default_rng(0).zipf(1.2, 200 * batch * SEQ) % VOCAB).astype("uint16")
        path = workdir / f"ids-{id(self)}.bin"
        ids.tofile(path)
        cfg = ModelConfig(vocab_size=VOCAB, embedding_dim=EMB, units=UNITS, **model_options)
        train_cfg = TrainConfig(seq_len=SEQ, batch_size=batch, **training)
        tokens = data.TokenFile(path, "uint16", len(ids))
        self.ds, steps = data.train_dataset(tokens, SEQ, batch, 0, len(ids), seed=0)
        self.net = new_model(cfg, train_cfg, steps, unroll=unroll, jit_compile=jit)
        self.run(3)  # trace and warm up

    def run(self, steps: int) -> list[float]:
        timer = Timer()
        self.net.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
        return timer.times


class TorchRunner:
    """The reference: pytorch/examples' word_language_model design with Adam."""

    def __init__(self, batch: int):
        import torch

        torch.manual_seed(0)
        self.torch, self.batch = torch, batch

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

        self.net = Reference()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=2e-3)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.run(3)

    def run(self, steps: int) -> list[float]:
        torch, times = self.torch, []
        for _ in range(steps):
            x = torch.randint(0, VOCAB, (self.batch, SEQ))
            y = torch.randint(0, VOCAB, (self.batch, SEQ))
            start = time.perf_counter()
            self.opt.zero_grad()
            loss = self.loss_fn(self.net(x).reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
            self.opt.step()
            times.append(time.perf_counter() - start)
        return times


PLAIN_MODEL = dict(tied=False)
PLAIN_TRAINING = dict(precision="float32", sampled_softmax=0, weight_average=False)
# name: (batch, model options, training options, XLA[, unroll]); all but `defaults` start
# from plain. nextword unrolls windows of up to train.UNROLL_MAX tokens, so plain does too.
F32, BF16, EXACT = {"precision": "float32"}, {"precision": "mixed_bfloat16"}, {"sampled_softmax": 0}
CONFIGS = {
    "defaults": (64, {}, {}, False),
    # The defaults with the other arithmetic forced (what `auto` would give on the other
    # kind of CPU, as far as one machine can tell), and with one default changed.
    "defaults-float32": (64, {}, F32, False),
    "defaults-bf16": (64, {}, BF16, False),
    "defaults-exact": (64, {}, EXACT, False),
    "defaults-float32-exact": (64, {}, {**F32, **EXACT}, False),
    "defaults-bf16-exact": (64, {}, {**BF16, **EXACT}, False),
    "defaults+batch128": (128, {}, {}, False),
    "defaults-float32+batch128": (128, {}, F32, False),
    "defaults-bf16+batch128": (128, {}, BF16, False),
    "defaults+sampled2048": (64, {}, {"sampled_softmax": 2048}, False),
    "plain": (64, PLAIN_MODEL, PLAIN_TRAINING, False),
    "plain-loop": (64, PLAIN_MODEL, PLAIN_TRAINING, False, False),
    "tied": (64, {}, PLAIN_TRAINING, False),
    "bf16": (64, PLAIN_MODEL, {**PLAIN_TRAINING, "precision": "mixed_bfloat16"}, False),
    "xla": (64, PLAIN_MODEL, PLAIN_TRAINING, True),
    "sampled1024": (64, PLAIN_MODEL, {**PLAIN_TRAINING, "sampled_softmax": 1024}, False),
    "batch128": (128, PLAIN_MODEL, PLAIN_TRAINING, False),
    "tied+bf16": (64, {}, {**PLAIN_TRAINING, "precision": "mixed_bfloat16"}, False),
    "tied+bf16+batch128": (128, {}, {**PLAIN_TRAINING, "precision": "mixed_bfloat16"}, False),
    "tied+bf16+sampled1024": (64, {}, {**PLAIN_TRAINING, "precision": "mixed_bfloat16",
                                       "sampled_softmax": 1024}, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="Timed steps of each, in all.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="The steps are split into this many rounds, taken in turn by every "
                             "configuration, so that a slow spell of a shared machine hits all alike.")
    parser.add_argument("--configs", default="defaults,plain",
                        help=f"Comma-separated, from: {', '.join(CONFIGS)}.")
    args = parser.parse_args()
    names = args.configs.split(",")
    facts = hardware.training_facts()
    choice = hardware.choose_precision(facts, UNITS)
    print(f"CPU: {facts.cpu_model or '?'}; native bfloat16: {facts.cpu_bf16 or 'no'}; "
          f"GPUs: {len(facts.gpus)}; --precision auto picks {choice.precision} ({choice.reason})")
    with tempfile.TemporaryDirectory() as tmp:
        runners = {}
        try:
            runners["reference"] = TorchRunner(64)
        except ImportError:
            print("PyTorch is not installed (pip install -e '.[bench]'): nextword's figures only")
        for name in names:
            runners[name] = NextwordRunner(Path(tmp), *CONFIGS[name])
        times = {name: [] for name in runners}
        per_round = -(-args.steps // args.rounds)
        for _ in range(args.rounds):
            for name, runner in runners.items():
                times[name] += runner.run(per_round)
    rate = {name: runners[name].batch * SEQ / float(np.median(t)) for name, t in times.items()}
    reference = rate.get("reference")
    if reference:
        print(f"PyTorch reference (full softmax, batch 64): {reference:>6,.0f} tokens/s")
    for name in names:
        ratio = f"  = {rate[name] / reference:.2f}x the reference" if reference else ""
        print(f"nextword {name:<22} batch {runners[name].batch:>3}: {rate[name]:>6,.0f} tokens/s{ratio}")
    print(f"(median step over {args.rounds} interleaved rounds of {per_round} steps each; "
          f"embedding {EMB}, {UNITS} units, {VOCAB:,} words, {SEQ}-token windows)")


if __name__ == "__main__":
    main()
