"""What the user can do with a finding besides fixing it: dismiss it, or ask why.

A dismissal is kept for the code it was about (the unit's fingerprint, the quote, the
category), so the same remark about the same code never comes back, even after a restart;
about changed code it may. The fingerprint is the unit's as it is when dismissed: when the
text changed since units were last found, they are found again (in the worker) before the
dismissal is recorded, and meanwhile the finding is kept from coming back.
"""

from __future__ import annotations

import asyncio
import logging

from lsp_assist.config import ReviewSettings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, FaultNotifier
from lsp_assist.review.findings import PlacedFinding
from lsp_assist.review.model_call import EditedMeanwhile, ModelCalls, review_options
from lsp_assist.review.prompt import build_explain_messages
from lsp_assist.review.state import DocumentState, InFlight
from lsp_assist.review.state_writes import StateWrites
from lsp_assist.review.store import Dismissals, dismissal_key
from lsp_assist.review.unit_scan import UnitScan

log = logging.getLogger(__name__)

EXPLAIN_NUM_PREDICT = 256


class FindingActions:
    def __init__(
        self,
        *,
        model: ModelCalls,
        dismissals: Dismissals,
        writes: StateWrites,
        notifier: FaultNotifier,
    ) -> None:
        self._model = model
        self._dismissals = dismissals
        self._writes = writes
        self._notifier = notifier
        self._recording: set[asyncio.Task[None]] = set()

    def dismiss(self, document: Document, state: DocumentState, finding: PlacedFinding) -> None:
        """Hides the finding now and for good (the caller re-publishes the findings)."""
        state.findings.remove(finding.id)
        scan = state.units.known(document.text)
        if scan is not None:
            self._record(scan, finding)
            return
        state.dismissing.add(finding.id)
        task = asyncio.get_running_loop().create_task(self._record_later(document, state, finding))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _record_later(
        self, document: Document, state: DocumentState, finding: PlacedFinding
    ) -> None:
        try:
            self._record(await state.units.current(document), finding)
        finally:
            state.dismissing.discard(finding.id)

    def _record(self, scan: UnitScan | None, finding: PlacedFinding) -> None:
        unit = scan.named(finding.unit_name) if scan is not None else None
        fingerprint = unit.fingerprint if unit is not None else ""
        self._dismissals.add(dismissal_key(fingerprint, finding.evidence, finding.raw.category))
        self._writes.dismissals_changed()

    async def explain(
        self, document: Document, finding: PlacedFinding, settings: ReviewSettings
    ) -> str | None:
        """A short explanation from the model, with the finding's unit as it is now (its span
        follows edits, so no unit scan is needed)."""
        unit_text = document.text[finding.unit_start : finding.unit_end] or finding.evidence
        messages = build_explain_messages(
            unit_text,
            language=document.language.name,
            evidence=finding.evidence,
            message=finding.message,
            trigger=finding.raw.trigger,
        )
        options = {**review_options(settings), "num_predict": EXPLAIN_NUM_PREDICT}
        in_flight = InFlight(finding.start, finding.end)
        try:
            answer = await self._model.call(in_flight, settings.model, messages, None, options)
        except BackendError as exc:
            self._notifier.report(exc, scope=f"review:{settings.model}")
            return None
        except EditedMeanwhile:
            return None
        return answer.content.strip()

    async def shutdown(self) -> None:
        """Lets dismissals that wait for their units be recorded (bounded)."""
        if self._recording:
            await asyncio.wait(list(self._recording), timeout=2)
