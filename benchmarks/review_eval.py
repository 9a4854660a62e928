"""Review quality and latency, measured the way an editor sees them.

Drives `lsp-assist serve` over stdio like an editor, on QuixBugs (benchmarks/review_data/
quixbugs: 40 programs, each with a one-line bug, in a buggy and a fixed version). For every
program it opens the buggy file, runs `lspAssist.reviewFile` on it, and reads the
`textDocument/publishDiagnostics` of source "lsp-assist" for it; then the same for the fixed
file. It reports

* detection recall: share of buggy programs with at least one finding;
* localisation@±1: share of buggy programs with a finding whose range touches a gold line ±1
  (gold lines: the lines of the buggy version that differ from the fixed one, by difflib; for
  a missing line, the nearest code lines on either side);
* false-positive rate: share of fixed programs with a Warning or Error finding;
* valid-JSON rate: review answers the server could parse, from its `lspAssist/status`
  "reviewed" notifications (`calls`, `invalid`);
* latency per function: the command's round trip divided by the functions reviewed (p50,
  p95), and the server's own share: time to diagnostics minus the backend's time;
* save → diagnostics: an edit of one function, `didSave`, until its diagnostics arrive,
  minus the backend's time (the target is at most 50 ms on top of the backend).

With `--fake` it runs against the project's fake Ollama in a process of its own, scripted as a
perfect reviewer (a finding quoting the gold line of each buggy function, none for the fixed
ones): recall, localisation and valid JSON must then be 100 % and false positives 0 %, which
checks the plumbing, and the latencies are the server's own overhead.

    python benchmarks/review_eval.py --fake
    python benchmarks/review_eval.py --host http://127.0.0.1:11434 --model qwen2.5-coder:7b-instruct
    python benchmarks/review_eval.py --fake --limit 3 --json out.json
    python benchmarks/review_eval.py --rebuild-gold
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import difflib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsp_assist.lsp_client import LspClient, ServerGone  # noqa: E402
from tests.fakes.serve import FakeOllamaProcess  # noqa: E402

DATA = ROOT / "benchmarks" / "review_data" / "quixbugs"
GOLD_FILE = DATA / "gold.json"
SOURCE = "lsp-assist"
WARNING_OR_WORSE = (1, 2)  # LSP DiagnosticSeverity Error, Warning
REVIEW_FILE = "lspAssist.reviewFile"
SAVE_FUNCTION = "def add(a, b):\n    return a + b + {value}\n"
SETTLE_S = 2.0  # diagnostics are coalesced per loop turn: they may land just after the reply


# -- dataset ---------------------------------------------------------------------------------


def _nearest_code(lines: list[str], start: int, step: int) -> int | None:
    i = start
    while 0 <= i < len(lines):
        if lines[i].strip():
            return i
        i += step
    return None


def gold_of(buggy: str, fixed: str) -> dict[str, Any]:
    """The gold lines (1-based, in the buggy file), and the line a perfect reviewer quotes
    with its nearest code neighbours (for the scripted fake)."""
    old, new = buggy.split("\n"), fixed.split("\n")
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    changes = [(i1, i2) for tag, i1, i2, _j1, _j2 in matcher.get_opcodes() if tag != "equal"]
    if not changes:
        raise ValueError("the buggy and fixed versions are the same")
    lines: set[int] = set()
    quotable: list[int] = []
    for i1, i2 in changes:
        if i2 > i1:  # lines replaced or deleted: they are the bug
            lines.update(range(i1 + 1, i2 + 1))
            quotable.append(i1)
        else:  # a missing line: the code lines on either side of where it belongs
            around = [_nearest_code(old, i1 - 1, -1), _nearest_code(old, i1, 1)]
            found = [i for i in around if i is not None]
            lines.update(i + 1 for i in found)
            quotable.extend(found[:1])
    quoted = quotable[0]
    before, after = _nearest_code(old, quoted - 1, -1), _nearest_code(old, quoted + 1, 1)
    return {
        "lines": sorted(lines),
        "kind": "replace" if any(i2 > i1 for i1, i2 in changes) else "insert",
        "evidence": old[quoted],
        "before": None if before is None else old[before],
        "after": None if after is None else old[after],
    }


def rebuild_gold() -> dict[str, Any]:
    gold = {
        path.stem: gold_of(path.read_text(), (DATA / "fixed" / path.name).read_text())
        for path in sorted((DATA / "buggy").glob("*.py"))
    }
    GOLD_FILE.write_text(json.dumps(gold, indent=1) + "\n")
    return gold


def load_gold() -> dict[str, Any]:
    return json.loads(GOLD_FILE.read_text()) if GOLD_FILE.exists() else rebuild_gold()


def count_functions(text: str) -> int:
    """Functions and methods, nested ones included (for when the server does not say)."""
    tree = ast.parse(text)
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(tree))


# -- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, Any]:
    median = round(statistics.median(values), 2) if values else None
    p95 = percentile(values, 0.95)
    return {"p50": median, "p95": None if p95 is None else round(p95, 2), "n": len(values)}


def share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


# -- one review ------------------------------------------------------------------------------


@dataclass
class Review:
    """One file reviewed with lspAssist.reviewFile."""

    program: str
    version: str  # "buggy" or "fixed"
    findings: list[dict[str, Any]]  # lsp-assist diagnostics: line (1-based), severity, code
    round_trip_ms: float
    to_diagnostics_ms: float
    functions: int
    calls: int | None = None
    invalid: int | None = None
    unanchored: int | None = None
    backend_ms: float | None = None
    gold: list[int] = field(default_factory=list)

    @property
    def detected(self) -> bool:
        return bool(self.findings)

    @property
    def localised(self) -> bool:
        near = {g + d for g in self.gold for d in (-1, 0, 1)}
        return any(near.intersection(range(f["line"], f["end_line"] + 1)) for f in self.findings)

    @property
    def loud(self) -> bool:
        return any(f["severity"] in WARNING_OR_WORSE for f in self.findings)


def own_findings(diagnostics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "line": d["range"]["start"]["line"] + 1,
            "end_line": d["range"]["end"]["line"] + 1,
            "severity": d.get("severity"),
            "code": d.get("code"),
            "message": d.get("message", ""),
        }
        for d in diagnostics
        if d.get("source") == SOURCE
    ]


def is_reviewed(uri: str) -> Any:
    return lambda status: status.get("state") == "reviewed" and status.get("uri") == uri


async def last_review_status(client: LspClient, uri: str, seen: int) -> dict[str, Any]:
    """The latest "reviewed" status for `uri` in statuses[seen:] (opening a file may send one
    of its own, from the answer cache), waiting up to SETTLE_S for one; {} if none."""
    done = [s for s in client.statuses[seen:] if is_reviewed(uri)(s)]
    if done:
        return done[-1]
    return await client.status_matching(seen, is_reviewed(uri), SETTLE_S) or {}


async def settled_diagnostics(client: LspClient, uri: str, expected: int | None) -> None:
    """Waits (up to SETTLE_S) until the diagnostics of `uri` hold the number of findings the
    server reported, when it did."""
    if expected is None:
        return
    while len(own_findings(client.diagnostics.get(uri, []))) != expected:
        seen = client.diagnostics_count.get(uri, 0)
        if await client.next_diagnostics(uri, seen, SETTLE_S) is None:
            return


async def review_file(
    client: LspClient, path: Path, program: str, version: str, gold: list[int], timeout: float
) -> Review:
    uri = path.as_uri()
    text = path.read_text()
    seen = len(client.statuses)
    client.open(uri, text, "python")
    started = time.perf_counter()
    reply = await client.execute_command(REVIEW_FILE, [uri], timeout)
    answered = time.perf_counter()
    status = await last_review_status(client, uri, seen)
    expected = status.get("findings")
    if expected is None and isinstance(reply, dict):
        expected = reply.get("findings")
    await settled_diagnostics(client, uri, expected)
    arrived = client.diagnostics_at.get(uri, 0.0)
    findings = own_findings(client.diagnostics.get(uri, []))
    client.close(uri)
    return Review(
        program=program,
        version=version,
        findings=findings,
        round_trip_ms=(answered - started) * 1000,
        to_diagnostics_ms=(max(answered, arrived) - started) * 1000,
        functions=int(status.get("units") or count_functions(text)),
        calls=status.get("calls"),
        invalid=status.get("invalid"),
        unanchored=status.get("unanchored"),
        backend_ms=status.get("backendMs"),
        gold=gold if version == "buggy" else [],
    )


# -- the run ---------------------------------------------------------------------------------


def fake_script(gold: dict[str, Any], saves: int) -> list[dict[str, Any]]:
    """A perfect reviewer: the gold line of each buggy program, and the edited line of each
    save (so each save changes the findings and is published)."""
    rules = [{k: g[k] for k in ("evidence", "before", "after")} for g in gold.values()]
    for value in ["0"] + [save_value(n) for n in range(1, saves + 1)]:
        rules.append({"evidence": f"    return a + b + {value}", "before": "def add(a, b):"})
    return rules


def save_value(n: int) -> str:
    """The constant written by the n-th save: one digit longer each time, so that the range
    of a finding quoting the line tells which review placed it."""
    return "1" * n


def backend_time(review_ms: float | None, calls: int | None, fake_call_ms: float | None) -> float:
    """The backend's own time: the fake's scripted time per call, else the server's report."""
    if fake_call_ms is not None:
        return (calls or 0) * fake_call_ms
    return review_ms or 0.0


