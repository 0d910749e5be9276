"""Read, write and validate a model directory (the contract in docs/model-format.md).

    config.json     format_version, "model" (ModelConfig), "training" (TrainConfig),
                    "summary" (Summary), "files" (each other file's "bytes" and "sha256":
                    the files of one model belong together; readers check what they read)
    tokenizer.json  the word tokenizer (tokenizers library)
    weights.npz     float32 arrays, loaded with allow_pickle=False:
                      embedding                  (vocab, embedding_dim)
                      lstm_{i}_kernel            (input_dim, 4*units)  gates i, f, c, o
                      lstm_{i}_recurrent_kernel  (units, 4*units)      gates i, f, c, o
                      lstm_{i}_bias              (4*units,)
                      attention_qkv_kernel/_bias (units, 2*attention + units) — if attention:
                                                 queries, keys, values (training/network.py)
                      attention_output_kernel/_bias (units, units) — if attention
                      projection_kernel/_bias    (units, projection_dim) — if projection_dim
                      output_kernel              (last width, vocab)
                      output_bias                (vocab,)
    model.keras     the Keras model with optimizer state, for `train --resume` only
    casing.json     optional: usual written forms of words ("python" -> "Python")
    lexicon.json    optional: the corpus's words below the vocabulary's cut, with their
                    counts and written forms (text/lexicon.py)
    ngram.npz       optional: Kneser-Ney counts (NGRAM_ARRAYS), integer arrays loaded with
                    allow_pickle=False; written by prediction/ngram_counts.py, read by prediction/ngram.py
    config.json's optional "mixture": {"weights": {"lstm": .., "ngram": .., "cache": ..,
                    "pairs": ..}, "fitted_on": tokens} (prediction/mixture.py)
    config.json's "model" "reading_window": 0 (or absent), the LSTM reads a text on from
                    one state; W, in staggered windows of W tokens, each from a zero state
                    (prediction/windowed.py)

A directory is written into a temporary sibling and swapped into place (swap.py), so it
is either complete or absent, and only a model (or an empty directory) is ever replaced.
Non-finite weights are neither written nor read. Nothing here imports TensorFlow or Keras,
and nothing executes code from the directory. Every byte of a model is read as hostile
input (untrusted.py: regular files only, JSON within a size limit, each needed .npy
header checked against the shapes config.json implies before its data is read, members
not needed never decompressed); config.json's fields are type-checked (config.from_dict)
and its network bounded (check_size) before anything is allocated for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nextword import untrusted
from nextword.errors import ModelError, NonFiniteWeights, TornRead
from nextword.modeldir import swap
from nextword.modeldir.settings import FORMAT_VERSION, ModelConfig, Summary, TrainConfig, from_dict
from nextword.text import casing, lexicon
from nextword.text import tokenizer as tokenizer_mod

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = "weights.npz"
KERAS = "model.keras"
NGRAM = "ngram.npz"
# The arrays of ngram.npz: V is the vocabulary size; keys are sorted, distinct, in range.
NGRAM_ARRAYS = {
    "order": "3 (the n-gram order)",
    "vocab_size": "V",
    "tokens": "tokens counted",
    "discounts": "(3,) floats in [0, 1]: unigram, bigram, trigram",
    "tri_keys": "(u*V + v)*V + w of each trigram kept",
    "tri_counts": "its count (>= 1)",
    "bi_keys": "v*V + w of each bigram kept",
    "bi_counts": "its continuation count N1+(. v w) (>= 1)",
    "uni_counts": "(V,) continuation counts N1+(. w) (>= 0)",
}
# The largest network a config.json may declare (far beyond what trains on one machine):
# every width, the vocabulary, the windows and the layers. Together with the checks of each
# array's header (untrusted.read_npz) nothing is allocated that the files do not hold.
MAX_WIDTH = 1 << 20
MAX_VOCAB = 1 << 24
MAX_WINDOW = 1 << 16
MAX_LAYERS = 64


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"embedding": (cfg.vocab_size, cfg.embedding_dim)}
    width = cfg.embedding_dim
    for i in range(cfg.layers):
        shapes[f"lstm_{i}_kernel"] = (width, 4 * cfg.units)
        shapes[f"lstm_{i}_recurrent_kernel"] = (cfg.units, 4 * cfg.units)
        shapes[f"lstm_{i}_bias"] = (4 * cfg.units,)
        width = cfg.units
    if cfg.attention:
        shapes["attention_qkv_kernel"] = (width, 2 * cfg.attention + width)
        shapes["attention_qkv_bias"] = (2 * cfg.attention + width,)
        shapes["attention_output_kernel"] = (width, width)
        shapes["attention_output_bias"] = (width,)
    if cfg.projection_dim:
        shapes["projection_kernel"] = (width, cfg.projection_dim)
        shapes["projection_bias"] = (cfg.projection_dim,)
        width = cfg.projection_dim
    shapes["output_kernel"] = (width, cfg.vocab_size)
    shapes["output_bias"] = (cfg.vocab_size,)
    return shapes


def write(path: Path, config: dict, tok, arrays: dict[str, np.ndarray],
          extra: Callable[[Path], None] | None = None,
          committed: Callable[[], None] = lambda: None) -> None:
    """Write a complete model directory at `path`, replacing any old model only at the end
    (swap.swap_in). `extra(tmpdir)` may add files (the trainer saves model.keras there);
    `committed()` is called the moment the new model is in place (see swap.swap_in).
    config.json is written last and records each file's size and SHA-256, so a reader can
    tell that the files belong together. Non-finite weights are refused."""
    check_finite(arrays, "the weights to save")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=swap.sibling(path, "tmp-"), dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # as mkdir would make it, not mkdtemp's private 0700
        tokenizer_mod.save(tok, tmp / TOKENIZER)
        np.savez(tmp / WEIGHTS, **arrays)
        if extra is not None:
            extra(tmp)
        config = {**config, "files": {name: _digest(tmp / name) for name in sorted(os.listdir(tmp))}}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
        for name in os.listdir(tmp):
            swap.sync(tmp / name)
        swap.swap_in(tmp, path, committed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # (after a swap: gone, or the old model)
        raise


def update_config(path: Path, change: Callable[[dict], None]) -> None:
    """Edit config.json of the model at `path` in place (atomically: a new file renamed
    over the old one); the other files are unchanged, so their recorded digests hold."""
    path = Path(path)
    file = path / CONFIG
    config = json.loads(file.read_text(encoding="utf-8"))
    change(config)
    # Beside the directory, not in it: a leftover would make it "not a model" (recover()
    # removes these).
    fd, name = tempfile.mkstemp(prefix=swap.sibling(path, "cfg-"), dir=path.parent)
    tmp = Path(name)
    try:
        os.chmod(fd, os.stat(file).st_mode & 0o777)  # as the file it replaces, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(config, indent=2) + "\n")
        swap.sync(tmp)
        os.replace(tmp, file)
        swap.sync_dir(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_finite(arrays: dict[str, np.ndarray], what: str) -> None:
    """Raise NonFiniteWeights if any array holds NaN or infinity."""
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise NonFiniteWeights(f"{what}: {name} holds NaN or infinite values (training "
                                   f"diverged; retrain with a lower --learning-rate)")


def _digest(file: Path) -> dict:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": file.stat().st_size, "sha256": h.hexdigest()}


def check_writable(path: Path) -> None:
    """Fail early (before training) if the model cannot be written at `path`: the parent
    cannot be made or written, or `path` is something that is not a model."""
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=swap.sibling(path, "probe-"), dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise ModelError(f"cannot write the model to {path}: {exc.strerror or exc}") from None
    swap.check_destination(path)


def read_config(path: Path) -> dict:
    """The parsed config.json, with its format version checked. A model whose swap was
    cut short (swap.readable_path) is read where it was set aside."""
    path = swap.readable_path(Path(path))
    file = path / CONFIG
    if not path.is_dir() or not os.path.lexists(file):
        raise ModelError(f"no model at {path} (train one with `nextword train FILE`)")
    try:
        content = untrusted.read_regular(file, untrusted.JSON_LIMITS[CONFIG])
    except OSError as exc:
        raise ModelError(f"{file} cannot be read ({exc.strerror or exc})") from None
    config = untrusted.parse_json(file, content)
    if not isinstance(config, dict):
        raise ModelError(f"{file} is not a model configuration")
    version = config.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelError(f"{file} has format_version {untrusted.short(repr(version), 40)}; this "
                         f"nextword reads format_version {FORMAT_VERSION} (retrain, or upgrade nextword)")
    try:
        if "model" not in config:
            raise ValueError("no \"model\" settings")
        model_cfg = from_dict(ModelConfig, config["model"])
        check_size(model_cfg)
        from_dict(TrainConfig, config.get("training", {}))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{file} has invalid model settings ({exc})") from None
    try:
        from_dict(Summary, config.get("summary", {}))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{file} has an invalid training summary ({exc})") from None
    check_files(file, config.get("files", {}))
    config["_model"] = model_cfg
    config["_path"] = path
    return config


def check_size(cfg: ModelConfig) -> None:
    """ValueError if `cfg` declares a network beyond MAX_WIDTH, MAX_VOCAB, MAX_WINDOW or
    MAX_LAYERS."""
    for name in ("embedding_dim", "units", "projection_dim", "attention"):
        if getattr(cfg, name) > MAX_WIDTH:
            raise ValueError(f"{name} {getattr(cfg, name)} is more than {MAX_WIDTH:,}")
    if cfg.vocab_size < 2 or cfg.vocab_size > MAX_VOCAB:
        raise ValueError(f"vocab_size {cfg.vocab_size} is not between 2 and {MAX_VOCAB:,}")
    if cfg.layers > MAX_LAYERS:
        raise ValueError(f"layers {cfg.layers} is more than {MAX_LAYERS}")
    for name in ("attention_span", "reading_window", "chrono", "attention_heads"):
        if getattr(cfg, name) > MAX_WINDOW:
            raise ValueError(f"{name} {getattr(cfg, name)} is more than {MAX_WINDOW:,}")


def check_files(file: Path, files) -> None:
    """ModelError unless config.json's "files" is {name: {"bytes": n, "sha256": hex}}."""
    if not isinstance(files, dict) or not all(
            isinstance(entry, dict) and type(entry.get("bytes")) is int and entry["bytes"] >= 0
            and isinstance(entry.get("sha256"), str) for entry in files.values()):
        raise ModelError(f"{file} has an invalid \"files\" record (expected {{name: "
                         f"{{\"bytes\": size, \"sha256\": digest}}}})")


