"""The completion scheduler, driven with real backends: Ollama's client against the fake Ollama
server (a process boundary), and the offline engine."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from lsp_assist.backends.base import CompletionBackend
from lsp_assist.backends.offline import OfflineCompletion
from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.backends.ollama_completion import OllamaCompletion
from lsp_assist.completion.engine import CompletionEngine
from lsp_assist.completion.health import BackendHealth
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import Document
from lsp_assist.errors import FaultNotifier
from lsp_assist.offline.engine import OfflineEngine
from lsp_assist.status import Status
from tests.fakes.fake_ollama import FakeOllama, Reply

ADD = "def add(a, b):\n    return \n\n\nprint(add(1, 2))\n"
CURSOR = ADD.index("return ") + len("return ")
QUICK = CompletionSettings(debounceMs=0, preload=False, prefetch="never")


@dataclasses.dataclass
class Rig:
    engine: CompletionEngine
    ollama: OllamaCompletion
    offline: OfflineCompletion
    messages: list[str]
    statuses: list[Status]
    settings: list[CompletionSettings]


@pytest.fixture
async def rig(fake_ollama: FakeOllama) -> AsyncIterator[Rig]:
    messages: list[str] = []
    statuses: list[Status] = []
    settings = [QUICK]
    ollama = OllamaCompletion(OllamaBackend(fake_ollama.url))
    offline = OfflineCompletion(OfflineEngine())
    health = BackendHealth(ollama.probe, lambda: None)

    def route() -> Sequence[CompletionBackend]:
        if settings[-1].backend == "offline" or not health.reachable:
            return (offline,)
        return (ollama, offline)

    engine = CompletionEngine(
        route=route,
        settings=lambda: settings[-1],
        notifier=FaultNotifier(lambda severity, message: messages.append(message)),
        on_status=statuses.append,
        on_unavailable=lambda name, error: health.mark_unreachable(),
        on_answered=lambda name: health.mark_reachable(),
    )
    yield Rig(engine, ollama, offline, messages, statuses, settings)
    await engine.shutdown()
    await health.close()
    await ollama.close()


def document(text: str = ADD, version: int = 1) -> Document:
    return Document("file:///add.py", text, language_id="python", version=version)


async def test_the_models_suggestion_is_answered_with_its_source(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("a + b")
    suggestion = await rig.engine.suggest(document().snapshot(), CURSOR)
    assert suggestion is not None
    assert (suggestion.text, suggestion.source) == ("a + b", "model")
    assert suggestion.label == "lsp-assist · qwen2.5-coder:1.5b-base"
    assert rig.statuses[-1].state == "ready" and rig.statuses[-1].source == "model"


async def test_a_suggestion_that_would_break_the_syntax_is_dropped(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("a + (b")
    assert await rig.engine.suggest(document().snapshot(), CURSOR) is None
    assert len(fake_ollama.generate_requests) == 1


async def test_typing_the_suggestion_is_answered_from_it_without_a_new_request(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("a + b")
    buffer = document()
    assert (await rig.engine.suggest(buffer.snapshot(), CURSOR)) is not None
    buffer.apply_change("a +", (1, 11), (1, 11), version=2)
    suggestion = await rig.engine.suggest(buffer.snapshot(), CURSOR + 3)
    assert suggestion is not None
    assert (suggestion.text, suggestion.source) == (" b", "type-through")
    assert len(fake_ollama.generate_requests) == 1


async def test_a_newer_keystroke_supersedes_one_still_in_its_debounce(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("a + b")
    rig.settings.append(dataclasses.replace(QUICK, debounceMs=50))
    buffer = document()
    first = asyncio.ensure_future(rig.engine.suggest(buffer.snapshot(), CURSOR))
    await asyncio.sleep(0)  # one step: the first request is in its debounce
    buffer.apply_change("x", (1, 11), (1, 11), version=2)
    second = await rig.engine.suggest(buffer.snapshot(), CURSOR + 1)
    assert await first is None
    assert second is not None
    assert len(fake_ollama.generate_requests) == 1


async def test_moving_elsewhere_stops_the_stream_of_the_old_place(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b + c + d", token_delay=0.2))
    buffer = document()
    first = asyncio.ensure_future(rig.engine.suggest(buffer.snapshot(), CURSOR))
    await fake_ollama.wait_for_requests_async(1)
    fake_ollama.reply_with("1, 2")
    elsewhere = ADD.index("add(1") + len("add(")
    await rig.engine.suggest(buffer.snapshot(), elsewhere)
    assert await first is None
    await fake_ollama.wait_for_disconnects_async(1)


async def test_an_unreachable_model_passes_the_same_request_to_the_offline_engine(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    project = "total = price * count\ntotal = price * count\n"
    rig.offline.engine.update_file("file:///shop.py", project * 3, "python")
    fake_ollama.stop()
    text = "total = "
    suggestion = await rig.engine.suggest(document(text).snapshot(), len(text))
    assert suggestion is not None
    assert (suggestion.text, suggestion.source) == ("price * count", "offline")
    assert len(rig.messages) == 1 and "not reachable" in rig.messages[0]
    assert rig.engine.serving_offline()


async def test_no_token_before_the_deadline_answers_nothing_and_the_answer_is_kept(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", ttft=0.8))
    rig.settings.append(dataclasses.replace(QUICK, firstTokenMs=100))
    snapshot = document().snapshot()
    assert await rig.engine.suggest(snapshot, CURSOR) is None
    assert rig.statuses[-1].state == "waiting"
    await fake_ollama.wait_for_answers_async(1)
    suggestion = await rig.engine.suggest(snapshot, CURSOR)
    assert suggestion is not None and suggestion.text == "a + b"
    assert len(fake_ollama.generate_requests) == 1
    assert rig.messages == []


async def test_a_cancelled_request_stops_the_model_when_nobody_else_waits(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b + c", token_delay=0.3))
    pending = asyncio.ensure_future(rig.engine.suggest(document().snapshot(), CURSOR))
    await fake_ollama.wait_for_requests_async(1)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await fake_ollama.wait_for_disconnects_async(1)


async def test_disabled_completions_ask_nothing(rig: Rig, fake_ollama: FakeOllama) -> None:
    rig.settings.append(dataclasses.replace(QUICK, enabled=False))
    assert await rig.engine.suggest(document().snapshot(), CURSOR) is None
    assert fake_ollama.generate_requests == []


async def test_an_offline_suggestion_gives_way_once_the_model_serves(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    rig.settings.append(dataclasses.replace(QUICK, backend="offline"))
    project = "total = price * count\n" * 4
    rig.offline.engine.update_file("file:///shop.py", project, "python")
    snapshot = document("total = ").snapshot()
    offline = await rig.engine.suggest(snapshot, 8)
    assert offline is not None and offline.source == "offline"
    rig.settings.append(QUICK)
    fake_ollama.reply_with("price * count")
    again = await rig.engine.suggest(snapshot, 8)
    assert again is not None and again.source == "model"


def test_route_order_is_what_the_engine_reports(rig: Rig) -> None:
    assert rig.engine.serving_model() and not rig.engine.serving_offline()


BODY = "def area(w, h):\n    \n\n\nprint(area(2, 3))\n"
IN_BODY = BODY.index("    \n") + 4


async def test_a_block_cut_by_the_token_limit_offers_its_whole_lines(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(
        lambda body: Reply(text='size = w * h\n    """Th', done_reason="length")
    )
    buffer = Document("file:///area.py", BODY, language_id="python", version=1)
    suggestion = await rig.engine.suggest(buffer.snapshot(), IN_BODY)
    assert suggestion is not None and suggestion.text == "size = w * h"


