"""Every request is answered, no popup per failure, and a session always ends: `lsp-assist
serve` driven over its pipes by a raw client that can send what a broken editor would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_ollama import FakeOllama

SERVE = [sys.executable, "-m", "lsp_assist", "serve"]

# The real server, plus a command and a notification whose handlers fail, and a trace of the
# session's shutdown path on stderr.
SPY_SERVER = [
    sys.executable,
    "-c",
    """
import logging, sys
from lsp_assist.server import build_server
from lsp_assist.transport import serve_stdio

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
server = build_server()

@server.command("lspAssistTest.fail")
def fail(*arguments):
    raise ValueError("the handler broke")

@server.feature("lspAssistTest/failNotification")
def fail_notification(params):
    raise ValueError("the notification handler broke")

shut_down = server.session.shutdown
async def traced_shutdown():
    await shut_down()
    print("session shut down", file=sys.stderr, flush=True)
server.session.shutdown = traced_shutdown
serve_stdio(server)
""",
]

TIMEOUT = 15
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
NOWHERE = {"uri": "file:///workspace/nowhere.py"}


class RawClient:
    """JSON-RPC over the server's pipes, message by message, with no types in the way."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.shown: list[str] = []  # window/showMessage texts
        self.responses: dict[Any, dict[str, Any]] = {}
        self._arrived = asyncio.Event()
        self._stderr = bytearray()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._drain())]
        self._next_id = 0

    @classmethod
    async def start(cls, command: list[str], ollama: FakeOllama) -> RawClient:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        client = cls(process)
        answer = await client.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": {"ollama": {"host": ollama.url}},
            },
        )
        assert "result" in answer, answer
        client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return client

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params: Any = None, **extra: Any) -> dict[str, Any]:
        """Sends a request (`extra` replaces or adds fields, e.g. `params` left out) and
        returns the whole response."""
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        message.update(extra)
        self.send({key: value for key, value in message.items() if value is not ...})
        return await self.response(self._next_id)

    async def response(self, msg_id: int) -> dict[str, Any]:
        async def arrival() -> dict[str, Any]:
            while msg_id not in self.responses:
                self._arrived.clear()
                await self._arrived.wait()
            return self.responses[msg_id]

        return await asyncio.wait_for(arrival(), TIMEOUT)

    async def normal_request(self) -> dict[str, Any]:
        """A well-formed ghost-text request (for a document that is not open)."""
        return await self.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": NOWHERE,
                "position": {"line": 0, "character": 0},
                "context": {"triggerKind": 1},
            },
        )

    async def close_stdin_and_wait(self) -> tuple[int, str]:
        """Closes the server's stdin; its exit code and its log."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await self.wait()

    async def wait(self) -> tuple[int, str]:
        code = await asyncio.wait_for(self.process.wait(), TIMEOUT)
        await asyncio.wait_for(asyncio.gather(*self._tasks), TIMEOUT)
        return code, self._stderr.decode("utf-8", "replace")

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for task in self._tasks:
            task.cancel()

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length = 0
                while (line := await stdout.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if not line:
                    return
                self._dispatch(json.loads(await stdout.readexactly(length)))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            self.responses[message["id"]] = message
            self._arrived.set()
        elif message["method"] == "window/showMessage":
            self.shown.append(message["params"]["message"])
        elif "id" in message:  # a request from the server (registration, progress, …)
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    async def _drain(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk


@contextlib.asynccontextmanager
async def session(ollama: FakeOllama, command: list[str] = SERVE) -> Any:
    client = await RawClient.start(command, ollama)
    try:
        yield client
    finally:
        await client.kill()


def inline_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "textDocument": NOWHERE,
        "position": {"line": 0, "character": 0},
        "context": {"triggerKind": 1},
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not ...}


MALFORMED_REQUESTS = {
    "no position": (
        {"params": inline_params(position=...)},
        "params.position is missing",
    ),
    "a negative line": (
        {"params": inline_params(position={"line": -1, "character": 0})},
        "params.position.line must be ≥ 0",
    ),
    "a line that is a string": (
        {"params": inline_params(position={"line": "one", "character": 0})},
        "params.position.line must be a number, not a string",
    ),
    "null params": ({"params": None}, "params must be an object, not null"),
    "params that are an array": ({"params": [0, 0]}, "params must be an object, not an array"),
    "no params at all": ({"params": ...}, "params is missing"),
    "an unknown trigger kind": (
        {"params": inline_params(context={"triggerKind": 7})},
        "params.context.triggerKind must be one of 1, 2",
    ),
}


@pytest.mark.parametrize("fields, problem", MALFORMED_REQUESTS.values(), ids=MALFORMED_REQUESTS)
async def test_a_request_with_malformed_params_is_answered_invalid_params(
    fake_ollama: FakeOllama, fields: dict[str, Any], problem: str
) -> None:
    async with session(fake_ollama) as client:
        answer = await client.request("textDocument/inlineCompletion", **fields)
        assert answer["error"] == {
            "code": INVALID_PARAMS,
            "message": f"textDocument/inlineCompletion: {problem}",
        }
        after = await client.normal_request()
        assert "error" not in after
        assert client.shown == []


@pytest.mark.parametrize("fields", [{"params": {}}, {"params": ...}], ids=["params", "none"])
async def test_a_request_for_an_unknown_method_is_answered_method_not_found(
    fake_ollama: FakeOllama, fields: dict[str, Any]
) -> None:
    async with session(fake_ollama) as client:
        answer = await client.request("lspAssistTest/unknown", **fields)
        assert answer["error"]["code"] == METHOD_NOT_FOUND
        assert client.shown == []


async def test_a_request_after_shutdown_is_answered_invalid_request(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama) as client:
        assert "error" not in await client.request("shutdown")
        answer = await client.normal_request()
        assert answer["error"]["code"] == INVALID_REQUEST
        assert "shutting down" in answer["error"]["message"]


async def test_a_malformed_notification_is_ignored_and_logged_once(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama) as client:
        for _ in range(3):
            client.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {}})
        assert "error" not in await client.normal_request()
        assert client.shown == []
        code, log = await client.close_stdin_and_wait()
    warnings = [line for line in log.splitlines() if "WARNING" in line and "didOpen" in line]
    assert len(warnings) == 1, log
    assert "params.textDocument is missing" in warnings[0]
    assert "Traceback" not in log


async def test_an_exception_in_a_request_handler_is_an_error_answer_without_a_popup(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama, SPY_SERVER) as client:
        answer = await client.request(
            "workspace/executeCommand", {"command": "lspAssistTest.fail", "arguments": []}
        )
        assert answer["error"] == {
            "code": INTERNAL_ERROR,
            "message": "ValueError: the handler broke",
        }  # and no traceback in `data`
        assert "error" not in await client.normal_request()
        assert client.shown == []
        _, log = await client.close_stdin_and_wait()
    assert "Traceback" in log and "the handler broke" in log


async def test_an_exception_in_a_notification_handler_shows_no_popup(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama, SPY_SERVER) as client:
        for _ in range(3):  # a handler that fails on every keystroke
            client.send(
                {"jsonrpc": "2.0", "method": "lspAssistTest/failNotification", "params": {}}
            )
        assert "error" not in await client.normal_request()
        assert client.shown == []
        _, log = await client.close_stdin_and_wait()
    assert "Traceback" in log and "the notification handler broke" in log


def test_serve_with_stdin_from_dev_null_exits() -> None:
    result = subprocess.run(
        SERVE, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0  # the client is gone: the session is over
    assert result.stdout == b""


async def test_closing_stdin_runs_the_shutdown_path_and_exits(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama, SPY_SERVER) as client:
        code, log = await client.close_stdin_and_wait()
    assert code == 0
    assert log.count("session shut down") == 1


async def test_closing_stdin_after_shutdown_exits_with_0(fake_ollama: FakeOllama) -> None:
    async with session(fake_ollama, SPY_SERVER) as client:
        assert "error" not in await client.request("shutdown")
        code, log = await client.close_stdin_and_wait()
    assert code == 0
    assert log.count("session shut down") == 1  # once: the client's `shutdown` ran it


async def test_exit_without_shutdown_runs_the_shutdown_path_and_exits_with_1(
    fake_ollama: FakeOllama,
) -> None:
    async with session(fake_ollama, SPY_SERVER) as client:
        client.send({"jsonrpc": "2.0", "method": "exit"})
        code, log = await client.wait()  # stdin still open: `exit` alone ends the server
    assert code == 1
    assert log.count("session shut down") == 1


async def test_exit_after_shutdown_exits_with_0(fake_ollama: FakeOllama) -> None:
    async with session(fake_ollama) as client:
        assert "error" not in await client.request("shutdown")
        client.send({"jsonrpc": "2.0", "method": "exit"})
        code, _ = await client.wait()
    assert code == 0


def test_a_client_that_stops_reading_ends_the_server(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            SPY_SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file
        )
    try:
        assert process.stdin is not None and process.stdout is not None
        write(process.stdin, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
        assert process.stdout.readline().startswith(b"Content-Length")
        process.stdout.close()  # the client no longer reads: the next answer cannot be written
        with contextlib.suppress(BrokenPipeError):
            write(process.stdin, {"jsonrpc": "2.0", "id": 2, "method": "workspace/symbol"})
        code = process.wait(timeout=TIMEOUT)  # stdin is still open
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    assert log_path.read_text().count("session shut down") == 1


def write(stdin: Any, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode("utf-8")
    stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stdin.flush()
