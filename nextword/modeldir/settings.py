"""Settings of a model and of its training, as dataclasses saved in `config.json`.

The model directory carries these so that `ModelConfig(**saved)` rebuilds the network
exactly; nothing about a model is stored anywhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

FORMAT_VERSION = 1
PRECISIONS = ("auto", "float32", "mixed_bfloat16")  # auto: hardware.choose_precision


@dataclass
class ModelConfig:
    """Shape of the network: Embedding -> LSTM x layers -> (attention) -> (projection) -> softmax."""

    vocab_size: int
    embedding_dim: int = 256
    units: int = 512
    layers: int = 1
    dropout: float = 0.2
    # Width of a linear layer between the last LSTM and the output; 0 = none. It makes
    # the (largest) output matrix vocab x projection_dim instead of vocab x units.
    # None: embedding_dim when tied and units differ from it (tying needs that), else 0.
    projection_dim: int | None = None
    # The output matrix is the embedding matrix (Press & Wolf 2017): fewer parameters to
    # learn, and each word's output row also learns from its uses as input. Needs the
    # output width (projection_dim, or units without one) to equal embedding_dim.
    tied: bool = True
    # Width of the attention's queries and keys (all heads together) over the last LSTM
    # layer's outputs at the previous `attention_span` positions (its own included); 0 = none.
    # Issue 14: with it, 100-token windows at line starts and chrono initialisation, a
    # 128-unit network learns a fact 30-60 words back in four minutes; training sets it
    # (64, one head) for a small vocabulary in long lines (defaults.long_context).
    attention: int = 0
    # Positions the attention reads: training sets it to its window (seq_len), so that the
    # engine reads as the network was trained.
    attention_span: int = 100
    # Heads the attention's queries, keys and values are split into, each reading on its own.
    attention_heads: int = 1
    # How the LSTM's gate biases start: 0, Keras' default (forget-gate bias 1); T, chrono
    # initialisation (model.ChronoBias), cells that keep what they hold for 1 to T steps.
    # Only training reads it; the engine needs nothing.
    chrono: int = 0
    # How the engine reads a text (prediction/windowed.py): 0, on from one continuous
    # state; W, in staggered windows of W tokens from a zero state, as training showed them.
    # Training measures both on validation text and keeps the better (windowed.choose_reading).
    reading_window: int = 0

    def __post_init__(self) -> None:
        if self.projection_dim is None:
            self.projection_dim = self.embedding_dim if self.tied and self.units != self.embedding_dim else 0
        for name in ("vocab_size", "embedding_dim", "units", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.reading_window < 0 or self.reading_window == 1:
            raise ValueError("reading_window must be 0 (continuous) or at least 2 tokens")
        if self.chrono < 0 or self.chrono == 1:
            raise ValueError("chrono must be 0 (Keras' gate biases) or at least 2 steps")
        if self.attention < 0 or self.attention_span < 1:
            raise ValueError("attention must be 0 (none) or positive, attention_span positive")
        if self.attention and (self.attention_heads < 1 or self.attention % self.attention_heads
                               or self.units % self.attention_heads):
            raise ValueError(f"the attention's width ({self.attention}) and the units ({self.units}) "
                             f"must split evenly into its {self.attention_heads} head(s)")
        if self.projection_dim < 0:
            raise ValueError("projection_dim must be 0 (none) or positive")
        if self.tied and (self.projection_dim or self.units) != self.embedding_dim:
            raise ValueError("tied embeddings need the output width (projection, or units) "
                             f"to equal the embedding size ({self.embedding_dim})")

    def describe(self) -> str:
        """The network in one line, as `nextword info` and `nextword train` show it."""
        return (f"embedding {self.embedding_dim} -> {self.layers} x LSTM {self.units}"
                + (f" (chrono initialisation, {self.chrono} steps)" if self.chrono else "")
                + (f" -> attention {self.attention} in {self.attention_heads} head(s) over "
                   f"{self.attention_span} steps" if self.attention else "")
                + (f" -> projection {self.projection_dim}" if self.projection_dim else "")
                + f" -> softmax over {self.vocab_size:,} words"
                + (" (tied to the embedding)" if self.tied else ""))

    def parameter_count(self) -> int:
        """Trainable parameters of the network these settings build."""
        total = self.vocab_size * self.embedding_dim
        width = self.embedding_dim
        for _ in range(self.layers):
            total += 4 * self.units * (width + self.units + 1)
            width = self.units
        if self.attention:  # queries, keys and values; the output back to the units
            total += width * (2 * self.attention + width) + 2 * self.attention + width
            total += width * width + width
        if self.projection_dim:
            total += width * self.projection_dim + self.projection_dim
            width = self.projection_dim
        return total + (0 if self.tied else width * self.vocab_size) + self.vocab_size

    def training_bytes(self, batch_size: int, seq_len: int) -> int:
        """A lower estimate of the memory training this network takes: float32 weights,
        their gradients, Adam's two moments and the weight average (5 copies), and the
        activations one batch keeps for the backward pass (each LSTM step holds its four
        gates, cell and output; the embedding and the exact softmax's logits). For refusing,
        before training, a network no machine at hand can hold (`--units 1000000`)."""
        steps = batch_size * seq_len
        activations = steps * (self.embedding_dim + 6 * self.units * self.layers
                               + 3 * self.attention + self.projection_dim + self.vocab_size)
        return 4 * (5 * self.parameter_count() + 2 * activations)


@dataclass
class TrainConfig:
    """How a model was (or is to be) trained."""

    # None: by the text (defaults.long_context), 100 or 35; resolved and saved.
    seq_len: int | None = None
    batch_size: int = 64
    # None: 20, or as many as the time budget allows (resolved before training and saved).
    epochs: int | None = None
    # None: by the network's width (defaults.learning_rate); resolved and saved.
    learning_rate: float | None = None
    clipnorm: float = 1.0
    val_fraction: float = 0.05
    patience: int = 3
    time_budget: float | None = None  # seconds
    seed: int = 0
    vocab_size: int = 20000
    min_count: int = 2
    # Words sampled per training step for the softmax; 0 = exact. None (the default) is
    # resolved before training, and saved resolved: train.default_sampled_softmax.
    sampled_softmax: int | None = None
    # Validate and keep an exponential moving average of the weights over about half an
    # epoch (see train.average_momentum) instead of the weights as last updated.
    weight_average: bool = True
    # A Keras dtype policy, float32 or mixed_bfloat16; "auto" (resolved before training,
    # and saved resolved) picks bfloat16 only where the hardware runs it natively (on a
    # CPU, for networks of hardware.MIN_BF16_CPU_UNITS or more).
    precision: str = "auto"
    # Training and validation windows start at line starts where lines allow it
    # (data.line_windows), as a text the engine reads does; False: consecutive windows.
    # None: with long context (defaults.long_context); resolved and saved.
    line_windows: bool | None = None

    def __post_init__(self) -> None:
        if self.seq_len is not None and self.seq_len < 2:
            raise ValueError("sequence length must be at least 2")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError("validation fraction must be between 0 and 0.5")


@dataclass
class Summary:
    """What happened in training: written into config.json beside the settings."""

    corpus: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)
    train_tokens: int = 0
    valid_tokens: int = 0
    epochs_done: int = 0
    val_perplexity: float | None = None
    unigram_perplexity: float | None = None
    tokens_per_second: float | None = None
    wall_seconds: float = 0.0
    trained_at: str = ""
    parameters: int = 0
    stopped_because: str = ""


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


# What a field missing from an older config.json meant: the settings before it existed.
LEGACY = {"ModelConfig": {"tied": False, "projection_dim": 0, "attention": 0, "reading_window": 0,
                          "attention_heads": 1, "chrono": 0},
          "TrainConfig": {"precision": "float32", "weight_average": False, "sampled_softmax": 0,
                          "line_windows": False}}


def from_dict(cls, data: dict):
    """Rebuild a dataclass, ignoring keys a newer writer may have added; a field an older
    writer did not know gets the value that writer used (LEGACY), not today's default.
    `data` is read from a file: TypeError unless it is an object whose every field has its
    annotated type (a whole number for an int, not 320.0; a number for a float)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, not {_json_type(data)}")
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    values = {k: v for k, v in {**LEGACY.get(cls.__name__, {}), **data}.items() if k in fields}
    for name, value in values.items():
        expected = fields[name]
        if not _has_type(value, expected):
            raise TypeError(f"{name} must be {_TYPE_NAMES.get(expected, expected)}, not {_short(value)}")
    return cls(**values)


# The annotations (strings: `from __future__ import annotations`) of the dataclasses above.
_TYPE_NAMES = {"int": "a whole number", "int | None": "a whole number or null",
               "float": "a number", "float | None": "a number or null", "bool": "true or false",
               "bool | None": "true, false or null", "str": "a string", "list[str]": "a list of strings"}


def _has_type(value, annotation: str) -> bool:
    if annotation.endswith(" | None"):
        return value is None or _has_type(value, annotation.removesuffix(" | None"))
    if annotation == "int":
        return type(value) is int
    if annotation == "float":
        # (NaN and infinity: the settings' ranges refuse them; a whole number must convert)
        return type(value) is float or (type(value) is int and abs(value) <= 1 << 53)
    if annotation == "bool":
        return type(value) is bool
    if annotation == "str":
        return type(value) is str
    if annotation == "list[str]":
        return type(value) is list and all(type(v) is str for v in value)
    raise AssertionError(f"no check for the annotation {annotation!r}")


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false",
            type(None): "null"}.get(type(value), "a number")


def _short(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else _json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."


def default(cls, name: str):
    """The default of a field (for the command line, which shows and uses it)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)
