"""What review keeps per open document, and the small types its parts share.

A document's state is changed only on the loop: by the quick notifications (edits, which the
findings and the call in flight follow) and by the document's one run at a time. Heavy work
(parsing, finding units) happens in the worker on snapshots and comes back as a `UnitScan`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from lsp_assist.review.findings import DocumentFindings
from lsp_assist.review.run_queue import DocumentRuns, Scope
from lsp_assist.review.unit_scan import DocumentUnits

__all__ = ["DocumentState", "InFlight", "NoProgress", "ReviewProgress", "RunStats", "Scope"]


class ReviewProgress(Protocol):
    async def begin(self, title: str) -> None: ...
    def report(self, message: str, percentage: int) -> None: ...
    def end(self, message: str) -> None: ...


class NoProgress:
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
    too_big: bool = False
    """The document is too big to analyse (`Document.too_big`): nothing was reviewed."""


@dataclass
class InFlight:
    """The unit whose model call is running, in current document offsets."""

    start: int
    end: int
    call: asyncio.Future[Any] | None = None
    edited: bool = False

    def stop(self) -> None:
        """The unit was edited: its answer would be stale. Stops the call (once: a second
        cancel would interrupt its clean-up)."""
        if not self.edited:
            self.edited = True
            if self.call is not None:
                self.call.cancel()


@dataclass
class DocumentState:
    units: DocumentUnits
    runs: DocumentRuns[RunStats]
    seen_text: str
    """The text after the last edit review was told about: a whole-text replacement is
    followed as the one edit that turns this into the new text."""
    findings: DocumentFindings = field(default_factory=DocumentFindings)
    reviewed: dict[str, str] = field(default_factory=dict)
    """Unit name → fingerprint of its last review."""
    in_flight: InFlight | None = None
    idle_timer: asyncio.TimerHandle | None = None
    dismissing: set[str] = field(default_factory=set)
    """Ids of findings dismissed while the units were being found: not placed again."""
    said_too_big: bool = False
