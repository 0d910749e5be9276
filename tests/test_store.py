"""The personal store (nextword.store.database): counting, forgetting, sharing, surviving."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from nextword.cli.store import parse_day
from nextword.store.database import (
    CHECK_SECONDS,
    SCHEMA_VERSION,
    StoreError,
    StoreUnavailable,
    Summary,
    UserStore,
)
from nextword.store.grams import normalize

DAY = 86400


def counts(store: UserStore, *words: str) -> dict[str, int]:
    """{word: times learned} (0 for a word it does not hold)."""
    found = {form: n for form, _, n in store.followers(0, 0, 10_000)}
    return {w: found.get(w, 0) for w in words}


def follows(store: UserStore, *context: str) -> dict[str, int]:
    """{word: count} of what followed the one or two context words."""
    ids = store.ids(context)
    if len(ids) < len(context):
        return {}
    key = (0, ids[context[0]]) if len(context) == 1 else (ids[context[0]], ids[context[1]])
    return {form: n for form, _, n in store.followers(*key, 1000)}


def consistent(path) -> None:
    """The database is whole and its derived tables agree with what they derive from."""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute(
        "SELECT COUNT(*) FROM (SELECT a, b, SUM(count) AS n, COUNT(*) AS t FROM totals GROUP BY a, b) s "
        "LEFT JOIN contexts c USING (a, b) WHERE c.count IS NOT s.n OR c.types IS NOT s.t").fetchone()[0] == 0
    assert conn.execute(
        "SELECT COUNT(*) FROM (SELECT a, b, w, SUM(count) AS n FROM grams GROUP BY a, b, w) g "
        "FULL JOIN totals t USING (a, b, w) WHERE g.n IS NOT t.count").fetchone()[0] == 0
    conn.close()


def test_learns_words_and_sequences_by_written_form(tmp_path):
    store = UserStore(tmp_path / "new-dir" / "user.db")
    assert store.connection() is None and not store.path.exists()  # reading creates nothing
    assert store.learn("Ask Zorblax: Zorblax knows. Then ZORBLAX knows best, I think") == 10
    assert counts(store, "zorblax", "knows", "ask") == {"zorblax": 3, "knows": 2, "ask": 1}
    assert follows(store, "zorblax") == {"knows": 2}  # not ":" — punctuation ends a run
    assert follows(store, "zorblax", "knows") == {"best": 1}
    assert follows(store, "ask") == {"zorblax": 1} and follows(store, "think") == {}
    assert store.context(0, 0) == (10, 7)
    shown = {form: written for form, written, _ in store.followers(0, 0, 100)}
    # As last written away from a sentence start ("Ask", "Then" start sentences).
    assert shown["zorblax"] == "ZORBLAX" and shown["ask"] is None and shown["i"] == "I"
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    consistent(store.path)


def test_a_pasted_blob_is_no_word(tmp_path):
    """A "word" longer than anyone types (base64, minified code) is not learned, and ends
    the run of words like punctuation: the store would offer it as a completion."""
    from nextword.text.rules import LONGEST_WORD

    store = UserStore(tmp_path / "user.db")
    blob, longest = "QUJD" * 500, "w" * LONGEST_WORD
    assert store.learn(f"paste {blob} here then {longest} ok") == 5
    assert counts(store, "paste", "here", longest, blob.lower()) == {
        "paste": 1, "here": 1, longest: 1, blob.lower(): 0}
    assert follows(store, "paste") == {} and follows(store, "here") == {"then": 1}
    assert store.path.stat().st_size < 100_000
    assert store.learn("\ufb03" * 64) == 0  # 64 ligatures, 192 letters as stored
    consistent(store.path)


def test_a_letter_with_a_combining_accent_is_part_of_its_word(tmp_path):
    store = UserStore(tmp_path / "user.db")
    assert store.learn("cafe\u0301 and re\u0301sume\u0301") == 3
    assert counts(store, "café", "résumé", "cafe", "re", "sume") == {
        "café": 1, "résumé": 1, "cafe": 0, "re": 0, "sume": 0}


def test_normalisation_is_the_tokenizers():
    from nextword.text import tokenizer

    normalizer = tokenizer.new_tokenizer().normalizer
    for word in ["Straße", "ﬁnal", "ÉCOLE", "Ⅻ", "İstanbul", "ΟΔΟΣ", "Ｗｉｄｅ"]:
        assert normalize(word) == normalizer.normalize_str(word)


def test_forget_a_word_a_day_and_everything(tmp_path):
    store = UserStore(tmp_path / "user.db")
    now = time.time()
    store.learn("old words stay here", when=now - 3 * DAY)
    store.learn("fresh words stay here", when=now)
    store.learn("fresh fruit", when=now - DAY)
    assert store.forget_word("Fresh") == 2
    assert counts(store, "fresh", "words", "fruit") == {"fresh": 0, "words": 2, "fruit": 1}
    assert follows(store, "words") == {"stay": 2}
    consistent(store.path)

    assert store.forget_since(parse_day("today")) == 3  # words, stay, here (fruit was yesterday)
    assert counts(store, "old", "words", "stay", "fruit") == {"old": 1, "words": 1, "stay": 1, "fruit": 1}
    assert follows(store, "words", "stay") == {"here": 1}
    consistent(store.path)

    assert store.forget_all() == 5
    assert store.context(0, 0) == (0, 0) and store.path.exists()
    assert store.learn("new start") == 2  # the emptied store takes new text
    consistent(store.path)


def test_dates():
    import datetime

    today = datetime.date.today().toordinal()
    assert parse_day("today") == today and parse_day("yesterday") == today - 1
    assert parse_day("7d") == today - 7
    assert parse_day("2024-05-31") == datetime.date(2024, 5, 31).toordinal()
    with pytest.raises(ValueError, match="not a date"):
        parse_day("last week")


WRITER = textwrap.dedent("""
    import sys
    from nextword.store.database import UserStore
    store = UserStore(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        store.learn("alpha beta gamma")  # one transaction per line
    print("done", flush=True)
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "user.db"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), "150"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for w in writers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0 and out == "done\n", err
    store = UserStore(path)
    assert counts(store, "alpha", "gamma") == {"alpha": 300, "gamma": 300}
    assert follows(store, "alpha", "beta") == {"gamma": 300}
    consistent(path)


