"""A team on one llama.cpp server: N editors typing at once.

Each editor (`team_typing.py`) types a block of lines of its own real code file (a
standard-library module, `team_corpus.py`) at a human pace, about `--cps` characters a second
with seeded jitter and pauses, asking for ghost text after every keystroke (debounce 75 ms, as
the server's default) without waiting for the answer: a newer keystroke supersedes an older
request, as in an editor. All of them use ONE llama.cpp server (`team_engine.py`: the tests'
tiny model, one thread) with `parallel` slots of `--slot-ctx` tokens each (4096, the model's
context): the server's KV cache is slots × 4096 tokens.

For each number of editors (1, 4, 16) it runs with `parallel` = min(N, 4) — memory-bounded: a
real 1.5B coder model's KV cache is ~28 kB a token (Qwen2.5-Coder-1.5B, f16), ~0.5 GB for 4
slots of 4096 — and with `parallel` = N (a slot per editor: ~1.9 GB for 16 such slots); each
of those with

* pinned: editor i sets the endpoint's `slot` to i (lsp-assist sends `id_slot` i mod the
  server's slots), as an admin would assign slots;
* sticky (`slot` -2): each session keeps the slot llama.cpp chose for its first request;
* any (`slot` -1, the default): llama.cpp picks a slot for every request (by prompt
  similarity, else the least recently used).

`--engine-batch` runs it all again with another llama.cpp `n_batch` (`-b`): with the default
2048, a prompt longer than that on a slot that another request waits for can stall the slot
until a client lets go (this build's host-memory prompt cache, `--cache-ram`; 4096 avoids it).

Editors are lsp-assist's own classes in this process by default (`--editors-as inprocess`: the
request path minus LSP, with each generation's engine timings); `--editors-as process` runs a
real `lsp-assist serve` per editor instead, whose CPU then competes with the engine's on two
cores.

Reported per run: latency from keystroke to answer of the keystrokes followed by a pause (when
the user looks at the ghost text: p50, p95, and the p95 of the worst editor), the same for the
keystrokes answered before the editor typed on, the share of keystrokes answered in time, and
the engine's own counters over the run (`/metrics`): prompt tokens evaluated and reused (cache
reuse = reused / all), plus, with in-process editors, each generation's `timings.prompt_n`.
Also the CPU seconds each part used.

    python benchmarks/team_load.py --engine-batch 2048 --engine-batch 4096   # docs/team_load.*
    python benchmarks/team_load.py --quick          # a smoke test: 1 and 2 editors, ~25 s
    python benchmarks/team_load.py --editors-as process --editors 4 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from latency_support import summary
from team_engine import EngineProcess, bench_model, engine_metrics, settings_for
from team_report import finite, markdown_table, save_plot
from team_typing import Editor, InProcessEditor, Keystroke, ProcessEditor, Typist

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BATCH = 2048  # llama.cpp's n_batch (llama-server -b) unless told otherwise
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


SLOT_MODES = {"pinned": None, "sticky": -2, "any": -1}
"""The endpoint's `slot` per mode (pinned: the editor's index)."""


def configurations(
    batches: list[int], editors: list[int], max_parallel: int
) -> list[tuple[int, int, int, str]]:
    """(n_batch, editors, slots, slot mode) for each run."""
    runs = []
    for batch in batches:
        for count in editors:
            for parallel in sorted({min(count, max_parallel), count}):
                runs += [(batch, count, parallel, mode) for mode in SLOT_MODES]
    return runs


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (0 once it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def run_one(batch: int, count: int, parallel: int, mode: str, args: Any) -> dict[str, Any]:
    model = bench_model("tiny")
    n_batch = batch if batch != DEFAULT_BATCH else None  # the default: the tests' server as is
    engine = EngineProcess(model, parallel=parallel, slot_ctx=args.slot_ctx, n_batch=n_batch)
    await engine.start()
    make = ProcessEditor if args.editors_as == "process" else InProcessEditor
    editors: list[Editor] = [make(i) for i in range(count)]
    try:
        await asyncio.gather(
            *(
                editor.start(
                    settings_for(
                        engine.url,
                        model,
                        slot=editor.index if mode == "pinned" else SLOT_MODES[mode] or -1,
                        debounce_ms=args.debounce_ms,
                    )
                )  # fmt: skip
                for editor in editors
            )
        )
        typists = [Typist.for_editor(e, args, seed=args.seed * 1000 + e.index) for e in editors]
        pids = [getattr(editor, "pid", None) for editor in editors]
        async with httpx.AsyncClient(base_url=engine.url, timeout=30) as http:
            before = await engine_metrics(http)
            cpu_before = [cpu_seconds(engine.pid), *(cpu_seconds(p) for p in pids), _own_cpu()]
            started = time.perf_counter()
            await asyncio.gather(*(typist.type() for typist in typists))
            wall_s = time.perf_counter() - started
            cpu_after = [cpu_seconds(engine.pid), *(cpu_seconds(p) for p in pids), _own_cpu()]
            after = await engine_metrics(http)
        rss_mb = engine.peak_rss_mb()
    finally:
        for editor in editors:
            await editor.stop()
        await engine.stop()
    cpu = [b - a for a, b in zip(cpu_before, cpu_after, strict=True)]
    return {
        "n_batch": batch,
        "editors": count,
        "parallel": parallel,
        "slot_mode": mode,
        "editors_as": args.editors_as,
        "wall_s": round(wall_s, 1),
        **_latencies(typists),
        **_engine_counts(before, after, typists, editors),
        "engine_peak_rss_mb": rss_mb,
        "engine_n_ctx": engine.n_ctx,
        "cpu_s": {
            "engine": round(cpu[0], 1),
            "lsp_servers": round(sum(cpu[1:-1]), 1),
            "benchmark_process": round(cpu[-1], 1),
            "share_of_2_cores": round(sum(cpu) / (2 * wall_s), 3),
        },
    }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _latencies(typists: list[Typist]) -> dict[str, Any]:
    keystrokes: list[Keystroke] = [k for t in typists for k in t.keystrokes]
    per_editor = []
    for typist in typists:
        mine = typist.keystrokes
        per_editor.append(
            {
                "file": typist.module,
                "in_time": summary(_in_time(mine)),
                "at_pause": summary(_at_pause(mine)),
            }  # fmt: skip
        )
    editor_p95 = [row["at_pause"]["p95"] for row in per_editor if row["at_pause"]["n"]]
    in_time = _in_time(keystrokes)
    return {
        "keystrokes": len(keystrokes),
        "shown": sum(k.shown for k in keystrokes),
        "answered_in_time": round(len(in_time) / len(keystrokes), 3) if keystrokes else None,
        "latency_ms": summary(in_time),
        "at_pause_ms": summary(_at_pause(keystrokes)),
        "worst_editor_p95_ms": max(editor_p95) if editor_p95 else None,
        "per_editor": per_editor,
    }


def _in_time(keystrokes: list[Keystroke]) -> list[float]:
    """Keystroke → answer of those answered before the editor typed on."""
    return [k.ms for k in keystrokes if k.in_time and k.ms is not None]


def _at_pause(keystrokes: list[Keystroke]) -> list[float]:
    """Keystroke → answer of those followed by a pause: when the user looks for ghost text."""
    return [k.ms for k in keystrokes if k.before_pause and k.ms is not None]


def _engine_counts(
    before: dict[str, float], after: dict[str, float], typists: list[Typist], editors: list[Any]
) -> dict[str, Any]:
    fresh = after["prompt_tokens_total"] - before["prompt_tokens_total"]
    cached = after["prompt_tokens_cached_total"] - before["prompt_tokens_cached_total"]
    keystrokes = sum(len(t.keystrokes) for t in typists)
    counts: dict[str, Any] = {
        "engine_fresh_tokens": fresh,
        "engine_cached_tokens": cached,
        "cache_reuse": round(cached / (fresh + cached), 4) if fresh + cached else None,
        "fresh_tokens_per_keystroke": round(fresh / keystrokes, 1) if keystrokes else None,
        "tokens_predicted": after["tokens_predicted_total"] - before["tokens_predicted_total"],
    }
    clients = [e.client for e in editors if getattr(e, "client", None) is not None]
    if clients:  # in-process editors: each generation's own timings
        stats = [s for client in clients for s in client.generations]
        timed = [s for s in stats if s.done]
        counts["generations"] = len(stats)
        counts["generations_without_timings"] = len(stats) - len(timed)
        counts["fresh_tokens_per_generation"] = summary([s.prompt_eval_count for s in timed])
        counts["cached_tokens_per_generation"] = summary([s.prompt_cached for s in timed])
    return counts


async def run(args: Any) -> list[dict[str, Any]]:
    results = []
    for batch, count, parallel, mode in configurations(
        args.engine_batch, args.editors, args.max_parallel
    ):
        how = mode
        print(f"n_batch {batch}: {count} editor(s), {parallel} slot(s), {how} …",
              file=sys.stderr, flush=True)  # fmt: skip
        results.append(await run_one(batch, count, parallel, mode, args))
        row = results[-1]
        print(
            f"  latency p50 {row['latency_ms']['p50']} ms p95 {row['latency_ms']['p95']} ms, "
            f"in time {row['answered_in_time']}, cache reuse {row['cache_reuse']}, "
            f"CPU {row['cpu_s']}",
            file=sys.stderr,
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--editors", type=int, action="append", help="default: 1, 4, 16")
    parser.add_argument("--max-parallel", type=int, default=4, help="the memory-bounded slots")
    parser.add_argument("--editors-as", choices=("process", "inprocess"), default="inprocess")
    parser.add_argument("--slot-ctx", type=int, default=4096, help="tokens of context per slot")
    parser.add_argument(
        "--engine-batch",
        type=int,
        action="append",
        help=f"llama.cpp's n_batch (repeatable; default: {DEFAULT_BATCH}, llama.cpp's own)",
    )
    parser.add_argument("--cps", type=float, default=9.0, help="characters typed per second")
    parser.add_argument("--lines", type=int, default=3, help="lines each editor types")
    parser.add_argument("--chars", type=int, default=40, help="characters typed per line")
    parser.add_argument("--debounce-ms", type=int, default=75, help="completion.debounceMs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 and 2 editors")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="where team_load.md/.png go"
    )
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # in-process editors: lsp-assist's warnings muted
    if args.quick:
        args.editors = args.editors or [1, 2]
        args.lines, args.chars, args.max_parallel = 1, min(args.chars, 8), 1
    args.editors = args.editors or [1, 4, 16]
    args.engine_batch = args.engine_batch or [DEFAULT_BATCH]
    results = asyncio.run(run(args))
    table = markdown_table(results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "team_load.md").write_text(table)
    if not args.no_plot:
        save_plot(results, args.out / "team_load.png")
    if args.json:
        print(json.dumps(finite(results), indent=2))
    else:
        print(table)


if __name__ == "__main__":
    main()
