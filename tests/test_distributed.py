"""Two workers on 127.0.0.1 training one model with tf.distribute.MultiWorkerMirroredStrategy,
checked against a single-worker run with the same global batch and seed.

Why they can match: both start from the same seeded weights; the DATA auto-shard gives worker
0 the first half and worker 1 the second half of every global batch; each replica scales its
loss by 1/replicas and Keras all-reduces the gradients with SUM, so every step applies the
single run's full-batch gradient. What is left is float summation order (~1e-7 after two
epochs in float32, which the test asks for: bfloat16's rounding of half-batch partial sums
would leave ~1e-3). Validation perplexities are not compared: with several workers only full batches,
in a multiple of the workers, are evaluated.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

import nextword

from .conftest import write_structured_corpus


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def epoch_lines(stderr: str) -> list[str]:
    return [line.split("  ")[0] + " " + re.search(r"val perplexity [\d.]+", line).group()
            for line in stderr.splitlines() if re.match(r"epoch \d+/\d+: ", line)]


@pytest.mark.slow
def test_two_workers_match_a_single_worker_and_only_the_chief_writes(tmp_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=600)
    args = [sys.executable, "-m", "nextword", "train", str(corpus), "--epochs", "2", "--units", "16",
            "--embedding-dim", "8", "--dropout", "0", "--batch-size", "16", "--seq-len", "10",
            "--seed", "3", "--val-fraction", "0.2", "--precision", "float32",
            # A large step (0.02, the default for 16 units until the cap became 0.012) makes
            # training chaotic enough that the workers' and the single run's rounding
            # differences grow to 0.02 in two epochs; at 3e-3 they agree to 4e-7.
            "--learning-rate", "0.003"]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(args + ["--strategy", "multiworker", "-m", str(tmp_path / f"w{index}")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert "Model written to" in outputs[0][0] and "the chief writes the model" in outputs[1][0]
    assert not (tmp_path / "w1").exists()
    chief_epochs, other_epochs = (epoch_lines(err) for _, err in outputs)
    assert len(chief_epochs) == 2 and chief_epochs == other_epochs

    single = subprocess.run(args + ["--strategy", "default", "-m", str(tmp_path / "single")],
                            capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr[-2000:]

    chief = nextword.load(tmp_path / "w0")
    assert chief.suggest("A dog ", 3)  # loads and answers in the NumPy engine
    with np.load(tmp_path / "w0" / "weights.npz") as a, np.load(tmp_path / "single" / "weights.npz") as b:
        assert a.files == b.files
        for name in a.files:
            assert np.allclose(a[name], b[name], rtol=0, atol=1e-5), name
