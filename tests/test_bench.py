"""The prediction benchmarks still run (`make bench`): on the tests' small model, briefly.
What they measure is checked by reading their figures, never here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run(script: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(BENCH / script), *args, "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_lsp_latency_runs(numpy_model_dir):
    figures = run("lsp_latency.py", "--model", str(numpy_model_dir), "--rounds", "1")
    assert figures["keystrokes"] > 100 and figures["keystroke_p99_ms"] > 0


def test_predict_speeds_parts_run(numpy_model_dir):
    """Its parts (its whole run also times `import tensorflow`: seconds the suite spares)."""
    sys.path.insert(0, str(BENCH))
    try:
        import predict_speed
    finally:
        sys.path.remove(str(BENCH))
    latencies, peak = predict_speed.keystrokes(numpy_model_dir, rounds=1)
    assert len(latencies) > 100 and peak > 0
    figures = predict_speed.document_typing(numpy_model_dir, written=600, typed=300)
    assert figures["document_keystrokes"] == 300
