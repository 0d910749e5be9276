"""The subcommands of `nextword`, registered on the group in cli.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli import STARTED, cli, model_option, parse_duration, resolve_model, resolve_user_db, user_db_option
from .config import PRECISIONS, ModelConfig, TrainConfig, default


def _model(name: str):
    return default(ModelConfig, name)


def _training(name: str):
    return default(TrainConfig, name)


@cli.command()
@click.argument("corpus", nargs=-1, required=True)
@model_option
@click.option("--valid", "valid", multiple=True, metavar="FILE",
              help="Validation text (repeatable). Default: hold out blocks spread through the corpus.")
@click.option("--val-fraction", type=click.FloatRange(0.001, 0.5, max_open=True),
              default=_training("val_fraction"),
              show_default=True, help="Share of the corpus held out for validation.")
@click.option("--vocab-size", type=click.IntRange(3), default=_training("vocab_size"), show_default=True,
              help="Most words in the vocabulary (the rest become [UNK]).")
@click.option("--min-count", type=click.IntRange(1), default=_training("min_count"), show_default=True,
              help="Words seen fewer times than this become [UNK].")
@click.option("--layers", type=click.IntRange(1, 8), default=_model("layers"), show_default=True,
              help="Number of stacked LSTM layers.")
@click.option("--units", type=click.IntRange(1), default=None,
              help="LSTM units per layer. [default: twice the embedding size]")
@click.option("--embedding-dim", type=click.IntRange(1), default=None,
              help="Size of the word embeddings. [default: by the vocabulary, 1.6 x words^0.56 "
                   "within 64-256]")
@click.option("--projection-dim", type=click.IntRange(0), default=None,
              help="Linear layer between LSTM and output (0 = none). "
                   "[default: the embedding size when tied and units differ, else 0]")
@click.option("--attention", type=click.IntRange(0), default=None,
              help="Width of the attention over the LSTM's outputs in the window (0 = none): "
                   "what lets the network use a word many steps back. [default: 64 with long "
                   "context (at most 2,000 words, in lines of 25 tokens or more), else 0]")
@click.option("--attention-heads", type=click.IntRange(1), default=_model("attention_heads"),
              show_default=True, help="Heads the attention is split into, each reading on its own.")
@click.option("--chrono", type=click.IntRange(0), default=None,
              help="Start the LSTM's gates so that its cells keep what they hold for 1 to N steps "
                   "(chrono initialisation; 0 = Keras' forget-gate bias 1). [default: the window "
                   "length with long context, else 0]")
@click.option("--tied/--untied", default=_model("tied"), show_default=True,
              help="Use the embedding matrix as the output matrix too.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Dropout after the embedding and each LSTM layer (variational: one mask per "
                   "window). [default: by training tokens per parameter, 0.6 up to 0.1, none "
                   "from 1]")
@click.option("--sampled-softmax", type=click.IntRange(0), default=None,
              help="Train with a sampled softmax over N words per step (0 = exact); validation and "
                   "prediction always use the exact softmax. [default: 1024 when the vocabulary has "
                   "more than 4,096 words, else exact]")
@click.option("--seq-len", type=click.IntRange(2), default=None,
              help="Tokens per training window (backpropagation through time). [default: 100 with "
                   "long context, else 35]")
@click.option("--line-windows/--consecutive-windows", default=None,
              help="Start training and validation windows at line starts where lines allow (as a "
                   "text the engine reads starts), or read the corpus in consecutive windows. "
                   "[default: at line starts with long context]")
@click.option("--precision", type=click.Choice(PRECISIONS), default=_training("precision"),
              show_default=True, help="Arithmetic of training (weights stay float32). auto: "
                                      "mixed_bfloat16 where the hardware runs it natively (a CPU with "
                                      "AVX-512 BF16 or AMX, for 256 units or more; a GPU of compute "
                                      "capability 8.0+), else float32.")
@click.option("--weight-average/--last-weights", default=_training("weight_average"), show_default=True,
              help="Validate and keep a moving average of the weights over about half an epoch, "
                   "or the weights as last updated.")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Windows per batch. [default: 64, smaller for a small corpus]")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Most passes over the corpus (early stopping may end sooner). "
                   "[default: 20, or as many as --time-budget allows]")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Adam learning rate (halved when validation stalls). [default: 3e-3 at 512 "
                   "units, inversely proportional to the width, at most 0.012]")
@click.option("--time-budget", default=None, metavar="DURATION",
              help="Stop when this much time is spent (e.g. 90s, 10m, 1h) and keep the best model.")
@click.option("--seed", type=int, default=_training("seed"), show_default=True, help="Random seed.")
@click.option("--resume", is_flag=True,
              help="Continue training the model in --model (same vocabulary and settings).")
@click.option("--replace", "replace_any", is_flag=True,
              help="Replace the model in --model with this run's best validated model even if it "
                   "is not better (by default a model there is kept unless beaten).")
@click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
              default="auto", show_default=True,
              help="tf.distribute strategy. auto: multiworker when TF_CONFIG names a cluster, "
                   "mirrored with several GPUs, else default (one GPU or the CPU). The batch "
                   "size is the global batch, split across replicas; only the chief writes the model.")
def train(corpus, model_dir, valid, val_fraction, vocab_size, min_count, layers, units,
          embedding_dim, projection_dim, attention, attention_heads, chrono, tied, dropout, sampled_softmax,
          seq_len, line_windows, precision,
          weight_average, batch_size, epochs, learning_rate, time_budget, seed, resume, replace_any,
          strategy):
    """Train a model on CORPUS: files, directories (their text files), globs, or - for stdin."""
    budget = parse_duration(time_budget) if time_budget else None
    if budget is not None and budget <= 0:
        raise click.BadParameter("must be more than zero", param_hint="--time-budget")
    from .train import train as run_training

    cfg = TrainConfig(seq_len=seq_len, batch_size=batch_size or _training("batch_size"), epochs=epochs,
                      learning_rate=learning_rate, val_fraction=val_fraction, time_budget=budget,
                      seed=seed, vocab_size=vocab_size, min_count=min_count,
                      sampled_softmax=sampled_softmax,
                      precision=precision, weight_average=weight_average, line_windows=line_windows)
    model_options = dict(layers=layers, units=units, embedding_dim=embedding_dim,
                         projection_dim=projection_dim, attention=attention,
                         attention_heads=attention_heads, chrono=chrono, tied=tied, dropout=dropout)
    try:
        # The vocabulary (and the dropout, unless given) are known later.
        ModelConfig(vocab_size=1, **{k: v for k, v in model_options.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = run_training(list(corpus), resolve_model(model_dir), cfg, model_options,
                          valid_args=list(valid) or None, resume=resume,
                          auto_batch=batch_size is None, strategy=strategy, started=STARTED,
                          replace_any=replace_any)
    s = result.summary
    ppl = f"{result.val_perplexity:.1f}" if result.val_perplexity is not None else "not measured"
    if result.kept:
        click.echo(f"Model not replaced: {result.kept}")
        return
    if not result.wrote_model:
        click.echo(f"Worker done (validation perplexity {ppl}); the chief writes the model")
        return
    click.echo(f"Model written to {result.model_dir} (validation perplexity {ppl}; "
               f"unigram baseline {s.unigram_perplexity:.1f}; stopped by {s.stopped_because})")


@cli.command()
@model_option
@user_db_option
@click.option("--json", "as_json", is_flag=True, help="Print config.json as it is.")
def info(model_dir, user_db, as_json):
    """Show what is in the model (vocabulary, parameters, corpus, validation perplexity)
    and in the personal store (words, sequences, size, path)."""
    import json

    from . import artifact
    from .cli import write_stdout
    from .userstore import StoreError

    # Load what `predict` loads (weights, tokenizer), so a damaged model is reported here.
    # A damaged store is reported too, after the model's card, not instead of it.
    store_error = None
    try:
        predictor = _load_predictor(model_dir, interactive=False, user_db=user_db)
    except StoreError as exc:
        store_error = exc
        predictor = _load_predictor(model_dir, interactive=False, store=False)
    path = predictor.path
    config = artifact.read_config(path)
    m, s = config.pop("_model"), artifact.summary(config)
    config.pop("_path", None)
    if as_json:
        write_stdout(json.dumps(config, indent=2) + "\n")
    else:
        _model_card(predictor, path, config, m, s, user_db, store_error)
    if store_error is not None:
        raise store_error  # one Error: line, after what could be shown


def _model_card(predictor, path, config: dict, m, s, user_db, store_error) -> None:
    from .cli import write_stdout
    from .store_commands import describe_store

    t = config.get("training", {})
    rows = [
        ("model", str(path)),
        ("network", m.describe()),
        ("parameters", f"{m.parameter_count():,}"),
        ("corpus", ", ".join(s.corpus) or "?"),
        ("tokens", f"{s.train_tokens:,} training, {s.valid_tokens:,} validation"),
        ("validation perplexity", f"{s.val_perplexity:.1f}" if s.val_perplexity else "not measured"),
        ("unigram perplexity", f"{s.unigram_perplexity:.1f}" if s.unigram_perplexity else "?"),
        ("predictor", _mixture_summary(predictor, config)),
        ("reading", f"in windows of {m.reading_window} tokens, as trained" if m.reading_window
                    else "on from one state"),
        ("training", f"{s.epochs_done} epoch(s), {s.wall_seconds:.0f} s, "
                     f"{s.tokens_per_second or 0:,.0f} tokens/s, stopped by {s.stopped_because or '?'}"),
        ("settings", f"seq_len {t.get('seq_len')}, batch {t.get('batch_size')}, "
                     f"dropout {m.dropout}, lr {t.get('learning_rate')}, seed {t.get('seed')}, "
                     f"{t.get('precision', 'float32')}"
                     + (", windows at line starts" if t.get("line_windows") else "")
                     + (", weight average" if t.get("weight_average") else "")),
        ("trained at", s.trained_at or "?"),
        ("nextword", config.get("nextword_version", "?")),
        ("personal store", f"{resolve_user_db(user_db)}: cannot be used (below)" if store_error
                           else describe_store(predictor, resolve_user_db(user_db))),
    ]
    width = max(len(k) for k, _ in rows)
    write_stdout("".join(f"{key:<{width}}  {value}\n" for key, value in rows))


def _mixture_summary(predictor, config: dict) -> str:
    """What `predict` mixes, e.g. "lstm 0.57 + ngram 0.19 (162,601 trigrams) + cache 0.07
    + pairs 0.17, fitted on 18,782 tokens"."""
    parts = []
    for name, weight in predictor.mixture.weights.items():
        component = predictor.mixture.components[name]
        size = f" ({len(component.trigrams.keys):,} trigrams)" if name == "ngram" else ""
        parts.append(f"{name} {weight:.2f}{size}")
    fitted = (config.get("mixture") or {}).get("fitted_on")
    how = (f"fitted on {fitted:,} tokens" if isinstance(fitted, int) else "fitted weights"
           ) if "mixture" in config else "default weights"
    return " + ".join(parts) + f", {how}"


