"""`nextword lsp`: the real server over stdio, driven by an LSP client (pytest-lsp, with the
capabilities Neovim 0.7 announces), by JSON-RPC written here (start-up errors, exits) and
by Neovim itself where it is installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "nextword", "lsp"]
in_session = pytest.mark.asyncio(loop_scope="module")  # the tests below share one server


@pytest.fixture(scope="module")
def module_store(tmp_path_factory) -> Path:
    """The personal store of the module's server. (Started before the autouse fixture sets
    $NEXTWORD_USER_DB, the server would otherwise read the user's own.)"""
    return tmp_path_factory.mktemp("store") / "user.db"


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, numpy_model_dir, module_store):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("neovim@v0.7.0"),
        initialization_options={"model": str(numpy_model_dir), "items": 3, "userDb": str(module_store)}))
    yield
    await lsp_client.shutdown_session()


def open_document(client: LanguageClient, name: str, text: str, language: str = "plaintext") -> str:
    uri = f"file:///tmp/nextword-test/{name}"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
    return uri


async def complete(client: LanguageClient, uri: str, line: int, character: int):
    return await client.text_document_completion_async(types.CompletionParams(
        types.TextDocumentIdentifier(uri), types.Position(line, character)))


def edit(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    """Insert `text` at (line, character), as an incremental change."""
    at = types.Position(line, character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)]))


def labels(result) -> list[str]:
    return [item.label for item in result.items] if result else []


@in_session
async def test_the_next_word_after_a_space_and_the_rest_of_a_word(client):
    uri = open_document(client, "next.txt", "The cat ")
    result = await complete(client, uri, 0, 8)
    assert result.is_incomplete  # the list changes as the word grows: ask again
    assert labels(result)[0] == "sleeps" and len(result.items) == 3
    assert [item.sort_text for item in result.items] == ["000", "001", "002"]
    probabilities = [float(item.detail.rstrip("%")) for item in result.items]
    assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] > 50
    assert result.items[0].text_edit.range == types.Range(types.Position(0, 8), types.Position(0, 8))

    uri = open_document(client, "word.txt", "A dog ba")
    result = await complete(client, uri, 0, 8)
    assert labels(result) == ["barks"]
    assert result.items[0].text_edit.new_text == "barks"  # replaces "ba"
    assert result.items[0].text_edit.range == types.Range(types.Position(0, 6), types.Position(0, 8))


@in_session
async def test_incremental_changes_then_completion(client):
    uri = open_document(client, "changes.md", "The cat sleeps in the garden.\n", "markdown")
    edit(client, uri, 2, 1, 0, "My friend ")
    assert labels(await complete(client, uri, 1, 10))[0] == "laughs"
    edit(client, uri, 3, 1, 10, "la")
    result = await complete(client, uri, 1, 12)
    assert labels(result) == ["laughs"]
    assert result.items[0].text_edit.range.start == types.Position(1, 10)
    # Positions count UTF-16 units (Neovim's encoding): the emoji is two.
    edit(client, uri, 4, 0, 0, "😀 A dog b\n")
    result = await complete(client, uri, 0, 10)
    assert labels(result)[0] == "barks"
    assert result.items[0].text_edit.range.start == types.Position(0, 9)


@in_session
async def test_each_document_has_its_own_recent_words(client):
    first = open_document(client, "first.txt", "The cat met Zorblax in the garden. ")
    second = open_document(client, "second.txt", "")
    assert "Zorblax" not in labels(await complete(client, second, 0, 0))
    edit(client, first, 2, 0, 35, "Zor")
    assert labels(await complete(client, first, 0, 38)) == ["Zorblax"]
    edit(client, second, 2, 0, 0, "Zor")
    assert labels(await complete(client, second, 0, 3)) == []
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(first)))


