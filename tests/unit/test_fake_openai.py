"""The fake vLLM, checked with httpx on the raw wire.

Each test states one behaviour of vLLM's OpenAI-compatible server (see the notes at the top of
tests/fakes/fake_openai.py, with their sources) or one scripting promise of the fake, which the
project's other tests rely on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.fake_openai import DEFAULT_MODEL, FakeOpenAI, Reply, ServedModel, split_pieces

MODEL = DEFAULT_MODEL.id
REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "severity": {"type": "string", "enum": ["low", "high"]},
                },
                "required": ["line", "severity"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
}
VALID_REVIEW = '{"findings": [{"line": 3, "severity": "high"}]}'
MESSAGES = [{"role": "user", "content": "review this"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(ttft=0.001, token_delay=0.0) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
        yield client


def completion(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": "def add(a, b):\n", "max_tokens": 64} | fields


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES} | fields


def json_schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "review", "schema": schema}}


async def stream_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Any]:
    """The SSE events of a streamed answer: parsed objects, and "[DONE]"."""
    async with client.stream("POST", path, json=body | {"stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        return parse_sse(await response.aread())


def parse_sse(body: bytes) -> list[Any]:
    text = body.decode()
    assert text.endswith("\n\n")
    raw = text.split("\n\n")[:-1]
    assert all(event.startswith("data: ") for event in raw), raw
    return [e[6:] if e == "data: [DONE]" else json.loads(e[6:]) for e in raw]


def texts(events: list[Any]) -> list[str]:
    return [e["choices"][0]["text"] for e in events if isinstance(e, dict) and e["choices"]]


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == response.status_code
    return body["error"]


# -- models and routes -------------------------------------------------------------------------


async def test_models_lists_the_served_models_as_vllms_model_cards() -> None:
    models = [ServedModel("coder", max_model_len=8192, root="/models/qwen"), ServedModel("chat")]
    with FakeOpenAI(models=models) as fake:
        listing = httpx.get(fake.url + "/v1/models", trust_env=False).json()
    assert listing["object"] == "list"
    first, second = listing["data"]
    assert (first["id"], first["object"], first["owned_by"]) == ("coder", "model", "vllm")
    assert (first["root"], first["max_model_len"], first["parent"]) == ("/models/qwen", 8192, None)
    assert isinstance(first["created"], int) and first["permission"][0]["object"] == (
        "model_permission"
    )
    assert second["root"] == "chat" and second["max_model_len"] == 32768


async def test_an_unknown_model_is_vllms_404_naming_it(client: httpx.AsyncClient) -> None:
    for path, body in (("/completions", completion()), ("/chat/completions", chat())):
        response = await client.post(path, json=body | {"model": "nope"})
        assert response.status_code == 404
        assert error_of(response) == {
            "message": "The model `nope` does not exist.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }


async def test_a_request_without_model_uses_the_first_served_model(
    client: httpx.AsyncClient,
) -> None:
    body = completion()
    del body["model"]
    assert (await client.post("/completions", json=body)).json()["model"] == MODEL


def test_health_version_and_unknown_routes_answer_like_fastapi(fake: FakeOpenAI) -> None:
    with httpx.Client(base_url=fake.url, trust_env=False) as http:
        health = http.get("/health")
        assert (health.status_code, health.content) == (200, b"")
        assert http.get("/version").json() == {"version": "0.11.0"}
        missing = http.get("/v1/nothing")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
        wrong = http.get("/v1/completions")
        assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})


def test_connections_are_kept_alive(fake: FakeOpenAI) -> None:
    with httpx.Client(base_url=fake.url + "/v1", trust_env=False) as http:
        for _ in range(3):
            http.post("/completions", json=completion())
            http.post("/completions", json=completion(stream=True))
    assert fake.connections == 1


# -- /v1/completions -----------------------------------------------------------------------------


async def test_a_completion_has_vllms_fields_and_usage(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("    return a + b\n")
    response = await client.post("/completions", json=completion())
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["id"].startswith("cmpl-") and answer["object"] == "text_completion"
    assert answer["model"] == MODEL and isinstance(answer["created"], int)
    (choice,) = answer["choices"]
    assert choice == {
        "index": 0,
        "text": "    return a + b\n",
        "logprobs": None,
        "finish_reason": "stop",
        "stop_reason": None,
        "prompt_logprobs": None,
    }
    usage = answer["usage"]
    assert usage["prompt_tokens"] == len("def add(a, b):\n")  # one token per character
    assert usage["completion_tokens"] == len(split_pieces("    return a + b\n")) + 1  # and EOS
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_suffix_is_refused_as_vllm_refuses_it(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/completions", json=completion(suffix="\n"))
    assert response.status_code == 400
    assert error_of(response)["message"] == "suffix is not currently supported"
    assert error_of(response)["type"] == "BadRequestError"
    assert fake.completion_requests[0].body["suffix"] == "\n"


async def test_a_stream_is_sse_events_ending_with_a_final_chunk_and_done(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("return a + b")
    events = await stream_events(client, "/completions", completion())
    assert events[-1] == "[DONE]"
    *pieces, final = events[:-1]
    assert len(pieces) > 1 and all(p["choices"][0]["finish_reason"] is None for p in pieces)
    assert list(pieces[0]) == ["id", "object", "created", "model", "choices"]
    assert list(pieces[0]["choices"][0]) == [
        "index",
        "text",
        "logprobs",
        "finish_reason",
        "stop_reason",
    ]
    assert "".join(texts(events)) == "return a + b"
    assert final["choices"][0]["finish_reason"] == "stop" and final["choices"][0]["text"] == ""
    assert len({e["id"] for e in events[:-1]}) == 1
    assert not any("usage" in e for e in events[:-1])  # no stream_options, no usage


@pytest.mark.parametrize("options", [{"include_usage": True}, {}], ids=["explicit", "default"])
async def test_stream_options_add_a_usage_chunk_before_done(
    fake: FakeOpenAI, client: httpx.AsyncClient, options: dict[str, Any]
) -> None:
    events = await stream_events(client, "/completions", completion(stream_options=options))
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == [] and events[-1] == "[DONE]"
    assert usage_chunk["usage"]["prompt_tokens"] == len("def add(a, b):\n")
    assert usage_chunk["usage"]["completion_tokens"] == 2  # "pass" and EOS


async def test_stream_headers_arrive_before_the_first_token(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="x", ttft=0.3))
    started = time.perf_counter()
    async with client.stream("POST", "/completions", json=completion(stream=True)) as response:
        headers_after = time.perf_counter() - started
        await response.aread()
        body_after = time.perf_counter() - started
    assert headers_after < 0.2 <= body_after


async def test_a_stop_string_ends_generation_is_removed_and_named(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("a + b\n\nprint(add(1, 2))")
    answer = (await client.post("/completions", json=completion(stop=["\n\n"]))).json()
    (choice,) = answer["choices"]
    assert (choice["text"], choice["finish_reason"], choice["stop_reason"]) == (
        "a + b",
        "stop",
        "\n\n",
    )


async def test_while_stop_strings_are_set_the_last_characters_are_held_back(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    # vLLM holds back max(len(stop)) - 1 characters until the end, and still sends one chunk
    # per token, with "" when everything it has is held back.
    fake.set_responder(lambda body: Reply(pieces=["x = ", "1", "<|en", "d|>", "never"]))
    events = await stream_events(client, "/completions", completion(stop="<|end|>"))
    assert texts(events) == ["", "", "x =", " 1"]
    assert events[-2]["choices"][0]["stop_reason"] == "<|end|>"


async def test_max_tokens_cuts_with_finish_reason_length(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("a b c d e f")
    answer = (await client.post("/completions", json=completion(max_tokens=3))).json()
    assert answer["choices"][0]["text"] == "a b c"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 3  # no EOS: the model was cut off


async def test_completions_default_to_sixteen_tokens(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with(" x" * 40)
    body = completion()
    del body["max_tokens"]
    answer = (await client.post("/completions", json=body)).json()
    assert answer["usage"]["completion_tokens"] == 16
    assert answer["choices"][0]["finish_reason"] == "length"


async def test_cached_tokens_are_whole_blocks_of_a_prefix_seen_before() -> None:
    prompt = "x" * 40
    with FakeOpenAI(ttft=0.001, token_delay=0.0) as fake:
        async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
            for sent in (prompt, "y" * 40, prompt + " more", prompt):
                await client.post("/completions", json=completion(prompt=sent))
            usage = (await client.post("/completions", json=completion(prompt=prompt))).json()
    cached = [r.cached_tokens for r in fake.completion_requests]
    # nothing; nothing shared; 40 from the first (2 blocks of 16); the whole prompt but its
    # last token (39, so 2 blocks); and the answer reports it
    assert cached == [0, 0, 32, 32, 32]
    assert usage["usage"]["prompt_tokens_details"] == {"cached_tokens": 32}


async def test_with_one_token_blocks_the_cache_is_the_longest_common_prefix() -> None:
    with FakeOpenAI(ttft=0.001, token_delay=0.0, prefix_block_size=1) as fake:
        fake.reply_with("pass")
        async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
            await client.post("/completions", json=completion(prompt="abcdef"))
            await client.post("/completions", json=completion(prompt="abcdXY"))
            await client.post("/completions", json=completion(prompt="abcdefpassZ"))
            await client.post("/completions", json=completion(prompt="abcdef"))
    # the output is cached too; a prompt seen whole still computes its last token
    assert [r.cached_tokens for r in fake.completion_requests] == [0, 4, 10, 5]


async def test_cached_tokens_are_not_reported_without_prompt_tokens_details() -> None:
    with FakeOpenAI(prompt_tokens_details=False) as fake:
        answer = httpx.post(fake.url + "/v1/completions", json=completion(), trust_env=False)
    assert "prompt_tokens_details" not in answer.json()["usage"]


async def test_the_context_length_is_enforced_with_vllms_messages() -> None:
    with FakeOpenAI(models=[ServedModel(MODEL, max_model_len=100)]) as fake:
        async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
            too_long = await client.post("/completions", json=completion(prompt="x" * 100))
            too_many = await client.post("/completions", json=completion(prompt="x" * 60))
    assert error_of(too_long)["message"] == (
        "This model's maximum context length is 100 tokens. However, your request has 100 "
        "input tokens. Please reduce the length of the input messages."
    )
    assert error_of(too_many)["message"].startswith(
        "'max_tokens' or 'max_completion_tokens' is too large: 64."
    )
    assert too_many.status_code == too_long.status_code == 400


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stream_options": {"include_usage": True}}, "Stream options can only be defined"),
        ({"prompt": ""}, "Either prompt or prompt_embeds must be provided and non-empty."),
        ({"temperature": -1}, "temperature must be non-negative, got -1."),
        ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5."),
        ({"max_tokens": "ten"}, "'msg': 'Input should be a valid integer'"),
    ],
    ids=["stream-options-without-stream", "empty-prompt", "temperature", "top-p", "type"],
)
async def test_bad_parameters_are_400s_with_vllms_texts(
    client: httpx.AsyncClient, fields: dict[str, Any], message: str
) -> None:
    response = await client.post("/completions", json=completion(**fields))
    assert response.status_code == 400
    assert message in error_of(response)["message"]


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/completions", content=b'{"model": ')
    assert response.status_code == 400 and "json_invalid" in error_of(response)["message"]


# -- /v1/chat/completions ----------------------------------------------------------------------


async def test_a_streamed_chat_sends_the_role_then_content_then_the_finish(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("Looks good.")
    events = await stream_events(client, "/chat/completions", chat())
    first, *pieces, final, done = events
    assert first["object"] == "chat.completion.chunk" and first["id"].startswith("chatcmpl-")
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(p["choices"][0]["delta"]["content"] for p in pieces) == "Looks good."
    assert all("stop_reason" not in p["choices"][0] for p in pieces)
    assert final["choices"][0] == {
        "index": 0,
        "delta": {"content": ""},
        "logprobs": None,
        "finish_reason": "stop",
        "stop_reason": None,
    }
    assert done == "[DONE]"


async def test_a_whole_chat_answer_carries_the_assistant_message(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    answer = (await client.post("/chat/completions", json=chat())).json()
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    message = answer["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "Looks fine to me.")
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert fake.chat_requests[0].body["messages"] == MESSAGES


async def test_a_json_schema_answer_is_held_to_the_schema(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with(VALID_REVIEW)
    body = chat(response_format=json_schema_format(REVIEW_SCHEMA))
    answer = (await client.post("/chat/completions", json=body)).json()
    assert json.loads(answer["choices"][0]["message"]["content"]) == json.loads(VALID_REVIEW)
    (request,) = fake.chat_requests
    assert (request.guided_by, request.schema) == ("json_schema", REVIEW_SCHEMA)


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ('{"findings": [{"line": "3", "severity": "high"}]}', "expected integer, got string"),
        ('{"findings": [{"line": 3}]}', "missing required property 'severity'"),
        ("Sure! Here is the JSON:", "it is not JSON"),
    ],
    ids=["wrong-type", "missing-field", "prose"],
)
async def test_a_script_that_breaks_the_schema_is_a_500_blaming_the_test(
    fake: FakeOpenAI, client: httpx.AsyncClient, script: str, why: str
) -> None:
    fake.reply_with(script)
    body = chat(response_format=json_schema_format(REVIEW_SCHEMA))
    response = await client.post("/chat/completions", json=body)
    assert response.status_code == 500
    message = error_of(response)["message"]
    assert message.startswith("fake vLLM: the test scripted") and why in message


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "not-a-type"}, "Grammar error: Invalid type: not-a-type"),
        ({"$ref": "#/$defs/missing"}, "Grammar error: Pointer '/$defs/missing' does not exist"),
        ({"type": "object", "required": "line"}, "'required' at '/' must be an array of strings"),
    ],
    ids=["type", "ref", "required"],
)
async def test_an_invalid_schema_is_refused_before_generating(
    fake: FakeOpenAI, client: httpx.AsyncClient, schema: Any, message: str
) -> None:
    body = chat(response_format=json_schema_format(schema))
    response = await client.post("/chat/completions", json=body)
    assert response.status_code == 400
    assert message in error_of(response)["message"]


async def test_guided_json_holds_the_answer_on_a_server_that_knows_it(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.queue_replies(VALID_REVIEW, "not json")
    first = await client.post("/chat/completions", json=chat(guided_json=REVIEW_SCHEMA))
    second = await client.post(
        "/chat/completions", json=chat(guided_json=json.dumps(REVIEW_SCHEMA))
    )
    assert first.status_code == 200 and second.status_code == 500
    assert [r.guided_by for r in fake.chat_requests] == ["guided_json", "guided_json"]
    assert fake.chat_requests[1].schema == REVIEW_SCHEMA  # the JSON text form is decoded


async def test_an_older_vllm_refuses_json_schema_and_answers_flat_errors() -> None:
    with FakeOpenAI(vllm_version="0.5.4") as fake:
        fake.reply_with(VALID_REVIEW)
        async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
            body = chat(response_format=json_schema_format(REVIEW_SCHEMA))
            refused = await client.post("/chat/completions", json=body)
            guided = await client.post("/chat/completions", json=chat(guided_json=REVIEW_SCHEMA))
    assert refused.status_code == 400
    error = refused.json()
    assert (error["object"], error["type"], error["code"]) == ("error", "BadRequestError", 400)
    assert "Input should be 'text' or 'json_object'" in error["message"]
    assert guided.status_code == 200 and fake.chat_requests[1].guided_by == "guided_json"


async def test_a_newer_vllm_silently_ignores_guided_json() -> None:
    with FakeOpenAI(vllm_version="0.12.0") as fake:
        fake.reply_with("Sure! Here is the JSON:")
        async with httpx.AsyncClient(base_url=fake.url + "/v1", trust_env=False) as client:
            answer = await client.post("/chat/completions", json=chat(guided_json=REVIEW_SCHEMA))
    assert answer.status_code == 200  # unconstrained output, no error, no warning to the client
    assert answer.json()["choices"][0]["message"]["content"] == "Sure! Here is the JSON:"
    (request,) = fake.chat_requests
    assert (request.guided_by, request.ignored) == (None, ["guided_json"])


async def test_structured_output_support_can_be_switched_between_requests(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    body = chat(response_format=json_schema_format(REVIEW_SCHEMA))
    fake.set_structured_output_support(json_schema=False)
    assert (await client.post("/chat/completions", json=body)).status_code == 400
    fake.set_structured_output_support(json_schema=True, guided_json=False)
    assert (await client.post("/chat/completions", json=body)).status_code == 200
    ignored = await client.post("/chat/completions", json=chat(guided_json=REVIEW_SCHEMA))
    assert ignored.status_code == 200 and fake.chat_requests[-1].ignored == ["guided_json"]


async def test_the_supports_flags_override_the_version() -> None:
    with FakeOpenAI(vllm_version="0.12.0", supports_guided_json=True) as fake:
        body = chat(guided_json=REVIEW_SCHEMA)
        httpx.post(fake.url + "/v1/chat/completions", json=body, trust_env=False)
    assert fake.chat_requests[0].guided_by == "guided_json"


async def test_json_object_accepts_any_json_and_nothing_else(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.queue_replies('{"anything": [1, 2]}', "plain words")
    body = chat(response_format={"type": "json_object"})
    assert (await client.post("/chat/completions", json=body)).status_code == 200
    assert (await client.post("/chat/completions", json=body)).status_code == 500


async def test_unscripted_guided_answers_are_the_smallest_valid_value(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    body = chat(response_format=json_schema_format(REVIEW_SCHEMA))
    answer = (await client.post("/chat/completions", json=body)).json()
    assert json.loads(answer["choices"][0]["message"]["content"]) == {"findings": []}


async def test_max_tokens_can_cut_a_valid_guided_answer_into_broken_json(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with('{"findings": []' + "\n" * 200 + "}")  # the whitespace runaway
    body = chat(response_format=json_schema_format(REVIEW_SCHEMA), max_tokens=8)
    answer = (await client.post("/chat/completions", json=body)).json()
    assert answer["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer["choices"][0]["message"]["content"])


async def test_conflicting_structured_output_requests_are_refused(
    client: httpx.AsyncClient,
) -> None:
    two_kinds = chat(guided_json=REVIEW_SCHEMA, guided_regex="[a-z]+")
    missing = chat(response_format={"type": "json_schema"})
    response = await client.post("/chat/completions", json=two_kinds)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("You can only use one kind of guided decoding")
    response = await client.post("/chat/completions", json=missing)  # vllm-project/vllm#35438
    assert response.status_code == 500 and error_of(response)["message"] == ""


# -- the API key -------------------------------------------------------------------------------


def test_with_an_api_key_every_v1_path_needs_the_bearer_key() -> None:
    with FakeOpenAI(api_key="sk-test") as fake, httpx.Client(trust_env=False) as http:
        url = fake.url + "/v1/completions"
        missing = http.post(url, json=completion())
        wrong = http.post(url, json=completion(), headers={"Authorization": "Bearer sk-other"})
        right = http.post(url, json=completion(), headers={"Authorization": "Bearer sk-test"})
        models = http.get(fake.url + "/v1/models")
        health = http.get(fake.url + "/health")
    for refused in (missing, wrong, models):
        assert (refused.status_code, refused.json()) == (401, {"error": "Unauthorized"})
    assert right.status_code == 200 and health.status_code == 200
    assert fake.authorizations == [None, "Bearer sk-other", "Bearer sk-test", None, None]


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_fail_next_answers_once_with_retry_after_and_vllms_body(
    fake: FakeOpenAI, client: httpx.AsyncClient, status: int
) -> None:
    fake.fail_next(status, retry_after=7)
    refused = await client.post("/completions", json=completion())
    answered = await client.post("/completions", json=completion())
    assert refused.status_code == status and refused.headers["retry-after"] == "7"
    assert error_of(refused)["type"] in ("RateLimitError", "ServiceUnavailableError")
    assert answered.status_code == 200
    assert [r.fault for r in fake.requests] == ["status", None]


async def test_faults_hit_the_generation_endpoints_unless_told_otherwise(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.fail_next(503, times=None)
    fake.fail_next(502, body=b"Bad Gateway", content_type="text/plain", paths=None)
    assert (await client.get("/models")).status_code == 502  # the second fault hits any path
    for _ in range(3):
        assert (await client.post("/completions", json=completion())).status_code == 503
    fake.clear_faults()
    assert (await client.post("/completions", json=completion())).status_code == 200


async def test_a_redirect_target_never_sees_the_bearer_key() -> None:
    with FakeOpenAI(api_key="sk-test") as source, FakeOpenAI() as target:
        source.redirect_next(target.url)
        headers = {"Authorization": "Bearer sk-test"}
        async with httpx.AsyncClient(
            base_url=source.url + "/v1", headers=headers, follow_redirects=True, trust_env=False
        ) as client:
            answer = await client.post("/completions", json=completion(prompt="moved"))
        assert await target.wait_for_any_requests_async(1) == 1
        assert answer.status_code == 200 and str(answer.url).startswith(target.url)
    assert source.requests[0].status == 307 and source.authorizations == ["Bearer sk-test"]
    assert target.authorizations == [None]  # httpx drops the key for another origin
    assert target.completion_requests[0].body["prompt"] == "moved"  # 307 keeps method and body


async def test_a_redirect_names_the_target_with_the_request_path(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.redirect_next("https://elsewhere.example", status=302)
    response = await client.post("/completions?x=1", json=completion())
    assert response.status_code == 302
    assert response.headers["location"] == "https://elsewhere.example/v1/completions?x=1"


async def test_a_hang_sends_nothing_until_released(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.hang_next()
    answer = asyncio.ensure_future(client.post("/completions", json=completion()))
    assert await fake.wait_for_hung_async(1) == 1
    done, _ = await asyncio.wait({answer}, timeout=0.3)
    assert not done and fake.requests[0].status is None
    fake.release_hangs()
    assert (await asyncio.wait_for(answer, 5)).status_code == 200


async def test_a_client_that_gives_up_during_a_hang_is_a_disconnect(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.hang_next()
    answer = asyncio.ensure_future(client.post("/completions", json=completion()))
    await fake.wait_for_hung_async(1)
    answer.cancel()
    assert await fake.wait_for_disconnects_async(1, timeout=2) == 1
    assert fake.requests[0].status is None


async def test_a_trickling_stream_spaces_its_tokens(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(pieces=["a", "b", "c"], token_delay=0.1))
    arrivals = []
    body = completion(stream=True)
    async with client.stream("POST", "/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.perf_counter())
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) == 3 and all(gap >= 0.08 for gap in gaps)


async def test_a_stream_cut_midway_is_a_remote_protocol_error(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(pieces=["a", "b", "c", "d"], drop_after=2))
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", "/completions", json=completion(stream=True)) as r:
            async for line in r.aiter_lines():
                received.append(line)
    assert [json.loads(line[6:])["choices"][0]["text"] for line in received if line] == ["a", "b"]
    assert fake.disconnects == 0 and not fake.requests[0].completed  # the server hung up


async def test_a_stream_may_end_cleanly_without_final_chunk_or_done(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a + b", omit_done=True))
    events = await stream_events(client, "/completions", completion())
    assert "".join(texts(events)) == "a + b" and "[DONE]" not in events
    assert all(e["choices"][0]["finish_reason"] is None for e in events)


async def test_an_error_during_generation_is_an_error_event_then_done(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="a + b", midstream_error="Internal server error"))
    events = await stream_events(client, "/completions", completion())
    assert events[-1] == "[DONE]"
    assert events[-2] == {
        "error": {
            "message": "Internal server error",
            "type": "InternalServerError",
            "param": None,
            "code": 500,
        }
    }
    assert "".join(texts(events[:-2])) == "a + b"


async def test_a_refusing_reply_answers_vllms_error(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(status=500, error="EngineCore encountered an issue."))
    response = await client.post("/completions", json=completion())
    assert response.status_code == 500
    assert error_of(response)["message"] == "EngineCore encountered an issue."


async def test_html_404_is_a_web_server_that_is_not_an_inference_engine(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.html_404_next(times=None, paths=None)
    for response in (await client.get("/models"), await client.post("/completions", json={})):
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/html"
        assert (
            response.headers["server"] == "nginx" and b"<h1>404 Not Found</h1>" in response.content
        )


# -- streams and disconnects -------------------------------------------------------------------


async def test_closing_a_stream_early_is_recorded_and_the_stream_ends(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    # The next token is 5 s away: only watching the socket can notice the hang-up in time.
    fake.set_responder(lambda body: Reply(text="x = 1\n" * 10, token_delay=5))
    async with client.stream("POST", "/completions", json=completion(stream=True)) as response:
        first = await anext(response.aiter_lines())
        assert fake.open_streams == 1
    assert await fake.wait_for_disconnects_async(1, timeout=2) == 1
    (request,) = fake.requests
    assert fake.streams_closed_early == [request] and fake.open_streams == 0
    assert request.output == json.loads(first[6:])["choices"][0]["text"]
    assert request.finish_reason is None


async def test_open_streams_counts_streams_in_flight(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="slow", ttft=30))
    streams = [
        asyncio.ensure_future(client.post("/completions", json=completion(stream=True)))
        for _ in range(2)
    ]
    assert await fake.wait_for_open_streams_async(2) == 2
    for stream in streams:
        stream.cancel()
    assert await fake.wait_for_disconnects_async(2, timeout=2) == 2
    assert fake.open_streams == 0


# -- scripting ---------------------------------------------------------------------------------


async def test_queued_replies_come_first_then_the_responder(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.reply_with("responder")
    fake.queue_replies("first", Reply(text="second"))
    answers = [
        (await client.post("/completions", json=completion())).json()["choices"][0]["text"]
        for _ in range(3)
    ]
    assert answers == ["first", "second", "responder"]


async def test_a_request_is_answered_by_the_responder_in_place_when_it_arrived(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    fake.set_responder(lambda body: Reply(text="first answer", ttft=0.3))
    answer = asyncio.ensure_future(client.post("/completions", json=completion()))
    await fake.wait_for_requests_async(1)
    fake.reply_with("later answer")  # must not change the request already in
    assert (await answer).json()["choices"][0]["text"] == "first answer"


async def test_a_failing_responder_is_a_500_naming_it(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    def broken(body: dict[str, Any]) -> Reply:
        raise KeyError("oops")

    fake.set_responder(broken)
    response = await client.post("/completions", json=completion())
    assert response.status_code == 500
    assert error_of(response)["message"].startswith("fake vLLM: the test's responder failed")


def test_waits_are_woken_by_requests_and_time_out_clearly(fake: FakeOpenAI) -> None:
    with pytest.raises(TimeoutError, match="saw 0 of 1 generation requests"):
        fake.wait_for_requests(1, timeout=0.01)
    httpx.post(fake.url + "/v1/completions", json=completion(), trust_env=False)
    assert fake.wait_for_requests(1) == 1 and fake.wait_for_disconnects(0) == 0


async def test_answers_are_counted_when_sent_to_their_end(
    fake: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    await client.post("/completions", json=completion())
    await stream_events(client, "/chat/completions", chat())
    assert await fake.wait_for_answers_async(2) == 2
    assert all(r.completed for r in fake.requests)


def test_reset_forgets_requests_scripts_and_faults(fake: FakeOpenAI) -> None:
    fake.reply_with("scripted")
    fake.fail_next(503, times=None)
    httpx.post(fake.url + "/v1/completions", json=completion(), trust_env=False)
    fake.reset()
    assert fake.requests == [] and fake.disconnects == 0
    answer = httpx.post(fake.url + "/v1/completions", json=completion(), trust_env=False)
    assert answer.json()["choices"][0]["text"] == "pass"


def test_stop_closes_open_streams_and_is_idempotent() -> None:
    fake = FakeOpenAI(ttft=0.001).start()
    fake.set_responder(lambda body: Reply(text="a b c", token_delay=5))
    url = fake.url
    with httpx.Client(trust_env=False) as http:
        with http.stream("POST", url + "/v1/completions", json=completion(stream=True)) as r:
            lines = r.iter_lines()
            next(lines)
            fake.stop()
            with pytest.raises(httpx.RemoteProtocolError):
                list(lines)
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, trust_env=False)
