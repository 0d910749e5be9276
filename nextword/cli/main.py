"""The `nextword` command line. Thin: parse options, call the library, print.

Heavy modules (TensorFlow via train, NumPy via the engine) are imported inside command
bodies so that `--help` and the prediction commands start fast.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import click

STARTED = time.monotonic()  # the time budget of `train` counts from here, imports included

from nextword import __version__
from nextword.errors import NextwordError, Terminated
from nextword.paths import default_model_dir, resolve_user_db  # noqa: F401  (commands import it from here)

STDOUT = "<stdout>"  # the file name of an OSError raised writing standard output
_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
STDOUT_CLOSED = False  # main() found file descriptor 1 closed (`nextword ... >&-`)
STDIN_CLOSED = False  # main() found file descriptor 0 closed (`nextword ... <&-`)


class NextwordGroup(click.Group):
    """Turns the library's errors into one `Error:` line, Ctrl-C into exit 130 (SIGTERM
    143), a full disk or a file that cannot be written into one `Error:` line, and a closed
    stdout into a quiet exit."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # an option of the group itself (`nextword --bogus`)
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a command's options or arguments, or no such command
            raise _one_line(exc) from None
        except NextwordError as exc:
            if type(exc).__name__ == "TrainingInterrupted":
                click.echo(f"Interrupted: {exc}", err=True)
                ctx.exit(getattr(exc, "exit_code", 130))
            raise click.ClickException(printable(str(exc))) from None
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated):
                ctx.exit(143)
            click.echo("", err=True)  # end the line the terminal echoed ^C on
            ctx.exit(130)
        except OSError as exc:
            if exc.filename is None and _stdout_failed():
                exc.filename = STDOUT
            if exc.errno == errno.EPIPE:
                _quiet_exit(0)  # the reader has all it wanted (`| head`)
            if exc.filename == STDOUT:
                if exc.errno == errno.EBADF:
                    _quiet_exit(1)  # stdout closed: like a closed pipe, but nothing was delivered
                _release_stdout()
            if exc.filename is None and exc.errno not in _FULL:
                raise  # not the user's disk or files: a bug, keep the traceback
            raise click.ClickException(printable(describe_os_error(exc))) from None


class OneLineUsageError(click.UsageError):
    """A mistake on the command line as one line on stderr, `Error: ...`, with the command
    whose --help lists what it takes, in place of Click's usage, "Try ..." and a blank line;
    a long value in it is clipped. Exit status 2, as Click's."""

    def __init__(self, exc: click.UsageError):
        super().__init__(exc.format_message(), exc.ctx)

    def show(self, file=None) -> None:
        from nextword.cli.options import clip_words

        where = self.ctx.command_path if self.ctx is not None else "nextword"
        message = clip_words(self.format_message().strip()).rstrip(".")
        click.echo(printable(f"Error: {message} (see {where} --help)"), file=file, err=True)


def _one_line(exc: click.UsageError) -> click.UsageError:
    # `nextword` alone shows the help (Click 8.2+ raises it as a usage error): left as it is.
    return exc if isinstance(exc, (OneLineUsageError, _SHOW_HELP)) else OneLineUsageError(exc)


_SHOW_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


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
    reason = _FULL.get(exc.errno) or strerror[:1].lower() + strerror[1:]
    if exc.errno in _FULL:
        line = f"{reason} while writing {name}" if name is not None else reason
    else:
        where = f"{name} -> {exc.filename2}" if exc.filename2 is not None else f"{name}"
        line = f"{where}: {reason}"
    if exc.filename not in (None, STDOUT) and _in_temp_dir(exc.filename):
        line += (" (the temporary directory: set TMPDIR to a directory with more room)"
                 if exc.errno in _FULL else " (the temporary directory: set TMPDIR to use another)")
    return line


def _in_temp_dir(name) -> bool:
    try:
        temp = os.path.realpath(tempfile.gettempdir())
        return os.path.commonpath([os.path.realpath(os.fsdecode(name)), temp]) == temp
    except (TypeError, ValueError):
        return False


def _stdout_failed() -> bool:
    """True if standard output cannot be flushed: then it is what an OSError without a file
    name came from (what failed to be written is still in its buffer)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


def _release_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so the interpreter's final flush of what is
    still buffered cannot fail again (and print a traceback)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no descriptor (e.g. CliRunner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _quiet_exit(code: int) -> None:
    _release_stdout()
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
        sys.exit(1)


def model_option(f):
    return click.option(
        "-m", "--model", "model_dir", type=click.Path(path_type=Path), default=None,
        help="Model directory. Default: $NEXTWORD_MODEL, else "
             "$XDG_DATA_HOME/nextword/model (~/.local/share/nextword/model).")(f)


def resolve_model(model_dir: Path | None) -> Path:
    return Path(model_dir).expanduser() if model_dir else default_model_dir()


def user_db_option(f):
    return click.option(
        "--user-db", "user_db", metavar="PATH", default=None,
        help="Personal store (SQLite) of what you wrote. Default: $NEXTWORD_USER_DB, else "
             "$XDG_DATA_HOME/nextword/user.db (~/.local/share/nextword/user.db); '' for none.")(f)


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h30m', '2.5m' or plain seconds -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text):
        from nextword.cli.options import clip

        raise click.BadParameter(f"{clip(text)!r} is not a duration like 90s, 10m or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


@click.group(cls=NextwordGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nextword")
def cli():
    """Next-word suggestions from an LSTM language model trained on your own text."""


from nextword.cli import (
    commands,  # noqa: F401  (register the commands on `cli`)
    store_commands,  # noqa: F401  (register the commands on `cli`)
)


def main() -> None:
    _guard_standard_streams()
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="nextword")


def _terminate(signum, frame) -> None:
    # SIGTERM takes Ctrl-C's path (KeyboardInterrupt clean-up), then exits 143.
    raise Terminated()


def _guard_standard_streams() -> None:
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