async def save_latency(
    client: LspClient, workdir: Path, saves: int, fake_call_ms: float | None, timeout: float
) -> dict[str, Any]:
    """didChange + didSave of one function, until the diagnostics of its new review arrive,
    minus the backend's time. Against the scripted fake, the review's finding quotes the
    edited line, so its publishDiagnostics is told from the one the edit itself causes by its
    range; against a model, whose findings are not known, the time is taken to the server's
    "reviewed" status instead."""
    path = workdir / "save_bench.py"
    path.write_text(SAVE_FUNCTION.format(value="0"))
    uri = path.as_uri()
    client.open(uri, path.read_text(), "python")
    seen = len(client.statuses)
    client.save(uri)  # the first review of the file
    await client.status_matching(seen, is_reviewed(uri), timeout)
    total: list[float] = []
    overhead: list[float] = []
    for n in range(1, saves + 1):
        text = client.documents[uri].text
        at = text.rindex("+ ") + 2
        client.replace(uri, at, text.index("\n", at), save_value(n))
        line = client.documents[uri].text.split("\n")[1]
        seen = len(client.statuses)
        started = time.perf_counter()
        client.save(uri)
        if fake_call_ms is not None:
            arrived = await _finding_spanning(client, uri, 1, len(line), timeout)
            status = await last_review_status(client, uri, seen)
        else:
            status = await client.status_matching(seen, is_reviewed(uri), timeout) or {}
            arrived = time.perf_counter() if status else None
        if arrived is None:
            continue
        backend = backend_time(status.get("backendMs"), status.get("calls", 1), fake_call_ms)
        total.append((arrived - started) * 1000)
        overhead.append((arrived - started) * 1000 - backend)
    client.close(uri)
    return {
        "saves": saves,
        "measured_to": "diagnostics" if fake_call_ms is not None else "reviewed status",
        "save_to_diagnostics_ms": summary(total),
        "minus_backend_ms": summary(overhead),
        "target_ms": 50,
    }


