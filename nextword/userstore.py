"""The personal store: what the user wrote, counted by written form in one SQLite database.

Schema version 1 (`PRAGMA user_version`; `PRAGMA application_id` marks the file as nextword's):

    words(id, form, shown)          a word as the tokenizer spells it (NFKC, lower case), and as
                                    the user last wrote it away from a sentence start (NULL: as form)
    grams(day, a, b, w, count, last_seen)
                                    word w after the words a, b (ids; 0 = none: a = b = 0 is
                                    the word alone, a = 0 a pair), counted per local day
                                    (date.toordinal) so that `forget --since` can take days back;
                                    last_seen in Unix seconds
    totals(a, b, w, count)          grams summed over the days: what predictions read
    contexts(a, b, count, types)    per context: words after it and how many distinct ones,
                                    kept by triggers on totals (bulk_learn: by one
                                    aggregated upsert per transaction)

Words are read in runs (store_text.py): punctuation and line ends end a run, so a sequence never spans a
comma. Everything is written in short transactions (one line, or ~2 MB of a file: see
bulk_learn, which `learn_all` imports when called), in WAL mode with a busy timeout, so
that a REPL, a pipe predictor and `nextword learn` can share the store, and a killed
writer loses at most its transaction. Nothing here imports NumPy.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import NextwordError
from .store_text import count_grams, normalize

SCHEMA_VERSION = 1
APPLICATION_ID = 0x6E787764  # "nxwd"
BUSY_MS = 10_000  # how long a writer waits for another's transaction before giving up
# How often `version` asks SQLite whether another process wrote (PRAGMA data_version costs
# ~0.1 ms, which every keystroke would pay); this process's own writes count at once.
CHECK_SECONDS = 0.05

SCHEMA = """
CREATE TABLE words (id INTEGER PRIMARY KEY AUTOINCREMENT, form TEXT NOT NULL UNIQUE, shown TEXT);
CREATE TABLE grams (day INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, w INTEGER NOT NULL,
                    count INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                    PRIMARY KEY (day, a, b, w)) WITHOUT ROWID;
CREATE TABLE totals (a INTEGER NOT NULL, b INTEGER NOT NULL, w INTEGER NOT NULL, count INTEGER NOT NULL,
                     PRIMARY KEY (a, b, w)) WITHOUT ROWID;
