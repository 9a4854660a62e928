"""What lsp-assist relies on in llama.cpp's server, checked against the real thing.

Each test states one fact about the server from the pinned `xllamacpp` wheel (running the tiny
random model from tiny_gguf.py), so a wheel upgrade that changes the fact fails here first.
ENGINE_FACTS.md beside this file shows the response shapes.
"""

from __future__ import annotations

import hashlib
import json
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engines.fixtures import (  # noqa: F401
    StartLlamaServer,
    llamacpp_fixture,
    llamacpp_parallel_fixture,
    tiny_model_fixture,
)
from tests.engines.llamacpp_server import LlamaServer, running_llamacpp
from tests.engines.tiny_gguf import build_tiny_gguf, tiny_model_path

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 5.0  # upper bound for the server to reach a state we poll for

# ~600 tokens of ordinary code: one character is about one token in the tiny vocabulary.
CODE_PROMPT = "".join(
    f"def function_{i}(value):\n    return value * {i} + {i * 7}  # step {i}\n\n" for i in range(12)
)
NUMBER_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["ok", "n"],
    "additionalProperties": False,
}


def post(server: LlamaServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(server.url + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def get(server: LlamaServer, path: str) -> Any:
    response = httpx.get(server.url + path, timeout=30)
    response.raise_for_status()
    return response.json()


def sse_data(response: httpx.Response) -> Iterator[str]:
    """The payload of each `data: ...` line of a server-sent-event stream."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


def metric(server: LlamaServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def matches_number_schema(content: str) -> bool:
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return False
    return (
        isinstance(value, dict)
        and set(value) == {"ok", "n"}
        and isinstance(value["ok"], bool)
        and type(value["n"]) is int
        and 0 <= value["n"] <= 9
    )


# --- discovery ---------------------------------------------------------------------------


def test_health_says_ok(llamacpp: LlamaServer) -> None:
    response = httpx.get(llamacpp.url + "/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_props_report_the_context_per_slot_and_the_slot_count(
    llamacpp_parallel: StartLlamaServer,
) -> None:
    server = llamacpp_parallel(2, n_ctx=8192)
    props = get(server, "/props")
    assert props["total_slots"] == 2
    assert props["default_generation_settings"]["n_ctx"] == 4096  # per slot: 8192 / 2


def test_props_and_models_say_nothing_about_fim(llamacpp: LlamaServer) -> None:
    """So FIM support must be probed (next tests); /v1/models' capabilities is ["completion"]."""
    props, models = get(llamacpp, "/props"), get(llamacpp, "/v1/models")
    print("props keys:", sorted(props))
    print("models[0].capabilities:", models["models"][0]["capabilities"])
    assert "fim" not in json.dumps(props).lower()
    assert "infill" not in json.dumps(props).lower()
    assert "fim" not in json.dumps(models).lower()
    assert models["models"][0]["capabilities"] == ["completion"]


@pytest.mark.parametrize(
    ("fim_tokens", "pieces"),
    [(True, ["<|fim_prefix|>"]), (False, list("<|fim_prefix|>"))],
    ids=["fim-model", "no-fim-model"],
)
def test_a_fim_token_tokenizes_to_one_piece_only_on_a_fim_model(
    fim_tokens: bool, pieces: list[str]
) -> None:
    with running_llamacpp(tiny_model_path(fim_tokens=fim_tokens)) as server:
        answer = post(
            server,
            "/tokenize",
            {"content": "<|fim_prefix|>", "parse_special": True, "with_pieces": True},
        )
    assert [token["piece"] for token in answer["tokens"]] == pieces


def test_tokenize_parses_special_tokens_unless_told_not_to(llamacpp: LlamaServer) -> None:
    default = post(llamacpp, "/tokenize", {"content": "<|fim_prefix|>"})
    literal = post(llamacpp, "/tokenize", {"content": "<|fim_prefix|>", "parse_special": False})
    assert len(default["tokens"]) == 1
    assert len(literal["tokens"]) == len("<|fim_prefix|>")


def test_infill_builds_the_repo_level_fim_prompt(llamacpp: LlamaServer) -> None:
    answer = post(
        llamacpp,
        "/infill",
        {
            "input_prefix": "def f(",
            "input_suffix": ")\n",
            "input_extra": [{"filename": "a.py", "text": "x = 1\n"}],
            "n_predict": 4,
            "temperature": 0,
        },
    )
    assert answer["prompt"] == (
        "<|repo_name|>myproject\n<|file_sep|>a.py\nx = 1\n<|file_sep|>filename\n"
        "<s><|fim_prefix|>def f(<|fim_suffix|>)\n<|fim_middle|>"
    )


def test_infill_on_a_model_without_fim_tokens_is_a_501() -> None:
    with running_llamacpp(tiny_model_path(fim_tokens=False)) as server:
        response = httpx.post(
            server.url + "/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 1}
        )
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["type"] == "not_supported_error"
    assert error["message"].startswith("Infill is not supported by this model")


# --- /completion ---------------------------------------------------------------------------


def test_streaming_completion_ends_with_a_stop_event_carrying_timings(
    llamacpp: LlamaServer,
) -> None:
    body = {"prompt": "def add(a, b):\n    return", "n_predict": 4, "stream": True}
    with httpx.stream(
        "POST", llamacpp.url + "/completion", json=body | {"cache_prompt": True}
    ) as r:
        assert r.headers["content-type"] == "text/event-stream"
        events = [json.loads(data) for data in sse_data(r)]
    *tokens, final = events
    assert len(tokens) == 4 and not any(event["stop"] for event in tokens)
    assert final["stop"] is True and final["content"] == ""
    assert final["stop_type"] == "limit"
    assert final["tokens_predicted"] == 4
    timings = final["timings"]
    assert timings["prompt_n"] + timings["cache_n"] == final["tokens_evaluated"]
    assert timings["predicted_n"] == 4


def test_extending_a_prompt_evaluates_only_the_new_tokens(llamacpp: LlamaServer) -> None:
    first = post(llamacpp, "/completion", {"prompt": CODE_PROMPT, "n_predict": 4})
    extended = post(llamacpp, "/completion", {"prompt": CODE_PROMPT + "def ab", "n_predict": 4})
    assert first["tokens_evaluated"] > 500
    assert first["timings"]["prompt_n"] > 500
    assert 1 <= extended["timings"]["prompt_n"] <= len("def ab")
    assert extended["timings"]["cache_n"] >= first["tokens_evaluated"]


def test_an_early_edit_reuses_the_cache_only_up_to_the_edit(llamacpp: LlamaServer) -> None:
    post(llamacpp, "/completion", {"prompt": CODE_PROMPT, "n_predict": 4})
    edited = CODE_PROMPT[:10] + "X" + CODE_PROMPT[11:]
    answer = post(llamacpp, "/completion", {"prompt": edited, "n_predict": 4})
    assert answer["timings"]["cache_n"] <= 11  # <s> + the first 10 characters
    assert answer["timings"]["prompt_n"] > 500


def test_id_slot_chooses_the_slot(llamacpp_parallel: StartLlamaServer) -> None:
    server = llamacpp_parallel(2)
    for slot in (1, 0, 1):
        answer = post(server, "/completion", {"prompt": "abc", "n_predict": 2, "id_slot": slot})
        assert answer["id_slot"] == slot


def test_t_max_predict_ms_ends_generation_at_a_newline_once_time_is_up(
    llamacpp: LlamaServer,
) -> None:
    body = {"prompt": "def f():\n", "n_predict": 3000, "seed": 1, "t_max_predict_ms": 5}
    answer = post(llamacpp, "/completion", body)
    assert answer["tokens_predicted"] < 3000
    assert answer["stop_type"] == "limit"
    assert "\n" in answer["content"]


def test_a_stop_string_ends_generation_with_stop_type_word(llamacpp: LlamaServer) -> None:
    body = {"prompt": "def f():\n", "n_predict": 16, "temperature": 0}
    free = post(llamacpp, "/completion", body)["content"]
    word = free[5]
    stopped = post(llamacpp, "/completion", body | {"stop": [word]})
    assert stopped["stop_type"] == "word"
    assert stopped["stopping_word"] == word
    assert stopped["content"] == free[: free.index(word)]


def test_greedy_decoding_is_deterministic(llamacpp: LlamaServer) -> None:
    body = {"prompt": CODE_PROMPT, "n_predict": 32, "temperature": 0, "cache_prompt": False}
    assert (
        post(llamacpp, "/completion", body)["content"]
        == (post(llamacpp, "/completion", body)["content"])
    )


def test_sampled_text_is_printable_ascii_space_or_newline(llamacpp: LlamaServer) -> None:
    allowed = set(string.printable) - set("\t\r\x0b\x0c")
    answer = post(llamacpp, "/completion", {"prompt": "x", "n_predict": 1000, "seed": 3})
    assert answer["stop_type"] == "limit"  # never EOS without eos_logit
    assert set(answer["content"]) <= allowed


def test_a_model_built_with_eos_logit_stops_by_itself() -> None:
    with running_llamacpp(tiny_model_path(eos_logit=1.0)) as server:
        stops = [
            post(server, "/completion", {"prompt": "x", "n_predict": 2000, "seed": seed})
            for seed in range(4)
        ]
    assert [answer["stop_type"] for answer in stops] == ["eos"] * 4


def test_a_prompt_longer_than_the_context_is_a_400_exceed_context_size_error(
    llamacpp: LlamaServer,
) -> None:
    response = httpx.post(llamacpp.url + "/completion", json={"prompt": "x" * 5000})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "request (5001 tokens) exceeds the available context size "
            "(4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 5001,
            "n_ctx": 4096,
        }
    }


