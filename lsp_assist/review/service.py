"""Review as the session sees it: requests, findings, and the document's changes.

A review of a document is a run over some of its units ("changed" since their last review,
"all", changed against git HEAD, or "cached" answers only). The parts, one module each:

* `run_queue`: one run at a time per document, requests coalesced, every request answered;
* `unit_scan`: the units, found in the worker, incrementally;
* `runner`: one run: the cache first, then `model_call` (which yields to completions), then
  `placing` the answer in the text as it is now;
* `following`: findings and the call in flight follow edits, with no parse;
* `finding_actions`: dismiss and explain; `state_writes`: the state files, from the worker.

Nothing here knows about LSP, and nothing here parses or scans a file on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.config import ReviewSettings
from lsp_assist.documents import Document
from lsp_assist.errors import FaultNotifier
from lsp_assist.review.callees import SymbolLookup
from lsp_assist.review.finding_actions import FindingActions
from lsp_assist.review.findings import PlacedFinding
from lsp_assist.review.following import follow_edit, follow_replacement
from lsp_assist.review.model_call import ChatBackend, ModelCalls
from lsp_assist.review.run_queue import DocumentRuns
from lsp_assist.review.runner import DocumentReviewer
from lsp_assist.review.state import (
    DocumentState,
    NoProgress,
    ReviewProgress,
    RunStats,
    Scope,
)
from lsp_assist.review.state_writes import StateWrites
from lsp_assist.review.store import Dismissals, ReviewCache
from lsp_assist.review.unit_scan import DocumentUnits
from lsp_assist.status import Status
from lsp_assist.workers import BackgroundWorker

__all__ = ["ReviewProgress", "ReviewService", "RunStats", "Scope"]

log = logging.getLogger(__name__)


class ReviewService:
    def __init__(
        self,
        *,
        backend: Callable[[], ChatBackend],
        settings: Callable[[], ReviewSettings],
        document: Callable[[str], Document | None],
        activity: CompletionActivity,
        notifier: FaultNotifier,
        on_findings: Callable[[str], None],
        on_status: Callable[[Status], None] = lambda status: None,
        progress: Callable[[], ReviewProgress] = NoProgress,
        state_dir: Path | None = None,
        worker: BackgroundWorker | None = None,
        callees: SymbolLookup = lambda name: (),
    ) -> None:
        self._settings = settings
        self._document = document
        self._on_findings = on_findings
        self._own_worker = worker is None
        self._worker = worker if worker is not None else BackgroundWorker("lsp-assist-review")
        self.cache = ReviewCache(state_dir / "review-cache.json" if state_dir else None)
        self.dismissals = Dismissals(state_dir / "dismissed.json" if state_dir else None)
        self._writes = StateWrites(self._worker, self.cache, self.dismissals)
        model = ModelCalls(backend, activity)
        self._reviewer = DocumentReviewer(
            worker=self._worker,
            model=model,
            cache=self.cache,
            dismissals=self.dismissals,
            notifier=notifier,
            on_findings=on_findings,
            on_status=on_status,
            progress=progress,
            cache_changed=self._writes.cache_changed,
            callees=callees,
        )
        self._actions = FindingActions(
            model=model, dismissals=self.dismissals, writes=self._writes, notifier=notifier
        )
        self._documents: dict[str, DocumentState] = {}

    def _state(self, uri: str) -> DocumentState:
        state = self._documents.get(uri)
        if state is None:
            document = self._document(uri)

            async def run(scope: Scope) -> RunStats:
                return await self._run(uri, scope)

            state = self._documents[uri] = DocumentState(
                units=DocumentUnits(self._worker),
                runs=DocumentRuns(uri, run),
                seen_text=document.text if document is not None else "",
            )
        return state

    async def _run(self, uri: str, scope: Scope) -> RunStats:
        document = self._document(uri)
        state = self._documents.get(uri)
        settings = self._settings()
        if document is None or state is None or not settings.enabled:
            return RunStats()
        return await self._reviewer.run(document, state, settings, scope)

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
        return self._state(uri).runs.request(scope)

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
        if follow_edit(state, begin, finish, inserted, document.text):
            self._on_findings(uri)

    def document_replaced(self, uri: str) -> None:
        """The whole text changed at once: followed as the one edit it amounts to."""
        state = self._documents.get(uri)
        document = self._document(uri)
        if state is None or document is None:
            return
        if follow_replacement(state, document.text):
            self._on_findings(uri)

    def schedule_idle_review(self, uri: str) -> None:
        settings = self._settings()
        if settings.idleMs <= 0 or not settings.enabled:
            return
        state = self._state(uri)
        if state.idle_timer is not None:
            state.idle_timer.cancel()
        state.idle_timer = asyncio.get_running_loop().call_later(
            settings.idleMs / 1000, lambda: self.request(uri, "changed")
        )

    def document_closed(self, uri: str) -> None:
        state = self._documents.pop(uri, None)
        if state is None:
            return
        if state.idle_timer is not None:
            state.idle_timer.cancel()
        state.runs.cancel()

    # -- actions ---------------------------------------------------------------------------------

    def dismiss(self, uri: str, finding_id: str) -> bool:
        """Forgets a finding for good (for this code): it is not shown again after a restart."""
        state = self._documents.get(uri)
        document = self._document(uri)
        finding = state.findings.get(finding_id) if state else None
        if state is None or finding is None or document is None:
            return False
        self._actions.dismiss(document, state, finding)
        self._on_findings(uri)
        return True

    async def explain(self, uri: str, finding_id: str) -> str | None:
        state = self._documents.get(uri)
        finding = state.findings.get(finding_id) if state else None
        document = self._document(uri)
        if finding is None or document is None:
            return None
        return await self._actions.explain(document, finding, self._settings())

    async def shutdown(self) -> None:
        """Stops the runs and waits until the state files are on disk."""
        runners = [s.runs.runner for s in self._documents.values() if s.runs.runner is not None]
        for runner in runners:
            runner.cancel()
        if runners:
            await asyncio.wait(runners, timeout=2)
        await self._actions.shutdown()
        await self._writes.flush()
        if self._own_worker:
            self._worker.close()
