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

Words are read in runs (store/grams.py): punctuation and line ends end a run, so a sequence never spans a
comma. Everything is written in short transactions (one line, or ~2 MB of a file: see
bulk_learn, which `learn_all` imports when called), in WAL mode with a busy timeout, so
that a REPL, a pipe predictor and `nextword learn` can share the store, and a killed
writer loses at most its transaction. Nothing here imports NumPy.

A file is identified before anything can write to it: through SQLite as an immutable,
read-only file (no lock taken, no log replayed), so that another program's database and
its -wal/-shm stay byte for byte as they are. SQLite is given percent-encoded URIs: a path
holding `#`, `?` or `%` names exactly that file. Errors that say the store cannot be used
now (I/O, a full disk, a lock, permissions: `transient`) raise StoreUnavailable, never the
advice to move a store away, which is for a damaged store of ours alone.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nextword.errors import NextwordError
from nextword.store.grams import count_grams, normalize
from nextword.store.schema import (  # noqa: F401
    APPLICATION_ID,
    SCHEMA,
    SCHEMA_VERSION,
    TABLES,
    existing_ids,
    statements,
    word_ids,
)

BUSY_MS = 10_000  # how long a writer waits for another's transaction before giving up
# How often `version` asks SQLite whether another process wrote (PRAGMA data_version costs
# ~0.1 ms, which every keystroke would pay); this process's own writes count at once.
CHECK_SECONDS = 0.05
# How long a file that looks foreign beside a rollback journal is looked at again (_identify).
JOURNAL_WAIT = 2.0


class StoreError(NextwordError):
    """The personal store is damaged, of a newer schema, or another program's database."""


class StoreUnavailable(StoreError):
    """The personal store cannot be opened, created, read or written now (no such directory,
    a read-only or full disk, an I/O error, permissions): nothing says it is damaged.
    Predicting goes on without it; learning cannot."""


class StoreBusy(StoreUnavailable):
    """Another process held the store's write lock for longer than the transaction waited."""


# Primary SQLite result codes of a store that merely cannot be used now: PERM, BUSY, LOCKED,
# NOMEM, READONLY, INTERRUPT, IOERR, FULL, CANTOPEN, PROTOCOL (not CORRUPT, NOTADB, ERROR).
_TRANSIENT_CODES = {3, 5, 6, 7, 8, 9, 10, 13, 14, 15}
_TRANSIENT_WORDS = ("disk i/o", "disk is full", "locked", "busy", "readonly", "read-only",
                    "unable to open", "out of memory", "locking protocol", "interrupted",
                    "access permission")


