"""Every backend fault: the server never crashes, answers every request, and tells the user
once, with the fix."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeModel, FakeOllama, Reply, unused_url

ADD = "def add(a, b):\n    return \n"
CURSOR = ADD.index("return ") + len("return ")


async def ask_twice(editor: Editor) -> list[object]:
    uri = editor.open("add.py", ADD)
    first = await editor.inline(uri, CURSOR)
    offset = editor.type(uri, CURSOR, "a")
    second = await editor.inline(uri, offset)
    await editor.round_trip()
    return [first, second]


async def test_ollama_down_is_reported_once_with_the_fix() -> None:
    async with editor_session(unused_url()) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1
    assert "not reachable" in messages[0] and "ollama serve" in messages[0]


async def test_missing_model_says_how_to_pull_it(fake_ollama: FakeOllama) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "qwen2.5-coder:3b-base"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert messages == [
        "lsp-assist: model 'qwen2.5-coder:3b-base' not found — run "
        "`ollama pull qwen2.5-coder:3b-base`"
    ]


async def test_model_without_fim_is_named_with_an_alternative(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(
        FakeModel(name="llama3.2:1b", template="{{ .System }}{{ .Prompt }}", family="llama")
    )
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "llama3.2:1b"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1
    assert "llama3.2:1b" in messages[0] and "fill in the middle" in messages[0]
    assert fake_ollama.generate_requests == []


async def test_insert_refused_by_ollama_is_reported_as_no_fim(fake_ollama: FakeOllama) -> None:
    # An unknown family whose template has .Suffix: we use Ollama's template (suffix field),
    # and the server then refuses insert.
    fake_ollama.add_model(
        FakeModel(name="mystery:1b", template="{{ .Prompt }}{{ .Suffix }}", family="x")
    )
    fake_ollama.set_responder(
        lambda body: Reply(
            status=400, error="registry.ollama.ai/library/mystery:1b does not support insert"
        )
    )
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "mystery:1b"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "mystery:1b" in messages[0]
    assert fake_ollama.generate_requests[0].body["suffix"] == "\n"


async def test_unknown_family_with_insert_uses_ollamas_template(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(
        FakeModel(name="mystery:1b", template="{{ .Prompt }}{{ .Suffix }}", family="x")
    )
    fake_ollama.reply_with("a + b")
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "mystery:1b"}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
    body = fake_ollama.generate_requests[0].body
    assert body.get("raw") is not True
    assert body["prompt"] == "def add(a, b):\n    return "
    assert body["suffix"] == "\n"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                status=503,
                error="server busy, please try again.  maximum pending requests exceeded",
            ),
            "busy",
        ),
        (Reply(status=500, error="model runner has unexpectedly stopped"), "failed"),
        (
            Reply(text="a + b", midstream_error="an error was encountered while running the model"),
            "failed",
        ),
        (Reply(text="a + b", drop_connection=True), "failed"),
    ],
    ids=["busy-503", "runner-500", "error-line-mid-stream", "connection-dropped"],
)
async def test_server_faults_give_one_message_and_no_suggestion(
    fake_ollama: FakeOllama, reply: Reply, expected: str
) -> None:
    fake_ollama.set_responder(lambda body: reply)
    async with editor_session(fake_ollama.url) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
        assert len(messages) == 1 and expected in messages[0]
        # It recovers as soon as Ollama does.
        fake_ollama.reply_with("x")
        uri = editor.open("other.py", "y = ")
        assert await editor.ghost_text(uri, 4) == "x"


async def test_stream_without_final_chunk_keeps_what_arrived(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", omit_final_chunk=True))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "ended early" in messages[0]


async def test_slow_first_token_times_out_with_advice(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a", ttft=5.0))
    async with editor_session(fake_ollama.url, settings={"ollama": {"timeoutS": 0.3}}) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "did not answer in time" in messages[0]


async def test_bad_settings_are_reported_and_defaults_used(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(
        fake_ollama.url, settings={"completion": {"maxTokens": "lots"}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        messages = await editor.wait_for_message(1)
    assert "completion.maxTokens" in messages[0]
    assert fake_ollama.generate_requests[0].body["options"]["num_predict"] == 128


async def test_workspace_configuration_is_read_and_re_read_on_change(
    fake_ollama: FakeOllama,
) -> None:
    from lsprotocol import types

    fake_ollama.add_model(
        FakeModel(
            name="codellama:7b-code",
            template="<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>",
            family="llama",
        )
    )
    fake_ollama.reply_with("a + b")
    configuration = {"completion": {"model": "codellama:7b-code", "debounceMs": 0}}
    async with editor_session(fake_ollama.url, configuration=configuration) as editor:
        uri = editor.open("add.py", ADD)
        await editor.round_trip()
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        editor.client.set_configuration(
            {"completion": {"model": QWEN_MODEL, "debounceMs": 0}}, section="lspAssist"
        )
        editor.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        await editor.round_trip()
        offset = editor.type(uri, CURSOR, "(")
        await editor.ghost_text(uri, offset)
    models = [r.body["model"] for r in fake_ollama.generate_requests]
    assert models == ["codellama:7b-code", QWEN_MODEL]


QWEN_MODEL = "qwen2.5-coder:1.5b-base"


async def test_shutdown_with_work_in_flight_is_clean(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b" * 50, token_delay=0.2))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        request = editor.inline_request(uri, CURSOR)
        await fake_ollama.wait_for_requests_async(1)
        await asyncio.wait_for(editor.client.shutdown_async(None), 10)
        assert await fake_ollama.wait_for_disconnects_async(1) == 1
        # The in-flight request was answered (no suggestion), not left hanging.
        assert await asyncio.wait_for(request, 10) is None
        editor.client.exit(None)
        server = editor.client._server
        assert server is not None
        assert await asyncio.wait_for(server.wait(), 10) == 0
        editor.client.capabilities = None  # already shut down: nothing left for the fixture
