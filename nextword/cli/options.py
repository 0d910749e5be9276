"""The options commands share (-m/--model, --user-db, durations) and checking what is typed
on the command line before any work starts: numbers that must be finite, text arguments that
are not valid UTF-8, a network too big for the machine, and values too long to echo whole in
a message. Stdlib and Click only."""

from __future__ import annotations

import math
import re
from pathlib import Path

import click

from nextword.paths import default_model_dir, resolve_user_db  # noqa: F401  (the commands' resolver)

CLIP_CHARS = 40  # a value echoed in a message is cut to about this many characters


def clip(value: str, limit: int = CLIP_CHARS) -> str:
    """`value` as a message shows it: whole if short, else its start, an ellipsis and how
    long it was (a 5,000-digit --since is not echoed back whole)."""
    value = str(value)
    if len(value) <= limit:
        return value
    return f"{value[:limit - 10]}… ({len(value):,} characters)"


def clip_words(message: str, limit: int = 2 * CLIP_CHARS) -> str:
    """`message` with every whitespace-free run longer than `limit` clipped."""
    return " ".join(clip(part, limit) if len(part) > limit else part for part in message.split(" "))


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that refuses nan and ±inf (nan passes any comparison unnoticed;
    `1e309` reads as inf)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{clip(value)} is not a finite number", param, ctx)
        return number


class Text(click.ParamType):
    """A text argument (TEXT, PROMPT, WORDS). Bytes that are not UTF-8 (the shell hands
    them over as surrogate escapes) become U+FFFD, as in a file read as text, with one
    `Note:` on stderr."""

    name = "text"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
        try:  # the bytes the shell gave, decoded as a file's text is
            fixed = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that is no escape
            fixed = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        noted = ctx.meta.setdefault("nextword.invalid_utf8", set()) if ctx is not None else set()
        name = (param.human_readable_name if param is not None else "text").upper()
        if name not in noted:
            noted.add(name)
            click.echo(f"Note: {name} is not valid UTF-8: each invalid byte is read as U+FFFD (\ufffd)",
                       err=True)
        return fixed


def check_network(model_options: dict, batch_size: int, seq_len: int | None,
                  memory: int | None) -> None:
    """Refuse (click.UsageError) a network whose training could not fit in `memory` bytes
    even on the smallest vocabulary: the vocabulary is known only once the corpus is read,
    but the LSTM's and the attention's share of the memory is not."""
    from nextword.modeldir.settings import ModelConfig
    from nextword.training import defaults

    if memory is None:
        return
    options = {k: v for k, v in model_options.items() if v is not None}
    smallest = 3  # the line end, [UNK] and one word
    options.setdefault("embedding_dim", defaults.embedding_size(smallest))
    options.setdefault("units", defaults.units(options["embedding_dim"]))
    try:
        network = ModelConfig(vocab_size=smallest, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    need = network.training_bytes(batch_size, seq_len or defaults.SHORT_WINDOW)
    if need > memory:
        raise click.UsageError(
            f"a network of {network.layers} x {network.units:,} units and embedding "
            f"{network.embedding_dim:,} ({network.parameter_count():,} parameters with the "
            f"smallest vocabulary) needs at least {_gb(need)} GB to train, more than this machine's "
            f"{_gb(memory)} GB: choose fewer --units, --embedding-dim, --layers or --attention")


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f}"


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
        raise click.BadParameter(f"{clip(text)!r} is not a duration like 90s, 10m or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
