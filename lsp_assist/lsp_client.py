"""A lean LSP client over stdio: just enough of an editor to drive `lsp-assist serve`.

It starts the server as a subprocess, frames JSON-RPC messages by hand (plain `json`, as fast
as an editor's client), keeps each open document's text so that keystrokes become incremental
`didChange`s, and collects what the server pushes: `lspAssist/status`, `window/showMessage`
and `textDocument/publishDiagnostics` (the latest per document, with how many arrived and when
the last did, so a caller can wait for the next). When the server dies, every pending request
fails with `ServerGone`, carrying the last line the server wrote on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STDERR_LINES_KEPT = 20


class ServerGone(Exception):
    """The server exited, or did not answer in time."""


@dataclass
class OpenDocument:
    uri: str
    text: str
    version: int = 1


def utf16_position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (UTF-16 columns) of a `str` offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return {"line": text.count("\n", 0, offset), "character": column}


class LspClient:
    def __init__(self, on_message: Callable[[str], None] = lambda message: None) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.diagnostics: dict[str, list[Any]] = {}
        self.diagnostics_count: dict[str, int] = {}  # publishDiagnostics received per document
        self.diagnostics_at: dict[str, float] = {}  # time.perf_counter() of the latest one
        self.documents: dict[str, OpenDocument] = {}
        self._on_message = on_message
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr: list[str] = []
        self._status_arrived = asyncio.Event()
        self._diagnostics_arrived = asyncio.Event()
        self._gone: ServerGone | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(
        self, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        """`env`: the server's whole environment (default: this process's)."""
        command = command or [sys.executable, "-m", "lsp_assist", "serve"]
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise ServerGone(f"could not start the language server: {exc}") from None
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._drain())]

    async def initialize(self, root_uri: str, options: dict[str, Any], timeout: float) -> None:
        params = {
            "processId": None,
            "rootUri": root_uri,
            "clientInfo": {"name": "lsp-assist demo"},
            "capabilities": {"general": {"positionEncodings": ["utf-16"]}},
            "initializationOptions": options,
        }
        await self.request("initialize", params, timeout)
        self.notify("initialized", {})

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.request("shutdown", None, 5)
            self.notify("exit", None)
        if self._process is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), 5)
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
        for task in self._tasks:
            task.cancel()

    # -- JSON-RPC ----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._gone is not None:
            raise self._gone
        assert self._process is not None and self._process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    async def request(self, method: str, params: Any, timeout: float) -> Any:
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._send({"id": self._next_id, "method": method, "params": params})
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ServerGone(f"the language server did not answer {method} in time") from None

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        try:
            while True:
                length = 0
                while (line := await stdout.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if not line:
                    break
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, ValueError):
            pass
        await self._went_away()

    async def _went_away(self) -> None:
        if self._process is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), 2)
        await asyncio.sleep(0.05)  # let the stderr reader catch the last words
        said = f": {self._stderr[-1]}" if self._stderr else ""
        self._gone = ServerGone(f"the language server stopped{said}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._gone)
        self._pending.clear()

    async def _drain(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            self._stderr = [*self._stderr[-STDERR_LINES_KEPT:], line.decode(errors="replace")]
            self._stderr[-1] = self._stderr[-1].strip()

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            future = self._pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message.get("result"))
        elif method == "lspAssist/status":
            self.statuses.append(message["params"])
            self._status_arrived.set()
        elif method == "window/showMessage":
            self._on_message(str(message["params"].get("message", "")))
        elif method == "textDocument/publishDiagnostics":
            params = message["params"]
            uri = params["uri"]
            self.diagnostics[uri] = list(params.get("diagnostics") or [])
            self.diagnostics_count[uri] = self.diagnostics_count.get(uri, 0) + 1
            self.diagnostics_at[uri] = time.perf_counter()
            self._diagnostics_arrived.set()
        elif "id" in message:  # a request from the server: nothing configured here
            self._send({"id": message["id"], "result": None})

    # -- documents ---------------------------------------------------------------------------

    def open(self, uri: str, text: str, language_id: str) -> None:
        self.documents[uri] = OpenDocument(uri, text)
        item = {"uri": uri, "languageId": language_id, "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def insert(self, uri: str, offset: int, chars: str) -> int:
        """Types `chars` at `offset`; returns the offset after them."""
        return self.replace(uri, offset, offset, chars)

    def replace(self, uri: str, start: int, end: int, chars: str) -> int:
        """Replaces the text between two `str` offsets by `chars`; returns the offset after
        them."""
        document = self.documents[uri]
        begin = utf16_position(document.text, start)
        finish = utf16_position(document.text, end)
        document.text = document.text[:start] + chars + document.text[end:]
        document.version += 1
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": document.version},
                "contentChanges": [{"range": {"start": begin, "end": finish}, "text": chars}],
            },
        )
        return start + len(chars)

    def save(self, uri: str) -> None:
        text = self.documents[uri].text
        self.notify("textDocument/didSave", {"textDocument": {"uri": uri}, "text": text})

    def close(self, uri: str) -> None:
        self.documents.pop(uri, None)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    async def execute_command(self, command: str, arguments: list[Any], timeout: float) -> Any:
        params = {"command": command, "arguments": arguments}
        return await self.request("workspace/executeCommand", params, timeout)

    async def next_diagnostics(self, uri: str, after: int, timeout: float) -> list[Any] | None:
        """The diagnostics of `uri` once more than `after` publishDiagnostics have arrived for
        it (see `diagnostics_count`), or None after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.diagnostics_count.get(uri, 0) <= after:
            if not await self._wait(self._diagnostics_arrived, deadline):
                return None
        return self.diagnostics[uri]

    async def status_matching(
        self, seen: int, wanted: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any] | None:
        """The first of statuses[seen:] that is `wanted`, waiting up to `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for status in self.statuses[seen:]:
                if wanted(status):
                    return status
            seen = len(self.statuses)
            if not await self._wait(self._status_arrived, deadline):
                return None

    @staticmethod
    async def _wait(event: asyncio.Event, deadline: float) -> bool:
        """Waits for the next `set()` of `event` until `deadline` (loop time); False if none."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), remaining)
        except asyncio.TimeoutError:
            return False
        return True

    async def inline_completion(self, uri: str, offset: int, timeout: float) -> str | None:
        """The first inline completion item's text at `offset`, or None."""
        position = utf16_position(self.documents[uri].text, offset)
        result = await self.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}},
            timeout,
        )
        items = result.get("items") if isinstance(result, dict) else result
        if not items:
            return None
        insert = items[0].get("insertText")
        return insert if isinstance(insert, str) else (insert or {}).get("value")

    async def ready_status(self, seen: int, timeout: float = 1.0) -> dict[str, Any] | None:
        """The "ready" status the server sends right after an answer (statuses[seen:])."""
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                ready = [s for s in self.statuses[seen:] if s.get("state") == "ready"]
                if ready:
                    return ready[-1]
                self._status_arrived.clear()
                await asyncio.wait_for(self._status_arrived.wait(), timeout)
        return None
