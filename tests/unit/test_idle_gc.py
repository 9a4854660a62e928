"""Full garbage collections wait for a quiet editor."""

from __future__ import annotations

import gc
from collections.abc import Callable

from lsp_assist.idle_gc import AT_LATEST_S, EVERY_S, QUIET_S, IdleCollector


def record_full_collections(seen: list[int]) -> Callable[[str, dict[str, int]], None]:
    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(info["generation"])

    gc.callbacks.append(record)
    return record


async def test_no_full_collection_while_the_editor_types_then_one_when_it_is_quiet() -> None:
    last_message = [0.0]
    collector = IdleCollector(lambda: last_message[0])
    collector.start()
    seen: list[int] = []
    record = record_full_collections(seen)
    try:
        start = collector._last_full
        # Typing: a message every 10 ms, for longer than EVERY_S.
        for step in range(int((EVERY_S + 5) * 100)):
            now = start + step / 100
            last_message[0] = now
            assert not collector.step(now)
        # Quiet for QUIET_S: the full collection runs now.
        assert collector.step(now + QUIET_S)
        assert seen == [2] and collector.collections == 1
        # Continuous typing is not allowed to postpone it forever.
        last = now + QUIET_S
        last_message[0] = last + AT_LATEST_S
        assert collector.step(last + AT_LATEST_S)
        # Meanwhile the interpreter itself never starts a full collection.
        assert gc.get_threshold()[2] > 10_000
    finally:
        gc.callbacks.remove(record)
        await collector.stop()
    assert gc.get_threshold()[2] < 10_000
