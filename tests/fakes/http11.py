"""A minimal HTTP/1.1 server connection on asyncio streams, for the fake Ollama.

Hand-written rather than built on an HTTP framework because the fake must decide exactly when
bytes reach the wire: Ollama withholds even the response headers until the first token exists,
frames streams with chunked encoding (or, in fault scenarios, breaks that framing), and must
notice a client that hangs up *between* two tokens, when nothing is being written.

One `HttpConnection` serves the requests of one keep-alive TCP connection, one at a time (httpx
does not pipeline). Reads go through our own buffer so that a watcher task can read ahead while
a response is being produced: it sees EOF the moment the client closes, and anything else it
reads stays buffered for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 64 * 1024
# Go's net/http sends a body that the handler wrote in one go with Content-Length only when it
# fits its 2048-byte pre-chunking buffer; anything bigger goes out chunked.
GO_PRE_CHUNKING_BUFFER = 2048


class ClientGone(Exception):
    """The client closed or reset the connection, or a write to it failed."""


class BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.1 request we can parse."""


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    arrived_ns: int = 0
    """perf_counter_ns() when the request head had arrived (Go's handler clock starts then)."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status code {status}"  # what Go writes for codes it has no text for (499)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = bytearray()
        self._eof = False
        self._gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._pending_head = b""  # headers of a chunked response, sent with its first chunk
        self._close_after_response = False
        self.closed = False  # we closed it; no further requests are read

    # -- state -------------------------------------------------------------------------------

    @property
    def gone(self) -> bool:
        """The client hung up (EOF, reset or failed write)."""
        return self._gone.is_set()

    async def hung_up(self) -> None:
        """Returns once the client has hung up."""
        await self._gone.wait()

    async def wait_until(self, deadline: float) -> bool:
        """Waits until loop time `deadline`. False if the client hung up before (or by) then."""
        if self.gone:
            return False
        delay = deadline - asyncio.get_running_loop().time()
        if delay <= 0:
            await asyncio.sleep(0)
            return not self.gone
        try:
            await asyncio.wait_for(self._gone.wait(), delay)
        except asyncio.TimeoutError:
            return True
        return False

    # -- reading -----------------------------------------------------------------------------

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            data = await self._reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self._eof = True
            self._gone.set()
            return False
        self._buffer += data
        return True

    async def _read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise BadRequest("line too long")
            if not await self._fill():
                raise ClientGone
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise ClientGone
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_request(self) -> HttpRequest | None:
        """The next request, or None if the client closed the connection between requests."""
        while self._buffer[:2] == b"\r\n":  # RFC 9112 §2.2: ignore empty lines before a request
            del self._buffer[:2]
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise BadRequest("request head too large")
            if not await self._fill():
                return None
        arrived_ns = time.perf_counter_ns()
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(f"bad request line {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise BadRequest(f"bad header line {line!r}")
            key, value = name.lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body = await self._read_body(headers)
        request = HttpRequest(parts[0], parts[1], parts[2], headers, body, arrived_ns)
        self._close_after_response = not request.keep_alive
        return request

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size_field = (await self._read_line()).split(b";", 1)[0].strip()
                try:
                    size = int(size_field, 16)
                except ValueError:
                    raise BadRequest("bad chunk size") from None
                if size == 0:
                    while await self._read_line():  # trailer fields, ignored
                        pass
                    return bytes(body)
                body += await self._read_exactly(size)
                if await self._read_line() != b"":
                    raise BadRequest("chunk not followed by CRLF")
        length = headers.get("content-length")
        if length is None:
            return b""
        if not length.isdigit():
            raise BadRequest("bad Content-Length")
        return await self._read_exactly(int(length))

    # -- watching for a hang-up while a response is produced ---------------------------------

    def watch_for_hangup(self) -> None:
        """Until `stop_watching`, keep reading so that EOF is seen even while nothing is written."""
        if self._watcher is None and not self._eof:
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while await self._fill():
            if len(self._buffer) > MAX_HEAD_BYTES:  # a pipelining client: stop reading ahead
                return

    async def stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()  # a cancelled StreamReader.read() loses no data
            await asyncio.wait([watcher])

    # -- writing -----------------------------------------------------------------------------

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        headers = [*headers, ("Date", email.utils.formatdate(usegmt=True))]
        if self._close_after_response:
            headers.append(("Connection", "close"))
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{name}: {value}" for name, value in sorted(headers)]  # Go sorts header keys
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, data: bytes) -> None:
        if self.gone or self.closed or self._writer.is_closing():
            self._gone.set()
            raise ClientGone
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._gone.set()
            raise ClientGone from exc

    async def send_response(
        self, status: int, body: bytes, content_type: str, *, head_only: bool = False
    ) -> None:
        """A whole response at once: Content-Length if small, else chunked (as Go does)."""
        if len(body) > GO_PRE_CHUNKING_BUFFER and not head_only:
            self.begin_chunked(status, content_type)
            await self.send_chunk(body, last=True)
            return
        head = self._head(
            status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        await self._send(head if head_only else head + body)

    def begin_chunked(self, status: int, content_type: str) -> None:
        """Prepares a chunked response; its headers go out only with the first chunk."""
        self._pending_head = self._head(
            status, [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
        )

    async def send_chunk(self, data: bytes, *, last: bool = False) -> None:
        """One chunk (and with `last`, the terminating chunk in the same write)."""
        head, self._pending_head = self._pending_head, b""
        await self._send(head + _chunk(data) + (b"0\r\n\r\n" if last else b""))

    def hang_up(self) -> None:
        """Closes the socket now, whatever state the response is in (a FIN, not a reset)."""
        self.closed = True
        with contextlib.suppress(Exception):
            self._writer.close()

    @property
    def close_after_response(self) -> bool:
        return self._close_after_response
