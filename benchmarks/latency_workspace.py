"""Does reading a workspace stall the keystrokes, and what memory does it take?

The server starts with a fresh 2,000-file, ~25 MB workspace as its root (`workspace_corpus.py`,
real installed code) and reads it in the background, while the cached keystrokes of
`latency_stalls.py` go on; they run until it says `{"state": "learnt"}`, and a second more.
Reported with the time until then and the server's memory: its peak resident set (`VmHWM`),
and the sum over any worker processes it starts.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from latency_stalls import fake_reviewer, server_options, start_keystrokes
from latency_support import BenchServer, MemoryWatch, server_log
from workspace_corpus import build_workspace


async def run_workspace(args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lsp-assist-workspace-") as temp:
        root = Path(args.workspace) if args.workspace else Path(temp)
        built_s = None
        if not args.workspace:
            started = time.perf_counter()
            build_workspace(root, args.workspace_files, int(args.workspace_mb * 1_000_000))
            built_s = round(time.perf_counter() - started, 1)
        files = [p for p in root.rglob("*") if p.is_file()]
        result = await _read_workspace(root, args)
        return {
            "workspace_files": len(files),
            "workspace_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "workspace_built_s": built_s,
            **result,
        }


async def _read_workspace(root: Path, args: Any) -> dict[str, Any]:
    fake = fake_reviewer(args.ttft_ms, args.token_ms)
    server = BenchServer(root, server_log(args, "workspace"))
    memory: MemoryWatch | None = None
    sampling: asyncio.Task[None] | None = None
    try:
        await server.start(server_options(fake.url, args.model))
        started = time.perf_counter()  # `initialized` is sent: the workspace is being read
        client = server.client
        if server.pid is not None:
            memory = MemoryWatch(server.pid)
            sampling = asyncio.get_running_loop().create_task(_sample(memory))
        keystrokes = await start_keystrokes(server, args.interval_ms / 1000)
        first_suggestion_ms = (time.perf_counter() - started) * 1000
        keystrokes.begin("reading")
        learnt = await client.status_matching(
            0, lambda s: s.get("state") == "learnt", args.workspace_timeout_s
        )
        learnt_s = time.perf_counter() - started
        tail = keystrokes.begin("after")
        await keystrokes.end_phase(tail, 1.0)
        await keystrokes.stop()
        if sampling is not None:
            sampling.cancel()
        rss = memory.report() if memory is not None else {}
    finally:
        await server.stop()
        fake.stop()
    if keystrokes.error:
        raise RuntimeError(f"keystrokes stopped: {keystrokes.error}")
    return {
        "learnt": learnt,
        "time_to_learnt_s": round(learnt_s, 2) if learnt else None,
        "first_suggestion_ms": round(first_suggestion_ms, 1),
        "interval_ms": args.interval_ms,
        "keystroke_ms": keystrokes.report(["reading", "after"]),
        "worst_keystroke_ms": keystrokes.worst(["reading"]),
        **rss,
        "messages": server.messages,
    }


async def _sample(memory: MemoryWatch, every_s: float = 0.05) -> None:
    while True:
        memory.sample()
        await asyncio.sleep(every_s)