async def test_a_block_whose_last_line_breaks_the_syntax_offers_the_lines_before(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("size = w * h\n    return (size")
    buffer = Document("file:///area.py", BODY, language_id="python", version=1)
    suggestion = await rig.engine.suggest(buffer.snapshot(), IN_BODY)
    assert suggestion is not None and suggestion.text == "size = w * h"


# -- the next suggestion ------------------------------------------------------------------------

PREFETCH = dataclasses.replace(QUICK, prefetch="always")
LINES = "def total(xs):\n    \n\n\nprint(total([1, 2]))\n"
AT_BODY = LINES.index("    \n") + 4


def answers(by_prompt_end: dict[str, str]) -> Callable[[dict[str, Any]], Reply]:
    """A model that answers by what the prompt ends with (the cursor's line)."""

    def respond(body: dict[str, Any]) -> Reply:
        prompt = str(body.get("prompt", ""))
        head = prompt.rpartition("<|fim_suffix|>")[0].rpartition("<|fim_prefix|>")[2]
        before = head + prompt.rpartition("<|fim_middle|>")[2]
        for end, text in by_prompt_end.items():
            if before.endswith(end):
                return Reply(text=text)
        return Reply(text="")

    return respond


async def test_after_accepting_the_next_suggestion_is_already_there(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    rig.settings.append(PREFETCH)
    fake_ollama.set_responder(
        answers({"def total(xs):\n    ": "s = sum(xs)", "s = sum(xs)\n": "    return s"})
    )
    buffer = Document("file:///total.py", LINES, language_id="python", version=1)
    shown = await rig.engine.suggest(buffer.snapshot(), AT_BODY)
    assert shown is not None and shown.text == "s = sum(xs)"
    await fake_ollama.wait_for_answers_async(2)  # the next line, while the user reads
    buffer.apply_change(shown.text, (1, 4), (1, 4), version=2)  # accepted
    after = await rig.engine.suggest(buffer.snapshot(), AT_BODY + len(shown.text))
    assert after is not None and (after.text, after.source) == ("\n    return s", "prefetch")
    assert len(fake_ollama.generate_requests) == 2
    assert rig.engine.prefetches_started == 1 and rig.engine.generations_started == 1


async def test_enter_and_the_editors_indentation_reach_the_prefetched_line(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    rig.settings.append(PREFETCH)
    fake_ollama.set_responder(
        answers({"def total(xs):\n    ": "s = sum(xs)", "s = sum(xs)\n": "    return s"})
    )
    buffer = Document("file:///total.py", LINES, language_id="python", version=1)
    shown = await rig.engine.suggest(buffer.snapshot(), AT_BODY)
    assert shown is not None
    await fake_ollama.wait_for_answers_async(2)
    typed = shown.text + "\n\t"  # accepted, Enter, and an editor that indents with a tab
    buffer.apply_change(typed, (1, 4), (1, 4), version=2)
    after = await rig.engine.suggest(buffer.snapshot(), AT_BODY + len(typed))
    assert after is not None and (after.text, after.source) == ("return s", "prefetch")
    assert len(fake_ollama.generate_requests) == 2


async def test_typing_something_else_drops_the_prefetched_suggestion(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    rig.settings.append(PREFETCH)
    fake_ollama.set_responder(
        answers({"def total(xs):\n    ": "s = sum(xs)", "s = sum(xs)\n": "    return s"})
    )
    buffer = Document("file:///total.py", LINES, language_id="python", version=1)
    assert await rig.engine.suggest(buffer.snapshot(), AT_BODY) is not None
    await fake_ollama.wait_for_answers_async(2)
    buffer.apply_change("r", (1, 4), (1, 4), version=2)  # not what was suggested
    assert await rig.engine.suggest(buffer.snapshot(), AT_BODY + 1) is None
    assert "total.py" not in "".join(rig.engine._prefetched)


async def test_without_prefetch_nothing_is_ready_after_accepting(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(
        answers({"def total(xs):\n    ": "s = sum(xs)", "s = sum(xs)": "\n    return s"})
    )
    buffer = Document("file:///total.py", LINES, language_id="python", version=1)
    shown = await rig.engine.suggest(buffer.snapshot(), AT_BODY)
    assert shown is not None
    buffer.apply_change(shown.text, (1, 4), (1, 4), version=2)
    assert await rig.engine.suggest(buffer.snapshot(), AT_BODY + len(shown.text)) is None
    assert rig.engine.prefetches_started == 0 and len(fake_ollama.generate_requests) == 1


async def test_a_block_is_typed_through_across_lines_whatever_the_editor_indents(
    rig: Rig, fake_ollama: FakeOllama
) -> None:
    fake_ollama.reply_with("s = 0\n    for x in xs:\n        s += x\n    return s")
    buffer = Document("file:///total.py", LINES, language_id="python", version=1)
    assert await rig.engine.suggest(buffer.snapshot(), AT_BODY) is not None
    typed = "s = 0\n  "  # Enter, and an editor that indents by two
    buffer.apply_change(typed, (1, 4), (1, 4), version=2)
    after = await rig.engine.suggest(buffer.snapshot(), AT_BODY + len(typed))
    assert after is not None and after.source == "type-through"
    assert after.text == "  for x in xs:\n        s += x\n    return s"
    assert len(fake_ollama.generate_requests) == 1
