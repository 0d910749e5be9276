"""What the commands write, and the standard streams: stdout written and flushed (a closed
pipe, a full disk and a strict UTF-8 stream each handled), closed descriptors reopened on
/dev/null, notes on stderr."""

from __future__ import annotations

import errno
import os
import sys
import tempfile

import click

from nextword.cli.status import ExitStatus

STDOUT = "<stdout>"  # the file name of an OSError raised writing standard output


DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


STDOUT_CLOSED = False  # main() found file descriptor 1 closed (`nextword ... >&-`)


STDIN_CLOSED = False  # main() found file descriptor 0 closed (`nextword ... <&-`)


def printable(text: str) -> str:
    """`text` as any UTF-8 stream can write it: bytes of a file name or an argument that
    are not UTF-8 (surrogate escapes) are shown as \\xNN, any other lone surrogate as \\uNNNN."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError about a file or a full disk, with a hint when the file is
    in the temporary directory (TMPDIR chooses another)."""
    name = "standard output" if exc.filename == STDOUT else exc.filename
    strerror = exc.strerror or str(exc)
    reason = DISK_FULL.get(exc.errno) or strerror[:1].lower() + strerror[1:]
    if exc.errno in DISK_FULL:
        line = f"{reason} while writing {name}" if name is not None else reason
    else:
        where = f"{name} -> {exc.filename2}" if exc.filename2 is not None else f"{name}"
        line = f"{where}: {reason}"
    if exc.filename not in (None, STDOUT) and _in_temp_dir(exc.filename):
        line += (" (the temporary directory: set TMPDIR to a directory with more room)"
                 if exc.errno in DISK_FULL else " (the temporary directory: set TMPDIR to use another)")
    return line


def _in_temp_dir(name) -> bool:
    try:
        temp = os.path.realpath(tempfile.gettempdir())
        return os.path.commonpath([os.path.realpath(os.fsdecode(name)), temp]) == temp
    except (TypeError, ValueError):
        return False


def stdout_failed() -> bool:
    """True if standard output cannot be flushed: then it is what an OSError without a file
    name came from (what failed to be written is still in its buffer)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


def release_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so the interpreter's final flush of what is
    still buffered cannot fail again (and print a traceback)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no descriptor (e.g. CliRunner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def quiet_exit(code: int) -> None:
    release_stdout()
    sys.exit(code)


def write_stdout(text: str) -> None:
    """Write `text` on stdout (printable: a path or an argument that is not UTF-8 cannot
    fail a strict UTF-8 stdout) and flush it; an OSError doing so names standard output
    (NextwordGroup then tells a closed pipe or a full disk from other failures)."""
    try:
        sys.stdout.write(printable(text))
        sys.stdout.flush()
    except OSError as exc:
        if exc.filename is None:
            exc.filename = STDOUT
        raise


def require_stdout() -> None:
    """Called first by the commands whose work is what they print: with stdout closed from
    the start (`>&-`) no one can read the answer, so end at once and quietly, as when a
    pipe's reader has gone, with exit 1 because nothing was delivered."""
    if STDOUT_CLOSED:
        sys.exit(ExitStatus.ERROR)


def guard_standard_streams() -> None:
    """Reopen a standard descriptor the shell closed (`<&-`, `>&-`, `2>&-`) on /dev/null,
    so that no file nextword opens takes its number (a print would then write into it).
    A closed stdin reads as empty (and sets STDIN_CLOSED); a closed stdout sets STDOUT_CLOSED."""
    global STDIN_CLOSED, STDOUT_CLOSED
    for fd, mode, name in ((0, "r", "stdin"), (1, "w", "stdout"), (2, "w", "stderr")):
        try:
            os.fstat(fd)
            if getattr(sys, name) is not None:
                continue
            stream = open(os.devnull, mode)  # closed at start-up, since reused
        except OSError:
            devnull = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            stream = open(fd, mode, closefd=False)
        setattr(sys, name, stream)
        STDOUT_CLOSED = STDOUT_CLOSED or fd == 1
        STDIN_CLOSED = STDIN_CLOSED or fd == 0


def note(message: str) -> None:
    """One `Note:` line on stderr: something the command goes on without."""
    click.echo(printable(f"Note: {message}"), err=True)
