"""Settings of a model and of its training, as dataclasses saved in `config.json`.

The model directory carries these so that `ModelConfig(**saved)` rebuilds the network
exactly; nothing about a model is stored anywhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

FORMAT_VERSION = 1


@dataclass
class ModelConfig:
    """Shape of the network: Embedding -> LSTM x layers -> (projection) -> softmax."""

    vocab_size: int
    embedding_dim: int = 256
    units: int = 512
    layers: int = 1
    dropout: float = 0.2
    # Width of a linear layer between the last LSTM and the output; 0 = none. It makes
    # the (largest) output matrix vocab x projection_dim instead of vocab x units.
    projection_dim: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_dim", "units", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.projection_dim < 0:
            raise ValueError("projection_dim must be 0 (none) or positive")

    def parameter_count(self) -> int:
        """Trainable parameters of the network these settings build."""
        total = self.vocab_size * self.embedding_dim
        width = self.embedding_dim
        for _ in range(self.layers):
            total += 4 * self.units * (width + self.units + 1)
            width = self.units
        if self.projection_dim:
            total += width * self.projection_dim + self.projection_dim
            width = self.projection_dim
        return total + width * self.vocab_size + self.vocab_size


@dataclass
class TrainConfig:
    """How a model was (or is to be) trained."""

    seq_len: int = 35
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 2e-3
    clipnorm: float = 1.0
    val_fraction: float = 0.05
    patience: int = 3
    time_budget: float | None = None  # seconds
    seed: int = 0
    vocab_size: int = 20000
    min_count: int = 2
    sampled_softmax: int = 0  # negative words per training step; 0 = exact softmax

    def __post_init__(self) -> None:
        if self.seq_len < 2:
            raise ValueError("sequence length must be at least 2")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
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


def from_dict(cls, data: dict):
    """Rebuild a dataclass, ignoring keys a newer writer may have added."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
