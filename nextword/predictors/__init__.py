"""The prediction side's components, NumPy only (nothing here imports TensorFlow or Keras)."""
