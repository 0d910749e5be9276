"""The `nextword` command line. Thin: parse options, call the library, print.

Heavy modules (TensorFlow via train, NumPy via the engine) are imported inside command
bodies so that `--help` and the prediction commands start fast.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import time
from pathlib import Path

import click

STARTED = time.monotonic()  # the time budget of `train` counts from here, imports included

from . import __version__
from .errors import NextwordError
from .paths import default_model_dir


class NextwordGroup(click.Group):
    """Turns the library's errors into one `Error:` line, Ctrl-C into exit 130 and a closed
    stdout into a quiet exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NextwordError as exc:
            if type(exc).__name__ == "TrainingInterrupted":
                click.echo(f"Interrupted: {exc}", err=True)
                ctx.exit(130)
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            _quiet_pipe_exit()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                _quiet_pipe_exit()
            raise


def _quiet_pipe_exit() -> None:
    # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def model_option(f):
    return click.option(
        "-m", "--model", "model_dir", type=click.Path(path_type=Path), default=None,
        help="Model directory. Default: $NEXTWORD_MODEL, else "
             "$XDG_DATA_HOME/nextword/model (~/.local/share/nextword/model).")(f)


def resolve_model(model_dir: Path | None) -> Path:
    return Path(model_dir).expanduser() if model_dir else default_model_dir()


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h30m', '2.5m' or plain seconds -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text):
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 10m or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


@click.group(cls=NextwordGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nextword")
def cli():
    """Next-word suggestions from an LSTM language model trained on your own text."""


from . import commands  # noqa: F401  (registers the commands on `cli`)


def main() -> None:
    cli(prog_name="nextword")