@in_session
async def test_a_word_deleted_from_the_document_is_no_longer_offered(client):
    uri = open_document(client, "stale.txt", "The cat met Zorblaxian friends.\nThen ")
    assert labels(await complete(client, uri, 1, 5))  # (the recent words hold "zorblaxian")
    gone = types.Range(types.Position(0, 12), types.Position(0, 23))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangePartial(range=gone, text="")]))
    edit(client, uri, 3, 1, 5, "Zo")
    assert "Zorblaxian" not in labels(await complete(client, uri, 1, 7))


@in_session
async def test_settings_choose_languages_and_items(client, tmp_path):
    uri = open_document(client, "code.py", "The cat ", "python")
    assert labels(await complete(client, uri, 0, 8)) == []  # not a language for prose
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        {"nextword": {"languages": "*", "items": 2}}))
    assert len(labels(await complete(client, uri, 0, 8))) == 2
    # A wrong value is reported and left alone; a model that cannot load leaves the old one serving.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        {"nextword": {"items": 0, "model": str(tmp_path / "nothing")}}))
    assert labels(await complete(client, uri, 0, 8))[0] == "sleeps"
    kinds_and_texts = [(m.type, m.message) for m in client.messages[-2:]]
    assert kinds_and_texts[0][0] == types.MessageType.Warning and "'items' = 0" in kinds_and_texts[0][1]
    assert kinds_and_texts[1][0] == types.MessageType.Error and "no model at" in kinds_and_texts[1][1]
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        {"nextword": {"languages": ["plaintext"], "items": 3}}))


def save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))


def configure(client: LanguageClient, **settings) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"nextword": settings}))


@in_session
async def test_saving_learns_nothing_by_default(client, module_store):
    uri = open_document(client, "unlearned.txt", "")
    edit(client, uri, 2, 0, 0, "The cat met Vexlorn.\n")
    save(client, uri)
    assert labels(await complete(client, uri, 1, 0))  # (answered after the save was handled)
    assert not module_store.exists()


@in_session
async def test_learn_on_save_what_was_written_since_open_or_the_last_save(client, module_store, tmp_path):
    from nextword.store.database import UserStore

    store = UserStore(tmp_path / "learned.db")
    told = len(client.messages), len(client.log_messages)
    configure(client, learn=True, userDb=str(store.path))
    writer = open_document(client, "draft.txt", "Quorbit was here.\n")
    reader = open_document(client, "reader.txt", "Vex")
    assert labels(await complete(client, reader, 0, 3)) == []
    edit(client, writer, 2, 1, 0, "The cat met Vexlorn.\n")
    save(client, writer)
    assert labels(await complete(client, reader, 0, 3)) == ["Vexlorn"]  # another document's fork
    assert store.summary().words == 4  # the line written, not the one it was opened with
    save(client, writer)  # saved again unchanged: nothing more
    edit(client, writer, 3, 2, 0, "A dog barks.")
    save(client, writer)
    await complete(client, writer, 2, 12)  # (answered once the save is handled)
    assert store.summary().words == 4  # the line being edited waits ...
    edit(client, writer, 4, 2, 12, "\n")
    save(client, writer)
    await complete(client, writer, 3, 0)
    assert store.summary().words == 7  # ... until the editing moves on
    code = open_document(client, "code.py", "", "python")  # not a language it completes in
    edit(client, code, 2, 0, 0, "Zapfnord = 1\n")
    save(client, code)
    assert labels(await complete(client, reader, 0, 3)) == ["Vexlorn"] and store.summary().words == 7
    assert (len(client.messages), len(client.log_messages)) == told
    configure(client, learn=False, userDb=str(module_store))


