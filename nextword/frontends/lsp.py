"""`nextword lsp`: a language server over stdio, for completion in the user's own editor.

A thin adapter (pygls): protocol in, `Predictor.analyse` on the text before the cursor,
completion items out. The model loads once, at `initialize`; each open document gets its
own `Predictor.fork()` (the model's arrays shared), so typing in a document extends that
document's LSTM state by a token per word and its cache of recent text by a word, whatever
happens in the other documents. Documents arrive by incremental sync (pygls keeps the text).

Settings, from `initializationOptions` and `workspace/didChangeConfiguration` (flat, or
under a "nextword" key): "model" (a model directory), "items" (suggestions per request),
"languages" (the languageIds to complete in, or "*" for all), "userDb" (the personal
store, "" for none) and "learn" (learn from saved documents). A model or a store that
cannot be loaded at start (a damaged store) is an error response to `initialize` and a
window/showMessage, then the server exits (status 1); one named later that cannot be
loaded leaves the current one serving. A store that cannot be opened here is a
window/logMessage, and the server goes on without it.

With "learn" on, a save (textDocument/didSave) adds to the personal store the lines of the
document that were added or changed since it was opened or last learned from, so that text
saved again and again, or opened again in another session, is counted once. The line being
edited (where the last change ended) waits until the editing moves to another line, the
document is closed or the server stops, and is learned then as last saved: an editor that
saves at every pause would otherwise teach each state of a half-typed line ("zanz",
"zanzib"), and its words again at each save. The store is one connection that every
document's fork shares: a word learned from one document is offered in all of them at once.
What is saved while "learn" is off is never learned, even once it is turned on.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import re
import signal
import stat
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.workspace import PositionCodec, ServerTextPosition, TextDocument

from nextword import __version__
from nextword.errors import NextwordError
from nextword.frontends import lsp_io
from nextword.paths import default_model_dir, resolve_user_db
from nextword.prediction.predictor import Predictor

# languageIds as Neovim (filetype), Helix (language name) and Eglot (major mode) send them.
DEFAULT_LANGUAGES = ("plaintext", "text", "markdown", "gitcommit", "git-commit", "mail",
                     "rst", "tex", "latex", "org")
MAX_ITEMS = 100
TRIGGER_CHARACTERS = [" "]  # after a space: the next word; clients ask on word characters anyway
EXPECTED = {"model": "a model directory", "items": f"a whole number from 1 to {MAX_ITEMS}",
            "languages": 'a list of languageIds or "*"', "userDb": 'a file path, "" for none, or null',
            "learn": "true or false"}


class ModelNotLoaded(JsonRpcException):
    """The error response to `initialize` when the model cannot be loaded."""

    CODE = -32002  # JSON-RPC's "server not initialized": the model is what is missing


@dataclass(frozen=True)
class Settings:
    model: Path | None = None  # None: nextword.paths.default_model_dir()
    items: int = 5
    languages: tuple[str, ...] | None = DEFAULT_LANGUAGES  # None: every language
    user_db: str | None = None  # as --user-db: None for the default store, "" for none
    learn: bool = False  # learn from saved documents

    def model_dir(self) -> Path:
        return self.model or default_model_dir()

    def store_path(self) -> Path | None:
        return resolve_user_db(self.user_db)

    def completes(self, language_id: str) -> bool:
        return self.languages is None or language_id in self.languages

    def updated(self, raw) -> tuple[Settings, list[str]]:
        """These settings changed by `raw` (a client's JSON object, flat or with a "nextword"
        section), and a line for each value that was not understood (and left unchanged)."""
        if not isinstance(raw, dict):
            return self, [] if raw is None else [f"settings must be an object, not {raw!r}"]
        section = raw.get("nextword")
        strict = isinstance(section, dict)  # a flat object may hold other servers' keys
        values = section if strict else raw
        changes, problems = {}, []
        for key, value in values.items():
            if key == "model" and isinstance(value, str) and value:
                changes["model"] = Path(value).expanduser()
            elif key == "model" and value is None:
                changes["model"] = None
            elif key == "items" and type(value) is int and 1 <= value <= MAX_ITEMS:
                changes["items"] = value
            elif key == "languages" and value == "*":
                changes["languages"] = None
            elif key == "languages" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                changes["languages"] = tuple(value)
            elif key == "userDb" and (value is None or isinstance(value, str)):
                changes["user_db"] = value
            elif key == "learn" and isinstance(value, bool):
                changes["learn"] = value
            elif key in EXPECTED:
                problems.append(f"setting {key!r} = {value!r} ignored: expected {EXPECTED[key]}")
            elif strict:
                problems.append(f"unknown setting {key!r} ignored")
        return replace(self, **changes), problems


class OneUnitCodec(PositionCodec):
    """pygls's codec without its walk through the line, a Python step per character, for a
    line whose every character is one unit in the client's encoding (no character beyond
    U+FFFF in UTF-16, ASCII in UTF-8): there a client's column is the string index. The walk
    cost 1.5 ms per keystroke on a 230-character line."""

    _ASTRAL = re.compile("[\U00010000-\U0010ffff]")

    def position_from_client_units(self, lines, position: types.Position) -> ServerTextPosition:
        line = lines[position.line] if position.line < len(lines) else None
        if line is not None and "\r" not in line and position.character <= len(line) and (
                self.encoding == types.PositionEncodingKind.Utf32
                or (line.isascii() if self.encoding == types.PositionEncodingKind.Utf8
                    else self._ASTRAL.search(line) is None)):
            return ServerTextPosition(position.line, position.character)
        return super().position_from_client_units(lines, position)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what ends a line in LSP's positions
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_OTHER_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines also ends a line


def lines_of(text: str) -> list[str]:
    """`text`'s lines as LSP numbers them."""
    return _LINE_BREAK.split(text)


