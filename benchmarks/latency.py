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
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsp_assist.lsp_client import LspClient  # noqa: E402
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
    """The editor: the project's lean JSON-RPC client (plain `json`, like an editor's), on one
    buffer."""

    uri = "file:///bench/orders.py"

    def __init__(self, host: str, model: str) -> None:
        self.host = host
        self.model = model
        self.client = LspClient(lambda message: print(f"server says: {message}", file=sys.stderr))

    async def start(self) -> None:
        await self.client.start()
        options = {
            "ollama": {"host": self.host},
            "completion": {"model": self.model, "debounceMs": 0, "maxTokens": 32},
        }
        await self.client.initialize("file:///bench", options, timeout=60)

    async def stop(self) -> None:
        await self.client.stop()

    def open(self, text: str) -> None:
        self.client.open(self.uri, text, "python")

    def insert(self, offset: int, chars: str) -> int:
        return self.client.insert(self.uri, offset, chars)

    async def inline(self, offset: int) -> tuple[float, str | None, dict[str, Any] | None]:
        """(end-to-end ms, suggestion, the server's status for it)."""
        seen = len(self.client.statuses)
        started = time.perf_counter()
        text = await self.client.inline_completion(self.uri, offset, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        status = await self.client.ready_status(seen, timeout=2) if text is not None else None
        return elapsed, text, status


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
