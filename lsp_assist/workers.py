"""The off-the-loop lane: heavy work runs here, never on the loop that answers keystrokes.

One worker thread runs whole-file parses, learning, review unit scans and state-file writes,
one job at a time, in the order they were asked for. A thread rather than a process: the
results (syntax trees, counts) live in this process, and a process hop would copy them.

The catch is the GIL. tree-sitter's `parse` of a byte string holds it for the whole parse
(0.7 s for a 3.7 MB file, measured on this 2-core machine: the loop got the GIL twice in that
time). Parsing through a read callback, with a progress callback, runs a little Python every
few hundred parser steps, and that is where the interpreter hands the GIL back: the loop then
waits at most a switch interval (p50 3–6 ms, worst ~45 ms at the end of a 3.7 MB parse) —
`parse_yielding` does that for sources too big to parse in one go. Python-heavy jobs (counting
tokens) yield on their own every switch interval.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tree_sitter

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

PARSE_AT_ONCE_BYTES = 128 * 1024
"""Up to this size a parse holds the GIL for at most ~25 ms: parse the bytes in one go. Larger
sources are parsed through callbacks, which let the loop in but cost memory (below)."""


def parse_yielding(
    parser: tree_sitter.Parser, source: bytes, old_tree: tree_sitter.Tree | None = None
) -> tree_sitter.Tree:
    """`parser.parse(source, old_tree)`, letting other threads run while a big source parses.

    py-tree-sitter 0.26 keeps three references to every object the read callback returns, so
    what it reads is never freed (measured: 1.2 MB per parse of a 1 MB source in 64 kB reads,
    0.65 MB when each read returns the rest of the source, nothing for a plain parse). Hence
    the plain parse for small sources, and reads of the whole rest for big ones.
    """
    if len(source) <= PARSE_AT_ONCE_BYTES:
        return parser.parse(source, old_tree) if old_tree is not None else parser.parse(source)

    def read(byte: int, _point: tuple[int, int]) -> bytes:
        return source[byte:]

    def keep_going(*_state: object) -> bool:
        return False  # never cancel: being called is what lets the loop have the GIL

    if old_tree is None:
        return parser.parse(read, progress_callback=keep_going)
    return parser.parse(read, old_tree, progress_callback=keep_going)


class BackgroundWorker:
    """Runs jobs one at a time in a thread of their own; `await worker.run(f, *args)`."""

    def __init__(self, name: str = "lsp-assist-worker") -> None:
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=self._name
            )
        return self._executor

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, function, *args, **kwargs)
        return await loop.run_in_executor(self._pool(), call)

    def submit(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Fire and forget (e.g. a state-file write); failures are logged."""

        def logged() -> None:
            try:
                function(*args, **kwargs)
            except Exception:
                log.exception("background job %s failed", getattr(function, "__name__", function))

        self._pool().submit(logged)

    def close(self, wait: bool = True) -> None:
        """Lets queued jobs finish (a pending state write must land), then stops."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=not wait)
            self._executor = None
