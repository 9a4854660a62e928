"""A hostile or broken client, byte by byte: wrong lengths, no lengths, bytes that are not
JSON, a message too big to keep, messages out of the LSP's order, and an editor that dies.
The server answers what JSON-RPC and the LSP say, reads on, and ends when it should."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_protocol_robustness import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVE,
    SPY_SERVER,
    RawClient,
)
from tests.fakes.fake_ollama import FakeOllama

PARSE_ERROR = -32700
SERVER_NOT_INITIALIZED = -32002
MB = 1024 * 1024
ADD_URI = "file:///workspace/add.py"
ADD = "def add(a, b):\n    return "

# The real server, the editor's process polled (as where there is no pidfd) ten times a second.
POLLING_SERVER = [
    sys.executable,
    "-c",
    """
import os
from lsp_assist import parent_watch
from lsp_assist.server import run_stdio

del os.pidfd_open
parent_watch.POLL_S = 0.1
run_stdio()
""",
]


def frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def body(message: Any) -> bytes:
    return json.dumps(message).encode("utf-8")


def request(msg_id: Any, method: str = "lspAssistTest/unknown", params: Any = None) -> bytes:
    return body({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}})


def inline_request(msg_id: Any, uri: str = ADD_URI, character: int = len("    return ")) -> bytes:
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": 1, "character": character},
        "context": {"triggerKind": 1},
    }
    return request(msg_id, "textDocument/inlineCompletion", params)


def did_open(uri: str = ADD_URI, text: str = ADD) -> dict[str, Any]:
    document = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    return {
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": document},
    }


def initialize_params(ollama: FakeOllama, process_id: int | None = None) -> dict[str, Any]:
    return {
        "processId": process_id,
        "rootUri": None,
        "capabilities": {},
        "initializationOptions": {
            "ollama": {"host": ollama.url},
            "completion": {"debounceMs": 0, "preload": False},
        },
    }


def write(client: RawClient, data: bytes) -> None:
    assert client.process.stdin is not None
    client.process.stdin.write(data)


async def launch(command: list[str] = SERVE) -> RawClient:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return RawClient(process)


async def initialize(client: RawClient, ollama: FakeOllama, process_id: int | None = None) -> None:
    answer = await client.request("initialize", initialize_params(ollama, process_id))
    assert "result" in answer, answer
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})


@contextlib.asynccontextmanager
async def started(
    ollama: FakeOllama, command: list[str] = SERVE, process_id: int | None = None
) -> AsyncIterator[RawClient]:
    client = await launch(command)
    try:
        await initialize(client, ollama, process_id)
        yield client
    finally:
        await client.kill()


async def answer_without_id(client: RawClient) -> dict[str, Any]:
    answer = await client.response(None)  # type: ignore[arg-type]
    del client.responses[None]
    return answer


async def ghost_text(client: RawClient, msg_id: str) -> str | None:
    """The inline completion at the end of add.py, or None when the server has no such
    document open."""
    write(client, frame(inline_request(msg_id)))
    answer = await client.response(msg_id)
    assert "result" in answer, answer
    return answer["result"]["items"][0]["insertText"] if answer["result"] else None


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def reset_peak_memory(pid: int) -> None:
    """Linux: the peak (VmHWM) starts again from what the process holds now."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# -- framing: a wrong length, or none, loses the least it can --------------------------------


