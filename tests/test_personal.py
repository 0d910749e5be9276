"""The personal store in use: `learn`, `forget`, `info`, and what predict and complete make of it."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from click.testing import CliRunner

import nextword
from nextword.cli.main import cli
from nextword.frontends.repl import Assistant
from nextword.prediction.personal import last_words
from nextword.store.database import UserStore

TEXTS = ["The cat ", "A dog b", "my friend laughs at home. The ", "", "Zor"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def words(result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


@pytest.fixture
def notes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Zorblax frobnicates quickly.\n" * 3 + "The cat walks by the river.\n" * 5
                    + "Then the cat chases Zorblax.\n")
    return path


def test_an_empty_store_changes_nothing(numpy_model_dir, tmp_path):
    plain = nextword.load(numpy_model_dir, user_db=None)
    missing = nextword.load(numpy_model_dir)  # the default store, which does not exist
    emptied = nextword.load(numpy_model_dir, user_db=tmp_path / "emptied.db")
    UserStore(tmp_path / "emptied.db").learn("words to forget")
    UserStore(tmp_path / "emptied.db").forget_all()
    assert "personal" in missing.mixture.components and "personal" not in plain.mixture.components
    for text in TEXTS:
        want = plain.suggest(text, 8)
        assert missing.suggest(text, 8) == want and emptied.suggest(text, 8) == want
    ids = plain.context_ids("The cat ")
    assert np.array_equal(emptied.mixture.predict(ids)[0], plain.mixture.predict(ids)[0])
    assert not (tmp_path / "user.db").exists()  # predicting created no store


def test_learn_then_predict_finds_the_phrase_and_words_outside_the_vocabulary(numpy_model_dir, notes):
    assert words(invoke("predict", "-m", numpy_model_dir, "The cat "))[0] == "sleeps"
    result = invoke("learn", notes)
    assert result.exit_code == 0 and result.stdout.startswith("Learned 44 words in ")
    # Five sentences against a network sure of "sleeps": the store's word comes next; its
    # share grows with its evidence (prediction/personal.py: K), first after more of it.
    assert words(invoke("predict", "-m", numpy_model_dir, "The cat "))[:2] == ["sleeps", "walks"]
    invoke("learn", notes)
    invoke("learn", notes)
    assert words(invoke("predict", "-m", numpy_model_dir, "The cat "))[0] == "walks"
    invoke("forget", "--all")
    invoke("learn", notes)
    assert words(invoke("predict", "-m", numpy_model_dir, "Zorb"))[0] == "Zorblax"
    assert words(invoke("predict", "-m", numpy_model_dir, "Zorblax "))[0] == "frobnicates"
    assert "chases" in words(invoke("predict", "-m", numpy_model_dir, "-k", "3", "the cat "))
    assert "Zorblax" in words(invoke("predict", "-m", numpy_model_dir, "The cat chases "))[:1]
    info = invoke("info", "-m", numpy_model_dir)
    assert "personal store" in info.stdout and "44 words learned (10 distinct)" in info.stdout


def test_forget_a_word_since_a_day_and_everything(numpy_model_dir, notes, tmp_path):
    invoke("learn", notes)
    assert invoke("forget", "zorblax").stdout.startswith("Forgot 'zorblax' (4 times learned)")
    assert "Zorblax" not in words(invoke("predict", "-m", numpy_model_dir, "Zorb"))
    assert "Frobnicates" in words(invoke("predict", "-m", numpy_model_dir, "-k", "50", ""))
    today = datetime.date.today().isoformat()
    assert invoke("forget", "--since", "today").stdout == f"Forgot 40 words learned since {today}\n"
    assert words(invoke("predict", "-m", numpy_model_dir, "The cat "))[0] == "sleeps"
    invoke("learn", notes)
    assert invoke("forget", "--all").stdout.startswith("Forgot everything (44 words learned)")
    assert "nothing learned yet" in invoke("info", "-m", numpy_model_dir).stdout
    assert invoke("forget", "--all", "--since", "today").exit_code == 2
    assert invoke("forget", "--since", "someday").exit_code == 2
    invoke("learn", notes)
    for far in ("99999999d", "99999999999999999999d"):  # before the year 1: refused, nothing forgotten
        result = invoke("forget", "--since", far)
        assert result.exit_code == 2 and "--since" in result.stderr
        assert type(result.exception) is SystemExit  # a usage error, no traceback
    assert UserStore(tmp_path / "user.db").summary().words == 44
    assert invoke("forget", "--all", "--user-db", tmp_path / "none.db").stdout.startswith("Nothing to forget")


@pytest.mark.slow
@pytest.mark.parametrize("sent, code", [("SIGINT", 130), ("SIGHUP", 129)])
def test_a_signal_in_predict_learn_keeps_the_line_it_was_holding(numpy_model_dir, tmp_path, sent, code):
    """The last line read waits for the next one (which may extend it); Ctrl-C, or the
    terminal closing (SIGHUP takes SIGTERM's path), learns it instead of dropping it."""
    import os
    import signal
    import subprocess
    import sys

    store = tmp_path / "kept.db"
    proc = subprocess.Popen([sys.executable, "-m", "nextword", "predict", "-m", str(numpy_model_dir),
                             "--learn", "--user-db", str(store)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    proc.stdin.write("quokka wombat numbat\n")
    proc.stdin.flush()
    assert proc.stdout.readline()  # answered: the line is read and held
    proc.send_signal(getattr(signal, sent))
    assert proc.wait(timeout=60) == code
    assert sent == "SIGINT" or proc.stderr.read() == ""
    assert {f for f, _, _ in UserStore(store).followers(0, 0, 10)} == {"quokka", "wombat", "numbat"}


@pytest.mark.parametrize("cut", ["Ctrl-C", "closed stdout"])
def test_an_answer_cut_short_loses_no_line_read(numpy_model_dir, tmp_path, monkeypatch, cut):
    """Ctrl-C or a closed stdout while the second line is answered: the first line (finished
    by then, learned after that answer) is learned as well as the second."""
    import errno

    from nextword.cli import predict as predict_command

    write, calls = predict_command.write_stdout, []

    def cut_at_the_second(text):
        calls.append(text)
        if len(calls) == 2:
            if cut == "Ctrl-C":
                raise KeyboardInterrupt
            raise BrokenPipeError(errno.EPIPE, "Broken pipe", "<stdout>")
        write(text)
    monkeypatch.setattr(predict_command, "write_stdout", cut_at_the_second)
    result = invoke("predict", "-m", numpy_model_dir, "--learn", input="quokka wombat\nnumbat\n")
    assert result.exit_code == (130 if cut == "Ctrl-C" else 0), result.stderr
    store = UserStore(tmp_path / "user.db")
    assert {f for f, _, _ in store.followers(0, 0, 10)} == {"quokka", "wombat", "numbat"}


def test_ctrl_c_right_after_a_line_is_written_learns_it_once(numpy_model_dir, tmp_path, monkeypatch):
    """The interrupt is held until the line is off the queue and marked as learned: the
    clean-up does not learn it again."""
    import signal

    learn, calls = UserStore.learn, []

    def interrupted_after_the_commit(self, text, *args, **kwargs):
        count = learn(self, text, *args, **kwargs)
        calls.append(text)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return count
    monkeypatch.setattr(UserStore, "learn", interrupted_after_the_commit)
    result = invoke("predict", "-m", numpy_model_dir, "--learn", input="quokka wombat\nnumbat\nbilby\n")
    assert result.exit_code == 130, result.stderr
    store = UserStore(tmp_path / "user.db")
    assert {f: n for f, _, n in store.followers(0, 0, 10)} == {"quokka": 1, "wombat": 1, "numbat": 1}


def test_learning_without_a_store_says_it_learns_nothing(numpy_model_dir):
    result = invoke("predict", "-m", numpy_model_dir, "--learn", "--user-db", "", input="The cat \n")
    assert result.exit_code == 0 and result.stdout.strip()
    assert result.stderr == ("Note: no personal store (an empty --user-db or $NEXTWORD_USER_DB): "
                             "--learn learns nothing\n")
    assert invoke("predict", "-m", numpy_model_dir, "--user-db", "", "the ").stderr == ""


def test_predict_learns_each_line_once_from_a_keystroke_stream(numpy_model_dir, tmp_path):
    typed = "Quux is here"
    lines = [typed[:i] for i in range(1, len(typed) + 1)] + ["", "Quux again", "Quux ag"]
    result = invoke("predict", "-m", numpy_model_dir, "--learn", input="\n".join(lines) + "\n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == len(lines)
    store = UserStore(tmp_path / "user.db")
    assert {f: n for f, _, n in store.followers(0, 0, 100)} == {"quux": 2, "is": 1, "here": 1, "ag": 1}
    assert not UserStore(tmp_path / "other.db").exists()
    invoke("predict", "-m", numpy_model_dir, "The cat ", input="Quux\n")  # without --learn: nothing
    assert store.context(0, 0) == (5, 4)


def test_complete_learns_each_line_unless_told_not_to(numpy_model_dir, tmp_path):
    predictor = nextword.load(numpy_model_dir)
    assistant = Assistant(predictor, learn=True)
    assert assistant.learning == "learning"
    assistant.end_line("Blorptastic ideas grow")
    assert assistant.suggest("Blo")[0][0] == "Blorptastic"
    quiet = Assistant(nextword.load(numpy_model_dir, user_db=tmp_path / "quiet.db"), learn=False)
    quiet.end_line("Snarfle")
    assert quiet.learning == "not learning" and not (tmp_path / "quiet.db").exists()
    assert UserStore(tmp_path / "user.db").context(0, 0) == (3, 3)


def test_predicting_without_a_store(numpy_model_dir, tmp_path):
    (tmp_path / "file").write_text("")
    unwritable = tmp_path / "file" / "user.db"  # under a file: cannot be created (even by root)
    result = invoke("predict", "-m", numpy_model_dir, "--learn", "--user-db", unwritable,
                    input="A dog\nZor\nA cat\n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3
    notes = result.stderr.splitlines()
    assert len(notes) == 1 and notes[0].startswith(f"Note: cannot open the personal store {unwritable}")
    assert words(invoke("predict", "-m", numpy_model_dir, "--user-db", "", "A dog "))[0] == "barks"
    assert invoke("learn", "--user-db", "", __file__).exit_code == 2
    info = invoke("info", "-m", numpy_model_dir, "--user-db", "").stdout
    assert "none (an empty --user-db or $NEXTWORD_USER_DB)" in info


@pytest.mark.parametrize("command", [["predict", "the "], ["learn", __file__], ["forget", "--all"], ["info"]])
def test_a_damaged_store_is_one_error_line(numpy_model_dir, tmp_path, command):
    damaged = tmp_path / "user.db"  # ours, its first page overwritten
    made = UserStore(damaged)
    made.learn("some words")
    made.close()  # its log checkpointed: the file is all there is
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\x00garbage" * 499 + b"\x00garbag"
    damaged.write_bytes(bytes(data))
    args = command + (["-m", numpy_model_dir] if command[0] in ("predict", "info") else [])
    result = invoke(*args)
    if command[0] == "info":  # the model's card, then the store's problem
        assert f"personal store         {damaged}: cannot be used (below)\n" in result.stdout
        assert result.stdout.startswith("model ")
    else:
        assert result.stdout == ""
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"Error: the personal store {damaged} cannot be used (database disk image is malformed): "
        "move it away")
    assert damaged.read_bytes() == data


def test_context_words():
    assert last_words("We met Zorblax went ") == ("zorblax", "went")
    assert last_words("He said, Hi ") == ("hi",)
    assert last_words("End.\n") == () and last_words("") == ()
    assert last_words("x" * 500 + " two Words ") == ("two", "words")
    assert last_words("a" * 100 + "b c") == ("c",)  # not the end of a word cut in two


def test_learn_shows_progress_and_ctrl_c_keeps_what_was_committed(tmp_path, monkeypatch):
    from nextword.cli import store as store_commands
    from nextword.paths import default_user_db
    from nextword.store import bulk_learn

    text = tmp_path / "big.txt"
    text.write_text("the cat walks by the river\n" * 400)  # 10.8 kB: ten batches of ~1 kB
    monkeypatch.setattr(bulk_learn, "BATCH_CHARS", 1000)
    monkeypatch.setattr(store_commands, "PROGRESS_BYTES", 1)
    monkeypatch.setattr(store_commands, "PROGRESS_SECONDS", 0)
    result = invoke("learn", text)
    assert result.exit_code == 0 and result.stderr.count("Learning: ") == 11
    assert result.stdout.startswith("Learned 2,400 words in ")

    write, calls = bulk_learn.write, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        write(*args)

    monkeypatch.setattr(bulk_learn, "write", interrupted)
    result = invoke("learn", text)
    assert result.exit_code == 130
    assert "Interrupted: 666 words (0.0 of 0.0 MB) were learned into" in result.stderr
    assert UserStore(default_user_db()).context(0, 0)[0] == 2400 + 666