async def _finding_spanning(
    client: LspClient, uri: str, line: int, end: int, timeout: float
) -> float | None:
    """When (perf_counter) diagnostics of `uri` with a finding on `line` (0-based) ending at
    character `end` arrived, or None after `timeout` seconds."""

    def there() -> bool:
        return any(
            d.get("source") == SOURCE and d["range"]["end"] == {"line": line, "character": end}
            for d in client.diagnostics.get(uri, [])
        )

    deadline = time.perf_counter() + timeout
    while not there():
        seen = client.diagnostics_count.get(uri, 0)
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or await client.next_diagnostics(uri, seen, remaining) is None:
            return None
    return client.diagnostics_at[uri]


def server_env(state_dir: Path) -> dict[str, str]:
    """The server's environment, with its review answer cache in a fresh directory (a cache
    hit would measure nothing)."""
    return {**os.environ, "XDG_STATE_HOME": str(state_dir)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    gold = load_gold()
    programs = sorted(gold)[: args.limit] if args.limit else sorted(gold)
    fake: FakeOllamaProcess | None = None
    host = args.host
    fake_call_ms = args.fake_review_ms if args.fake else None
    if args.fake:
        script = fake_script({p: gold[p] for p in programs}, args.saves)
        fake = FakeOllamaProcess(
            ttft=0.015,
            token_delay=0.002,
            reply="pass",
            review_script=script,
            review_ttft=args.fake_review_ms / 1000,
        ).start()
        host = fake.url
    workdir = Path(tempfile.mkdtemp(prefix="review-eval-"))
    client = LspClient(lambda message: print(f"server says: {message}", file=sys.stderr))
    reviews: list[Review] = []
    saving: dict[str, Any] = {}
    error: str | None = None
    digest = None if args.fake else model_digest(host or "", args.model)
    try:
        await client.start(env=server_env(workdir / "state"))
        options = {
            "ollama": {"host": host},
            "review": {"enabled": True, "model": args.model, "onSave": True},
            "completion": {"enabled": False},
        }
        await client.initialize(workdir.as_uri(), options, timeout=60)
        try:
            for program in programs:
                for version in ("buggy", "fixed"):
                    copy = workdir / version / f"{program}.py"
                    copy.parent.mkdir(exist_ok=True)
                    shutil.copyfile(DATA / version / f"{program}.py", copy)
                    review = await review_file(
                        client, copy, program, version, gold[program]["lines"], args.timeout
                    )
                    reviews.append(review)
                    if args.verbose:
                        print(row_text(review), file=sys.stderr)
            if args.saves:
                saving = await save_latency(client, workdir, args.saves, fake_call_ms, args.timeout)
        except ServerGone as exc:  # report what was measured until then
            error = str(exc)
            print(f"review_eval: stopped early: {error}", file=sys.stderr)
        chats = fake.chat_requests() if fake else []
        faults = sorted(
            {str(st.get("message")) for st in client.statuses if st.get("state") == "error"}
        )
    finally:
        await client.stop()
        if fake is not None:
            fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results = report(args, host or "default", reviews, saving, fake_call_ms, chats)
    return {**results, "model_digest": digest, "error": error, "backend_errors": faults}


def model_digest(host: str, model: str) -> str | None:
    """The model's digest from Ollama's /api/tags (results are per model tag and digest)."""
    url = (host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434").rstrip("/")
    url = url if "://" in url else f"http://{url}"
    try:
        models = httpx.get(f"{url}/api/tags", timeout=5).json().get("models", [])
    except (httpx.HTTPError, ValueError):
        return None
    wanted = model if ":" in model else f"{model}:latest"
    return next((m.get("digest") for m in models if m.get("name") == wanted), None)


def report(
    args: argparse.Namespace,
    host: str,
    reviews: list[Review],
    saving: dict[str, Any],
    fake_call_ms: float | None,
    chats: list[dict[str, Any]],
) -> dict[str, Any]:
    buggy = [r for r in reviews if r.version == "buggy"]
    fixed = [r for r in reviews if r.version == "fixed"]
    with_calls = [r for r in reviews if r.calls is not None]
    calls = sum(r.calls or 0 for r in with_calls)
    invalid = sum(r.invalid or 0 for r in with_calls)
    per_function = [r.round_trip_ms / max(1, r.functions) for r in reviews]
    overhead = [
        r.to_diagnostics_ms - backend_time(r.backend_ms, r.calls, fake_call_ms) for r in reviews
    ]
    # The same against the backend time the server measured itself (HTTP included).
    beyond_backend = [
        r.to_diagnostics_ms - r.backend_ms for r in reviews if r.backend_ms is not None
    ]
    return {
        "backend": "fake" if args.fake else host,
        "model": args.model,
        "dataset": {"name": "QuixBugs (Python)", "programs": len(buggy), "source": str(DATA)},
        "fake_review_call_ms": fake_call_ms,
        "summary": {
            "detection_recall": share(sum(r.detected for r in buggy), len(buggy)),
            "localisation_at_1": share(sum(r.localised for r in buggy), len(buggy)),
            "false_positive_rate": share(sum(r.loud for r in fixed), len(fixed)),
            "fixed_with_any_finding": share(sum(r.detected for r in fixed), len(fixed)),
            "valid_json_rate": share(calls - invalid, calls) if with_calls else None,
            "review_calls": calls if with_calls else None,
            "unanchored_findings": sum(r.unanchored or 0 for r in reviews) if with_calls else None,
            "latency_per_function_ms": summary(per_function),
            "server_overhead_per_file_ms": summary(overhead),
            "beyond_server_reported_backend_ms": summary(beyond_backend),
            "fake_review_requests": sum(1 for c in chats if c.get("review")) if chats else None,
        },
        "save": saving,
        "rows": [
            {**asdict(r), "detected": r.detected, "localised": r.localised, "loud": r.loud}
            for r in reviews
        ],
    }


# -- output ----------------------------------------------------------------------------------


def row_text(review: Review) -> str:
    lines = ",".join(str(f["line"]) for f in review.findings) or "-"
    mark = ""
    if review.version == "buggy":
        mark = "hit" if review.localised else ("found" if review.detected else "missed")
    elif review.loud:
        mark = "false positive"
    gold = ",".join(map(str, review.gold)) if review.gold else ""
    per_function = review.round_trip_ms / max(1, review.functions)
    return (
        f"{review.program:<27} {review.version:<6} gold {gold:<6} findings {lines:<8} "
        f"{mark:<15} {per_function:8.1f} ms/function"
    )


def print_report(results: dict[str, Any]) -> None:
    rows = results["rows"]
    digest = f", digest {results['model_digest'][:19]}" if results.get("model_digest") else ""
    print(
        f"lsp-assist review — {results['backend']} ({results['model']}{digest}), "
        f"{results['dataset']['name']}: {results['dataset']['programs']} programs"
    )
    if results.get("error"):
        print(f"  stopped early: {results['error']}")
    for fault in results.get("backend_errors") or []:
        print(f"  the server reported: {fault}")
    for row in rows:
        review = Review(**{k: v for k, v in row.items() if k in Review.__dataclass_fields__})
        print("  " + row_text(review))
    s = results["summary"]

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.1f} %"

    print(f"  detection recall         {pct(s['detection_recall'])}")
    print(f"  localisation@±1          {pct(s['localisation_at_1'])}")
    print(f"  false positives (fixed)  {pct(s['false_positive_rate'])}")
    print(f"  valid JSON               {pct(s['valid_json_rate'])}  ({s['review_calls']} calls)")
    for name in (
        "latency_per_function_ms",
        "server_overhead_per_file_ms",
        "beyond_server_reported_backend_ms",
    ):
        row = s[name]
        print(f"  {name:<33} p50 {row['p50']}   p95 {row['p95']}   (n={row['n']})")
    if results["save"]:
        for name in ("save_to_diagnostics_ms", "minus_backend_ms"):
            row = results["save"][name]
            print(f"  {name:<33} p50 {row['p50']}   p95 {row['p95']}   (n={row['n']})")
        print(f"  target: backend + {results['save']['target_ms']} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", help="Ollama's URL (default: $OLLAMA_HOST or the server's)")
    parser.add_argument("--model", default="qwen2.5-coder:7b-instruct")
    parser.add_argument("--fake", action="store_true", help="the scripted fake Ollama")
    parser.add_argument("--fake-review-ms", type=float, default=20.0, help="fake: per call")
    parser.add_argument("--limit", type=int, help="only the first N programs (by name)")
    parser.add_argument("--saves", type=int, help="save → diagnostics rounds (fake: 10)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per review")
    parser.add_argument("--json", metavar="FILE", help="write all results there ('-': stdout)")
    parser.add_argument("--rebuild-gold", action="store_true", help="recompute gold.json")
    parser.add_argument("-v", "--verbose", action="store_true", help="a row per file as it goes")
    args = parser.parse_args()
    if args.rebuild_gold:
        gold = rebuild_gold()
        print(f"{GOLD_FILE}: {len(gold)} programs")
        return
    if args.saves is None:
        args.saves = 10 if args.fake else 0
    if args.host is None and not args.fake:
        args.host = os.environ.get("OLLAMA_HOST", "")
    results = asyncio.run(run(args))
    if args.json == "-":
        print(json.dumps(results, indent=2))
        return
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)


if __name__ == "__main__":
    main()