async def test_a_content_length_longer_than_its_body_loses_no_message(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        first = request("r1")
        # The next header shows where the first body really ended: no waiting for 100 bytes.
        write(client, frame(first, len(first) + 100) + frame(request("r2")) + frame(request("r3")))
        for msg_id in ("r1", "r2", "r3"):
            assert (await client.response(msg_id))["error"]["code"] == METHOD_NOT_FOUND
        _, log = await client.close_stdin_and_wait()
    said, was = len(first) + 100, len(first)
    assert f"said Content-Length: {said}, but the next one began after {was} bytes" in log


async def test_a_length_that_swallows_the_start_of_the_next_header_loses_no_message(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        first, second = request("r1"), frame(request("r2"))
        write(client, frame(first, len(first) + 2) + second[:2])
        # Answered at once: the server does not wait for the rest of the next header.
        assert (await client.response("r1"))["error"]["code"] == METHOD_NOT_FOUND
        write(client, second[2:])
        assert (await client.response("r2"))["error"]["code"] == METHOD_NOT_FOUND


async def test_a_content_length_shorter_than_its_body_is_a_parse_error_then_reading_goes_on(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        write(client, frame(request("r1"), 20) + frame(request("r2")))
        lost = await answer_without_id(client)
        assert lost["error"]["code"] == PARSE_ERROR
        assert "not JSON" in lost["error"]["message"]
        assert (await client.response("r2"))["error"]["code"] == METHOD_NOT_FOUND
        assert "r1" not in client.responses


BROKEN_HEADERS = {
    "no Content-Length": (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + request("r1"),
        "no Content-Length header",
    ),
    "a length that is not a number": (
        b"Content-Length: twelve\r\n\r\n" + request("r1"),
        "Content-Length must be a number of bytes, not 'twelve'",
    ),
    "a negative length": (
        b"Content-Length: -5\r\n\r\n" + request("r1"),
        "Content-Length must be a number of bytes, not '-5'",
    ),
    "a header line with no line end": (
        b"Content-Length: %d" % len(request("r1")) + request("r1"),
        "Content-Length must be a number of bytes, not '",
    ),
    "bytes that are no header": (b"hello\r\n\r\n" + request("r1"), "not a header line: 'hello'"),
}


@pytest.mark.parametrize("data, problem", BROKEN_HEADERS.values(), ids=BROKEN_HEADERS)
async def test_a_broken_header_is_a_parse_error_and_the_next_message_is_read(
    fake_ollama: FakeOllama, data: bytes, problem: str
) -> None:
    async with started(fake_ollama) as client:
        write(client, data + frame(request("r2")))
        answer = await answer_without_id(client)
        assert answer["error"]["code"] == PARSE_ERROR
        assert problem in answer["error"]["message"]
        assert (await client.response("r2"))["error"]["code"] == METHOD_NOT_FOUND
        code, _ = await client.close_stdin_and_wait()
    assert code == 0
    assert "r1" not in client.responses  # its bytes could not be told from the garbage around


async def test_header_lines_ending_in_a_bare_lf_in_any_case_are_read(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        write(client, b"content-length: %d\n\n" % len(request("r1")) + request("r1"))
        assert (await client.response("r1"))["error"]["code"] == METHOD_NOT_FOUND


async def test_a_stream_that_ends_inside_a_message_ends_the_session_cleanly(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama, SPY_SERVER) as client:
        write(client, frame(request("r1")[:10], 1000))
        code, log = await client.close_stdin_and_wait()
    assert code == 0
    assert log.count("session shut down") == 1
    assert "Traceback" not in log


# -- bodies that are not JSON-RPC -----------------------------------------------------------


NOT_JSON = {
    "invalid JSON": (b'{"jsonrpc": "2.0", "id": 1, "method": ', "not JSON"),
    "bytes that are not UTF-8": (b'{"jsonrpc": "2.0", "method": "x", "params": "\xff"}', "UTF-8"),
}


@pytest.mark.parametrize("data, problem", NOT_JSON.values(), ids=NOT_JSON)
async def test_a_body_that_is_not_json_is_answered_parse_error_with_id_null(
    fake_ollama: FakeOllama, data: bytes, problem: str
) -> None:
    async with started(fake_ollama) as client:
        write(client, frame(data))
        answer = await answer_without_id(client)
        assert answer["id"] is None and answer["error"]["code"] == PARSE_ERROR
        assert problem in answer["error"]["message"]
        write(client, frame(request("r2")))
        assert (await client.response("r2"))["error"]["code"] == METHOD_NOT_FOUND
        _, log = await client.close_stdin_and_wait()
    assert "Traceback" not in log


@pytest.mark.parametrize("value", [42, "text", None], ids=["number", "string", "null"])
async def test_json_that_is_not_an_object_is_answered_invalid_request_with_id_null(
    fake_ollama: FakeOllama, value: Any
) -> None:
    async with started(fake_ollama) as client:
        write(client, frame(body(value)))
        answer = await answer_without_id(client)
        assert answer["error"]["code"] == INVALID_REQUEST


async def test_a_batch_is_refused_request_by_request_and_nothing_in_it_is_applied(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with started(fake_ollama) as client:
        batch = [json.loads(request("r1")), did_open(), json.loads(request("r2"))]
        write(client, frame(body(batch)))
        for msg_id in ("r1", "r2"):
            answer = await client.response(msg_id)
            assert answer["error"]["code"] == INVALID_REQUEST
            assert "batch" in answer["error"]["message"]
        assert await ghost_text(client, "r3") is None  # the didOpen in the batch was not applied
        write(client, frame(body([])))
        assert (await answer_without_id(client))["error"]["code"] == INVALID_REQUEST


# -- a message too big to keep ------------------------------------------------------------


async def test_a_50_mb_message_is_answered_with_memory_bounded_by_its_size(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        assert (await client.normal_request())["result"] is None
        big = request("r1", params={"text": "x = 1\n" * (50 * MB // 6)})
        pid = client.process.pid
        before = memory_mb(pid)
        reset_peak_memory(pid)
        write(client, frame(big))
        assert (await client.response("r1"))["error"]["code"] == METHOD_NOT_FOUND
        after = memory_mb(pid)
        assert (await client.normal_request())["result"] is None
    size_mb = len(big) / MB
    # The bytes, their text and the parsed JSON, once each (pygls's reader peaked at 4.9×).
    assert after["VmHWM"] - before["VmRSS"] < 4 * size_mb, (before, after)


async def test_a_message_over_the_limit_is_refused_by_its_id_and_never_kept(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        big = request(
            "r1", "workspace/executeCommand", {"command": "x", "arguments": ["x" * 70 * MB]}
        )
        pid = client.process.pid
        before = memory_mb(pid)
        reset_peak_memory(pid)
        write(client, frame(big))
        answer = await client.response("r1")
        after = memory_mb(pid)
        assert answer["error"] == {
            "code": INVALID_REQUEST,
            "message": "workspace/executeCommand: a message of 70 MB is over the 64 MB "
            "lsp-assist reads",
        }
        assert (await client.normal_request())["result"] is None
        _, log = await client.close_stdin_and_wait()
    assert after["VmHWM"] - before["VmRSS"] < 16, (before, after)
    assert "refused request workspace/executeCommand" in log


# -- the LSP's order of things --------------------------------------------------------------


async def test_a_request_before_initialize_is_answered_server_not_initialized(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    client = await launch()
    try:
        write(client, frame(inline_request("r1")) + frame(body(did_open())))
        answer = await client.response("r1")
        assert answer["error"]["code"] == SERVER_NOT_INITIALIZED
        await initialize(client, fake_ollama)
        assert await ghost_text(client, "r2") is None  # the early didOpen was dropped
        write(client, frame(body(did_open())))
        assert await ghost_text(client, "r3") == "a + b"
    finally:
        await client.kill()


async def test_exit_before_initialize_ends_the_server_with_1() -> None:
    client = await launch()
    try:
        write(client, frame(body({"jsonrpc": "2.0", "method": "exit"})))
        code, _ = await client.wait()
    finally:
        await client.kill()
    assert code == 1


async def test_a_second_initialize_is_refused_and_the_first_session_goes_on(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with started(fake_ollama) as client:
        elsewhere = initialize_params(fake_ollama)
        elsewhere["initializationOptions"]["ollama"]["host"] = "http://127.0.0.1:9"
        answer = await client.request("initialize", elsewhere)
        assert answer["error"]["code"] == INVALID_REQUEST
        assert "initialized already" in answer["error"]["message"]
        write(client, frame(body(did_open())))
        assert await ghost_text(client, "r4") == "a + b"  # from the first session's Ollama


async def test_a_notification_sent_with_an_id_is_answered_invalid_request_and_not_applied(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with started(fake_ollama) as client:
        write(client, frame(body({**did_open(), "id": "r1"})))
        answer = await client.response("r1")
        assert answer["error"] == {
            "code": INVALID_REQUEST,
            "message": "textDocument/didOpen: is a notification: it takes no id",
        }
        assert await ghost_text(client, "r2") is None
        write(client, frame(body(did_open())))
        assert await ghost_text(client, "r3") == "a + b"


async def test_exit_sent_with_an_id_still_ends_the_session(fake_ollama: FakeOllama) -> None:
    async with started(fake_ollama) as client:
        write(client, frame(body({"jsonrpc": "2.0", "id": 1, "method": "exit"})))
        code, _ = await client.wait()
    assert code == 1


async def test_an_unknown_notification_is_ignored_and_logged_once_and_a_dollar_one_silently(
    fake_ollama: FakeOllama,
) -> None:
    async with started(fake_ollama) as client:
        for _ in range(3):
            client.send({"jsonrpc": "2.0", "method": "lspAssistTest/unknown", "params": {}})
            client.send({"jsonrpc": "2.0", "method": "$/lspAssistTest", "params": {}})
        assert (await client.normal_request())["result"] is None
        assert client.shown == []
        _, log = await client.close_stdin_and_wait()
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert len([line for line in warnings if "lspAssistTest/unknown" in line]) == 1, log
    assert "$/lspAssistTest" not in log


async def test_a_response_to_a_request_never_sent_is_ignored(fake_ollama: FakeOllama) -> None:
    async with started(fake_ollama) as client:
        client.send({"jsonrpc": "2.0", "id": 9999, "result": {"anything": 1}})
        client.send({"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "no"}})
        assert (await client.normal_request())["result"] is None
        assert client.shown == []


# -- the editor's process -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def editor_process() -> AsyncIterator[asyncio.subprocess.Process]:
    """A stand-in for the editor: a process the test can end."""
    process = await asyncio.create_subprocess_exec("sleep", "120")
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def end(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.wait()  # reaped: no zombie left to look alive


@pytest.mark.parametrize("command", [SPY_SERVER, POLLING_SERVER], ids=["pidfd", "polling"])
async def test_the_server_exits_with_1_when_the_editors_process_dies(
    fake_ollama: FakeOllama, command: list[str]
) -> None:
    async with editor_process() as editor, started(fake_ollama, command, editor.pid) as client:
        assert (await client.normal_request())["result"] is None
        await end(editor)
        code, log = await client.wait()  # stdin is still open
    assert code == 1  # as for `exit` without `shutdown`
    assert f"the editor's process {editor.pid} has ended" in log
    if command is SPY_SERVER:
        assert log.count("session shut down") == 1


async def test_the_server_exits_with_0_when_the_editor_dies_after_shutdown(
    fake_ollama: FakeOllama,
) -> None:
    async with editor_process() as editor, started(fake_ollama, SERVE, editor.pid) as client:
        assert "error" not in await client.request("shutdown")
        await end(editor)
        code, _ = await client.wait()
    assert code == 0


async def test_an_editor_process_that_is_not_visible_is_not_watched(
    fake_ollama: FakeOllama,
) -> None:
    async with editor_process() as gone:
        await end(gone)  # a pid from another namespace looks like this: no such process
    async with started(fake_ollama, SERVE, gone.pid) as client:
        assert (await client.normal_request())["result"] is None
        code, log = await client.close_stdin_and_wait()
    assert code == 0  # ended by the closed pipe, not by the watch
    assert f"the editor's process {gone.pid} is not visible from here" in log
