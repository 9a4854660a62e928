"""A lean JSON-RPC client for `lsp-assist serve` over stdio, for fuzzing: plain `json` (as fast
as an editor's client; thousands of sequences go through one server, and a typed client would
cost more than the server), answers with their errors, the server's stderr kept as log
records, and the client capabilities of VS Code (UTF-16) or Neovim (UTF-8), or VS Code's
asking for UTF-32.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter
from pytest_lsp import client_capabilities

ANSWER_TIMEOUT_S = 20.0
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (\w+) ([\w.]+): (.*)$")


class ServerGone(Exception):
    pass


@dataclass
class Answer:
    result: Any = None
    error: dict[str, Any] | None = None
    at: float = 0.0


class JsonRpcPipe:
    """JSON-RPC over the server's stdin/stdout; its stderr kept as log records."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.records: list[tuple[str, str]] = []  # (level, "logger: message\ntraceback")
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Answer]] = {}
        self._held: list[bytes] | None = None
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._drain())]

    @classmethod
    async def start(cls, command: list[str], env: dict[str, str]) -> JsonRpcPipe:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 20,
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self._tasks[0].done()

    def _send(self, message: dict[str, Any]) -> None:
        if not self.alive:
            raise ServerGone(self.last_words())
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()  # ASCII: lone surrogates too
        framed = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        if self._held is not None:
            self._held.append(framed)
            return
        assert self.process.stdin is not None
        self.process.stdin.write(framed)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """The messages sent inside go out in one write: the server reads them in one go."""
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            assert self.process.stdin is not None
            self.process.stdin.write(b"".join(held))

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> asyncio.Future[Answer]:
        self._next_id += 1
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._send({"id": self._next_id, "method": method, "params": params})
        return future

    async def call(self, method: str, params: Any, timeout: float = ANSWER_TIMEOUT_S) -> Answer:
        try:
            return await asyncio.wait_for(self.request(method, params), timeout)
        except asyncio.TimeoutError:
            raise ServerGone(f"no answer to {method} in {timeout:.0f} s") from None

    async def drain(self) -> None:
        """Waits until the server has read what was sent (it may be too busy to)."""
        assert self.process.stdin is not None
        try:
            await asyncio.wait_for(self.process.stdin.drain(), ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ServerGone(f"the server read nothing for {ANSWER_TIMEOUT_S:.0f} s") from None
        except (ConnectionError, BrokenPipeError):
            raise ServerGone(self.last_words()) from None

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = -1
                while (line := await stdout.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if not line:
                    break
                self._dispatch(json.loads(await stdout.readexactly(length)))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5)
        gone = ServerGone(self.last_words())
        for future in self._pending.values():
            if not future.done():
                future.set_exception(gone)
                future.exception()  # retrieved: whoever waits for it is told, or gone too
        self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if "id" in message:  # a request from the server: progress, registrations…
                self._send({"id": message["id"], "result": None})
            return
        future = self._pending.pop(message.get("id", -1), None)
        if future is not None and not future.done():
            answer = Answer(message.get("result"), message.get("error"), time.perf_counter())
            future.set_result(answer)

    async def _drain(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if match := _LOG_RECORD.match(text):
                self.records.append((match[1], f"{match[2]}: {match[3]}"))
            elif self.records:  # a traceback's lines
                level, record = self.records[-1]
                self.records[-1] = (level, f"{record}\n{text}")
            else:
                self.records.append(("OUTPUT", text))

    def last_words(self) -> str:
        code = self.process.returncode
        tail = "\n".join(record for _, record in self.records[-3:])
        return f"the server exited ({code}): {tail}" if code is not None else "the server hung up"

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.call("shutdown", None, 10)
            self.notify("exit", None)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.process.wait(), 10)
        await self.kill()

    async def kill(self) -> None:
        """Ends the server at once (one that hangs, or is gone)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for task in self._tasks:
            task.cancel()


def capabilities(encoding: str) -> dict[str, Any]:
    """A real editor's client capabilities, asking for `encoding`; configuration comes from
    initializationOptions only."""
    editor = "neovim@v0.11.0" if encoding == "utf-8" else "visual-studio-code"
    unstructured: dict[str, Any] = get_converter().unstructure(
        client_capabilities(editor), types.ClientCapabilities
    )
    unstructured.setdefault("general", {})["positionEncodings"] = [encoding]
    unstructured.setdefault("workspace", {})["configuration"] = False
    return unstructured