class LspDocument(TextDocument):
    """pygls's copy of a document, its lines as LSP numbers them. (str.splitlines, which
    pygls uses, also ends a line at U+2028, a form feed or NEL: each change after one was
    applied a line off, and the copy no longer was the editor's text.)"""

    @property
    def lines(self) -> tuple[str, ...]:
        """Read at every change and position: str.splitlines where it agrees (0.1 ms for
        100 kB of text, the regex 0.75 ms)."""
        source = self.source
        if not any(c in source for c in _OTHER_BREAKS):
            return tuple(source.splitlines(True))
        return tuple(_LINE_WITH_END.findall(source))


def _new_document(workspace, doc_uri: str, source: str | None = None, version: int | None = None,
                  language_id: str | None = None) -> LspDocument:
    """What pygls's Workspace._create_text_document makes, as an LspDocument."""
    return LspDocument(doc_uri, source=source, version=version, language_id=language_id,
                       sync_kind=workspace._sync_kind, position_codec=workspace._position_codec)


def counted(lines: list[str]) -> Counter:
    """The lines that hold anything to learn, counted."""
    return Counter(line for line in lines if line.strip())


@dataclass
class Document:
    language: str
    predictor: Predictor  # a fork of the server's model
    learned: Counter = field(default_factory=Counter)  # the lines it had open, saved or learned
    saved: list[str] = field(default_factory=list)  # its lines as opened or last saved
    editing: int | None = None  # the line the last change ended on (-1: a whole-text change)


