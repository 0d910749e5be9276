"""`nextword predict` and `nextword generate` as commands and as processes."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from nextword.cli.main import cli


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def test_predict_argument_plain_and_json(numpy_model_dir):
    result = invoke("predict", "-m", str(numpy_model_dir), "-k", "2", "A dog ")
    assert result.exit_code == 0 and result.output.split()[0] == "barks"
    result = invoke("predict", "-m", str(numpy_model_dir), "--json", "by the r")
    answer = json.loads(result.output)
    assert answer["text"] == "by the r" and answer["prefix"] == "r"
    assert answer["suggestions"][0]["word"] == "river" and 0 < answer["suggestions"][0]["prob"] <= 1


def test_predict_answers_each_stdin_line(numpy_model_dir):
    lines = ["The cat ", "", "\x01\x02 control", "x" * 100_000, "日本語 ", "A dog b"]
    result = invoke("predict", "-m", str(numpy_model_dir), "-p", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    out = result.output.split("\n")[:-1]
    assert len(out) == len(lines)
    assert out[0].startswith("sleeps:") and out[-1].startswith("barks:")


def test_missing_model_error(tmp_path):
    result = invoke("predict", "-m", str(tmp_path / "none"), "the ")
    assert result.exit_code == 1 and result.stderr.startswith("Error: no model at")
    assert "nextword train" in result.stderr


def test_generate_seed(numpy_model_dir):
    a = invoke("generate", "-m", str(numpy_model_dir), "The cat", "-n", "8", "--seed", "3")
    b = invoke("generate", "-m", str(numpy_model_dir), "The cat", "-n", "8", "--seed", "3")
    assert a.exit_code == 0 and a.output == b.output and a.output.startswith("The cat")


PROBE = """
import sys
sys.argv = ["nextword"] + sys.argv[1:]
from nextword.cli.main import main
try:
    main()
except SystemExit:
    pass
print("heavy:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules), file=sys.stderr)
"""


def test_predict_and_generate_never_import_tensorflow(numpy_model_dir):
    for args in (["predict", "-m", str(numpy_model_dir), "The "],
                 ["generate", "-m", str(numpy_model_dir), "-n", "5"]):
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                              input="", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "heavy: []" in proc.stderr


def test_closed_stdout_ends_quietly(numpy_model_dir):
    proc = subprocess.Popen([sys.executable, "-m", "nextword", "predict", "-m", str(numpy_model_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"The cat \n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith(b"sleeps")  # answered before more input arrives
    proc.stdout.close()
    try:  # nextword may already have gone, quietly, on its first failed write
        proc.stdin.write(b"the \n" * 20000)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_interactive_and_evaluation_modules_do_not_import_tensorflow():
    code = ("import sys, nextword.frontends.repl, nextword.frontends.evaluate, "
            "nextword.prediction.predictor, "
            "nextword.frontends.lsp; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
