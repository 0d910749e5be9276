"""The commands that predict: `predict` (a pipe), `complete` (the REPL), `generate`, `lsp`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nextword.cli.loading import load_predictor, note_store, one_blas_thread
from nextword.cli.options import FiniteFloatRange, Text, model_option, user_db_option
from nextword.cli.output import note, require_stdout, write_stdout
from nextword.interrupts import held

MAX_WORDS = 100_000  # generate's -n: minutes at most, not days (the text is built, then printed)


@click.command()
@click.argument("text", type=Text(), required=False)
@model_option
@click.option("-k", "k", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Number of suggestions.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per answer: {"text", "prefix", "suggestions": [{"word", "prob"}]}.')
@click.option("-p", "--probs", is_flag=True, help="Show each word's probability (word:prob).")
@user_db_option
@click.option("--learn", is_flag=True,
              help="Add the text to the personal store: TEXT, or each stdin line once the next "
                   "line no longer extends it (a line typed further a key at a time is learned once).")
def predict(text, model_dir, k, as_json, probs, user_db, learn):
    """Suggest the next word after TEXT, or complete its last word if TEXT does not end in
    a space. Without TEXT, answer each line of stdin as soon as it is read."""
    import json

    predictor = load_predictor(model_dir, user_db=user_db)
    if learn and predictor.personal is None and predictor.store_note is None:
        note("no personal store (an empty --user-db or $NEXTWORD_USER_DB): --learn learns nothing")

    def learn_line(line: str) -> None:
        if line.strip():
            predictor.learn(line)
            note_store(predictor)

    def answer(line: str) -> None:
        result = predictor.analyse(line, k)
        note_store(predictor)  # a store that could not be read just now
        if as_json:
            out = json.dumps(result.to_json(), ensure_ascii=False)
        elif probs:
            out = " ".join(f"{w}:{p:.4f}" for w, p in result.words)
        else:
            out = " ".join(w for w, _ in result.words)
        write_stdout(out + "\n")

    def finish() -> None:
        predictor.finish_learning()  # what waited for a busy store
        note_store(predictor)

    if text is not None:
        answer(text)
        if learn:
            learn_line(text)
            finish()
        return
    sys.stdin.reconfigure(errors="replace")
    pending = ""  # the line to learn once the next one does not extend (or cut back) it
    finished = None  # the line before it, once finished: learned after the answer
    try:
        for line in iter(sys.stdin.readline, ""):
            line = line.removesuffix("\n")
            if learn:
                if not (pending and line.strip() and (line.startswith(pending) or pending.startswith(line))):
                    finished = pending
                pending = line
            answer(line)
            if finished is not None:  # after the answer (learning adapts the network too)
                with held():  # learned and marked so, or neither
                    learn_line(finished)
                    finished = None
    finally:  # also on Ctrl-C or a closed stdout: the lines read are learned too
        if learn:
            if finished is not None:  # (the answer before its learning was cut short)
                learn_line(finished)
            learn_line(pending)
            finish()


@click.command()
@click.argument("prompt", type=Text(), required=False, default="")
@model_option
@click.option("-n", "--words", type=click.IntRange(1, MAX_WORDS), default=30, show_default=True,
              help=f"Number of words to generate (at most {MAX_WORDS:,}).")
@click.option("--temperature", type=FiniteFloatRange(0), default=0.8, show_default=True,
              help="Below 1: safer words; above 1: more surprising; 0: always the likeliest.")
@click.option("--top-k", type=click.IntRange(0), default=0, show_default=True,
              help="Sample only from the K likeliest tokens (0 = all).")
@click.option("--top-p", type=FiniteFloatRange(0, 1, min_open=True), default=0.95,
              show_default=True, help="Sample only from the likeliest tokens whose mass is P.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Random seed (0 or more): the same seed gives the same text.")
@user_db_option
def generate(prompt, model_dir, words, temperature, top_k, top_p, seed, user_db):
    """Write text that continues PROMPT, sampled from the model."""
    predictor = load_predictor(model_dir, user_db=user_db)
    generated = predictor.generate(prompt, words, temperature, top_k, top_p, seed)
    note_store(predictor)  # a store that could not be read just now
    write_stdout(generated + "\n")


@click.command()
@model_option
@click.option("-k", "k", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Candidates in the Tab menu and the status line.")
@user_db_option
@click.option("--learn/--no-learn", default=True, show_default=True,
              help="Add each line you enter to the personal store.")
def complete(model_dir, k, user_db, learn):
    """Type with the next word suggested as grey ghost text.

    →, End or Ctrl-E accept it, Alt-F one word; Tab opens the menu of candidates (Tab and
    Shift-Tab cycle, Enter picks); Enter ends the line (it stays as context, and is learned
    unless --no-learn); an empty line, Ctrl-L or :clear starts a new paragraph; Ctrl-C
    clears the line; Ctrl-D quits.
    """
    predictor = load_predictor(model_dir, user_db=user_db)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException("complete needs a terminal; to predict for piped text "
                                   "use `nextword predict` (one answer per input line)")
    from nextword.frontends.repl import run

    run(predictor, k, learn=learn, noted=lambda: note_store(predictor))


@click.command()
@model_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Completion items per request (the client's \"items\" setting overrides it).")
@user_db_option
@click.option("--stdio", is_flag=True, help="Accepted for clients that pass it: stdio is the only transport.")
def lsp(model_dir, k, user_db, stdio):
    """Serve completions to an editor: a Language Server (LSP) on stdin and stdout.

    The next word after a space, or the rest of the word at the cursor, from the document's
    text before the cursor. The client's initializationOptions (or settings) may set
    "model", "items", "languages" (languageIds, or "*"), "userDb" and "learn" (add what is
    written in a document to the personal store when it is saved; off by default); see
    docs/editors.md for Neovim, Helix and Emacs.
    """
    require_stdout()
    one_blas_thread()
    from nextword.frontends.lsp import Settings, run

    run(Settings(model=Path(model_dir).expanduser() if model_dir else None, items=k, user_db=user_db))


def register(group: click.Group) -> None:
    for command in (predict, complete, generate, lsp):
        group.add_command(command)
