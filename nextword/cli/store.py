"""The personal store's commands: `nextword learn` and `nextword forget` (and `info`'s line on it)."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import click

from nextword.cli import output
from nextword.cli.options import Text, clip, resolve_user_db, user_db_option
from nextword.cli.output import write_stdout
from nextword.cli.status import ExitStatus

PROGRESS_BYTES = 1 << 20  # inputs at least this big show progress on stderr
PROGRESS_SECONDS = 1.0


def _store(user_db: str | None):
    from nextword.store.database import UserStore

    path = resolve_user_db(user_db)
    if path is None:
        raise click.UsageError("an empty --user-db (or $NEXTWORD_USER_DB) means no personal store; "
                               "name one to learn into or forget from")
    return UserStore(path)


@click.command()
@click.argument("files", nargs=-1, required=True)
@user_db_option
def learn(files, user_db):
    """Add the words and short sequences of FILES (files, directories, globs, or - for
    stdin) to the personal store, without retraining. Nothing leaves this machine."""
    import tempfile

    from nextword.errors import Terminated
    from nextword.store.bulk_learn import BATCH_CHARS
    from nextword.text import corpus

    if "-" in files and output.STDIN_CLOSED:
        raise click.ClickException("standard input is closed: there is nothing to learn from -")
    store = _store(user_db)
    with tempfile.TemporaryDirectory(prefix="nextword-learn-") as spool:
        paths = corpus.resolve(files, spool_dir=spool)
        size = sum(p.stat().st_size for p in paths)
        started = time.monotonic()
        shown = [started]
        done = [0, 0]  # characters and words committed

        def progress(chars: int, words: int) -> None:
            done[:] = chars, words
            now = time.monotonic()
            if size >= PROGRESS_BYTES and now - shown[0] >= PROGRESS_SECONDS:
                shown[0] = now
                click.echo(f"Learning: {_mb(chars)} of {_mb(size)} MB, {words:,} words, "
                           f"{chars / 1e6 / (now - started):.1f} MB/s", err=True)

        stats = corpus.DecodeStats()
        try:
            words = store.learn_all(corpus.pieces(corpus.iter_text(paths, stats), BATCH_CHARS), progress)
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated):
                raise
            click.echo(f"\nInterrupted: {done[1]:,} words ({_mb(done[0])} of {_mb(size)} MB) were "
                       f"learned into {store.path} and are kept; the rest was not", err=True)
            raise SystemExit(ExitStatus.INTERRUPTED) from None
    if stats.total:
        click.echo(f"Warning: {stats.total:,} invalid UTF-8 byte(s) replaced", err=True)
    summary = store.summary()
    if summary is None and not words:  # (nothing written: no store was made for it)
        write_stdout(f"Learned nothing: no words in {', '.join(files)}; no store was made at {store.path}\n")
        return
    held = f" (it holds {summary.words:,} words, {summary.distinct:,} distinct)" if summary else ""
    write_stdout(f"Learned {words:,} words in {time.monotonic() - started:.1f} s into {store.path}{held}\n")


@click.command()
@click.argument("words", type=Text(), nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Forget everything the store holds.")
@click.option("--since", metavar="DATE",
              help="Forget what was learned on DATE and after (2024-05-31, today, yesterday, 7d).")
@user_db_option
def forget(words, everything, since, user_db):
    """Remove from the personal store WORDS (and every sequence holding them), everything
    (--all) or what was learned since a date (--since). The file stays, emptied of it."""
    if (bool(words) + everything + (since is not None)) != 1:
        raise click.UsageError("name WORDS, or give --all or --since DATE (one of them)")
    day = None
    if since is not None:
        try:
            day = parse_day(since)
            datetime.date.fromordinal(day)  # a date of the calendar ("99999999d" is none)
        except (ValueError, OverflowError) as exc:
            raise click.BadParameter(f"{clip(since)!r} is no date nextword can go back to ({exc})",
                                     param_hint="--since") from None
    store = _store(user_db)
    if store.connection() is None:
        write_stdout(f"Nothing to forget: there is no personal store at {store.path}\n")
        return
    if everything:
        n = store.forget_all()
        write_stdout(f"Forgot everything ({n:,} words learned); {store.path} is empty\n")
    elif day is not None:
        n = store.forget_since(day)
        write_stdout(f"Forgot {n:,} words learned since {datetime.date.fromordinal(day)}\n")
    else:
        for word in words:
            n = store.forget_word(word)
            write_stdout(f"Forgot {word!r} ({n:,} times learned) and every sequence holding it\n"
                         if n else f"{word!r} was not in the store\n")


def describe_store(predictor, path: Path | None) -> str:
    """One line on the personal store: path, words, sequences, size; or why there is none."""
    if path is None:
        return "none (an empty --user-db or $NEXTWORD_USER_DB)"
    summary = predictor.store_summary()
    if predictor.personal is None or predictor.store_note is not None:
        return f"{path}: not used ({predictor.store_note})"
    if summary is None or not summary.words:
        return f"{path}: nothing learned yet (`nextword learn FILE`, or type in `nextword complete`)"
    first = datetime.date.fromordinal(summary.first_day) if summary.first_day else "?"
    last = (datetime.datetime.fromtimestamp(summary.last_seen).strftime("%Y-%m-%d %H:%M")
            if summary.last_seen else "?")
    return (f"{path}: {summary.words:,} words learned ({summary.distinct:,} distinct), "
            f"{summary.pairs:,} two-word and {summary.triples:,} three-word sequences, "
            f"{_mb(summary.bytes)} MB, learned from {first} to {last}")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def parse_day(text: str) -> int:
    """'YYYY-MM-DD', 'today', 'yesterday' or 'Nd' (N days ago) -> a local date's ordinal."""
    today = datetime.date.today()
    word = text.strip().lower()
    if word == "today":
        return today.toordinal()
    if word == "yesterday":
        return today.toordinal() - 1
    if word.endswith("d") and word[:-1].isdigit():
        if len(word) > 8:  # (the calendar starts under 800,000 days ago)
            raise ValueError("that goes back before the calendar starts")
        return today.toordinal() - int(word[:-1])
    try:
        return datetime.date.fromisoformat(word).toordinal()
    except ValueError:
        raise ValueError("not a date like 2024-05-31, today, yesterday or 7d") from None


def register(group: click.Group) -> None:
    group.add_command(learn)
    group.add_command(forget)
