"""Completion latency the way an editor experiences it.

Drives `lsp-assist serve` over stdio like an editor: on a 3,000-line Python file it types
code character by character, asking for an inline completion after each keystroke, and
measures

* end-to-end time (request sent → answer received, as the editor sees it),
* server overhead (end-to-end minus the backend's own time, Ollama's `total_duration`),
* time inside the server (the server's own clock, minus the backend's time: the part of the
  overhead that is not the LSP transport),
* prompt build time (reported by the server),
* prompt characters evaluated afresh per keystroke (what Ollama's prefix cache cannot reuse:
  the prompt minus its longest common prefix with the previous prompt),
* type-through time (typing the characters of a suggestion on screen: no backend request).

The client is a lean JSON-RPC client (plain `json`, as fast as an editor's), so that what is
measured is the server, not a slow test client. By default it runs against the project's fake
Ollama in a process of its own (15 ms to first token, 2 ms per token); `--host`/`--model` point
it at a real Ollama.

    python benchmarks/latency.py            # fake Ollama
    python benchmarks/latency.py --host http://127.0.0.1:11434 --model qwen2.5-coder:1.5b-base
    python benchmarks/latency.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.serve import FakeOllamaProcess  # noqa: E402

FILE_LINES = 3000
TYPED_LINES = [
    "        total = compute_total(items, discount=0.1)",
    "        if total > limit:",
    "            return round(total, 2)",
]
SUGGESTION = "  # checked against the order's limit"


def make_source() -> str:
    """A 3,000-line Python module of ordinary-looking classes."""
    blocks = []
    i = 0
    while sum(b.count("\n") for b in blocks) < FILE_LINES - 40:
        blocks.append(
            f"class Order{i}:\n"
            f'    """Order number {i} and what it costs."""\n\n'
            f"    def __init__(self, items, limit={i}):\n"
            f"        self.items = list(items)\n"
            f"        self.limit = limit\n\n"
            f"    def price(self, discount=0.0):\n"
            f"        total = sum(item.cost * item.quantity for item in self.items)\n"
            f"        return total * (1 - discount)\n\n\n"
        )
        i += 1
    return "".join(blocks)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3) if values else float("nan"),
        "p95": round(percentile(values, 0.95), 3),
        "n": len(values),
    }


class Editor:
    """Just enough of an LSP client: framing, requests, notifications, a buffer."""

    def __init__(self, host: str, model: str) -> None:
        self.host = host
        self.model = model
        self.statuses: list[dict[str, Any]] = []
        self.text = ""
        self.version = 1
        self.uri = "file:///bench/orders.py"
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._status_arrived = asyncio.Event()

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lsp_assist",
            "serve",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        self._reader_task = asyncio.create_task(self._read())
        await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": "file:///bench",
                "capabilities": {"general": {"positionEncodings": ["utf-16"]}},
                "initializationOptions": {
                    "ollama": {"host": self.host},
                    "completion": {"model": self.model, "debounceMs": 0, "maxTokens": 32},
                },
            },
        )
        self.notify("initialized", {})

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.request("shutdown", None), 10)
            self.notify("exit", None)
        if self._process is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), 10)
            if self._process.returncode is None:
                self._process.kill()
        if self._reader_task is not None:
            self._reader_task.cancel()

    # -- JSON-RPC -------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> asyncio.Future[Any]:
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._send({"id": self._next_id, "method": method, "params": params})
        return future

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while True:
            length = 0
            while (line := await stdout.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line:
                return
            message = json.loads(await stdout.readexactly(length))
            if "method" not in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message.get("result"))
            elif message["method"] == "lspAssist/status":
                self.statuses.append(message["params"])
                self._status_arrived.set()
            elif message["method"] == "window/showMessage":
                print(f"server says: {message['params']['message']}", file=sys.stderr)
            elif "id" in message:  # a request from the server: nothing configured here
                self._send({"id": message["id"], "result": None})

    # -- the buffer -----------------------------------------------------------------------

    def position(self, offset: int) -> dict[str, int]:
        line = self.text.count("\n", 0, offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1)
        return {"line": line, "character": column}  # ASCII text: UTF-16 = str columns

    def open(self, text: str) -> None:
        self.text = text
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": self.uri, "languageId": "python", "version": 1, "text": text}},
        )

    def insert(self, offset: int, chars: str) -> int:
        at = self.position(offset)
        self.text = self.text[:offset] + chars + self.text[offset:]
        self.version += 1
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"range": {"start": at, "end": at}, "text": chars}],
            },
        )
        return offset + len(chars)

    async def inline(self, offset: int) -> tuple[float, str | None, dict[str, Any] | None]:
        """(end-to-end ms, suggestion, the server's status for it)."""
        seen = len(self.statuses)
        started = time.perf_counter()
        result = await self.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": self.uri},
                "position": self.position(offset),
                "context": {"triggerKind": 2},
            },
        )
        elapsed = (time.perf_counter() - started) * 1000
        text = None
        if result and result.get("items"):
            insert = result["items"][0]["insertText"]
            text = insert if isinstance(insert, str) else insert["value"]
        return elapsed, text, (await self._ready_status(seen) if text is not None else None)

    async def _ready_status(self, seen: int) -> dict[str, Any] | None:
        """The "ready" status the server sends right after an answer."""
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                ready = [s for s in self.statuses[seen:] if s.get("state") == "ready"]
                if ready:
                    return ready[-1]
                self._status_arrived.clear()
                await asyncio.wait_for(self._status_arrived.wait(), 2)
        return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fake: FakeOllamaProcess | None = None
    host = args.host
    if host is None:
        # Never what is typed next, so every keystroke needs a new generation.
        fake = FakeOllamaProcess(
            ttft=args.ttft_ms / 1000, token_delay=args.token_ms / 1000, reply=SUGGESTION
        ).start()
        host = fake.url
    editor = Editor(host, args.model)
    await editor.start()
    try:
        source = make_source()
        editor.open(source)
        # Type new lines into the middle of the file, at the end of a method body.
        anchor = source.index("        return total * (1 - discount)\n", len(source) // 2)
        offset = anchor + len("        return total * (1 - discount)\n")
        await editor.inline(offset)  # warm-up: model info, first prompt

        end_to_end: list[float] = []
        overhead: list[float] = []
        inside: list[float] = []
        prompt_ms: list[float] = []
        for line in TYPED_LINES:
            offset = editor.insert(offset, "\n")
            for char in line[: args.chars_per_line]:
                offset = editor.insert(offset, char)
                elapsed, _text, status = await editor.inline(offset)
                if status is None or status.get("source") != "model":
                    continue
                backend_ms = float(status.get("backendMs", 0.0))
                end_to_end.append(elapsed)
                overhead.append(max(0.0, elapsed - backend_ms))
                inside.append(max(0.0, float(status["latencyMs"]) - backend_ms))
                prompt_ms.append(float(status.get("promptMs", 0.0)))
        requests = fake.generate_requests() if fake else []
        fresh_chars = [float(r["fresh_chars"]) for r in requests[2:]]  # after the first typed

        # Type-through: type the suggestion on screen character by character.
        offset = editor.insert(offset, "\n        value = 1")
        _, suggestion, _ = await editor.inline(offset)
        type_through: list[float] = []
        before = len(fake.generate_requests()) if fake else 0
        for char in (suggestion or "")[: args.type_through_chars]:
            offset = editor.insert(offset, char)
            elapsed, _text, status = await editor.inline(offset)
            if status is not None and status.get("source") == "type-through":
                type_through.append(elapsed)
        during_type_through = len(fake.generate_requests()) - before if fake else None
    finally:
        await editor.stop()
        if fake is not None:
            fake.stop()

    return {
        "backend": "fake" if fake else host,
        "model": args.model,
        "file_lines": FILE_LINES,
        "fake_ttft_ms": args.ttft_ms if fake else None,
        "fake_token_ms": args.token_ms if fake else None,
        "end_to_end_ms": summary(end_to_end),
        "server_overhead_ms": summary(overhead),
        "inside_server_ms": summary(inside),
        "prompt_build_ms": summary(prompt_ms),
        "fresh_prompt_chars": summary(fresh_chars),
        "type_through_ms": summary(type_through),
        "type_through_backend_requests": during_type_through,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", help="a real Ollama (default: the fake one)")
    parser.add_argument("--model", default="qwen2.5-coder:1.5b-base")
    parser.add_argument("--ttft-ms", type=float, default=15.0, help="fake: time to first token")
    parser.add_argument("--token-ms", type=float, default=2.0, help="fake: time per token")
    parser.add_argument("--chars-per-line", type=int, default=60, help="keystrokes typed per line")
    parser.add_argument("--type-through-chars", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"lsp-assist latency — {results['backend']} ({results['model']}), {FILE_LINES}-line file")
    for name in (
        "end_to_end_ms",
        "server_overhead_ms",
        "inside_server_ms",
        "prompt_build_ms",
        "fresh_prompt_chars",
        "type_through_ms",
    ):
        row = results[name]
        print(f"  {name:<22} p50 {row['p50']:>9}   p95 {row['p95']:>9}   (n={row['n']})")
    print(f"  backend requests while typing through: {results['type_through_backend_requests']}")


if __name__ == "__main__":
    main()
