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

Four more scenarios (`latency_stalls.py`, `latency_workspace.py`, `latency_deadline.py`) ask
whether heavy work stalls the keystrokes, always against the fake:

* `big-file`: keystrokes answered from the type-through cache in a small file, every few
  milliseconds, while a ~3 MB Python file is opened, edited and saved (review on save): p50,
  p95 and the worst answer per phase; `bounded-file`: the same with the biggest file that the
  server still parses, learns and reviews whole (just under 1 MB);
* `workspace`: the same keystrokes while the server reads a fresh 2,000-file, ~25 MB workspace
  (`workspace_corpus.py`), the time until it has, and the server's peak resident set;
* `hang`: a backend that accepts a generation and sends nothing: how long the ghost-text
  request takes to be answered (`--first-token-ms` sets `completion.firstTokenMs`).

    python benchmarks/latency.py            # all scenarios, fake Ollama
    python benchmarks/latency.py --scenario typing --host http://127.0.0.1:11434 \
        --model qwen2.5-coder:1.5b-base
    python benchmarks/latency.py --scenario big-file --scenario workspace --json

`--endpoint llamacpp` runs the typing scenario against llama.cpp's real server instead (on the
tests' tiny model; `--engine-model big` too): the prompt tokens the engine itself evaluates per
keystroke, typing blocks of real code again, and what `/infill` would cost (`latency_engine.py`).

    python benchmarks/latency.py --endpoint llamacpp --engine-model tiny --engine-model big
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from typing import Any

from latency_deadline import run_hanging_backend
from latency_engine import print_engine_typing, run_engine_typing
from latency_stalls import run_big_file, run_bounded_file
from latency_support import summary
from latency_workspace import run_workspace

from lsp_assist.lsp_client import LspClient
from tests.fakes.serve import FakeOllamaProcess

SCENARIOS = ("typing", "big-file", "bounded-file", "workspace", "hang")

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


async def run_typing(args: argparse.Namespace) -> dict[str, Any]:
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    runners = {
        "typing": run_typing,
        "big-file": run_big_file,
        "bounded-file": run_bounded_file,
        "workspace": run_workspace,
        "hang": run_hanging_backend,
    }
    if args.endpoint == "llamacpp":
        runners["typing"] = run_engine_typing
    for name in args.scenario or SCENARIOS:
        if name != "typing" and args.host is not None:
            print(f"{name}: runs against the fake only, skipped with --host", file=sys.stderr)
            continue
        if name != "typing" and args.endpoint == "llamacpp":
            print(f"{name}: runs against the fake only, skipped with --endpoint", file=sys.stderr)
            continue
        started = time.perf_counter()
        results[name] = await runners[name](args)
        results[name]["scenario_s"] = round(time.perf_counter() - started, 1)
    return results


def _row(name: str, row: dict[str, Any]) -> str:
    worst = f"   worst {row['worst']:>9}" if "worst" in row else ""
    return f"  {name:<26} p50 {row['p50']:>9}   p95 {row['p95']:>9}{worst}   (n={row['n']})"


def print_typing(results: dict[str, Any]) -> None:
    print(f"lsp-assist latency — {results['backend']} ({results['model']}), {FILE_LINES}-line file")
    for name in (
        "end_to_end_ms",
        "server_overhead_ms",
        "inside_server_ms",
        "prompt_build_ms",
        "fresh_prompt_chars",
        "type_through_ms",
    ):
        print(_row(name, results[name]))
    print(f"  backend requests while typing through: {results['type_through_backend_requests']}")


def print_big_file(results: dict[str, Any]) -> None:
    mb = results["file_bytes"] / 1e6
    print(
        f"cached keystrokes (ms, one every {results['interval_ms']} ms) while a {mb:.1f} MB, "
        f"{results['file_lines']}-line Python file is opened, edited, saved"
    )
    for phase, row in results["keystroke_ms"].items():
        odd = f"   {row['unexpected_answers']} unexpected" if row["unexpected_answers"] else ""
        print(_row(f"{phase} ({results['phase_ms'][phase] / 1000:.1f} s)", row) + odd)
    print(
        f"  worst while opening, editing, saving: {results['worst_keystroke_ms']} ms "
        "(target ≤ 100, aim ≤ 20)"
    )
    review = results["review"] or {}
    if review.get("finished"):
        print(
            f"  review on save: {review['units']} functions, {review['calls']} calls, "
            f"save → reviewed {review['save_to_reviewed_ms']} ms"
        )
    else:
        print(f"  review on save: {'did not finish' if review.get('ran') else 'none'}")
    print(
        f"  backend requests during the keystrokes: {results['backend_requests_during_keystrokes']}"
    )