@in_session
async def test_a_line_saved_at_every_key_is_learned_once_as_finished(client, module_store, tmp_path):
    """An editor that saves at every pause: the half-typed states of a line ("zanz") are
    never learned, nor its words again at each save; the line is, once the editing moves
    on; a line still being edited when the document closes is learned as last saved."""
    from nextword.store.database import UserStore

    store = UserStore(tmp_path / "autosaved.db")
    configure(client, learn=True, userDb=str(store.path))
    uri = open_document(client, "autosaved.txt", "")
    version = 1
    for n, char in enumerate("My lord Zanzibar.\nIt rains"):
        version += 1
        line, column = (0, n) if n < 18 else (1, n - 18)
        edit(client, uri, version, line, column, char)
        save(client, uri)
    await complete(client, uri, 1, 8)
    assert store.summary().words == 3
    assert [w for w, _, _ in store.starting_with("zanz", 5)] == ["zanzibar"]
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    other = open_document(client, "other.txt", "")
    await complete(client, other, 0, 0)  # (answered once the close is handled)
    assert store.summary().words == 5  # "It rains", as saved
    assert [w for w, _, _ in store.starting_with("ra", 5)] == ["rains"]
    configure(client, learn=False, userDb=str(module_store))


@in_session
async def test_what_learning_leaves_alone(client, module_store, tmp_path):
    """Text saved while "learn" is off, even once it is on; a line edited and restored; and
    a line after a U+2028 (which str.splitlines, but not LSP, counts as a line end: pygls's
    copy took the next change a line off)."""
    from nextword.store.database import UserStore

    store = UserStore(tmp_path / "left.db")
    configure(client, learn=False, userDb=str(store.path))
    uri = open_document(client, "private.txt", "Old line one\n")
    edit(client, uri, 2, 1, 0, "Secret password hunter\n")
    save(client, uri)
    configure(client, learn=True, userDb=str(store.path))
    edit(client, uri, 3, 0, 12, "x")  # "Old line onex" ...
    save(client, uri)
    back = types.Range(types.Position(0, 12), types.Position(0, 13))
    client.text_document_did_change(types.DidChangeTextDocumentParams(  # ... and back
        types.VersionedTextDocumentIdentifier(uri=uri, version=4),
        [types.TextDocumentContentChangePartial(range=back, text="")]))
    save(client, uri)
    edit(client, uri, 5, 2, 0, "Public words\u2028alpha beta\nNext")
    edit(client, uri, 6, 3, 0, "omega ")
    save(client, uri)
    await complete(client, uri, 3, 6)  # (answered once the saves are handled)
    assert {f for f, _, _ in store.followers(0, 0, 100)} == {"public", "words", "alpha", "beta"}
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    await complete(client, open_document(client, "after.txt", ""), 0, 0)
    assert {f for f, _, _ in store.followers(0, 0, 100)} == {
        "public", "words", "alpha", "beta", "omega", "next"}
    configure(client, learn=False, userDb=str(module_store))


@in_session
async def test_the_server_process_never_loads_tensorflow(client):
    maps = Path(f"/proc/{client._server.pid}/maps")
    if not maps.exists():
        pytest.skip("needs /proc")
    assert "tensorflow" not in maps.read_text()


def test_the_fast_position_codec_agrees_with_pygls():
    from pygls.workspace import PositionCodec

    from nextword.frontends.lsp import OneUnitCodec

    lines = ["The cat sleeps.\n", "😀 a dog\n", "Café au lait\r\n", "", "last line"]
    for encoding in types.PositionEncodingKind:
        fast, slow = OneUnitCodec(encoding), PositionCodec(encoding)
        for line in range(len(lines) + 1):
            for character in range(20):
                position = types.Position(line, character)
                assert (fast.position_from_client_units(lines, types.Position(line, character))
                        == slow.position_from_client_units(lines, position)), (encoding, line, character)