class NextwordServer(LanguageServer):
    """The server's state: settings, the loaded model, a fork of it per open document."""

    def __init__(self, settings: Settings):
        super().__init__("nextword", __version__, protocol_cls=lsp_io.Protocol)
        self.settings = settings
        self.model: Predictor | None = None
        self.documents: dict[str, Document] = {}  # by uri
        self.exit_code = 0
        self.shut_down = False

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"nextword: {message}"))

    def configure(self, raw) -> None:
        """Apply settings from the client; load the model again if its path or the store's
        changed."""
        settings, problems = self.settings.updated(raw)
        for problem in problems:
            self.tell(problem, types.MessageType.Warning)
        serving = self.settings
        self.settings = settings
        if self.model is not None and (settings.model_dir(), settings.store_path()) != (
                serving.model_dir(), serving.store_path()):
            try:
                self.use(self.load())
            except NextwordError as exc:
                self.tell(f"{exc} (still using {self.model.path})")
                # What serves stays what the settings name, so that the next change of
                # either loads the other as it was, not the one that failed.
                self.settings = replace(settings, model=serving.model, user_db=serving.user_db)

    def load(self) -> Predictor:
        """The model and the personal store the settings name (StoreError: a damaged store)."""
        return Predictor.load(self.settings.model_dir(), self.settings.store_path())

    def fork(self) -> Predictor:
        """The model's predictor for one document: its recent words are the text before the
        cursor alone, wherever in the document it is (prediction/cache.py)."""
        assert self.model is not None
        predictor = self.model.fork()
        if predictor.cache is not None:
            predictor.cache.keeps_earlier = False
        return predictor

    def use(self, model: Predictor) -> None:
        self.model = model
        self.documents = {uri: replace(document, predictor=self.fork())
                          for uri, document in self.documents.items()}
        self.note_store()
        # What is loaded by now (pygls's types, the model) stays for good: out of the cyclic
        # collector's way, whose full pass over it (about one per 7,000 keystrokes) took 54 ms.
        gc.freeze()

    def note_store(self) -> None:
        """Say in the client's log, once, why the personal store is not used (or no longer
        learns), as the other commands say it on stderr."""
        model = self.model
        for note in model.take_notes() if model is not None else ():
            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Warning, message=f"nextword: {note}"))

    def changed(self, params: types.DidChangeTextDocumentParams) -> None:
        """Note where the document's last change ended: the line being edited."""
        document = self.documents.get(params.text_document.uri)
        if document is None:
            return
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                document.editing = change.range.start.line + len(lines_of(change.text)) - 1
            else:
                document.editing = -1

    def learn(self, uri: str, final: bool = False) -> None:
        """With "learn" on, add to the store the lines of the document at `uri` as saved that
        it did not have open, saved or learned before (a changed line: whole again), but
        for the line being edited; `final`: the document is closed or the server stops, and
        that line is learned too. With "learn" off, what is saved is marked as had: turned
        on later, learning does not take it."""
        document = self.documents.get(uri)
        if document is None:
            return
        lines = document.saved if final else lines_of(self.workspace.get_text_document(uri).source)
        if not self.settings.learn or not self.settings.completes(document.language):
            if not final:  # saved while not learning: never to be learned, if learning is turned on
                document.saved = lines
                document.learned |= counted(lines)
            return
        if final:
            waiting = Counter()
        else:
            at = _edited_line(document, lines)
            waiting = Counter([lines[at]]) if at is not None else Counter()
            document.saved, document.editing = lines, None if at is None else at
        current = counted(lines) - waiting
        new = current - document.learned
        try:
            learned = not new or self.model.learn("\n".join(new.elements()))
        except NextwordError as exc:  # damaged, or locked by another writer for long
            if final:  # (the client may be gone: its log is stderr)
                print(f"Error: {exc}", file=sys.stderr)
            else:
                self.tell(str(exc))
            return
        if learned:  # (what was learned stays known: a line edited and restored is not new)
            document.learned |= current
        if not final:
            self.note_store()

    def learn_all(self) -> None:
        """Learn what waits in every open document (the server stops)."""
        for uri in list(self.documents):
            self.learn(uri, final=True)

    def complete(self, params: types.CompletionParams) -> types.CompletionList | None:
        document = self.documents.get(params.text_document.uri)
        if document is None or not self.settings.completes(document.language):
            return None
        predictor = document.predictor
        document = self.workspace.get_text_document(params.text_document.uri)
        position = _within(document, params.position)
        if position is None:
            return None  # a line the document does not have: out of step with the client
        text = document.source[: document.offset_at_position(position)]
        result = predictor.analyse(text, self.settings.items)
        self.note_store()  # a store that could not be read just now
        start = types.Position(position.line, max(
            0, position.character - document.position_codec.client_num_units(result.prefix)))
        where = types.Range(start, position)
        return types.CompletionList(is_incomplete=True, items=[
            types.CompletionItem(label=word, kind=types.CompletionItemKind.Text, detail=f"{prob:.1%}",
                                 sort_text=f"{rank:03d}", filter_text=word,
                                 text_edit=types.TextEdit(where, word))
            for rank, (word, prob) in enumerate(result.words)])

    def stop(self, code: int) -> None:
        """End the message loop (from a callback on it): start_io returns."""
        self.exit_code = code
        raise SystemExit(code)


def _edited_line(document: Document, lines: list[str]) -> int | None:
    """The line of `lines` (the document now) that is being edited: where the last change
    ended, or after a whole-text change the last line that differs from the last save
    (lines aligned at the end); None if none is."""
    at = document.editing
    if at == -1:
        saved = document.saved
        at = next((len(lines) - 1 - j for j in range(len(lines))
                   if j >= len(saved) or lines[-1 - j] != saved[-1 - j]), None)
    if at is not None and at >= len(lines):  # (a change past the end: the last line)
        at = len(lines) - 1
    return at if at is not None and at >= 0 else None


