"""Does the prompt carry the definition of the function being called? Cross-file recall of the
context engine on public repositories, and what gathering that context costs.

For every repository of `context_corpus.REPOSITORIES` (pinned PyPI sdists and npm tarballs,
downloaded into the cache on first run), `context_tasks.find_tasks` cuts files right after a
`callee(` whose callee is defined exactly once, in another file. The workspace index is built
once per repository; then, for each task, the cut file alone is open in the editor (its live
text given to the index, as on didOpen), the context engine is asked for the context block at
the cursor, and the task passes when that block holds the callee's definition header (compared
without whitespace, so a signature put on one line still counts). A failure is told as

* not resolved — the resolver finds nothing for the callee the engine read at the cursor
  (`read=(nothing)`: it did not even read a callee there),
* resolved, not packed — it finds the right definition, which the block lacks,
* wrong definition — it finds another definition of that name.

Timings are of the context engine's call alone (parsing belongs to the document): once on a
fresh statement (cache miss), then per keystroke while the rest of the call's line is typed
after the `(` (the statement does not change: a cache hit; `hits` is how often the engine said
it answered from its cache, `stable` how often the block stayed the same). The workspace of
`workspace_corpus.build_workspace` (2,000 files / 25 MB at most) is indexed in a child
process, for its build time and peak RSS (VmHWM), and the same timings are taken on calls
found in it; the issue's targets are recall >= 90% per language and p95 <= 10 ms per keystroke
there.

    .venv/bin/python benchmarks/context_recall.py [--repo httpx] [--tasks 300] [--cache DIR]
        [--workspace-files 2000 | --no-workspace] [--examples 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tree_sitter  # noqa: E402

from benchmarks.context_corpus import (  # noqa: E402
    DEFAULT_CACHE,
    REPOSITORIES,
    FetchFailed,
    fetch,
)
from benchmarks.context_tasks import (  # noqa: E402
    HEADER_KEYWORDS,
    Task,
    find_tasks,
    holds_definition,
    squeezed,
)
from benchmarks.offline_memory import memory_mb  # noqa: E402
from lsp_assist.documents import Document, DocumentSnapshot  # noqa: E402
from lsp_assist.positions import utf8  # noqa: E402
from lsp_assist.uris import uri_of_path  # noqa: E402

TARGET_RECALL = 0.90
TARGET_TYPING_P95_MS = 10.0
TYPED_CHARACTERS = 12
"""Keystrokes typed after each task's `(` (fewer when its line ends sooner)."""
PASS, NOT_RESOLVED, NOT_PACKED, WRONG = (
    "pass",
    "not resolved",
    "resolved, not packed",
    "wrong definition",
)


# -- the engine under test ------------------------------------------------------------------


class ContextUnavailable(Exception):
    """The context engine (or a part of it) has not landed: the benchmark cannot run."""


@dataclass
class ContextApi:
    """The context engine as the benchmark drives it, bound to its current names."""

    build_index: Callable[[Path], Any]
    """The workspace index of a folder, built as the server builds it."""
    new_engine: Callable[[Path], Any]
    """One session's context engine."""
    context_for: Callable[[Any, DocumentSnapshot, int, Any], Sequence[Any]]
    """(engine, snapshot, offset, index) -> the context files, only `snapshot` open."""
    open_document: Callable[[Any, Any, DocumentSnapshot], None] = lambda engine, index, s: None
    """didOpen: the buffer's live text goes to the index."""
    close_document: Callable[[Any, Any, DocumentSnapshot], None] = lambda engine, index, s: None
    diagnose: Callable[[Any, Any, DocumentSnapshot, int], tuple[tuple[str, ...], Any]] | None = None
    """(engine, index, snapshot, offset) -> (the callee chain read at the cursor, the Symbol
    it resolves to or None): tells a failure's cause."""
    cache_hits: Callable[[Any], int] = lambda engine: 0
    """How many calls so far were answered from the engine's cache."""