def test_a_documents_lines_are_lsps():
    """Ended by \\n, \\r\\n or \\r only (str.splitlines, pygls's, also ends them at U+2028,
    a form feed, NEL...): the fast path (splitlines, where it agrees) gives the regex's lines."""
    import random

    from nextword.frontends.lsp import _LINE_WITH_END, LspDocument

    assert LspDocument("file:///x", source="a\u2028b\fc\r\nd\re\n").lines == ("a\u2028b\fc\r\n", "d\r", "e\n")
    rng = random.Random(3)
    for _ in range(2000):
        text = "".join(rng.choice(["a", " ", "\n", "\r", "\r\n", "\u2028", "\f", "\x85"])
                       for _ in range(rng.randint(0, 20)))
        assert LspDocument("file:///x", source=text).lines == tuple(_LINE_WITH_END.findall(text)), text


def test_forks_share_the_store_and_see_what_is_learned(numpy_model_dir, tmp_path):
    """What the server relies on: each document's fork reads the one store connection, and a
    word learned (here, or by another process) is offered in every document."""
    import nextword
    from nextword.store.database import CHECK_SECONDS, UserStore

    model = nextword.load(numpy_model_dir, user_db=tmp_path / "user.db")
    first, second = model.fork(), model.fork()
    assert first.personal is second.personal is model.personal
    assert second.suggest("Zor") == [] and second.suggest("Blo") == []
    first.analyse("The cat met ")
    model.learn("The cat met Zorblax.")
    assert second.suggest("Zor")[0][0] == "Zorblax"
    assert first.suggest("The cat met ")[0][0] == "Zorblax"  # (its answer after the context: asked anew)
    UserStore(tmp_path / "user.db").learn("Blorptang")  # another connection, as another process
    time.sleep(CHECK_SECONDS * 1.5)
    assert second.suggest("Blo")[0][0] == "Blorptang"


def test_a_keystroke_runs_the_lstm_one_step_at_most(numpy_model_dir, monkeypatch):
    """In the server (in process, messages as pygls reads them): typing in a document, each
    word costs the LSTM one token, not a run over the document so far."""
    import gc

    from nextword.frontends.lsp import Settings, make_server
    from nextword.prediction.lstm import Engine

    monkeypatch.setattr(gc, "freeze", lambda: None)  # not the test process's objects
    fed = []
    run = Engine.run
    monkeypatch.setattr(Engine, "run", lambda self, state, ids, keep=1: fed.append(len(ids)) or run(
        self, state, ids, keep))
    server = make_server(Settings(model=numpy_model_dir))
    answers = []
    server.protocol.set_writer(type("Writer", (), {"write": lambda self, data: answers.append(data)})())

    def send(message: dict) -> None:
        server.protocol.handle_message(json.loads(json.dumps({"jsonrpc": "2.0", **message}),
                                                  object_hook=server.protocol.structure_message))

    uri, text = "file:///tmp/typed.txt", "The cat sleeps in the garden. A dog barks by the river. "
    send({"id": 0, "method": "initialize",
          "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "plaintext", "version": 1, "text": ""}}})
    for column, char in enumerate(text):
        at = {"line": 0, "character": column}
        send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": column + 2},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": char}]}})
        send({"id": column + 1, "method": "textDocument/completion", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": column + 1}}})
    assert len(answers) == len(text) + 1 and b'"label": "sleeps"' in answers[8]  # after "The cat "
    assert fed[0] == 1 and max(fed[1:]) <= 2, fed  # (a word and the punctuation after it: 2)


# -- the process: start-up errors and the ways it ends, with JSON-RPC written here ----------

def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream) -> dict | None:
    length = None
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length)) if length is not None else None