def test_closing_a_stream_stops_generation(llamacpp: LlamaServer) -> None:
    before = metric(llamacpp, "llamacpp:tokens_predicted_total")
    body = {"prompt": "def f():\n", "n_predict": 3000, "stream": True}
    with httpx.stream("POST", llamacpp.url + "/completion", json=body) as response:
        events = sse_data(response)  # held: dropping it would already close the connection
        for _ in range(5):
            next(events)
        assert get(llamacpp, "/slots")[0]["is_processing"] is True
        response.close()
    deadline = time.monotonic() + WAIT_S
    while get(llamacpp, "/slots")[0]["is_processing"]:
        assert time.monotonic() < deadline, "slot still busy after the client closed"
    generated = metric(llamacpp, "llamacpp:tokens_predicted_total") - before
    assert 5 <= generated < 300


# --- OpenAI-compatible endpoints -----------------------------------------------------------


def test_v1_completions_stream_ends_with_usage_timings_and_done(llamacpp: LlamaServer) -> None:
    body = {"prompt": "def add(a, b):\n", "max_tokens": 4, "stream": True}
    with httpx.stream("POST", llamacpp.url + "/v1/completions", json=body) as response:
        payloads = list(sse_data(response))
    assert payloads[-1] == "[DONE]"
    *chunks, final = [json.loads(payload) for payload in payloads[:-1]]
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks)
    assert final["choices"][0]["finish_reason"] == "length"
    # Even without stream_options.include_usage, the last chunk carries usage and timings.
    assert final["usage"]["completion_tokens"] == 4
    assert "cached_tokens" in final["usage"]["prompt_tokens_details"]
    assert final["timings"]["predicted_n"] == 4


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_puts_timings_last_and_usage_only_when_asked(
    llamacpp: LlamaServer, include_usage: bool
) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 2,
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    with httpx.stream("POST", llamacpp.url + "/v1/chat/completions", json=body) as response:
        payloads = list(sse_data(response))
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    finish = next(
        chunk for chunk in chunks if chunk["choices"][:1] and chunk["choices"][0]["finish_reason"]
    )
    if include_usage:
        # A separate last chunk with no choices carries usage and timings.
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == 2
        assert "timings" in chunks[-1] and "timings" not in finish
    else:
        assert chunks[-1] is finish
        assert "timings" in finish and "usage" not in finish