def load_api() -> ContextApi:
    """Binds the context engine; ContextUnavailable names what is missing."""
    try:
        from lsp_assist.context.cursor import names_at
        from lsp_assist.context.engine import ContextEngine
        from lsp_assist.context.index import WorkspaceIndex
        from lsp_assist.context.resolve import resolve
        from lsp_assist.context.tags import FileTags
    except ImportError as error:
        raise ContextUnavailable(f"the context engine has not landed: {error}") from error
    loop = asyncio.new_event_loop()

    def build_index(root: Path) -> Any:
        index = WorkspaceIndex(root)
        loop.run_until_complete(index.build(root))
        return index

    def open_document(engine: Any, index: Any, snapshot: DocumentSnapshot) -> None:
        loop.run_until_complete(index.update_text(snapshot.uri, snapshot.text, snapshot.language))

    def close_document(engine: Any, index: Any, snapshot: DocumentSnapshot) -> None:
        engine.forget(snapshot.uri)
        loop.run_until_complete(index.close_buffer(snapshot.uri))

    def context_for(engine: Any, snapshot: DocumentSnapshot, offset: int, index: Any) -> Any:
        return engine.context_for(snapshot, offset, (snapshot,), index)

    def diagnose(
        engine: Any, index: Any, snapshot: DocumentSnapshot, offset: int
    ) -> tuple[tuple[str, ...], Any]:
        path = engine.path_of(snapshot.uri)
        current = index.file(path) or FileTags(path, snapshot.language.name, (), ())
        chain = names_at(snapshot, offset).callee
        return chain, resolve(index, current, chain) if chain else None

    def cache_hits(engine: Any) -> int:
        return int(engine.stats.line_hits + engine.stats.statement_hits)

    return ContextApi(
        build_index,
        lambda root: ContextEngine(root=root),
        context_for,
        open_document,
        close_document,
        diagnose,
        cache_hits,
    )


# -- one task ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    task: Task
    verdict: str
    fresh_ms: float
    typing_ms: list[float]
    stable: int
    """Keystrokes after which the block was the same as on the fresh statement."""
    paths: list[str]
    resolved_to: str = ""
    context_chars: int = 0
    read_chain: tuple[str, ...] | None = None
    """The callee the engine read at the cursor (when asked: failures only)."""
    fresh_hit: bool = False
    """The fresh call was answered from the cache (another task on the same line)."""
    typing_hits: int = 0


def parsed(document: Document) -> DocumentSnapshot:
    """A snapshot with its tree, as the server hands one to a completion (parsing untimed)."""
    snapshot = document.snapshot()
    grammar = document.language.grammar
    if snapshot.tree is None and grammar is not None:
        snapshot.tree = tree_sitter.Parser(grammar).parse(utf8(snapshot.text))
    return snapshot


def _other_definition(text: str, name: str) -> bool:
    """The block holds a header defining `name` (not the expected one: that was looked for)."""
    flat = squeezed(text)
    return any(f"{keyword}{name}" in flat for keyword in HEADER_KEYWORDS) or any(
        line.lstrip().startswith((f"{name}(", f"async {name}(", f"static {name}("))
        or line.lstrip().startswith((f"const {name} =", f"export const {name} ="))
        for line in text.splitlines()
    )


def _context_text(files: Sequence[Any]) -> str:
    return "\n".join(f"{getattr(f, 'path', '')}\n{getattr(f, 'text', f)}" for f in files)