def test_a_killed_writer_leaves_a_readable_store(tmp_path):
    path = tmp_path / "user.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1000000"])
    store = UserStore(path)
    deadline = time.monotonic() + 30
    while not (path.exists() and store.connection() and counts(store, "alpha")["alpha"] >= 20):
        assert time.monotonic() < deadline and writer.poll() is None
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    store.close()
    store = UserStore(path)
    n = counts(store, "alpha", "beta", "gamma")
    assert n["alpha"] >= 20 and n["alpha"] == n["beta"] == n["gamma"]  # whole lines only
    assert follows(store, "alpha", "beta") == {"gamma": n["alpha"]}
    consistent(path)
    assert store.learn("alpha") == 1  # and it takes more


def test_damaged_newer_and_foreign_files_are_refused_untouched(tmp_path):
    damaged = tmp_path / "damaged.db"  # a store of ours whose first page is overwritten
    made = UserStore(damaged)
    made.learn("some words")
    made.close()  # its log checkpointed: the file is all there is
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\xff" * 3996
    damaged.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=f"{damaged} cannot be used .*move it away"):
        UserStore(damaged).connection()
    garbage = tmp_path / "garbage.db"  # not ours: never "move it away"
    garbage.write_bytes(b"this is no database\n" * 100)
    with pytest.raises(StoreError, match="not a nextword personal store \\(not an SQLite database\\)") as exc:
        UserStore(garbage).learn("words")
    assert "mv " not in str(exc.value)

    newer = tmp_path / "newer.db"
    UserStore(newer).learn("some words")
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this nextword knows.*upgrade nextword"):
        UserStore(newer).connection()

    foreign = tmp_path / "places.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE bookmarks (url TEXT)")
    conn.commit()
    conn.close()
    before = [p.read_bytes() for p in (damaged, foreign, garbage)]
    with pytest.raises(StoreError, match="not a nextword personal store") as exc:
        UserStore(foreign).learn("words")
    assert "mv " not in str(exc.value)
    assert [p.read_bytes() for p in (damaged, foreign, garbage)] == before