def summary(config: dict) -> Summary:
    return from_dict(Summary, config.get("summary", {}))


def read_file(path: Path, name: str, config: dict | None = None) -> bytes:
    """The bytes of `name` in the model at `path`, checked against the size and digest
    config.json records (older models record none). A mismatch raises TornRead."""
    file = Path(path) / name
    expected = (config or {}).get("files", {}).get(name)
    size = expected.get("bytes") if isinstance(expected, dict) else None
    try:
        content = untrusted.read_regular(file, untrusted.JSON_LIMITS.get(name), size)
    except FileNotFoundError:
        raise (TornRead if config and name in config.get("files", {}) else ModelError)(
            f"{file} is missing") from None
    except OSError as exc:
        raise ModelError(f"{file} cannot be read ({exc.strerror or exc})") from None
    if isinstance(expected, dict) and (len(content) != expected.get("bytes")
                                       or hashlib.sha256(content).hexdigest() != expected.get("sha256")):
        raise TornRead(f"{file} is not the file config.json describes (truncated, damaged, or "
                       f"replaced while being read)")
    return content


@contextlib.contextmanager
def open_file(path: Path, name: str, config: dict | None = None) -> Iterator[BinaryIO]:
    """`name` in the model at `path` open for reading at its start, once its size and digest
    are checked against what config.json records (read through in chunks: nothing of the
    file is held in memory). A mismatch raises TornRead; the same open file is then read,
    so a file replaced meanwhile cannot slip in."""
    file = Path(path) / name
    expected = (config or {}).get("files", {}).get(name)
    size = expected.get("bytes") if isinstance(expected, dict) else None
    try:
        f = untrusted.open_checked(file, expected_size=size)
    except FileNotFoundError:
        raise (TornRead if config and name in config.get("files", {}) else ModelError)(
            f"{file} is missing") from None
    except OSError as exc:
        raise ModelError(f"{file} cannot be read ({exc.strerror or exc})") from None
    with f:
        if isinstance(expected, dict):
            digest, read = hashlib.sha256(), 0
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                read += len(chunk)
            if read != expected.get("bytes") or digest.hexdigest() != expected.get("sha256"):
                raise TornRead(f"{file} is not the file config.json describes (truncated, damaged, "
                               f"or replaced while being read)")
            f.seek(0)
        yield f


