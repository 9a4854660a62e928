"""Ghost text and completion items end to end: real LSP over stdio, real `ollama` client,
fake Ollama server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.editor import editor_session
from tests.fakes.fake_ollama import FakeOllama, Reply

QWEN = "qwen2.5-coder:1.5b-base"
ADD = "def add(a, b):\n    return \n\n\nprint(add(1, 2))\n"
CURSOR = ADD.index("return ") + len("return ")


@pytest.mark.parametrize("client", ["vscode", "neovim"])
async def test_ghost_text_is_the_models_suggestion_at_the_cursor(
    fake_ollama: FakeOllama, client: str
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url, client=client) as editor:
        uri = editor.open("add.py", ADD)
        result = await editor.inline(uri, CURSOR)
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    assert item.insert_text == "a + b"
    here = types.Position(line=1, character=len("    return "))
    assert item.range == types.Range(start=here, end=here)


async def test_request_is_raw_fim_with_constant_options_and_stop_tokens(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        await editor.inline(uri, CURSOR)
        offset = editor.type(uri, CURSOR, "(")
        await editor.inline(uri, offset)
    first, second = [r.body for r in fake_ollama.generate_requests]
    assert first["model"] == QWEN
    assert first["raw"] is True and "suffix" not in first
    assert first["keep_alive"] == "30m"
    assert first["prompt"] == (
        "<|repo_name|>workspace\n<|file_sep|>add.py\n"
        "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n\n\nprint(add(1, 2))\n"
        "<|fim_middle|>    return "
    )
    for body in (first, second):
        assert body["options"]["num_ctx"] == first["options"]["num_ctx"]
        assert "<|endoftext|>" in body["options"]["stop"]
        assert "<|fim_pad|>" in body["options"]["stop"]
        assert body["options"]["num_predict"] == 128
    # Typing on the line only appends to the prompt's tail: Ollama's cache keeps the rest.
    assert second["prompt"] == first["prompt"] + "("


FAMILIES = [
    ("qwen2.5-coder:1.5b-base", "<|fim_prefix|>", "<|fim_middle|>    return "),
    (
        "deepseek-coder:1.3b-base",
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581end\uff5c>    return ",
    ),
    ("codellama:7b-code", "<PRE> ", " <MID>    return "),
    ("starcoder2:3b", "<fim_prefix>", "<fim_middle>    return "),
    ("codestral:22b", "[SUFFIX]", "[PREFIX]def add(a, b):\n    return "),
]


@pytest.mark.parametrize(("model", "starts", "ends"), FAMILIES)
async def test_each_model_family_gets_its_own_fim_prompt(
    fake_ollama: FakeOllama, model: str, starts: str, ends: str
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url, settings={"completion": {"model": model}}) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
    (request,) = fake_ollama.generate_requests
    prompt = request.body["prompt"]
    assert starts in prompt, prompt
    assert prompt.endswith(ends), prompt


async def test_typing_through_a_suggestion_needs_no_new_generation(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        offset = editor.type(uri, CURSOR, "a")
        assert await editor.ghost_text(uri, offset) == " + b"
        offset = editor.type(uri, offset, " +")
        assert await editor.ghost_text(uri, offset) == " b"
        # Backspacing over what was typed brings the suggestion back, still from memory.
        offset = editor.backspace(uri, offset, 3)
        assert await editor.ghost_text(uri, offset) == "a + b"
    assert len(fake_ollama.generate_requests) == 1


async def test_typing_through_a_suggestion_that_is_still_streaming_joins_it(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", token_delay=0.2))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        first = editor.inline_request(uri, CURSOR)
        await fake_ollama.wait_for_requests_async(1)
        offset = editor.type(uri, CURSOR, "a")
        second = editor.inline_request(uri, offset)
        results = await asyncio.wait_for(asyncio.gather(first, second), 15)
    texts = [r.items[0].insert_text if r and r.items else None for r in results]
    assert texts == ["a + b", " + b"]
    assert len(fake_ollama.generate_requests) == 1
    assert fake_ollama.disconnects == 0


async def test_a_keystroke_that_breaks_the_suggestion_stops_its_stream(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b" * 20, token_delay=0.1))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        first = editor.inline_request(uri, CURSOR)
        await fake_ollama.wait_for_requests_async(1)
        fake_ollama.set_responder(lambda body: Reply(text="0"))
        offset = editor.type(uri, CURSOR, "x")
        second = editor.inline_request(uri, offset)
        assert await fake_ollama.wait_for_disconnects_async(1) == 1
        results = await asyncio.wait_for(asyncio.gather(first, second), 15)
    assert results[0] is None
    assert results[1] is not None and results[1].items[0].insert_text == "0"


async def test_cancel_request_closes_the_stream_at_once(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b" * 20, token_delay=0.2))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        request = editor.inline_request(uri, CURSOR, msg_id="to-cancel")
        await fake_ollama.wait_for_requests_async(1)
        editor.cancel("to-cancel")
        assert await fake_ollama.wait_for_disconnects_async(1) == 1
        with pytest.raises(Exception) as error:
            await asyncio.wait_for(request, 10)
        assert "cancel" in str(error.value).lower()
        # The server carries on normally afterwards.
        fake_ollama.set_responder(lambda body: Reply(text="a - b"))
        assert await editor.ghost_text(uri, CURSOR) == "a - b"


async def test_debounce_sends_only_the_last_of_quick_requests(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("b")
    async with editor_session(
        fake_ollama.url, settings={"completion": {"debounceMs": 300}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        first = editor.inline_request(uri, CURSOR)
        offset = editor.type(uri, CURSOR, "a + ")
        second = editor.inline_request(uri, offset)
        results = await asyncio.wait_for(asyncio.gather(first, second), 15)
    assert results[0] is None
    assert results[1] is not None and results[1].items[0].insert_text == "b"
    (request,) = fake_ollama.generate_requests
    assert request.body["prompt"].endswith("return a + ")


async def test_completion_item_offers_the_suggestion_for_clients_without_ghost_text(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("total = a + b\n    return total")
    text = "def add(a, b):\n    to\n"
    cursor = text.index("to") + 2
    async with editor_session(
        fake_ollama.url, settings={"completion": {"multiline": "always"}}
    ) as editor:
        uri = editor.open("add.py", text)
        result = await editor.completion(uri, cursor)
    assert result is not None and result.is_incomplete
    (item,) = result.items
    assert item.label == "tototal = a + b"
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.new_text == "tototal = a + b\n    return total"
    assert item.text_edit.range == types.Range(
        start=types.Position(line=1, character=4), end=types.Position(line=1, character=6)
    )


async def test_multiline_suggestion_ends_with_its_block(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("total = a + b\n    return total\n\nprint(add(3, 4))\n" + "x = 1\n" * 40)
    text = "def add(a, b):\n    \n"
    cursor = text.index("\n    ") + 5
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", text)
        assert await editor.ghost_text(uri, cursor) == "total = a + b\n    return total"
    (request,) = fake_ollama.generate_requests
    assert "\n" not in request.body["options"]["stop"]


async def test_single_line_mid_expression_asks_the_model_to_stop_at_the_line_end(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("1, 2)")
    text = "print(add(\n"
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("call.py", text)
        assert await editor.ghost_text(uri, len("print(add(")) == "1, 2)"
    (request,) = fake_ollama.generate_requests
    assert "\n" in request.body["options"]["stop"]


async def test_suggestion_that_repeats_the_text_after_the_cursor_is_trimmed(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a, b)")
    text = "print(add()\n"
    cursor = text.index("()") + 1
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("call.py", text)
        assert await editor.ghost_text(uri, cursor) == "a, b"


async def test_suggestion_that_breaks_the_syntax_is_dropped(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with(") ] } :: def")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None


async def test_a_language_without_grammar_still_gets_completions(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("world")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("notes.txt", "hello ", language_id="plaintext")
        assert await editor.ghost_text(uri, len("hello ")) == "world"


async def test_what_the_cursor_calls_from_another_file_is_repo_level_context_first(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """util.py is not open: the workspace index finds what the cursor calls."""
    fake_ollama.reply_with("a + b")
    (tmp_path / "util.py").write_text("def helper(scale: int = 2) -> int:\n    return 42 * scale\n")
    calls = "from util import helper\n\n\ndef add(a, b):\n    return helper("
    async with editor_session(fake_ollama.url, root_uri=tmp_path.as_uri()) as editor:
        prompt = await editor.prompt_showing(
            (tmp_path / "add.py").as_uri(),
            calls,
            len(calls),
            "util.py",
            lambda: fake_ollama.generate_requests[-1].body["prompt"],
        )
    # The definition it calls (its signature, not its body), before the current file.
    assert prompt.startswith(
        f"<|repo_name|>{tmp_path.name}\n<|file_sep|>util.py\ndef helper(scale: int = 2) -> int:"
    )
    assert "return 42 * scale" not in prompt
    assert prompt.index("<|file_sep|>add.py\n<|fim_prefix|>") > prompt.index("util.py")


@pytest.mark.parametrize("client", ["vscode", "neovim"])
async def test_positions_around_emoji_and_cjk_use_the_negotiated_encoding(
    fake_ollama: FakeOllama, client: str
) -> None:
    fake_ollama.reply_with(" + suffix")
    text = 'greeting = "😀 漢字 😀"\nname = "🐍"'
    async with editor_session(fake_ollama.url, client=client) as editor:
        assert editor.encoding == ("utf-8" if client == "neovim" else "utf-16")
        uri = editor.open("emoji.py", text)
        result = await editor.inline(uri, len(text))
        # Edit in the middle of the emoji line, then ask again at the end of the file.
        editor.replace(uri, text.index("漢"), text.index("漢") + 2, "字漢")
        assert editor.buffers[uri].text.startswith('greeting = "😀 字漢 😀"')
        fake_ollama.reply_with(" + more")
        again = await editor.inline(uri, editor.end_of(uri))
    assert result is not None and result.items[0].insert_text == " + suffix"
    expected = editor.position(uri, editor.end_of(uri))
    assert result.items[0].range.start == expected
    assert again is not None and again.items[0].range.start == expected
    assert fake_ollama.generate_requests[-1].body["prompt"].endswith('name = "🐍"')
    assert '"😀 字漢 😀"' in fake_ollama.generate_requests[-1].body["prompt"]


async def test_positions_past_the_end_are_clamped_not_fatal(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", "x = a")
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=99, character=500),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
        result = await asyncio.wait_for(
            editor.client.text_document_inline_completion_async(params), 10
        )
        assert result is not None
        assert result.items[0].range.start == types.Position(line=0, character=5)


async def test_disabled_completion_makes_no_request(fake_ollama: FakeOllama) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"enabled": False}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
    assert fake_ollama.generate_requests == []


async def test_consecutive_completions_reuse_one_connection_to_ollama(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        offset = CURSOR
        for char in "xyz":
            offset = editor.type(uri, offset, char)
            assert await editor.ghost_text(uri, offset) == "a + b"
    assert len(fake_ollama.generate_requests) == 3
    assert fake_ollama.connections == 1


async def test_the_status_notification_tells_where_a_suggestion_came_from(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        offset = editor.type(uri, CURSOR, "a")
        assert await editor.ghost_text(uri, offset) == " + b"
        await editor.round_trip()
    ready = [s for s in editor.statuses if getattr(s, "state", None) == "ready"]
    assert [s.source for s in ready] == ["model", "type-through"]
    assert ready[0].backendMs > 0 and ready[0].latencyMs >= ready[0].backendMs
    assert ready[0].promptChars > 0
