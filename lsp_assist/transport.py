"""LSP over stdio, read on the event loop itself.

pygls reads stdin through a thread pool: every header line and every body is a hop to a worker
thread and back, several per message, and two messages per keystroke (the change and the
request). Reading the pipe with asyncio's own `StreamReader` saves that hop — about a millisecond
per keystroke on a 2-core machine. pygls's message loop (`run_async`) is used as it is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading

from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


def _is_pipe_like(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


async def _serve(server: LanguageServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    stop = threading.Event()
    server._stop_event = stop  # pygls's shutdown() sets it
    await run_async(
        stop_event=stop,
        reader=reader,
        protocol=server.protocol,
        logger=logging.getLogger("pygls.io_"),
        error_handler=server.report_server_error,
    )


def serve_stdio(server: LanguageServer) -> None:
    """Serves until the client sends `exit` or closes stdin."""
    if not _is_pipe_like(sys.stdin.fileno()):
        server.start_io()  # e.g. stdin redirected from a file: pygls's own reader copes
        return
    code = 0
    try:
        asyncio.run(_serve(server))
    except SystemExit as exit_request:  # pygls's `exit` handler ends the process this way
        code = exit_request.code if isinstance(exit_request.code, int) else 0
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    sys.exit(code)
