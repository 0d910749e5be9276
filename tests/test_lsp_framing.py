"""`nextword lsp` on input a client should not send: raw bytes written to the real server's
stdin (framing that is broken, bodies that are not JSON-RPC, positions outside the document).
Each case is answered (an error response, or a completion where the position can be taken
as LSP says), the server then answers a valid request, and its log has one line at most,
never a traceback. One server serves the cases that keep it up."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest

SERVER = [sys.executable, "-m", "nextword", "lsp", "--user-db", ""]
URI = "file:///tmp/nextword-test/framing.txt"
WAIT = 60  # seconds for an answer: only a failing test waits this long


def frame(message: dict | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def completion(msg_id: int, line: int, character: int, uri: str = URI) -> dict:
    return {"id": msg_id, "method": "textDocument/completion",
            "params": {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}}


def did_open(uri: str, text: str) -> dict:
    return {"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "plaintext", "version": 1, "text": text}}}


class Server:
    """A `nextword lsp` process: raw bytes in, framed messages out (read with a timeout)."""

    def __init__(self, model_dir):
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.out = b""
        self.err = b""
        self.init = {"id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": None, "capabilities": {},
            "initializationOptions": {"model": str(model_dir)}}}

    def send(self, *parts: dict | bytes) -> None:
        self.proc.stdin.write(b"".join(p if isinstance(p, bytes) else frame(p) for p in parts))
        self.proc.stdin.flush()

    def message(self) -> dict:
        deadline = time.monotonic() + WAIT
        while True:
            head, sep, rest = self.out.partition(b"\r\n\r\n")
            if sep:
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")))
                if len(rest) >= length:
                    self.out = rest[length:]
                    return json.loads(rest[:length])
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.proc.stdout], [], [], left)[0], (
                f"no answer in {WAIT} s; log: {self.log()}")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            assert chunk, f"the server closed its output; log: {self.log()}"
            self.out += chunk

    def answer(self, msg_id) -> dict:
        """The response to `msg_id` (what comes before it: none but the server's own notes)."""
        while (message := self.message()).get("id", "none") != msg_id or "method" in message:
            assert "method" in message and "id" not in message, message  # (a notification)
        return message

    def log(self) -> str:
        """What the server wrote to stderr since the last call."""
        try:
            while chunk := os.read(self.proc.stderr.fileno(), 1 << 16):
                self.err += chunk
        except BlockingIOError:
            pass
        text, self.err = self.err.decode(errors="replace"), b""
        return text

    def end(self) -> int:
        self.send({"id": 9999, "method": "shutdown"})
        assert self.answer(9999)["result"] is None
        self.send({"method": "exit"})
        return self.proc.wait(timeout=WAIT)


@pytest.fixture(scope="module")
def server(model_dir):
    server = Server(model_dir)
    server.send(server.init, did_open(URI, "The cat "))
    assert "capabilities" in server.answer(1)["result"]
    yield server
    assert server.end() == 0
    assert "Traceback" not in server.log()


def body(data: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


SHUTDOWN = json.dumps({"jsonrpc": "2.0", "id": 50, "method": "shutdown"}).encode()  # must not be run
DEEP_PARAMS = json.dumps({"jsonrpc": "2.0", "id": 41, "method": "textDocument/completion", "params": {
    "textDocument": {"uri": URI}, "position": {"line": 0, "character": 8},
    "context": {"triggerKind": 1, "x": json.loads("[" * 80 + "]" * 80)}}}).encode()

# (name, bytes written, the id and the error code of the answer)
REFUSED = [
    ("a header line over 64 KiB", b"X-Junk: " + b"a" * 70_000 + b"\r\n\r\n" + SHUTDOWN, None, -32700),
    ("a 150 KB message without headers", json.dumps(completion(42, 0, 8) | {
        "jsonrpc": "2.0", "padding": "p" * 150_000}).encode(), None, -32700),
    ("Content-Length: abc", b"Content-Length: abc\r\n\r\n" + SHUTDOWN, None, -32700),
    ("Content-Length: -5", b"Content-Length: -5\r\n\r\n" + SHUTDOWN, None, -32700),
    ("Content-Length: huge", b"Content-Length: 1099511627776\r\n\r\n" + SHUTDOWN, None, -32700),
    ("Content-Length: 5000 digits", b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n" + SHUTDOWN, None, -32700),
    ("no Content-Length", b"Content-Type: application/json\r\n\r\n" + SHUTDOWN, None, -32700),
    ("a body that is not JSON", body(b"hello, server"), None, -32700),
    ("a body that is not UTF-8 JSON", body(b"\xff\xfe{]"), None, -32700),
    ("JSON nested 100,000 deep", body(b"[" * 100_000 + b"]" * 100_000), None, -32600),
    ("JSON-RPC nested 80 deep", body(DEEP_PARAMS), 41, -32600),
    ("JSON that is not JSON-RPC", body(b"[1, 2, 3]"), None, -32600),
    ("an id that is a list", frame({"id": [1], "method": "shutdown"}), None, -32600),
    ("completion at line -1", frame(completion(43, -1, 0)), 43, -32602),
    ("completion at character 2**40", frame(completion(44, 0, 2**40)), 44, -32602),
    ("completion without a position", frame({"id": 45, "method": "textDocument/completion",
                                             "params": {"textDocument": {"uri": URI}}}), 45, -32602),
]


@pytest.mark.parametrize("sent, msg_id, code", [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_what_cannot_be_used_is_an_error_response_and_the_next_is_answered(server, sent, msg_id, code):
    server.log()
    server.send(sent, completion(60, 0, 8))
    refused = server.message()
    assert refused["id"] == msg_id and refused["error"]["code"] == code, refused
    after = server.answer(60)
    assert "sleeps" in [item["label"] for item in after["result"]["items"]], after  # (not shut down)
    log = server.log()
    assert len(log.splitlines()) == 1 and "Traceback" not in log, log


def test_a_notification_with_invalid_params_is_one_line_in_the_log(server):
    server.log()
    at = {"line": -1, "character": 0}
    server.send({"method": "textDocument/didChange", "params": {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [{"range": {"start": at, "end": at}, "text": "x"}]}}, completion(61, 0, 8))
    assert server.answer(61)["result"]["items"][0]["textEdit"]["range"]["end"] == {"line": 0, "character": 8}
    log = server.log()
    assert len(log.splitlines()) == 1 and "didChange" in log and "Traceback" not in log, log


def test_a_method_the_server_does_not_know(server):
    server.log()
    unknown = "nextword/unknown"
    server.send({"id": 66, "method": unknown}, {"method": unknown}, completion(67, 0, 8))
    assert server.answer(66)["error"]["code"] == -32601  # (params left out, as JSON-RPC allows)
    assert server.answer(67)["result"]["items"]
    assert "Traceback" not in server.log()


def test_positions_outside_the_document_and_a_lone_surrogate(server):
    server.log()
    server.send(completion(62, 0, 1_000_000), completion(63, 1, 0), completion(64, 7, 0))
    past_the_end = server.answer(62)["result"]["items"]  # LSP: a character past the end is the end
    assert past_the_end and all(item["textEdit"]["range"]["end"] == {"line": 0, "character": 8}
                                for item in past_the_end)
    assert server.answer(63)["result"] is None  # no line 1 in "The cat " (no line break)
    assert server.answer(64)["result"] is None

    uri = URI + ".surrogate"
    text = b'"A dog \\ud800 ba"'  # JSON allows a lone surrogate; Python's text cannot encode it
    opened = json.dumps(did_open(uri, "") | {"jsonrpc": "2.0"}).encode().replace(b'""', text)
    server.send(body(opened), completion(65, 0, 10, uri))
    items = server.answer(65)["result"]["items"]
    assert items and items[0]["textEdit"]["range"]["start"] == {"line": 0, "character": 8}  # "ba"
    assert server.log() == ""


def test_garbage_before_initialize_after_shutdown_and_at_the_end(model_dir):
    server = Server(model_dir)
    server.send(b"Content-Length: abc\r\n\r\n{}", b"{" * 200_000, server.init)  # (skipped as one)
    assert server.message()["error"]["code"] == -32700
    assert "capabilities" in server.answer(1)["result"]
    server.send({"id": 2, "method": "shutdown"}, completion(3, 0, 0))
    assert server.answer(2)["result"] is None
    assert server.answer(3)["error"]["code"] == -32600  # (pygls answered nothing after shutdown)
    server.send(b"X" * 100_000)  # and the input ends inside what is skipped
    server.proc.stdin.close()
    assert server.message()["error"]["code"] == -32700
    assert server.proc.wait(timeout=WAIT) == 0
    log = server.log()
    assert len(log.splitlines()) == 3 and "Traceback" not in log, log


def test_framing_whatever_the_reads_cut(monkeypatch):
    """The same stream, read a byte at a time and all at once: the same bodies and losses
    (a header, a marker to resynchronise on, cut anywhere)."""
    import asyncio

    from nextword.frontends import lsp_io

    monkeypatch.setattr(lsp_io, "MAX_BODY", 100)
    good = [b'{"n": %d}' % n for n in range(4)]
    last = b"Content-Type: a\r\ncontent-length:  %d \n\n" % len(good[3]) + good[3]
    stream = b"".join([body(good[0]), b"\r\n", b"Content-Length: x\r\n\r\n{}", body(good[1]),
                       b"Content-Length: 101\r\n\r\n" + b"[" * 101, body(good[2]), b"junk" * 400, last,
                       b"Content-Len"])

    async def frames(step: int) -> list:
        chunks = [stream[i:i + step] for i in range(0, len(stream), step)] + [b""]

        async def read() -> bytes:
            return chunks.pop(0)
        framing, found = lsp_io.Framing(read), []
        while (item := await framing.next()) is not None:
            found.append(item if isinstance(item, bytes) else "lost")
        return found

    expected = [good[0], "lost", good[1], "lost", good[2], "lost", good[3]]
    for step in (1, 7, len(stream)):
        assert asyncio.run(frames(step)) == expected, step
