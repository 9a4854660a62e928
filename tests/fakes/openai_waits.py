"""Waits on the fake vLLM's counters, woken by the events that change them, never by polling.

The server runs on its own thread and loop; a test waits either on its thread (`wait`) or on its
own event loop (`wait_async`). Whoever changes a counter calls `notify()` with the lock held;
that wakes the blocked threads and resolves each async waiter whose count is reached, on the
waiter's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

Count = Callable[[], int]  # read with the lock held


@dataclass(eq=False)
class _AsyncWaiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int]
    count: Count
    n: int


def _resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


class Waits:
    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._changed = threading.Condition(lock)
        self._async_waiters: list[_AsyncWaiter] = []

    def notify(self) -> None:
        """A counter changed (call with the lock held)."""
        self._changed.notify_all()
        waiting = []
        for waiter in self._async_waiters:
            value = waiter.count()
            if value < waiter.n:
                waiting.append(waiter)
                continue
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future, value)
        self._async_waiters = waiting

    def wait(self, count: Count, n: int, timeout: float, what: str) -> int:
        """Blocks until `count() >= n`; returns it. Raises TimeoutError naming `what`."""
        with self._changed:
            if not self._changed.wait_for(lambda: count() >= n, timeout):
                raise TimeoutError(f"fake vLLM saw {count()} of {n} {what} in {timeout} s")
            return count()

    async def wait_async(self, count: Count, n: int, timeout: float, what: str) -> int:
        """`wait` for any event loop."""
        loop = asyncio.get_running_loop()
        waiter = _AsyncWaiter(loop, loop.create_future(), count, n)
        with self._lock:
            if (value := count()) >= n:
                return value
            self._async_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            with self._lock:
                seen = count()
            raise TimeoutError(f"fake vLLM saw {seen} of {n} {what} in {timeout} s") from None
        finally:
            with self._lock:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)
