"""The personal store's schema (the contract: a database of this version and application id
is ours) and the statements both ways of learning share: the schema's statements, and the
ids of word forms."""

from __future__ import annotations

import json
import sqlite3

SCHEMA_VERSION = 1

APPLICATION_ID = 0x6E787764  # "nxwd"

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

TABLES = {"words", "grams", "totals", "contexts"}


def word_ids(conn: sqlite3.Connection, forms: list[str]) -> dict[str, int]:
    """Store ids of `forms`, adding those it lacks in their order (inside a write
    transaction). Not INSERT OR IGNORE: with AUTOINCREMENT, each ignored row spends an id."""
    ids = existing_ids(conn, set(forms))
    new = [f for f in forms if f not in ids]
    if new:
        conn.executemany("INSERT INTO words (form) VALUES (?)", ((f,) for f in new))
        ids.update(existing_ids(conn, set(new)))
    return ids


def existing_ids(conn: sqlite3.Connection, forms: set[str]) -> dict[str, int]:
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
