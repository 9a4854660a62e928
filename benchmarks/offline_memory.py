"""What reading a large workspace costs the offline engine: memory, CPU, and the event loop.

It imports the server (for a fair baseline of what a running server holds), builds a workspace
of real code with `workspace_corpus` (2,000 files / 25 MB at most; the scan reads up to its own
20 MB bound), learns it the way the server does — `WorkspaceLearning.scan_in_background`, in the
background worker — while a ticker on the loop measures the worst stall, and reports

* files learnt, wall and CPU seconds,
* the process's RSS before and after, and its peak (VmHWM, from /proc/self/status),
* the model's size (contexts, distinct symbols, tokens kept),
* the worst and p99 loop stall (how late a 5 ms timer fired) while learning.

    .venv/bin/python benchmarks/offline_memory.py [--workspace DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lsp_assist.server  # noqa: E402, F401  (the server's imports: a fair baseline)
from benchmarks.workspace_corpus import build_workspace  # noqa: E402
from lsp_assist.offline.engine import OfflineEngine  # noqa: E402
from lsp_assist.offline.learning import WorkspaceLearning  # noqa: E402
from lsp_assist.workers import BackgroundWorker  # noqa: E402

TICK_S = 0.005


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


async def learn(workspace: Path) -> dict[str, object]:
    before = memory_mb()
    finished = asyncio.Event()
    learnt: list[int] = []
    worker = BackgroundWorker()
    engine = OfflineEngine()
    learning = WorkspaceLearning(
        engine, lambda files: (learnt.append(files), finished.set()), worker
    )
    stalls: list[float] = []

    async def tick() -> None:
        while not finished.is_set():
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            stalls.append((time.perf_counter() - started - TICK_S) * 1000)

    cpu, wall = time.process_time(), time.perf_counter()
    ticker = asyncio.create_task(tick())
    learning.scan_in_background(workspace)
    await finished.wait()
    await ticker
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = memory_mb()
    model = engine.model("python")
    await learning.close()
    worker.close()
    stalls.sort()
    return {
        "files_learnt": learnt[0] if learnt else 0,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "rss_before_mb": before["VmRSS"],
        "rss_after_mb": after["VmRSS"],
        "peak_rss_mb": after["VmHWM"],
        "contexts": model.context_count if model else 0,
        "symbols": len(model.vocabulary) if model else 0,
        "tokens_kept": model.token_count if model else 0,
        "worst_stall_ms": round(stalls[-1], 1) if stalls else 0.0,
        "p99_stall_ms": round(stalls[int(len(stalls) * 0.99)], 1) if stalls else 0.0,
        "median_stall_ms": round(statistics.median(stalls), 2) if stalls else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workspace", type=Path, help="an existing folder to read instead")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lsp-assist-workspace-") as folder:
        workspace = args.workspace
        if workspace is None:
            workspace = Path(folder)
            build_workspace(workspace)
        results = asyncio.run(learn(workspace))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(key) for key in results)
        for key, value in results.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
