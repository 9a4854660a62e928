"""One document's review runs: one at a time, requests coalesced, every request answered.

A request while a run is going asks for one more run afterwards; several such requests share
that one run, with the widest scope asked for ("all" covers "git" covers "changed" covers
"cached"). Each request's future resolves with the stats of the first run that started after
it was made (or fails with its error, or is cancelled when the document closes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

log = logging.getLogger(__name__)

Scope = Literal["changed", "all", "git", "cached"]
"""Which units a run reviews: those changed since their last review, all of them, those that
differ from git HEAD, or only what the answer cache already knows (no model call)."""

SCOPE_RANK: dict[Scope, int] = {"cached": 0, "changed": 1, "git": 2, "all": 3}

T = TypeVar("T")


class DocumentRuns(Generic[T]):
    def __init__(self, name: str, run: Callable[[Scope], Awaitable[T]]) -> None:
        self._name = name
        self._run = run
        self._pending: Scope | None = None
        self._waiters: list[asyncio.Future[T]] = []
        self.runner: asyncio.Task[None] | None = None

    def request(self, scope: Scope) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiters.append(future)
        if self._pending is None or SCOPE_RANK[scope] > SCOPE_RANK[self._pending]:
            self._pending = scope
        if self.runner is None or self.runner.done():
            self.runner = loop.create_task(self._drain())
        return future

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()

    async def _drain(self) -> None:
        while self._pending is not None:
            scope, self._pending = self._pending, None
            waiters, self._waiters = self._waiters, []
            try:
                result = await self._run(scope)
            except asyncio.CancelledError:
                for waiter in waiters + self._waiters:
                    waiter.cancel()
                raise
            except Exception as exc:
                log.exception("review of %s failed", self._name)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(result)