def test_an_empty_file_is_read_as_empty_and_learned_into(tmp_path):
    path = tmp_path / "user.db"
    path.touch()
    store = UserStore(path)
    assert store.connection() is None and store.summary() is None
    assert store.learn("now it learns") == 3
    summary = store.summary()
    assert isinstance(summary, Summary) and summary.words == 3


def test_a_store_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    store = UserStore(tmp_path / "file" / "user.db")
    assert store.connection() is None  # reading: nothing there
    with pytest.raises(StoreUnavailable, match="cannot open the personal store"):
        store.learn("words")


def test_wal_mode_and_sharing_between_connections(tmp_path):
    path = tmp_path / "user.db"
    writer, reader = UserStore(path), UserStore(path)
    writer.learn("one")
    assert reader.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    before = reader.version()
    writer.learn("two")
    time.sleep(CHECK_SECONDS)  # how long another process's writes may go unnoticed
    assert reader.version() != before and counts(reader, "two") == {"two": 1}


LINES = [
    'Ask Zorblax: Zorblax knows. Then ZORBLAX knows best, I think.',
    '"Quoth the Raven" — and the raven said <unk> twice; İstanbul, Straße and ﬁnal',
    '        Indented eight: Under the tree, under the tree',
    '    Four in: Under the tree',
    'Tabs\tand  spaces   in   between... "Yes!" she said. (Really?) Maybe',
    "don't stop; it's well-known — the tree's roots",
    "",
    "the cat sat on the mat the cat sat on the hat",
]


def tables(path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    found = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
             for t in ("words", "grams", "totals", "contexts")}
    conn.close()
    return found


@pytest.mark.parametrize("packed", [63, 16])  # 16: counts above 1 take the executemany path
def test_learning_in_bulk_gives_the_tables_learning_line_by_line_gives(tmp_path, monkeypatch, packed):
    from nextword.store import bulk_learn

    monkeypatch.setattr(bulk_learn, "_PACKED", packed)
    first, second = "\n".join(LINES * 3), "\n".join(reversed(LINES))
    by_line, bulk = UserStore(tmp_path / "line.db"), UserStore(tmp_path / "bulk.db")
    for store in (by_line, bulk):
        store.learn("the tree knows Zorblax", when=1e9)  # rows already there, and a context
    words = sum(by_line.learn(line, when=1e9) for text in (first, second) for line in text.split("\n"))
    # Two transactions: the second adds to rows and contexts the first made.
    assert bulk.learn_all([first + "\n", second], when=1e9) == words
    assert tables(by_line.path) == tables(bulk.path)
    consistent(bulk.path)
    assert follows(bulk, "under", "the") == {"tree": 12}
    assert {f: s for f, s, _ in bulk.followers(0, 0, 100)}["zorblax"] == "ZORBLAX"  # as last written
    assert bulk.connection().execute(  # the triggers are back, as the schema has them
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 3


def test_a_line_writer_and_a_bulk_learner_at_once_lose_nothing(tmp_path):
    path = tmp_path / "user.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1000"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    store = UserStore(path)
    deadline = time.monotonic() + 30
    while not (path.exists() and store.connection() and counts(store, "gamma")["gamma"]):
        assert time.monotonic() < deadline and writer.poll() is None
        time.sleep(0.01)
    pieces = ["alpha beta delta and so on\n" * 2000] * 10  # ten bulk transactions
    assert counts(store, "gamma")["gamma"] < 1000  # the writer goes on while they are written
    assert store.learn_all(pieces) == 10 * 2000 * 6
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0 and out == "done\n", err
    assert counts(store, "alpha", "gamma", "delta") == {"alpha": 21_000, "gamma": 1000, "delta": 20_000}
    assert follows(store, "alpha", "beta") == {"gamma": 1000, "delta": 20_000}
    consistent(path)
