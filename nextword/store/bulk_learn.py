"""Learning megabytes into the personal store: `nextword learn`'s path (the REPL's one line
at a time is `UserStore.learn`).

A batch of text (a few MB) is counted with NumPy outside any transaction: its tokens
become batch-local word numbers, and the (a, b, w) sequences of each run are counted by
sorting. Then one transaction writes the aggregated rows set-based: they reach SQLite as
one JSON array of packed integers (binding ~10^6 rows one by one through `executemany`
costs more than SQLite's own work), and `contexts` gets one aggregated upsert instead of a
trigger call per row of `totals` (the triggers are dropped and re-created inside the
transaction, so no other connection ever sees the schema without them; indexes stay).
The tables end exactly as if the text had been learned line by line (a test checks it).
"""

from __future__ import annotations

import datetime
import json
import re
import sqlite3

import numpy as np

from nextword.store.grams import normalize
from nextword.store.schema import SCHEMA, statements, word_ids
from nextword.text.rules import TOKEN_SPLIT, at_sentence_start

BATCH_CHARS = 2 << 20  # text per transaction: a concurrent writer waits ~1 s at most
_IS_WORD = re.compile(r"\w")
_PACKED = 63  # bits of a row packed into one JSON integer (SQLite's are signed 64-bit)
_TRIGGERS = [s for s in statements(SCHEMA) if "TRIGGER totals_insert" in s or "TRIGGER totals_update" in s]


class Batch:
    """A text's words and sequences, counted: `forms` (first appearance order; batch-local
    number i + 1 is forms[i]), rows `a, b, w, n` of local numbers (0 = none), `shown` as in
    `count_grams`, and `words`."""

    def __init__(self, text: str):
        parts = TOKEN_SPLIT.split(text)
        tokens = parts[1::2]
        local: dict[str, int] = {}    # form -> batch-local number
        number: dict[str, int] = {}   # token as written -> local number (0: not a word)
        changed: dict[str, bool] = {}  # token as written -> a word that differs from its form
        for token in dict.fromkeys(tokens):
            if token != "<unk>" and _IS_WORD.match(token):
                form = normalize(token)
                number[token] = local.setdefault(form, len(local) + 1)
                changed[token] = token != form
            else:
                number[token], changed[token] = 0, False
        self.forms = list(local)
        ids = np.fromiter(map(number.__getitem__, tokens), np.int64, len(tokens))
        self.words = int(np.count_nonzero(ids))
        self.shown = self._shown(text, parts, tokens, ids, changed)
        self.a, self.b, self.w, self.n = _count(ids, len(local))

    def _shown(self, text, parts, tokens, ids, changed) -> dict[str, str | None]:
        """{form: as last written away from a sentence start, None if as its form}."""
        written = ids > 0
        if any(changed.values()):
            ends = np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts)))
            starts = ends[0:-1:2]  # where each token starts
            flag = np.fromiter(map(changed.__getitem__, tokens), bool, len(tokens))
            for i in np.flatnonzero(flag).tolist():
                if at_sentence_start(text, int(starts[i])):
                    written[i] = False  # capitalised at a sentence start: says nothing
        where = np.flatnonzero(written)[::-1]  # last first
        _, first = np.unique(ids[where], return_index=True)
        shown = {}
        for i in np.sort(where[first]).tolist():
            raw = tokens[i]
            form = self.forms[ids[i] - 1]
            shown[form] = None if raw == form else raw
        return shown


def _count(ids: np.ndarray, size: int):
    """Distinct (a, b, w) of the runs in `ids` (0 ends a run) with their counts: words
    alone (0, 0, w), pairs (0, b, w), triples (a, b, w)."""
    word = ids > 0
    pair = word[:-1] & word[1:]
    triple = pair[:-1] & word[2:]
    zeros = np.zeros(int(word.sum()) + int(pair.sum()), np.int64)
    a = np.concatenate([zeros, ids[:-2][triple]])
    b = np.concatenate([zeros[:int(word.sum())], ids[:-1][pair], ids[1:-1][triple]])
    w = np.concatenate([ids[word], ids[1:][pair], ids[2:][triple]])
    return _unique(a, b, w, size)


