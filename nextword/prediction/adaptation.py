"""How much the predictor adapts to the text being written, fitted at the end of training.

Learning as you go changes the LSTM component two ways at each line end: a gradient step
on its output layer (prediction/dynamic.py: step size and the pull back to the trained
weights) and a continuous cache over its hidden states (prediction/neural_cache.py:
sharpness theta and weight lambda). Their best values depend on the corpus and the
network, so training fits them on the validation text, read in order with a step at each
line end, after the mixture's weights (prediction/mixture.py), as the full predictor
would read it: the other components' probabilities and weights are the mixture fit's,
only the LSTM's column changes. The result is config.json's optional

    "adaptation": {"step": s, "decay": d, "cache_theta": t, "cache_lambda": l,
                   "fitted_on": tokens, "lines": line ends, "perplexity": {"static": ..,
                   "learning": ..}}

and a model without it (0.1.0's, or one trained before this) gets the defaults below.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from nextword.errors import ModelError
from nextword.prediction import dynamic, neural_cache
from nextword.prediction.lstm import CHUNK

# The grids `fit` tries (the steps from the smallest up, while each does better). Step 0
# and lambda 0 are in them: with too few line ends to gain from (or a text unlike
# itself), nothing adapts.
STEPS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.5, 4.0)
THETAS = (5.0, 10.0, 20.0, 40.0)
LAMBDAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
# Ranges a config.json's values must lie in (beyond them it was not written by training).
RANGES = {"step": (0.0, 100.0), "decay": (0.0, 1.0), "cache_theta": (0.0, 1000.0),
          "cache_lambda": (0.0, 1.0)}


@dataclass(frozen=True)
class Settings:
    step: float = dynamic.STEP
    decay: float = dynamic.DECAY
    theta: float = neural_cache.THETA
    lam: float = neural_cache.LAMBDA

    def as_config(self) -> dict[str, float]:
        return {"step": self.step, "decay": self.decay, "cache_theta": self.theta,
                "cache_lambda": self.lam}


def from_config(config: dict) -> Settings:
    """config.json's "adaptation" as Settings (the defaults where it has none); ModelError
    if it is there but not what training writes."""
    saved = config.get("adaptation")
    if saved is None:
        return Settings()
    values = {}
    for key, (low, high) in RANGES.items():
        v = saved.get(key) if isinstance(saved, dict) else None
        # (The range first: it refuses NaN, and an integer of 400 digits, which is no float.)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high):
            raise ModelError(f"{config.get('_path', 'the model')}/config.json has an invalid "
                             f"\"adaptation\": {key} should be a number from {low:g} to {high:g}")
        values[key] = float(v)
    return Settings(values["step"], values["decay"], values["cache_theta"], values["cache_lambda"])


class Reading:
    """The LSTM component's top-layer vectors over a token sequence, read once for both
    fits at the end of training (the network's pass is most of what reading costs): the
    mixture's fit asks it for the LSTM's column (`target_probs`, as mixture.target_probs
    asks a component), the adaptation's fit takes its `hidden` rows."""

    def __init__(self, lstm, ids):
        self.lstm = lstm
        self.ids = np.asarray(ids, dtype=np.int64)
        rows = [r for _, r in dynamic.hidden_rows(lstm, self.ids[:-1])]
        width = dynamic.engines_of(lstm)[0].cfg.units
        self.hidden = np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)

    def target_probs(self, ids) -> np.ndarray:
        """The LSTM's probability of each ids[t + 1] after ids[:t + 1]; `ids`: the ones read,
        or the start of them."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > len(self.ids) or not np.array_equal(ids, self.ids[:len(ids)]):
            raise ValueError("these are not the tokens the network read")
        return stepped_probs(own_adapter(self.lstm, 0.0, 0.0), self.hidden[:len(ids) - 1], ids[1:], [])


def fit(lstm, ids, eol_id: int, columns, decay: float = dynamic.DECAY,
        deadline: float | None = None, hidden: np.ndarray | None = None) -> dict | None:
    """config["adaptation"] fitted on `ids` (the validation tokens the mixture was fitted
    on) for the LSTM component `lstm`; `columns`: the mixture fit's mixture.Columns;
    `hidden`: the network's top-layer vectors after ids[:-1] if read already (a Reading's),
    else it reads them. The steps are tried from the smallest up, until one does no better
    than the one before (or time.monotonic() passes `deadline`): each costs a pass of the
    output layer. None if the deadline has passed before it starts; ValueError if `ids`
    hold no line end to learn at (nothing to measure: the predictor keeps the defaults,
    rather than settings that would turn learning off)."""
    if deadline is not None and time.monotonic() > deadline:
        return None  # the budget is spent: the predictor keeps the defaults
    hidden, features, targets, ends = read(lstm, ids, eol_id, hidden)
    if not ends:
        raise ValueError("the validation text has no line end to learn at")
    known = columns.known
    caches = cache_probs(features, targets, ends, known, THETAS)

    def best_cache(lstm_probs: np.ndarray) -> tuple[float, float, float]:
        """(loss, theta, lambda) of the best cache setting over `lstm_probs` (known rows)."""
        out = None
        for theta, (cache, filled) in caches.items():
            for lam in LAMBDAS:
                loss = mixed_loss(columns, lstm_probs, cache, filled, lam)
                if out is None or loss < out[0] - 1e-9:
                    out = (loss, theta, lam)
        assert out is not None
        return out

    static = nll(columns.mixed())
    best = (*best_cache(columns.probs[:, 0]), 0.0)  # (loss, theta, lambda, step)
    for step in STEPS[1:]:
        if deadline is not None and time.monotonic() > deadline:
            break
        probs = stepped_probs(own_adapter(lstm, step, decay), hidden, targets, ends)[known]
        trial = (*best_cache(probs), step)
        if trial[0] >= best[0] - 1e-9:
            break
        best = trial
    loss, theta, lam, step = best
    if lam == 0:
        theta = neural_cache.THETA  # any: the cache has no weight
    return {**Settings(step, decay, theta, lam).as_config(),
            "fitted_on": int(known.sum()), "lines": len(ends),
            "perplexity": {"static": round(math.exp(static), 3), "learning": round(math.exp(loss), 3)}}


def read(lstm, ids, eol_id: int, hidden: np.ndarray | None = None):
    """(the top-layer vectors, what the output layer reads of them, the targets, the
    positions of the line ends) of the token sequence `ids` as the LSTM component reads it
    (`hidden`: its top-layer vectors, if read already)."""
    ids = np.asarray(ids, dtype=np.int64)
    if hidden is None:
        hidden = Reading(lstm, ids).hidden
    elif len(hidden) != len(ids) - 1:
        raise ValueError(f"{len(hidden)} top-layer vectors for {len(ids) - 1} targets")
    features = own_adapter(lstm, 0.0, 0.0).features(hidden).astype(np.float32)
    targets = ids[1:]
    return hidden, features, targets, [t for t in range(1, len(targets)) if ids[t] == eol_id]


def learning_perplexity(lstm, ids, eol_id: int, columns, settings: Settings) -> float:
    """The mixture's perplexity on `columns`' known targets learning as it goes with
    `settings`, as `fit` scores each setting it tries."""
    hidden, features, targets, ends = read(lstm, ids, eol_id)
    probs = stepped_probs(own_adapter(lstm, settings.step, settings.decay), hidden, targets, ends)
    probs = probs[columns.known]
    cache, filled = cache_probs(features, targets, ends, columns.known, [settings.theta])[settings.theta]
    return math.exp(mixed_loss(columns, probs, cache, filled, settings.lam))


def mixed_loss(columns, lstm_probs: np.ndarray, cache: np.ndarray, filled: np.ndarray,
               lam: float) -> float:
    """The mixture's mean negative log-likelihood on `columns`' known targets with
    `lstm_probs` as the LSTM's column and the continuous cache's `cache` mixed into it at
    `lam` where it held anything (`filled`)."""
    return nll(columns.mixed(np.where(filled, (1 - lam) * lstm_probs + lam * cache, lstm_probs)))


def nll(probs: np.ndarray) -> float:
    """Mean negative log of `probs`."""
    return -float(np.mean(np.log(np.maximum(probs, 1e-300))))


def own_adapter(lstm, step: float, decay: float) -> dynamic.OutputAdapter:
    """An OutputAdapter over a fork of `lstm`'s first engine: its steps change nothing
    that `lstm` (whose engines a windowed reading shares) reads."""
    return dynamic.OutputAdapter(dynamic.engines_of(lstm)[0].fork(), step, decay)


def stepped_probs(adapter: dynamic.OutputAdapter, hidden: np.ndarray, targets: np.ndarray,
                  ends: list[int]) -> np.ndarray:
    """The LSTM's probability of each target (after the top-layer vectors `hidden`) with a
    step of `adapter` at each line end, as frontends/learning.py reads a text: the line
    whose end is ids[t] is learned before ids[t + 1] is predicted."""
    out = np.empty(len(targets))
    blank = blank_line_ends(ends)
    start = 0
    for stop in [*ends, len(targets)]:
        for at in range(start, stop, CHUNK):  # (a long line: CHUNK rows of logits at a time)
            z = adapter.logits(hidden[at:min(stop, at + CHUNK)]).astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            out[at:at + len(z)] = z[np.arange(len(z)), targets[at:at + len(z)]] / z.sum(axis=1)
        if adapter.step_size > 0 and stop < len(targets) and start not in blank:
            adapter.step(hidden[start:stop], targets[start:stop])
        start = stop
    return out


def blank_line_ends(ends: list[int]) -> set[int]:
    """The line ends (positions of `ends`) right before another: each starts a blank line,
    which a predictor does not learn (frontends/learning.py's blank_line): no step after
    it, and its one position is not in the continuous cache."""
    line_ends = set(ends)
    return {t for t in ends if t + 1 in line_ends}


def cache_probs(features: np.ndarray, targets: np.ndarray, ends: list[int], known: np.ndarray,
                thetas) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """{theta: (the continuous cache's probability of each known target, whether the cache
    held anything then)}, the cache holding the lines finished before it (their last
    neural_cache.SIZE positions, unknown targets too), as neural_cache.NeuralCache reads
    them (a blank line's position is no line learned); `features`: every row's (the keys)."""
    rows = np.flatnonzero(known)
    keys = neural_cache.unit(features)
    out = {theta: (np.zeros(len(rows)), np.zeros(len(rows), dtype=bool)) for theta in thetas}
    learned = np.ones(len(targets), dtype=bool)  # the positions a cache may hold
    learned[sorted(blank_line_ends(ends))] = False
    learned = np.flatnonzero(learned)
    start = 0
    for stop in [*ends, len(targets)]:
        before = int(np.searchsorted(learned, start))
        held = learned[max(0, before - neural_cache.SIZE):before]
        mine = (rows >= start) & (rows < stop)
        if len(held) and mine.any():
            at = rows[mine]
            cos = (keys[at] @ keys[held].T).astype(np.float64)
            hits = targets[held][None, :] == targets[at][:, None]
            for theta, (probs, filled) in out.items():
                scores = theta * cos
                scores -= scores.max(axis=1, keepdims=True)
                weights = np.exp(scores)
                weights /= weights.sum(axis=1, keepdims=True)
                probs[mine] = (weights * hits).sum(axis=1)
                filled[mine] = True
        start = stop
    return out
