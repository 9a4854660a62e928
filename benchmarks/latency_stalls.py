"""Does heavy work stall the keystrokes? Cached keystrokes, and the big-file scenarios.

They measure keystrokes that the server answers without the backend: in a small open file a
suggestion is fetched once, then its first character is typed and deleted again, alternately,
at a steady pace (every `interval_ms`, one request in flight at a time, as an editor that waits
for its ghost text). Typing the character is answered by type-through, deleting it from the
cache: each answer costs the server about a millisecond, so any wait beyond that is time the
server's event loop spent on something else. Each keystroke is counted in the phase during
which it was sent.

* `big-file`: while the keystrokes go on, a ~3 MB Python file (real standard-library code,
  repeated) is opened, edited (a block inserted, a line typed, the block deleted) and saved
  (review on save, against the fake, which answers `/api/chat` as a reviewer with no findings).
  Phases: idle (before), open, edit, save; each lasts at least `phase_s`, covering the relearn
  that follows typing by a second, and ends once a keystroke sent after it has been answered.
* `bounded-file`: the same with a file just under the size that the server still parses, learns
  and reviews whole (`MAX_ANALYSED_CHARS`), where that work is the heaviest.
* `workspace` (`latency_workspace.py`): the same keystrokes while the server reads a workspace.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latency_support import BenchServer, server_log, summary_with_worst

from lsp_assist.lsp_client import LspClient, ServerGone
from tests.fakes.serve import FakeOllamaProcess

try:
    from lsp_assist.documents import MAX_ANALYSED_CHARS as ANALYSED_CHARS
except ImportError:  # a server without that bound
    ANALYSED_CHARS = 1_000_000

SUGGESTION = "  # checked against the order's limit"
SMALL_SOURCE_BEFORE = (
    "class Order:\n"
    '    """An order and what it costs."""\n\n'
    "    def __init__(self, items, limit=0):\n"
    "        self.items = list(items)\n"
    "        self.limit = limit\n\n"
    "    def price(self, discount=0.0):\n"
    "        total = sum(item.cost * item.quantity for item in self.items)\n"
    "        value = 1"
)
SMALL_SOURCE_AFTER = "\n        return total * (1 - discount)\n"
BIG_FILE_MODULES = (
    "argparse",
    "ast",
    "asyncio.base_events",
    "collections",
    "dataclasses",
    "difflib",
    "email.message",
    "inspect",
    "logging",
    "pydoc",
    "subprocess",
    "tarfile",
    "typing",
    "zipfile",
)
"""Standard-library modules whose text, repeated in this order, makes the big file."""
BIG_FILE_EDIT_BLOCK = (
    "def added_while_benchmarking(order, discount=0.0):\n"
    '    """A function pasted into the middle of the file."""\n'
    "    return order.price(discount)\n\n\n"
)
BIG_FILE_TYPED = "        checked = 1"


def big_source(size: int) -> str:
    """About `size` characters of real Python (whole lines), the same on every run."""
    texts = []
    for name in BIG_FILE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            texts.append(Path(spec.origin).read_text("utf-8"))
    parts: list[str] = []
    total = 0
    while total < size:
        text = texts[len(parts) % len(texts)]
        parts.append(text if text.endswith("\n") else text + "\n")
        total += len(parts[-1])
    whole = "".join(parts)
    return whole[: whole.rindex("\n", 0, size) + 1]


@dataclass
class Keystroke:
    phase: str
    sent: float  # time.perf_counter()
    ms: float
    as_expected: bool  # answered with the rest of the suggestion, as type-through/cache do


class CachedKeystrokes:
    """Keystrokes answered from the type-through cache, at a steady pace, in the background."""

    def __init__(
        self, client: LspClient, uri: str, offset: int, suggestion: str, interval_s: float
    ) -> None:
        self.client = client
        self.uri = uri
        self.offset = offset
        self.suggestion = suggestion
        self.interval_s = interval_s
        self.phase = "idle"
        self.samples: list[Keystroke] = []
        self.error: str | None = None
        self._answered = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await self._task

    async def _run(self, timeout_s: float = 120) -> None:
        typed = False
        due = time.perf_counter()
        while not self._stopping:
            if typed:
                cursor = self.client.replace(self.uri, self.offset, self.offset + 1, "")
                expected = self.suggestion
            else:
                cursor = self.client.insert(self.uri, self.offset, self.suggestion[0])
                expected = self.suggestion[1:]
            typed = not typed
            phase, sent = self.phase, time.perf_counter()
            try:
                text = await self.client.inline_completion(self.uri, cursor, timeout=timeout_s)
            except ServerGone as exc:
                self.error = str(exc)
                self._answered.set()
                return
            now = time.perf_counter()
            self.samples.append(Keystroke(phase, sent, (now - sent) * 1000, text == expected))
            self._answered.set()
            due = max(due + self.interval_s, now)  # after a stall: no burst to catch up
            await asyncio.sleep(due - now)

    async def answered_after(self, moment: float) -> None:
        """Returns once a keystroke sent at or after `moment` has been answered."""
        while self.error is None and not (self.samples and self.samples[-1].sent >= moment):
            self._answered.clear()
            await self._answered.wait()

    def begin(self, phase: str) -> float:
        """Counts the keystrokes sent from now on in `phase`; returns the phase's start."""
        self.phase = phase
        return time.perf_counter()

    async def end_phase(self, started: float, at_least_s: float) -> float:
        """Waits until `at_least_s` after `started` and a keystroke sent then was answered;
        returns the phase's length in ms."""
        await asyncio.sleep(max(0.0, started + at_least_s - time.perf_counter()))
        await self.answered_after(time.perf_counter())
        return (time.perf_counter() - started) * 1000

    def worst(self, phases: list[str]) -> float | None:
        slowest = [s.ms for s in self.samples if s.phase in phases]
        return round(max(slowest), 3) if slowest else None

    def report(self, phases: list[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        for phase in phases:
            samples = [s for s in self.samples if s.phase == phase]
            rows[phase] = summary_with_worst([s.ms for s in samples])
            rows[phase]["unexpected_answers"] = sum(not s.as_expected for s in samples)
        return rows


def fake_reviewer(ttft_ms: float, token_ms: float) -> FakeOllamaProcess:
    """The fake Ollama: `SUGGESTION` for ghost text, `{"findings": []}` for reviews (20 ms)."""
    return FakeOllamaProcess(
        ttft=ttft_ms / 1000,
        token_delay=token_ms / 1000,
        reply=SUGGESTION,
        review_script=[],
        review_ttft=0.02,
    ).start()


def server_options(host: str, model: str) -> dict[str, Any]:
    return {
        "ollama": {"host": host},
        "completion": {"model": model, "debounceMs": 0, "maxTokens": 32},
        "review": {"enabled": True, "onSave": True},
    }


async def start_keystrokes(server: BenchServer, interval_s: float) -> CachedKeystrokes:
    """Opens the small file, fetches the suggestion the keystrokes will type through."""
    uri = server.uri("keystrokes.py")
    server.client.open(uri, SMALL_SOURCE_BEFORE + SMALL_SOURCE_AFTER, "python")
    offset = len(SMALL_SOURCE_BEFORE)
    suggestion = await server.client.inline_completion(uri, offset, timeout=120)
    if not suggestion:
        raise RuntimeError(
            "the fake's suggestion did not come: nothing to type through "
            "(see the server's log: --server-log DIR)"
        )
    keystrokes = CachedKeystrokes(server.client, uri, offset, suggestion, interval_s)
    keystrokes.start()
    return keystrokes


async def run_big_file(args: Any) -> dict[str, Any]:
    return await _open_edit_save(args, int(args.big_file_mb * 1_000_000), "big-file")


async def run_bounded_file(args: Any) -> dict[str, Any]:
    """The biggest file that the server still parses, learns and reviews whole."""
    return await _open_edit_save(args, int(ANALYSED_CHARS * 0.95), "bounded-file")


async def _open_edit_save(args: Any, chars: int, scenario: str) -> dict[str, Any]:
    fake = fake_reviewer(args.ttft_ms, args.token_ms)
    server = BenchServer(log_file=server_log(args, scenario))
    timings: dict[str, float] = {}
    review: dict[str, Any] | None = None
    try:
        await server.start(server_options(fake.url, args.model))
        client = server.client
        source = big_source(chars)
        uri = server.uri("big_module.py")
        keystrokes = await start_keystrokes(server, args.interval_ms / 1000)
        generations = len(fake.generate_requests())

        started = keystrokes.begin("idle")
        timings["idle"] = await keystrokes.end_phase(started, min(1.0, args.phase_s))

        started = keystrokes.begin("open")
        client.open(uri, source, "python")
        timings["open"] = await keystrokes.end_phase(started, args.phase_s)

        started = keystrokes.begin("edit")
        middle = source.index("\n\n\n", len(source) // 2) + 3
        client.insert(uri, middle, BIG_FILE_EDIT_BLOCK)
        await asyncio.sleep(0.05)
        line_end = source.index("\n", len(source) * 3 // 4) + len(BIG_FILE_EDIT_BLOCK)
        cursor = client.insert(uri, line_end, "\n")
        for char in BIG_FILE_TYPED:
            cursor = client.insert(uri, cursor, char)
            await asyncio.sleep(0.03)
        client.replace(uri, middle, middle + len(BIG_FILE_EDIT_BLOCK), "")
        timings["edit"] = await keystrokes.end_phase(started, args.phase_s)

        seen = len(client.statuses)
        started = keystrokes.begin("save")
        # The server asks for no text on save (includeText: false), so none is sent.
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        review = await _review_after_save(client, uri, seen, started, args)
        timings["save"] = await keystrokes.end_phase(started, args.phase_s)
        await keystrokes.stop()
        backend_requests = len(fake.generate_requests()) - generations
        reviews = sum(1 for chat in fake.chat_requests() if chat["review"])
    finally:
        await server.stop()
        fake.stop()
    if keystrokes.error:
        raise RuntimeError(f"keystrokes stopped: {keystrokes.error}")
    return {
        "file_bytes": len(source.encode()),
        "file_lines": source.count("\n"),
        "interval_ms": args.interval_ms,
        "keystroke_ms": keystrokes.report(["idle", "open", "edit", "save"]),
        "worst_keystroke_ms": keystrokes.worst(["open", "edit", "save"]),
        "phase_ms": {name: round(ms, 1) for name, ms in timings.items()},
        "review": review,
        "review_calls": reviews,
        "backend_requests_during_keystrokes": backend_requests,
        "messages": server.messages,
    }


async def _review_after_save(
    client: LspClient, uri: str, seen: int, saved: float, args: Any
) -> dict[str, Any]:
    """The review that the save started, if any: {"ran", "ms" (save → "reviewed"), stats}."""

    def of_uri(*states: str) -> Any:
        return lambda s: s.get("state") in states and s.get("uri") == uri

    begun = await client.status_matching(seen, of_uri("reviewing", "reviewed"), args.phase_s)
    if begun is None:
        return {"ran": False}
    done = await client.status_matching(seen, of_uri("reviewed"), args.save_timeout_s)
    if done is None:
        return {"ran": True, "finished": False}
    ms = (time.perf_counter() - saved) * 1000
    stats = {k: done.get(k) for k in ("units", "calls", "findings", "ms", "backendMs")}
    return {"ran": True, "finished": True, "save_to_reviewed_ms": round(ms, 1), **stats}