def start(model: Path, *args: str, **options) -> subprocess.Popen:
    """A server (`nextword lsp ARGS`) asked to initialize with `model` and `options`."""
    proc = subprocess.Popen(SERVER + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    send(proc, {"id": 1, "method": "initialize", "params": {
        "processId": os.getpid(), "rootUri": None, "capabilities": {},
        "initializationOptions": {"model": str(model), **options}}})
    return proc


def send(proc: subprocess.Popen, *messages: dict) -> None:
    proc.stdin.write(b"".join(frame({"jsonrpc": "2.0", **message}) for message in messages))
    proc.stdin.flush()


def stop(proc: subprocess.Popen) -> int:
    """Shut the server down and let it exit; its exit status."""
    send(proc, {"id": 99, "method": "shutdown"})
    while read_message(proc.stdout)["id"] != 99:
        pass
    send(proc, {"method": "exit"})
    return proc.wait(timeout=30)


def test_a_missing_or_damaged_model_or_store_is_an_error_message_and_a_clean_exit(
        tmp_path, numpy_model_dir, numpy_model_copy):
    (numpy_model_copy / "weights.npz").write_bytes(b"not a zip file")
    (tmp_path / "user.db").write_bytes(b"\x00garbage" * 1000)  # ($NEXTWORD_USER_DB, from conftest)
    servers = [start(tmp_path / "no-model"),  # (started together: faster)
               start(numpy_model_copy, "--user-db", ""),
               start(numpy_model_dir)]
    says_all = ["no model at", "weights.npz", f"{tmp_path / 'user.db'} is not a nextword personal store"]
    for proc, says in zip(servers, says_all, strict=True):
        shown, answer = read_message(proc.stdout), read_message(proc.stdout)
        assert shown["method"] == "window/showMessage" and shown["params"]["type"] == 1
        assert says in shown["params"]["message"]
        assert answer["id"] == 1 and answer["error"]["code"] == -32002 and says in answer["error"]["message"]
        assert proc.wait(timeout=30) == 1  # ends by itself: without a model it has nothing to serve
        stderr = proc.stderr.read().decode()
        assert stderr.startswith("Error: ") and says in stderr and len(stderr.splitlines()) == 1, stderr


def test_no_store_and_a_store_that_cannot_be_opened(tmp_path, numpy_model_dir):
    document = {"uri": "file:///tmp/nextword-test/saved.txt", "languageId": "plaintext", "version": 1,
                "text": ""}
    at = {"line": 0, "character": 0}
    written = [{"method": "textDocument/didOpen", "params": {"textDocument": document}},
               {"method": "textDocument/didChange", "params": {
                   "textDocument": {"uri": document["uri"], "version": 2},
                   "contentChanges": [{"range": {"start": at, "end": at}, "text": "Zorblax is here.\n"}]}},
               {"method": "textDocument/didSave", "params": {"textDocument": {"uri": document["uri"]}}}]
    none = start(numpy_model_dir, "--user-db", "", learn=True)
    unusable = start(numpy_model_dir, learn=True, userDb=str(tmp_path))
    capabilities = read_message(none.stdout)["result"]["capabilities"]
    assert capabilities["textDocumentSync"]["save"] == {"includeText": False}
    logged = read_message(unusable.stdout)  # (a directory: SQLite cannot open it)
    assert logged["method"] == "window/logMessage" and logged["params"]["type"] == types.MessageType.Warning
    assert logged["params"]["message"] == (f"nextword: cannot open the personal store {tmp_path} "
                                           "(unable to open database file); going on without it")
    assert "result" in read_message(unusable.stdout)
    for proc in (none, unusable):
        send(proc, *written)
        assert stop(proc) == 0 and proc.stderr.read() == b""
    assert not (tmp_path / "user.db").exists()  # ($NEXTWORD_USER_DB: '' is no store, not the default)


def test_the_line_being_edited_is_learned_when_the_server_stops(tmp_path, numpy_model_dir):
    """Saved, it waits for the editing to move on; the server stopping (shutdown and exit,
    or SIGTERM) learns it. A change of the whole text (no range): the line being edited is
    the last that differs from the last save."""
    from nextword.store.database import UserStore

    uri = "file:///tmp/nextword-test/stopping.txt"
    written = [{"method": "textDocument/didOpen", "params": {"textDocument": {
                   "uri": uri, "languageId": "plaintext", "version": 1, "text": ""}}},
               {"method": "textDocument/didChange", "params": {
                   "textDocument": {"uri": uri, "version": 2},
                   "contentChanges": [{"text": "Quux was here.\nZorblax is her"}]}},
               {"method": "textDocument/didSave", "params": {"textDocument": {"uri": uri}}}]
    stores = {how: UserStore(tmp_path / f"{how}.db") for how in ("exit", "sigterm")}
    servers = {how: start(numpy_model_dir, learn=True, userDb=str(store.path))
               for how, store in stores.items()}
    for how, proc in servers.items():
        read_message(proc.stdout)
        send(proc, *written, {"id": 2, "method": "textDocument/completion", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 14}}})
        assert read_message(proc.stdout)["id"] == 2  # (after the save)
        assert stores[how].summary().words == 3  # "Quux was here"; the line being edited waits
        if how == "exit":
            assert stop(proc) == 0
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 143
        assert proc.stderr.read() == b""
        assert stores[how].summary().words == 6, how  # ... and is learned as saved
        assert [w for w, _, _ in stores[how].starting_with("zorb", 5)] == ["zorblax"]


