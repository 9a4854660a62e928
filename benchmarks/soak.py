"""Soak: does a long editing session leave the server as it found it?

Drives `lsp-assist serve` over stdio with the project's lean client, as `latency.py` does, for
tens of thousands of keystrokes across a workspace of generated files in eight languages
(`soak_workspace.py`): ghost text after every keystroke, completions, bursts of superseded and
cancelled requests, accepted and shown suggestions, saves with review on save, reviews on idle
and on command, quick fixes, files closed and opened again, settings changed
(`soak_editor.py`). The model server is the project's fake Ollama in its own process, on a
sped-up clock (2 ms to the first token, 0.2 ms per token, 5 ms per review call;
`soak_fake.py`); the client waits for nothing but the server's answers (about 120 keystrokes
a second, some 25 times a person's pace), and the server's own timers are left as they are,
or scaled to that pace: review `idleMs` 500, acceptance retention 2 s, and the idle
collector's full collection after 12 s of continuous typing instead of 5 minutes
(`--gc-at-latest-s`; at 5 minutes, the garbage of 35,000 keystrokes waits for it).

What it measures, and the three conditions of issue 12 (item 7) it checks:

* **memory**: the server's resident set (`VmRSS`) sampled every 250 keystrokes, and at two
  checkpoints, after the warm-up (the first 2,000 keystrokes) and at the end. A checkpoint is
  the editor falling quiet: no message for `--settle-s` (2.5 s: the server's idle timers fire)
  and until the server's tasks stay the same for a second (what the keystrokes queued, such
  as reviews, has run), then the full garbage collection that the server's idle collector
  would run (`idle_gc.py`), done by the probe; the resident set is read before and after it.
  Flat: at the end within 10% of after the warm-up (both after the collection).
* **tasks and connections**: at the checkpoints, the server's asyncio tasks (and timers,
  threads) as its probe reports them (`soak_probe.py`: the server runs under it, signalled
  to report), and its file descriptors and sockets from `/proc` (TCP ones by state). No
  growth: at the end, after up to `--grace-s` (35 s: an HTTP client replaced by a settings
  change is closed 30 s later) more of quiet, no more tasks, sockets or descriptors than
  after the warm-up.
* **keystroke overhead**: per awaited ghost-text request answered by the model, the time to
  its answer minus the backend's own (`backendMs` of the server's "ready" status), as in
  `latency.py`; p50 and p95 over the first and the last 5,000 keystrokes. Unchanged: the last
  p95 within 10% of the first (and the p95 of each 5,000 are listed, to show a trend).

Also: every request sent is answered (counted per method, with error answers), the server's
own requests (settings, progress tokens), what the fake answered, the warnings and errors in
the server's log. And to find what grows: the object types that grew most between the two
checkpoints (the probe's census of the objects the garbage collector tracks, and of what they
hold that it does not: strings, tree-sitter trees), what the checkpoint's collection freed
(`--census-every N`: a census every N keystrokes too), and with `--tracemalloc [FRAMES]` the
allocation sites that grew (the server runs with `PYTHONTRACEMALLOC`: slow).

    python benchmarks/soak.py                      # 50,000 keystrokes, 20 files (~8 min)
    python benchmarks/soak.py --keystrokes 10000 --json
    python benchmarks/soak.py --quick              # a few hundred keystrokes (the smoke test)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from latency_support import ROOT, percentile, summary
from soak_editor import OpenFile, Plan, Sample, SoakClient, Typist
from soak_fake import SoakFake
from soak_gauge import MachineLoad, ServerGauge, type_growth
from soak_workspace import build_soak_workspace, review_rules

PROBE = Path(__file__).resolve().parent / "soak_probe.py"
MODEL = "qwen2.5-coder:1.5b-base"
MEMORY_LIMIT = 1.10
OVERHEAD_LIMIT = 1.10
STABLE_POLLS = 3
POLL_S = 0.5
QUICK = {
    "keystrokes": 400,
    "files": 6,
    "warmup": 100,
    "window": 100,
    "settle_s": 1.0,
    "grace_s": 3.0,
    "rss_every": 25,
    "probe_every": 50,
}


def server_options(host: str) -> dict[str, Any]:
    return {
        "ollama": {"host": host},
        "completion": {"model": MODEL, "debounceMs": 0, "maxTokens": 32},
        "review": {"enabled": True, "onSave": True, "idleMs": 500},
    }


def plan_for(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            keystrokes=args.keystrokes,
            save_every=40,
            review_every=200,
            code_action_every=50,
            close_every=2,
            settings_every=100,
        )
    return Plan(keystrokes=args.keystrokes)


class Soak:
    """The run: samples while the typist types, and the two checkpoints."""

    def __init__(self, args: argparse.Namespace, gauge: ServerGauge, load: MachineLoad) -> None:
        self.args = args
        self.gauge = gauge
        self.load = load
        self.started = time.perf_counter()
        self.paused_s = 0.0
        self.rss: list[tuple[int, float]] = [(0, gauge.rss_mb())]
        self.probes: list[dict[str, Any]] = []
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self._next_rss = 0
        self._next_probe = 0
        self._next_progress = 0
        self._next_census = 0
        self.censuses: list[dict[str, Any]] = []

    async def on_keystroke(self, k: int) -> None:
        if k >= self._next_rss:
            self.rss.append((k, self.gauge.rss_mb()))
            self._next_rss = k + self.args.rss_every
        if k >= self._next_probe:
            report = await self.gauge.probe()
            fds = self.gauge.descriptors()
            self.probes.append(
                {
                    "keystroke": k,
                    "tasks": report.get("tasks"),
                    "timers": report.get("timers"),
                    "threads": report.get("threads"),
                    "fds": fds.get("fds"),
                    "sockets": fds.get("sockets"),
                    "gc_collections": report.get("gc_collections"),
                    "rss_mb": self.gauge.rss_mb(),
                    "others_cores": self.load.others_cores(),
                }
            )
            if self.args.census_every and k >= self._next_census:
                census = await self.gauge.probe(census=True)
                self.censuses.append({"keystroke": k, **_census_summary(census)})
                self._next_census = k + self.args.census_every
            self._next_probe = k + self.args.probe_every
        if k >= self._next_progress:
            self._progress(k)
            self._next_progress = k + max(1000, self.args.keystrokes // 10)
        if k >= self.args.warmup and "warmup" not in self.checkpoints:
            self.checkpoints["warmup"] = await self.checkpoint(k)

    def _progress(self, k: int) -> None:
        typing_s = self.typing_s()
        rate = k / typing_s if typing_s > 0 else 0.0
        print(
            f"soak: {k:,}/{self.args.keystrokes:,} keystrokes, {typing_s:.0f} s typing "
            f"({rate:.0f}/s), RSS {self.rss[-1][1]} MB",
            file=sys.stderr,
            flush=True,
        )

    def typing_s(self) -> float:
        return time.perf_counter() - self.started - self.paused_s

    async def checkpoint(self, k: int, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
        """The editor falls quiet; what the server holds then (see the module's docstring)."""
        paused = time.perf_counter()
        await asyncio.sleep(self.args.settle_s)
        waited = self.args.settle_s
        # Then until the server's tasks stay the same for `STABLE_POLLS` polls (work that the
        # keystrokes queued, such as reviews, has run), and at the end until nothing is above
        # the baseline (an HTTP client that a settings change replaced is closed 30 s later,
        # not leaked); at most `grace_s` more.
        seen: list[Any] = []
        while waited < self.args.settle_s + self.args.grace_s:
            light = await self.gauge.probe()
            fds = self.gauge.descriptors()
            seen = [*seen[-(STABLE_POLLS - 1) :], light.get("task_kinds")]
            stable = len(seen) == STABLE_POLLS and all(kinds == seen[0] for kinds in seen)
            if stable and (baseline is None or not _above(light, fds, baseline)):
                break
            await asyncio.sleep(POLL_S)
            waited += POLL_S
        rss_as_is = self.gauge.rss_mb()
        census = await self.gauge.probe(census=True, timeout=600 if self.args.tracemalloc else 20)
        fds = self.gauge.descriptors()
        status = self.gauge.status()
        self.paused_s += time.perf_counter() - paused
        return {
            "keystroke": k,
            "quiet_s": round(waited, 1),
            "rss_as_is_mb": rss_as_is,
            "rss_mb": round(census.get("rss_kb", 0) / 1024, 1),
            "peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
            "tasks": census.get("tasks"),
            "task_kinds": census.get("task_kinds"),
            "timers": census.get("timers"),
            "timer_kinds": census.get("timer_kinds"),
            "threads": census.get("threads"),
            "thread_kinds": census.get("thread_kinds"),
            "descriptors": fds,
            "gc_objects": census.get("gc_objects"),
            **_census_summary(census),
            "types": census.get("types", {}),
            "untracked": census.get("untracked", {}),
            "holders": census.get("holders", {}),
            "grown_sites": census.get("grown_sites"),
            "traced_mb": census.get("traced_mb"),
        }


def _census_summary(census: dict[str, Any]) -> dict[str, Any]:
    return {
        "gc_collections": census.get("gc_collections"),
        "collected": census.get("collected"),
        "garbage_kb": census.get("garbage_kb"),
        "garbage_types": census.get("garbage_types"),
    }


def _above(light: dict[str, Any], fds: dict[str, Any], baseline: dict[str, Any]) -> bool:
    return (
        (light.get("tasks") or 0) > (baseline.get("tasks") or 0)
        or fds.get("sockets", 0) > baseline["descriptors"].get("sockets", 0)
        or fds.get("fds", 0) > baseline["descriptors"].get("fds", 0)
    )


async def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lsp-assist-soak-") as temp:
        root = Path(temp) / "workspace"
        files = build_soak_workspace(root, args.files, args.seed)
        languages = [f.language for f in files]
        fake = SoakFake(
            ttft_ms=args.ttft_ms,
            token_ms=args.token_ms,
            review_ms=args.review_ms,
            rules=review_rules(languages),
        ).start()
        log_dir = Path(args.server_log) if args.server_log else Path(temp)
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / "soak-server.log"
        log_file.unlink(missing_ok=True)
        try:
            result = await _drive(args, root, files, fake, Path(temp), log_file)
        finally:
            fake.stop()
        result["server_log"] = log_summary(log_file)
        result["workspace"] = {
            "files": len(files),
            "languages": dict(Counter(lang.language_id for lang in languages).most_common()),
            "lines": sum(f.text.count("\n") for f in files),
        }
        return result


async def _drive(
    args: argparse.Namespace,
    root: Path,
    files: list[Any],
    fake: SoakFake,
    temp: Path,
    log_file: Path,
) -> dict[str, Any]:
    client = SoakClient()
    probe_file = temp / "probe.json"
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(temp / "state"),
        "LSP_ASSIST_RETENTION_S": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if args.gc_at_latest_s:
        env["SOAK_GC_AT_LATEST_S"] = str(args.gc_at_latest_s)
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
    command = [sys.executable, str(PROBE), str(probe_file), "serve", "--log-file", str(log_file)]
    await client.start(command, env=env)
    try:
        assert client.pid is not None
        gauge = ServerGauge(client.pid, probe_file)
        await client.initialize(root.as_uri(), server_options(fake.url), timeout=60)
        rss_start = gauge.rss_mb()
        open_files = [OpenFile(f, (root / f.name).as_uri(), root / f.name) for f in files]
        load = MachineLoad([p for p in (os.getpid(), client.pid, fake.pid) if p is not None])
        soak = Soak(args, gauge, load)
        typist = Typist(
            client, open_files, plan_for(args), random.Random(args.seed), soak.on_keystroke
        )
        typist.open_all()
        await typist.run()
        typing_s = soak.typing_s()
        soak.probes.append({"keystroke": typist.keystrokes, "others_cores": load.others_cores()})
        warmup = soak.checkpoints.get("warmup")
        end = await soak.checkpoint(typist.keystrokes, baseline=warmup)
        total_s = time.perf_counter() - soak.started
        counts = fake.counts()
        client.count_statuses()
    finally:
        await client.stop()
    return {
        "keystrokes": typist.keystrokes,
        "gc_at_latest_s": args.gc_at_latest_s,
        "typing_s": round(typing_s, 1),
        "total_s": round(total_s, 1),
        "keystrokes_per_s": round(typist.keystrokes / typing_s, 1) if typing_s else None,
        "fake": {
            "ttft_ms": args.ttft_ms,
            "token_ms": args.token_ms,
            "review_ms": args.review_ms,
            **counts,
        },
        "rss_start_mb": rss_start,
        "rss_series": soak.rss,
        "probes": soak.probes,
        "censuses": soak.censuses,
        "checkpoints": {"warmup": warmup, "end": end},
        "object_growth": type_growth(
            (warmup or {}).get("types", {}), end.get("types", {}), top=args.top_types
        ),
        "untracked_growth": type_growth(
            (warmup or {}).get("untracked", {}), end.get("untracked", {}), top=args.top_types
        ),
        "overhead_ms": overhead(typist.samples, typist.keystrokes, args.window),
        "others_cores": others_cores(soak.probes, typist.keystrokes, args.window),
        "requests": {
            "sent": dict(client.sent.most_common()),
            "answered": dict(client.answered.most_common()),
            "errors": dict(client.errors.most_common()),
            "unanswered": client.unanswered,
            "timeouts": typist.timeouts,
        },
        "session": dict(sorted(typist.events.items())),
        "server_requests": dict(client.server_requests.most_common()),
        "statuses": dict(client.states.most_common()),
        "diagnostics_published": sum(client.diagnostics_count.values()),
        "messages": client.messages[:10],
    }


def overhead(samples: list[Sample], keystrokes: int, window: int) -> dict[str, Any]:
    """Overhead (answer time minus the backend's) of the model's answers in the first and the
    last `window` keystrokes, the p95 of each `window` in turn, and end-to-end times."""

    def model(rows: list[Sample]) -> list[float]:
        return [max(0.0, s.ms - s.backend_ms) for s in rows if s.source == "model"]

    first = [s for s in samples if s.keystroke <= window]
    last = [s for s in samples if s.keystroke > keystrokes - window]
    windows = []
    for start in range(0, keystrokes, window):
        rows = model([s for s in samples if start < s.keystroke <= start + window])
        windows.append(round(percentile(rows, 0.95), 2) if rows else None)
    first_row, last_row = summary(model(first)), summary(model(last))
    result: dict[str, Any] = {
        "window": window,
        "first": first_row,
        "last": last_row,
        "p95_by_window": windows,
        "end_to_end_first": summary([s.ms for s in first]),
        "end_to_end_last": summary([s.ms for s in last]),
        "answered_by": dict(Counter(s.source or "nothing" for s in samples).most_common()),
    }
    p95_first, p95_last = first_row["p95"], last_row["p95"]
    result["p95_ratio"] = round(p95_last / p95_first, 3) if p95_first and p95_first > 0 else None
    return result


def others_cores(probes: list[dict[str, Any]], keystrokes: int, window: int) -> dict[str, Any]:
    """The cores other processes kept busy, on average, in the first and the last `window`
    keystrokes (from the probes: each tells the load since the one before)."""

    def mean(rows: list[dict[str, Any]]) -> float | None:
        values = [r["others_cores"] for r in rows if r.get("others_cores") is not None]
        return round(sum(values) / len(values), 2) if values else None

    later = probes[1:]  # the first tells the load since the start, before any keystroke
    return {
        "first": mean([p for p in later if p["keystroke"] <= window + 1]),
        "last": mean([p for p in later if p["keystroke"] > keystrokes - window + 1]),
        "max": max((p.get("others_cores") or 0.0 for p in later), default=None),
    }


def log_summary(path: Path) -> dict[str, Any]:
    """Lines per level in the server's log, and the most frequent warnings and errors."""
    levels: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split(" ", 4)
        if len(parts) >= 4 and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            levels[parts[2]] += 1
            if parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                problems[" ".join(parts[2:])[:160]] += 1
        elif line.startswith("Traceback"):
            levels["tracebacks"] += 1
    return {
        "lines": dict(levels.most_common()),
        "problems": [f"{n}× {text}" for text, n in problems.most_common(8)],
    }


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    warmup = result["checkpoints"]["warmup"] or {}
    end = result["checkpoints"]["end"]
    memory_ratio = end["rss_mb"] / warmup["rss_mb"] if warmup.get("rss_mb") else math.nan
    before, after = warmup.get("descriptors", {}), end["descriptors"]
    grown = {
        name: (warmup.get(name), end.get(name))
        for name in ("tasks",)
        if (end.get(name) or 0) > (warmup.get(name) or 0)
    }
    for name in ("sockets", "fds"):
        if after.get(name, 0) > before.get(name, 0):
            grown[name] = (before.get(name), after.get(name))
    p95 = result["overhead_ms"]["p95_ratio"]
    return {
        "memory": {
            "ok": memory_ratio <= MEMORY_LIMIT,
            "ratio": round(memory_ratio, 3),
            "text": f"end {end['rss_mb']} MB is {memory_ratio:.2f}× after warm-up "
            f"{warmup.get('rss_mb')} MB (limit {MEMORY_LIMIT:.2f}×)",
        },
        "tasks_and_connections": {
            "ok": not grown,
            "grown": grown,
            "text": f"tasks {warmup.get('tasks')} → {end['tasks']}, sockets "
            f"{before.get('sockets')} → {after.get('sockets')}, descriptors "
            f"{before.get('fds')} → {after.get('fds')}",
        },
        "overhead": {
            "ok": p95 is not None and p95 <= OVERHEAD_LIMIT,
            "ratio": p95,
            "text": f"p95 {result['overhead_ms']['first']['p95']} → "
            f"{result['overhead_ms']['last']['p95']} ms "
            f"({p95}×, limit {OVERHEAD_LIMIT:.2f}×)",
        },
    }


# -- the table -------------------------------------------------------------------------------


def _descriptors(d: dict[str, Any]) -> str:
    tcp = ", ".join(f"{state} {n}" for state, n in d.get("tcp", {}).items()) or "none"
    return f"{d.get('fds')} fds, {d.get('sockets')} sockets (tcp: {tcp})"


def _row(name: str, text: str) -> str:
    return f"  {name:<28} {text}"


def print_table(result: dict[str, Any]) -> None:
    w = result["workspace"]
    langs = ", ".join(f"{name} {n}" for name, n in w["languages"].items())
    fake = result["fake"]
    print(
        f"lsp-assist soak — {result['keystrokes']:,} keystrokes in {w['files']} files ({langs}; "
        f"{w['lines']:,} lines), fake Ollama ({fake['ttft_ms']} ms to first token, "
        f"{fake['token_ms']} ms/token, reviews {fake['review_ms']} ms); server's full "
        f"collection after {result['gc_at_latest_s'] or 300} s of typing"
    )
    print(
        _row(
            "duration",
            f"{result['typing_s']} s typing ({result['keystrokes_per_s']} keystrokes/s), "
            f"{result['total_s']} s with the checkpoints",
        )
    )
    warm, end = result["checkpoints"]["warmup"] or {}, result["checkpoints"]["end"]
    peak = max(mb for _, mb in result["rss_series"])
    print(
        _row(
            "server RSS (MB)",
            f"start {result['rss_start_mb']}, after warm-up {warm.get('rss_mb')} "
            f"(keystroke {warm.get('keystroke')}), end {end['rss_mb']}, max sampled {peak}, "
            f"peak {end['peak_rss_mb']}",
        )
    )
    print(
        _row(
            "  before the collection",
            f"after warm-up {warm.get('rss_as_is_mb')}, end {end['rss_as_is_mb']}",
        )
    )
    series = result["rss_series"]
    step = max(1, len(series) // 10)
    print(_row("  along the way", "  ".join(f"{k:,}: {mb}" for k, mb in series[::step])))
    print(_row("asyncio tasks", f"after warm-up {warm.get('tasks')}, end {end['tasks']}"))
    sampled = [p["tasks"] for p in result["probes"] if p.get("tasks") is not None]
    if sampled:
        print(_row("  sampled while typing", f"min {min(sampled)}, max {max(sampled)}"))
    print(
        _row(
            "timers, threads",
            f"after warm-up {warm.get('timers')}, {warm.get('threads')}; "
            f"end {end['timers']}, {end['threads']}",
        )
    )
    print(_row("descriptors after warm-up", _descriptors(warm.get("descriptors", {}))))
    print(_row("descriptors at the end", _descriptors(end["descriptors"])))
    print(
        _row(
            "quiet before the checkpoints",
            f"after warm-up {warm.get('quiet_s')} s, at the end {end['quiet_s']} s",
        )
    )
    o = result["overhead_ms"]
    window = o["window"]
    for name in ("first", "last"):
        row = o[name]
        e2e = o[f"end_to_end_{name}"]
        print(
            _row(
                f"overhead, {name} {window:,} (ms)",
                f"p50 {row['p50']}  p95 {row['p95']}  (n={row['n']});  end to end p50 "
                f"{e2e['p50']}  p95 {e2e['p95']}",
            )
        )
    print(_row(f"  p95 per {window:,}", "  ".join(str(v) for v in o["p95_by_window"])))
    others = result["others_cores"]
    print(
        _row(
            "  other processes' CPU",
            f"{others['first']} cores in the first {window:,}, {others['last']} in the last, "
            f"at most {others['max']} (a shared machine)",
        )
    )
    print(_row("  answered by", ", ".join(f"{k} {n}" for k, n in o["answered_by"].items())))
    r = result["requests"]
    sent, answered = sum(r["sent"].values()), sum(r["answered"].values())
    print(_row("requests answered / sent", f"{answered:,} / {sent:,}"))
    for method, n in r["sent"].items():
        print(_row(f"  {method}", f"{r['answered'].get(method, 0):,} / {n:,}"))
    if r["errors"]:
        print(_row("  error answers", ", ".join(f"{k} ×{n}" for k, n in r["errors"].items())))
    s = result["session"]
    print(_row("session", ", ".join(f"{k} {n:,}" for k, n in s.items())))
    asked = result["server_requests"]
    print(_row("the server asked", ", ".join(f"{k} {n:,}" for k, n in asked.items())))
    st = result["statuses"]
    print(
        _row(
            "reviews",
            f"{st.get('reviewed', 0):,} reviewed (statuses), {fake['reviews']:,} review calls, "
            f"{fake['findings']:,} findings, {result['diagnostics_published']:,} "
            "publishDiagnostics",
        )
    )
    print(
        _row(
            "fake Ollama",
            f"{fake['generate']:,} generations, {fake['disconnects']:,} cancelled by the "
            f"server, {fake['connections']:,} connections, {fake['format_violation_count']} "
            "format violations",
        )
    )
    log = result["server_log"]
    print(_row("server log", ", ".join(f"{k} {n:,}" for k, n in log.get("lines", {}).items())))
    for problem in log.get("problems", [])[:5]:
        print(_row("", problem))
    growth = result["object_growth"][:6]
    if growth:
        print(
            _row(
                "objects grown most",
                ", ".join(f"{g['type']} {g['before']}→{g['after']}" for g in growth),
            )
        )
    untracked = result["untracked_growth"][:4]
    if untracked:
        print(
            _row(
                "  and what they hold",
                ", ".join(f"{g['type']} {g['before']}→{g['after']}" for g in untracked),
            )
        )
    print(
        _row(
            "garbage freed at checkpoints",
            f"after warm-up {warm.get('collected')} objects ({warm.get('garbage_kb')} kB), "
            f"at the end {end.get('collected')} ({end.get('garbage_kb')} kB)",
        )
    )
    for site in (end.get("grown_sites") or [])[:5]:
        print(_row("", f"+{site['kb']} kB ({site['count']:+}) at {site['where'][-1]}"))
    print("verdicts")
    names = {
        "memory": "RSS flat",
        "tasks_and_connections": "no growth in tasks/conns",
        "overhead": "p95 overhead unchanged",
    }
    for key, verdict in result["verdicts"].items():
        print(_row(names[key], f"{'PASS' if verdict['ok'] else 'FAIL'}  {verdict['text']}"))
    flat = all(v["ok"] for v in result["verdicts"].values())
    print(f"soak flat: {'yes' if flat else 'no'}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keystrokes", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2000, help="keystrokes before the baseline")
    parser.add_argument("--window", type=int, default=5000, help="keystrokes compared, first/last")
    parser.add_argument("--quick", action="store_true", help="a few hundred keystrokes, 6 files")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--ttft-ms", type=float, default=2.0, help="fake: time to first token")
    parser.add_argument("--token-ms", type=float, default=0.2, help="fake: time per token")
    parser.add_argument("--review-ms", type=float, default=5.0, help="fake: a review's answer")
    parser.add_argument("--settle-s", type=float, default=2.5, help="quiet before a checkpoint")
    parser.add_argument(
        "--grace-s", type=float, default=35.0, help="more quiet at the end, while above baseline"
    )
    parser.add_argument(
        "--gc-at-latest-s",
        type=float,
        default=12.0,
        metavar="S",
        help="the server's full collection after S s of continuous typing (its own: 300 s, "
        "for a person's pace; 0 keeps it)",
    )
    parser.add_argument("--rss-every", type=int, default=250, help="keystrokes between samples")
    parser.add_argument("--probe-every", type=int, default=1000, help="keystrokes between probes")
    parser.add_argument("--top-types", type=int, default=12)
    parser.add_argument(
        "--census-every",
        type=int,
        default=0,
        metavar="N",
        help="diagnosis: a census (a full collection, what it freed) every N keystrokes; "
        "this changes when the server collects",
    )
    parser.add_argument(
        "--tracemalloc",
        type=int,
        nargs="?",
        const=8,
        default=0,
        metavar="FRAMES",
        help="trace the server's allocations (FRAMES per site, 8 by default; slow)",
    )
    parser.add_argument(
        "--server-log", metavar="DIR", help="keep the server's log: DIR/soak-server.log"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--json-file", metavar="FILE", help="also write the JSON (all of it) here")
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            if parser.get_default(name) == getattr(args, name):
                setattr(args, name, value)
    args.warmup = min(args.warmup, args.keystrokes // 2)
    args.window = min(args.window, args.keystrokes // 2)
    result = asyncio.run(run_soak(args))
    result["verdicts"] = verdicts(result)
    result = _finite(result)
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.json:
        for name in ("warmup", "end"):
            for bulky in ("types", "untracked"):
                (result["checkpoints"][name] or {}).pop(bulky, None)
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
