"""Placing a review answer in the document: noise dropped, each quote anchored in its unit.

An answer is about the unit as it was sent to the model. It is placed only if that unit is
still there with the same fingerprint (the same code, comments and layout aside); then each
finding is anchored by its quote inside the unit as it is now, and a finding the user
dismissed for this code stays hidden.
"""

from __future__ import annotations

import logging

from lsp_assist.review.anchoring import anchor_evidence
from lsp_assist.review.findings import PlacedFinding, finding_id
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.state import RunStats
from lsp_assist.review.store import Dismissals, dismissal_key
from lsp_assist.review.triage import clean_message, noise_reason, severity_of
from lsp_assist.review.unit_scan import UnitScan
from lsp_assist.review.units import ReviewUnit

log = logging.getLogger(__name__)


def place_answer(
    scan: UnitScan,
    reviewed: ReviewUnit,
    answer: list[RawFinding],
    *,
    min_confidence: str,
    dismissed: Dismissals,
    stats: RunStats,
) -> list[PlacedFinding] | None:
    """The findings of `answer` in `scan`'s text (the document's text now), or None when the
    unit changed since it was reviewed (counted as stale)."""
    current = scan.named(reviewed.name)
    if current is None or current.fingerprint != reviewed.fingerprint:
        stats.stale += 1
        log.info("review of %s not placed: the function changed meanwhile", reviewed.name)
        return None
    placed: list[PlacedFinding] = []
    seen: set[tuple[int, int, str]] = set()
    for raw in answer:
        if (reason := noise_reason(raw, min_confidence)) is not None:
            stats.dropped_noise += 1
            log.debug("finding dropped (%s): %s", reason, raw.message)
            continue
        anchor = anchor_evidence(current.text, raw.evidence, raw.line)
        if anchor is None:
            stats.dropped_unanchored += 1
            # No code in the log at the default level: the quote only at debug.
            log.info("finding dropped: its evidence is not in %s", current.name)
            log.debug("the evidence not found: %.120r", raw.evidence)
            continue
        start, end = current.start + anchor.start, current.start + anchor.end
        evidence = scan.text[start:end]
        if (start, end, raw.category) in seen:
            continue
        if dismissal_key(current.fingerprint, evidence, raw.category) in dismissed:
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
                unit_start=current.start,
                unit_end=current.end,
            )
        )
    return placed
