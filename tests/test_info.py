"""`nextword info`: a healthy model's summary, and a damaged model refused as predict refuses it."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nextword.cli.main import cli

from .conftest import one_error_line


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def test_info_reports_a_healthy_model(numpy_model_dir):
    result = invoke("info", "-m", str(numpy_model_dir))
    assert result.exit_code == 0 and "validation perplexity" in result.stdout
    adapting = next(line for line in result.stdout.splitlines() if line.startswith("learning as you go"))
    assert "line ends (perplexity" in adapting  # the settings fitted with the mixture
    assert json.loads(invoke("info", "-m", str(numpy_model_dir), "--json").stdout)["format_version"]


@pytest.mark.parametrize("damage", ["missing weights", "truncated weights", "pickled weights",
                                    "missing tokenizer"])
def test_info_refuses_a_damaged_model(numpy_model_copy, damage):
    weights = numpy_model_copy / "weights.npz"
    if damage == "missing weights":
        weights.unlink()
    elif damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "pickled weights":
        with np.load(weights) as npz:
            arrays = dict(npz)
        arrays["embedding"] = np.array([{"code": "runs"}], dtype=object)
        np.savez(weights, **arrays)
        config = json.loads((numpy_model_copy / "config.json").read_text())
        if "weights.npz" in config.get("files", {}):  # let the digest match: the pickle must be refused
            data = weights.read_bytes()
            config["files"]["weights.npz"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            (numpy_model_copy / "config.json").write_text(json.dumps(config))
    else:
        (numpy_model_copy / "tokenizer.json").unlink()
    for args in ([], ["--json"]) if damage == "missing tokenizer" else ([],):
        result = invoke("info", "-m", str(numpy_model_copy), *args)
        assert result.exit_code == 1, result.output
        line = one_error_line(result)
        assert ("tokenizer.json" if "tokenizer" in damage else "weights.npz") in line
