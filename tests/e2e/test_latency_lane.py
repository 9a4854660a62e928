"""The latency lane end to end: answers in one version's coordinates, odd text that breaks
nothing, the first-token deadline, the preloaded model, requests about unknown places, and
files too big to analyse."""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types

from tests.e2e.editor import editor_session
from tests.fakes.fake_ollama import FakeModel, FakeOllama, Reply

QWEN = "qwen2.5-coder:1.5b-base"
BIG_MODEL = "qwen2.5-coder:7b-base"
ADD = "def add(a, b):\n    return \n\n\nprint(add(1, 2))\n"
CURSOR = ADD.index("return ") + len("return ")
AT_CURSOR = types.Position(line=1, character=len("    return "))


def _states(statuses: list[Any], state: str) -> list[Any]:
    return [s for s in statuses if getattr(s, "state", None) == state]


async def test_a_line_inserted_above_while_streaming_leaves_the_answer_where_it_was_asked(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", token_delay=0.1))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        pending = editor.inline_request(uri, CURSOR)
        await fake_ollama.wait_for_requests_async(1)
        editor.replace(uri, 0, 0, "x = 1\n")
        result = await asyncio.wait_for(pending, 15)
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    # The request's own coordinates: (1, 11) — not (2, 5), inside `return` in the new text.
    assert item.insert_text == "a + b"
    assert item.range == types.Range(start=AT_CURSOR, end=AT_CURSOR)


async def test_a_completion_items_word_and_range_come_from_one_version(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="dd(1, 2)", token_delay=0.1))
    text = "def add(a, b):\n    return a\n"
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "ollama"}}
    ) as editor:
        uri = editor.open("add.py", text)
        offset = text.index("return a") + len("return a")
        params = types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=editor.position(uri, offset),
        )
        pending = asyncio.ensure_future(editor.client.text_document_completion_async(params))
        await fake_ollama.wait_for_requests_async(1)
        editor.replace(uri, 0, 0, "import os\n\n")  # two lines above, while it streams
        result = await asyncio.wait_for(pending, 15)
    assert isinstance(result, types.CompletionList) and result.items
    edit = result.items[0].text_edit
    assert isinstance(edit, types.TextEdit)
    assert edit.new_text == "add(1, 2)"
    assert edit.range == types.Range(
        start=types.Position(line=1, character=len("    return ")),
        end=types.Position(line=1, character=len("    return a")),
    )


async def test_a_lone_surrogate_in_one_buffer_breaks_no_completion_anywhere(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    odd_text = 'def labelled(text):\n    """Marks text with "\ud800"."""\n    return text\n'
    calls = "from odd import labelled\n\nx = labelled("
    async with editor_session(fake_ollama.url) as editor:
        odd = editor.open("odd.py", odd_text)
        editor.type(odd, editor.end_of(odd), "x = ")
        uri = editor.open("main.py", calls)
        # Until the index has the odd buffer, whose doc line is context of main.py; each ask
        # is from a freshly opened buffer, so that no cached suggestion answers.
        for _ in range(200):
            assert await editor.ghost_text(uri, len(calls)) == "a + b"
            prompt = fake_ollama.generate_requests[-1].body["prompt"]
            if "Marks text with" in prompt:
                break
            editor.client.text_document_did_close(
                types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri))
            )
            uri = editor.open("main.py", calls)
        assert await editor.ghost_text(odd, editor.end_of(odd)) == "a + b"
    # The odd file is context of the other one, and its own window, the surrogate made harmless.
    assert 'Marks text with "\ufffd' in prompt
    assert 'Marks text with "\ufffd"' in fake_ollama.generate_requests[-1].body["prompt"]
    assert not editor.messages


async def test_a_backend_that_sends_nothing_is_answered_empty_at_the_deadline_then_cached(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", ttft=1.5))
    settings = {"completion": {"firstTokenMs": 200, "preload": False}}
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
        await editor.round_trip()  # the status follows its answer
        (waiting,) = _states(editor.statuses, "waiting")
        assert "no answer from the model in 0.2 s" in waiting.message
        # The generation went on in the background: the next request there is answered from
        # it, with no new request to the model.
        await fake_ollama.wait_for_answers_async(1)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        assert not editor.messages  # a slow model is not an error
    assert len(fake_ollama.generate_requests) == 1
    assert fake_ollama.disconnects == 0


async def test_the_completion_model_is_loaded_when_the_server_starts(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        await fake_ollama.wait_for_answers_async(1)
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
    (load,) = fake_ollama.load_requests
    (generate,) = fake_ollama.generate_requests
    assert load.body["model"] == QWEN and load.body["keep_alive"] == "30m"
    # With the num_ctx completions send: another would make Ollama load the model again.
    assert load.body["options"]["num_ctx"] == generate.body["options"]["num_ctx"]


async def test_a_keystroke_while_the_model_loads_is_told_so_and_answered_empty(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.add_model(FakeModel(name=BIG_MODEL, parameter_size="7B", load_time=1.5))
    fake_ollama.reply_with("a + b")
    settings = {"completion": {"firstTokenMs": 200, "model": BIG_MODEL}}
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        await fake_ollama.wait_for_loads_async(1)
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
        await editor.round_trip()  # the status follows its answer
        (waiting,) = _states(editor.statuses, "waiting")
        assert f"loading {BIG_MODEL}" in waiting.message
        await fake_ollama.wait_for_answers_async(1)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
    assert len(fake_ollama.generate_requests) == 1


async def test_requests_about_unknown_documents_and_far_positions_are_answered(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        nowhere = types.TextDocumentIdentifier(uri="file:///workspace/never-opened.py")
        far = types.Position(line=999, character=999)
        inline = await editor.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=nowhere,
                position=far,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
        assert inline is None
        listed = await editor.client.text_document_completion_async(
            types.CompletionParams(text_document=nowhere, position=far)
        )
        assert isinstance(listed, types.CompletionList) and not listed.items
        uri = editor.open("add.py", "x = ")
        result = await editor.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=far,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
    # Past the end means the end of the text.
    assert result is not None and result.items[0].insert_text == "a + b"
    end = types.Position(line=0, character=4)
    assert result.items[0].range == types.Range(start=end, end=end)


async def test_a_file_too_big_to_analyse_is_told_once_and_still_completed(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    big = "def f(a, b):\n    return a\n\n\n" * 45_000 + ADD  # about 1.3 MB
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("big.py", big)
        offset = big.rindex("return ") + len("return ")
        assert await editor.ghost_text(uri, offset) == "a + b"
        offset = editor.type(uri, offset, "a")
        editor.save(uri)
        assert await editor.ghost_text(uri, offset) == " + b"
        messages = await editor.wait_for_message(1)
        await editor.round_trip()
    assert len(editor.messages) == 1
    assert "big.py is 1.3 MB" in messages[0] and "around the cursor" in messages[0]
    assert not fake_ollama.chat_requests  # not reviewed
