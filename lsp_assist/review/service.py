"""Running reviews: which units, one model call at a time, cache first, results placed.

A review of a document is a run over some of its units ("changed" since their last review,
"all", or changed against git HEAD). Runs of one document are queued and coalesced; every
request is answered when a run that covers it ends. Per unit: the answer cache, else one
model call — never two at once on a host, only after completions have been quiet for a
moment, and stopped (then asked again) when a completion starts. Answers for a unit that was
edited meanwhile are not placed. Nothing here knows about LSP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlparse

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.config import ReviewSettings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, FaultNotifier
from lsp_assist.review.anchoring import anchor_evidence
from lsp_assist.review.findings import DocumentFindings, PlacedFinding, finding_id
from lsp_assist.review.git_base import head_text
from lsp_assist.review.prompt import build_explain_messages, build_review_messages
from lsp_assist.review.schema import InvalidReview, RawFinding, parse_review, review_schema
from lsp_assist.review.store import Dismissals, ReviewCache, dismissal_key, review_key
from lsp_assist.review.triage import clean_message, noise_reason, severity_of
from lsp_assist.review.units import ReviewUnit, file_context, find_units, unit_at

log = logging.getLogger(__name__)

Scope = Literal["changed", "all", "git", "cached"]
_SCOPE_RANK = {"cached": 0, "changed": 1, "git": 2, "all": 3}

QUIET_BEFORE_REVIEW_S = 0.5
SEED = 42
NUM_PREDICT = 768
MAX_UNITS_PER_RUN = 50
CACHE_SAVE_DELAY_S = 1.0


class ReviewProgress(Protocol):
    async def begin(self, title: str) -> None: ...
    def report(self, message: str, percentage: int) -> None: ...
    def end(self, message: str) -> None: ...


class _NoProgress:
    async def begin(self, title: str) -> None:
        return None

    def report(self, message: str, percentage: int) -> None:
        return None

    def end(self, message: str) -> None:
        return None


@dataclass
class RunStats:
    units: int = 0
    calls: int = 0
    cached: int = 0
    invalid: int = 0
    dropped_unanchored: int = 0
    dropped_noise: int = 0
    stale: int = 0
    backend_ms: float = 0.0


@dataclass
class _InFlight:
    """The unit whose model call is running, in current document offsets."""

    start: int
    end: int
    call: asyncio.Task[Any] | None = None
    edited: bool = False


@dataclass
class _DocumentState:
    findings: DocumentFindings = field(default_factory=DocumentFindings)
    reviewed: dict[str, str] = field(default_factory=dict)
    """Unit name → fingerprint of its last review."""
    runner: asyncio.Task[None] | None = None
    pending: Scope | None = None
    waiters: list[asyncio.Future[RunStats]] = field(default_factory=list)
    in_flight: _InFlight | None = None
    idle_timer: asyncio.TimerHandle | None = None
    units: list[ReviewUnit] = field(default_factory=list)
    units_of: str | None = None
    """The text `units` were found in."""


class _Preempted(Exception):
    """A completion started: the review call stopped and will be asked again."""


class _Edited(Exception):
    """The unit was edited while its review was in flight: its answer would be stale."""


class ReviewService:
    def __init__(
        self,
        *,
        backend: Callable[[], OllamaBackend],
        settings: Callable[[], ReviewSettings],
        document: Callable[[str], Document | None],
        activity: CompletionActivity,
        notifier: FaultNotifier,
        on_findings: Callable[[str], None],
        on_status: Callable[[dict[str, Any]], None] = lambda status: None,
        progress: Callable[[], ReviewProgress] = _NoProgress,
        state_dir: Path | None = None,
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._document = document
        self._activity = activity
        self._notifier = notifier
        self._on_findings = on_findings
        self._on_status = on_status
        self._progress = progress
        self.cache = ReviewCache(state_dir / "review-cache.json" if state_dir else None)
        self.dismissals = Dismissals(state_dir / "dismissed.json" if state_dir else None)
        self._documents: dict[str, _DocumentState] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._cache_save: asyncio.TimerHandle | None = None

    def _save_cache_soon(self) -> None:
        """Writes the answer cache a moment after the last review ends, off the path of the
        diagnostics that review is about to deliver."""
        if self._cache_save is not None:
            self._cache_save.cancel()
        self._cache_save = asyncio.get_running_loop().call_later(
            CACHE_SAVE_DELAY_S, self.cache.save
        )

    # -- what the editor sees ------------------------------------------------------------------

    def findings(self, uri: str) -> list[PlacedFinding]:
        state = self._documents.get(uri)
        return state.findings.all() if state else []

    def finding(self, uri: str, finding_id: str) -> PlacedFinding | None:
        state = self._documents.get(uri)
        return state.findings.get(finding_id) if state else None

    # -- requests --------------------------------------------------------------------------------

    def request(self, uri: str, scope: Scope) -> asyncio.Future[RunStats]:
        """Queues a review of `uri`; the future resolves when a run covering it has ended."""
        state = self._documents.setdefault(uri, _DocumentState())
        future: asyncio.Future[RunStats] = asyncio.get_running_loop().create_future()
        state.waiters.append(future)
        if state.pending is None or _SCOPE_RANK[scope] > _SCOPE_RANK[state.pending]:
            state.pending = scope
        if state.runner is None or state.runner.done():
            state.runner = asyncio.get_running_loop().create_task(self._run_queue(uri, state))
        return future

    async def _run_queue(self, uri: str, state: _DocumentState) -> None:
        while state.pending is not None:
            scope, state.pending = state.pending, None
            waiters, state.waiters = state.waiters, []
            try:
                stats = await self._run(uri, state, scope)
            except asyncio.CancelledError:
                for waiter in waiters + state.waiters:
                    if not waiter.done():
                        waiter.cancel()
                raise
            except Exception as exc:
                log.exception("review of %s failed", uri)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(stats)

    async def _run(self, uri: str, state: _DocumentState, scope: Scope) -> RunStats:
        stats = RunStats()
        document = self._document(uri)
        settings = self._settings()
        if document is None or document.tree is None or not settings.enabled:
            return stats
        units = self._current_units(state, document)
        if state.findings.keep_units({u.name for u in units}):
            self._on_findings(uri)
        todo = await self._units_to_review(document, units, state, scope)
        if len(todo) > MAX_UNITS_PER_RUN:
            log.info(
                "review of %s: %d functions changed, reviewing the first %d",
                uri,
                len(todo),
                MAX_UNITS_PER_RUN,
            )
            todo = todo[:MAX_UNITS_PER_RUN]
        stats.units = len(todo)
        if not todo:
            return stats
        started = time.perf_counter()
        name = uri.rsplit("/", 1)[-1]
        context = file_context(document.tree, document.text)
        progress: ReviewProgress | None = None
        for done, unit in enumerate(todo):
            key = self._key(unit, context, settings)
            answer = self.cache.get(key)
            if answer is not None:
                stats.cached += 1
            elif scope == "cached":
                continue
            else:
                if progress is None:
                    progress = self._progress()
                    await progress.begin(f"Reviewing {name}")
                progress.report(
                    f"Reviewing {name}: {done + 1}/{len(todo)} functions",
                    done * 100 // len(todo),
                )
                self._on_status(
                    {"state": "reviewing", "uri": uri, "done": done, "total": len(todo)}
                )
                try:
                    answer = await self._ask_model(uri, state, unit, context, settings, stats)
                except _Edited:
                    stats.stale += 1
                    log.info("review of %s in %s dropped: edited while in flight", unit.name, uri)
                    continue
                except BackendError as exc:
                    log.warning("review failed: %s", exc)
                    self._on_status({"state": "error", "message": exc.user_message()})
                    self._notifier.report(exc, scope=f"review:{settings.model}")
                    break
                if answer is None:
                    continue
                self.cache.put(key, answer)
            if self._place(uri, state, unit, answer, settings, stats):
                self._on_findings(uri)
        self._save_cache_soon()
        total = len(state.findings.all())
        if progress is not None:
            progress.end(f"{name}: {total} finding{'s' if total != 1 else ''}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._on_status(
            {
                "state": "reviewed",
                "uri": uri,
                "findings": total,
                "units": stats.units,
                "calls": stats.calls,
                "cached": stats.cached,
                "invalid": stats.invalid,
                "unanchored": stats.dropped_unanchored,
                "ms": round(elapsed_ms, 1),
                "backendMs": round(stats.backend_ms, 1),
            }
        )
        log.info(
            "review uri=%s units=%d calls=%d cached=%d invalid=%d unanchored=%d noise=%d "
            "stale=%d findings=%d ms=%.0f",
            uri, stats.units, stats.calls, stats.cached, stats.invalid,
            stats.dropped_unanchored, stats.dropped_noise, stats.stale, total, elapsed_ms,
        )  # fmt: skip
        return stats

    async def _units_to_review(
        self, document: Document, units: list[ReviewUnit], state: _DocumentState, scope: Scope
    ) -> list[ReviewUnit]:
        if scope in ("all", "cached"):
            return units
        if scope == "changed":
            return [u for u in units if state.reviewed.get(u.name) != u.fingerprint]
        path = _path_of(document.uri)
        base = await head_text(path) if path is not None else None
        if base is None:
            return units
        committed = Document(document.uri, base, language_id=document.language.name)
        if committed.tree is None:
            return units
        before = {
            u.name: u.fingerprint for u in find_units(committed.tree, base, committed.language)
        }
        return [u for u in units if before.get(u.name) != u.fingerprint]

    def _current_units(self, state: _DocumentState, document: Document) -> list[ReviewUnit]:
        """The document's units now. Finding them walks and hashes the whole file, and a run
        asks again after every answer, so they are kept until the text changes."""
        if state.units_of is not document.text:
            tree = document.tree
            state.units = find_units(tree, document.text, document.language) if tree else []
            state.units_of = document.text
        return state.units

    def _key(self, unit: ReviewUnit, context: str, settings: ReviewSettings) -> str:
        return review_key(
            unit_fingerprint=unit.fingerprint,
            context=context,
            header=unit.header,
            model=settings.model,
            options=self._options(settings),
        )

    def _options(self, settings: ReviewSettings) -> dict[str, Any]:
        return {
            "temperature": 0,
            "seed": SEED,
            "num_ctx": settings.numCtx,
            "num_predict": NUM_PREDICT,
        }

    # -- the model call ----------------------------------------------------------------------

    async def _ask_model(
        self,
        uri: str,
        state: _DocumentState,
        unit: ReviewUnit,
        context: str,
        settings: ReviewSettings,
        stats: RunStats,
    ) -> list[RawFinding] | None:
        """The validated findings for `unit`, or None when the model twice failed to answer
        in the schema (logged). Raises `_Edited` or a `BackendError`."""
        document = self._document(uri)
        messages = build_review_messages(
            unit,
            path=uri.rsplit("/", 1)[-1],
            language=document.language.name if document else "code",
            context=context,
            max_findings=settings.maxFindings,
        )
        schema = review_schema(settings.maxFindings)
        options = self._options(settings)
        in_flight = state.in_flight = _InFlight(unit.start, unit.end)
        try:
            for attempt in range(2):
                if attempt:
                    # Same prompt, another seed: at temperature 0 an identical retry would
                    # give the identical broken answer.
                    options = {**options, "seed": SEED + attempt}
                answer = await self._call_yielding(in_flight, settings, messages, schema, options)
                stats.calls += 1
                stats.backend_ms += answer.backend_ms
                if answer.done_reason == "length":
                    stats.invalid += 1
                    log.info("review of %s stopped at the length limit (attempt %d)",
                             unit.name, attempt + 1)  # fmt: skip
                    continue
                try:
                    return parse_review(answer.content, settings.maxFindings)
                except InvalidReview as exc:
                    stats.invalid += 1
                    log.info("review of %s: invalid answer (attempt %d): %s: %.200r",
                             unit.name, attempt + 1, exc, answer.content)  # fmt: skip
            log.warning("review of %s dropped: no valid answer after a retry", unit.name)
            return None
        finally:
            state.in_flight = None

    async def _call_yielding(
        self,
        in_flight: _InFlight,
        settings: ReviewSettings,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        options: dict[str, Any],
    ) -> Any:
        backend = self._backend()
        lock = self._host_locks.setdefault(backend.host, asyncio.Lock())
        async with lock:
            while True:
                await self._activity.wait_quiet(QUIET_BEFORE_REVIEW_S)
                if in_flight.edited:
                    raise _Edited
                call = asyncio.ensure_future(
                    backend.chat(
                        model=settings.model, messages=messages, options=options, format=schema
                    )
                )
                in_flight.call = call
                preempted = False

                def preempt(call: asyncio.Future[Any] = call) -> None:
                    nonlocal preempted
                    if not preempted:  # a second cancel would interrupt the call's clean-up
                        preempted = True
                        call.cancel()

                unsubscribe = self._activity.on_start(preempt)
                try:
                    return await call
                except asyncio.CancelledError:
                    if in_flight.edited:
                        raise _Edited from None
                    if not preempted:  # we were cancelled ourselves
                        call.cancel()
                        raise
                    log.debug("review call gave way to a completion; asking again")
                finally:
                    unsubscribe()
                    in_flight.call = None

    # -- placing findings --------------------------------------------------------------------

    def _place(
        self,
        uri: str,
        state: _DocumentState,
        reviewed: ReviewUnit,
        answer: list[RawFinding],
        settings: ReviewSettings,
        stats: RunStats,
    ) -> bool:
        """Anchors the answer in the unit as it is now; returns whether findings changed."""
        document = self._document(uri)
        if document is None or document.tree is None:
            return False
        current = next(
            (u for u in self._current_units(state, document) if u.name == reviewed.name), None
        )
        if current is None or current.fingerprint != reviewed.fingerprint:
            stats.stale += 1
            log.info("review of %s not placed: the function changed meanwhile", reviewed.name)
            return False
        placed: list[PlacedFinding] = []
        seen: set[tuple[int, int, str]] = set()
        for raw in answer:
            if (reason := noise_reason(raw, settings.minConfidence)) is not None:
                stats.dropped_noise += 1
                log.debug("finding dropped (%s): %s", reason, raw.message)
                continue
            anchor = anchor_evidence(current.text, raw.evidence, raw.line)
            if anchor is None:
                stats.dropped_unanchored += 1
                log.info("finding dropped: its evidence is not in %s: %.120r",
                         current.name, raw.evidence)  # fmt: skip
                continue
            start, end = current.start + anchor.start, current.start + anchor.end
            evidence = document.text[start:end]
            if (start, end, raw.category) in seen:
                continue
            if dismissal_key(current.fingerprint, evidence, raw.category) in self.dismissals:
                continue
            seen.add((start, end, raw.category))
            placed.append(
                PlacedFinding(
                    id=finding_id(current.name, evidence, raw.category),
                    unit_name=current.name,
                    start=start,
                    end=end,
                    evidence=evidence,
                    raw=raw,
                    severity=severity_of(raw.category, raw.confidence),
                    message=clean_message(raw.message),
                )
            )
        state.reviewed[current.name] = current.fingerprint
        return state.findings.replace_unit(current.name, placed)

    # -- following the document ----------------------------------------------------------------

    def document_opened(self, uri: str) -> None:
        """Shows what the cache already knows about this code (no model call)."""
        if self._settings().enabled:
            self.request(uri, "cached")

    def document_edited(self, uri: str, begin: int, finish: int, inserted: int) -> None:
        """One edit (old text[begin:finish] → `inserted` chars): findings move with it."""
        state = self._documents.get(uri)
        document = self._document(uri)
        if state is None or document is None:
            return
        if state.findings.edited(begin, finish, inserted, document.text):
            self._on_findings(uri)
        if (in_flight := state.in_flight) is not None:
            if finish < in_flight.start:
                delta = inserted - (finish - begin)
                in_flight.start += delta
                in_flight.end += delta
            elif begin <= in_flight.end and not in_flight.edited:
                in_flight.edited = True
                if in_flight.call is not None:
                    in_flight.call.cancel()  # once: a second would interrupt its clean-up

    def document_replaced(self, uri: str) -> None:
        """The whole text changed at once: keep findings whose quote is still in their unit."""
        state = self._documents.get(uri)
        document = self._document(uri)
        if state is None or document is None or document.tree is None:
            return
        units = {u.name: u for u in self._current_units(state, document)}
        changed = False
        for finding in state.findings.all():
            unit = units.get(finding.unit_name)
            anchor = anchor_evidence(unit.text, finding.evidence, 0) if unit else None
            if unit is None or anchor is None or anchor.method != "exact":
                changed |= state.findings.remove(finding.id)
        if state.in_flight is not None and not state.in_flight.edited:
            state.in_flight.edited = True
            if state.in_flight.call is not None:
                state.in_flight.call.cancel()
        if changed:
            self._on_findings(uri)

    def schedule_idle_review(self, uri: str) -> None:
        idle_ms = self._settings().idleMs
        if idle_ms <= 0 or not self._settings().enabled:
            return
        state = self._documents.setdefault(uri, _DocumentState())
        if state.idle_timer is not None:
            state.idle_timer.cancel()
        state.idle_timer = asyncio.get_running_loop().call_later(
            idle_ms / 1000, lambda: self.request(uri, "changed")
        )

    def document_closed(self, uri: str) -> None:
        state = self._documents.pop(uri, None)
        if state is None:
            return
        if state.idle_timer is not None:
            state.idle_timer.cancel()
        if state.runner is not None:
            state.runner.cancel()

    # -- actions ---------------------------------------------------------------------------------

    def dismiss(self, uri: str, finding_id: str) -> bool:
        """Forgets a finding for good (for this code): it is not shown again after a restart."""
        state = self._documents.get(uri)
        document = self._document(uri)
        finding = state.findings.get(finding_id) if state else None
        if state is None or finding is None or document is None or document.tree is None:
            return False
        unit = unit_at(self._current_units(state, document), finding.start)
        fingerprint = unit.fingerprint if unit is not None else ""
        self.dismissals.add(dismissal_key(fingerprint, finding.evidence, finding.raw.category))
        state.findings.remove(finding_id)
        self._on_findings(uri)
        return True

    async def explain(self, uri: str, finding_id: str) -> str | None:
        state = self._documents.get(uri)
        finding = state.findings.get(finding_id) if state else None
        document = self._document(uri)
        if state is None or finding is None or document is None or document.tree is None:
            return None
        unit = unit_at(self._current_units(state, document), finding.start)
        settings = self._settings()
        messages = build_explain_messages(
            unit.text if unit else finding.evidence,
            language=document.language.name,
            evidence=finding.evidence,
            message=finding.message,
            trigger=finding.raw.trigger,
        )
        options = {**self._options(settings), "num_predict": 256}
        in_flight = _InFlight(finding.start, finding.end)
        try:
            answer = await self._call_yielding(in_flight, settings, messages, None, options)
        except BackendError as exc:
            self._notifier.report(exc, scope=f"review:{settings.model}")
            return None
        except _Edited:
            return None
        return str(answer.content).strip()

    async def shutdown(self) -> None:
        runners = [s.runner for s in self._documents.values() if s.runner is not None]
        for runner in runners:
            runner.cancel()
        if runners:
            await asyncio.wait(runners, timeout=2)
        if self._cache_save is not None:
            self._cache_save.cancel()
        self.cache.save()


def _path_of(uri: str) -> Path | None:
    if not uri.startswith("file:"):
        return None
    return Path(unquote(urlparse(uri).path))
