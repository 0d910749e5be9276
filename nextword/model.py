"""Build the Keras language model from a ModelConfig, and move its weights to plain arrays.

Embedding -> LSTM x layers (each followed by dropout) -> optional linear projection ->
Dense over the vocabulary (logits). The array names and layouts in `export_weights` are
the contract the NumPy engine reads (see artifact.py).
"""

from __future__ import annotations

import keras
import numpy as np

from .config import ModelConfig


def build(cfg: ModelConfig) -> keras.Model:
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(cfg.vocab_size, cfg.embedding_dim, name="embedding")(tokens)
    x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    for i in range(cfg.layers):
        x = keras.layers.LSTM(cfg.units, return_sequences=True, name=f"lstm_{i}")(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"lstm_{i}_dropout")(x)
    if cfg.projection_dim:
        x = keras.layers.Dense(cfg.projection_dim, name="projection")(x)
    logits = keras.layers.Dense(cfg.vocab_size, name="output")(x)
    return keras.Model(tokens, logits, name="nextword_lstm")


def export_weights(model: keras.Model, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The network's weights as float32 arrays under the names the engine expects.

    LSTM kernels keep Keras' layout: columns are the gates in the order i, f, c, o
    (input, forget, cell candidate, output), each `units` wide.
    """
    arrays = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for i in range(cfg.layers):
        kernel, recurrent, bias = model.get_layer(f"lstm_{i}").get_weights()
        arrays[f"lstm_{i}_kernel"] = kernel
        arrays[f"lstm_{i}_recurrent_kernel"] = recurrent
        arrays[f"lstm_{i}_bias"] = bias
    if cfg.projection_dim:
        arrays["projection_kernel"], arrays["projection_bias"] = \
            model.get_layer("projection").get_weights()
    arrays["output_kernel"], arrays["output_bias"] = model.get_layer("output").get_weights()
    return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