def run_task(api: ContextApi, engine: Any, index: Any, root: Path, task: Task) -> Outcome:
    uri = uri_of_path(root / task.path)
    document = Document(uri, task.cut, language_id=task.language_id)
    snapshot = parsed(document)
    api.open_document(engine, index, snapshot)
    try:
        hits = api.cache_hits(engine)
        started = time.perf_counter()
        files = api.context_for(engine, snapshot, len(task.cut), index)
        fresh_ms = (time.perf_counter() - started) * 1000
        fresh_hit = api.cache_hits(engine) > hits
        text = _context_text(files)
        typing_ms: list[float] = []
        stable = typing_hits = 0
        for character in task.rest_of_line[:TYPED_CHARACTERS]:
            end = len(document.text)
            document.replace(end, end, character)
            typed = parsed(document)
            hits = api.cache_hits(engine)
            started = time.perf_counter()
            again = api.context_for(engine, typed, end + 1, index)
            typing_ms.append((time.perf_counter() - started) * 1000)
            typing_hits += api.cache_hits(engine) > hits
            stable += _context_text(again) == text
        outcome = Outcome(task, PASS, fresh_ms, typing_ms, stable, [], context_chars=len(text))
        outcome.fresh_hit, outcome.typing_hits = fresh_hit, typing_hits
        outcome.paths = [str(getattr(f, "path", "")) for f in files]
        if not holds_definition(text, task.definition):
            _tell_failure(api, engine, index, snapshot, outcome, text)
        return outcome
    finally:
        api.close_document(engine, index, snapshot)


def _tell_failure(
    api: ContextApi,
    engine: Any,
    index: Any,
    snapshot: DocumentSnapshot,
    outcome: Outcome,
    text: str,
) -> None:
    task = outcome.task
    if api.diagnose is None:  # only the block to go by
        if _other_definition(text, task.callee):
            outcome.verdict = WRONG
        elif task.definition.path in outcome.paths:
            outcome.verdict = NOT_PACKED
        else:
            outcome.verdict = NOT_RESOLVED
        return
    chain, symbol = api.diagnose(engine, index, snapshot, len(snapshot.text))
    outcome.read_chain = chain
    if symbol is None:
        outcome.verdict = NOT_RESOLVED
        return
    outcome.resolved_to = f"{symbol.path}:{symbol.line + 1}"
    right = (symbol.path, symbol.line) == (task.definition.path, task.definition.line)
    outcome.verdict = NOT_PACKED if right else WRONG


# -- a workspace ------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
    }


@dataclass
class WorkspaceRun:
    name: str
    language: str
    tasks_found: int
    outcomes: list[Outcome]
    index_s: float
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        verdicts = Counter(o.verdict for o in self.outcomes)
        keystrokes = sum(len(o.typing_ms) for o in self.outcomes)
        return {
            "language": self.language,
            "call_sites": self.tasks_found,
            "tasks": len(self.outcomes),
            "recall": round(verdicts[PASS] / len(self.outcomes), 4) if self.outcomes else 0.0,
            "verdicts": {v: verdicts[v] for v in (PASS, NOT_RESOLVED, NOT_PACKED, WRONG)},
            "callee_not_read": sum(o.read_chain == () for o in self.outcomes),
            "index_build_s": round(self.index_s, 3),
            "fresh_ms": percentiles([o.fresh_ms for o in self.outcomes]),
            "typing_ms": percentiles([t for o in self.outcomes for t in o.typing_ms]),
            "stable_while_typing": (
                round(sum(o.stable for o in self.outcomes) / keystrokes, 4) if keystrokes else 1.0
            ),
            "cache_hits_while_typing": (
                round(sum(o.typing_hits for o in self.outcomes) / keystrokes, 4)
                if keystrokes
                else 1.0
            ),
            "fresh_calls_from_cache": sum(o.fresh_hit for o in self.outcomes),
            "context_chars_p50": percentiles([o.context_chars for o in self.outcomes])["p50"],
            "provenance": self.provenance,
        }


def measure(
    api: ContextApi, name: str, language: str, root: Path, limit: int, seed: int
) -> WorkspaceRun:
    tasks, found = find_tasks(name, root, limit=limit, seed=seed)
    started = time.perf_counter()
    index = api.build_index(root)
    index_s = time.perf_counter() - started
    engine = api.new_engine(root)
    outcomes = [run_task(api, engine, index, root, task) for task in tasks]
    return WorkspaceRun(name, language, found, outcomes, index_s)


