"""Standard streams (nextword/cli/output.py): stdout that fails, is closed or full; a closed stdin."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys

import click
from click.testing import CliRunner

from nextword.cli.main import NextwordGroup
from nextword.cli.output import write_stdout

from .conftest import needs_dev_full, one_error_line


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


# stdout closed or full, stdin closed, as real processes ---------------------------------------

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
