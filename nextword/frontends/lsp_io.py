"""The language server's transport: LSP's base protocol (header lines, then a JSON body) read
with every size bounded, and every message that cannot be used answered or logged in one
line, never with a traceback.

pygls's own loop (pygls.io_.run_async) reads a header line with asyncio's readline, whose
64 KiB limit ended the server on a longer line or on a large body sent without headers; it
took `Content-Length: abc` for no header at all and then lost the framing for good; it
logged a traceback for a body that is not JSON, and for a request whose params are not of
its method's types (a position at line -1) it logged 260 lines and answered nothing, so
that the client waited for that id forever. Here:

- a header line is at most MAX_HEADER_LINE bytes, a body at most MAX_BODY; input that is
  not a message (a line too long, a Content-Length that is not a length, a body without
  headers) is answered with ParseError and skipped up to the next `Content-Length:` header
  line (which the JSON of a skipped body cannot hold: JSON has no raw line breaks in strings);
- a body that is not JSON: ParseError (-32700); JSON that is not a JSON-RPC 2.0 message, or
  is nested deeper than MAX_DEPTH: InvalidRequest (-32600); a request whose params are not
  of its method's types: InvalidParams (-32602); a request after `shutdown`: InvalidRequest.
  The error carries the request's id, or null where it cannot be known (as JSON-RPC says);
  a notification (no id) that cannot be used is one line in the log and no answer;
- a lone surrogate in a string (a "\\ud800" escape: JSON allows it, Python's text does not
  survive it) becomes U+FFFD, one UTF-16 unit as it was, so positions stay as the client
  counts them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cattrs
from lsprotocol import types
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage
from pygls.protocol.language_server import LanguageServerProtocol

MAX_HEADER_LINE = 1024  # "Content-Length: 67108864" is 24 bytes; a Content-Type about 60
MAX_HEADERS = 16  # header lines in one message
MAX_BODY = 64 * 2**20  # a 64 MiB document, opened whole, as JSON
MAX_DEPTH = 64  # JSON nesting: LSP's own messages go about 8 deep
CHUNK = 256 * 1024

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602

# Where a message starts again after input that is not one (anywhere, not only at a line's
# start: a body ends without a line break, and the next header follows at once).
_HEADER = re.compile(rb"Content-Length:[ \t]*[0-9]{1,20}[ \t]*\r?\n", re.IGNORECASE)
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header's name (as HTTP's)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")

log = logging.getLogger("nextword.frontends.lsp")


@dataclass(frozen=True)
class Lost:
    """Input that is not a message, skipped: why."""

    why: str


class Framing:
    """Messages' bodies from a byte stream (`read`: the next chunk, b"" at its end)."""

    def __init__(self, read: Callable[[], Awaitable[bytes]]):
        self._read = read
        self._buffer = bytearray()
        self._eof = False
        self._skipping = False

    async def _more(self) -> bool:
        if not self._eof:
            chunk = await self._read()
            self._buffer += chunk
            self._eof = not chunk
        return not self._eof

    async def next(self) -> bytes | Lost | None:
        """The next message's body; a Lost for input that is not a message (skipped, up to
        the next header, on the next call); None at the end of the input (inside a message
        too: the client is gone)."""
        if self._skipping and not await self._skip():
            return None
        length, lines = None, 0
        while True:
            end = self._buffer.find(b"\n", 0, MAX_HEADER_LINE + 1)
            while end < 0 and len(self._buffer) <= MAX_HEADER_LINE:
                if not await self._more():
                    return None
                end = self._buffer.find(b"\n", 0, MAX_HEADER_LINE + 1)
            if end < 0:
                return self._lost(f"a header line longer than {MAX_HEADER_LINE} bytes")
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            if not line:
                del self._buffer[: end + 1]
                if length is not None:
                    break
                if lines:
                    return self._lost("a message without Content-Length")
                continue  # a blank line between messages
            lines += 1
            name, colon, value = line.partition(b":")
            if not (colon and _TOKEN.fullmatch(name)) or lines > MAX_HEADERS:
                # (left in place: a header may follow in the same line, after a body sent bare)
                return self._lost(f"not a header: {_show(line)}" if lines <= MAX_HEADERS
                                  else f"more than {MAX_HEADERS} header lines")
            if name.lower() == b"content-length":
                value = value.strip()
                if not (value.isdigit() and len(value) <= 20):
                    return self._lost(f"Content-Length {_show(value)} is not a length")
                length = int(value)
            del self._buffer[: end + 1]
        if length > MAX_BODY:
            return self._lost(f"a message of {length:,} bytes (at most {MAX_BODY:,})")
        while len(self._buffer) < length:
            if not await self._more():
                return None
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def _lost(self, why: str) -> Lost:
        self._skipping = True
        return Lost(why)

    async def _skip(self) -> bool:
        """Drop input up to the next Content-Length header line; False at the end."""
        del self._buffer[:1]  # (what was refused, if it was left in place, is not taken again)
        while (found := _HEADER.search(self._buffer)) is None:
            del self._buffer[: max(0, len(self._buffer) - MAX_HEADER_LINE)]  # (a header cut in two)
            if not await self._more():
                return False
        del self._buffer[: found.start()]
        self._skipping = False
        return True


