"""The Keras language model, built from a ModelConfig, and its weights as plain arrays.

Embedding -> LSTM x layers (each followed by variational dropout) -> optional attention
-> optional linear projection -> output over the vocabulary, whose matrix is the embedding
matrix when tied. The attention (`attention` wide, in `attention_heads` heads) adds to the
last LSTM layer's output at each position a mix of that layer's outputs at the positions
before (the window's own, at most `attention_span` back), weighted by how well their keys
match its query: a word many steps back is one step away (issue 14). The LSTM's gate biases
may start by chrono initialisation (`ChronoBias`): cells that keep what they hold for many
steps from the start.
`call` returns the last hidden layer; `logits` applies the output matrix. Under the
mixed_bfloat16 policy the arithmetic is bfloat16 and the weights float32. Training may
use a sampled softmax (`sampled`: that many negative words per step, drawn log-uniformly,
which fits ids sorted by falling frequency as the tokenizer makes them): the cost of the
output layer then no longer grows with the vocabulary.
Validation and prediction always use the exact softmax. The array names and layouts in
`export_weights` are the contract the NumPy engine reads (see modeldir/directory.py).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras.src.losses.loss import scale_loss_for_distribution

from nextword.modeldir.settings import ModelConfig


@keras.saving.register_keras_serializable(package="nextword")
class ChronoBias(keras.initializers.Initializer):
    """LSTM gate biases by chrono initialisation (Tallec & Ollivier, "Can recurrent neural
    networks warp time?", 2018): each unit's forget-gate bias is log(u), u drawn uniformly
    from [1, steps - 1], and its input-gate bias the opposite, so the units start out
    keeping what their cells hold for 1 to `steps` steps. With Keras' default (forget bias
    1, a cell keeps ~73 % a step) a gradient 45 steps back is a millionth of its size.
    Keras' gate order: input, forget, cell candidate, output."""

    def __init__(self, units: int, steps: int, seed: int = 0):
        self.units, self.steps, self.seed = units, steps, seed

    def __call__(self, shape, dtype=None):
        forget = np.log(np.random.default_rng(self.seed).uniform(1, max(2, self.steps - 1), self.units))
        zeros = np.zeros(self.units)
        bias = np.concatenate([-forget, forget, zeros, zeros]).astype("float32")
        return keras.ops.convert_to_tensor(bias, dtype=dtype)

    def get_config(self):
        return {"units": self.units, "steps": self.steps, "seed": self.seed}


