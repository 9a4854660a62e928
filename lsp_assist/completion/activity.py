"""When completions are busy: reviews wait for a quiet moment and give way to keystrokes.

Completions and reviews share one model server (and, on a CPU, the same cores). A review
starts only when no completion has run for a short while, and a completion that starts
while a review call is in flight makes that call stop (it is asked again afterwards).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any


class CompletionActivity:
    def __init__(self) -> None:
        self._live = 0
        self._last = -math.inf
        self._changed: asyncio.Event | None = None
        self._on_start: list[Callable[[], None]] = []

    @property
    def busy(self) -> bool:
        return self._live > 0

    def generation_started(self, task: asyncio.Future[Any]) -> None:
        self._live += 1
        self._last = time.monotonic()
        task.add_done_callback(self._generation_ended)
        for callback in list(self._on_start):
            callback()
        self._poke()

    def _generation_ended(self, _task: object) -> None:
        self._live -= 1
        self._last = time.monotonic()
        self._poke()

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def on_start(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls `callback` when a generation starts; returns the unsubscribe function."""
        self._on_start.append(callback)
        return lambda: self._on_start.remove(callback)

    async def wait_quiet(self, quiet_s: float) -> None:
        """Returns once no generation is live and none has run for `quiet_s` seconds."""
        while True:
            remaining: float | None = None
            if self._live == 0:
                remaining = self._last + quiet_s - time.monotonic()
                if remaining <= 0:
                    return
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:  # not yet the builtin on 3.10
                pass