def _unique(a, b, w, size: int):
    """Distinct (a, b, w) rows in (a, b, w) order and how often each came."""
    bits = max(1, int(size).bit_length())
    if 3 * bits <= 63:
        keys, n = np.unique((a << (2 * bits)) | (b << bits) | w, return_counts=True)
        mask = (1 << bits) - 1
        return keys >> (2 * bits), (keys >> bits) & mask, keys & mask, n
    rows, n = np.unique(np.stack([a, b, w], axis=1), axis=0, return_counts=True)
    return rows[:, 0], rows[:, 1], rows[:, 2], n


def write(conn: sqlite3.Connection, batch: Batch, when: float) -> None:
    """Add `batch` to the store in the open write transaction `conn`."""
    day = datetime.date.fromtimestamp(when).toordinal()
    ids = word_ids(conn, batch.forms)
    conn.executemany("UPDATE words SET shown = ? WHERE id = ? AND shown IS NOT ?",
                     ((s, ids[f], s) for f, s in batch.shown.items()))
    store_id = np.array([0] + [ids[f] for f in batch.forms], np.int64)
    a, b, w = store_id[batch.a], store_id[batch.b], store_id[batch.w]
    order = np.lexsort((w, b, a))  # in key order: each row lands next to the previous one
    a, b, w, n = a[order], b[order], w[order], batch.n[order]
    conn.execute("PRAGMA temp_store = MEMORY")  # the batch table: never on disk
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS learn_batch (a INTEGER NOT NULL, b INTEGER NOT NULL, "
                 "w INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (a, b, w)) WITHOUT ROWID")
    _load(conn, a, b, w, n)
    for trigger in _TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger.split()[2]}")
    # What the triggers would have done, per context: before totals changes, so that the
    # sequences it does not hold yet are the new types.
    conn.execute("INSERT INTO contexts (a, b, count, types) SELECT a, b, SUM(n), SUM(NOT EXISTS "
                 "(SELECT 1 FROM totals t WHERE t.a = l.a AND t.b = l.b AND t.w = l.w)) "
                 "FROM learn_batch l GROUP BY a, b ON CONFLICT (a, b) DO UPDATE SET "
                 "count = count + excluded.count, types = types + excluded.types")
    conn.execute("INSERT INTO grams (day, a, b, w, count, last_seen) SELECT ?, a, b, w, n, ? "
                 "FROM learn_batch WHERE true ON CONFLICT (day, a, b, w) DO UPDATE SET "
                 "count = count + excluded.count, last_seen = excluded.last_seen", (day, int(when)))
    conn.execute("INSERT INTO totals (a, b, w, count) SELECT a, b, w, n FROM learn_batch WHERE true "
                 "ON CONFLICT (a, b, w) DO UPDATE SET count = count + excluded.count")
    for trigger in _TRIGGERS:
        conn.execute(trigger)
    conn.execute("DELETE FROM learn_batch")


def _load(conn: sqlite3.Connection, a, b, w, n) -> None:
    """Put the rows into learn_batch. Most go as one JSON array of integers, each packing
    a row (ids in `bits` bits each, the count in what is left of _PACKED); those that do
    not fit (a count too big for what is left) go through `executemany`."""
    bits = max(1, int(max(a.max(), b.max(), w.max())).bit_length())
    rest = _PACKED - 3 * bits  # bits left for the count
    fits = n < (1 << max(0, rest))
    if fits.any():
        rows = (((a[fits] << bits | b[fits]) << bits | w[fits]) << rest) | n[fits]
        mask = (1 << bits) - 1
        conn.execute(f"INSERT INTO learn_batch SELECT value >> {rest + 2 * bits}, "
                     f"(value >> {rest + bits}) & {mask}, (value >> {rest}) & {mask}, "
                     f"value & {(1 << rest) - 1} FROM json_each(?)",
                     (json.dumps(rows.tolist(), separators=(",", ":")),))
    if not fits.all():
        others = [x[~fits].tolist() for x in (a, b, w, n)]
        conn.executemany("INSERT INTO learn_batch VALUES (?, ?, ?, ?)", zip(*others, strict=True))
