"""Read, write and validate a model directory (the DESIGN.md contract).

    config.json     format_version, "model" (ModelConfig), "training" (TrainConfig),
                    "summary" (Summary)
    tokenizer.json  the word tokenizer (tokenizers library)
    weights.npz     float32 arrays, loaded with allow_pickle=False:
                      embedding                  (vocab, embedding_dim)
                      lstm_{i}_kernel            (input_dim, 4*units)  gates i, f, c, o
                      lstm_{i}_recurrent_kernel  (units, 4*units)      gates i, f, c, o
                      lstm_{i}_bias              (4*units,)
                      projection_kernel/_bias    (units, projection_dim) — if projection_dim
                      output_kernel              (last width, vocab)
                      output_bias                (vocab,)
    model.keras     the Keras model with optimizer state, for `train --resume` only
    casing.json     optional: usual written forms of words ("python" -> "Python")

A directory is written into a temporary sibling and renamed into place, so it is either
complete or absent. Nothing here imports TensorFlow or Keras, and nothing executes code
from the directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import tokenizer as tokenizer_mod
from .config import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, from_dict
from .errors import ModelError

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = "weights.npz"
KERAS = "model.keras"


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"embedding": (cfg.vocab_size, cfg.embedding_dim)}
    width = cfg.embedding_dim
    for i in range(cfg.layers):
        shapes[f"lstm_{i}_kernel"] = (width, 4 * cfg.units)
        shapes[f"lstm_{i}_recurrent_kernel"] = (cfg.units, 4 * cfg.units)
        shapes[f"lstm_{i}_bias"] = (4 * cfg.units,)
        width = cfg.units
    if cfg.projection_dim:
        shapes["projection_kernel"] = (width, cfg.projection_dim)
        shapes["projection_bias"] = (cfg.projection_dim,)
        width = cfg.projection_dim
    shapes["output_kernel"] = (width, cfg.vocab_size)
    shapes["output_bias"] = (cfg.vocab_size,)
    return shapes


def write(path: Path, config: dict, tok, arrays: dict[str, np.ndarray],
          extra: Callable[[Path], None] | None = None) -> None:
    """Write a complete model directory at `path`, replacing any old one only at the end.
    `extra(tmpdir)` may add files (the trainer saves model.keras there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
        tokenizer_mod.save(tok, tmp / TOKENIZER)
        np.savez(tmp / WEIGHTS, **arrays)
        if extra is not None:
            extra(tmp)
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(new: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(new, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def check_writable(path: Path) -> None:
    """Fail early (before training) if the model cannot be written at `path`."""
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{path.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise ModelError(f"cannot write the model to {path}: {exc.strerror or exc}") from None
    if path.exists() and not path.is_dir():
        raise ModelError(f"cannot write the model to {path}: it is a file, not a directory")


def read_config(path: Path) -> dict:
    """The parsed config.json, with its format version checked."""
    path = Path(path)
    file = path / CONFIG
    if not path.is_dir() or not file.exists():
        raise ModelError(f"no model at {path} (train one with `nextword train FILE`)")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{file} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{file} is not a model configuration")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{file} has format_version {version!r}; this nextword reads "
                         f"format_version {FORMAT_VERSION} (retrain, or upgrade nextword)")
    try:
        model_cfg = from_dict(ModelConfig, config["model"])
        from_dict(TrainConfig, config.get("training", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{file} has invalid model settings ({exc})") from None
    config["_model"] = model_cfg
    return config


def summary(config: dict) -> Summary:
    return from_dict(Summary, config.get("summary", {}))


def read_weights(path: Path, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The arrays of weights.npz, checked against the shapes `cfg` implies."""
    file = Path(path) / WEIGHTS
    if not file.exists():
        raise ModelError(f"{file} is missing")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{file} is corrupt ({exc})") from None
    for name, shape in expected_shapes(cfg).items():
        if name not in arrays:
            raise ModelError(f"{file} has no array {name!r}")
        if arrays[name].shape != shape:
            raise ModelError(f"{file}: {name} has shape {arrays[name].shape}, "
                             f"config.json implies {shape}")
        if not np.issubdtype(arrays[name].dtype, np.floating):
            raise ModelError(f"{file}: {name} is not a float array")
    return {name: arrays[name].astype(np.float32, copy=False) for name in expected_shapes(cfg)}


def read_tokenizer(path: Path, cfg: ModelConfig):
    file = Path(path) / TOKENIZER
    tok = tokenizer_mod.load(file)
    if tok.get_vocab_size() != cfg.vocab_size:
        raise ModelError(f"{file} has {tok.get_vocab_size()} words, config.json says "
                         f"{cfg.vocab_size}")
    return tok
