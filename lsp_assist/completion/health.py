"""Is the model server answering? After it could not be reached, completions come from the
offline engine, and the server is probed again with growing pauses (1 s, 2 s, 4 s … up to a
minute) until it answers — then the model takes over again, and the user is told so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

FIRST_RECHECK_S = 1.0
MAX_RECHECK_S = 60.0


class BackendHealth:
    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        on_back: Callable[[], None],
        *,
        first_delay_s: float = FIRST_RECHECK_S,
        max_delay_s: float = MAX_RECHECK_S,
    ) -> None:
        self._probe = probe
        self._on_back = on_back
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self.reachable = True
        self._recheck: asyncio.Task[None] | None = None

    def mark_unreachable(self) -> None:
        if not self.reachable:
            return
        self.reachable = False
        log.info("model server unreachable: the offline engine serves; re-checking with backoff")
        self._recheck = asyncio.get_running_loop().create_task(self._wait_until_back())

    def mark_reachable(self) -> None:
        """The model server answered some request: no need to keep probing."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if not self.reachable:
            self.reachable = True
            self._on_back()

    async def _wait_until_back(self) -> None:
        delay = self._first_delay_s
        while True:
            await asyncio.sleep(delay)  # a backoff between probes, not a wait for an event
            try:
                answered = await self._probe()
            except Exception:  # a probe that fails in any way means: not back yet
                log.debug("model server probe failed", exc_info=True)
                answered = False
            if answered:
                self._recheck = None
                self.reachable = True
                self._on_back()
                return
            delay = min(delay * 2, self._max_delay_s)

    async def close(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck
            self._recheck = None
