"""Runs `lsp-assist serve` with a probe that tells, when asked, what the server's process holds.

    python benchmarks/soak_probe.py REPORT_FILE serve [--log-file FILE] [-v]

The soak benchmark starts the server through this script instead of `python -m lsp_assist`:
the server is the same (the probe is installed, then `lsp_assist.cli.main` runs with the rest
of the arguments, as the network audit's `tests/e2e/audit_hook.py` does), and nothing in it
changes until the probe is asked. It is asked by a signal, so that asking takes no file
descriptor or socket of the server's (which the benchmark counts):

* SIGUSR1: the event loop writes REPORT_FILE (JSON, replaced whole, `seq` counting up): its
  asyncio tasks (how many, and how many per coroutine), the timers waiting on the loop
  (`call_later` handles), the threads, the garbage collector's collections so far;
* SIGUSR2: first a full garbage collection (what the server's idle collector runs once the
  editor is quiet, `idle_gc.py`), what it freed (per type), and the resident set after it;
  then the same report, and a census of the objects the garbage collector tracks, per type,
  with their shallow sizes (a walk of the heap: some tens of milliseconds); when the server
  runs with `PYTHONTRACEMALLOC`, also the allocation sites that grew most since the previous
  census.

With `SOAK_GC_AT_LATEST_S` set, the server's idle collector runs its full collection after
that many seconds of continuous typing instead of 5 minutes (`idle_gc.AT_LATEST_S`): the soak's
clock runs some 25 times faster than a person types, and so would the garbage that waits for
that collection.

The report is written by a callback on the loop (the signal handler only schedules it), so it
sees the loop between two of its steps, as the server's own code does.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import signal
import sys
import threading
import tracemalloc
from types import FrameType
from typing import Any

CENSUS_TYPES = 80
"""Object types reported by a census (the most numerous)."""
TRACE_LINES = 25
HOLDERS_OF = frozenset(
    {"tree_sitter.Tree", "tree_sitter.Node", "concurrent.futures._base.Future", "_asyncio.Task"}
)
"""Types whose holders a census names (a tree's memory is C memory, unseen; futures and tasks
are what a forgotten piece of work leaves)."""


class Probe:
    def __init__(self, path: str) -> None:
        self.path = path
        self.seq = 0
        self._last_trace: tracemalloc.Snapshot | None = None

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self._on_signal)
        signal.signal(signal.SIGUSR2, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        census = signum == signal.SIGUSR2
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving yet (or any more): report what there is
            self._write(self.report(None, census))
            return
        loop.call_soon_threadsafe(lambda: self._write(self.report(loop, census)))

    def report(self, loop: asyncio.AbstractEventLoop | None, census: bool) -> dict[str, Any]:
        self.seq += 1
        result: dict[str, Any] = {"seq": self.seq, "pid": os.getpid(), "serving": loop is not None}
        if loop is not None:
            tasks = asyncio.all_tasks(loop)
            result["tasks"] = len(tasks)
            result["task_kinds"] = dict(collections.Counter(map(_task_kind, tasks)).most_common())
            # asyncio keeps its timers in `_scheduled` (cancelled ones until they are due).
            scheduled = getattr(loop, "_scheduled", [])
            result["timers"] = sum(1 for handle in scheduled if not handle.cancelled())
            result["timer_kinds"] = dict(
                collections.Counter(
                    _callback_kind(h) for h in scheduled if not h.cancelled()
                ).most_common(15)
            )
        threads = threading.enumerate()
        result["threads"] = len(threads)
        result["thread_kinds"] = dict(
            collections.Counter(t.name.rstrip("0123456789_-") for t in threads).most_common()
        )
        result["gc_collections"] = [stats["collections"] for stats in gc.get_stats()]
        if census:
            result.update(self._census())
        return result

    def _census(self) -> dict[str, Any]:
        # What the collection frees, kept aside a moment to be counted: the cyclic garbage
        # that waited for a full collection (the server runs one only when the editor is
        # quiet, or every 5 minutes of typing: idle_gc.py).
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            collected = gc.collect()
            garbage = collections.Counter(_type_name(thing) for thing in gc.garbage)
            garbage_bytes = sum(sys.getsizeof(thing, 0) for thing in gc.garbage)
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
        census: dict[str, Any] = {
            "collected": collected,
            "garbage_kb": round(garbage_bytes / 1024, 1),
            "garbage_types": dict(garbage.most_common(15)),
            "rss_kb": _own_rss_kb(),
        }
        counts: collections.Counter[str] = collections.Counter()
        sizes: collections.Counter[str] = collections.Counter()
        objects = gc.get_objects()
        for obj in objects:
            name = _type_name(obj)
            counts[name] += 1
            sizes[name] += sys.getsizeof(obj, 0)
        census["gc_objects"] = len(objects)
        census["types"] = {name: [n, sizes[name]] for name, n in counts.most_common(CENSUS_TYPES)}
        census["untracked"], census["holders"] = _untracked(objects)
        del objects
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            census["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 1e6, 2)
            if self._last_trace is not None:
                stats = snapshot.compare_to(self._last_trace, "traceback")
                census["grown_sites"] = [
                    {
                        "kb": round(stat.size_diff / 1024, 1),
                        "count": stat.count_diff,
                        "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback[-6:]],
                    }
                    for stat in stats[:TRACE_LINES]
                ]
            self._last_trace = snapshot
        return census

    def _write(self, report: dict[str, Any]) -> None:
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(report, file)
        os.replace(temporary, self.path)


def _untracked(objects: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the tracked objects hold that the garbage collector does not track (strings,
    bytes, objects of C types such as tree-sitter's trees), per type: [count, shallow bytes];
    and, for the types in `HOLDERS_OF`, the types of the objects that hold them (a dict or a
    list named with the type of what holds it in turn: "Progress.dict")."""
    seen: set[int] = set()
    counts: collections.Counter[str] = collections.Counter()
    sizes: collections.Counter[str] = collections.Counter()
    held: dict[str, list[Any]] = {}
    for holder in objects:
        for thing in gc.get_referents(holder):
            name = _type_name(thing)
            if name in HOLDERS_OF:
                held.setdefault(name, []).append(holder)
            if gc.is_tracked(thing) or id(thing) in seen:
                continue
            seen.add(id(thing))
            counts[name] += 1
            sizes[name] += sys.getsizeof(thing, 0)
    untracked = {name: [n, sizes[name]] for name, n in counts.most_common(CENSUS_TYPES)}
    return untracked, {name: _holder_kinds(holders, objects) for name, holders in held.items()}


