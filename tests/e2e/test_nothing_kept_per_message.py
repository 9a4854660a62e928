"""A long session keeps nothing per message, nor per progress report: the server built as
`lsp-assist serve` builds it, fed messages as its stdio transport feeds them (found by
benchmarks/soak.py, whose server grew by ~2 kB per keystroke: pygls filed the future of every
didChange in its table of requests in flight and never took it out; and by a future per review
that reported progress)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
from pathlib import Path
from typing import Any

from lsp_assist.framing import Message
from lsp_assist.lsp.protocol import AssistProtocol
from lsp_assist.progress import WorkDoneProgress
from lsp_assist.server import AssistServer, build_server

KEYSTROKES = 300


class Sink:
    """The client's end of stdout: what the server writes, kept."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict[str, Any]]:
        messages, rest = [], bytes(self.data)
        while rest:
            header, _, rest = rest.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in header.split(b"\r\n"))
            length = int(fields[b"Content-Length"])
            messages.append(json.loads(rest[:length]))
            rest = rest[length:]
        return messages

    def answers(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if "id" in m and "method" not in m]

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if "id" in m and m.get("method") == method]


def send(protocol: AssistProtocol, method: str, params: Any, msg_id: int | None = None) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if msg_id is not None:
        message["id"] = msg_id
    protocol.receive(Message(message))


def pending(protocol: AssistProtocol) -> int:
    return len(protocol._request_futures)


def futures_alive() -> int:
    gc.collect()
    kinds = (concurrent.futures.Future, asyncio.Future)
    return sum(1 for thing in gc.get_objects() if isinstance(thing, kinds))


async def started(
    tmp_path: Path, capabilities: dict[str, Any] | None = None
) -> tuple[AssistServer, AssistProtocol, Sink]:
    server = build_server()
    protocol = server.protocol
    assert isinstance(protocol, AssistProtocol)
    sink = Sink()
    protocol.set_writer(sink)
    options = {"completion": {"backend": "offline"}, "review": {"enabled": False}}
    params: dict[str, Any] = {
        "processId": None,
        "rootUri": tmp_path.as_uri(),
        "capabilities": capabilities or {},
    }
    send(protocol, "initialize", {**params, "initializationOptions": options}, msg_id=1)
    await asyncio.sleep(0.05)
    return server, protocol, sink


async def test_typing_leaves_nothing_in_the_table_of_requests_in_flight(tmp_path: Path) -> None:
    server, protocol, _ = await started(tmp_path)
    uri = (tmp_path / "typed.py").as_uri()
    item = {"uri": uri, "languageId": "python", "version": 1, "text": ""}
    send(protocol, "textDocument/didOpen", {"textDocument": item})
    before = futures_alive()
    for version in range(2, KEYSTROKES + 2):
        position = {"line": 0, "character": version - 2}
        change = {"range": {"start": position, "end": position}, "text": "x"}
        send(
            protocol,
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )
    send(protocol, "textDocument/didClose", {"textDocument": {"uri": uri}})
    await asyncio.sleep(0.05)

    assert pending(protocol) == 0
    assert futures_alive() - before < KEYSTROKES // 10
    await server.session.shutdown()


async def test_settings_changes_and_commands_leave_nothing_behind_once_done(
    tmp_path: Path,
) -> None:
    server, protocol, sink = await started(tmp_path)
    for turn in range(20):
        settings = {"lspAssist": {"completion": {"maxTokens": 32 + turn}}}
        send(protocol, "workspace/didChangeConfiguration", {"settings": settings})
        # An async command under pygls's own executeCommand (a generator): its inner step.
        command = {"command": "lspAssist.reviewFile", "arguments": []}
        send(protocol, "workspace/executeCommand", command, msg_id=100 + turn)
    await asyncio.sleep(0.2)

    assert {answer["id"] for answer in sink.answers()} >= set(range(100, 120))
    assert pending(protocol) == 0
    await server.session.shutdown()


async def test_progress_reports_leave_nothing_behind_once_ended(tmp_path: Path) -> None:
    capabilities = {"window": {"workDoneProgress": True}}
    server, protocol, sink = await started(tmp_path, capabilities)
    for run in range(20):
        progress = WorkDoneProgress(server, "review")
        await progress.begin("Reviewing")
        await asyncio.sleep(0.01)
        create = sink.requests("window/workDoneProgress/create")[run]
        protocol.receive(Message({"jsonrpc": "2.0", "id": create["id"], "result": None}))
        await progress.ready()
        progress.end("reviewed")
    await asyncio.sleep(0.01)

    ended = [
        m for m in sink.messages() if m.get("params", {}).get("value", {}).get("kind") == "end"
    ]
    assert len(ended) == 20
    assert server.work_done_progress.tokens == {}
    await server.session.shutdown()
