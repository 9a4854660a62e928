"""The OpenAI-compatible client against the fake vLLM: what only a vLLM-like server shows (the
real llama.cpp server covers the rest in tests/e2e/test_engines.py)."""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.backends.openai_compat import OpenAIClient
from lsp_assist.config import Endpoint
from lsp_assist.errors import (
    AuthFailed,
    ModelFailed,
    ModelNotFound,
    NotAModelServer,
    Redirected,
    ServerBusy,
)
from tests.fakes.fake_openai import DEFAULT_MODEL as SERVED
from tests.fakes.fake_openai import FakeOpenAI, ServedModel

DEFAULT_MODEL = SERVED.id

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
KEY = "sk-" + "fake" * 6


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(ttft=0.001, token_delay=0.0, api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[OpenAIClient]:
    os.environ["TEST_VLLM_KEY"] = KEY
    endpoint = Endpoint(name="gpu", kind="openai", url=fake.url + "/v1", apiKeyEnv="TEST_VLLM_KEY")
    openai = OpenAIClient(endpoint)
    yield openai
    await openai.close()
    del os.environ["TEST_VLLM_KEY"]


async def generate(client: OpenAIClient, prompt: str = "<|fim_prefix|>x = ") -> str:
    stats = GenerationStats()
    pieces = [
        piece
        async for piece in client.stream_generate(
            model=DEFAULT_MODEL,
            prompt=prompt,
            options={"num_predict": 32, "temperature": 0, "stop": ["\n", "<|fim_pad|>"]},
            stats=stats,
        )
    ]
    assert stats.done
    return "".join(pieces)


async def chat(client: OpenAIClient) -> Any:
    return await client.chat(
        model=DEFAULT_MODEL,
        messages=[{"role": "user", "content": "review"}],
        options={"temperature": 0, "num_predict": 64, "seed": 42},
        format=SCHEMA,
    )


async def test_fim_goes_as_a_raw_prompt_with_the_key_and_every_stop(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    fake.reply_with("42\nmore")
    assert await generate(client) == "42"
    [request] = fake.completion_requests
    assert request.body["prompt"] == "<|fim_prefix|>x = "
    assert "suffix" not in request.body  # vLLM rejects it; llama.cpp ignores it
    assert request.body["stop"] == ["\n", "<|fim_pad|>"]
    assert request.body["max_tokens"] == 32  # vLLM's own default would be 16
    assert request.authorization == f"Bearer {KEY}"


async def test_retry_after_is_honoured_without_asking_again(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    fake.fail_next(429, retry_after=30)
    with pytest.raises(ServerBusy) as first:
        await generate(client)
    assert first.value.retry_after_s == 30
    with pytest.raises(ServerBusy):
        await generate(client)  # within the 30 s: not sent
    assert len(fake.completion_requests) == 1
    assert "asked to wait for 30 s" in first.value.user_message()


async def test_a_redirect_is_not_followed_and_the_key_stays_home(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    with FakeOpenAI(ttft=0.001, token_delay=0.0) as elsewhere:
        fake.redirect_next(elsewhere.url)
        with pytest.raises(Redirected) as raised:
            await generate(client)
        assert elsewhere.requests == []
        assert elsewhere.url in raised.value.user_message()
    assert "does not follow redirects" in raised.value.user_message()


async def test_a_wrong_key_is_told_with_the_variable_to_check(fake: FakeOpenAI) -> None:
    os.environ["TEST_WRONG_KEY"] = "sk-wrong"
    endpoint = Endpoint(name="gpu", kind="openai", url=fake.url + "/v1", apiKeyEnv="TEST_WRONG_KEY")
    client = OpenAIClient(endpoint)
    try:
        with pytest.raises(AuthFailed) as raised:
            await generate(client)
    finally:
        await client.close()
        del os.environ["TEST_WRONG_KEY"]
    assert "$TEST_WRONG_KEY" in raised.value.user_message()
    assert "sk-wrong" not in raised.value.user_message()


async def test_a_web_page_is_not_taken_for_a_model_server(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    fake.html_404_next()
    with pytest.raises(NotAModelServer) as raised:
        await generate(client)
    assert "text/html" in str(raised.value)
    assert "check the endpoint's url and kind" in raised.value.user_message()


async def test_review_answers_follow_the_schema_through_response_format(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    fake.reply_with('{"ok": true}')
    answer = await chat(client)
    assert answer.content == '{"ok": true}' and answer.done_reason == "stop"
    assert fake.chat_requests[-1].guided_by == "json_schema"


async def test_an_older_vllm_gets_guided_json_and_keeps_getting_it(fake: FakeOpenAI) -> None:
    fake.set_structured_output_support(json_schema=False, guided_json=True)
    fake.reply_with('{"ok": false}')
    os.environ["TEST_VLLM_KEY"] = KEY
    endpoint = Endpoint(name="gpu", kind="openai", url=fake.url + "/v1", apiKeyEnv="TEST_VLLM_KEY")
    client = OpenAIClient(endpoint)
    try:
        assert (await chat(client)).content == '{"ok": false}'
        assert (await chat(client)).content == '{"ok": false}'
    finally:
        await client.close()
    guided = [r.guided_by for r in fake.chat_requests]
    assert guided == [None, "guided_json", "guided_json"]  # refused once, then remembered


async def test_the_served_model_is_the_one_asked_for_or_the_only_one(
    client: OpenAIClient, fake: FakeOpenAI
) -> None:
    served = await client.served_model("qwen2.5-coder:1.5b-base", "completionModel")
    assert served.id == DEFAULT_MODEL  # the server serves one model: that is the one
    fake.add_model(ServedModel("Qwen/Qwen2.5-Coder-1.5B", max_model_len=8192))
    other = OpenAIClient(client.endpoint)
    try:
        assert (await other.served_model("Qwen/Qwen2.5-Coder-1.5B", "x")).context_length == 8192
        with pytest.raises(ModelNotFound) as raised:
            await other.served_model("qwen2.5-coder:1.5b-base", "lspAssist.endpoints.gpu.model")
    finally:
        await other.close()
    message = raised.value.user_message()
    assert DEFAULT_MODEL in message and "lspAssist.endpoints.gpu.model" in message


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https `/v1/models` with a certificate from a private CA (made with openssl)."""
    ca_key, ca, key, csr, cert = (
        tmp_path / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    ext = tmp_path / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        f"req -x509 -newkey rsa:2048 -nodes -keyout {ca_key} -out {ca} -days 2 -subj /CN=test-ca",
        f"req -newkey rsa:2048 -nodes -keyout {key} -out {csr} -subj /CN=127.0.0.1",
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -out {cert} -days 2 "
        f"-extfile {ext}",
    ):
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.dumps({"object": "list", "data": [{"id": "m", "max_model_len": 64}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1", ca
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_is_verified_and_a_private_ca_can_be_added(
    tls_server: tuple[str, Path],
) -> None:
    url, ca = tls_server
    untrusting = OpenAIClient(Endpoint(name="gpu", kind="openai", url=url))
    trusting = OpenAIClient(Endpoint(name="gpu", kind="openai", url=url, caBundle=str(ca)))
    try:
        with pytest.raises(ModelFailed) as raised:
            await untrusting.models()
        assert "caBundle" in raised.value.user_message()
        assert list(await trusting.models()) == ["m"]
    finally:
        await untrusting.close()
        await trusting.close()