def read_weights(path: Path, cfg: ModelConfig, config: dict | None = None) -> dict[str, np.ndarray]:
    """The arrays of weights.npz, checked against the shapes `cfg` implies, all finite."""
    file = Path(path) / WEIGHTS
    members = {name: untrusted.Member("f", shape) for name, shape in expected_shapes(cfg).items()}
    with open_file(path, WEIGHTS, config) as f:
        arrays = untrusted.read_npz(file, f, members)
    arrays = {name: array.astype(np.float32, copy=False) for name, array in arrays.items()}
    check_finite(arrays, str(file))
    return arrays


def read_tokenizer(path: Path, cfg: ModelConfig, config: dict | None = None):
    file = Path(path) / TOKENIZER
    try:
        text = read_file(path, TOKENIZER, config).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{file} is not a valid tokenizer file (not UTF-8)") from None
    tok = tokenizer_mod.load(file, text)
    if tok.get_vocab_size() != cfg.vocab_size:
        raise ModelError(f"{file} has {tok.get_vocab_size()} words, config.json says "
                         f"{cfg.vocab_size}")
    tokenizer_mod.check(tok, file)
    return tok


def read_casing(path: Path, config: dict | None = None) -> dict[str, str]:
    """casing.json's display forms ({} without one; its content is cosmetic: see casing.parse),
    read as the model's other files are (a regular file, its recorded digest)."""
    if not os.path.lexists(Path(path) / casing.FILE):
        return {}  # optional: a directory without it shows words in lower case
    content = read_file(path, casing.FILE, config)
    return casing.parse(content)