def _show(data: bytes, most: int = 40) -> str:
    text = repr(data[:most])[1:]
    return text + ("…" if len(data) > most else "")


class TooDeep(ValueError):
    pass


def _check_depth(value, depth: int = 0) -> None:
    """TooDeep if `value` (parsed JSON) nests deeper than MAX_DEPTH."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return
    if depth >= MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH}")
    for item in value:
        _check_depth(item, depth + 1)


def _without_surrogates(value):
    """`value` (parsed JSON) with each lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


class Protocol(LanguageServerProtocol):
    """pygls's protocol, fed one body at a time by `receive`, which answers what it cannot
    use with an error response instead of a traceback in the log."""

    def receive(self, body: bytes) -> None:
        try:
            text = body.decode("utf-8", "replace")
            data = json.loads(text)
        except RecursionError:
            return self.refuse(None, INVALID_REQUEST, f"a message nested deeper than {MAX_DEPTH}")
        except ValueError as exc:
            return self.refuse(None, PARSE_ERROR, f"a message that is not JSON ({exc})")
        has_id = isinstance(data, dict) and "id" in data
        msg_id = data.get("id") if has_id else None
        if not isinstance(msg_id, (int, str)) or isinstance(msg_id, bool):
            msg_id = None
        method = data.get("method") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or (has_id and msg_id is None)
                or not (isinstance(method, str) or (has_id and ("result" in data or "error" in data)))):
            return self.refuse(msg_id, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        try:
            if text.count("[") + text.count("{") > MAX_DEPTH:  # (else it cannot be: a keystroke's)
                _check_depth(data)
        except TooDeep as exc:
            return self.refuse(msg_id, INVALID_REQUEST, f"a message {exc}")
        if _SURROGATE_ESCAPE.search(text):  # (and a pair, which json has made one character)
            data = _without_surrogates(data)
        request = method is not None and has_id
        if request and self._shutdown and method != types.EXIT:
            return self.refuse(msg_id, INVALID_REQUEST, f"{method} after shutdown")
        try:
            message = self.structure_message(data)
        except Exception as exc:  # cattrs's errors, or what a converter raises on odd input
            why = f"invalid params for {method}" if method else "an invalid response"
            why = f"{why}: {_why(exc)}"
            if request:
                return self.refuse(msg_id, INVALID_PARAMS, why)
            log.error("%s", why)  # a notification, or the client's answer: nobody to tell
            return
        self.handle_message(message)

    def refuse(self, msg_id: int | str | None, code: int, why: str) -> None:
        """One line in the log and, to a request or a message that may have been one, an
        error response."""
        log.error("%s", why if msg_id is None else f"request {msg_id!r}: {why}")
        error = {"code": code, "message": f"nextword: {why}"}
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})  # (id null: not omitted)

    def structure_message(self, data: dict):
        """pygls's (an object_hook: what is not a message is returned as it is), without
        its traceback in the log: the caller says what was wrong."""
        if "jsonrpc" not in data:
            return data
        if "id" in data and "error" in data:
            kind = types.ResponseErrorMessage
        elif "id" in data and "method" in data:
            kind = self.get_message_type(data["method"]) or JsonRPCRequestMessage
        elif "id" in data:
            kind = self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
        else:
            kind = self.get_message_type(data.get("method", "")) or JsonRPCNotification
        if kind in (JsonRPCRequestMessage, JsonRPCNotification) and "params" not in data:
            data = {**data, "params": None}  # (JSON-RPC's params may be left out: then pygls's
            # answer to a method it does not know, MethodNotFound, not a TypeError here)
        return self._converter.structure(data, kind)


def _why(exc: Exception) -> str:
    try:
        reasons = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
    except Exception:  # (its own walk, on an odd error)
        reasons = []
    text = "; ".join(reasons) or f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:300] + "…"


async def serve(read: Callable[[], Awaitable[bytes]], protocol: Protocol) -> None:
    """Read messages and hand them to `protocol` until the input ends (or a handler ends
    the loop with SystemExit)."""
    framing = Framing(read)
    while (body := await framing.next()) is not None:
        if isinstance(body, Lost):
            protocol.refuse(None, PARSE_ERROR, f"input skipped: {body.why}")
        else:
            protocol.receive(body)
