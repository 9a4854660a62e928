"""Where an answer computed on a snapshot goes, once the document may have moved on.

A request's answer is computed in the snapshot it arrived with, and given in that snapshot's
coordinates — the request's own — whatever changed meanwhile: a client relates a response to
the state it asked in (and drops it, or re-asks, if it has moved on). Never a position mixed
from two versions, as happened when handlers read the live document after awaiting the model.
A document closed meanwhile gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsp_assist.documents import TextView


@dataclass(frozen=True)
class Placement:
    view: TextView
    """The version whose coordinates the answer is in."""
    offset: int
    text: str


def place_suggestion(
    snapshot: TextView, offset: int, text: str, current: TextView | None
) -> Placement | None:
    """Where to put `text`, suggested at `offset` of `snapshot`; None when the document is
    gone."""
    if current is None:
        return None
    return Placement(snapshot, offset, text)