def test_v1_completions_ignores_suffix(llamacpp: LlamaServer) -> None:
    plain = post(llamacpp, "/v1/completions", {"prompt": "def f(", "max_tokens": 1})
    with_suffix = post(
        llamacpp, "/v1/completions", {"prompt": "def f(", "suffix": "):\n", "max_tokens": 1}
    )
    assert with_suffix["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "x", "schema": NUMBER_SCHEMA}},
        {"type": "json_schema", "json_schema": {"schema": NUMBER_SCHEMA}},
        {"type": "json_object", "schema": NUMBER_SCHEMA},
    ],
    ids=["json_schema.json_schema.schema", "json_schema-without-name", "json_object+schema"],
)
def test_chat_response_format_constrains_the_answer_to_the_schema(
    llamacpp: LlamaServer, response_format: dict[str, Any]
) -> None:
    for seed in range(4):
        answer = post(
            llamacpp,
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 64,
                "seed": seed,
                "response_format": response_format,
            },
        )
        content = answer["choices"][0]["message"]["content"]
        assert matches_number_schema(content), content
        assert answer["choices"][0]["finish_reason"] == "stop"


def test_a_schema_beside_type_json_schema_is_ignored(llamacpp: LlamaServer) -> None:
    """The OpenAI form nests the schema in `json_schema`; a top-level `schema` with type
    json_schema is silently dropped and the answer is any JSON object (or cut-off text)."""
    contents = [
        post(
            llamacpp,
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 64,
                "seed": seed,
                "response_format": {"type": "json_schema", "schema": NUMBER_SCHEMA},
            },
        )["choices"][0]["message"]["content"]
        for seed in range(4)
    ]
    assert not any(matches_number_schema(content) for content in contents), contents