def read_lexicon(path: Path, tok, config: dict | None = None) -> lexicon.Lexicon:
    """lexicon.json's rare words (an empty Lexicon without one: it is optional, and an aid,
    see lexicon.parse), read as the model's other files are."""
    if not os.path.lexists(Path(path) / lexicon.FILE):
        return lexicon.Lexicon({})
    return lexicon.lazy(read_file(path, lexicon.FILE, config), tok.get_vocab())


def check_ngram(arrays, vocab_size: int, what: str) -> dict[str, np.ndarray]:
    """The n-gram arrays as int64/float64, or ModelError naming `what` if they are not
    the counts of an order-3 model over `vocab_size` words (NGRAM_ARRAYS)."""
    def bad(message: str):
        return ModelError(f"{what}: {message}")

    missing = [name for name in NGRAM_ARRAYS if name not in arrays]
    if missing:
        raise bad(f"has no array {missing[0]!r}")
    out: dict[str, np.ndarray] = {}
    for name in NGRAM_ARRAYS:
        a = np.asarray(arrays[name])
        floating = name == "discounts"
        if not (np.issubdtype(a.dtype, np.floating) if floating else np.issubdtype(a.dtype, np.integer)):
            raise bad(f"{name} is not a{' float' if floating else 'n integer'} array")
        out[name] = a.astype(np.float64 if floating else np.int64, copy=False)
    V = int(vocab_size)
    for name in ("order", "vocab_size", "tokens"):
        if out[name].shape != ():
            raise bad(f"{name} is not a single number")
    if int(out["order"]) != 3:
        raise bad(f"has order {int(out['order'])}; this nextword reads order 3")
    if int(out["vocab_size"]) != V:
        raise bad(f"counts {int(out['vocab_size'])} words, the model has {V}")
    d = out["discounts"]
    if d.shape != (3,) or not np.all((d >= 0) & (d <= 1)):
        raise bad("discounts are not three numbers in [0, 1]")
    for level, limit in (("tri", V ** 3), ("bi", V ** 2)):
        keys, counts = out[f"{level}_keys"], out[f"{level}_counts"]
        if keys.ndim != 1 or counts.shape != keys.shape:
            raise bad(f"{level}_keys and {level}_counts are not two lists of one length")
        if len(keys) and (keys[0] < 0 or keys[-1] >= limit or np.any(keys[1:] <= keys[:-1])):
            raise bad(f"{level}_keys are not sorted distinct keys of this vocabulary")
        if len(counts) and counts.min() < 1:
            raise bad(f"{level}_counts hold a count below 1")
    if not len(out["tri_keys"]):
        raise bad("holds no trigrams")
    uni = out["uni_counts"]
    if uni.shape != (V,) or uni.min() < 0 or uni.sum() == 0:
        raise bad(f"uni_counts is not {V} counts, some positive")
    return out


