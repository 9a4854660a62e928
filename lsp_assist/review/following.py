"""Following the editor's changes: findings move with the text, stale calls stop.

Each edit moves the findings after it and drops those whose quote it changed (see
`DocumentFindings.edited`), and stops the model call of a unit it touches. A whole new text
(a client that sends full text, a reload from disk) is followed as the one edit that turns
the old text into the new one: the common start and end are kept, what lies between is
replaced. Both are quick enough for a notification on the loop: no parse, no unit scan.
"""

from __future__ import annotations

from lsp_assist.review.state import DocumentState

_FIRST_CHUNK = 4096


def equivalent_edit(old: str, new: str) -> tuple[int, int, int]:
    """(begin, finish, inserted): old[begin:finish] replaced by `inserted` characters, the
    rest equal, gives `new`."""
    prefix = _common_length(old, new, from_end=False)
    longest_suffix = min(len(old), len(new)) - prefix
    suffix = _common_length(old, new, from_end=True, limit=longest_suffix)
    return prefix, len(old) - suffix, len(new) - suffix - prefix


def _common_length(a: str, b: str, *, from_end: bool, limit: int | None = None) -> int:
    """The length of the common prefix (or suffix) of `a` and `b`, at most `limit`. Compares
    growing slices (C speed), then halves into the first that differs: O(common length)."""
    most = min(len(a), len(b)) if limit is None else limit

    def same(low: int, high: int) -> bool:
        if from_end:
            return a[len(a) - high : len(a) - low] == b[len(b) - high : len(b) - low]
        return a[low:high] == b[low:high]

    done, step = 0, _FIRST_CHUNK
    while done < most:
        high = min(most, done + step)
        if not same(done, high):
            while high - done > 1:  # the first difference is in [done, high)
                middle = (done + high) // 2
                if same(done, middle):
                    done = middle
                else:
                    high = middle
            return done
        done, step = high, step * 2
    return done


def follow_edit(state: DocumentState, begin: int, finish: int, inserted: int, text: str) -> bool:
    """One edit (old text[begin:finish] → `inserted` characters; `text` is the new text).
    Returns whether the findings the editor sees changed."""
    state.seen_text = text
    changed = state.findings.edited(begin, finish, inserted, text)
    if (in_flight := state.in_flight) is not None:
        if finish < in_flight.start:
            delta = inserted - (finish - begin)
            in_flight.start += delta
            in_flight.end += delta
        elif begin <= in_flight.end:
            in_flight.stop()
    return changed


def follow_replacement(state: DocumentState, text: str) -> bool:
    """A whole new text: followed as the one equivalent edit."""
    begin, finish, inserted = equivalent_edit(state.seen_text, text)
    if begin == finish == len(state.seen_text) and inserted == 0:
        return False  # the same text again
    return follow_edit(state, begin, finish, inserted, text)
