"""Ghost text from real llama.cpp: its own API (`llamacpp`), its OpenAI-compatible API
(`openai`), and the embedded engine — with the prompt cache, supersede, failover and the key.

The model is the tiny random GGUF (tests/engines): its text means nothing, so the cursor sits in
a comment, where any one line is valid code, and temperature 0 makes every answer repeatable.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.backends.llamacpp import LlamaCppClient
from lsp_assist.config import Endpoint
from tests.e2e.editor import Editor, editor_session
from tests.engines.fixtures import (  # noqa: F401
    StartLlamaServer,
    llamacpp_fixture,
    llamacpp_parallel_fixture,
    tiny_model_fixture,
)
from tests.engines.llamacpp_server import LlamaServer, running_llamacpp
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_openai import FakeOpenAI

NOTE = "def area(w, h):\n    # TODO: \n    return w * h\n"
IN_COMMENT = NOTE.index("# TODO: ") + len("# TODO: ")
# 16 tokens: a longer answer of the random model repeats itself, and such answers are dropped.
QUICK = {"debounceMs": 0, "temperature": 0, "preload": False, "multiline": "never", "maxTokens": 16}


def settings_for(endpoints: dict[str, Any], order: list[str], **completion: Any) -> dict[str, Any]:
    return {
        "endpoints": endpoints,
        "completion": {**QUICK, "endpoint": order, **completion},
        "review": {"enabled": False},
    }


def metric(server: LlamaServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    found = re.search(rf"^llamacpp:{name} (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


async def engine_label(editor: Editor) -> str:
    """Who made the last suggestion (the status goes out just after the answer)."""
    await editor.round_trip()
    ready = [s for s in editor.statuses if getattr(s, "state", None) == "ready"]
    return str(getattr(ready[-1], "engine", "")) if ready else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def second_llamacpp(tiny_model: Path) -> Iterator[LlamaServer]:
    with running_llamacpp(tiny_model) as server:
        yield server


async def test_ghost_text_comes_from_llama_cpp_through_its_own_api(llamacpp: LlamaServer) -> None:
    lcpp = {"kind": "llamacpp", "url": llamacpp.url}
    async with editor_session(
        "http://127.0.0.1:9", settings=settings_for({"lcpp": lcpp}, ["lcpp"], backend="model")
    ) as editor:
        uri = editor.open("area.py", NOTE)
        text = await editor.ghost_text(uri, IN_COMMENT)
        assert text, editor.messages
        assert "(lcpp)" in await engine_label(editor)
    assert metric(llamacpp, "tokens_predicted_total") >= len(text)


async def test_typing_along_a_line_evaluates_only_the_new_tokens(llamacpp: LlamaServer) -> None:
    """The prompt keeps the cursor line after the middle marker: each keystroke appends to it,
    and llama.cpp reuses its cache for everything before (its own count of evaluated tokens)."""
    lcpp = {"kind": "llamacpp", "url": llamacpp.url}
    async with editor_session(
        "http://127.0.0.1:9", settings=settings_for({"lcpp": lcpp}, ["lcpp"], backend="model")
    ) as editor:
        uri = editor.open("area.py", NOTE)
        assert await editor.ghost_text(uri, IN_COMMENT)
        offset, evaluated = IN_COMMENT, []
        for char in "check the units":
            before = metric(llamacpp, "prompt_tokens_total")
            offset = editor.type(uri, offset, char)
            await editor.ghost_text(uri, offset)
            evaluated.append(metric(llamacpp, "prompt_tokens_total") - before)
    fresh = [n for n in evaluated if n]  # 0: answered by type-through, no request
    assert fresh and statistics.median(fresh) <= 4, evaluated


async def test_ghost_text_comes_from_an_openai_compatible_server(llamacpp: LlamaServer) -> None:
    # The tiny model's file name does not say its family: the endpoint says its FIM tokens.
    openai = {"kind": "openai", "url": llamacpp.url + "/v1", "fim": "qwen"}
    async with editor_session(
        "http://127.0.0.1:9", settings=settings_for({"gpu": openai}, ["gpu"], backend="model")
    ) as editor:
        uri = editor.open("area.py", NOTE)
        assert await editor.ghost_text(uri, IN_COMMENT), editor.messages
        assert "(gpu)" in await engine_label(editor)


async def test_ghost_text_comes_from_the_embedded_engine(tiny_model: Path) -> None:
    here = {"kind": "embedded", "modelPath": str(tiny_model), "threads": 1}
    async with editor_session(
        "http://127.0.0.1:9",
        settings=settings_for({"here": here}, ["here"], backend="model", firstTokenMs=0),
    ) as editor:
        uri = editor.open("area.py", NOTE)
        assert await editor.ghost_text(uri, IN_COMMENT), editor.messages
        assert "(here)" in await engine_label(editor)


async def test_a_superseded_generation_stops_on_the_server(llamacpp: LlamaServer) -> None:
    """At temperature 0 the tiny model never ends this line by itself: only closing the stream
    stops it before `maxTokens`."""
    lcpp = {"kind": "llamacpp", "url": llamacpp.url}
    settings = settings_for({"lcpp": lcpp}, ["lcpp"], backend="model", maxTokens=3000)
    async with editor_session("http://127.0.0.1:9", settings=settings) as editor:
        uri = editor.open("area.py", NOTE)
        first = editor.inline_request(uri, IN_COMMENT)
        async with httpx.AsyncClient(base_url=llamacpp.url, timeout=5) as http:
            while not (await http.get("/slots")).json()[0]["is_processing"]:
                await asyncio.sleep(0.005)  # polling the engine's state: it has no events
            offset = editor.type(uri, IN_COMMENT, "x")  # not what it suggests: supersedes it
            await editor.ghost_text(uri, offset)
            await asyncio.wait_for(first, 15)
            while (await http.get("/slots")).json()[0]["is_processing"]:
                await asyncio.sleep(0.005)
    # The second generation runs its full 3000 tokens; the first was stopped when superseded
    # (left running, it would have added 3000 more).
    assert 3000 <= metric(llamacpp, "tokens_predicted_total") < 3000 + 1000


async def test_a_dead_endpoint_passes_the_request_on_and_is_taken_back(
    llamacpp: LlamaServer, tiny_model: Path
) -> None:
    port = free_port()
    endpoints = {
        "lcpp": {"kind": "llamacpp", "url": f"http://127.0.0.1:{port}"},
        "spare": {"kind": "llamacpp", "url": llamacpp.url},
    }
    async with editor_session(
        "http://127.0.0.1:9", settings=settings_for(endpoints, ["lcpp", "spare"], backend="model")
    ) as editor:
        uri = editor.open("area.py", NOTE)
        # The first request after the host died is answered by the next endpoint.
        assert await editor.ghost_text(uri, IN_COMMENT)
        assert "(spare)" in await engine_label(editor)
        [message] = await editor.wait_for_message(1)
        assert "lcpp (llama.cpp) is not reachable" in message
        assert "meanwhile completions come from spare (llama.cpp at" in message
        with running_llamacpp(tiny_model, port=port):
            messages = await editor.wait_for_message(2, timeout=20)
            assert "lcpp (llama.cpp at" in messages[1] and "answers again" in messages[1]
            offset = editor.type(uri, IN_COMMENT, "y")
            assert await editor.ghost_text(uri, offset)
            assert "(lcpp)" in await engine_label(editor)
        assert len(editor.messages) == 2


async def test_a_host_that_dies_mid_session_costs_one_message(
    second_llamacpp: LlamaServer, tiny_model: Path
) -> None:
    port = free_port()
    endpoints = {
        "lcpp": {"kind": "llamacpp", "url": f"http://127.0.0.1:{port}"},
        "spare": {"kind": "llamacpp", "url": second_llamacpp.url},
    }
    async with editor_session(
        "http://127.0.0.1:9", settings=settings_for(endpoints, ["lcpp", "spare"], backend="model")
    ) as editor:
        uri = editor.open("area.py", NOTE)
        with running_llamacpp(tiny_model, port=port):
            assert await editor.ghost_text(uri, IN_COMMENT)
            assert "(lcpp)" in await engine_label(editor)
        offset = IN_COMMENT
        for char in "abc":  # keystrokes after the host died
            offset = editor.type(uri, offset, char)
            assert await editor.ghost_text(uri, offset)
            assert "(spare)" in await engine_label(editor)
        await editor.round_trip()
        assert len(editor.messages) == 1, editor.messages


async def test_the_api_key_goes_to_its_host_and_never_into_the_log(
    tiny_model: Path, tmp_path: Path
) -> None:
    key = "sk-test-" + "k3y" * 8
    log = tmp_path / "server.log"
    with running_llamacpp(tiny_model, api_key=key) as server:
        openai = {"kind": "openai", "url": server.url + "/v1", "fim": "qwen", "apiKeyEnv": "TK"}
        async with editor_session(
            "http://127.0.0.1:9",
            settings=settings_for({"gpu": openai}, ["gpu"], backend="model"),
            env={"TK": key},
            log_file=log,
        ) as editor:
            uri = editor.open("area.py", NOTE)
            # The server refuses requests without the key: an answer proves it was sent.
            assert await editor.ghost_text(uri, IN_COMMENT), editor.messages
    text = log.read_text()
    assert "TK" in text or "gpu" in text  # the log has the session (at -vv, with prompts)
    assert key not in text


async def test_reviews_go_to_their_own_endpoint_with_a_json_schema(
    llamacpp: LlamaServer, fake_ollama: FakeOllama
) -> None:
    """Completions from Ollama, reviews from llama.cpp: its grammar-constrained answers follow
    the review schema, so even the random model's answers are valid (none is retried)."""
    settings = {
        "endpoints": {
            "local": {"kind": "ollama", "url": fake_ollama.url},
            "lcpp": {"kind": "llamacpp", "url": llamacpp.url},
        },
        "completion": {**QUICK, "endpoint": "local"},
        "review": {"endpoint": "lcpp", "onSave": False},
    }
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        uri = editor.open("area.py", NOTE)
        result = await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
        reviewed = [s for s in editor.statuses if getattr(s, "state", "") == "reviewed"]
    assert result["calls"] >= 1 and reviewed and reviewed[-1].invalid == 0, result
    assert metric(llamacpp, "prompt_tokens_total") > 0
    assert fake_ollama.chat_requests == []
    assert editor.messages == []


