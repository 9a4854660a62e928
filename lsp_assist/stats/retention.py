"""Retained characters: how much of an accepted suggestion is still in the document later.

When a suggestion is accepted, `locate` finds the accepted text in the document, nearest to
where the suggestion was asked for (the client has inserted it by then; the nearest copy is
the one it inserted). A `TrackedRange` then follows every edit of the document, so that it
keeps covering what became of those characters: text typed inside it grows it, text deleted
from it shrinks it, edits before it move it, typing right before or after it leaves it alone.

At the measure (30 s after the accept by default), `retained_chars` counts the accepted
characters still there, in order: the matching blocks of a `difflib.SequenceMatcher` between
the accepted text and the range's text now. Deleting two characters of "a + b" leaves 3;
rewriting it into "a - b" leaves 4; moving it away leaves 0. It is an edit-distance-like
measure, like Copilot's retention check, but per character rather than a pass/fail threshold.

When a client sends a whole new text instead of an edit, the range's place is no longer
known exactly: it is widened by a margin on each side, and the same count runs in that window.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

LOCATE_WINDOW = 2_000
"""How far from the asked-for offset (str characters) the accepted text is looked for."""


def locate(text: str, accepted: str, near: int, window: int = LOCATE_WINDOW) -> int | None:
    """The start of the copy of `accepted` in `text` nearest to offset `near`, within
    `window` characters of it, or None."""
    if not accepted:
        return None
    low = max(0, near - window)
    high = min(len(text), near + window + len(accepted))
    best: int | None = None
    found = text.find(accepted, low, high)
    while found >= 0:
        if best is None or abs(found - near) < abs(best - near):
            best = found
        if found > near:
            break  # later copies are further away
        found = text.find(accepted, found + 1, high)
    return best


@dataclass
class TrackedRange:
    """A range of a document's text (str offsets), kept in step with its edits."""

    start: int
    end: int
    exact: bool = True
    """False once a whole-text replacement made its place uncertain."""

    def edited(self, begin: int, finish: int, inserted: int) -> None:
        """text[begin:finish] of the old text was replaced by `inserted` characters."""
        delta = inserted - (finish - begin)
        if finish <= self.start:
            # Wholly before (typing right before the range included): the range moves.
            self.start += delta
            self.end += delta
            return
        if begin >= self.end:
            return  # wholly after (typing right after the range included)
        new_start = min(self.start, begin)
        new_end = self.end + delta if finish <= self.end else begin + inserted
        self.start, self.end = new_start, max(new_start, new_end)

    def replaced(self, new_length: int, margin: int) -> None:
        """The whole text was replaced: keep the old place, widened by `margin`."""
        self.exact = False
        self.start = max(0, min(self.start - margin, new_length))
        self.end = max(self.start, min(self.end + margin, new_length))


def retained_chars(accepted: str, now: str) -> int:
    """How many characters of `accepted` are still in `now`, in order."""
    if not accepted or not now:
        return 0
    matcher = difflib.SequenceMatcher(None, accepted, now, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return min(kept, len(accepted))


def margin_for(accepted: str) -> int:
    """How far an uncertain range is widened: enough for the text to have moved a little."""
    return len(accepted) + 64
