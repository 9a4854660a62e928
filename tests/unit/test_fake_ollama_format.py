"""The fake Ollama's `format`: checked as Ollama checks it, and the scripted answer held to the
grammar Ollama would constrain the model with (tests/fakes/ollama_format.py has the sources)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from lsp_assist.review.schema import review_schema
from tests.fakes.fake_ollama import FakeOllama, Reply
from tests.fakes.ollama_format import (
    INVALID_SCHEMA,
    JSON_GRAMMAR,
    SchemaError,
    invalid_format,
    schema_grammar,
)

CHAT_MODEL = "qwen2.5-coder:7b-instruct"
MODEL = "qwen2.5-coder:1.5b-base"
MESSAGES = [{"role": "user", "content": "Review this function."}]
EXPECTED = 'expected "json" or a valid JSON Schema object'
FINDING = {
    "line": 3,
    "evidence": "if amount < balance:",
    "trigger": "withdraw(a, 5) with a balance of 10 raises",
    "is_problem": True,
    "category": "logic",
    "confidence": "high",
    "message": "The comparison is inverted",
    "fix_old": "amount < balance",
    "fix_new": "amount > balance",
}
SCHEMA = review_schema(3)  # what lsp_assist sends: findings with maxItems 3
ANSWER = json.dumps({"findings": [FINDING]})


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(ttft=0.005, token_delay=0.001) as fake:
        yield fake


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    client = ollama.Client(host=fake.url, trust_env=False)
    yield client
    client.close()


@pytest.fixture
def http(fake: FakeOllama) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, trust_env=False) as http:
        yield http


def chat_body(format_json: str, *, stream: bool = True, messages: Any = MESSAGES) -> bytes:
    """A chat request whose `format` is spelled exactly `format_json`."""
    head = json.dumps({"model": CHAT_MODEL, "messages": messages, "stream": stream})
    return f'{head[:-1]}, "format": {format_json}}}'.encode()


def review(client: ollama.Client, **kwargs: Any) -> ollama.ChatResponse:
    return client.chat(model=CHAT_MODEL, messages=MESSAGES, format=SCHEMA, **kwargs)


# -- Ollama's checks of the format -----------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize(
    ("spelled", "quoted"),
    [
        ('"yaml"', '"\\"yaml\\""'),
        ('"JSON"', '"\\"JSON\\""'),  # the comparison is with the bytes `"json"`
        ('[ "json" ]', '"[ \\"json\\" ]"'),  # the raw bytes, spacing kept
        ("1", '"1"'),
        ('"{\\"type\\": \\"object\\"}"', '"\\"{\\\\\\"type\\\\\\": \\\\\\"object\\\\\\"}\\""'),
    ],
    ids=["yaml", "upper-case", "array", "number", "schema-as-a-string"],
)
def test_a_format_neither_json_nor_an_object_is_a_500_with_ollamas_text(
    fake: FakeOllama, http: httpx.Client, spelled: str, quoted: str, stream: bool
) -> None:
    fake.reply_with(ANSWER)
    response = http.post("/api/chat", content=chat_body(spelled, stream=stream))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json; charset=utf-8"  # not NDJSON
    assert response.json() == {"error": f"invalid format: {quoted}; {EXPECTED}"}
    assert fake.chat_requests[0].status == 500


def test_the_invalid_format_text_is_gos_percent_q_as_ollamas_own_test_has_it() -> None:
    # llm/server_test.go TestLLMServerCompletionFormat: checkInvalid("X"), checkInvalid(`"X"`).
    assert invalid_format("X") == f'invalid format: "X"; {EXPECTED}'
    assert invalid_format('"X"') == f'invalid format: "\\"X\\""; {EXPECTED}'


@pytest.mark.parametrize(
    "schema",
    [
        # ollama/ollama#8325: pydantic's `pattern` without anchors
        {"type": "object", "properties": {"text": {"type": "string", "pattern": "[0-9]"}}},
        # datalab-to/marker#984: `$defs` dropped, `$ref` kept
        {"type": "object", "properties": {"blocks": {"items": {"$ref": "#/$defs/Block"}}}},
        {"$schema": "http://json-schema.org/draft-07/schema#"},  # what zod v4 + v3 emitted
        {"type": "object", "properties": {"a": {"description": "no type"}}},
        {"type": "strnig"},
        {"type": "object", "properties": {"a": {"type": "string", "format": 5}}},
        {"$ref": "other.json#/A"},
    ],
    ids=[
        "unanchored-pattern",
        "dangling-ref",
        "only-dollar-schema",
        "untyped",
        "unknown-type",
        "non-string-format",
        "relative-ref",
    ],
)
def test_a_schema_llama_cpp_cannot_convert_is_a_500(
    fake: FakeOllama, client: ollama.Client, schema: dict[str, Any]
) -> None:
    fake.reply_with(ANSWER)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=CHAT_MODEL, messages=MESSAGES, format=schema)
    assert (caught.value.status_code, caught.value.error) == (500, INVALID_SCHEMA)
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.generate(model=MODEL, prompt="x", format=schema, stream=True))
    assert (caught.value.status_code, caught.value.error) == (500, INVALID_SCHEMA)


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"type": "object"},
        {"type": ["string", "null"]},
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "boolean"}]},
        {"$defs": {"B": {"type": "string", "format": "date"}}, "items": {"$ref": "#/$defs/B"}},
        {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
        {"properties": {"a": {"type": "string", "format": "email"}}},  # email is ignored
    ],
    ids=["empty", "object", "type-list", "any-of", "ref-to-defs", "pattern", "ignored-format"],
)
def test_schemas_llama_cpp_converts_are_accepted(schema: dict[str, Any]) -> None:
    schema_grammar(schema)  # does not raise


def test_the_format_is_checked_after_the_model_lookup_and_the_load(
    fake: FakeOllama, http: httpx.Client, client: ollama.Client
) -> None:
    unknown = chat_body('"yaml"').replace(CHAT_MODEL.encode(), b"nope:1b")
    response = http.post("/api/chat", content=unknown)
    assert (response.status_code, response.json()) == (404, {"error": "model 'nope:1b' not found"})
    # No messages: the model is only loaded, and the format is never looked at.
    load = http.post("/api/chat", content=chat_body('"yaml"', messages=[]))
    assert load.status_code == 200 and load.json()["done_reason"] == "load"
    # A generation: scheduled (loaded) first, then refused in Completion.
    fake.reset()
    refused = http.post("/api/chat", content=chat_body('"yaml"'))
    assert refused.status_code == 500
    assert fake.chat_requests[0].reloaded
    assert [m.model for m in client.ps().models] == [CHAT_MODEL]


# -- the answer under a format ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_schema_valid_answer_is_sent(
    fake: FakeOllama, client: ollama.Client, stream: bool
) -> None:
    fake.reply_with(ANSWER)
    if stream:
        chunks = list(review(client, stream=True))
        content = "".join(chunk.message.content or "" for chunk in chunks)
        final = chunks[-1]
    else:
        final = review(client)
        content = final.message.content or ""
    assert content == ANSWER
    assert final.done and final.done_reason == "stop"
    assert fake.chat_requests[0].output == ANSWER


@pytest.mark.parametrize(
    "answer",
    [
        '{"a": [1, -2.5e3, "x\\/y", true, null], "b": {}}',
        "{ }\n\n\t ",  # any whitespace of space, tab, newline
    ],
    ids=["values", "whitespace"],
)
def test_format_json_accepts_any_json_object(
    fake: FakeOllama, client: ollama.Client, answer: str
) -> None:
    fake.reply_with(answer)
    reply = client.chat(model=CHAT_MODEL, messages=MESSAGES, format="json")
    assert reply.message.content == answer


@pytest.mark.parametrize("spelled", ['""', "null", None], ids=["empty", "null", "absent"])
def test_an_unset_format_leaves_the_answer_alone(
    fake: FakeOllama, http: httpx.Client, spelled: str | None
) -> None:
    fake.reply_with("Not JSON at all.")
    if spelled is None:
        body = json.dumps({"model": CHAT_MODEL, "messages": MESSAGES, "stream": False}).encode()
    else:
        body = chat_body(spelled, stream=False)
    response = http.post("/api/chat", content=body)
    assert response.status_code == 200
    assert response.json()["message"]["content"] == "Not JSON at all."


def too_many() -> str:
    return json.dumps({"findings": [FINDING] * 4})


@pytest.mark.parametrize(
    "answer",
    [
        "The function looks fine to me.",
        " " + ANSWER,  # the root starts at once: no leading whitespace
        too_many(),  # maxItems is 3
        json.dumps({"findings": [dict(reversed(list(FINDING.items())))]}),  # keys out of order
        json.dumps({"findings": [FINDING | {"severity": "high"}]}),  # no additionalProperties
        json.dumps({"findings": [FINDING | {"category": "style"}]}),  # not in the enum
        json.dumps({"findings": [{"line": 2, "message": "half a finding"}]}),  # required
        json.dumps({"findings": [FINDING]}, indent=24),  # at most 20 spaces after a newline
        ANSWER.replace("amount < balance", "amount \\/ balance"),  # no \/ in a schema string
        ANSWER + " Hope this helps.",
        ANSWER[:-3],  # unfinished, and the model "ended" it: EOS is masked until complete
        "",
    ],
    ids=[
        "not-json",
        "leading-space",
        "too-many-items",
        "key-order",
        "extra-key",
        "not-in-enum",
        "missing-required",
        "deep-indent",
        "slash-escape",
        "trailing-text",
        "unfinished",
        "empty",
    ],
)
def test_an_answer_no_constrained_model_could_send_fails_loudly(
    fake: FakeOllama, client: ollama.Client, answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply_with(answer)
    with pytest.raises(ollama.ResponseError) as caught:
        review(client)
    assert caught.value.status_code == 500
    assert caught.value.error.startswith("fake Ollama: ")
    assert "ignores_format=True" in caught.value.error
    assert fake.chat_requests[0].status == 500
    assert "fake Ollama: " in capsys.readouterr().err  # said where a test run shows it
    assert len(fake.take_format_violations()) == 1  # else the fake fails this test on exit


def test_format_json_refuses_an_array_at_the_root(fake: FakeOllama, client: ollama.Client) -> None:
    fake.reply_with("[1, 2]")  # grammarJSON's root is an object
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=CHAT_MODEL, messages=MESSAGES, format="json")
    assert caught.value.error.startswith("fake Ollama: ")
    assert fake.take_format_violations() == [caught.value.error]


def test_a_refused_answer_left_untaken_fails_the_test_when_the_fake_stops() -> None:
    # A test that asserts "no findings" must not pass because its script was refused.
    with pytest.raises(AssertionError, match=r"1 scripted answer\(s\) no model held"):
        with FakeOllama(ttft=0.001, token_delay=0.0) as fake:
            fake.reply_with("not JSON")
            client = ollama.Client(host=fake.url, trust_env=False)
            with pytest.raises(ollama.ResponseError):
                review(client)
            client.close()
            fake.reset()  # forgets requests, not refusals


@pytest.mark.parametrize("answer", ["The function looks fine to me.", too_many()])
def test_a_model_that_ignores_the_format_is_scripted_explicitly(
    fake: FakeOllama, client: ollama.Client, answer: str
) -> None:
    fake.set_responder(lambda body: Reply(text=answer, ignores_format=True))
    assert review(client).message.content == answer


# -- cut short: unfinished JSON is what a constrained model sends ----------------------------


def test_num_predict_cuts_a_constrained_answer_into_unfinished_json(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.reply_with(ANSWER)
    reply = review(client, options={"num_predict": 8})
    assert reply.done_reason == "length"
    content = reply.message.content or ""
    assert 0 < len(content) < len(ANSWER) and ANSWER.startswith(content)


def test_a_scripted_cut_at_the_length_limit_may_be_unfinished_json(
    fake: FakeOllama, client: ollama.Client
) -> None:
    cut = '{"findings": [{"line": 3, "evidence": "if amount'
    fake.set_responder(lambda body: Reply(text=cut, done_reason="length"))
    reply = review(client)
    assert (reply.message.content, reply.done_reason) == (cut, "length")


def test_a_stop_string_may_cut_a_constrained_answer(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.reply_with(ANSWER)
    reply = review(client, options={"stop": ['"trigger"']})
    assert reply.done_reason == "stop"
    assert reply.message.content == ANSWER[: ANSWER.index('"trigger"')]


@pytest.mark.parametrize(
    "fault",
    [
        {"midstream_error": "an error was encountered while running the model"},
        {"omit_final_chunk": True},
    ],
    ids=["error-line", "no-final-chunk"],
)
async def test_a_stream_that_breaks_off_may_end_in_unfinished_json(
    fake: FakeOllama, fault: dict[str, Any]
) -> None:
    fake.set_responder(lambda body: Reply(text=ANSWER[:30], **fault))
    client = ollama.AsyncClient(host=fake.url, trust_env=False)
    text = ""
    try:
        async for chunk in await client.chat(
            model=CHAT_MODEL, messages=MESSAGES, format=SCHEMA, stream=True
        ):
            text += chunk.message.content or ""
    except ollama.ResponseError as error:
        assert error.status_code == -1 and "running the model" in error.error
    finally:
        await client.close()
    assert text == ANSWER[:30]


# -- the grammar itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "complete", "viable"),
    [
        (ANSWER, True, True),
        (json.dumps({"findings": [FINDING] * 3}, separators=(",", ":")), True, True),
        (json.dumps({"findings": [FINDING]}, indent=2), True, True),
        (
            json.dumps({"findings": [FINDING | {"message": "héllo ✓"}]}, ensure_ascii=False),
            True,
            True,
        ),
        (ANSWER + "\n\n" + " " * 20, True, True),  # trailing space rule, then only EOS
        (ANSWER + "\n\n\n", False, False),
        ('{"findings": [{"line": 3', False, True),
        ('{"findings": [{"line": 31234567890123456', False, False),  # 16 digits at most
        ('{"findings": [{"line": 3, "evidence": "a\\u00', False, True),
        ('{"findings": [{"line": 3, "evidence": "a\\x', False, False),
        ('{"findings": [{"line": 3, "evidence": "tab\there', False, False),  # raw control char
        ('{"findings": [{"evidence": ', False, False),  # `line` is first
    ],
)
def test_the_review_schemas_grammar(text: str, complete: bool, viable: bool) -> None:
    verdict = schema_grammar(SCHEMA).check(text)
    assert (verdict.complete, verdict.viable) == (complete, viable)


def test_optional_properties_come_in_order_and_additional_ones_last() -> None:
    grammar = schema_grammar(
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["b"],
            "additionalProperties": {"type": "boolean"},
        }
    )
    assert grammar.check('{"b": 1}').complete
    assert grammar.check('{"b": 1, "a": 2, "x": true, "y": false}').complete
    assert not grammar.check('{"a": 2, "b": 1}').viable  # required ones first
    assert not grammar.check('{"b": 1, "x": true, "a": 2}').viable  # a known key is not extra
    assert not grammar.check('{"b": 1, "x": 3}').viable


def test_the_json_grammar_is_grammarjson() -> None:
    assert JSON_GRAMMAR.check('{"a": 01}').viable is False  # no leading zeros
    assert JSON_GRAMMAR.check('{"a": 12345678901234567890.5e01}').complete  # unbounded digits
    assert JSON_GRAMMAR.check('{"a": "\\/"}').complete
    assert not JSON_GRAMMAR.check('{"a": 1}\r').viable  # ws is space, tab and newline


def test_a_conversion_failure_says_why() -> None:
    with pytest.raises(SchemaError, match="Pattern must start with '\\^' and end with '\\$'"):
        schema_grammar({"type": "string", "pattern": "[0-9]"})
