"""How often the next suggestion is already there: a perfect model, real functions, real typing.

The fake Ollama answers every completion with the file's true continuation from the cursor (it
finds the cursor by the text before it in the prompt): a perfect model. So every miss measured
here is the server's — a generation it had to start, a line it did not offer, a suggestion not
ready when the user accepted the last one.

Functions come from public repositories (the sources of packages installed in the venv:
httpx, rich, pygls, …). Each is typed into its own module with the function taken out, as an
editor would: character by character, with the editor's auto-indent after each newline (the
previous line's indentation, four more after a `:`), corrected by the typist where the code
dedents. Two replays:

* **typing**: a completion request after every keystroke. Reported: generations per typed line
  and the share of keystrokes that show a right suggestion (a non-empty prefix of the truth).
* **accepting**: the user accepts a right suggestion whole (after `--think-ms` looking at it),
  else types one character. Reported: the share of accepts whose next suggestion is ready
  (answered without a new generation, in ≤ 5 ms), and the generations per typed line.

    python benchmarks/oracle_replay.py [--functions 20] [--think-ms 250] [--json]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsp_assist.lsp_client import LspClient
from tests.fakes.fake_ollama import FakeOllama, Reply

PACKAGES = ("httpx", "rich", "pygls", "lsprotocol", "pathspec")
READY_MS = 5.0
THINK_JITTER = random.Random(11)
VERBOSE = "-v" in sys.argv


@dataclass(frozen=True)
class Task:
    """A module with one function taken out, to be typed back in."""

    name: str
    truth: str  # the whole module
    start: int  # where the function starts (a line start)
    end: int  # where it ends (after its last line's newline)

    @property
    def function(self) -> str:
        return self.truth[self.start : self.end]

    @property
    def lines(self) -> int:
        return self.function.count("\n")


def find_tasks(count: int, seed: int) -> list[Task]:
    """Functions of 8–30 lines from installed packages' sources, seeded choice."""
    candidates: list[Task] = []
    for package in PACKAGES:
        try:
            module = __import__(package)
        except ImportError:
            continue
        root = Path(module.__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "\t" in text or "\r" in text:
                continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            line_starts = [0]
            for line in text.splitlines(keepends=True):
                line_starts.append(line_starts[-1] + len(line))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                size = (node.end_lineno or node.lineno) - first + 1
                if not 8 <= size <= 30 or node.end_lineno is None:
                    continue
                start, end = line_starts[first - 1], line_starts[node.end_lineno]
                candidates.append(Task(f"{package}/{path.name}:{node.name}", text, start, end))
    random.Random(seed).shuffle(candidates)
    return candidates[:count]


def auto_indent(line_before: str) -> str:
    """What an editor inserts after Enter: the line's indentation, one level more after a
    block opener."""
    indent = line_before[: len(line_before) - len(line_before.lstrip(" "))]
    return indent + "    " if line_before.rstrip().endswith(":") else indent


class Oracle:
    """The perfect model: the truth from the cursor to the end of the function being typed
    (found by the text before the cursor in the prompt)."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks

    def __call__(self, body: dict[str, Any]) -> Reply:
        prompt = str(body.get("prompt", ""))
        if "<|fim_suffix|>" not in prompt:
            return Reply(text="")
        head, _, rest = prompt.rpartition("<|fim_suffix|>")
        before = head.rpartition("<|fim_prefix|>")[2] + rest.rpartition("<|fim_middle|>")[2]
        tail = before[-400:]
        for task in self.tasks:
            at = task.truth.find(tail, max(task.start - len(tail), 0))
            if at >= 0 and at + len(tail) <= task.end:
                return Reply(text=task.truth[at + len(tail) : task.end])
        return Reply(text="")


def serve(args: argparse.Namespace) -> None:
    """The fake Ollama with the oracle, in a process of its own (in the benchmark's process its
    thread would compete with the editor for the interpreter and add milliseconds to answers
    that are not the server's). Prints its URL; answers "count" with the generations so far."""
    with FakeOllama(ttft=args.ttft_ms / 1000, token_delay=args.token_ms / 1000) as fake:
        fake.set_responder(Oracle(find_tasks(args.functions, args.seed)))
        print(fake.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(len(fake.generate_requests), flush=True)


class OracleProcess:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        a = self.args
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", "--functions", str(a.functions),
            "--seed", str(a.seed), "--ttft-ms", str(a.ttft_ms), "--token-ms", str(a.token_ms),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = (await self.process.stdout.readline()).decode().strip()

    async def generations(self) -> int:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(b"count\n")
        await self.process.stdin.drain()
        return int((await self.process.stdout.readline()).decode())

    async def stop(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            await self.process.wait()


@dataclass
class Counts:
    keystrokes: int = 0
    right: int = 0
    lines: int = 0
    generations: int = 0
    accepts: int = 0
    ready_accepts: int = 0
    after_accept_ms: list[float] = field(default_factory=list)
    measured: int = 0  # accepts with more of the function to come
    from_prefetch: int = 0
    prefetch_server_ms: list[float] = field(default_factory=list)


class Editor:
    def __init__(self, host: str, settings: dict[str, Any]) -> None:
        self.client = LspClient()
        self.host = host
        self.settings = settings
        self.text = ""
        self.uri = ""

    async def start(self) -> None:
        await self.client.start()
        options = {"ollama": {"host": self.host}, "review": {"enabled": False}, **self.settings}
        await self.client.initialize("file:///oracle", options, timeout=60)

    def open(self, uri: str, text: str) -> None:
        self.uri, self.text = uri, text
        self.client.open(uri, text, "python")

    def replace(self, start: int, end: int, chars: str) -> int:
        offset = self.client.replace(self.uri, start, end, chars)
        self.text = self.client.documents[self.uri].text
        return offset

    async def suggest(self, offset: int) -> str:
        return await self.client.inline_completion(self.uri, offset, timeout=30) or ""

    async def suggest_with_status(self, offset: int) -> tuple[str, dict[str, Any]]:
        """The suggestion and the server's status for it (its source and its own latency)."""
        seen = len(self.client.statuses)
        text = await self.suggest(offset)
        status = await self.client.ready_status(seen, timeout=1) if text else None
        return text, status or {}


async def replay(
    editor: Editor, fake: OracleProcess, task: Task, counts: Counts, *,
    accept: bool, think_s: float, index: int,
) -> None:  # fmt: skip
    # The function's last line break stays: the function is typed onto a line of its own.
    end = task.end - 1
    editor.open(f"file:///oracle/m{index}.py", task.truth[: task.start] + task.truth[end:])
    offset = task.start
    counts.lines += task.lines
    before = await fake.generations()
    shown: str | None = None  # the answer after an accept is the suggestion shown next
    while offset < end:
        truth_rest = task.truth[offset:end]
        suggestion = shown if shown is not None else await editor.suggest(offset)
        shown = None
        counts.keystrokes += 1
        right = bool(suggestion) and truth_rest.startswith(suggestion)
        counts.right += right
        if VERBOSE and not suggestion and accept:
            line = task.truth[task.truth.rfind("\n", 0, offset) + 1 : offset]
            print(f"empty at {line!r} | {truth_rest[:30]!r}", file=sys.stderr)
        if VERBOSE and not right and suggestion:
            print(
                f"wrong at {task.name}: {truth_rest[:40]!r} <- {suggestion[:40]!r}", file=sys.stderr
            )
        if accept and right:
            # The user reads the suggestion before accepting it, for a varying while.
            await asyncio.sleep(think_s * THINK_JITTER.uniform(0.6, 1.8))
            offset = editor.replace(offset, offset, suggestion)
            counts.accepts += 1
            if not task.truth[offset:end].strip():
                break  # the function is complete: there is no next suggestion to have ready
            generations = await fake.generations()
            counts.measured += 1
            started = time.perf_counter()
            after, status = await editor.suggest_with_status(offset)
            elapsed_ms = (time.perf_counter() - started) * 1000
            counts.after_accept_ms.append(elapsed_ms)
            server_ms = float(status.get("latencyMs", 0.0))
            if status.get("source") == "prefetch":
                counts.from_prefetch += 1
                counts.prefetch_server_ms.append(server_ms)
            rest = task.truth[offset:end]
            fresh = await fake.generations() - generations
            if VERBOSE:
                line = task.truth[task.truth.rfind("\n", 0, offset) + 1 : offset]
                where = f"{line[-30:]!r} | {after[:30]!r} | {rest[:30]!r}"
                print(
                    f"after accept {elapsed_ms:.1f} ms (server {server_ms:.1f}, "
                    f"{status.get('source')}), {fresh} new: {where}",
                    file=sys.stderr,
                )
            if after and rest.startswith(after) and fresh == 0 and elapsed_ms <= READY_MS:
                counts.ready_accepts += 1
            shown = after
            continue
        char = truth_rest[0]
        if char == "\n":
            line_start = task.truth.rfind("\n", 0, offset) + 1
            inserted = "\n" + auto_indent(task.truth[line_start:offset])
            offset = editor.replace(offset, offset, inserted)
            # The typist fixes the indentation where the code dedents (or indents more).
            next_line = task.truth[offset - len(inserted) + 1 : task.end]
            wanted = next_line[: len(next_line) - len(next_line.lstrip(" "))]
            if wanted != inserted[1:]:
                line_start = offset - len(inserted) + 1
                offset = editor.replace(line_start, offset, wanted)
        else:
            offset = editor.replace(offset, offset, char)
    counts.generations += await fake.generations() - before


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def report(name: str, counts: Counts) -> dict[str, Any]:
    row: dict[str, Any] = {
        "replay": name,
        "lines": counts.lines,
        "keystrokes": counts.keystrokes,
        "generations": counts.generations,
        "generations_per_line": round(counts.generations / max(counts.lines, 1), 3),
        "right_suggestion_share": round(counts.right / max(counts.keystrokes, 1), 3),
    }
    if counts.accepts:
        after = counts.after_accept_ms
        row |= {
            "accepts": counts.accepts,
            "accepts_with_more_to_come": counts.measured,
            "ready_after_accept_share": round(counts.ready_accepts / max(counts.measured, 1), 3),
            "after_accept_ms_p50": round(statistics.median(after), 2) if after else None,
            "after_accept_ms_p95": round(_p95(after), 2) if after else None,
            "from_prefetch_share": round(counts.from_prefetch / max(counts.measured, 1), 3),
            "prefetch_server_ms_p50": round(statistics.median(counts.prefetch_server_ms), 2)
            if counts.prefetch_server_ms
            else None,
        }
    return row


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    tasks = find_tasks(args.functions, args.seed)
    rows = []
    replays = [("typing", False, args.prefetch), ("accepting", True, args.prefetch)]
    if args.prefetch:
        replays.append(("accepting, no prefetch", True, False))
    for name, accept, prefetch in replays:
        fake = OracleProcess(args)
        await fake.start()
        settings = {
            "completion": {"debounceMs": 0, "maxTokens": args.max_tokens, "preload": False,
                           "prefetch": "auto" if prefetch else "never"},
            "context": {"enabled": False},
        }  # fmt: skip
        editor = Editor(fake.url, settings)
        await editor.start()
        counts = Counts()
        try:
            for index, task in enumerate(tasks):
                await replay(
                    editor, fake, task, counts,
                    accept=accept, think_s=args.think_ms / 1000, index=index,
                )  # fmt: skip
        finally:
            await editor.client.stop()
            await fake.stop()
        rows.append(report(name, counts))
    if args.prefetch:  # what prefetching costs: generations the user never saw
        rows[1]["extra_generations_from_prefetch"] = rows[1]["generations"] - rows[2]["generations"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--think-ms", type=float, default=500.0, help="median time to read a suggestion"
    )
    parser.add_argument("--ttft-ms", type=float, default=15.0)
    parser.add_argument("--token-ms", type=float, default=2.0)
    parser.add_argument("--max-tokens", type=int, default=128, help="completion.maxTokens")
    parser.add_argument("--no-prefetch", dest="prefetch", action="store_false")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-v", action="store_true", help="print the wrong suggestions")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    rows = asyncio.run(run(args))
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return
    for row in rows:
        print(" · ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