def print_workspace(results: dict[str, Any]) -> None:
    print(
        f"cached keystrokes (ms, one every {results['interval_ms']} ms) while a "
        f"{results['workspace_files']}-file, {results['workspace_mb']} MB workspace is read"
    )
    for phase, row in results["keystroke_ms"].items():
        print(_row(phase, row))
    print(f"  worst while reading: {results['worst_keystroke_ms']} ms (target ≤ 100, aim ≤ 20)")
    learnt = results["learnt"]
    took = f"{results['time_to_learnt_s']} s, {learnt.get('files')} files" if learnt else "never"
    print(f"  learnt after: {took}; first suggestion after {results['first_suggestion_ms']} ms")
    if "peak_rss_mb" in results:
        print(
            f"  server RSS: {results['rss_start_mb']} MB at start, peak {results['peak_rss_mb']} "
            f"MB (target ≤ 300), {results['rss_end_mb']} MB at the end"
            + (
                f" (with {results['worker_processes']} worker processes: peak "
                f"{results['peak_rss_with_workers_mb']} MB)"
                if results["worker_processes"]
                else ""
            )
        )


def print_hang(results: dict[str, Any]) -> None:
    setting = results["first_token_ms_setting"]
    said = "the server's default" if setting is None else f"{setting} ms"
    print(f"ghost text with a backend that never sends a token (completion.firstTokenMs: {said})")
    if results["answered"]:
        deadline = results["deadline_ms"]
        print(
            f"  answered after {results['answered_ms']} ms with {results['answer']!r}"
            + (f" (deadline {deadline} ms)" if deadline is not None else "")
        )
    else:
        print(f"  not answered within {results['waited_up_to_s']} s")
    states = [s.get("reason") or s.get("message") or s.get("state") for s in results["statuses"]]
    print(f"  statuses: {states}")


def _finite(value: Any) -> Any:
    """JSON has no NaN: an empty summary's figures become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run this scenario (repeatable; default: all, 1.5 to 3 minutes)",
    )
    parser.add_argument("--host", help="a real Ollama (default: the fake one; typing only)")
    parser.add_argument(
        "--endpoint",
        choices=("ollama", "llamacpp"),
        default="ollama",
        help="llamacpp: type against llama.cpp's real server (typing only; latency_engine.py)",
    )
    parser.add_argument("--model", default="qwen2.5-coder:1.5b-base")
    parser.add_argument("--ttft-ms", type=float, default=15.0, help="fake: time to first token")
    parser.add_argument("--token-ms", type=float, default=2.0, help="fake: time per token")
    parser.add_argument("--chars-per-line", type=int, default=60, help="keystrokes typed per line")
    parser.add_argument("--type-through-chars", type=int, default=20)
    stalls = parser.add_argument_group("big-file and workspace")
    stalls.add_argument(
        "--interval-ms", type=float, default=8.0, help="one cached keystroke this often"
    )
    stalls.add_argument("--big-file-mb", type=float, default=3.0)
    stalls.add_argument(
        "--phase-s", type=float, default=3.0, help="shortest length of the open/edit/save phases"
    )
    stalls.add_argument("--save-timeout-s", type=float, default=120.0)
    stalls.add_argument("--workspace", help="read this folder (default: a fresh one, built)")
    stalls.add_argument("--workspace-files", type=int, default=2000)
    stalls.add_argument("--workspace-mb", type=float, default=25.0)
    stalls.add_argument("--workspace-timeout-s", type=float, default=300.0)
    engine = parser.add_argument_group("--endpoint llamacpp")
    engine.add_argument(
        "--engine-model",
        action="append",
        choices=("tiny", "big"),
        help="the model llama.cpp serves (repeatable; default: tiny)",
    )
    engine.add_argument("--engine-files", type=int, default=6, help="real code files typed in")
    engine.add_argument("--engine-lines", type=int, default=3, help="lines typed per file")
    engine.add_argument(
        "--infill-keystrokes",
        type=int,
        default=150,
        help="the first this many keystrokes also go straight to /completion and /infill",
    )
    hang = parser.add_argument_group("hang")
    hang.add_argument(
        "--first-token-ms", type=int, help="completion.firstTokenMs (default: the server's)"
    )
    hang.add_argument(
        "--hang-wait-s", type=float, default=20.0, help="give up on the answer after this long"
    )
    parser.add_argument(
        "--server-log", metavar="DIR", help="keep each server's debug log: DIR/<scenario>.log"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args()
    results = _finite(asyncio.run(run(args)))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    printers = {
        "typing": print_engine_typing if args.endpoint == "llamacpp" else print_typing,
        "big-file": print_big_file,
        "bounded-file": print_big_file,
        "workspace": print_workspace,
        "hang": print_hang,
    }
    for name, result in results.items():
        printers[name](result)
        print()


if __name__ == "__main__":
    main()
