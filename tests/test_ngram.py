"""The Kneser-Ney builder and reader, and ngram.npz in the model directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nextword.cli.main import cli
from nextword.errors import ModelError, TornRead
from nextword.modeldir import directory, swap
from nextword.prediction import ngram_counts
from nextword.prediction.ngram import KneserNey
from nextword.prediction.ngram_counts import build, kneser_ney

from .conftest import old_model, refresh_digests


class InMemoryKneserNey:
    """The in-memory trigram nextword used before ngram.npz (kept verbatim as the reference
    the builder and reader must reproduce)."""

    def __init__(self, V, chunks):
        self.V = V
        keys, counts, tail = [], [], np.zeros(0, dtype=np.int64)
        for chunk in chunks:
            ids = np.concatenate([tail, np.asarray(chunk, dtype=np.int64)])
            if len(ids) >= 3:
                u, c = np.unique((ids[:-2] * V + ids[1:-1]) * V + ids[2:], return_counts=True)
                keys.append(u)
                counts.append(c)
            tail = ids[-2:]
        tri_keys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        tri_counts = np.bincount(inverse, weights=np.concatenate(counts)).astype(np.int64)
        self.d3 = _discount(tri_counts)
        self.tri_ctx, self.tri_w, self.tri_c = tri_keys // V, tri_keys % V, tri_counts
        self.ctx3, self.ctx3_start, self.ctx3_types = np.unique(self.tri_ctx, return_index=True,
                                                                return_counts=True)
        self.ctx3_total = np.add.reduceat(tri_counts, self.ctx3_start)
        vw, n_vw = np.unique(tri_keys % (V * V), return_counts=True)
        self.d2 = _discount(n_vw)
        self.bi_w, self.bi_n = vw % V, n_vw
        self.ctx2, self.ctx2_start, self.ctx2_types = np.unique(vw // V, return_index=True,
                                                                return_counts=True)
        self.ctx2_total = np.add.reduceat(n_vw, self.ctx2_start)
        cont = np.bincount(self.bi_w, minlength=V).astype(np.float64)
        self.d1 = _discount(cont[cont > 0].astype(np.int64))
        total = cont.sum()
        self.p1 = np.maximum(cont - self.d1, 0) / total + self.d1 * np.sum(cont > 0) / total / V

    def distribution(self, ids):
        p = self.p1.copy()
        if not len(ids):
            return p
        v = int(ids[-1])
        i = np.searchsorted(self.ctx2, v)
        if i < len(self.ctx2) and self.ctx2[i] == v:
            lo, n, total = self.ctx2_start[i], self.ctx2_types[i], self.ctx2_total[i]
            p *= self.d2 * n / total
            p[self.bi_w[lo:lo + n]] += np.maximum(self.bi_n[lo:lo + n] - self.d2, 0) / total
        if len(ids) < 2:
            return p
        key = int(ids[-2]) * self.V + v
        i = np.searchsorted(self.ctx3, key)
        if i < len(self.ctx3) and self.ctx3[i] == key:
            lo, n, total = self.ctx3_start[i], self.ctx3_types[i], self.ctx3_total[i]
            p *= self.d3 * n / total
            p[self.tri_w[lo:lo + n]] += np.maximum(self.tri_c[lo:lo + n] - self.d3, 0) / total
        return p


def _discount(counts):
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    return float(n1 / (n1 + 2 * n2)) if n1 + n2 else 0.5


def zipf_text(V: int, n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).zipf(1.5, n) % V


def contexts(text):
    return [[], [int(text[0])], [int(text[5]), int(text[6])], [int(text[-2]), int(text[-1])],
            [1, 2], [int(text[40])], [3, int(text[41])]]


def test_the_builder_and_reader_give_the_in_memory_model_exactly():
    V = 300
    text = zipf_text(V, 20_000)
    reference = InMemoryKneserNey(V, np.array_split(text, 7))
    kn = KneserNey(build(V, np.array_split(text, 13)))  # other chunk edges: the same counts
    for ctx in contexts(text):
        p = kn.distribution(ctx)
        assert np.allclose(p, reference.distribution(ctx), rtol=1e-12, atol=0)
        assert p.shape == (V,) and np.all(p > 0) and p.sum() == pytest.approx(1.0, abs=1e-9)


def test_target_probs_are_the_distributions_at_the_targets():
    V = 120
    text = zipf_text(V, 5000, seed=2)
    kn = kneser_ney(V, [text])
    ids = np.r_[zipf_text(V, 300, seed=3), V - 1, V - 2, 7]  # also contexts never seen
    want = [kn.distribution(ids[max(0, t - 1):t + 1])[ids[t + 1]] for t in range(len(ids) - 1)]
    assert np.allclose(kn.target_probs(ids), want, rtol=1e-12, atol=0)


def test_a_deterministic_sequence_is_learnt():
    kn = kneser_ney(10, [np.tile(np.arange(10), 200)])
    assert int(np.argmax(kn.distribution([3, 4]))) == 5 and kn.distribution([3, 4])[5] > 0.9


def test_the_memory_cap_prunes_the_rarest_and_still_sums_to_one(monkeypatch):
    V, cap = 400, 3000
    text = zipf_text(V, 60_000, seed=4)
    sizes = []
    add = ngram_counts._Table.add

    def recording_add(table, keys, counts):
        new = add(table, keys, counts)
        sizes.append(len(table.keys))
        return new

    monkeypatch.setattr(ngram_counts, "MERGE_EVERY", 500)
    monkeypatch.setattr(ngram_counts._Table, "add", recording_add)
    exact = build(V, np.array_split(text, 60))
    sizes.clear()
    pruned = build(V, np.array_split(text, 60), max_entries=cap)
    assert len(exact["tri_keys"]) > 4 * cap  # the cap had work to do ...
    assert max(sizes) <= cap and len(pruned["tri_keys"]) <= cap and len(pruned["bi_keys"]) <= cap
    # ... and dropped the rare: the 100 commonest trigrams are all kept.
    common = exact["tri_keys"][np.argsort(-exact["tri_counts"], kind="stable")[:100]]
    assert np.isin(common, pruned["tri_keys"]).all()
    # Discounts come from the counts before pruning, not from a table of survivors.
    assert 0.3 < pruned["discounts"][2] < 1
    kn = KneserNey(pruned)
    for ctx in contexts(text):
        p = kn.distribution(ctx)
        assert np.all(p > 0) and p.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(kn.target_probs(text[:200]),
                       [kn.distribution(text[max(0, t - 1):t + 1])[text[t + 1]] for t in range(199)])


def test_too_little_text_or_bad_ids_are_refused():
    with pytest.raises(ValueError, match="fewer than 3 tokens"):
        build(10, [np.array([1, 2])])
    with pytest.raises(ValueError, match="token ids"):
        build(10, [np.array([1, 2, 10])])


def rewrite_with_ngram(model: Path, arrays) -> None:
    """Write the model at `model` again, as the trainer will, with ngram.npz beside it."""
    snap = directory.load(model)
    config = json.loads((model / "config.json").read_text())
    directory.write(model, config, snap.tokenizer, snap.weights,
                   extra=lambda tmp: ngram_counts.save(arrays, tmp))


def test_ngram_npz_round_trips_through_the_model_directory(numpy_model_copy, numpy_model_dir):
    tok = directory.load(numpy_model_dir).tokenizer
    V = tok.get_vocab_size()
    text = zipf_text(V, 3000, seed=5)
    arrays = build(V, [text])
    rewrite_with_ngram(numpy_model_copy, arrays)
    config = json.loads((numpy_model_copy / "config.json").read_text())
    assert "ngram.npz" in config["files"] and swap.is_model_dir(numpy_model_copy)
    loaded = directory.load(numpy_model_copy).ngram
    assert set(loaded) == set(arrays)
    for name in arrays:
        assert np.array_equal(loaded[name], arrays[name])
    reference = InMemoryKneserNey(V, [text])
    for ctx in contexts(text):
        want = reference.distribution(ctx)
        assert np.allclose(KneserNey(loaded).distribution(ctx), want, rtol=1e-12, atol=0)
    assert directory.load(old_model(numpy_model_copy)).ngram is None  # a model without one


def test_a_damaged_ngram_npz_is_an_error_line(numpy_model_copy, numpy_model_dir):
    V = directory.load(numpy_model_dir).tokenizer.get_vocab_size()
    arrays = build(V, [zipf_text(V, 2000, seed=6)])
    rewrite_with_ngram(numpy_model_copy, arrays)
    file = numpy_model_copy / "ngram.npz"
    good = file.read_bytes()

    def predict_error() -> str:
        result = CliRunner().invoke(cli, ["predict", "-m", str(numpy_model_copy), "the "])
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("Error: ") and "ngram.npz" in result.stderr
        return result.stderr

    file.write_bytes(good[:-100])  # torn: not the file config.json describes
    assert "not the file config.json describes" in predict_error()
    with pytest.raises(TornRead):
        directory.load(numpy_model_copy, attempts=1)

    file.write_bytes(b"not a zip file")  # garbage, with its digest recorded
    refresh_digests(numpy_model_copy)
    assert "is corrupt" in predict_error()

    unsorted = dict(arrays, tri_keys=arrays["tri_keys"][::-1].copy())
    np.savez(file, **unsorted)
    refresh_digests(numpy_model_copy)
    assert "tri_keys are not sorted distinct keys" in predict_error()

    np.savez(file, **dict(arrays, vocab_size=np.array(V + 1)))
    refresh_digests(numpy_model_copy)
    assert f"counts {V + 1} words, the model has {V}" in predict_error()

    file.unlink()  # listed in config.json, gone from the directory
    assert "ngram.npz is missing" in predict_error()


def test_pickled_or_missing_arrays_are_refused(tmp_path):
    objects = {name: np.array([object()]) for name in directory.NGRAM_ARRAYS}
    with pytest.raises(ModelError, match="is not an integer array"):
        directory.check_ngram(objects, 10, "x")
    with pytest.raises(ModelError, match="has no array 'order'"):
        directory.check_ngram({}, 10, "x")
    np.savez(tmp_path / "ngram.npz", a=np.array([object()], dtype=object))
    with pytest.raises(ModelError, match="has no array 'order'"):  # (a member not needed is not read)
        directory.read_ngram(tmp_path, 10)
    np.savez(tmp_path / "ngram.npz", order=np.array([object()], dtype=object))
    with pytest.raises(ModelError, match="order is not an integer array"):  # (its header says so)
        directory.read_ngram(tmp_path, 10)
