"""Findings placed in a document, and how they follow its edits without a model call.

LSP diagnostics have no identity and clients differ on moving them, so the server moves them
itself: each finding is kept by unit and quoted code (`evidence`), as offsets that every edit
shifts. An edit that touches the quote keeps the finding only if the same quote is still there
next to where it was; otherwise the finding disappears, since the code it was about changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from lsp_assist.positions import utf8
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.triage import Severity


@dataclass(frozen=True)
class PlacedFinding:
    id: str
    unit_name: str
    start: int
    end: int
    """Offsets of the quoted code in the document's text."""
    evidence: str
    """The document's text at [start, end) when placed: what the finding is about."""
    raw: RawFinding
    severity: Severity
    message: str
    unit_start: int
    unit_end: int
    """Offsets of the unit the finding is in, following edits like the quote: the code a
    quick fix is checked against."""


def finding_id(unit_name: str, evidence: str, category: str) -> str:
    key = f"{unit_name}\x00{evidence.strip()}\x00{category}"
    return hashlib.sha256(utf8(key)).hexdigest()[:16]


class DocumentFindings:
    """The findings of one document, grouped by unit."""

    def __init__(self) -> None:
        self._by_unit: dict[str, list[PlacedFinding]] = {}

    def all(self) -> list[PlacedFinding]:
        return sorted(
            (f for findings in self._by_unit.values() for f in findings), key=lambda f: f.start
        )

    def get(self, finding_id: str) -> PlacedFinding | None:
        return next((f for f in self.all() if f.id == finding_id), None)

    def replace_unit(self, unit_name: str, findings: list[PlacedFinding]) -> bool:
        """The unit's findings after a review; returns whether anything changed."""
        old = self._by_unit.get(unit_name, [])
        if findings:
            self._by_unit[unit_name] = findings
        else:
            self._by_unit.pop(unit_name, None)
        return old != findings

    def keep_units(self, unit_names: set[str]) -> bool:
        """Forgets findings of units that no longer exist."""
        gone = [name for name in self._by_unit if name not in unit_names]
        for name in gone:
            del self._by_unit[name]
        return bool(gone)

    def remove(self, finding_id: str) -> bool:
        for name, findings in list(self._by_unit.items()):
            kept = [f for f in findings if f.id != finding_id]
            if len(kept) != len(findings):
                self.replace_unit(name, kept)
                return True
        return False

    def edited(self, begin: int, finish: int, inserted: int, text: str) -> bool:
        """Follows one edit: text[begin:finish] of the old text was replaced by `inserted`
        characters; `text` is the new text. Returns whether any finding moved or went."""
        if not self._by_unit:
            return False
        delta = inserted - (finish - begin)
        changed = False
        for name, findings in list(self._by_unit.items()):
            moved = []
            for finding in findings:
                placed = _follow(finding, begin, finish, inserted, delta, text)
                # Only what the editor sees counts: the unit's span moves with every keystroke.
                changed |= placed is None or placed.start != finding.start
                changed |= placed is not None and placed.end != finding.end
                if placed is not None:
                    moved.append(placed)
            self.replace_unit(name, moved)
        return changed


def _moved(offset: int, begin: int, finish: int, inserted: int, *, end: bool) -> int:
    """Where `offset` is after text[begin:finish] became `inserted` characters; an offset
    inside the replaced text goes to the start of the new text (the end, for an `end`)."""
    if offset >= finish:
        return offset + inserted - (finish - begin)
    if offset <= begin:
        return offset
    return begin + inserted if end else begin


def _follow(
    finding: PlacedFinding, begin: int, finish: int, inserted: int, delta: int, text: str
) -> PlacedFinding | None:
    if begin <= finding.unit_end:
        unit_start = _moved(finding.unit_start, begin, finish, inserted, end=False)
        unit_end = _moved(finding.unit_end, begin, finish, inserted, end=True)
        finding = replace(finding, unit_start=unit_start, unit_end=unit_end)
    if finish <= finding.start:  # the edit is before the quote
        if delta == 0:
            return finding
        return replace(finding, start=finding.start + delta, end=finding.end + delta)
    if begin >= finding.end:
        return finding  # the edit is after the quote
    # The edit touched the quote: keep it only if the same code is still right there.
    quote = finding.evidence
    low = max(0, min(finding.start, begin) - len(quote))
    high = min(len(text), max(finding.end + delta, begin + inserted) + len(quote))
    window = text[low:high]
    position = window.find(quote)
    if position < 0 or window.find(quote, position + 1) >= 0:
        return None
    start = low + position
    return replace(finding, start=start, end=start + len(quote))