def _holder_kinds(holders: list[Any], objects: list[Any]) -> dict[str, int]:
    containers = {id(h) for h in holders if type(h) in (dict, list, set, tuple)}
    owners: dict[int, str] = {}
    if containers:
        for owner in objects:
            for thing in gc.get_referents(owner):
                if id(thing) in containers and id(thing) not in owners:
                    owners[id(thing)] = type(owner).__qualname__
    kinds = collections.Counter(
        f"{owners.get(id(h), '?')}.{type(h).__name__}" if id(h) in containers else _type_name(h)
        for h in holders
    )
    return dict(kinds.most_common(10))


def _type_name(thing: object) -> str:
    kind = type(thing)
    return f"{kind.__module__}.{kind.__qualname__}"


def _own_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _task_kind(task: asyncio.Task[Any]) -> str:
    coroutine = task.get_coro()
    return getattr(coroutine, "__qualname__", type(coroutine).__name__)


def _callback_kind(handle: asyncio.TimerHandle) -> str:
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__qualname__", type(callback).__name__)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: python benchmarks/soak_probe.py REPORT_FILE LSP_ASSIST_ARGS...")
    path, *argv = sys.argv[1:]
    Probe(path).install()
    if at_latest := os.environ.get("SOAK_GC_AT_LATEST_S"):
        from lsp_assist import idle_gc

        idle_gc.AT_LATEST_S = float(at_latest)
    from lsp_assist.cli import main as lsp_assist

    lsp_assist(argv)


if __name__ == "__main__":
    main()
