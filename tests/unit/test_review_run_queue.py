"""One run at a time per document: requests made during a run share the next one, with the
widest scope asked for, and every request is answered."""

from __future__ import annotations

import asyncio

import pytest

from lsp_assist.review.run_queue import DocumentRuns, Scope


class Runs:
    """A run function that records its scopes and ends when the test says so."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.ends: list[asyncio.Future[str]] = []
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope) -> str:
        self.scopes.append(scope)
        end: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.ends.append(end)
        self.started.set()
        return await end

    async def next_start(self) -> None:
        await self.started.wait()
        self.started.clear()


async def test_requests_during_a_run_share_one_more_run_with_the_widest_scope() -> None:
    runs = Runs()
    queue = DocumentRuns("file:///a.py", runs)
    first = queue.request("changed")
    await runs.next_start()
    second = queue.request("cached")
    third = queue.request("all")
    fourth = queue.request("git")
    runs.ends[0].set_result("one")
    assert await first == "one"
    await runs.next_start()
    runs.ends[1].set_result("two")
    assert [await second, await third, await fourth] == ["two", "two", "two"]
    assert runs.scopes == ["changed", "all"]


async def test_a_failed_run_fails_its_requests_and_the_queue_goes_on() -> None:
    runs = Runs()
    queue = DocumentRuns("file:///a.py", runs)
    failing = queue.request("changed")
    await runs.next_start()
    later = queue.request("changed")
    runs.ends[0].set_exception(RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        await failing
    await runs.next_start()
    runs.ends[1].set_result("fine")
    assert await later == "fine"


async def test_cancelling_the_queue_cancels_every_request() -> None:
    runs = Runs()
    queue = DocumentRuns("file:///a.py", runs)
    running = queue.request("changed")
    await runs.next_start()
    waiting = queue.request("all")
    queue.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert waiting.cancelled()