def transient(exc: Exception) -> bool:
    """Whether an SQLite error (or an OSError) says the store cannot be used now, rather
    than that it is damaged."""
    if isinstance(exc, OSError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT_CODES
    return isinstance(exc, sqlite3.OperationalError) and any(
        w in str(exc).lower() for w in _TRANSIENT_WORDS)


def busy(exc: Exception) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


def uri(path: Path, **params) -> str:
    """The SQLite URI naming exactly `path` (every byte that is not plainly safe
    percent-encoded: a `#`, `?` or `%` in a file name is part of the name)."""
    name = urllib.parse.quote(os.fsencode(os.path.abspath(path)), safe="/")
    return f"file:{name}?" + urllib.parse.urlencode(params)


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
        self._wait_ms = BUSY_MS  # how long the transaction under way waits for another writer

    # -- opening ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._conn is not None or self.path.exists()

    def _describe(self, exc: Exception) -> str:
        """Why a store that is ours cannot be used: damaged (to move away)."""
        return (f"the personal store {self.path} cannot be used ({exc}): move it away "
                f"(e.g. mv {self.path} {self.path}.old) to start a new one, or choose another "
                f"with --user-db PATH or $NEXTWORD_USER_DB")

    def _failed(self, exc: Exception, doing: str = "read") -> StoreError:
        """The error to raise for an SQLite error on a store already known to be ours."""
        if busy(exc):
            return StoreBusy(f"the personal store {self.path} stayed locked by another process "
                             f"for {self._wait_ms / 1000:g} s: try again")
        if transient(exc):
            return self._cannot(doing, exc)
        return StoreError(self._describe(exc))

    def _cannot(self, doing: str, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"cannot {doing} the personal store {self.path} ({_reason(exc)})")

    def _foreign(self, what: str) -> StoreError:
        return StoreError(f"{self.path} is not a nextword personal store ({what}): it is left as it "
                          f"is; choose another path with --user-db PATH or $NEXTWORD_USER_DB")

    def connection(self, create: bool = False) -> sqlite3.Connection | None:
        """The open connection; None if the store does not exist (or is empty) and `create`
        is False. Raises StoreError for a damaged, newer or foreign file, StoreUnavailable
        when it cannot be opened or created here now."""
        with self._lock:
            if self._conn is None:
                kind = self._identify()
                if kind != "ours" and not create:
                    return None
                self._conn = self._open(kind)
            return self._conn

    def _identify(self) -> str:
        """As _identify_now, but a file that looks foreign while a rollback journal lies
        beside it is looked at again for up to JOURNAL_WAIT seconds: another process may be
        making a store there (its schema is written under a journal, page by page, so an
        unlocked look can catch it half made)."""
        deadline = time.monotonic() + JOURNAL_WAIT
        while True:
            try:
                return self._identify_now()
            except StoreUnavailable:
                raise
            except StoreError:
                if not _size(f"{self.path}-journal") or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _identify_now(self) -> str:
        """"missing", "empty" (nothing learned: a new empty file or an SQLite database without
        tables) or "ours", found without writing anything: another program's database, and
        its -wal, -shm or -journal, stay byte for byte as they are. Read through SQLite as an
        immutable file (no lock, no log), never by a descriptor of our own: closing one would
        drop the POSIX locks this process's other connections hold on the file. Raises
        StoreError for a file that is not a store, StoreUnavailable for one that cannot be
        read now."""
        try:
            mode = os.stat(self.path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        except OSError as exc:
            raise self._cannot("open", exc) from None
        if stat.S_ISDIR(mode):
            raise self._cannot("open", sqlite3.OperationalError("unable to open database file"))
        if not stat.S_ISREG(mode):
            raise self._foreign("not a regular file")
        for attempt in range(2):
            try:
                conn = sqlite3.connect(uri(self.path, mode="ro", immutable=1), uri=True)
            except sqlite3.Error as exc:
                raise self._cannot("open", exc) from None
            try:
                version, app = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                                for p in ("user_version", "application_id"))
                if app == APPLICATION_ID:  # (marked in its header: ours, even if damaged beyond it)
                    return "ours"
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                break
            except sqlite3.DatabaseError as exc:
                if transient(exc):
                    raise self._cannot("open" if "unable to open" in str(exc) else "read", exc) from None
                if attempt:
                    raise self._foreign("not an SQLite database") from None
                time.sleep(0.05)  # (read unlocked: perhaps a page another process was writing)
            finally:
                conn.close()
        logs = [s for s in ("-wal", "-journal") if _size(f"{self.path}{s}")]
        if app or version or tables - {"sqlite_sequence"} or "-wal" in logs:
            raise self._foreign("an SQLite database of another kind")
        if "-journal" in logs and _size(self.path):
            raise self._foreign("an SQLite database of another kind, with a journal to roll back")
        # (An empty file beside a -journal: a store being made by another process.)
        return "empty"

    def _open(self, kind: str) -> sqlite3.Connection:
        """Connect to a store that is ours, or make one where `kind` says there is none yet
        ("missing": a new file, private from the start; "empty": the schema into it). A new
        store that cannot be made leaves nothing behind."""
        made: list[Path] = []  # what this call created, removed again if it fails
        conn = None
        try:
            if kind == "missing":
                parents = [p for p in reversed(self.path.parents) if not p.exists()]
                for parent in parents:
                    parent.mkdir(mode=0o700)
                    made.insert(0, parent)
                try:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                    os.close(os.open(self.path, flags, 0o600))
                    made[:0] = [Path(f"{self.path}{side}") for side in ("-journal", "-wal", "-shm")
                                if not os.path.lexists(f"{self.path}{side}")] + [self.path]
                except FileExistsError:  # made meanwhile by another process
                    kind = self._identify()
            conn = sqlite3.connect(uri(self.path, mode="rw"), uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=BUSY_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            self._check(conn, kind != "ours")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crashed process loses nothing committed
            conn.execute("PRAGMA cache_size = -32768")  # 32 MB at most: learning touches pages all over
            return conn
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._unmake(made)
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, OSError):
                raise self._cannot("open", exc) from None
            if isinstance(exc, sqlite3.DatabaseError):
                if transient(exc) or kind != "ours":
                    raise self._cannot("open", exc) from None
                raise StoreError(self._describe(exc)) from None
            raise

    def _unmake(self, made: list[Path]) -> None:
        """Remove what a failed `_open` created (side files SQLite may have left that were
        not there before, the new file, new directories), if the new file is still empty."""
        with contextlib.suppress(OSError):
            if self.path in made and self.path.stat().st_size:
                return  # written meanwhile (another process): no longer ours to remove
        for path in made:
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()

    def _check(self, conn: sqlite3.Connection, may_create: bool) -> None:
        """Refuse what is not a nextword store of a known version; create the schema in an
        empty database (one just made, or an empty file) when allowed."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app == APPLICATION_ID and version > SCHEMA_VERSION:
            raise StoreError(f"the personal store {self.path} has schema version {version}, newer than "
                             f"this nextword knows ({SCHEMA_VERSION}): upgrade nextword, or choose "
                             f"another store with --user-db PATH or $NEXTWORD_USER_DB")
        if app == APPLICATION_ID and version == SCHEMA_VERSION and TABLES <= tables:
            return
        if app == 0 and version == 0 and not tables - {"sqlite_sequence"} and may_create:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:  # not created meanwhile
                    for statement in statements(SCHEMA):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            return
        if app == APPLICATION_ID:  # marked as ours, without its tables
            raise StoreError(self._describe(sqlite3.DatabaseError("its tables are missing")))
        raise self._foreign("an SQLite database of another kind")

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
                    raise self._failed(exc) from None
                self._others = (now, seen)
            return (self._others[1], self._writes)

    @contextlib.contextmanager
    def _reading(self):
        with self._lock:
            try:
                yield self.connection()
            except sqlite3.DatabaseError as exc:
                raise self._failed(exc) from None

    @contextlib.contextmanager
    def _transaction(self, wait_ms: int = BUSY_MS):
        """A write transaction (BEGIN IMMEDIATE: waits up to `wait_ms` for other writers,
        never deadlocks; StoreBusy if they held on longer)."""
        with self._lock:
            conn = self.connection(create=True)
            self._wait_ms = wait_ms
            try:
                if wait_ms != BUSY_MS:
                    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise self._failed(exc, "write") from None
            finally:
                if wait_ms != BUSY_MS:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
                self._wait_ms = BUSY_MS
            self._writes += 1

    # -- learning --------------------------------------------------------------------------

    def learn(self, text: str, when: float | None = None, wait_ms: int = BUSY_MS) -> int:
        """Add the words and sequences of `text` in one transaction (waiting up to `wait_ms`
        for another writer: StoreBusy after that); returns its words."""
        grams, shown, words = count_grams(text)
        if words:
            self._add(grams, shown, time.time() if when is None else when, wait_ms)
        return words

    def learn_all(self, texts: Iterable[str], progress=None, when: float | None = None) -> int:
        """Learn `texts` (pieces of a few MB: see bulk_learn.BATCH_CHARS), each in its own
        transaction, counted before it starts; `progress(chars, words)` after each commit.
        Returns the words learned. The store ends as if each line had been `learn`ed."""
        from nextword.store import bulk_learn  # NumPy: not for predicting

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

    def _add(self, grams: Counter, shown: dict[str, str | None], when: float, wait_ms: int = BUSY_MS) -> None:
        day = datetime.date.fromtimestamp(when).toordinal()
        # Words alone, in the order they first came: new words are numbered in text order.
        forms = [w for a, b, w in grams if not b]
        with self._transaction(wait_ms) as conn:
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
            return {} if conn is None else existing_ids(conn, set(forms))

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


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)