def _load_predictor(model_dir, interactive: bool = True, user_db: str | None = None, store: bool = True):
    """The predictor of `predict`, `complete`, ...: the model, and the personal store unless
    `store` is False (a store that cannot be opened is noted once on stderr, and left out)."""
    from .cli import require_stdout

    require_stdout()  # every command that loads a model answers on stdout
    if interactive:
        _one_blas_thread()
    from .predictor import Predictor

    predictor = Predictor.load(resolve_model(model_dir), resolve_user_db(user_db) if store else None)
    note_store(predictor)
    return predictor


def note_store(predictor) -> None:
    """Say on stderr, once, why the personal store is not used (or no longer learns)."""
    if predictor.store_note is not None and not getattr(predictor, "store_noted", False):
        click.echo(f"Note: {predictor.store_note}; going on without it", err=True)
        predictor.store_noted = True


def _one_blas_thread() -> None:
    """For keystroke-by-keystroke prediction. One token at a time is a small matrix-vector
    product: BLAS threads only add hand-off latency (p99 per keystroke fell from 24 ms to
    5 ms on a busy 2-core machine). Must be set before NumPy loads; `evaluate` keeps them
    for bulk work."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")


@cli.command()
@click.argument("text", required=False)
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

    from .cli import write_stdout

    predictor = _load_predictor(model_dir, user_db=user_db)

    def learn_line(line: str) -> None:
        if line.strip():
            predictor.learn(line)
            note_store(predictor)

    def answer(line: str) -> None:
        result = predictor.analyse(line, k)
        if as_json:
            out = json.dumps(result.to_json(), ensure_ascii=False)
        elif probs:
            out = " ".join(f"{w}:{p:.4f}" for w, p in result.words)
        else:
            out = " ".join(w for w, _ in result.words)
        write_stdout(out + "\n")

    if text is not None:
        answer(text)
        if learn:
            learn_line(text)
        return
    sys.stdin.reconfigure(errors="replace")
    pending = ""  # the line to learn once the next one does not extend (or cut back) it
    try:
        for line in iter(sys.stdin.readline, ""):
            line = line.removesuffix("\n")
            finished = None
            if learn:
                if not (pending and line.strip() and (line.startswith(pending) or pending.startswith(line))):
                    finished = pending
                pending = line
            answer(line)
            if finished is not None:  # after the answer (learning adapts the network too)
                learn_line(finished)
    finally:  # also on Ctrl-C or a closed stdout: the last line read is learned too
        if learn:
            learn_line(pending)


@cli.command()
@click.argument("prompt", required=False, default="")
@model_option
@click.option("-n", "--words", type=click.IntRange(1), default=30, show_default=True,
              help="Number of words to generate.")
@click.option("--temperature", type=click.FloatRange(0), default=0.8, show_default=True,
              help="Below 1: safer words; above 1: more surprising; 0: always the likeliest.")
@click.option("--top-k", type=click.IntRange(0), default=0, show_default=True,
              help="Sample only from the K likeliest tokens (0 = all).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=0.95,
              show_default=True, help="Sample only from the likeliest tokens whose mass is P.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Random seed (0 or more): the same seed gives the same text.")
@user_db_option
def generate(prompt, model_dir, words, temperature, top_k, top_p, seed, user_db):
    """Write text that continues PROMPT, sampled from the model."""
    from .cli import write_stdout

    predictor = _load_predictor(model_dir, user_db=user_db)
    write_stdout(predictor.generate(prompt, words, temperature, top_k, top_p, seed) + "\n")


@cli.command()
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
    predictor = _load_predictor(model_dir, user_db=user_db)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException("complete needs a terminal; to predict for piped text "
                                   "use `nextword predict` (one answer per input line)")
    from .repl import run

    run(predictor, k, learn=learn, noted=lambda: note_store(predictor))


@cli.command()
@click.argument("files", nargs=-1, required=True)
@model_option
@click.option("-n", "--suggestions", type=click.IntRange(1, 100), default=6, show_default=True,
              help="Suggestions shown per keystroke in the keystroke-savings simulation.")
@click.option("--ksr-words", type=click.IntRange(0), default=5000, show_default=True,
              help="Simulate typing only the first N words (0 = all).")
@click.option("--no-baseline", is_flag=True,
              help="Skip the Kneser-Ney 3-gram column (the full predictor still uses the model's own).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--learn", is_flag=True,
              help="Also the full predictor learning as it goes: each line learned once written, "
                   "into a temporary personal store (and the network's adaptation), beside the static one.")
def evaluate(files, model_dir, suggestions, ksr_words, no_baseline, as_json, learn):
    """Perplexity, top-1/3/5 next-word accuracy, OOV rate and keystroke savings on FILES,
    for the LSTM alone, the 3-gram Kneser-Ney alone (the model's own, or counted on its
    training text) and the full predictor (both mixed with a cache of the text read so far;
    the model is measured, so the personal store is left out)."""
    import json
    import tempfile

    from . import corpus
    from .cli import write_stdout
    from .evaluate import as_json as to_json
    from .evaluate import evaluate as run
    from .evaluate import table

    predictor = _load_predictor(model_dir, interactive=False, store=False)
    # `-` and pipes are copied here (read more than once); removed however this ends.
    with tempfile.TemporaryDirectory(prefix="nextword-evaluate-") as spool:
        paths = corpus.resolve(files, spool_dir=spool)
        results = run(predictor, paths, suggestions, ksr_words, not no_baseline)
        learned = None
        if learn:
            from .learning import evaluate_learning

            scores, learned = evaluate_learning(predictor, paths, suggestions, ksr_words,
                                                log=lambda m: click.echo(m, err=True))
            results.append(scores)
    report = to_json(results, suggestions)
    if learned is not None:
        report["learning"] = learned
    write_stdout((json.dumps(report, indent=2) if as_json else table(results, suggestions)) + "\n")


@cli.command()
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
    written in a document to the personal store when it is saved; off by default); see the
    README for Neovim, Helix and Emacs.
    """
    from .cli import require_stdout

    require_stdout()
    _one_blas_thread()
    from .lsp import Settings, run

    run(Settings(model=Path(model_dir).expanduser() if model_dir else None, items=k, user_db=user_db))
