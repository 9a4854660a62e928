"""One review run of a document: which units, the cache first, then the model, then placing.

The units come from the worker (`DocumentUnits`), so the loop only decides and places. Each
unit is looked up again by name just before its call and just after its answer: the user may
type while a run goes on, and an answer is placed only in the text it belongs to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from lsp_assist.config import ReviewSettings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, FaultNotifier
from lsp_assist.review.callees import SymbolLookup, callee_signatures
from lsp_assist.review.git_base import head_text
from lsp_assist.review.model_call import EditedMeanwhile, ModelCalls, review_options
from lsp_assist.review.placing import place_answer
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.state import DocumentState, InFlight, ReviewProgress, RunStats, Scope
from lsp_assist.review.store import Dismissals, ReviewCache, review_key
from lsp_assist.review.unit_scan import UnitScan, units_of_text
from lsp_assist.review.units import ReviewUnit
from lsp_assist.status import Status
from lsp_assist.uris import file_name_of_uri, path_of_uri
from lsp_assist.workers import BackgroundWorker

log = logging.getLogger(__name__)

MAX_UNITS_PER_RUN = 50


class DocumentReviewer:
    def __init__(
        self,
        *,
        worker: BackgroundWorker,
        model: ModelCalls,
        cache: ReviewCache,
        dismissals: Dismissals,
        notifier: FaultNotifier,
        on_findings: Callable[[str], None],
        on_status: Callable[[Status], None],
        progress: Callable[[], ReviewProgress],
        cache_changed: Callable[[], None],
        callees: SymbolLookup = lambda name: (),
    ) -> None:
        self._callees = callees
        self._worker = worker
        self._model = model
        self._cache = cache
        self._dismissals = dismissals
        self._notifier = notifier
        self._on_findings = on_findings
        self._on_status = on_status
        self._progress = progress
        self._cache_changed = cache_changed

    async def run(
        self, document: Document, state: DocumentState, settings: ReviewSettings, scope: Scope
    ) -> RunStats:
        stats = RunStats()
        uri = document.uri
        if document.too_big:
            stats.too_big = True
            if not state.said_too_big:
                state.said_too_big = True
                log.info("review of %s skipped: %d characters is too big to analyse",
                         uri, len(document.text))  # fmt: skip
            return stats
        scan = await state.units.current(document)
        if scan is None:
            return stats
        if state.findings.keep_units({u.name for u in scan.units}):
            self._on_findings(uri)
        todo = await self._units_to_review(document, scan, state, scope)
        if len(todo) > MAX_UNITS_PER_RUN:
            log.info("review of %s: %d functions changed, reviewing the first %d",
                     uri, len(todo), MAX_UNITS_PER_RUN)  # fmt: skip
            todo = todo[:MAX_UNITS_PER_RUN]
        stats.units = len(todo)
        if not todo:
            return stats
        started = time.perf_counter()
        name = file_name_of_uri(uri)
        progress: ReviewProgress | None = None
        try:
            for done, wanted in enumerate(todo):
                scan = await state.units.current(document)
                unit = scan.named(wanted.name) if scan is not None else None
                if scan is None or unit is None:
                    continue  # gone meanwhile
                key = self._key(unit, self._context(scan.context, unit), settings)
                answer = self._cache.get(key)
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
                    self._on_status(Status(state="reviewing", uri=uri, done=done, total=len(todo)))
                    try:
                        answer = await self._ask(document, state, unit, settings, stats)
                    except EditedMeanwhile:
                        stats.stale += 1
                        log.info(
                            "review of %s in %s dropped: edited while in flight", unit.name, uri
                        )
                        continue
                    except BackendError as exc:
                        log.warning("review failed: %s", exc)
                        self._on_status(Status(state="error", message=exc.user_message()))
                        self._notifier.report(exc, scope=f"review:{settings.model}")
                        break
                    if answer is None:
                        continue
                    self._cache.put(key, answer)
                    self._cache_changed()
                if await self._place(document, state, unit, answer, settings, stats):
                    self._on_findings(uri)
        except asyncio.CancelledError:
            # The document closed, or the session ends: the editor's progress ends all the
            # same (it would spin on, and pygls would keep its token).
            if progress is not None:
                progress.end(f"{name}: stopped")
            raise
        total = len(state.findings.all())
        if progress is not None:
            progress.end(f"{name}: {total} finding{'s' if total != 1 else ''}")
        self._report(uri, stats, total, (time.perf_counter() - started) * 1000)
        return stats

    async def _ask(
        self,
        document: Document,
        state: DocumentState,
        wanted: ReviewUnit,
        settings: ReviewSettings,
        stats: RunStats,
    ) -> list[RawFinding] | None:
        """The model's answer about `wanted`, which must still be there, unchanged: its
        offsets are taken now, in the text that the edits followed from here on apply to."""
        scan = await state.units.current(document)
        unit = scan.named(wanted.name) if scan is not None else None
        if scan is None or unit is None or unit.fingerprint != wanted.fingerprint:
            raise EditedMeanwhile
        in_flight = state.in_flight = InFlight(unit.start, unit.end)
        try:
            return await self._model.review(
                unit,
                path=file_name_of_uri(document.uri),
                language=document.language.name,
                context=self._context(scan.context, unit),
                settings=settings,
                in_flight=in_flight,
                stats=stats,
            )
        finally:
            state.in_flight = None

    async def _place(
        self,
        document: Document,
        state: DocumentState,
        reviewed: ReviewUnit,
        answer: list[RawFinding],
        settings: ReviewSettings,
        stats: RunStats,
    ) -> bool:
        """Places the answer in the text as it is now; returns whether findings changed."""
        scan = await state.units.current(document)
        if scan is None:
            stats.stale += 1
            return False
        placed = place_answer(
            scan,
            reviewed,
            answer,
            min_confidence=settings.minConfidence,
            dismissed=self._dismissals,
            stats=stats,
        )
        if placed is None:
            return False
        placed = [f for f in placed if f.id not in state.dismissing]
        state.reviewed[reviewed.name] = reviewed.fingerprint
        return state.findings.replace_unit(reviewed.name, placed)

    async def _units_to_review(
        self, document: Document, scan: UnitScan, state: DocumentState, scope: Scope
    ) -> list[ReviewUnit]:
        units = list(scan.units)
        if scope in ("all", "cached"):
            return units
        if scope == "changed":
            return [u for u in units if state.reviewed.get(u.name) != u.fingerprint]
        path = path_of_uri(document.uri)
        base = await head_text(path) if path is not None else None
        if base is None:
            return units
        committed = await self._worker.run(units_of_text, base, document.language)
        if committed is None:
            return units
        before = {u.name: u.fingerprint for u in committed}
        return [u for u in units if before.get(u.name) != u.fingerprint]

    def _context(self, file_context: str, unit: ReviewUnit) -> str:
        """The file's imports, then what the workspace says its callees are."""
        callees = callee_signatures(unit, self._callees)
        if not callees:
            return file_context
        block = f"Signatures of what it calls, as the workspace defines them:\n{callees}"
        return f"{file_context}\n\n{block}" if file_context else block

    def _key(self, unit: ReviewUnit, context: str, settings: ReviewSettings) -> str:
        return review_key(
            unit_fingerprint=unit.fingerprint,
            context=context,
            header=unit.header,
            model=settings.model,
            options=review_options(settings),
        )

    def _report(self, uri: str, stats: RunStats, total: int, elapsed_ms: float) -> None:
        self._on_status(
            Status(
                state="reviewed",
                uri=uri,
                findings=total,
                units=stats.units,
                calls=stats.calls,
                cached=stats.cached,
                invalid=stats.invalid,
                unanchored=stats.dropped_unanchored,
                ms=round(elapsed_ms, 1),
                backendMs=round(stats.backend_ms, 1),
            )
        )
        log.info(
            "review uri=%s units=%d calls=%d cached=%d invalid=%d unanchored=%d noise=%d "
            "stale=%d findings=%d ms=%.0f",
            uri, stats.units, stats.calls, stats.cached, stats.invalid,
            stats.dropped_unanchored, stats.dropped_noise, stats.stale, total, elapsed_ms,
        )  # fmt: skip
