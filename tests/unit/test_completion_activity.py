"""Completion activity: reviews wait for a quiet moment, and hear when a completion starts."""

from __future__ import annotations

import asyncio
import time

from lsp_assist.completion.activity import CompletionActivity

TIMEOUT_S = 5.0


async def let_the_loop_run(turns: int = 20) -> None:
    """Gives every ready task a few turns (no wall-clock waiting)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def generation(activity: CompletionActivity) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    activity.generation_started(future)
    return future


async def test_wait_quiet_returns_at_once_when_nothing_ever_ran() -> None:
    activity = CompletionActivity()
    started = time.monotonic()
    await asyncio.wait_for(activity.wait_quiet(30.0), TIMEOUT_S)
    assert time.monotonic() - started < 1.0


async def test_a_live_generation_makes_it_busy_until_it_ends() -> None:
    activity = CompletionActivity()
    assert activity.busy is False
    future = generation(activity)
    assert activity.busy is True
    future.set_result(None)
    await let_the_loop_run()
    assert activity.busy is False


async def test_a_cancelled_generation_also_ends() -> None:
    activity = CompletionActivity()
    future = generation(activity)
    future.cancel()
    await let_the_loop_run()
    assert activity.busy is False


async def test_wait_quiet_waits_while_a_generation_is_live() -> None:
    activity = CompletionActivity()
    future = generation(activity)
    waiter = asyncio.ensure_future(activity.wait_quiet(0.0))
    await let_the_loop_run()
    assert not waiter.done()
    future.set_result(None)
    await asyncio.wait_for(waiter, TIMEOUT_S)


async def test_wait_quiet_waits_for_the_quiet_period_after_the_generation_ends() -> None:
    quiet_s = 0.05
    activity = CompletionActivity()
    future = generation(activity)
    waiter = asyncio.ensure_future(activity.wait_quiet(quiet_s))
    await let_the_loop_run()
    assert not waiter.done()
    ended = time.monotonic()
    future.set_result(None)
    await asyncio.wait_for(waiter, TIMEOUT_S)
    assert time.monotonic() - ended >= quiet_s


async def test_a_generation_during_the_quiet_period_starts_it_again() -> None:
    quiet_s = 0.05
    activity = CompletionActivity()
    generation(activity).set_result(None)
    await let_the_loop_run()
    waiter = asyncio.ensure_future(activity.wait_quiet(quiet_s))
    await let_the_loop_run()
    assert not waiter.done()
    second = generation(activity)
    await let_the_loop_run()
    ended = time.monotonic()
    second.set_result(None)
    await asyncio.wait_for(waiter, TIMEOUT_S)
    assert time.monotonic() - ended >= quiet_s


async def test_several_waiters_are_all_released() -> None:
    activity = CompletionActivity()
    future = generation(activity)
    waiters = [asyncio.ensure_future(activity.wait_quiet(0.0)) for _ in range(3)]
    await let_the_loop_run()
    assert not any(w.done() for w in waiters)
    future.set_result(None)
    await asyncio.wait_for(asyncio.gather(*waiters), TIMEOUT_S)


async def test_on_start_callbacks_fire_when_a_generation_starts() -> None:
    activity = CompletionActivity()
    calls: list[str] = []
    activity.on_start(lambda: calls.append("a"))
    activity.on_start(lambda: calls.append("b"))
    generation(activity)
    assert calls == ["a", "b"]
    generation(activity)
    assert calls == ["a", "b", "a", "b"]


async def test_an_unsubscribed_callback_no_longer_fires() -> None:
    activity = CompletionActivity()
    calls: list[str] = []
    unsubscribe = activity.on_start(lambda: calls.append("a"))
    activity.on_start(lambda: calls.append("b"))
    unsubscribe()
    generation(activity)
    assert calls == ["b"]


async def test_a_callback_may_unsubscribe_itself_while_it_runs() -> None:
    activity = CompletionActivity()
    calls: list[str] = []

    def once() -> None:
        calls.append("once")
        unsubscribe()

    unsubscribe = activity.on_start(once)
    activity.on_start(lambda: calls.append("always"))
    generation(activity)
    generation(activity)
    assert calls == ["once", "always", "always"]


async def test_a_generation_ending_does_not_call_the_start_callbacks() -> None:
    activity = CompletionActivity()
    future = generation(activity)
    calls: list[str] = []
    activity.on_start(lambda: calls.append("start"))
    future.set_result(None)
    await let_the_loop_run()
    assert calls == []
