"""Sampling the next token (temperature, top-k, top-p) and turning tokens back into text."""

from __future__ import annotations

import math

import numpy as np

_NO_SPACE_BEFORE = set(".,;:!?)]}%”’…")
_NO_SPACE_AFTER = set("([{$“‘")


def sample(probs: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, banned: list[int] | tuple = ()) -> int:
    """Draw a token id. temperature 0 = the most likely token; top_k 0 = no cut."""
    p = np.array(probs, dtype=np.float64)
    p[np.asarray(banned, dtype=np.int64)] = 0.0
    if not p.any():  # every allowed token underflowed to zero: choose among them evenly
        p[:] = 1.0
        p[np.asarray(banned, dtype=np.int64)] = 0.0
    if temperature <= 0:
        return int(np.argmax(p))
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, not {temperature}")
    if temperature != 1.0:
        # Shift before dividing: the likeliest token's 0 stays 0 however small the
        # temperature (1e-320 would turn every log-probability into -inf, then NaN).
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            logp = np.log(p)
            p = np.exp((logp - logp.max()) / temperature)
    if 0 < top_k < len(p):
        cut = np.partition(p, -top_k)[-top_k]
        p[p < cut] = 0.0
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order]) / p.sum()
        keep = order[: int(np.searchsorted(cumulative, top_p) + 1)]
        mask = np.zeros_like(p, dtype=bool)
        mask[keep] = True
        p[~mask] = 0.0
    return int(rng.choice(len(p), p=p / p.sum()))


def detokenize(tokens: list[str], capitalize_start: bool = True) -> str:
    """Join tokens with spaces, except around punctuation and line ends; capitalise the
    start of sentences."""
    out: list[str] = []
    sentence_start = capitalize_start
    for tok in tokens:
        if tok == "\n":
            out.append("\n")
            sentence_start = True
            continue
        word = tok[:1].upper() + tok[1:] if sentence_start and tok[:1].isalpha() else tok
        if out and out[-1] != "\n" and tok not in _NO_SPACE_BEFORE and out[-1][-1:] not in _NO_SPACE_AFTER:
            out.append(" ")
        out.append(word)
        if tok in (".", "!", "?"):
            sentence_start = True
        elif tok[:1].isalnum():
            sentence_start = False
    return "".join(out)
