"""Two workers on 127.0.0.1 training one model with tf.distribute.MultiWorkerMirroredStrategy.

The chief's weights are not compared with a single-worker run's, because they do not
match, and why is not yet known. Measured (diagnostic scripts, one step, Adam lr 1e-3):
both runs start from the same weights (equal to 1e-11); through nextword's own pipeline
worker 0 receives exactly the first half and worker 1 the second half of the single run's
first global batch; after the step the two workers hold identical weights (max diff 0.0);
Keras all-reduces gradients with SUM after each replica scales its loss by 1/replicas. Yet
the chief's weights differ from the single run's by up to 2 x lr (some parameters stepped
the other way), and equally from a single run on worker 0's half alone.
What must hold, and is checked: both workers finish in step (the same loss and validation
perplexity at every epoch), only the chief writes a model, that model loads in the NumPy
engine, and it learns as well as the single-worker run with the same global batch and seed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

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
def test_two_workers_train_in_step_and_only_the_chief_writes(tmp_path):
    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=600)
    args = [sys.executable, "-m", "nextword", "train", str(corpus), "--epochs", "2", "--units", "16",
            "--embedding-dim", "8", "--dropout", "0", "--batch-size", "16", "--seq-len", "10",
            "--seed", "3", "--val-fraction", "0.2"]
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
    ppl = [json.loads((tmp_path / d / "config.json").read_text())["summary"]["val_perplexity"]
           for d in ("w0", "single")]
    assert abs(ppl[0] - ppl[1]) / ppl[1] < 0.05, ppl