CREATE INDEX totals_by_count ON totals (a, b, count DESC);
CREATE TABLE contexts (a INTEGER NOT NULL, b INTEGER NOT NULL, count INTEGER NOT NULL,
                       types INTEGER NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TRIGGER totals_insert AFTER INSERT ON totals BEGIN
  INSERT INTO contexts (a, b, count, types) VALUES (new.a, new.b, new.count, 1)
    ON CONFLICT (a, b) DO UPDATE SET count = count + new.count, types = types + 1;
END;
CREATE TRIGGER totals_update AFTER UPDATE OF count ON totals BEGIN
  UPDATE contexts SET count = count + new.count - old.count WHERE a = new.a AND b = new.b;
END;
CREATE TRIGGER totals_delete AFTER DELETE ON totals BEGIN
  UPDATE contexts SET count = count - old.count, types = types - 1 WHERE a = old.a AND b = old.b;
  DELETE FROM contexts WHERE a = old.a AND b = old.b AND types <= 0;
END;
"""
_TABLES = {"words", "grams", "totals", "contexts"}


class StoreError(NextwordError):
    """The personal store is damaged, of a newer schema, or another program's database."""


class StoreUnavailable(StoreError):
    """The personal store cannot be opened or created here (no such directory, read-only
    disk, permissions). Predicting goes on without it; learning cannot."""


@dataclass
class Summary:
    path: Path
    bytes: int
    words: int           # words learned (with repeats)
    distinct: int        # distinct words
    pairs: int           # distinct two-word sequences
    triples: int         # distinct three-word sequences
    first_day: int | None
    last_seen: float | None


class UserStore:
    """One store file. Opened lazily: nothing is read or created until a method needs it.
    Safe to share between threads (one connection under a lock)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._writes = 0  # commits made here (PRAGMA data_version counts the others')
        self._others = (-1.0, None)  # (when asked, PRAGMA data_version)

    # -- opening ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._conn is not None or self.path.exists()

    def _describe(self, exc: Exception) -> str:
        return (f"the personal store {self.path} cannot be used ({exc}): move it away "
                f"(e.g. mv {self.path} {self.path}.old) to start a new one, or choose another "
                f"with --user-db PATH or $NEXTWORD_USER_DB")

    def connection(self, create: bool = False) -> sqlite3.Connection | None:
        """The open connection; None if the store does not exist and `create` is False.
        Raises StoreError for a damaged, newer or foreign file, StoreUnavailable when it
        cannot be opened or created here."""
        with self._lock:
            if self._conn is None:
                if not create and not self.path.exists():
                    return None
                self._conn = self._open(create)
            return self._conn

    def _open(self, create: bool) -> sqlite3.Connection | None:
        made = False
        try:
            if create and not self.path.exists():
                if not self.path.parent.exists():
                    self.path.parent.mkdir(parents=True, mode=0o700)
                with contextlib.suppress(FileExistsError):  # private from the start
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                    made = True
            conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=BUSY_MS / 1000)
        except (OSError, sqlite3.OperationalError) as exc:
            raise StoreUnavailable(f"cannot open the personal store {self.path} ({_reason(exc)})") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            if not self._check(conn, create or made):
                conn.close()
                return None
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crashed process loses nothing committed
            conn.execute("PRAGMA cache_size = -32768")  # 32 MB at most: learning touches pages all over
        except StoreError:
            conn.close()
            raise
        except sqlite3.OperationalError as exc:
            conn.close()
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise StoreUnavailable(f"cannot open the personal store {self.path} ({exc})") from None
            raise StoreError(self._describe(exc)) from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(self._describe(exc)) from None
        return conn

    def _check(self, conn: sqlite3.Connection, may_create: bool) -> bool:
        """Refuse what is not a nextword store of a known version; create the schema in an
        empty database (one just made, or an empty file) when allowed. False: an empty
        database left as it is (nothing learned yet)."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app == APPLICATION_ID and version > SCHEMA_VERSION:
            raise StoreError(f"the personal store {self.path} has schema version {version}, newer than "
                             f"this nextword knows ({SCHEMA_VERSION}): upgrade nextword, or choose "
                             f"another store with --user-db PATH or $NEXTWORD_USER_DB")
        if app == APPLICATION_ID and version == SCHEMA_VERSION and _TABLES <= tables:
            return True
        if app == 0 and version == 0 and not tables - {"sqlite_sequence"}:
            if not may_create:
                return False
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:  # not created meanwhile
                    for statement in statements(SCHEMA):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return True
        raise StoreError(f"{self.path} is not a nextword personal store (an SQLite database of "
                         f"another kind): choose another path with --user-db PATH or $NEXTWORD_USER_DB")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._writes += 1  # another connection numbers data_version anew
                self._others = (-1.0, None)

    def version(self) -> tuple:
        """Changes whenever what the store holds may have changed: at once for this
        process's writes, within CHECK_SECONDS for another's."""
        with self._lock:
            now = time.monotonic()
            if now - self._others[0] >= CHECK_SECONDS:
                if self._conn is None and self.path.exists():
                    self.connection()
                try:
                    seen = self._conn.execute("PRAGMA data_version").fetchone()[0] if self._conn else None
                except sqlite3.DatabaseError as exc:
                    raise StoreError(self._describe(exc)) from None
                self._others = (now, seen)
            return (self._others[1], self._writes)

    @contextlib.contextmanager
    def _reading(self):
        with self._lock:
            try:
                yield self.connection()
            except sqlite3.DatabaseError as exc:
                raise StoreError(self._describe(exc)) from None

    @contextlib.contextmanager
    def _transaction(self):
        """A write transaction (BEGIN IMMEDIATE: waits for other writers, never deadlocks)."""
        with self._lock:
            conn = self.connection(create=True)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreError(f"the personal store {self.path} stayed locked by another "
                                     f"process for {BUSY_MS // 1000} s: try again") from None
                if "readonly" in str(exc) or "disk" in str(exc):
                    raise StoreUnavailable(f"cannot write the personal store {self.path} ({exc})") from None
                raise StoreError(self._describe(exc)) from None
            except sqlite3.DatabaseError as exc:
                raise StoreError(self._describe(exc)) from None
            self._writes += 1

    # -- learning --------------------------------------------------------------------------

    def learn(self, text: str, when: float | None = None) -> int:
        """Add the words and sequences of `text` in one transaction; returns its words."""
        grams, shown, words = count_grams(text)
        if words:
            self._add(grams, shown, time.time() if when is None else when)
        return words

    def learn_all(self, texts: Iterable[str], progress=None, when: float | None = None) -> int:
        """Learn `texts` (pieces of a few MB: see bulk_learn.BATCH_CHARS), each in its own
        transaction, counted before it starts; `progress(chars, words)` after each commit.
        Returns the words learned. The store ends as if each line had been `learn`ed."""
        from . import bulk_learn  # NumPy: not for predicting

        total_words = total_chars = 0
        for text in texts:
            batch = bulk_learn.Batch(text)
            if batch.words:
                with self._transaction() as conn:
                    bulk_learn.write(conn, batch, time.time() if when is None else when)
            total_words += batch.words
            total_chars += len(text)
            if progress is not None:
                progress(total_chars, total_words)
        return total_words

    def _add(self, grams: Counter, shown: dict[str, str | None], when: float) -> None:
        day = datetime.date.fromtimestamp(when).toordinal()
        # Words alone, in the order they first came: new words are numbered in text order.
        forms = [w for a, b, w in grams if not b]
        with self._transaction() as conn:
            ids = word_ids(conn, forms)
            ids[""] = 0
            conn.executemany("UPDATE words SET shown = ? WHERE id = ? AND shown IS NOT ?",
                             ((s, ids[f], s) for f, s in shown.items()))
            # In key order: each insert lands next to the previous one in the B-tree.
            rows = sorted((ids[a], ids[b], ids[w], n) for (a, b, w), n in grams.items())
            conn.executemany(
                "INSERT INTO grams (day, a, b, w, count, last_seen) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (day, a, b, w) DO UPDATE SET count = count + excluded.count, "
                "last_seen = excluded.last_seen", ((day, a, b, w, n, int(when)) for a, b, w, n in rows))
            conn.executemany(
                "INSERT INTO totals (a, b, w, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (a, b, w) DO UPDATE SET count = count + excluded.count", rows)

    # -- forgetting ------------------------------------------------------------------------

    def forget_word(self, word: str) -> int:
        """Remove a word and every sequence holding it; returns how often it had been learned."""
        form = normalize(word)
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete = ON")
            row = conn.execute("SELECT id FROM words WHERE form = ?", (form,)).fetchone()
            if row is None:
                return 0
            wid = row[0]
            found = conn.execute("SELECT count FROM totals WHERE a = 0 AND b = 0 AND w = ?",
                                 (wid,)).fetchone()
            for table in ("totals", "grams"):
                conn.execute(f"DELETE FROM {table} WHERE w = ? OR a = ? OR b = ?", (wid, wid, wid))
            conn.execute("DELETE FROM words WHERE id = ?", (wid,))
        self._checkpoint()
        return found[0] if found else 0

    def forget_since(self, day: int) -> int:
        """Take back what was learned on `day` (a date ordinal) and after; returns the words."""
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete = ON")
            rows = conn.execute("SELECT SUM(count) * (a = 0 AND b = 0), a, b, w, SUM(count) FROM grams "
                                "WHERE day >= ? GROUP BY a, b, w", (day,)).fetchall()
            conn.executemany("UPDATE totals SET count = count - ? WHERE a = ? AND b = ? AND w = ?",
                             (r[4:] + r[1:4] for r in rows))
            conn.execute("DELETE FROM totals WHERE count <= 0")
            conn.execute("DELETE FROM grams WHERE day >= ?", (day,))
            conn.execute("DELETE FROM words WHERE id NOT IN (SELECT w FROM totals WHERE a = 0 AND b = 0)")
        self._checkpoint()
        return sum(r[0] for r in rows)

    def forget_all(self) -> int:
        """Remove everything learned (the file stays, empty); returns the words."""
        if self.connection() is None:
            return 0
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete = ON")
            words = conn.execute("SELECT count FROM contexts WHERE a = 0 AND b = 0").fetchone()
            for table in ("contexts", "grams", "words"):
                conn.execute(f"DELETE FROM {table}")
            # Without its trigger, DELETE empties totals at once instead of row by row.
            conn.execute("DROP TRIGGER totals_delete")
            conn.execute("DELETE FROM totals")
            conn.execute(next(s for s in statements(SCHEMA) if "TRIGGER totals_delete" in s))
        self._checkpoint()
        with self._lock, contextlib.suppress(sqlite3.OperationalError):  # busy: the file shrinks later
            self._conn.execute("VACUUM")
        return words[0] if words else 0

    def _checkpoint(self) -> None:
        """Copy the WAL into the database and empty it, so forgotten text does not linger in
        it (best effort: a reader in another process may hold it)."""
        with self._lock, contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reading ---------------------------------------------------------------------------

    def ids(self, forms: Iterable[str]) -> dict[str, int]:
        """Store ids of those `forms` it holds."""
        with self._reading() as conn:
            return {} if conn is None else _ids(conn, set(forms))

    def context(self, a: int, b: int) -> tuple[int, int]:
        """(words that followed the context (a, b), distinct ones); (0, 0) if none did."""
        with self._reading() as conn:
            row = None if conn is None else conn.execute(
                "SELECT count, types FROM contexts WHERE a = ? AND b = ?", (a, b)).fetchone()
        return row or (0, 0)

    def followers(self, a: int, b: int, limit: int) -> list[tuple[str, str | None, int]]:
        """The `limit` words that most often followed (a, b): (form, shown, count)."""
        with self._reading() as conn:
            return [] if conn is None else conn.execute(
                "SELECT w.form, w.shown, t.count FROM totals t JOIN words w ON w.id = t.w "
                "WHERE t.a = ? AND t.b = ? ORDER BY t.count DESC LIMIT ?", (a, b, limit)).fetchall()

    def starting_with(self, prefix: str, limit: int) -> list[tuple[str, str | None, int]]:
        """The `limit` most learned words starting with `prefix` (a form): (form, shown, count)."""
        with self._reading() as conn:
            return [] if conn is None else conn.execute(
                # CROSS JOIN: words first, by its form index (reading totals by count first
                # would scan every word until enough start with the prefix).
                "SELECT w.form, w.shown, t.count FROM words w CROSS JOIN totals t "
                "ON t.a = 0 AND t.b = 0 AND t.w = w.id WHERE w.form >= ? AND w.form < ? "
                "ORDER BY t.count DESC LIMIT ?", (prefix, prefix + "\U0010ffff", limit)).fetchall()

    def summary(self) -> Summary | None:
        """What the store holds, or None if there is none yet."""
        with self._reading() as conn:
            if conn is None:
                return None
            words, distinct = self.context(0, 0)
            pairs, triples = conn.execute(
                "SELECT COALESCE(SUM(types * (a = 0 AND b != 0)), 0), "
                "COALESCE(SUM(types * (a != 0)), 0) FROM contexts").fetchone()
            first, last = conn.execute("SELECT MIN(day), MAX(last_seen) FROM grams").fetchone()
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return Summary(self.path, size, words, distinct, pairs, triples, first, last)


def word_ids(conn: sqlite3.Connection, forms: list[str]) -> dict[str, int]:
    """Store ids of `forms`, adding those it lacks in their order (inside a write
    transaction). Not INSERT OR IGNORE: with AUTOINCREMENT, each ignored row spends an id."""
    ids = _ids(conn, set(forms))
    new = [f for f in forms if f not in ids]
    if new:
        conn.executemany("INSERT INTO words (form) VALUES (?)", ((f,) for f in new))
        ids.update(_ids(conn, set(new)))
    return ids


def _ids(conn: sqlite3.Connection, forms: set[str]) -> dict[str, int]:
    # One statement for any number of forms: a JSON array (not ASCII-escaped: SQLite reads
    # UTF-8 text, whatever its version makes of escaped surrogate pairs).
    found = json.dumps(sorted(f for f in forms if f), ensure_ascii=False)
    return {form: wid for wid, form in conn.execute(
        "SELECT w.id, w.form FROM json_each(?) j JOIN words w ON w.form = j.value", (found,))}


def statements(script: str) -> list[str]:
    """The statements of SCHEMA (triggers hold inner semicolons)."""
    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if line.rstrip().endswith(";") and (not text.lstrip().startswith("CREATE TRIGGER")
                                            or line.strip() == "END;"):
            out.append(text)
            current = []
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)
