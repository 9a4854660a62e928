"""The fake Ollama, checked with the official `ollama` client (and httpx for the raw wire).

Each test states one behaviour of the real server (shared/reference/ollama-api.md) that the
fake must reproduce for the project's other tests to mean anything.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any, cast

import httpx
import ollama
import pytest

from tests.fakes.fake_ollama import FakeModel, FakeOllama, Reply, unused_url

MODEL = "qwen2.5-coder:1.5b-base"
NO_INSERT_MODEL = "deepseek-coder:1.3b-base"
CHAT_MODEL = "qwen2.5-coder:7b-instruct"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
METRICS = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
]


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(ttft=0.005, token_delay=0.001) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeOllama) -> AsyncIterator[ollama.AsyncClient]:
    client = ollama.AsyncClient(host=fake.url, trust_env=False)
    yield client
    await client.close()


@pytest.fixture
def sync_client(fake: FakeOllama) -> Iterator[ollama.Client]:
    client = ollama.Client(host=fake.url, trust_env=False)
    yield client
    client.close()


@pytest.fixture
def http(fake: FakeOllama) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, trust_env=False) as http:
        yield http


async def open_stream(
    client: ollama.AsyncClient, **kwargs: Any
) -> AsyncGenerator[ollama.GenerateResponse, None]:
    """A streamed generate (the client returns an async generator, typed as an iterator)."""
    stream = await client.generate(model=MODEL, stream=True, **kwargs)
    return cast(AsyncGenerator[ollama.GenerateResponse, None], stream)


async def collect(client: ollama.AsyncClient, **kwargs: Any) -> list[ollama.GenerateResponse]:
    return [chunk async for chunk in await open_stream(client, **kwargs)]


def joined(chunks: list[ollama.GenerateResponse]) -> str:
    return "".join(chunk.response or "" for chunk in chunks)


# -- streaming -------------------------------------------------------------------------------


async def test_a_streamed_generate_yields_pieces_then_a_final_chunk_with_metrics(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.reply_with("    return a + b\n")
    *pieces, final = await collect(client, prompt="def add(a, b):\n", suffix="\n")
    assert len(pieces) > 1 and not any(piece.done for piece in pieces)
    assert joined(pieces) == "    return a + b\n"
    assert final.done and final.done_reason == "stop" and final.response == ""
    assert final.eval_count == len(pieces) + 1  # the EOS token counts, as in Ollama
    assert final.prompt_eval_count and final.prompt_eval_count > 0
    durations = [final.load_duration, final.prompt_eval_duration, final.eval_duration]
    assert all(isinstance(d, int) and d > 0 for d in durations)
    assert isinstance(final.total_duration, int) and final.total_duration >= sum(
        d or 0 for d in durations
    )


def test_the_final_chunk_has_context_only_when_the_request_is_not_raw(
    sync_client: ollama.Client,
) -> None:
    raw = list(sync_client.generate(model=MODEL, prompt="<|fim_prefix|>x", raw=True, stream=True))
    templated = list(sync_client.generate(model=MODEL, prompt="x", suffix="\n", stream=True))
    assert raw[-1].done and raw[-1].context is None
    assert templated[-1].done and templated[-1].context
    assert all(isinstance(token, int) for token in templated[-1].context)


def test_stream_false_returns_the_whole_text_in_one_object(
    fake: FakeOllama, sync_client: ollama.Client
) -> None:
    answer = sync_client.generate(model=MODEL, prompt="x = ", raw=True)
    assert answer.done and answer.done_reason == "stop"
    assert answer.response == "pass"  # the default responder
    assert fake.generate_requests[0].body["stream"] is False


async def test_a_stop_string_ends_generation_and_is_stripped(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.reply_with("a + b\n\nprint(add(1, 2))")
    chunks = await collect(client, prompt="x", raw=True, options={"stop": ["\n\n"]})
    assert joined(chunks) == "a + b"
    assert chunks[-1].done_reason == "stop"


async def test_text_that_may_start_a_stop_string_is_held_back(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(pieces=["x", " <", "b", "<|en", "d|>", "never"]))
    chunks = await collect(client, prompt="x", raw=True, options={"stop": ["<|end|>"]})
    assert [chunk.response for chunk in chunks] == ["x", " <b", ""]
    assert chunks[-1].done_reason == "stop"


async def test_num_predict_cuts_the_output_with_done_reason_length(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.reply_with("a b c d e f")
    chunks = await collect(client, prompt="x", raw=True, options={"num_predict": 3})
    assert joined(chunks) == "a b c"
    assert chunks[-1].done_reason == "length" and chunks[-1].eval_count == 3


async def test_the_last_piece_may_ride_in_the_final_chunk(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a + b", text_in_final_chunk=True))
    chunks = await collect(client, prompt="x", raw=True)
    assert chunks[-1].done and chunks[-1].response == " b"
    assert joined(chunks) == "a + b"


async def test_chat_streams_assistant_messages_then_a_final_chunk(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.reply_with("Looks good.")
    messages = [{"role": "user", "content": "review this"}]
    stream = await client.chat(model=CHAT_MODEL, messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.message.role == "assistant" for chunk in chunks)
    assert "".join(chunk.message.content or "" for chunk in chunks) == "Looks good."
    assert chunks[-1].done and chunks[-1].done_reason == "stop" and chunks[-1].eval_count
    assert fake.chat_requests[0].body["messages"] == messages


# -- the wire --------------------------------------------------------------------------------


def test_a_stream_is_chunked_compact_ndjson_in_gos_field_order(
    fake: FakeOllama, http: httpx.Client
) -> None:
    fake.reply_with("<a> & b")
    with http.stream("POST", "/api/generate", json={"model": MODEL, "prompt": "x"}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        body = response.read()
    lines = body.split(b"\n")
    assert lines.pop() == b"" and all(lines)  # every object ends with \n; no blank lines
    assert b"<" not in body and b"\\u003ca\\u003e" in body  # Go's HTML-safe escaping
    assert all(b'": ' not in line for line in lines)
    objects = [json.loads(line) for line in lines]
    assert list(objects[0]) == ["model", "created_at", "response", "done"]
    final = objects[-1]
    assert list(final) == ["model", "created_at", "response", "done", "done_reason", "context"] + (
        METRICS
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", final["created_at"])
    assert all(type(final[key]) is int for key in METRICS)


def test_a_chat_final_chunk_has_no_context(fake: FakeOllama, http: httpx.Client) -> None:
    body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    lines = http.post("/api/chat", json=body).text.splitlines()
    final = json.loads(lines[-1])
    assert list(final) == ["model", "created_at", "message", "done", "done_reason"] + METRICS
    assert final["message"] == {"role": "assistant", "content": ""}


async def test_headers_are_withheld_until_the_first_token(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a", ttft=0.2))
    async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as http:
        started = time.perf_counter()
        body = {"model": MODEL, "prompt": "x", "raw": True}
        async with http.stream("POST", "/api/generate", json=body) as response:
            headers_after = time.perf_counter() - started
            await response.aread()
    assert headers_after >= 0.18
    started = time.perf_counter()
    stream = await open_stream(client, prompt="x", raw=True)
    await anext(stream)
    assert time.perf_counter() - started >= 0.18
    await stream.aclose()


def test_an_empty_prompt_gets_the_load_stub_as_plain_json(
    sync_client: ollama.Client, http: httpx.Client
) -> None:
    (stub,) = sync_client.generate(model=MODEL, prompt="", suffix="\n", stream=True)
    assert stub.done and stub.done_reason == "load" and stub.response == ""
    response = http.post("/api/generate", json={"model": MODEL, "prompt": "", "stream": True})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["done_reason"] == "load"


def test_connections_are_kept_alive(fake: FakeOllama, sync_client: ollama.Client) -> None:
    for _ in range(3):
        sync_client.generate(model=MODEL, prompt="x", raw=True)
        list(sync_client.generate(model=MODEL, prompt="x", raw=True, stream=True))
    assert fake.connections == 1


# -- errors ----------------------------------------------------------------------------------


async def test_an_unknown_model_is_a_404_with_ollamas_message(
    client: ollama.AsyncClient,
) -> None:
    stream = await client.generate(model="nope:1b", prompt="x", stream=True)
    with pytest.raises(ollama.ResponseError) as caught:
        async for _chunk in stream:
            pass
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope:1b' not found"
    with pytest.raises(ollama.ResponseError) as caught:
        await client.show("nope:1b")
    assert (caught.value.status_code, caught.value.error) == (404, "model 'nope:1b' not found")


def test_a_suffix_on_a_model_without_insert_is_refused(
    fake: FakeOllama, sync_client: ollama.Client
) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        sync_client.generate(model=NO_INSERT_MODEL, prompt="def f(", suffix="\n")
    assert caught.value.status_code == 400
    assert caught.value.error == (
        "registry.ollama.ai/library/deepseek-coder:1.3b-base does not support insert"
    )
    assert fake.generate_requests[0].status == 400


def test_raw_mode_refuses_a_system_prompt(sync_client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        sync_client.generate(model=MODEL, prompt="x", raw=True, system="be brief")
    assert caught.value.status_code == 400
    assert caught.value.error == "raw mode does not support template, system, or context"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "missing request body"),
        (b'{"model": ', "unexpected EOF"),
        (
            b'{"model": "m", "prompt": "x", "keep_alive": "30"}',
            'time: missing unit in duration "30"',
        ),
    ],
    ids=["empty", "truncated-json", "keep-alive-without-unit"],
)
def test_bad_bodies_are_400_with_ollamas_texts(
    http: httpx.Client, content: bytes, message: str
) -> None:
    response = http.post("/api/generate", content=content)
    assert (response.status_code, response.json()) == (400, {"error": message})


async def test_a_busy_server_answers_503(fake: FakeOllama, client: ollama.AsyncClient) -> None:
    fake.set_responder(lambda body: Reply(status=503, error=BUSY))
    with pytest.raises(ollama.ResponseError) as caught:
        await collect(client, prompt="x", raw=True)
    assert (caught.value.status_code, caught.value.error) == (503, BUSY)


async def test_an_error_line_mid_stream_raises_with_status_minus_one(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    error = "an error was encountered while running the model: boom"
    fake.set_responder(lambda body: Reply(text="a + b", midstream_error=error))
    received: list[str] = []
    stream = await open_stream(client, prompt="x", raw=True)
    with pytest.raises(ollama.ResponseError) as caught:
        async for chunk in stream:
            received.append(chunk.response or "")
    assert "".join(received) == "a + b"
    assert (caught.value.status_code, caught.value.error) == (-1, error)


async def test_a_dropped_connection_is_a_remote_protocol_error(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a + b", drop_connection=True))
    received: list[str] = []
    stream = await open_stream(client, prompt="x", raw=True)
    with pytest.raises(httpx.RemoteProtocolError):
        async for chunk in stream:
            received.append(chunk.response or "")
    assert "".join(received) == "a + b"
    assert fake.disconnects == 0  # the server hung up, not the client


async def test_a_stream_may_end_without_a_final_chunk(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a + b", omit_final_chunk=True))
    chunks = await collect(client, prompt="x", raw=True)
    assert joined(chunks) == "a + b"
    assert chunks and not any(chunk.done for chunk in chunks)


async def test_ollamas_token_repeat_guard_ends_a_stream_silently(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(pieces=[")"] * 40))
    chunks = await collect(client, prompt="x", raw=True)
    assert len(chunks) == 31 and not any(chunk.done for chunk in chunks)


async def test_nothing_listens_at_an_unused_url() -> None:
    client = ollama.AsyncClient(host=unused_url(), trust_env=False)
    with pytest.raises(httpx.ConnectError):
        await collect(client, prompt="x")
    await client.close()


# -- the model registry ----------------------------------------------------------------------


async def test_show_reports_insert_only_for_templates_with_a_suffix(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    qwen = await client.show(MODEL)
    deepseek = await client.show(NO_INSERT_MODEL)
    assert qwen.capabilities is not None and "insert" in qwen.capabilities
    assert deepseek.capabilities == ["completion"]
    assert qwen.modelinfo is not None and qwen.modelinfo["qwen2.context_length"] == 32768
    assert deepseek.modelinfo is not None and deepseek.modelinfo["llama.context_length"] == 16384
    assert qwen.template is not None and ".Suffix" in qwen.template
    instruct = await client.show(CHAT_MODEL)  # big enough to come chunked, as from Go
    assert instruct.capabilities == ["completion", "tools", "insert"]
    fake.add_model(FakeModel(name="plain:1b", template="{{ .Prompt }}"))
    assert (await client.show("plain:1b")).capabilities == ["completion"]


def test_show_takes_the_legacy_name_field_and_requires_one(http: httpx.Client) -> None:
    assert http.post("/api/show", json={"name": MODEL}).json()["details"]["family"] == "qwen2"
    response = http.post("/api/show", json={})
    assert (response.status_code, response.json()) == (400, {"error": "model is required"})


def test_list_and_ps_parse_and_follow_loading(fake: FakeOllama, sync_client: ollama.Client) -> None:
    assert [m.model for m in sync_client.list().models] == [
        "qwen2.5-coder:1.5b-base",
        "qwen2.5-coder:7b-instruct",
        "deepseek-coder:1.3b-base",
        "deepseek-coder-v2:16b-lite-base-q4_0",
    ]
    assert sync_client.ps().models == []
    sync_client.generate(model=MODEL, prompt="", keep_alive="30m")
    (loaded,) = sync_client.ps().models
    assert loaded.model == MODEL and loaded.context_length == 4096
    assert loaded.expires_at is not None and loaded.expires_at > datetime.now(timezone.utc)
    unloaded = sync_client.generate(model=MODEL, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert sync_client.ps().models == []


def test_version_root_and_unknown_routes_answer_like_ollama(http: httpx.Client) -> None:
    assert http.get("/api/version").json() == {"version": "0.13.5"}
    assert http.get("/").text == "Ollama is running"
    missing = http.get("/api/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert http.get("/api/generate").status_code == 405


# -- prompt cache and reloads ----------------------------------------------------------------


def test_a_shared_prompt_prefix_is_served_from_the_cache(
    fake: FakeOllama, sync_client: ollama.Client
) -> None:
    prompt = "def add(a, b):\n    return"
    options = {"num_ctx": 8192}
    sync_client.generate(model=MODEL, prompt=prompt, raw=True, options=options)
    warm = sync_client.generate(model=MODEL, prompt=prompt + " a + b", raw=True, options=options)
    reload = sync_client.generate(model=MODEL, prompt=prompt + " a + b", raw=True)
    first, second, third = fake.generate_requests
    assert first.reloaded and first.cached_chars == 0
    assert not second.reloaded and (second.cached_chars, second.fresh_chars) == (len(prompt), 6)
    assert warm.prompt_eval_count == second.prompt_tokens > first.prompt_tokens  # whole prompt
    assert third.reloaded and third.cached_chars == 0  # num_ctx changed: reload, cold cache
    assert reload.load_duration is not None and reload.load_duration >= 2_000_000


# -- disconnects and scheduling --------------------------------------------------------------


async def test_aclose_mid_stream_is_recorded_as_a_disconnect_between_tokens(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    # The next token is 5 s away: only watching the socket can notice the hang-up in time.
    fake.set_responder(lambda body: Reply(text="x = 1\n" * 10, token_delay=5))
    stream = await open_stream(client, prompt="x", raw=True)
    first = await anext(stream)
    await stream.aclose()
    assert await fake.wait_for_disconnects_async(1, timeout=2) == 1
    (request,) = fake.generate_requests
    assert request.disconnected and request.output == first.response
    assert request.done_reason is None


async def test_a_client_that_gives_up_before_the_first_token_is_noticed(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="late", ttft=30))
    consumer = asyncio.create_task(collect(client, prompt="x", raw=True))
    assert await fake.wait_for_requests_async(1) == 1
    consumer.cancel()
    assert await fake.wait_for_disconnects_async(1, timeout=2) == 1
    assert fake.generate_requests[0].status is None  # nothing, not even headers, was sent


async def test_requests_to_one_model_are_served_one_at_a_time(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a b c d", token_delay=0.01))
    order: list[str] = []

    async def record_as_it_streams(tag: str) -> None:
        stream = await client.generate(model=MODEL, prompt=tag, raw=True, stream=True)
        async for _chunk in stream:
            order.append(tag)

    await asyncio.gather(record_as_it_streams("one"), record_as_it_streams("two"))
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert len(order) == 10 and switches == 1


def test_sync_waits_are_woken_by_requests_and_time_out_clearly(
    fake: FakeOllama, sync_client: ollama.Client
) -> None:
    with pytest.raises(TimeoutError, match="saw 0 of 1"):
        fake.wait_for_requests(1, timeout=0.01)
    worker = threading.Thread(target=sync_client.generate, kwargs={"model": MODEL, "prompt": "x"})
    worker.start()
    assert fake.wait_for_requests(1) == 1
    worker.join()
    assert fake.wait_for_disconnects(0) == 0


async def test_async_waits_time_out_clearly(fake: FakeOllama) -> None:
    with pytest.raises(TimeoutError, match="saw 0 of 1 client disconnects"):
        await fake.wait_for_disconnects_async(1, timeout=0.01)


def test_reset_forgets_requests_and_the_responder(
    fake: FakeOllama, sync_client: ollama.Client
) -> None:
    fake.reply_with("scripted")
    sync_client.generate(model=MODEL, prompt="x")
    fake.reset()
    assert fake.requests == [] and fake.disconnects == 0
    assert sync_client.generate(model=MODEL, prompt="x").response == "pass"


def test_stop_closes_open_streams_and_is_idempotent() -> None:
    fake = FakeOllama(ttft=0.001).start()
    fake.set_responder(lambda body: Reply(text="a b c", token_delay=5))
    client = ollama.Client(host=fake.url, trust_env=False)
    url = fake.url
    stream = client.generate(model=MODEL, prompt="x", raw=True, stream=True)
    next(stream)
    fake.stop()
    with pytest.raises(httpx.RemoteProtocolError):
        next(stream)
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, trust_env=False)
    client.close()


# -- /api/pull -------------------------------------------------------------------------------


async def test_pull_streams_progress_and_then_the_model_is_known(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    with pytest.raises(ollama.ResponseError) as missing:
        await client.show("starcoder2:3b")
    assert missing.value.status_code == 404
    stream = await client.pull("starcoder2:3b", stream=True)
    progress = [part async for part in cast(AsyncIterator[ollama.ProgressResponse], stream)]
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [p for p in progress if p.digest]
    assert layers and all(p.digest.startswith("sha256:") for p in layers if p.digest)
    assert all(p.status == f"pulling {p.digest[7:19]}" for p in layers if p.digest)
    assert all(p.total and 0 <= (p.completed or 0) <= p.total for p in layers)
    assert layers[-1].completed == layers[-1].total
    shown = await client.show("starcoder2:3b")
    assert shown.modelinfo is not None
    names = [m.model for m in (await client.list()).models]
    assert "starcoder2:3b" in names
    pulls = [r for r in fake.requests if r.path == "/api/pull"]
    assert [r.body["model"] for r in pulls] == ["starcoder2:3b"]
    assert pulls[0].body["stream"] is True


async def test_a_registered_pullable_model_keeps_its_template(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake._api.add_pullable(FakeModel(name="nofim:1b", template="{{ .Prompt }}"))
    assert (await client.pull("nofim:1b")).status == "success"  # stream=False: one object
    shown = await client.show("nofim:1b")
    assert "insert" not in (shown.capabilities or [])


async def test_a_failing_pull_ends_with_an_error_line(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake._api.fail_pull("nosuch:model")
    stream = await client.pull("nosuch:model", stream=True)
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError) as failed:
        async for part in cast(AsyncIterator[ollama.ProgressResponse], stream):
            seen.append(part.status or "")
    assert seen == ["pulling manifest"]
    assert failed.value.error == "pull model manifest: file does not exist"
    assert failed.value.status_code == -1
    with pytest.raises(ollama.ResponseError):
        await client.show("nosuch:model")


async def test_a_request_is_answered_by_the_responder_in_place_when_it_arrived(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="first answer", ttft=0.3))
    answer = asyncio.ensure_future(collect(client, prompt="x", raw=True))
    await fake.wait_for_requests_async(1)
    fake.reply_with("later answer")  # must not change the request already in
    assert joined((await asyncio.wait_for(answer, 10))[:-1]) == "first answer"
