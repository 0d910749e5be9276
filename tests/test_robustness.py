"""Issue #12: faults and odd inputs end in one `Error:` line (or quietly), never a traceback;
long inputs cost bounded work; greedy generation keeps producing words."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import nextword
from nextword.cli.main import NextwordGroup, cli
from nextword.cli.output import write_stdout
from nextword.errors import CorpusError, Terminated, TrainingInterrupted
from nextword.frontends.evaluate import KSR_WORD
from nextword.prediction.predictor import CONTEXT_STEP, MAX_CONTEXT_CHARS, context_window, split_text
from nextword.text import corpus
from nextword.text.rules import WORD, starts_sentence

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def one_error_line(result_or_stderr) -> str:
    err = getattr(result_or_stderr, "stderr", result_or_stderr)
    err = err.decode() if isinstance(err, bytes) else err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def nextword_process(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "nextword", *args], capture_output=True,
                          timeout=60, env=env, **kwargs)


# 1. OS errors: a full disk or a file that cannot be written is one line --------------------



def run_raising(exc: BaseException):
    @click.group(cls=NextwordGroup)
    def group():
        pass

    @group.command()
    def boom():
        raise exc

    return CliRunner().invoke(group, ["boom"])


def test_full_disk_in_the_temporary_directory_names_the_file_and_tmpdir():
    name = os.path.join(tempfile.gettempdir(), "nextword-x", "corpus.bin")
    result = run_raising(OSError(errno.ENOSPC, "No space left on device", name))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith(f"Error: no space left on device while writing {name}")
    assert "TMPDIR" in line


def test_quota_without_a_file_name_and_other_file_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "elsewhere"))
    result = run_raising(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert result.exit_code == 1 and one_error_line(result) == "Error: disk quota exceeded"
    for code, text in ((errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied"),
                       (errno.EIO, "Input/output error")):
        result = run_raising(OSError(code, text, "/data/model/weights.npz"))
        assert result.exit_code == 1
        assert one_error_line(result) == f"Error: /data/model/weights.npz: {text[0].lower() + text[1:]}"


def test_an_os_error_that_is_not_about_a_file_stays_a_bug():
    result = run_raising(OSError(errno.EINVAL, "Invalid argument"))
    assert isinstance(result.exception, OSError) and result.exit_code != 0


def test_write_errors_on_stdout_are_named_and_a_closed_stdout_is_quiet():
    class Broken(io.StringIO):
        def __init__(self, code):
            super().__init__()
            self.code = code

        def write(self, text):
            raise OSError(self.code, os.strerror(self.code))

    def write_to(code):
        @click.group(cls=NextwordGroup)
        def group():
            pass

        @group.command()
        def out():
            sys.stdout = Broken(code)  # CliRunner puts its own stream back afterwards
            write_stdout("answer\n")

        return CliRunner().invoke(group, ["out"])

    full = write_to(errno.ENOSPC)
    assert full.exit_code == 1
    assert one_error_line(full) == "Error: no space left on device while writing standard output"
    closed = write_to(errno.EBADF)
    assert closed.exit_code == 1 and closed.stderr == "" and closed.stdout == ""
    pipe = write_to(errno.EPIPE)
    assert pipe.exit_code == 0 and pipe.stderr == ""


def full_spool(tmp_path, monkeypatch) -> Path:
    """Make the next spool file one on a full device: writes fail with ENOSPC."""
    name = tmp_path / "stdin-full.txt"

    def mkstemp(prefix="", suffix="", dir=None):
        name.write_bytes(b"")
        return os.open("/dev/full", os.O_WRONLY), str(name)

    monkeypatch.setattr(corpus.tempfile, "mkstemp", mkstemp)
    return name


@needs_dev_full
def test_full_disk_while_spooling_stdin_leaves_no_partial_file(tmp_path, monkeypatch):
    name = full_spool(tmp_path, monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"some text\n" * 50_000)))
    with pytest.raises(OSError) as caught:
        corpus.resolve(["-"], spool_dir=str(tmp_path))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(name)
    assert not name.exists()


@needs_dev_full
def test_full_disk_while_spooling_is_one_error_line(numpy_model_dir, tmp_path, monkeypatch):
    name = full_spool(tmp_path, monkeypatch)
    result = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-",
                    input="the cat sleeps\n" * 100)
    assert result.exit_code == 1
    assert one_error_line(result).startswith(f"Error: no space left on device while writing {name}")
    assert not name.exists()


# 2. stdout closed or full, as real processes ------------------------------------------------

def without_unbuffered():
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_closed_stdout_ends_quietly_without_answering(numpy_model_dir):
    for env in (None, without_unbuffered()):
        for args in (["predict", "The cat "], ["generate", "-n", "5"]):
            proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "nextword",
                                   *args, "-m", str(numpy_model_dir)], capture_output=True, timeout=60,
                                  env=env)
            assert proc.returncode == 1 and proc.stderr == b"", proc.stderr


def test_closed_stdin_is_empty_input(numpy_model_dir):
    proc = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "nextword",
                           "predict", "-m", str(numpy_model_dir)], capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""


@needs_dev_full
def test_full_stdout_is_one_error_line(numpy_model_dir):
    # Both buffered and unbuffered stdout: what stays in the buffer must not fail again at exit.
    for env in (None, without_unbuffered()):
        for args in (["predict", "The cat "], ["generate", "-n", "500"]):
            with open("/dev/full", "wb") as full:
                proc = subprocess.run([sys.executable, "-m", "nextword", *args, "-m", str(numpy_model_dir)],
                                      stdout=full, stderr=subprocess.PIPE, timeout=60, env=env)
            assert proc.returncode == 1
            assert one_error_line(proc.stderr) == \
                "Error: no space left on device while writing standard output"


# 3. and 4. generate -----------------------------------------------------------------------

def test_generate_negative_seed_is_a_usage_error(numpy_model_dir):
    result = invoke("generate", "-m", str(numpy_model_dir), "--seed", "-1")
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    big = invoke("generate", "-m", str(numpy_model_dir), "-n", "3", "--seed", str(2**70))
    assert big.exit_code == 0, big.stderr


def generated_words(text: str, prompt: str) -> int:
    return len(re.findall(WORD, text[len(prompt):]))


@pytest.mark.parametrize("options", [["--temperature", "0"], ["--top-p", "1e-9"], ["--top-k", "1"]])
def test_greedy_generation_gives_the_words_asked_for(numpy_model_dir, options):
    result = invoke("generate", "-m", str(numpy_model_dir), "-n", "10", *options, "The king")
    assert result.exit_code == 0, result.stderr
    assert generated_words(result.stdout.rstrip("\n"), "The king") == 10
    assert "\n\n\n" not in result.stdout


class Favours:
    """An engine stub whose likeliest next token is always `token`."""

    def __init__(self, vocab_size: int, token: int):
        self.vocab_size = vocab_size
        self.token = token

    def distribution(self, ids):
        p = np.full(self.vocab_size, 0.1 / (self.vocab_size - 1))
        p[self.token] = 0.9
        return p


@pytest.mark.parametrize("favourite", ["\n", ".", "[UNK]"])
def test_generation_that_loves_a_non_word_still_makes_words(numpy_model_dir, favourite):
    p = nextword.load(numpy_model_dir)
    p.engine = Favours(p.engine.vocab_size, p.tokenizer.get_vocab()[favourite])
    for prompt in ("", "The cat", "The cat sleeps.\n"):
        text = p.generate(prompt, 10, temperature=0)
        assert generated_words(text, prompt) == 10
        assert "\n\n\n" not in text  # at most a paragraph break
    assert not p.generate("", 10, temperature=0).startswith("\n")  # nothing to end yet


# 5. FIFOs and /dev/stdin as corpora ----------------------------------------------------------

def test_a_fifo_is_read_once_into_the_spool(tmp_path):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    text = "the cat sleeps in the garden.\n" * 1000
    writer = threading.Thread(target=lambda: fifo.write_text(text))
    writer.start()
    spool = tmp_path / "spool"
    spool.mkdir()
    [path] = corpus.resolve([str(fifo)], spool_dir=str(spool))
    writer.join(timeout=10)
    assert path.parent == spool and path.read_text() == text
    assert path.read_text() == text  # an ordinary file now: it can be read again


def test_a_fifo_with_binary_data_is_refused_and_leaves_nothing(tmp_path):
    fifo = tmp_path / "binary.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"\x00\x01\x02" * 100))
    writer.start()
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(CorpusError, match="binary"):
        corpus.resolve([str(fifo)], spool_dir=str(spool))
    writer.join(timeout=10)
    assert list(spool.iterdir()) == []


def test_dev_stdin_as_a_pipe_is_evaluated(numpy_model_dir):
    text = "The cat sleeps in the garden.\nA dog barks by the river.\n" * 20
    proc = nextword_process("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "--json", "/dev/stdin",
                            input=text.encode())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"][0]["ksr_words"] == len(KSR_WORD.findall(text))


# 6. and 7. evaluate --------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [("   \n\n \t\n", "nothing to evaluate: the text is empty"),
                                              ("... , ! ?\n", "nothing to evaluate: the text has no words")])
def test_evaluate_text_without_words_is_an_error(numpy_model_dir, tmp_path, content, message):
    path = tmp_path / "blank.txt"
    path.write_text(content)
    result = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", str(path))
    assert result.exit_code == 1 and one_error_line(result) == f"Error: {message}"


def test_evaluate_text_of_unknown_words_has_no_perplexity(numpy_model_dir, tmp_path):
    path = tmp_path / "oov.txt"
    path.write_text("zzyzx qwxv plugh")  # (a final line end would be a known token)
    report = json.loads(invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "--json",
                               str(path)).stdout)
    assert report["models"][0]["perplexity"] is None and report["models"][0]["oov_rate"] == 1
    table = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", str(path))
    assert re.search(r"perplexity\s+n/a", table.stdout)


def test_evaluate_stdin_leaves_nothing_in_the_temporary_directory(numpy_model_dir, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ok = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-",
                input="The cat sleeps at home.\n" * 5)
    assert ok.exit_code == 0, ok.stderr
    assert list(temp.iterdir()) == []
    blank = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-", input="   \n")
    assert blank.exit_code == 1 and list(temp.iterdir()) == []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nextword.frontends.evaluate.evaluate", interrupted)
    stopped = invoke("evaluate", "-m", str(numpy_model_dir), "--no-baseline", "-", input="The cat sleeps.\n")
    assert stopped.exit_code == 130 and list(temp.iterdir()) == []


# 8. long context -----------------------------------------------------------------------------

class Recorder:
    """Wraps an engine, recording how many tokens each query and each run is fed."""

    def __init__(self, engine):
        self.engine = engine
        self.queries: list[int] = []
        self.runs: list[int] = []
        original_run = engine.run

        def run(state, ids, keep=1):
            self.runs.append(len(ids))
            return original_run(state, ids, keep)

        engine.run = run

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def distribution(self, ids):
        self.queries.append(len(ids))
        return self.engine.distribution(ids)


def test_a_huge_single_line_feeds_the_engine_a_bounded_context(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    p.engine = Recorder(p.engine)
    text = "the cat sleeps in the garden " * 70_000  # about 2 MB, one line
    assert len(text) > 2_000_000
    assert p.suggest(text, 3)
    assert p.engine.queries and max(p.engine.queries) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    assert sum(p.engine.runs) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    p.generate(text, 3, seed=0)
    assert max(p.engine.queries) <= MAX_CONTEXT_CHARS + CONTEXT_STEP + 3 * 5 + 16


def test_the_window_keeps_its_start_while_typing_so_a_keystroke_costs_a_step(numpy_model_dir):
    p = nextword.load(numpy_model_dir)
    p.engine = Recorder(p.engine)
    base = ("the cat sleeps in the garden . " * 400)[: MAX_CONTEXT_CHARS + 2 * CONTEXT_STEP + 10] + " "
    first = p.suggest(base, 3)
    assert first and p.engine.runs and p.engine.runs[0] > 500  # the window, run once
    p.engine.runs.clear()
    typed = base
    for keys in ("t", "he", " ", "c", "at", " "):
        typed += keys
        p.suggest(typed, 3)
    # Only the two new words were run, one step each; partial words cost nothing.
    assert sum(p.engine.runs) == 2, p.engine.runs
    assert context_window(base) == context_window(typed)[: len(context_window(base))]


def test_context_window_cuts_at_a_block_multiple_then_whitespace():
    assert context_window("short text ") == "short text "
    text = "word " * 3000
    window = context_window(text)
    assert MAX_CONTEXT_CHARS - len("word ") <= len(window) <= MAX_CONTEXT_CHARS + CONTEXT_STEP
    assert text.endswith(window) and window.startswith("word ")
    for extra in ("w", "wo", "word ", "word word "):
        assert context_window(text + extra) == window + extra


def test_split_text_and_sentence_start_are_linear_and_unchanged():
    assert split_text("x" * 300_000 + " ") == ("x" * 300_000 + " ", "")
    assert split_text("a " + "y" * 300_000) == ("a ", "y" * 300_000)
    assert split_text("--'ab") == ("--'", "ab")
    assert split_text("it's-") == ("", "it's-")
    old = re.compile(r"(^|[.!?]['\"”’)]*|\n)\s*$")
    for context in ["", "  ", "Hi. ", "Hi.\" ", "Hi.) x ", "(Hi) ", "a\n  ", "a\n b ", "Stop!", "Why?’ ",
                    "end\n", "x \t", "\n" * 2000 + "a "]:
        assert starts_sentence(context) == bool(old.search(context)), repr(context)


# 9. info checks what predict checks -----------------------------------------------------------

def test_info_reports_a_healthy_model(numpy_model_dir):
    result = invoke("info", "-m", str(numpy_model_dir))
    assert result.exit_code == 0 and "validation perplexity" in result.stdout
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


# 10. SIGTERM ---------------------------------------------------------------------------------

def test_sigterm_exits_143_without_a_traceback(numpy_model_dir):
    proc = subprocess.Popen([sys.executable, "-m", "nextword", "predict", "-m", str(numpy_model_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"The cat \n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith(b"sleeps")  # loaded, now blocked on stdin
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_the_trainers_interruption_keeps_its_exit_code():
    result = run_raising(TrainingInterrupted("stopped; resume with --resume", exit_code=143))
    assert result.exit_code == 143 and result.stderr.startswith("Interrupted: stopped")
    assert run_raising(TrainingInterrupted("stopped")).exit_code == 130
    terminated = run_raising(Terminated())
    assert terminated.exit_code == 143 and terminated.stderr == ""
