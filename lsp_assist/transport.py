"""LSP over stdio, read on the event loop itself.

pygls reads stdin through a thread pool: every header line and every body is a hop to a worker
thread and back, several per message, and two messages per keystroke (the change and the
request). Reading the pipe with asyncio's own `StreamReader` saves that hop — about a millisecond
per keystroke on a 2-core machine. A stdin that asyncio cannot watch (a file, `/dev/null`, a
terminal) is read by a thread of its own into the same `StreamReader`. The stream is cut into
messages by `framing.py` rather than by pygls's `run_async`, which cannot find its way back
after a wrong `Content-Length` and reads any length it is told into memory.

A session ends in one of two ways, and both take the same path: the client sends `exit`, or the
client is gone (stdin reaches its end, or stdout is closed). The server's shutdown path then
runs, unless the client's `shutdown` already ran it, and the process exits: after `exit`, 0 if
`shutdown` came first and 1 otherwise (LSP); when the client is gone, 0. The editor's process
dying (`parent_watch.py`) counts as an `exit`: 1, unless `shutdown` came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from pygls.lsp.server import LanguageServer

from lsp_assist.framing import MessageReader
from lsp_assist.lsp.protocol import AssistProtocol

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024


def _is_watchable(fd: int) -> bool:
    """Pipes and sockets; not files, nor character devices (`/dev/null` cannot be polled)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _read_in_thread(fd: int, reader: asyncio.StreamReader) -> None:
    """Feeds `reader` from blocking reads of `fd`. A daemon thread: a read that never returns
    (a terminal) must not keep the process alive once the session is over."""
    loop = asyncio.get_running_loop()

    def pump() -> None:
        try:
            while chunk := os.read(fd, READ_CHUNK):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
        except OSError as exc:
            log.debug("reading stdin failed: %s", exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the session is over
            loop.call_soon_threadsafe(reader.feed_eof)

    threading.Thread(target=pump, name="lsp-assist-stdin", daemon=True).start()


async def _stdin_reader(stdin: BinaryIO) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    if _is_watchable(stdin.fileno()):
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
            return reader
        except (OSError, ValueError) as exc:
            log.debug("stdin cannot be watched (%s): reading it in a thread", exc)
    _read_in_thread(stdin.fileno(), reader)
    return reader


async def _receive(reader: MessageReader, protocol: AssistProtocol) -> None:
    while (frame := await reader.read()) is not None:
        protocol.receive(frame)
        # A request's handler is a task: it must start, and take its snapshot of the document,
        # before the next message is handled. Messages already read would otherwise all be
        # handled first, and an edit sent right after the request would land in its snapshot.
        await asyncio.sleep(0)


class _ClientWriter:
    """stdout, where a closed pipe means the client is gone. (pygls would re-raise
    `BrokenPipeError` inside whichever handler was answering.)"""

    def __init__(self, stdout: BinaryIO, on_lost: Callable[[], None]) -> None:
        self._stdout = stdout
        self._on_lost = on_lost
        self._lost = False

    def write(self, data: bytes) -> None:
        if self._lost:
            return
        try:
            self._stdout.write(data)
            self._stdout.flush()
        except (OSError, ValueError) as exc:  # ValueError: stdout was closed
            log.debug("writing to the client failed: %s", exc)
            self._lost = True
            # What is left in the buffer must not fail again when the interpreter exits.
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stdout.fileno())
                os.close(devnull)
            self._on_lost()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stdout.close()


async def serve(server: LanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Serves one session; returns the exit code."""
    protocol = server.protocol
    assert isinstance(protocol, AssistProtocol)
    ended: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def end(code: int | None) -> None:
        if not ended.done():
            ended.set_result(code)

    protocol.on_exit = end
    protocol.set_writer(_ClientWriter(stdout, on_lost=lambda: end(None)))
    reading = asyncio.create_task(_receive(MessageReader(await _stdin_reader(stdin)), protocol))
    either: list[asyncio.Future[Any]] = [reading, ended]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    code = ended.result() if ended.done() else None
    if code is None:  # no `exit`: the client is gone
        if reading.done() and reading.exception() is not None:
            log.error("reading the client's messages failed", exc_info=reading.exception())
        # A client that closes the pipe has ended the session as surely as one that says
        # `exit` after `shutdown` (editors often just close it): not a failure.
        code = 0
        log.info("the client is gone%s", "" if protocol.shutdown_requested else ": shutting down")
    reading.cancel()
    await protocol.finish_shutdown()
    return code


def serve_stdio(server: LanguageServer) -> None:
    """Serves until the client sends `exit` or goes away, then exits the process."""
    code = 1
    try:
        code = asyncio.run(serve(server, sys.stdin.buffer, sys.stdout.buffer))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()  # pygls's part: its thread pool
    sys.exit(code)