async def test_a_pulled_model_serves_before_the_offline_engine_when_ollama_is_down(
    tiny_model: Path, tmp_path: Path
) -> None:
    models = tmp_path / "cache" / "lsp-assist" / "models"
    models.mkdir(parents=True)
    shutil.copy(tiny_model, models / "qwen2.5-coder-1.5b-q8_0.gguf")  # as `models pull` names it
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    async with editor_session(
        f"http://127.0.0.1:{free_port()}",  # Ollama is not running
        settings={"completion": {**QUICK, "firstTokenMs": 0}, "review": {"enabled": False}},
        env=env,
    ) as editor:
        uri = editor.open("area.py", NOTE)
        assert await editor.ghost_text(uri, IN_COMMENT)
        assert "(embedded)" in await engine_label(editor)
        [message] = await editor.wait_for_message(1)
    assert "Ollama is not reachable" in message
    assert "meanwhile completions come from the embedded llama.cpp" in message


async def test_a_busy_server_passes_requests_on_until_its_retry_after(
    llamacpp: LlamaServer,
) -> None:
    with FakeOpenAI(ttft=0.001, token_delay=0.0) as gpu:
        gpu.fail_next(429, retry_after=60)
        endpoints = {
            "gpu": {"kind": "openai", "url": gpu.url + "/v1", "fim": "qwen"},
            "lcpp": {"kind": "llamacpp", "url": llamacpp.url},
        }
        async with editor_session(
            "http://127.0.0.1:9", settings=settings_for(endpoints, ["gpu", "lcpp"], backend="model")
        ) as editor:
            uri = editor.open("area.py", NOTE)
            offset = IN_COMMENT
            for char in "ab":
                assert await editor.ghost_text(uri, offset)
                assert "(lcpp)" in await engine_label(editor)
                offset = editor.type(uri, offset, char)
            messages = editor.messages
        assert len(gpu.completion_requests) == 1  # asked once; then its Retry-After is kept
    [message] = messages
    assert "gpu (OpenAI-compatible server at" in message and "asked to wait for 60 s" in message


@pytest.mark.parametrize(("setting", "kept"), [(-2, True), (-1, False)])
async def test_a_session_can_keep_the_slot_the_server_first_chose(
    llamacpp_parallel: StartLlamaServer, setting: int, kept: bool
) -> None:
    """With several slots, llama.cpp picks by default (-1); `slot: -2` keeps the session on the
    slot it picked for the first request."""
    server = llamacpp_parallel(2)
    endpoint = Endpoint(name="lcpp", kind="llamacpp", url=server.url, slot=setting)
    client = LlamaCppClient(endpoint, slot=setting)
    try:
        facts = await client.facts()
        assert facts.slots == 2 and client.slot_for(facts) == -1
        stats = GenerationStats()
        async for _ in client.stream_generate(
            model="", prompt="<|fim_prefix|>x", options={"num_predict": 2}, stats=stats
        ):
            pass
        assert stats.done
        assert (client.slot_for(facts) >= 0) is kept
    finally:
        await client.close()
