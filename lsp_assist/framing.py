"""LSP's base protocol: the client's byte stream cut into JSON messages.

Each message is a header block, then exactly as many bytes as its `Content-Length` says:
`Content-Length: 52\\r\\n\\r\\n{"jsonrpc": "2.0", ...}`. Nothing else marks where a message ends,
so a client that sends a wrong length, or none, leaves the reader in the middle of someone's
JSON. pygls's reader then never finds a header again (it wants one at the start of a line,
and the next one follows a body without a line break): every later message is ignored in
silence until the pipe closes. Here:

- **Lost, then found.** A header block that cannot be read is reported once (the protocol
  answers it with a parse error) and the reader skips to the next `Content-Length:`, as
  tower-lsp does. A complete `Content-Length: N` line cannot occur inside a JSON body (JSON
  strings escape line breaks), so meeting one inside a body means the length lied: the body
  ends there, and the next message is read at once instead of after as many bytes as the lie
  said. A length a little too long swallows only the start of the next header: the JSON ends
  early, and the bytes after it are given back to be read as that header. A length too short
  cuts the JSON: a parse error, and the rest is skipped up to the next header.
- **Lenient where nothing can be misread**: header names in any case, a bare LF as line end
  (RFC 9112 §2.2 allows a recipient that), blank lines between messages.
- **Bounded.** A body over `MAX_BODY_BYTES` is not kept: it is dropped as it arrives, all but
  its first kilobytes, where editors write `id` and `method` (before `params`): a request
  refused for its size can still be answered. VS Code stops sending documents to extensions at
  50 M characters (`MODEL_SYNC_LIMIT`): only text of mostly non-ASCII characters gets from there
  over the limit. A body of 50 MB costs about three times its size while it is decoded (pygls's
  reader: five), and the memory is returned afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_HEADER_LINE = 8 * 1024
HEAD_BYTES = 64 * 1024  # kept of a refused body, to find its id
READ_CHUNK = 1024 * 1024
CONTENT_LENGTH = "content-length"

# Where a message can start, when looking for one after garbage.
_HEADER_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# A whole `Content-Length` line: proof that a body has ended before its stated length.
_HEADER_LINE = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
_OVERLAP = 64  # longer than a header line split between two reads
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

MsgId = int | str


@dataclass(frozen=True)
class Message:
    """A body that is JSON (any JSON: whether it is a JSON-RPC message is the protocol's call)."""

    value: Any


@dataclass(frozen=True)
class Unreadable:
    """Bytes that are not a message: a broken header block, a body that is not UTF-8 JSON, or
    a body refused for its size (`refused`, with the `method` and `id` found at its start)."""

    problem: str
    refused: bool = False
    method: str | None = None
    id: MsgId | None = None


Frame = Message | Unreadable


class _TooLong:
    pass


class MessageReader:
    """Frames from a stream, one at a time; None once the stream has ended."""

    def __init__(self, stream: asyncio.StreamReader, max_body: int = MAX_BODY_BYTES) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._max_body = max_body
        self._lost = False  # after a broken header block: skip to the next header
        self._warned: set[str] = set()

    async def read(self) -> Frame | None:
        if self._lost and not await self._skip_to_header():
            return None
        length = await self._header_block()
        if length is None or isinstance(length, Unreadable):
            return length
        return await self._body(length)

    # -- header block -----------------------------------------------------------------------

    async def _header_block(self) -> int | Unreadable | None:
        """The body's length, or what is wrong with the header block."""
        length: int | None = None
        seen_header = False
        while True:
            line = await self._line()
            if line is None:
                if seen_header:
                    log.info("the client's stream ended inside a header block")
                return None
            if isinstance(line, _TooLong):
                del self._buffer[:1]  # not where the next header starts
                return self._lose(f"a header line longer than {MAX_HEADER_LINE} bytes")
            text = line.rstrip(b"\r\n")
            if not text.strip():
                if seen_header:
                    break
                continue  # blank lines between messages
            name, colon, value = text.partition(b":")
            if not colon or not _TOKEN.fullmatch(name.strip()):
                self._buffer[:0] = line[1:]  # a header may start further along this line
                return self._lose(f"not a header line: {_preview(text)}")
            seen_header = True
            if name.strip().lower() == CONTENT_LENGTH.encode():
                number = value.strip()
                if not number.isdigit():
                    self._buffer[:0] = line[1:]
                    return self._lose(
                        f"Content-Length must be a number of bytes, not {_preview(number)}"
                    )
                length = int(number)
        if length is None:
            return self._lose("no Content-Length header")
        return length

    async def _line(self) -> bytes | _TooLong | None:
        while (end := self._buffer.find(b"\n", 0, MAX_HEADER_LINE + 1)) < 0:
            if len(self._buffer) > MAX_HEADER_LINE:
                return _TooLong()
            if not await self._fill():
                return None
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return line

    def _lose(self, problem: str) -> Unreadable:
        self._lost = True
        return Unreadable(problem)

    async def _skip_to_header(self) -> bool:
        """Drops bytes up to where a header starts; False if the stream ends first."""
        skipped = 0
        while (found := _HEADER_START.search(self._buffer)) is None:
            drop = max(0, len(self._buffer) - _OVERLAP)
            skipped += drop
            del self._buffer[:drop]
            if not await self._fill():
                log.debug("skipped %d bytes; the stream ended before another header", skipped)
                return False
        skipped += found.start()
        del self._buffer[: found.start()]
        self._lost = False
        log.debug("skipped %d bytes to the next header", skipped)
        return True

    # -- body -------------------------------------------------------------------------------

    async def _body(self, length: int) -> Frame | None:
        """`length` bytes, or fewer when a header turns up inside them. Over the limit, only
        the first `HEAD_BYTES` are kept."""
        refused = length > self._max_body
        head = bytearray()  # the start of a refused body
        dropped = 0  # bytes of a refused body already dropped
        scanned = 0
        while True:
            wanted = length - dropped
            cut = self._header_inside(scanned, wanted)
            if cut is not None:
                self._warn_once(
                    "long",
                    f"a message said Content-Length: {length}, but the next one began after "
                    f"{dropped + cut} bytes",
                )
                if not dropped:
                    return self._decode(cut)
                del self._buffer[:cut]
                return _refused(length, bytes(head), self._max_body)
            if len(self._buffer) >= wanted:
                if not refused:
                    return self._decode(wanted)
                head += self._buffer[: max(0, min(wanted, HEAD_BYTES - len(head)))]
                del self._buffer[:wanted]
                return _refused(length, bytes(head), self._max_body)
            if refused:
                drop = max(0, len(self._buffer) - _OVERLAP)
                head += self._buffer[: max(0, min(drop, HEAD_BYTES - len(head)))]
                dropped += drop
                del self._buffer[:drop]
            scanned = max(0, len(self._buffer) - _OVERLAP)
            if not await self._fill():
                log.info("the client's stream ended inside a message")
                return None

    def _header_inside(self, start: int, length: int) -> int | None:
        """Where a whole `Content-Length` line starts before `length`, if one does."""
        end = min(len(self._buffer), length + _OVERLAP)
        if self._buffer.find(b"\n", start, end) < 0:  # most bodies have no raw line break
            return None
        found = _HEADER_LINE.search(self._buffer, start, end)
        return found.start() if found is not None and found.start() < length else None

    def _decode(self, length: int) -> Frame:
        """The first `length` bytes of the buffer, as JSON; the bytes are dropped."""
        try:
            with memoryview(self._buffer) as view:
                text = str(view[:length], "utf-8")  # no copy of the bytes on the way
        except UnicodeDecodeError as error:
            return self._lose(f"the message is not UTF-8: {error}")
        finally:
            del self._buffer[:length]
            if length > READ_CHUNK:  # give a big body's memory back now
                self._buffer = bytearray(self._buffer)
        try:
            return Message(json.loads(text))
        except json.JSONDecodeError as error:
            if error.msg == "Extra data" and _starts_a_header(text, error.pos):
                self._buffer[:0] = text[error.pos :].encode("utf-8")
                self._warn_once("long", "a message's Content-Length was longer than its JSON")
                return Message(json.loads(text[: error.pos]))
            # The length may have been short: the next header is wherever it is.
            return self._lose(f"the message is not JSON: {error}")

    def _warn_once(self, kind: str, text: str) -> None:
        """A client that gets lengths wrong gets them wrong in every message."""
        log.log(logging.DEBUG if kind in self._warned else logging.WARNING, "%s", text)
        self._warned.add(kind)

    async def _fill(self) -> bool:
        chunk = await self._stream.read(READ_CHUNK)
        self._buffer += chunk
        return bool(chunk)


def _refused(length: int, head: bytes, limit: int) -> Unreadable:
    method, msg_id = _head_fields(head)
    mb = 1024 * 1024
    return Unreadable(
        f"a message of {length / mb:.0f} MB is over the {limit / mb:.0f} MB lsp-assist reads",
        refused=True,
        method=method,
        id=msg_id,
    )


def _head_fields(head: bytes) -> tuple[str | None, MsgId | None]:
    """`method` and `id` among the members at the start of a JSON object cut off anywhere."""
    text = head.decode("utf-8", "ignore")
    decoder = json.JSONDecoder()
    members: dict[str, Any] = {}
    pos = _skip_space(text, 0)
    if not text.startswith("{", pos):
        return None, None
    try:
        while True:
            key, pos = decoder.raw_decode(text, _skip_space(text, pos + 1))
            pos = _skip_space(text, pos)
            if not isinstance(key, str) or not text.startswith(":", pos):
                break
            members[key], pos = decoder.raw_decode(text, _skip_space(text, pos + 1))
            pos = _skip_space(text, pos)
            if not text.startswith(",", pos):
                break
    except ValueError:  # the cut, or not JSON
        pass
    method = members.get("method")
    msg_id = members.get("id")
    usable_id = isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)
    return (method if isinstance(method, str) else None), (msg_id if usable_id else None)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _starts_a_header(text: str, pos: int) -> bool:
    """Whether `text` from `pos` is the start of a `Content-Length` header (whole or cut)."""
    tail = text[pos : pos + len(CONTENT_LENGTH)].lower()
    return CONTENT_LENGTH.startswith(tail)


def _preview(data: bytes, limit: int = 40) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > limit else ""))