# --- the server's life -------------------------------------------------------------------


def test_several_servers_coexist_in_one_process_and_restart(tiny_model: Path) -> None:
    body = {"prompt": "abc", "n_predict": 8, "temperature": 0}
    with running_llamacpp(tiny_model) as first:
        with running_llamacpp(tiny_model) as second:
            assert first.url != second.url
            assert (
                post(first, "/completion", body)["content"]
                == (post(second, "/completion", body)["content"])
            )
        # Stopping one leaves the other serving.
        assert post(first, "/completion", body)["tokens_predicted"] == 8
    for _ in range(3):
        with running_llamacpp(tiny_model) as again:
            assert post(again, "/completion", body)["tokens_predicted"] == 8


def test_starting_a_server_holds_the_gil_until_the_model_is_loaded(tiny_model: Path) -> None:
    """xllamacpp.Server() loads the model without releasing the GIL: every Python thread
    (an asyncio loop included) stops for the whole load. The tiny model loads in ~10 ms;
    a real model takes seconds."""
    import xllamacpp

    from tests.engines.llamacpp_server import _params

    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.0005)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.01)
    params = _params(
        tiny_model, port=0, parallel=1, n_ctx=4096, threads=1, metrics=False, cache_reuse=0
    )
    started = time.monotonic()
    server = xllamacpp.Server(params)
    load_s = time.monotonic() - started
    time.sleep(0.01)
    stop.set()
    ticker.join()
    del server
    if load_s < 0.003:
        pytest.skip(f"load took {load_s * 1000:.1f} ms: too short to tell")
    longest_gap = max(later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False))
    assert longest_gap >= 0.8 * load_s


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_standalone_server_prints_ready_and_exits_0_on_signal(
    tiny_model: Path, tmp_path: Path, signum: int
) -> None:
    ready_file = tmp_path / "ready.json"
    command = [sys.executable, "-m", "tests.engines.llamacpp_server", "--model", str(tiny_model)]
    process = subprocess.Popen(
        [*command, "--ready-file", str(ready_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[0] == "READY"
        url = ready[1]
        assert json.loads(ready_file.read_text()) == {"url": url, "pid": process.pid}
        assert httpx.get(url + "/health").status_code == 200
        process.send_signal(signum)
        assert process.wait(timeout=WAIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_model_file_is_byte_identical_on_every_build(tmp_path: Path) -> None:
    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    first = build_tiny_gguf(tmp_path / "first.gguf")
    second = build_tiny_gguf(tmp_path / "second.gguf")
    assert sha256(first) == sha256(second) == sha256(tiny_model_path())