def _within(document, position: types.Position) -> types.Position | None:
    """`position` in `document`, a character past its line's end taken as the end (as LSP
    says); None for a line past the document's last. (pygls would take either for the end
    of the document, and the answer's edit would then name a place the document lacks.)"""
    lines = document.lines
    last = len(lines) if not lines or lines[-1].endswith(("\n", "\r")) else len(lines) - 1
    if position.line > last:
        return None
    line = lines[position.line].rstrip("\r\n") if position.line < len(lines) else ""
    if position.character <= len(line):  # (a client's units are at least the characters)
        return position
    encoding = document.position_codec.encoding
    units = (len(line) if encoding == types.PositionEncodingKind.Utf32
             else len(line.encode("utf-8")) if encoding == types.PositionEncodingKind.Utf8
             else len(line.encode("utf-16-le")) // 2)
    return position if position.character <= units else types.Position(position.line, units)


def make_server(settings: Settings) -> NextwordServer:
    server = NextwordServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        workspace = server.workspace  # just made, still without documents
        if hasattr(workspace, "_position_codec"):
            workspace._position_codec = OneUnitCodec(workspace.position_encoding)
        if hasattr(workspace, "_create_text_document") and hasattr(workspace, "_sync_kind"):
            workspace._create_text_document = functools.partial(_new_document, workspace)
        server.configure(params.initialization_options)
        try:
            server.use(server.load())
        except Exception as exc:  # nothing to serve without the model: say why in one line, exit
            if not isinstance(exc, NextwordError):  # (a model no check foresaw: still no traceback)
                exc = NextwordError(f"the model at {server.settings.model_dir()} cannot be loaded "
                                    f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})")
            server.tell(str(exc))
            print(f"Error: {exc}", file=sys.stderr)
            # Runs once this request's error response is written (pygls answers a plain
            # function's request before returning to the loop).
            asyncio.get_running_loop().call_soon(server.stop, 1)
            raise ModelNotLoaded(f"nextword: {exc}") from None

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        server.configure(params.settings)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        if server.model is not None:
            item = params.text_document
            lines = lines_of(item.text)
            server.documents[item.uri] = Document(item.language_id, server.fork(),
                                                  counted(lines), lines)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        server.changed(params)  # (pygls has applied the change to its copy)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        server.learn(params.text_document.uri)  # from pygls's copy, kept in step by didChange

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.learn(params.text_document.uri, final=True)  # the line that waited, as saved
        server.documents.pop(params.text_document.uri, None)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS))
    def completion(params: types.CompletionParams) -> types.CompletionList | None:
        return server.complete(params)

    @server.feature(types.SHUTDOWN)
    def shutdown(params) -> None:
        server.shut_down = True

    @server.feature(types.EXIT)
    def exit_(params) -> None:
        server.exit_code = 0 if server.shut_down else 1  # (pygls's own exit code is lost)

    return server


def _no_traceback_for_a_missing_model(record: logging.LogRecord) -> bool:
    # pygls logs every error response with its traceback: this one is the user's to fix,
    # and already said in one line.
    return not (record.exc_info and isinstance(record.exc_info[1], ModelNotLoaded))


def run(settings: Settings) -> NoReturn:
    """Serve on stdin/stdout until the client says exit, stdin closes, Ctrl-C, SIGTERM or SIGHUP;
    does not return: the process ends with the exit status (0 after shutdown + exit, a
    closed stdin or a closed stdout, 1 after a failed start or an exit without shutdown,
    130/143/129 on a signal)."""
    logging.basicConfig(level=logging.ERROR, format="nextword lsp: %(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].addFilter(_no_traceback_for_a_missing_model)
    server = make_server(settings)

    def interrupted(signum, frame):
        server.exit_code = 128 + signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if hasattr(signal, "SIGHUP"):  # (the editor's terminal closed)
        signal.signal(signal.SIGHUP, interrupted)
    try:
        asyncio.run(_serve(server))
    except (KeyboardInterrupt, SystemExit, asyncio.IncompleteReadError):
        pass  # a signal; `exit`, a failed start, a closed stdout; stdin closed inside a message
    if server.model is not None:
        try:  # what waited for a busy store (a little longer: the client may be waiting)
            server.learn_all()
            server.model.finish_learning(wait_ms=2000)
        except (NextwordError, KeyboardInterrupt):
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by `exit`, or by the client
            pass
    os._exit(server.exit_code)  # not sys.exit, which waits for a thread blocked reading stdin


async def _serve(server: NextwordServer) -> None:
    """The message loop (lsp_io: bounded framing, an error response for what cannot be
    used), reading a pipe through the event loop: pygls's own start_io reads stdin in a
    thread, a hand-off per line read (three per message), which cost 0.8 ms per keystroke
    at the median on a busy machine. Anything else (a file, a terminal) is read in a thread."""
    loop = asyncio.get_running_loop()
    if stat.S_ISFIFO(os.fstat(0).st_mode) or stat.S_ISSOCK(os.fstat(0).st_mode):
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)

        def read():
            return reader.read(lsp_io.CHUNK)
    else:
        def read():
            return loop.run_in_executor(server.thread_pool, sys.stdin.buffer.read1, lsp_io.CHUNK)
    server.protocol.set_writer(_Writer(sys.stdout.buffer))
    await lsp_io.serve(read, server.protocol)


class _Writer(StdoutWriter):
    def write(self, data: bytes) -> None:
        try:
            super().write(data)
        except BrokenPipeError:
            raise SystemExit(0) from None  # the client is gone: end quietly (pygls would log it)
