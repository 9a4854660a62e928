"""When review's state files are written: in the worker, never on the loop.

Serialising a 5,000-answer cache and writing it costs milliseconds to tens of milliseconds;
on the loop that would be a stalled keystroke. The answer cache is written a moment after it
last changed (a run puts several answers in a row), a dismissal at once; `flush` writes what
is still unwritten and waits for it, for shutdown.
"""

from __future__ import annotations

import asyncio

from lsp_assist.review.store import Dismissals, ReviewCache
from lsp_assist.workers import BackgroundWorker

CACHE_SAVE_DELAY_S = 1.0


class StateWrites:
    def __init__(
        self, worker: BackgroundWorker, cache: ReviewCache, dismissals: Dismissals
    ) -> None:
        self._worker = worker
        self._cache = cache
        self._dismissals = dismissals
        self._cache_timer: asyncio.TimerHandle | None = None
        self._cache_dirty = False

    def cache_changed(self) -> None:
        self._cache_dirty = True
        if self._cache_timer is not None:
            self._cache_timer.cancel()
        self._cache_timer = asyncio.get_running_loop().call_later(
            CACHE_SAVE_DELAY_S, self._write_cache
        )

    def _write_cache(self) -> None:
        self._cache_timer = None
        self._cache_dirty = False
        self._worker.submit(self._cache.writer())

    def dismissals_changed(self) -> None:
        self._worker.submit(self._dismissals.writer())

    async def flush(self) -> None:
        """Writes the cache if it has unwritten answers, and waits for every write queued
        so far (dismissals included) to be on disk."""
        if self._cache_timer is not None:
            self._cache_timer.cancel()
            self._cache_timer = None
        if self._cache_dirty:
            self._cache_dirty = False
            await self._worker.run(self._cache.writer())
        else:
            await self._worker.run(_nothing)


def _nothing() -> None:
    """A job that ends once every job queued before it has (the worker runs them in order)."""