def workspace_child(root: Path, files: int, limit: int, seed: int) -> dict[str, Any]:
    """In a process of its own: the big workspace's index build (time, RSS), then timings."""
    import lsp_assist.server  # noqa: F401  (what a running server holds: a fair baseline)
    from benchmarks.workspace_corpus import build_workspace

    if not (root / ".complete").exists():
        build_workspace(root, files=files)
        (root / ".complete").write_text("")
    api = load_api()
    before = memory_mb()
    started = time.perf_counter()
    index = api.build_index(root)
    index_s = time.perf_counter() - started
    after = memory_mb()
    result: dict[str, Any] = {
        "files": sum(1 for p in root.rglob("*.py")),
        "indexed": len(index),
        "index_build_s": round(index_s, 3),
        "rss_before_mb": before["VmRSS"],
        "rss_after_mb": after["VmRSS"],
        "peak_rss_mb": after["VmHWM"],
    }
    tasks, found = find_tasks("workspace", root, limit=limit, seed=seed)
    engine = api.new_engine(root)
    outcomes = [run_task(api, engine, index, root, task) for task in tasks]
    run = WorkspaceRun("workspace", "python", found, outcomes, index_s)
    summary = run.summary()
    for key in ("call_sites", "tasks", "recall", "fresh_ms", "typing_ms", "stable_while_typing"):
        result[key] = summary[key]
    return result