def read_ngram(path: Path, vocab_size: int, config: dict | None = None) -> dict[str, np.ndarray] | None:
    """The arrays of ngram.npz (checked against its digest and NGRAM_ARRAYS), or None for
    a model without one."""
    file = Path(path) / NGRAM
    if NGRAM not in (config or {}).get("files", {}) and not file.exists():
        return None
    if vocab_size ** 3 >= 2 ** 63:
        raise ModelError(f"{file}: a 3-gram over {vocab_size:,} words cannot be read (keys overflow)")
    members = {name: untrusted.Member("iu", None) for name in NGRAM_ARRAYS}
    members.update(order=untrusted.Member("iu", ()), vocab_size=untrusted.Member("iu", ()),
                   tokens=untrusted.Member("iu", ()), discounts=untrusted.Member("f", (3,)),
                   uni_counts=untrusted.Member("iu", (vocab_size,)))
    with open_file(path, NGRAM, config) as f:
        return check_ngram(untrusted.read_npz(file, f, members), vocab_size, str(file))


@dataclass
class Snapshot:
    """The files of one model, read so that they belong together."""

    path: Path
    config: dict
    tokenizer: object
    weights: dict[str, np.ndarray]
    ngram: dict[str, np.ndarray] | None = None  # ngram.npz's arrays, if the model has one
    casing: dict[str, str] | None = None  # casing.json's display forms ({} without one)
    lexicon: lexicon.Lexicon | None = None  # lexicon.json's rare words (empty without one)


def load(path: Path, attempts: int = 3) -> Snapshot:
    """Read config.json, tokenizer.json, weights.npz and ngram.npz (if any) of one and the
    same model: if a writer replaces the model meanwhile (the digests disagree), read again."""
    for attempt in range(attempts):
        try:
            config = read_config(path)
            where = config["_path"]
            tok = read_tokenizer(where, config["_model"], config)
            weights = read_weights(where, config["_model"], config)
            ngram = read_ngram(where, config["_model"].vocab_size, config)
            return Snapshot(where, config, tok, weights, ngram, read_casing(where, config),
                            read_lexicon(where, tok, config))
        except ModelError as exc:
            # Retry a torn read, and a model a writer was putting back meanwhile.
            moved = swap.readable_path(Path(path)) != Path(path) or not Path(path).exists()
            if attempt == attempts - 1 or not (isinstance(exc, TornRead) or moved):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
