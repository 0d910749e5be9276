"""The `nextword` group: thin. Each command family registers itself on it (train.py,
predict.py, inspect.py, store.py); every failure becomes one line and an exit status here.

Heavy modules (TensorFlow via train, NumPy via the engine) are imported inside command
bodies so that `--help` and the prediction commands start fast.
"""

from __future__ import annotations

import errno
import signal

import click

from nextword import __version__
from nextword.cli import inspect, output, predict, store, train
from nextword.cli.options import clip_words
from nextword.cli.output import DISK_FULL, STDOUT, describe_os_error, printable
from nextword.cli.status import ExitStatus
from nextword.errors import NextwordError, Terminated, TrainingInterrupted


class NextwordGroup(click.Group):
    """Turns the library's errors into one `Error:` line, Ctrl-C into exit 130 (SIGTERM
    143), a full disk or a file that cannot be written into one `Error:` line, and a closed
    stdout into a quiet exit: the one place where exceptions become exit statuses."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # an option of the group itself (`nextword --bogus`)
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a command's options or arguments, or no such command
            raise _one_line(exc, ctx) from None
        except TrainingInterrupted as exc:
            click.echo(printable(f"Interrupted: {exc}"), err=True)
            ctx.exit(exc.exit_code)
        except NextwordError as exc:
            raise click.ClickException(printable(str(exc))) from None
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated):
                ctx.exit(exc.exit_code)
            click.echo("", err=True)  # end the line the terminal echoed ^C on
            ctx.exit(ExitStatus.INTERRUPTED)
        except OSError as exc:
            _os_error(exc)


def _os_error(exc: OSError) -> None:
    """A closed pipe ends quietly; a full disk or a file that cannot be written is one
    `Error:` line; any other OSError is a bug and keeps its traceback."""
    if exc.filename is None and output.stdout_failed():
        exc.filename = STDOUT
    if exc.errno == errno.EPIPE:
        output.quiet_exit(ExitStatus.SUCCESS)  # the reader has all it wanted (`| head`)
    if exc.filename == STDOUT:
        if exc.errno == errno.EBADF:
            # stdout closed: like a closed pipe, but nothing was delivered
            output.quiet_exit(ExitStatus.ERROR)
        output.release_stdout()
    if exc.filename is None and exc.errno not in DISK_FULL:
        raise exc  # not the user's disk or files: a bug, keep the traceback
    raise click.ClickException(printable(describe_os_error(exc))) from None


class OneLineUsageError(click.UsageError):
    """A mistake on the command line as one line on stderr, `Error: ...`, with the command
    whose --help lists what it takes, in place of Click's usage, "Try ..." and a blank line;
    a long value in it is clipped. Exit status 2, as Click's."""

    def __init__(self, exc: click.UsageError, where: str = "nextword"):
        super().__init__(exc.format_message(), exc.ctx)
        self.where = where

    def show(self, file=None) -> None:
        where = self.ctx.command_path if self.ctx is not None else self.where
        message = clip_words(self.format_message().strip()).rstrip(".")
        click.echo(printable(f"Error: {message} (see {where} --help)"), file=file, err=True)


def _one_line(exc: click.UsageError, ctx: click.Context | None = None) -> click.UsageError:
    """`exc` as one line, naming the command whose --help to see: the one being parsed when
    Click's parser left the error without a context (an option missing its value)."""
    # `nextword` alone shows the help (Click 8.2+ raises it as a usage error): left as it is.
    if isinstance(exc, (OneLineUsageError, _SHOW_HELP)):
        return exc
    where = " ".join(filter(None, [ctx.command_path, ctx.invoked_subcommand])) if ctx else "nextword"
    return OneLineUsageError(exc, where)


_SHOW_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(cls=NextwordGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nextword")
def cli():
    """Next-word suggestions from an LSTM language model trained on your own text."""


for family in (train, predict, inspect, store):
    family.register(cli)


def main() -> None:
    output.guard_standard_streams()
    signal.signal(signal.SIGTERM, _terminate)
    if hasattr(signal, "SIGHUP"):  # the terminal closed: as SIGTERM, what was read is kept
        signal.signal(signal.SIGHUP, _terminate)
    cli(prog_name="nextword")


def _terminate(signum, frame) -> None:
    # SIGTERM and SIGHUP take Ctrl-C's path (KeyboardInterrupt clean-up), then exit 143, 129.
    raise Terminated(signum)