def test_exit_closed_stdin_ctrl_c_and_sigterm_end_quietly(numpy_model_dir):
    endings = {"shutdown, exit": 0, "stdin closed": 0, "Ctrl-C": 130, "SIGTERM": 143, "SIGHUP": 129}
    servers = {how: start(numpy_model_dir) for how in endings}
    for how, proc in servers.items():
        capabilities = read_message(proc.stdout)["result"]["capabilities"]
        assert " " in capabilities["completionProvider"]["triggerCharacters"]
        assert capabilities["textDocumentSync"]["change"] == types.TextDocumentSyncKind.Incremental
        if how == "shutdown, exit":
            proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
            proc.stdin.flush()
            assert read_message(proc.stdout) == {"jsonrpc": "2.0", "id": 2, "result": None}
            proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
            proc.stdin.flush()
        elif how == "stdin closed":
            proc.stdin.close()
        else:
            sent = {"Ctrl-C": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
            proc.send_signal(sent[how])
    for how, proc in servers.items():
        assert proc.wait(timeout=30) == endings[how], how
        assert proc.stderr.read() == b"", how


# -- a real editor ------------------------------------------------------------------------

NVIM_SCRIPT = Path(__file__).with_name("nvim_completion.lua")


def neovim_version() -> tuple[int, ...] | None:
    """(major, minor) of the `nvim` on PATH, or None."""
    if shutil.which("nvim") is None:
        return None
    first = subprocess.run(["nvim", "--version"], capture_output=True, text=True, timeout=30).stdout
    digits = first.split()[1].lstrip("v").split(".")[:2] if first.startswith("NVIM v") else []
    return tuple(int(d) for d in digits if d.isdigit()) or None


def test_neovim_gets_nextwords_words(numpy_model_dir, tmp_path):
    version = neovim_version()
    if version is None or version < (0, 7):
        pytest.skip("needs Neovim 0.7 or later (nvim) on PATH: " + ("not found" if version is None
                    else f"found {'.'.join(map(str, version))}"))
    document = tmp_path / "note.txt"
    document.write_text("The cat sleeps in the garden.\n")
    out = tmp_path / "completions.json"
    env = {**os.environ, "NEXTWORD_TEST_PYTHON": sys.executable, "NEXTWORD_TEST_MODEL": str(numpy_model_dir),
           "NEXTWORD_TEST_OUT": str(out)}
    started = time.monotonic()
    proc = subprocess.run(["nvim", "--headless", "--clean", "-c", f"luafile {NVIM_SCRIPT}", str(document)],
                          env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and out.exists(), (proc.stdout, proc.stderr, time.monotonic() - started)
    found = json.loads(out.read_text())
    assert found["next"][0] == "barks", found  # after "A dog ", added in the editor
    assert found["word"] == ["barks"], found   # after "A dog ba"