@keras.saving.register_keras_serializable(package="nextword")
class LanguageModel(keras.Model):
    def __init__(self, vocab_size: int, embedding_dim: int, units: int, layers: int = 1,
                 dropout: float = 0.0, projection_dim: int = 0, tied: bool = False,
                 sampled: int = 0, unroll: bool = False, attention: int = 0, attention_span: int = 0,
                 attention_heads: int = 1, chrono: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.settings = dict(vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
                             layers=layers, dropout=dropout, projection_dim=projection_dim,
                             tied=tied, sampled=sampled, unroll=unroll, attention=attention,
                             attention_span=attention_span, attention_heads=attention_heads, chrono=chrono)
        self.vocab_size, self.sampled, self.tied = vocab_size, sampled, tied
        policy = self.dtype_policy  # e.g. mixed_bfloat16: float32 weights, bfloat16 compute
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding", dtype=policy)
        # Variational ("locked") dropout: one mask per sequence, the same at every step.
        self.dropouts = [keras.layers.Dropout(dropout, noise_shape=(None, 1, width), dtype=policy)
                         for width in [embedding_dim] + [units] * layers]
        # Unrolled, the steps of a window are one graph, not a while loop (faster on a CPU,
        # for windows of a fixed, modest length).
        self.lstms = [keras.layers.LSTM(units, return_sequences=True, unroll=unroll, name=f"lstm_{i}",
                                        dtype=policy, **_gate_biases(units, chrono, i))
                      for i in range(layers)]
        self.attention, self.attention_span, self.attention_heads = attention, attention_span, attention_heads
        self.units = units
        if attention:  # queries, keys and values in one product; values are `units` wide
            self.attention_qkv = keras.layers.Dense(2 * attention + units, name="attention_qkv", dtype=policy)
            self.attention_output = keras.layers.Dense(units, name="attention_output", dtype=policy)
        self.projection = (keras.layers.Dense(projection_dim, name="projection", dtype=policy)
                           if projection_dim else None)
        width = projection_dim or units  # tied: equal to embedding_dim (ModelConfig checks)
        # (vocab, width): the layout tf.nn.sampled_softmax_loss takes; tied = the embedding.
        self.output_weights = None if tied else self.add_weight(
            shape=(vocab_size, width), name="output_weights", initializer="glorot_uniform")
        self.output_bias = self.add_weight(shape=(vocab_size,), name="output_bias", initializer="zeros")

    @property
    def output_matrix(self):
        return self.embedding.embeddings if self.tied else self.output_weights

    def call(self, tokens, training=False):
        x = self.dropouts[0](self.embedding(tokens), training=training)
        for n, (lstm, dropout) in enumerate(zip(self.lstms, self.dropouts[1:], strict=True)):
            h = lstm(x, training=training)
            x = dropout(h, training=training)
            if self.attention and n == len(self.lstms) - 1:
                x = x + self._attend(h)
        return self.projection(x) if self.projection is not None else x

    def _attend(self, h):
        """The attention's addition to the outputs `h` (batch, time, units): in each head,
        position t reads positions t - attention_span < s <= t. Scores and softmax in float32."""
        a, heads = self.attention, self.attention_heads
        qkv = self.attention_qkv(h)
        steps = keras.ops.shape(h)[1]

        def split(x, dtype):  # (batch, time, heads * w) -> (batch, heads, time, w)
            x = keras.ops.reshape(keras.ops.cast(x, dtype), (-1, steps, heads, x.shape[-1] // heads))
            return keras.ops.transpose(x, (0, 2, 1, 3))

        q, k = split(qkv[..., :a], "float32"), split(qkv[..., a:2 * a], "float32")
        scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 1, 3, 2))) * ((a // heads) ** -0.5)
        t = keras.ops.expand_dims(keras.ops.arange(steps), 1)
        s = keras.ops.expand_dims(keras.ops.arange(steps), 0)
        visible = s <= t
        if self.attention_span:
            visible = keras.ops.logical_and(visible, t - s < self.attention_span)
        scores = keras.ops.where(visible, scores, -1e9)
        mix = keras.ops.cast(keras.ops.softmax(scores, axis=-1), h.dtype)
        read = keras.ops.transpose(keras.ops.matmul(mix, split(qkv[..., 2 * a:], h.dtype)), (0, 2, 1, 3))
        return self.attention_output(keras.ops.reshape(read, (-1, steps, self.units)))  # heads side by side

    def logits(self, hidden):
        """Float32 logits; the product runs in the hidden vectors' dtype (bfloat16 under a
        mixed precision policy)."""
        weights = keras.ops.cast(self.output_matrix, hidden.dtype)
        product = keras.ops.matmul(hidden, keras.ops.transpose(weights))
        return keras.ops.cast(product, "float32") + self.output_bias

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        width = keras.ops.shape(y_pred)[-1]
        hidden = keras.ops.reshape(y_pred, (-1, width))
        labels = keras.ops.reshape(keras.ops.cast(y, "int64"), (-1, 1))
        if training and 0 < self.sampled < self.vocab_size:
            losses = tf.nn.sampled_softmax_loss(
                weights=self.output_matrix, biases=self.output_bias, labels=labels,
                inputs=keras.ops.cast(hidden, "float32"), num_sampled=self.sampled,
                num_classes=self.vocab_size)
        else:
            losses = keras.losses.sparse_categorical_crossentropy(
                labels[:, 0], self.logits(hidden), from_logits=True)
        # Keras' own losses scale by 1/replicas (and its trainer unscales what it logs), so
        # that tf.distribute's summed gradients are a mean over the global batch: the same.
        return scale_loss_for_distribution(keras.ops.mean(losses))

    def get_config(self):
        return {**super().get_config(), **self.settings}


def _gate_biases(units: int, chrono: int, layer: int) -> dict:
    """The LSTM layer's bias options: chrono initialisation for `chrono` steps, or Keras'
    default (forget-gate bias 1) for 0."""
    if not chrono:
        return {}
    return {"unit_forget_bias": False, "bias_initializer": ChronoBias(units, chrono, seed=layer)}


def build(cfg: ModelConfig, sampled: int = 0, precision: str = "float32",
          unroll: bool = False) -> LanguageModel:
    """The network of `cfg`, its weights created. `precision` is a Keras dtype policy:
    "float32", or "mixed_bfloat16" (bfloat16 arithmetic on float32 weights: faster on CPUs
    with AVX-512 BF16 or AMX for networks of 256 units or more, and on recent GPUs).
    `unroll`: for fixed windows of modest length (train.UNROLL_MAX tokens)."""
    model = LanguageModel(cfg.vocab_size, cfg.embedding_dim, cfg.units, cfg.layers, cfg.dropout,
                          cfg.projection_dim, cfg.tied, sampled, unroll, cfg.attention,
                          cfg.attention_span, cfg.attention_heads, cfg.chrono, name="nextword_lstm",
                          dtype=precision)
    model(np.zeros((1, 2), dtype="int32"))  # create the weights
    return model


def next_token_logits(model: LanguageModel, ids) -> np.ndarray:
    """Full logits after each position of a batch of id sequences (for tests and checks)."""
    hidden = model(np.asarray(ids, dtype="int32"), training=False)
    return keras.ops.convert_to_numpy(model.logits(hidden))


def export_weights(model: LanguageModel, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The network's weights as float32 arrays under the names the engine expects.

    LSTM kernels keep Keras' layout: columns are the gates in the order i, f, c, o
    (input, forget, cell candidate, output), each `units` wide.
    """
    arrays = {"embedding": model.embedding.get_weights()[0]}
    for i, lstm in enumerate(model.lstms):
        kernel, recurrent, bias = lstm.get_weights()
        arrays[f"lstm_{i}_kernel"] = kernel
        arrays[f"lstm_{i}_recurrent_kernel"] = recurrent
        arrays[f"lstm_{i}_bias"] = bias
    if model.attention:
        for layer in (model.attention_qkv, model.attention_output):  # attention_qkv_kernel, ...
            arrays[f"{layer.name}_kernel"], arrays[f"{layer.name}_bias"] = layer.get_weights()
    if model.projection is not None:
        arrays["projection_kernel"], arrays["projection_bias"] = model.projection.get_weights()
    # Tied or not, the output matrix is written out: the engine needs no special case.
    arrays["output_kernel"] = keras.ops.convert_to_numpy(model.output_matrix).T
    arrays["output_bias"] = keras.ops.convert_to_numpy(model.output_bias)
    return {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in arrays.items()}
