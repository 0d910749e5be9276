"""The command group (nextword/cli/main.py): OS errors, interruptions and signals as exit statuses."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile

import click
from click.testing import CliRunner

from nextword.cli.main import NextwordGroup
from nextword.errors import Terminated, TrainingInterrupted

from .conftest import one_error_line


def run_raising(exc: BaseException):
    @click.group(cls=NextwordGroup)
    def group():
        pass

    @group.command()
    def boom():
        raise exc

    return CliRunner().invoke(group, ["boom"])


# OS errors: a full disk or a file that cannot be written is one line ------------------------

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


# Interruptions and SIGTERM ---------------------------------------------------------------------

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
