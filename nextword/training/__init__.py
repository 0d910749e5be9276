"""The training side: the only package that may import TensorFlow or Keras
(checked by `make lint`). Nothing a user runs per keystroke imports it."""