def run_workspace(cache: Path, files: int, limit: int, seed: int) -> dict[str, Any]:
    command = [
        *(sys.executable, str(Path(__file__).resolve()), "--workspace-child"),
        *(str(cache / f"workspace-{files}"), "--workspace-files", str(files)),
        *("--tasks", str(limit), "--seed", str(seed)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-1500:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- reporting --------------------------------------------------------------------------------


def by_language(runs: Sequence[WorkspaceRun]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[Outcome]] = defaultdict(list)
    for run in runs:
        grouped[run.language].extend(run.outcomes)
    rows = {}
    for language, outcomes in sorted(grouped.items()):
        passed = sum(o.verdict == PASS for o in outcomes)
        recall = passed / len(outcomes) if outcomes else 0.0
        rows[language] = {
            "tasks": len(outcomes),
            "recall": round(recall, 4),
            "meets_target": recall >= TARGET_RECALL,
            "fresh_ms": percentiles([o.fresh_ms for o in outcomes]),
            "typing_ms": percentiles([t for o in outcomes for t in o.typing_ms]),
        }
    return rows


def failure_examples(runs: Sequence[WorkspaceRun], per_category: int) -> dict[str, list[str]]:
    examples: dict[str, list[str]] = {}
    for verdict in (NOT_RESOLVED, NOT_PACKED, WRONG):
        lines = []
        for run in runs:
            failed = [o for o in run.outcomes if o.verdict == verdict][:per_category]
            for outcome in failed:
                task = outcome.task
                call = task.cut.rsplit("\n", 1)[-1].strip()[-60:]
                read = ""
                if outcome.read_chain is not None:
                    read = f" read={'.'.join(outcome.read_chain) or '(nothing)'}"
                lines.append(
                    f"{run.name} {task.path}:{task.line + 1} `{call}`"
                    f" chain={'.'.join(task.chain)}{read}"
                    f" -> {task.definition.path}:{task.definition.line + 1}"
                    f" `{task.definition.header[:70]}`"
                    + (f" resolved to {outcome.resolved_to}" if outcome.resolved_to else "")
                    + f" block: {', '.join(outcome.paths) or '(empty)'}"
                )
        examples[verdict] = lines
    return examples


def _ms(row: dict[str, float]) -> str:
    return f"{row['p50']:6.2f} {row['p95']:7.2f}"


def print_report(report: dict[str, Any]) -> None:
    print("Context recall: the callee's definition in the context block (cursor after `callee(`)")
    print()
    header = (
        f"{'repository':30} {'lang':6} {'calls':>6} {'tasks':>5} {'recall':>7}"
        f" {'unres':>5} {'unpack':>6} {'wrong':>5} {'index s':>7}"
        f" {'fresh p50/p95 ms':>16} {'typing p50/p95 ms':>17} {'hits':>5} {'stable':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, row in report["repositories"].items():
        verdicts = row["verdicts"]
        print(
            f"{name:30} {row['language']:6} {row['call_sites']:6} {row['tasks']:5}"
            f" {row['recall']:7.1%} {verdicts[NOT_RESOLVED]:5} {verdicts[NOT_PACKED]:6}"
            f" {verdicts[WRONG]:5} {row['index_build_s']:7.2f}"
            f" {_ms(row['fresh_ms']):>16} {_ms(row['typing_ms']):>17}"
            f" {row['cache_hits_while_typing']:5.0%} {row['stable_while_typing']:6.0%}"
        )
    print()
    for language, row in report["languages"].items():
        mark = "meets" if row["meets_target"] else "BELOW"
        print(
            f"{language:8} recall {row['recall']:6.1%} over {row['tasks']} tasks"
            f" ({mark} the {TARGET_RECALL:.0%} target);"
            f" fresh p50/p95 {_ms(row['fresh_ms'])} ms, typing p50/p95 {_ms(row['typing_ms'])} ms"
        )
    workspace = report.get("workspace")
    if workspace:
        print()
        if "error" in workspace:
            print(f"2,000-file workspace: failed: {workspace['error']}")
        else:
            typing = workspace["typing_ms"]
            mark = "meets" if typing["p95"] <= TARGET_TYPING_P95_MS else "ABOVE"
            print(
                f"{workspace['files']}-file workspace ({workspace['indexed']} indexed): built in"
                f" {workspace['index_build_s']:.1f} s, RSS {workspace['rss_before_mb']:.0f} ->"
                f" {workspace['rss_after_mb']:.0f} MB, peak {workspace['peak_rss_mb']:.0f} MB"
            )
            print(
                f"  context per call: fresh p50/p95 {_ms(workspace['fresh_ms'])} ms; typing"
                f" p50/p95 {_ms(typing)} ms ({mark} the {TARGET_TYPING_P95_MS:.0f} ms p95 target)"
                f" over {workspace['tasks']} calls (recall there {workspace['recall']:.1%})"
            )
    unread = sum(row["callee_not_read"] for row in report["repositories"].values())
    if unread:
        print(f"(of the unresolved, {unread} had no callee read at the cursor: read=(nothing))")
    for verdict, lines in report["failures"].items():
        if lines:
            print()
            print(f"{verdict}:")
            for line in lines:
                print(f"  {line}")
    print()
    print("Sources:")
    for row in report["repositories"].values():
        p = row["provenance"]
        print(f"  {p['repository']} ({p['registry']} {p['archive']} sha256 {p['sha256'][:16]}…)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--repo", action="append", default=[], help="only these (name prefix)")
    parser.add_argument("--tasks", type=int, default=300, help="at most this many per repository")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workspace-files", type=int, default=2000)
    parser.add_argument("--workspace-tasks", type=int, default=100)
    parser.add_argument("--no-workspace", action="store_true")
    parser.add_argument("--examples", type=int, default=3, help="failures shown per category")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workspace-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.workspace_child is not None:
        result = workspace_child(args.workspace_child, args.workspace_files, args.tasks, args.seed)
        print(json.dumps(result))
        return 0
    try:
        api = load_api()
    except ContextUnavailable as error:
        print(f"context_recall: {error}", file=sys.stderr)
        return 2
    runs = []
    for repository in REPOSITORIES:
        if args.repo and not any(repository.name.lstrip("@").startswith(r) for r in args.repo):
            continue
        try:
            root, provenance = fetch(repository, args.cache)
        except FetchFailed as error:
            print(f"context_recall: cannot fetch {error}", file=sys.stderr)
            return 1
        run = measure(api, repository.label, repository.language, root, args.tasks, args.seed)
        run.provenance = asdict(provenance)
        runs.append(run)
        print(f"{repository.label}: {len(run.outcomes)} tasks", file=sys.stderr)
    report: dict[str, Any] = {
        "repositories": {run.name: run.summary() for run in runs},
        "languages": by_language(runs),
        "failures": failure_examples(runs, args.examples),
    }
    if not args.no_workspace:
        report["workspace"] = run_workspace(
            args.cache, args.workspace_files, args.workspace_tasks, args.seed
        )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
