"""`nextword train`: the one command that imports the training side (TensorFlow), inside its
body and only once its options are known good."""

from __future__ import annotations

import click

from nextword.cli import STARTED
from nextword.cli.options import FiniteFloatRange, check_network, model_option, parse_duration, resolve_model
from nextword.cli.output import printable
from nextword.modeldir.settings import PRECISIONS, ModelConfig, TrainConfig, default

# The options that describe the network (ModelConfig's fields); the others fill TrainConfig.
MODEL_OPTIONS = ("layers", "units", "embedding_dim", "projection_dim", "attention", "attention_heads",
                 "chrono", "tied", "dropout")


def _duration(ctx, param, value):
    """--time-budget in seconds (Click names the option in its error)."""
    return parse_duration(value) if value else None


def _model(name: str):
    return default(ModelConfig, name)


def _training(name: str):
    return default(TrainConfig, name)


@click.command()
@click.argument("corpus", nargs=-1, required=True)
@model_option
@click.option("--valid", "valid", multiple=True, metavar="FILE",
              help="Validation text (repeatable). Default: hold out blocks spread through the corpus.")
@click.option("--val-fraction", type=FiniteFloatRange(0.001, 0.5, max_open=True),
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
@click.option("--dropout", type=FiniteFloatRange(0, 1, max_open=True), default=None,
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
@click.option("--learning-rate", type=FiniteFloatRange(0, min_open=True), default=None,
              help="Adam learning rate (halved when validation stalls). [default: 3e-3 at 512 "
                   "units, inversely proportional to the width, at most 0.012]")
@click.option("--time-budget", default=None, metavar="DURATION", callback=_duration,
              help="Stop when this much time is spent (e.g. 90s, 10m, 1h) and keep the best model.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=_training("seed"), show_default=True,
              help="Random seed (0 to 2**32 - 1).")
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
def train(corpus, model_dir, valid, time_budget, batch_size, resume, replace_any, strategy, **settings):
    """Train a model on CORPUS: files, directories (their text files), globs, or - for stdin."""
    budget = time_budget
    if budget is not None and budget <= 0:
        raise click.BadParameter("must be more than zero", param_hint="--time-budget")
    # The options name the fields of the two settings they fill: the network's, the rest training's.
    model_options = {name: settings.pop(name) for name in MODEL_OPTIONS}
    seq_len = settings["seq_len"]
    cfg = TrainConfig(batch_size=batch_size or _training("batch_size"), time_budget=budget, **settings)
    try:
        # The vocabulary (and the dropout, unless given) are known later.
        ModelConfig(vocab_size=1, **{k: v for k, v in model_options.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not resume:  # (a resumed model keeps its network)
        from nextword.training.hardware import memory_bytes  # (TensorFlow only once asked for GPUs)

        check_network(model_options, cfg.batch_size, seq_len, memory_bytes())
    from nextword.training.train import train as run_training  # (TensorFlow: once the options are known good)

    result = run_training(list(corpus), resolve_model(model_dir), cfg, model_options,
                          valid_args=list(valid) or None, resume=resume,
                          auto_batch=batch_size is None, strategy=strategy, started=STARTED,
                          replace_any=replace_any)
    s = result.summary
    ppl = f"{result.val_perplexity:.1f}" if result.val_perplexity is not None else "not measured"
    if result.kept:
        click.echo(printable(f"Model not replaced: {result.kept}"))
        return
    if not result.wrote_model:
        click.echo(f"Worker done (validation perplexity {ppl}); the chief writes the model")
        return
    click.echo(printable(f"Model written to {result.model_dir} (validation perplexity {ppl}; "
                         f"unigram baseline {s.unigram_perplexity:.1f}; stopped by {s.stopped_because})"))


def register(group: click.Group) -> None:
    group.add_command(train)
