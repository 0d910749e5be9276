"""The commands that look at a model: `info` (what is in it) and `evaluate` (how good it is)."""

from __future__ import annotations

import click

from nextword.cli.loading import load_predictor, note_store
from nextword.cli.options import model_option, resolve_user_db, user_db_option
from nextword.cli.output import write_stdout
from nextword.cli.store import describe_store
from nextword.text import lexicon


@click.command()
@model_option
@user_db_option
@click.option("--json", "as_json", is_flag=True, help="Print config.json as it is.")
def info(model_dir, user_db, as_json):
    """Show what is in the model (vocabulary, parameters, corpus, validation perplexity)
    and in the personal store (words, sequences, size, path)."""
    import json

    from nextword.modeldir import directory
    from nextword.store.database import StoreError

    # Load what `predict` loads (weights, tokenizer), so a damaged model is reported here.
    # A damaged store is reported too, after the model's card, not instead of it.
    store_error = None
    try:
        predictor = load_predictor(model_dir, interactive=False, user_db=user_db)
    except StoreError as exc:
        store_error = exc
        predictor = load_predictor(model_dir, interactive=False, store=False)
    path = predictor.path
    config = directory.read_config(path)
    m, s = config.pop("_model"), directory.summary(config)
    config.pop("_path", None)
    if as_json:
        write_stdout(json.dumps(config, indent=2) + "\n")
    else:
        _model_card(predictor, path, config, m, s, user_db, store_error)
        note_store(predictor)  # a store that could not be read just now
    if store_error is not None:
        raise store_error  # one Error: line, after what could be shown


def _model_card(predictor, path, config: dict, m, s, user_db, store_error) -> None:

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
        ("learning as you go", _adaptation_summary(predictor, config)),
        ("rare words", f"{len(predictor.lexicon):,} below the vocabulary's cut, offered for a typed prefix"
                       if (path / lexicon.FILE).exists()
                       else "none (no lexicon.json: none in the corpus, or an older model)"),
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
    for name, weight, trigrams in predictor.mixture_parts():
        size = f" ({trigrams:,} trigrams)" if trigrams is not None else ""
        parts.append(f"{name} {weight:.2f}{size}")
    fitted = (config.get("mixture") or {}).get("fitted_on")
    how = (f"fitted on {fitted:,} tokens" if isinstance(fitted, int) else "fitted weights"
           ) if "mixture" in config else "default weights"
    return " + ".join(parts) + f", {how}"


def _adaptation_summary(predictor, config: dict) -> str:
    """How the network adapts at line ends, e.g. "output layer step 1.5, continuous cache
    0.10 (sharpness 20); fitted on 178 line ends (perplexity 59.9 -> 59.7)"."""
    a = predictor.settings
    parts = [f"output layer step {a.step:g}" if a.step else "no output-layer step",
             f"continuous cache {a.lam:.2f} (sharpness {a.theta:g})" if a.lam else "no continuous cache"]
    fitted = config.get("adaptation")
    if fitted is None:
        return ", ".join(parts) + "; defaults (the model has no fitted settings)"
    lines = fitted.get("lines") if isinstance(fitted, dict) else None
    ppl = fitted.get("perplexity") if isinstance(fitted, dict) else None
    how = (f"fitted on {lines:,} line ends" if isinstance(lines, int) and not isinstance(lines, bool)
           and 0 <= lines < 1 << 53 else "fitted")
    figures = [ppl.get(k) for k in ("static", "learning")] if isinstance(ppl, dict) else []
    if len(figures) == 2 and all(isinstance(v, (int, float)) and 0 < v < 1e300 for v in figures):
        how += f" (perplexity {figures[0]:.1f} -> {figures[1]:.1f})"
    return ", ".join(parts) + "; " + how


@click.command()
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

    from nextword.frontends.evaluate import as_json as to_json
    from nextword.frontends.evaluate import evaluate as run
    from nextword.frontends.evaluate import table
    from nextword.text import corpus

    predictor = load_predictor(model_dir, interactive=False, store=False)
    # `-` and pipes are copied here (read more than once); removed however this ends.
    with tempfile.TemporaryDirectory(prefix="nextword-evaluate-") as spool:
        paths = corpus.resolve(files, spool_dir=spool)
        results = run(predictor, paths, suggestions, ksr_words, not no_baseline)
        learned = None
        if learn:
            from nextword.frontends.learning import evaluate_learning

            scores, learned = evaluate_learning(predictor, paths, suggestions, ksr_words,
                                                log=lambda m: click.echo(m, err=True))
            results.append(scores)
    report = to_json(results, suggestions)
    if learned is not None:
        report["learning"] = learned
    write_stdout((json.dumps(report, indent=2) if as_json else table(results, suggestions)) + "\n")


def register(group: click.Group) -> None:
    group.add_command(info)
    group.add_command(evaluate)
