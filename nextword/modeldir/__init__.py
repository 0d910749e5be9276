"""The model directory: the on-disk contract shared by training and prediction.

settings.py (config.json's dataclasses and schema), directory.py (reading, verifying and
writing the files), swap.py (one writer at a time, the atomic swap, recovery),
replacing.py (which model a training run leaves at the path). Stdlib, NumPy and
tokenizers only: never TensorFlow."""
